# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import limits as L

from conftest import fixture_text


@pytest.mark.parametrize('value,expected', [
    ('unlimited', L.UNLIMITED),
    ('infinity', L.UNLIMITED),
    (' unlimited ', L.UNLIMITED),
    ('0', 0),
    ('0K', 0),
    ('64K', 64 * 1024),
    ('64KiB', 64 * 1024),
    ('512M', 512 * 1024 ** 2),
    ('512MiB', 512 * 1024 ** 2),
    ('8G', 8 * 1024 ** 3),
    ('8GiB', 8 * 1024 ** 3),
    ('2T', 2 * 1024 ** 4),
    ('65536K', 65536 * 1024),
])
def test_parse_size_accepts(value, expected):
    assert L.parse_size(value) == expected


@pytest.mark.parametrize('value', [
    '65536',  # bare number: KiB for limits.conf, bytes for systemd -> refused
    '8GB', '8GB?', '8gb', '8g', '64k', '64Ki', '64KIB', '8 G', '-1', '+1G', '1.5G', 'abc', '0x10', '',
    '   ', '064K', 'unlimitedK', 'Infinity', 'UNLIMITED', '1E', '1P', '8G8',
])
def test_parse_size_rejects(value):
    with pytest.raises(L.LimitError) as e:
        L.parse_size(value)
    assert 'accepted' in str(e.value) and 'KiB' in str(e.value)


def test_parse_size_none_and_too_large():
    with pytest.raises(L.LimitError):
        L.parse_size(None)
    with pytest.raises(L.LimitError) as e:
        L.parse_size('4194305T')
    assert 'use unlimited' in str(e.value)
    assert L.parse_size('4194304T') == L.MAX_BYTES == 1 << 62


def test_rendered_values():
    assert L.limits_conf_value(64 * 1024 ** 2) == '65536'
    assert L.limits_conf_value(L.UNLIMITED) == 'unlimited'
    assert L.systemd_value(64 * 1024 ** 2) == '67108864'
    assert L.systemd_value(L.UNLIMITED) == 'infinity'
    assert L.systemd_value(0) == '0' and L.limits_conf_value(0) == '0'
    assert L.human(67108864) == '64M'
    assert L.human(L.parse_size('8GiB')) == '8G'
    assert L.human(1536 * 1024) == '1536K'
    assert L.human(L.UNLIMITED) == 'unlimited'


@pytest.mark.parametrize('domain', ['*', 'root', 'alice', 'svc-bpf', 'a.b_c', '_x', '@rdma', '%rdma', 'user$'])
def test_validate_domain_ok(domain):
    assert L.validate_domain(domain) == domain


@pytest.mark.parametrize('domain', ['', '@', '%', '**', 'a b', '-x', '1000:', ':1000', 'al/ice', '@grp\n*',
                                    'x' * 33, '@@g', 'a*'])
def test_validate_domain_bad(domain):
    with pytest.raises(L.LimitError) as e:
        L.validate_domain(domain)
    assert '@group' in str(e.value)


@pytest.mark.parametrize('name,unit', [
    ('ssh', 'ssh.service'),
    ('ssh.service', 'ssh.service'),
    ('getty@tty1.service', 'getty@tty1.service'),
    ('getty@.service', 'getty@.service'),
    ('systemd-udevd', 'systemd-udevd.service'),
    ('dev-x\\x2dy', 'dev-x\\x2dy.service'),
])
def test_normalize_unit_ok(name, unit):
    assert L.normalize_unit(name) == unit


@pytest.mark.parametrize('name', ['', '../etc', 'a/b', 'a b', '.hidden', '@foo', 'a@b@c', 'x' * 250, 'ssh.socket.d/x',
                                  'a;b'])
def test_normalize_unit_bad(name):
    with pytest.raises(L.LimitError):
        L.normalize_unit(name)


def test_validate_dropin_name():
    assert L.validate_dropin_name('90-labkit-memlock.conf') == '90-labkit-memlock.conf'
    for bad in ('x.cfg', '../x.conf', 'a/b.conf', '.conf', '', None):
        with pytest.raises(L.LimitError):
            L.validate_dropin_name(bad)


def test_render_files():
    text = L.render_limits_file('*', 'both', 64 * 1024 ** 2)
    assert text.splitlines()[0] == '# Managed by labkit.ebpf_rdma.memlock; local changes are overwritten.'
    assert text.splitlines()[-1] == '*\t-\tmemlock\t65536'
    assert L.render_limits_file('@rdma', 'soft', L.UNLIMITED).endswith('@rdma\tsoft\tmemlock\tunlimited\n')
    assert L.render_limits_file('bob', '-', 1024).endswith('bob\t-\tmemlock\t1\n')
    assert L.render_limits_file(['*', 'root'], '-', 1024).endswith('\n*\t-\tmemlock\t1\nroot\t-\tmemlock\t1\n')
    assert L.render_manager_dropin(L.UNLIMITED).endswith('[Manager]\nDefaultLimitMEMLOCK=infinity\n')
    assert L.render_unit_dropin(67108864).endswith('[Service]\nLimitMEMLOCK=67108864\n')
    for text in (L.render_manager_dropin(0), L.render_unit_dropin(0), L.render_limits_file('*', '-', 0)):
        assert L.is_managed(text)


def test_is_managed():
    assert not L.is_managed(None)
    assert not L.is_managed('* - memlock unlimited\n')
    assert not L.is_managed('a\nb\nc\n# Managed by labkit.ebpf_rdma.memlock\n')


def test_parse_proc_limits_captures():
    assert L.parse_proc_limits(fixture_text('limits/proc-limits-nobody-default.txt')) == {
        'soft': 257552384, 'hard': 257552384}
    assert L.parse_proc_limits(fixture_text('limits/proc-limits-nobody-64M.txt')) == {
        'soft': 67108864, 'hard': 67108864}
    assert L.parse_proc_limits(fixture_text('limits/proc-limits-ssh.txt')) == {'soft': 8388608, 'hard': 8388608}
    assert L.parse_proc_limits('Max locked memory  unlimited unlimited bytes\n') == {
        'soft': L.UNLIMITED, 'hard': L.UNLIMITED}
    assert L.parse_proc_limits('Max open files 1024 4096 files\n') is None
    assert L.parse_proc_limits(None) is None


def test_parse_systemctl_show_captures():
    assert L.parse_systemctl_show(fixture_text('limits/systemctl-show-default.txt')) == [
        {'DefaultLimitMEMLOCK': '8388608', 'DefaultLimitMEMLOCKSoft': '8388608'}]
    blocks = L.parse_systemctl_show(fixture_text('limits/systemctl-show-running.txt'))
    assert len(blocks) == 8
    assert blocks[3] == {'Id': 'ssh.service', 'MainPID': '307', 'LimitMEMLOCK': '8388608',
                         'LimitMEMLOCKSoft': '8388608'}


def test_parse_running_services_capture():
    units = L.parse_running_services(fixture_text('limits/list-units-running.txt'))
    assert units == ['dbus.service', 'getty@tty1.service', 'serial-getty@ttyS0.service', 'ssh.service',
                     'systemd-journald.service', 'systemd-logind.service', 'systemd-networkd.service',
                     'systemd-udevd.service']
    assert L.parse_running_services(u'\u25cf foo.service loaded failed failed Foo\n') == ['foo.service']


def test_first_group_member():
    group = fixture_text('limits/group-bookworm.txt')
    passwd = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'
    assert L.first_group_member(group, passwd, 'nogroup') == 'nobody'  # by primary gid
    assert L.first_group_member(group, passwd, 'root') == 'root'
    assert L.first_group_member('rdma:x:120:alice,bob\n', passwd, 'rdma') == 'alice'
    assert L.first_group_member(group, passwd, 'no-such-group') is None
    assert L.first_group_member(group, '', 'nogroup') is None
