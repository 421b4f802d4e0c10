# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.limits import parse_systemctl_show
from ansible_collections.labkit.ebpf_rdma.plugins.modules import memlock

from conftest import FakeCommands, fixture_text

LIMITS = '/etc/security/limits.d/90-labkit-memlock.conf'
MANAGER = '/etc/systemd/system.conf.d/90-labkit-memlock.conf'
SSH_DROPIN = '/etc/systemd/system/ssh.service.d/90-labkit-memlock.conf'
HEADER = '# Managed by labkit.ebpf_rdma.memlock; local changes are overwritten.\n'
RUNNING = ['dbus.service', 'getty@tty1.service', 'serial-getty@ttyS0.service', 'ssh.service',
           'systemd-journald.service', 'systemd-logind.service', 'systemd-networkd.service',
           'systemd-udevd.service']
SYSTEMCTL = '/usr/bin/systemctl'
SHOW_DEFAULT = (SYSTEMCTL, 'show', '-p', 'DefaultLimitMEMLOCK', '-p', 'DefaultLimitMEMLOCKSoft')
LIST_UNITS = (SYSTEMCTL, 'list-units', '--type=service', '--state=running', '--plain', '--no-legend')
RELOAD = (SYSTEMCTL, 'daemon-reload')


@pytest.fixture
def host(fake_host, monkeypatch):
    monkeypatch.setattr(memlock, 'current_euid', lambda: 0)
    monkeypatch.setattr(memlock, 'kernel_release', lambda: '6.1.0-50-amd64')
    h = fake_host
    os.makedirs(h.path('/run/systemd/system'))
    os.makedirs(h.path('/etc/security/limits.d'))
    h.write('/etc/group', fixture_text('limits/group-bookworm.txt'))
    h.write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n'
                           'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')
    # every running service's main process still has the boot-time 8 MiB (captured from ssh.service)
    for name in ('limits/systemctl-show-running.txt', 'limits/systemctl-show-running-64M.txt'):
        for block in parse_systemctl_show(fixture_text(name)):
            h.write('/proc/%s/limits' % block['MainPID'], fixture_text('limits/proc-limits-ssh.txt'))
    return h


class FakeSystem(object):
    """systemctl and runuser answered from captures; daemon-reload switches to the 64M captures."""

    def __init__(self, host):
        self.host = host
        self.reloaded = False
        self.commands = FakeCommands({
            SHOW_DEFAULT: self.show_default,
            LIST_UNITS: (0, fixture_text('limits/list-units-running.txt'), ''),
            RELOAD: self.reload,
            (lambda a: a[:2] == (SYSTEMCTL, 'show') and 'Id' in a): self.show_units,
            (lambda a: a[:2] == ('/usr/bin/runuser', '-u')): self.runuser,
        })

    def show_default(self, argv, **kw):
        name = 'limits/systemctl-show-default-64M.txt' if self.reloaded else 'limits/systemctl-show-default.txt'
        return 0, fixture_text(name), ''

    def show_units(self, argv, **kw):
        assert list(argv[10:]) == RUNNING
        name = 'limits/systemctl-show-running-64M.txt' if self.reloaded else 'limits/systemctl-show-running.txt'
        return 0, fixture_text(name), ''

    def reload(self, argv, **kw):
        self.reloaded = True
        return 0, '', ''

    def runuser(self, argv, **kw):
        assert argv[3:] == ('--', '/usr/bin/cat', '/proc/self/limits')
        if argv[2] == 'nosuchuser':
            text = fixture_text('limits/runuser-nouser.txt').replace('rc=1\n', '')
            return 1, '', text
        new = self.host.exists(LIMITS) and '65536' in self.host.read(LIMITS)
        name = 'limits/proc-limits-nobody-64M.txt' if new else 'limits/proc-limits-nobody-default.txt'
        return 0, fixture_text(name), ''


def test_first_run_writes_reloads_and_reports(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M'}, commands=fake.commands, diff=True)
    assert r['changed'] is True
    assert r['actions'] == ['write ' + LIMITS, 'write ' + MANAGER, 'systemctl daemon-reload']
    assert host.read(LIMITS) == (HEADER + '# Locked-memory limit (RLIMIT_MEMLOCK, in KiB) for PAM sessions: logins, '
                                 'ssh, su, runuser.\n*\t-\tmemlock\t65536\nroot\t-\tmemlock\t65536\n')
    assert host.read(MANAGER).endswith('[Manager]\nDefaultLimitMEMLOCK=67108864\n')
    assert host.read(MANAGER).startswith(HEADER)
    assert oct(os.stat(host.path(LIMITS)).st_mode & 0o777) == oct(0o644)
    assert fake.commands.ran(*RELOAD) == [RELOAD]
    assert [d['after_header'] for d in r['diff']] == [LIMITS, MANAGER]
    assert r['diff'][0]['before'] == '' and r['diff'][0]['before_header'] == '/dev/null'
    assert r['limit'] == {'bytes': 67108864, 'limits_conf': '65536', 'systemd': '67108864'}
    assert r['service_limit'] == {'soft': 67108864, 'hard': 67108864}
    assert r['login_limit'] == {'user': 'nobody', 'soft': 67108864, 'hard': 67108864}
    assert 'login_limit_reason' not in r
    assert r['restart_needed'] == RUNNING  # configured 64M, main processes still at 8M
    assert r['bpf_memory_accounting'] == 'memcg'
    assert r['systemd_files'] == [MANAGER]
    assert r['limits_file'] == LIMITS

    again = module_runner(memlock, {'value': '64M'}, commands=fake.commands, diff=True)
    assert again['changed'] is False and again['actions'] == [] and again['diff'] == []
    assert fake.commands.ran(*RELOAD) == [RELOAD]
    assert again['restart_needed'] == RUNNING  # still true until they are restarted


def test_check_mode_writes_nothing_and_predicts(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M', 'units': ['ssh']}, commands=fake.commands, check_mode=True,
                      diff=True)
    assert r['changed'] is True
    assert r['actions'] == ['write ' + LIMITS, 'write ' + MANAGER, 'write ' + SSH_DROPIN, 'systemctl daemon-reload']
    assert not host.exists(LIMITS) and not host.exists(MANAGER) and not host.exists(SSH_DROPIN)
    assert fake.commands.ran(*RELOAD) == []
    assert r['diff'][2]['after'].endswith('[Service]\nLimitMEMLOCK=67108864\n')
    # issue 15: check mode opens no PAM session (runuser); it says what a real run would verify
    assert fake.commands.ran('/usr/bin/runuser') == []
    assert r['login_limit'] is None and r['login_limit_reason'].startswith('check mode: no PAM session is opened')
    command = ['runuser', '-u', 'nobody', '--', 'cat', '/proc/self/limits']
    assert r['login_limit_check'] == {'user': 'nobody', 'command': command,
                                      'expected': {'soft': 67108864, 'hard': 67108864}}
    # before the change: services have systemd's 8M default
    assert r['service_limit'] == {'soft': 8388608, 'hard': 8388608}
    assert r['restart_needed'] == RUNNING  # predicted: they run with the old default
    assert r['systemd_files'] == [MANAGER, SSH_DROPIN]


def test_check_mode_predicts_only_dropin_units(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M', 'units': ['ssh.service', 'absent-daemon'], 'systemd': False},
                      commands=fake.commands, check_mode=True)
    assert r['restart_needed'] == ['ssh.service']
    assert r['systemd_files'] == [SSH_DROPIN, '/etc/systemd/system/absent-daemon.service.d/90-labkit-memlock.conf']


def test_unlimited_soft_for_a_group(host, module_runner):
    host.write('/etc/group', fixture_text('limits/group-bookworm.txt') + 'rdma:x:120:alice,bob\n')
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': 'unlimited', 'domain': '@rdma', 'limit_type': 'soft', 'systemd': False,
                                'units': ['ssh']}, commands=fake.commands)
    assert host.read(LIMITS).endswith('@rdma\tsoft\tmemlock\tunlimited\n')
    assert host.read(SSH_DROPIN).endswith('LimitMEMLOCK=infinity\n')
    assert not host.exists(MANAGER)
    assert r['limit'] == {'bytes': 'unlimited', 'limits_conf': 'unlimited', 'systemd': 'infinity'}
    assert fake.commands.ran('/usr/bin/runuser', '-u', 'alice')
    assert r['login_limit']['user'] == 'alice'


def test_group_without_members(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '1G', 'domain': '%staff', 'systemd': False}, commands=fake.commands)
    assert r['login_limit'] is None
    assert 'no member of group staff' in r['login_limit_reason'] and 'login_user' in r['login_limit_reason']
    assert fake.commands.ran('/usr/bin/runuser') == []


def test_login_user_that_does_not_exist(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '1G', 'login_user': 'nosuchuser', 'systemd': False},
                      commands=fake.commands)
    assert r['login_limit'] is None
    assert r['login_limit_reason'].startswith('runuser -u nosuchuser failed (exit 1): runuser: user nosuchuser')


def test_without_runuser(host, module_runner):
    r = module_runner(memlock, {'value': '1G', 'systemd': False}, commands=FakeSystem(host).commands,
                      bins={'runuser': None})
    assert r['login_limit'] is None and 'runuser (util-linux) is not installed' in r['login_limit_reason']


def test_absent_removes_only_managed_files(host, module_runner):
    fake = FakeSystem(host)
    module_runner(memlock, {'value': '64M', 'units': ['ssh']}, commands=fake.commands)
    r = module_runner(memlock, {'state': 'absent', 'units': ['ssh']}, commands=fake.commands, diff=True)
    assert r['changed'] is True
    assert r['actions'] == ['remove ' + LIMITS, 'remove ' + MANAGER, 'remove ' + SSH_DROPIN, 'systemctl daemon-reload']
    assert not host.exists(LIMITS) and not host.exists(MANAGER) and not host.exists(SSH_DROPIN)
    assert r['diff'][0]['after_header'] == '/dev/null' and '65536' in r['diff'][0]['before']
    assert r['limit'] is None
    assert len(fake.commands.ran(*RELOAD)) == 2
    again = module_runner(memlock, {'state': 'absent', 'units': ['ssh']}, commands=fake.commands)
    assert again['changed'] is False and len(fake.commands.ran(*RELOAD)) == 2


def test_foreign_file_is_never_touched(host, module_runner):
    foreign = '* - memlock 1024\n'
    host.write(LIMITS, foreign)
    fake = FakeSystem(host)
    for args in ({'value': '64M'}, {'state': 'absent'}):
        r = module_runner(memlock, args, commands=fake.commands)
        assert r['failed']
        assert '%s exists and was not written by labkit.ebpf_rdma.memlock' % LIMITS in r['msg']
        assert 'limits_file' in r['msg']
        assert host.read(LIMITS) == foreign
        assert not host.exists(MANAGER)
    assert fake.commands.calls == []


def test_an_empty_file_left_by_a_crash_is_rewritten(host, module_runner):
    # A VM killed mid-converge left the limits file with its name but no data; every
    # later run refused it as someone else's file (tests/faults/vm qemu-killed).
    host.write(LIMITS, '')
    r = module_runner(memlock, {'value': 'unlimited'}, commands=FakeSystem(host).commands)
    assert not r.get('failed'), r.get('msg')
    assert r['changed'] and 'Managed by' in host.read(LIMITS) and 'memlock\tunlimited' in host.read(LIMITS)


def test_foreign_dropin_names_dropin_name(host, module_runner):
    host.write(SSH_DROPIN, '[Service]\nLimitMEMLOCK=1\n')
    r = module_runner(memlock, {'value': '64M', 'units': ['ssh']}, commands=FakeSystem(host).commands)
    assert r['failed'] and SSH_DROPIN in r['msg'] and 'dropin_name' in r['msg']
    assert not host.exists(LIMITS)


@pytest.mark.parametrize('value', ['8GB', '8GB?', '-1', '1.5G', 'abc', '0x10', '', '65536'])
def test_bad_value_fails_before_anything(host, module_runner, value):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': value}, commands=fake.commands)
    assert r['failed']
    assert 'accepted' in r['msg'] and '64K' in r['msg'] and 'unlimited' in r['msg']
    assert fake.commands.calls == []
    assert not host.exists(LIMITS) and not host.exists(MANAGER)


def test_value_required_when_present(host, module_runner):
    r = module_runner(memlock, {}, commands=FakeCommands())
    assert r['failed'] and 'value' in r['msg']


@pytest.mark.parametrize('args,needle', [
    ({'domain': 'a b'}, "domain 'a b'"),
    ({'domain': '1000:'}, '@group'),
    ({'domains': ['*', 'bad name']}, "domain 'bad name'"),
    ({'domains': []}, 'domains is empty'),
    ({'units': ['../../etc/passwd']}, 'not a valid service unit name'),
    ({'units': ['ok', 'bad unit']}, "'bad unit'"),
    ({'dropin_name': 'x.cfg'}, 'ending in .conf'),
    ({'limits_file': '/etc/security/limits.d/memlock'}, 'pam_limits would ignore it'),
    ({'limits_file': 'relative.conf'}, 'absolute path'),
])
def test_bad_names(host, module_runner, args, needle):
    fake = FakeSystem(host)
    full = {'value': '64M'}
    full.update(args)
    r = module_runner(memlock, full, commands=fake.commands)
    assert r['failed'] and needle in r['msg']
    assert fake.commands.calls == []
    assert os.listdir(host.path('/etc/security/limits.d')) == []


def test_non_systemd_host(host, module_runner):
    os.rmdir(host.path('/run/systemd/system'))
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M'}, commands=fake.commands)
    assert r['failed'] and 'not running systemd' in r['msg'] and 'systemd: false' in r['msg']
    assert not host.exists(LIMITS)
    r = module_runner(memlock, {'value': '64M', 'units': ['ssh'], 'systemd': False}, commands=fake.commands)
    assert r['failed'] and 'units: []' in r['msg']
    r = module_runner(memlock, {'value': '64M', 'systemd': False}, commands=fake.commands)
    assert r['changed'] is True and host.exists(LIMITS)
    assert r['service_limit'] is None and r['restart_needed'] == [] and r['systemd_files'] == []
    assert [c for c in fake.commands.calls if c[0] == SYSTEMCTL] == []


def test_not_root(host, module_runner, monkeypatch):
    monkeypatch.setattr(memlock, 'current_euid', lambda: 1000)
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M'}, commands=fake.commands)
    assert r['failed'] and 'become: true' in r['msg'] and LIMITS in r['msg']
    assert not host.exists(LIMITS) and fake.commands.ran(*RELOAD) == []
    r = module_runner(memlock, {'value': '64M'}, commands=fake.commands, check_mode=True)
    assert r['changed'] is True
    assert r['login_limit'] is None and r['login_limit_reason'].startswith('check mode')
    assert fake.commands.ran('/usr/bin/runuser') == []


@pytest.mark.parametrize('args, expected', [
    ({'value': 'unlimited', 'limit_type': 'soft'}, {'soft': 'unlimited', 'hard': None}),
    ({'state': 'absent'}, {'soft': None, 'hard': None}),
])
def test_check_mode_reports_what_it_would_verify(host, module_runner, args, expected):
    fake = FakeSystem(host)
    r = module_runner(memlock, dict(args, domains=['alice']), commands=fake.commands, check_mode=True)
    assert fake.commands.ran('/usr/bin/runuser') == []
    assert r['login_limit_check']['user'] == 'alice' and r['login_limit_check']['expected'] == expected


def test_old_kernel_accounts_by_rlimit(host, module_runner, monkeypatch):
    monkeypatch.setattr(memlock, 'kernel_release', lambda: '5.10.0-30-amd64')
    r = module_runner(memlock, {'value': '64M', 'systemd': False}, commands=FakeSystem(host).commands)
    assert r['bpf_memory_accounting'] == 'rlimit'


def test_changed_value_rewrites(host, module_runner):
    fake = FakeSystem(host)
    module_runner(memlock, {'value': '64M', 'systemd': False}, commands=fake.commands)
    r = module_runner(memlock, {'value': '128M', 'systemd': False}, commands=fake.commands, diff=True)
    assert r['changed'] is True and r['actions'] == ['write ' + LIMITS]
    assert '65536' in r['diff'][0]['before'] and '131072' in r['diff'][0]['after']
    assert fake.commands.ran(*RELOAD) == []  # limits.d needs no reload


def test_applied_settings_are_a_fact_for_later_roles(host, module_runner):
    """ansible_facts.labkit_memlock_applied: what soft_roce compares with to skip setting the same limit again."""
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': '64M', 'units': ['ssh']}, commands=fake.commands)
    assert r['ansible_facts'] == {'labkit_memlock_applied': {
        'state': 'present', 'value': '64M', 'bytes': 67108864, 'domains': ['*', 'root'], 'limit_type': 'both',
        'limits_file': LIMITS, 'systemd': True, 'units': ['ssh'], 'dropin_name': '90-labkit-memlock.conf'}}
    # unchanged on a second run, and in check mode (the fact says what the task asks for)
    again = module_runner(memlock, {'value': '64M', 'units': ['ssh']}, commands=fake.commands, check_mode=True)
    assert again['changed'] is False and again['ansible_facts'] == r['ansible_facts']


def test_applied_fact_of_unlimited_and_absent(host, module_runner):
    fake = FakeSystem(host)
    r = module_runner(memlock, {'value': 'unlimited', 'systemd': False}, commands=fake.commands, check_mode=True)
    fact = r['ansible_facts']['labkit_memlock_applied']
    assert fact['bytes'] == 'unlimited' and fact['value'] == 'unlimited' and fact['systemd'] is False
    gone = module_runner(memlock, {'state': 'absent'}, commands=fake.commands)
    fact = gone['ansible_facts']['labkit_memlock_applied']
    assert fact['state'] == 'absent' and fact['value'] is None and fact['bytes'] is None


def test_applied_fact_helper():
    params = {'state': 'present', 'value': '512M', 'domains': ['@rdma'], 'limit_type': 'soft',
              'limits_file': LIMITS, 'systemd': False, 'units': [], 'dropin_name': 'x.conf', 'login_user': None}
    assert memlock.applied_fact(params, 536870912) == {
        'state': 'present', 'value': '512M', 'bytes': 536870912, 'domains': ['@rdma'], 'limit_type': 'soft',
        'limits_file': LIMITS, 'systemd': False, 'units': [], 'dropin_name': 'x.conf'}
