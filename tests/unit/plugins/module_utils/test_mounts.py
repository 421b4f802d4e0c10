# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import mounts as m

from conftest import fixture_text


def test_parse_mountinfo_boot_capture():
    entries = m.parse_mountinfo(fixture_text('mounts/mountinfo-bookworm-boot.txt'))
    assert len(entries) == 24
    debug = m.mount_at(entries, '/sys/kernel/debug')
    assert debug['fstype'] == 'debugfs'
    assert debug['source'] == 'debugfs'
    assert debug['options'] == 'rw,nosuid,nodev,noexec,relatime'
    assert debug['mount_id'] == 37 and debug['parent_id'] == 22
    assert m.mount_at(entries, '/sys/kernel/tracing')['fstype'] == 'tracefs'
    # optional fields ("shared:N") do not shift the fields after the separator
    bpf = m.mount_at(entries, '/sys/fs/bpf')
    assert (bpf['fstype'], bpf['super_options']) == ('bpf', 'rw,mode=700')


def test_parse_mountinfo_octal_escape_and_stacked():
    entries = m.parse_mountinfo(fixture_text('mounts/mountinfo-automount-escaped.txt'))
    spaced = m.mount_at(entries, '/mnt/a b')
    assert spaced is not None and spaced['source'] == 'labtmp' and spaced['fstype'] == 'tmpfs'
    assert m.mount_at(entries, '/mnt/a\\040b') is None
    # binfmt_misc is stacked on the autofs trigger: the top one (last) wins
    assert m.mount_at(entries, '/proc/sys/fs/binfmt_misc')['fstype'] == 'binfmt_misc'


def test_parse_mountinfo_no_optional_fields_and_garbage():
    text = ('10 1 0:5 / /x rw - tmpfs none rw\n'
            'garbage line\n'
            'a b c d e f - x y z\n'
            '11 1 0:6 / /y rw shared:1 master:2 - ext4 /dev/sda1 rw\n')
    entries = m.parse_mountinfo(text)
    assert [(e['mount_point'], e['fstype']) for e in entries] == [('/x', 'tmpfs'), ('/y', 'ext4')]


def test_mounts_beneath_deepest_first():
    entries = m.parse_mountinfo(fixture_text('mounts/mountinfo-automount-escaped.txt'))
    assert m.mounts_beneath(entries, '/sys/kernel/debug') == ['/sys/kernel/debug/tracing']
    below_sys = m.mounts_beneath(entries, '/sys')
    assert below_sys.index('/sys/kernel/debug/tracing') < below_sys.index('/sys/kernel/debug')
    assert '/sys' not in below_sys
    assert m.mounts_beneath(entries, '/sys/kernel/debu') == []


def test_unescape_and_escape_roundtrip():
    assert m.unescape_octal('/mnt/a\\040b\\011c\\134d') == '/mnt/a b\tc\\d'
    assert m.escape_octal('/mnt/a b\tc\\d') == '/mnt/a\\040b\\011c\\134d'
    assert m.unescape_octal(m.escape_octal('/x y/z')) == '/x y/z'


@pytest.mark.parametrize('raw,norm', [
    ('/sys/kernel/debug/', '/sys/kernel/debug'),
    ('//sys//kernel/debug', '/sys/kernel/debug'),
    ('/', '/'),
])
def test_normalize_path(raw, norm):
    assert m.normalize_path(raw) == norm


def test_is_beneath():
    assert m.is_beneath('/sys/kernel/debug/tracing', '/sys/kernel/debug')
    assert not m.is_beneath('/sys/kernel/tracing', '/sys/kernel/debug')
    assert not m.is_beneath('/sys/kernel/debug', '/sys/kernel/debug')
    assert not m.is_beneath('/sys/kernel/debugx', '/sys/kernel/debug')


def test_parse_filesystems():
    names = m.parse_filesystems(fixture_text('mounts/filesystems-bookworm.txt'))
    assert {'debugfs', 'tracefs', 'ext4', 'bpf'} <= names
    assert 'nodev' not in names
    assert 'xfs' not in names


def test_parse_fstab_capture_and_ours():
    entries = m.parse_fstab(fixture_text('mounts/fstab-bookworm.txt'))
    assert [(e['spec'], e['file'], e['vfstype'], e['ours']) for e in entries] == [
        ('/dev/vda', '/', 'ext4', False)]
    text = ('# comment\n\n'
            'debugfs /sys/kernel/debug debugfs defaults 0 0 # labkit.ebpf_rdma\n'
            'tracefs\t/sys/kernel/tracing/  tracefs noauto 0 0   # someone else\n'
            'x /mnt/a\\040b tmpfs defaults\n')
    entries = m.parse_fstab(text)
    assert [(e['lineno'], e['file'], e['ours']) for e in entries] == [
        (2, '/sys/kernel/debug', True), (3, '/sys/kernel/tracing', False), (4, '/mnt/a b', False)]
    assert m.fstab_entry_for(entries, '/sys/kernel/tracing')['options'] == 'noauto'
    assert m.fstab_entry_for(entries, '/sys/kernel/config') is None


def test_fstab_line():
    assert m.fstab_line('debugfs', '/sys/kernel/debug') == \
        'debugfs /sys/kernel/debug debugfs defaults 0 0 # labkit.ebpf_rdma'
    assert m.fstab_line('tracefs', '/mnt/t r/') == 'tracefs /mnt/t\\040r tracefs defaults 0 0 # labkit.ebpf_rdma'
    # what we write parses back as ours
    entry = m.parse_fstab(m.fstab_line('tracefs', '/mnt/t r') + '\n')[0]
    assert entry['ours'] and entry['file'] == '/mnt/t r'


def test_fstab_add_lines_keeps_bytes():
    base = fixture_text('mounts/fstab-bookworm.txt')
    new = m.fstab_add_lines(base, ['L1', 'L2'])
    assert new == base + 'L1\nL2\n'
    # a file without a final newline gets one before our lines
    assert m.fstab_add_lines('a b c', ['L']) == 'a b c\nL\n'
    assert m.fstab_add_lines(None, ['L']) == 'L\n'
    assert m.fstab_add_lines(base, []) == base


def test_fstab_remove_ours_only():
    text = ('# keep me\r\n'
            'debugfs /sys/kernel/debug debugfs defaults 0 0\n'
            'debugfs /sys/kernel/debug debugfs defaults 0 0 # labkit.ebpf_rdma\n'
            'tracefs /sys/kernel/tracing tracefs defaults 0 0 # labkit.ebpf_rdma\n'
            'last-without-newline')
    out = m.fstab_remove_ours(text, ['/sys/kernel/debug'])
    assert out == ('# keep me\r\n'
                   'debugfs /sys/kernel/debug debugfs defaults 0 0\n'
                   'tracefs /sys/kernel/tracing tracefs defaults 0 0 # labkit.ebpf_rdma\n'
                   'last-without-newline')
    assert m.fstab_remove_ours(text, ['/nowhere']) == text
    both = m.fstab_remove_ours(text, ['/sys/kernel/debug', '/sys/kernel/tracing/'])
    assert 'labkit' not in both and both.startswith('# keep me\r\n')


@pytest.mark.parametrize('path,unit', [
    ('/sys/kernel/debug', 'sys-kernel-debug.mount'),
    ('/sys/kernel/tracing/', 'sys-kernel-tracing.mount'),
    ('/', '-.mount'),
    ('/mnt/a b', 'mnt-a\\x20b.mount'),
    ('/mnt/x-y', 'mnt-x\\x2dy.mount'),
    ('/.hidden', '\\x2ehidden.mount'),
])
def test_systemd_mount_unit_name(path, unit):
    assert m.systemd_mount_unit_name(path) == unit


def test_parse_lockdown_lives_in_kernel_only():
    """Issue 19: one parser for the lockdown file (kernel.parse_lockdown), not one per module_utils file."""
    assert not hasattr(m, 'parse_lockdown')


@pytest.mark.parametrize('given, clean', [
    ('/sys/kernel/debug/', '/sys/kernel/debug'),
    ('/sys/kernel/x/../debug', '/sys/kernel/debug'),
    ('//sys//kernel/./debug', '/sys/kernel/debug'),
    ('/', '/'),
])
def test_normalize_path_resolves_dots(given, clean):
    assert m.normalize_path(given) == clean


@pytest.mark.parametrize('path', ['/sys/kernel/debug', '/sys/kernel/tracing', '/sys/kernel/debug/tracing',
                                  '/mnt/debugfs', '/mnt/debug fs', '/srv/lab/trace', '/sys/kernel/x/../debug'])
def test_mount_point_allowed(path):
    assert m.mount_point_problem('debugfs_path', path, '/sys/kernel/debug') is None


@pytest.mark.parametrize('path, words', [
    ('/etc', '/etc is a system directory'),
    ('/etc/..', '/ is a system directory'),
    ('/sys', '/sys is a system directory'),
    ('/home/', '/home is a system directory'),
    ('/usr/local/debug', '/usr/local/debug is beneath /usr'),
    ('/sys/fs/bpf', '/sys/fs/bpf is beneath /sys'),
    ('/sys/kernel/debug/../security', '/sys/kernel/security is beneath /sys'),
    ('/mnt/a#b', "contains '#', which /etc/fstab cannot hold"),
    ('/mnt/a\nb', "contains '\\n', which /etc/fstab cannot hold"),
    ('debug', 'must be an absolute path'),
])
def test_mount_point_refused(path, words):
    problem = m.mount_point_problem('debugfs_path', path, '/sys/kernel/debug')
    assert words in problem, problem
    assert '/sys/kernel/debug' in problem  # the fix names the usual place


def test_fstab_hash_inside_a_field_is_not_a_comment():
    entries = m.parse_fstab('/dev/sdb1 /srv/a#b ext4 defaults 0 0 # note\n')
    assert entries[0]['file'] == '/srv/a#b' and entries[0]['ours'] is False
