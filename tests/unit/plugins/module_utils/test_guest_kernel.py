# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import guest_kernel as gk

from conftest import fixture_text

SHOW = 'apt/show-linux-image-amd64.3suites.txt'


def one_suite(version):
    """The stanza of one suite from the three-suite capture (as a one-suite index shows it)."""
    return '\n\n'.join(b for b in fixture_text(SHOW).split('\n\n') if 'Version: %s\n' % version in b + '\n')


def test_the_newest_kernel_of_the_listed_indexes_is_resolved():
    k = gk.resolve_kernel(fixture_text(SHOW), 'amd64')
    assert k == {'meta': 'linux-image-amd64', 'package': 'linux-image-7.3.4+deb13-amd64',
                 'release': '7.3.4+deb13-amd64', 'version': '7.3.4-1~bpo13+1'}


@pytest.mark.parametrize('version, release', [
    ('6.12.95-1~bpo12+1', '6.12.95+deb12-amd64'),
    ('5.10.223-1', '5.10.0-32-amd64'),
])
def test_each_suite_resolves_to_its_kernel_release(version, release):
    k = gk.resolve_kernel(one_suite(version), 'amd64')
    assert (k['release'], k['version'], k['package']) == (release, version, 'linux-image-' + release)


def test_no_meta_package_is_an_error_that_names_it():
    with pytest.raises(ValueError, match='linux-image-arm64'):
        gk.resolve_kernel(fixture_text(SHOW), 'arm64')
    with pytest.raises(ValueError):
        gk.resolve_kernel(fixture_text('apt/show-missing.out'), 'amd64')


def test_depends_are_parsed_with_alternatives_and_versions():
    deps = gk.parse_depends('dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, kmod, '
                            'linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)')
    assert deps[0] == [('dracut', '', ''), ('initramfs-tools', '>=', '0.120+deb8u2'), ('linux-initramfs-tool', '', '')]
    assert deps[2] == [('linux-base-7.3.4+deb13-amd64', '=', '7.3.4-1~bpo13+1')]


@pytest.mark.parametrize('a, b, expected', [
    ('7.3.4-1~bpo13+1', '6.12.95-1~bpo12+1', 1),
    ('6.12.95-1~bpo12+1', '6.12.95-1', -1),
    ('5.10.223-1', '5.10.223-1', 0),
    ('1:1.0-1', '2.0-1', 1),
    ('6.1.176-1', '6.1.99-1', 1),
])
def test_debian_version_order(a, b, expected):
    assert gk.compare_versions(a, b) == expected


def test_headers_stanza_shows_the_old_compiler_dependency():
    stanza = gk.parse_apt_show(fixture_text('apt/show-linux-headers-5.10.0-32-amd64.txt'))[0]
    assert stanza['Package'] == gk.headers_package('5.10.0-32-amd64')
    assert 'linux-compiler-gcc-10-x86' in [alts[0][0] for alts in gk.parse_depends(stanza['Depends'])]


def test_isolated_apt_options_never_use_the_controllers_state():
    opts = gk.isolated_apt_options('/tmp/x', 'http://proxy.example.invalid:3142')
    pairs = dict(o.split('=', 1) for o in opts[1::2])
    assert set(opts[0::2]) == {'-o'}
    assert pairs['Dir::Etc::SourceList'] == '/dev/null' and pairs['Dir::State::Status'] == '/dev/null'
    assert pairs['Dir::State::Lists'] == '/tmp/x/lists' and pairs['Dir::Etc::SourceParts'] == '/tmp/x/sources'
    assert pairs['Acquire::http::Proxy'] == 'http://proxy.example.invalid:3142'
    assert dict(o.split('=', 1) for o in gk.isolated_apt_options('/r', '')[1::2])['Acquire::http::Proxy'] == 'DIRECT'


@pytest.mark.parametrize('suite, ok', [('bookworm-backports', True), ('unstable', True), ('trixie', True),
                                       ('Bookworm', False), ('bookworm backports', False), ('../x', False), ('', False)])
def test_suite_names(suite, ok):
    assert (gk.bad_suite(suite) is None) is ok


def test_boot_files_are_looked_for_in_boot_then_in_the_modules_dir():
    c = gk.boot_file_candidates('7.3.4+deb13-amd64')
    assert c['vmlinuz'][0] == ('boot', 'vmlinuz-7.3.4+deb13-amd64')
    assert ('usr/lib/modules/7.3.4+deb13-amd64', 'vmlinuz') in c['vmlinuz']
    assert c['initrd'][0] == ('boot', 'initrd.img-7.3.4+deb13-amd64')


def test_debugfs_listing_gives_each_entrys_mode():
    # captured from debugfs 1.47.0 on this controller (ls -p of a small mkfs.ext4 -d image)
    out = ('debugfs: ls -p "/"\n/2/040755/0/0/.//\n/2/040755/0/0/..//\n/12/040755/0/0/a//\n/14/040755/0/0/sp ace//\n\n'
           'debugfs: ls -p "/a"\n/12/040755/0/0/.//\n/2/040755/0/0/..//\n/13/104755/0/0/f/3/\n'
           '/15/041777/0/0/.hid//\n\ndebugfs: ls -p "/nonexist"\n')
    assert gk.parse_debugfs_ls(out) == {'/a': 0o40755, '/sp ace': 0o40755, '/a/f': 0o104755, '/a/.hid': 0o41777}
    assert gk.debugfs_ls_commands(['/', '/a b', '/x"y']) == 'ls -p "/"\nls -p "/a b"\n'


def test_marker_says_why_headers_are_missing_for_its_kernel_only():
    kernel = {'package': 'linux-image-5.10.0-32-amd64', 'release': '5.10.0-32-amd64', 'version': '5.10.223-1'}
    text = gk.marker_text('bullseye', kernel, {'installed': False, 'reason': 'gcc-10 missing'})
    assert json.loads(text)['suite'] == 'bullseye'
    assert gk.marker_headers_note(text, '5.10.0-32-amd64') == 'gcc-10 missing'
    assert gk.marker_headers_note(text, '6.1.0-50-amd64') == ''
    ok = gk.marker_text('bullseye', kernel, {'installed': True, 'reason': ''})
    assert gk.marker_headers_note(ok, '5.10.0-32-amd64') == ''
    assert gk.marker_headers_note('', '5.10.0-32-amd64') == '' and gk.marker_headers_note('{', 'x') == ''


def test_derived_key_inputs_carry_the_resolved_kernel():
    k = {'package': 'linux-image-6.12.95+deb12-amd64', 'version': '6.12.95-1~bpo12+1'}
    inputs = gk.derived_key_inputs('98aba80a012a1294', 'bookworm-backports', k, True)
    assert inputs == {'base': '98aba80a012a1294', 'kernel_suite': 'bookworm-backports',
                      'kernel_package': 'linux-image-6.12.95+deb12-amd64', 'kernel_version': '6.12.95-1~bpo12+1',
                      'kernel_headers': True}
    assert gk.derived_entry_name('bookworm', 'amd64', 'bookworm-backports', 'k') == 'bookworm-amd64-kbookworm-backports-k'
