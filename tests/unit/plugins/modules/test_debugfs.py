# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.module_utils import basic

from ansible_collections.labkit.ebpf_rdma.plugins.modules import debugfs

from conftest import FakeCommands, fixture_text

BOOT = 'mounts/mountinfo-bookworm-boot.txt'
UNMOUNTED = 'mounts/mountinfo-unmounted.txt'
AUTOMOUNT = 'mounts/mountinfo-automount-escaped.txt'
FSTAB = fixture_text('mounts/fstab-bookworm.txt')
DEBUG_LINE = 'debugfs /sys/kernel/debug debugfs defaults 0 0 # labkit.ebpf_rdma\n'
TRACE_LINE = 'tracefs /sys/kernel/tracing tracefs defaults 0 0 # labkit.ebpf_rdma\n'
DEBUGFS_MI = '37 22 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:16 - debugfs debugfs rw\n'
TRACEFS_MI = '38 22 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:17 - tracefs tracefs rw\n'


@pytest.fixture
def host(fake_host, monkeypatch):
    monkeypatch.setattr(debugfs, 'current_euid', lambda: 0)
    monkeypatch.setattr(debugfs, 'kernel_release', lambda: '6.1.0-50-amd64')
    return fake_host


def setup(host, mountinfo=BOOT, fstab=FSTAB, systemd=True, units=True, tracing_dir=True,
          lockdown='mounts/lockdown-none.txt', filter_functions=True):
    host.write('/proc/filesystems', fixture_text('mounts/filesystems-bookworm.txt'))
    host.write('/proc/self/mountinfo', fixture_text(mountinfo))
    if fstab is not None:
        host.write('/etc/fstab', fstab)
    if systemd:
        host.mkdir('/run/systemd/system')
    if units:
        for unit in ('sys-kernel-debug.mount', 'sys-kernel-tracing.mount'):
            host.write('/lib/systemd/system/' + unit, '[Mount]\n')
    if tracing_dir:
        host.mkdir('/sys/kernel/tracing')
    if filter_functions:
        host.write('/sys/kernel/tracing/available_filter_functions', 'ib_modify_qp_with_udata [ib_core]\n')
    if lockdown:
        host.write('/sys/kernel/security/lockdown', fixture_text(lockdown))
    host.mkdir('/sys/kernel/debug')


def mounting_commands(host, fail=None):
    """Fake mount/umount that update the fake mountinfo like the kernel does."""
    def mount(argv, **kw):
        fs, path = argv[2], argv[4]
        if fail:
            return fail
        line = '99 22 0:99 / %s rw,relatime - %s %s rw\n' % (path, fs, fs)
        host.write('/proc/self/mountinfo', host.read('/proc/self/mountinfo') + line)
        return 0, '', ''

    def umount(argv, **kw):
        if fail:
            return fail
        path = argv[1]
        lines = host.read('/proc/self/mountinfo').splitlines(True)
        keep = [ln for ln in lines if ln.split(' ')[4] != path]
        host.write('/proc/self/mountinfo', ''.join(keep))
        return 0, '', ''

    return FakeCommands({
        (lambda a: a[0] == '/usr/bin/mount'): mount,
        (lambda a: a[0] == '/usr/bin/umount'): umount,
    })


def test_systemd_host_already_mounted_is_a_noop(host, module_runner):
    setup(host)
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds, diff=True)
    assert r['changed'] is False
    assert r['actions'] == [] and r['diff'] == []
    assert r['mounted'] == {'debugfs': True, 'tracefs': True}
    assert r['persistence'] == {'debugfs': 'systemd', 'tracefs': 'systemd'}
    assert r['tracefs_path'] == '/sys/kernel/tracing'
    assert r['debugfs_path'] == '/sys/kernel/debug'
    assert r['available_filter_functions_readable'] is True
    assert cmds.calls == []
    assert host.read('/etc/fstab') == FSTAB


def test_mounts_debugfs_then_tracefs_without_fstab_on_systemd(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    cmds = mounting_commands(host)
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['changed'] is True
    assert cmds.calls == [
        ('/usr/bin/mount', '-t', 'debugfs', 'debugfs', '/sys/kernel/debug'),
        ('/usr/bin/mount', '-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'),
    ]
    assert r['actions'] == ['mount debugfs at /sys/kernel/debug', 'mount tracefs at /sys/kernel/tracing']
    assert r['mounted'] == {'debugfs': True, 'tracefs': True}
    assert r['persistence'] == {'debugfs': 'systemd', 'tracefs': 'systemd'}
    assert host.read('/etc/fstab') == FSTAB
    # second run: nothing to do
    again = module_runner(debugfs, {}, commands=cmds)
    assert again['changed'] is False and again['actions'] == []
    assert len(cmds.calls) == 2


def test_mount_result_is_reread_from_mountinfo(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    # mount "succeeds" but the kernel shows nothing: the module reports the truth
    cmds = FakeCommands({(lambda a: a[0] == '/usr/bin/mount'): (0, '', '')})
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['changed'] is True
    assert r['mounted'] == {'debugfs': False, 'tracefs': False}


def test_no_static_unit_gets_fstab_lines_with_diff_and_reload(host, module_runner):
    setup(host, units=False)
    cmds = FakeCommands({('/usr/bin/systemctl', 'daemon-reload'): (0, '', '')})
    r = module_runner(debugfs, {}, commands=cmds, diff=True)
    assert r['changed'] is True
    assert r['persistence'] == {'debugfs': 'fstab', 'tracefs': 'fstab'}
    assert r['actions'] == ['add to /etc/fstab so that debugfs is mounted at /sys/kernel/debug at boot; '
                            'add to /etc/fstab so that tracefs is mounted at /sys/kernel/tracing at boot',
                            'systemctl daemon-reload (systemd re-reads /etc/fstab)']
    assert cmds.calls == [('/usr/bin/systemctl', 'daemon-reload')]
    assert host.read('/etc/fstab') == FSTAB + DEBUG_LINE + TRACE_LINE
    assert r['diff'] == [{'before_header': '/etc/fstab', 'after_header': '/etc/fstab',
                          'before': FSTAB, 'after': FSTAB + DEBUG_LINE + TRACE_LINE}]
    again = module_runner(debugfs, {}, commands=cmds, diff=True)
    assert again['changed'] is False and again['diff'] == []
    assert again['persistence'] == {'debugfs': 'fstab', 'tracefs': 'fstab'}
    assert len(cmds.calls) == 1


def mask(host, unit):
    host.mkdir('/etc/systemd/system')
    os.symlink('/dev/null', host.path('/etc/systemd/system/' + unit))


def test_masked_unit_fails_persistent_and_names_unmask(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    mask(host, 'sys-kernel-debug.mount')
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['failed']
    assert 'sys-kernel-debug.mount is masked' in r['msg']
    assert 'systemctl unmask sys-kernel-debug.mount' in r['msg'] and 'persistent: false' in r['msg']
    assert cmds.calls == [] and host.read('/etc/fstab') == FSTAB


def test_masked_unit_persistent_false_removes_our_dead_line(host, module_runner):
    setup(host, fstab=FSTAB + DEBUG_LINE)
    mask(host, 'sys-kernel-debug.mount')
    cmds = FakeCommands({('/usr/bin/systemctl', 'daemon-reload'): (0, '', '')})
    r = module_runner(debugfs, {'persistent': False}, commands=cmds)
    assert r['changed'] is True
    assert host.read('/etc/fstab') == FSTAB
    assert r['persistence'] == {'debugfs': 'masked', 'tracefs': 'systemd'}
    again = module_runner(debugfs, {'persistent': False}, commands=cmds)
    assert again['changed'] is False and again['persistence']['debugfs'] == 'masked'


def test_mask_is_irrelevant_without_systemd(host, module_runner):
    setup(host, systemd=False)
    mask(host, 'sys-kernel-debug.mount')
    r = module_runner(debugfs, {'tracefs': False}, commands=FakeCommands())
    assert r['persistence'] == {'debugfs': 'fstab'}
    assert host.read('/etc/fstab') == FSTAB + DEBUG_LINE


def test_fstab_mode_is_kept(host, module_runner):
    setup(host, systemd=False)
    os.chmod(host.path('/etc/fstab'), 0o640)
    module_runner(debugfs, {}, commands=FakeCommands())
    assert os.stat(host.path('/etc/fstab')).st_mode & 0o777 == 0o640
    assert host.read('/etc/fstab').endswith(DEBUG_LINE + TRACE_LINE)


def test_non_systemd_host_check_mode_writes_and_runs_nothing(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, systemd=False, filter_functions=False)
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds, check_mode=True, diff=True)
    assert r['changed'] is True
    assert r['actions'] == [
        'mount debugfs at /sys/kernel/debug',
        'mount tracefs at /sys/kernel/tracing',
        'add to /etc/fstab so that debugfs is mounted at /sys/kernel/debug at boot; '
        'add to /etc/fstab so that tracefs is mounted at /sys/kernel/tracing at boot',
    ]
    assert r['diff'][0]['after'] == FSTAB + DEBUG_LINE + TRACE_LINE
    assert r['mounted'] == {'debugfs': True, 'tracefs': True}  # predicted
    assert r['persistence'] == {'debugfs': 'fstab', 'tracefs': 'fstab'}
    assert r['available_filter_functions_readable'] is False  # as the host is now
    assert cmds.calls == []
    assert host.read('/etc/fstab') == FSTAB


def test_missing_fstab_is_created(host, module_runner):
    setup(host, fstab=None, systemd=False)
    r = module_runner(debugfs, {'tracefs': False}, commands=FakeCommands(), diff=True)
    assert r['changed'] is True
    assert host.read('/etc/fstab') == DEBUG_LINE
    assert os.stat(host.path('/etc/fstab')).st_mode & 0o777 == 0o644
    assert r['diff'][0]['before_header'] == '/dev/null'
    assert r['tracefs_path'] is None and r['mounted'] == {'debugfs': True}
    assert r['available_filter_functions_readable'] is False


def test_existing_foreign_fstab_entry_is_left_alone(host, module_runner, monkeypatch):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, w: warnings.append(w))
    foreign = FSTAB + 'debugfs\t/sys/kernel/debug debugfs noauto 0 0\n'
    setup(host, fstab=foreign, systemd=False)
    r = module_runner(debugfs, {}, commands=FakeCommands())
    assert r['persistence'] == {'debugfs': 'fstab-existing', 'tracefs': 'fstab'}
    assert host.read('/etc/fstab') == foreign + TRACE_LINE
    assert any('/sys/kernel/debug with noauto' in w for w in warnings)
    # persistent: false removes only our line
    r = module_runner(debugfs, {'persistent': False}, commands=FakeCommands())
    assert r['changed'] is True
    assert host.read('/etc/fstab') == foreign
    assert r['persistence'] == {'debugfs': 'fstab-existing', 'tracefs': 'none'}


def test_persistent_false_falls_back_to_systemd(host, module_runner):
    setup(host, fstab=FSTAB + DEBUG_LINE + '# trailing comment\n' + TRACE_LINE)
    cmds = FakeCommands({('/usr/bin/systemctl', 'daemon-reload'): (0, '', '')})
    r = module_runner(debugfs, {'persistent': False}, commands=cmds, diff=True)
    assert r['changed'] is True
    assert host.read('/etc/fstab') == FSTAB + '# trailing comment\n'
    assert r['persistence'] == {'debugfs': 'systemd', 'tracefs': 'systemd'}
    assert r['actions'] == [
        'remove the debugfs line for /sys/kernel/debug that labkit.ebpf_rdma added to /etc/fstab; '
        'remove the tracefs line for /sys/kernel/tracing that labkit.ebpf_rdma added to /etc/fstab',
        'systemctl daemon-reload (systemd re-reads /etc/fstab)']
    assert cmds.calls == [('/usr/bin/systemctl', 'daemon-reload')]
    again = module_runner(debugfs, {'persistent': False}, commands=FakeCommands())
    assert again['changed'] is False


def test_present_does_not_mount(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, systemd=False)
    cmds = FakeCommands()
    r = module_runner(debugfs, {'state': 'present'}, commands=cmds)
    assert r['changed'] is True
    assert cmds.calls == []
    assert r['mounted'] == {'debugfs': False, 'tracefs': False}
    assert host.read('/etc/fstab') == FSTAB + DEBUG_LINE + TRACE_LINE


def test_unmounted_unmounts_beneath_first_and_keeps_fstab(host, module_runner):
    setup(host, mountinfo=AUTOMOUNT, fstab=FSTAB + DEBUG_LINE)
    cmds = mounting_commands(host)
    r = module_runner(debugfs, {'state': 'unmounted'}, commands=cmds, diff=True)
    assert r['changed'] is True
    assert cmds.calls == [
        ('/usr/bin/umount', '/sys/kernel/debug/tracing'),
        ('/usr/bin/umount', '/sys/kernel/tracing'),
        ('/usr/bin/umount', '/sys/kernel/debug'),
    ]
    assert r['mounted'] == {'debugfs': False, 'tracefs': False}
    assert r['diff'] == []
    assert host.read('/etc/fstab') == FSTAB + DEBUG_LINE
    again = module_runner(debugfs, {'state': 'unmounted'}, commands=cmds)
    assert again['changed'] is False and len(cmds.calls) == 3


def test_check_mode_plans_reload_but_runs_nothing(host, module_runner):
    setup(host, units=False)
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds, check_mode=True)
    assert r['actions'][-1] == 'systemctl daemon-reload (systemd re-reads /etc/fstab)'
    assert cmds.calls == []
    assert host.read('/etc/fstab') == FSTAB


def test_unmounted_check_mode_runs_nothing(host, module_runner):
    setup(host)
    cmds = FakeCommands()
    r = module_runner(debugfs, {'state': 'unmounted'}, commands=cmds, check_mode=True)
    assert r['actions'] == ['unmount /sys/kernel/tracing', 'unmount /sys/kernel/debug']
    assert cmds.calls == []
    assert r['mounted'] == {'debugfs': False, 'tracefs': False}


def test_tracefs_under_debugfs_when_no_tracing_dir(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, tracing_dir=False, filter_functions=False, systemd=False)
    cmds = mounting_commands(host)
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['tracefs_path'] == '/sys/kernel/debug/tracing'
    assert cmds.calls == [
        ('/usr/bin/mount', '-t', 'debugfs', 'debugfs', '/sys/kernel/debug'),
        ('/usr/bin/mount', '-t', 'tracefs', 'tracefs', '/sys/kernel/debug/tracing'),
    ]
    assert host.read('/etc/fstab').endswith(
        DEBUG_LINE + 'tracefs /sys/kernel/debug/tracing tracefs defaults 0 0 # labkit.ebpf_rdma\n')
    # unmounting takes tracefs down before debugfs
    r = module_runner(debugfs, {'state': 'unmounted'}, commands=cmds)
    assert cmds.calls[2:] == [('/usr/bin/umount', '/sys/kernel/debug/tracing'),
                              ('/usr/bin/umount', '/sys/kernel/debug')]


def test_tracefs_false_handles_debugfs_only(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    cmds = mounting_commands(host)
    r = module_runner(debugfs, {'tracefs': False}, commands=cmds)
    assert cmds.calls == [('/usr/bin/mount', '-t', 'debugfs', 'debugfs', '/sys/kernel/debug')]
    assert r['persistence'] == {'debugfs': 'systemd'}
    assert r['available_filter_functions_readable'] is False


def test_kernel_without_tracefs(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    host.write('/proc/filesystems', fixture_text('mounts/filesystems-bookworm.txt').replace('nodev\ttracefs\n', ''))
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['failed']
    assert 'tracefs is not in /proc/filesystems of kernel 6.1.0-50-amd64' in r['msg']
    assert 'CONFIG_TRACING' in r['msg'] and 'tracefs: false' in r['msg']
    assert cmds.calls == []
    # with tracefs: false the same kernel is fine
    ok = module_runner(debugfs, {'tracefs': False}, commands=mounting_commands(host))
    assert not ok.get('failed')


def test_kernel_without_debugfs(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, systemd=False)
    host.write('/proc/filesystems', fixture_text('mounts/filesystems-bookworm.txt').replace('nodev\tdebugfs\n', ''))
    r = module_runner(debugfs, {'state': 'present'}, commands=FakeCommands())
    assert r['failed'] and 'CONFIG_DEBUG_FS' in r['msg'] and '6.1.0-50-amd64' in r['msg']
    assert host.read('/etc/fstab') == FSTAB


def test_not_root(host, module_runner, monkeypatch):
    setup(host, mountinfo=UNMOUNTED)
    monkeypatch.setattr(debugfs, 'current_euid', lambda: 1000)
    cmds = FakeCommands()
    r = module_runner(debugfs, {}, commands=cmds)
    assert r['failed'] and 'become: true' in r['msg'] and 'mount debugfs at /sys/kernel/debug' in r['msg']
    assert cmds.calls == []
    # check mode and no-op runs work without root
    assert module_runner(debugfs, {}, commands=cmds, check_mode=True)['changed'] is True
    setup(host)
    assert module_runner(debugfs, {}, commands=cmds)['changed'] is False


def test_mount_failure_names_lockdown(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, lockdown=None)
    host.write('/sys/kernel/security/lockdown', 'none integrity [confidentiality]\n')
    err = fixture_text('mounts/mount-nomountpoint.txt').replace('rc=32\n', '')
    r = module_runner(debugfs, {}, commands=mounting_commands(host, fail=(32, '', err)))
    assert r['failed'] and r['rc'] == 32
    assert 'mount debugfs at /sys/kernel/debug failed (exit 32): mount: /nonexistent' in r['msg']
    assert 'confidentiality' in r['msg'] and 'lockdown=integrity' in r['msg']


def test_mount_failure_without_lockdown(host, module_runner):
    setup(host, mountinfo=UNMOUNTED)
    err = fixture_text('mounts/mount-nomountpoint.txt').replace('rc=32\n', '')
    r = module_runner(debugfs, {}, commands=mounting_commands(host, fail=(32, '', err)))
    assert r['failed'] and 'mount point does not exist' in r['msg']
    assert 'dmesg' in r['msg'] and 'lockdown' not in r['msg']
    assert r['stderr'] == err


def test_umount_busy(host, module_runner):
    setup(host)
    err = fixture_text('mounts/umount-busy.txt').replace('rc=32\n', '')
    r = module_runner(debugfs, {'state': 'unmounted'}, commands=mounting_commands(host, fail=(32, '', err)))
    assert r['failed'] and 'target is busy' in r['msg'] and 'Something still uses /sys/kernel/tracing' in r['msg']


def test_other_filesystem_on_the_mount_point(host, module_runner):
    setup(host, mountinfo=AUTOMOUNT)
    cmds = FakeCommands()
    r = module_runner(debugfs, {'debugfs_path': '/mnt/a b', 'tracefs': False}, commands=cmds)
    assert r['failed']
    assert '/mnt/a b is already a mount point of a tmpfs filesystem (source labtmp)' in r['msg']
    assert cmds.calls == []
    # unmounting leaves a foreign filesystem alone
    r = module_runner(debugfs, {'debugfs_path': '/mnt/a b', 'tracefs': False, 'state': 'unmounted'},
                      commands=cmds)
    assert r['changed'] is False and cmds.calls == []


def test_same_path_for_both(host, module_runner):
    setup(host)
    r = module_runner(debugfs, {'tracefs_path': '/sys/kernel/debug/'}, commands=FakeCommands())
    assert r['failed'] and 'two different mount points' in r['msg']


def test_plan_is_pure():
    state = {
        'filesystems': {'debugfs', 'tracefs'},
        'mounts': [],
        'fstab': 'x / ext4 defaults 0 1',
        'systemd_booted': False,
        'units': {'debugfs': {'name': 'a', 'shipped': False, 'masked': False},
                  'tracefs': {'name': 'b', 'shipped': False, 'masked': False}},
    }
    from collections import OrderedDict
    paths = OrderedDict([('debugfs', '/d'), ('tracefs', '/d/tracing')])
    actions, report = debugfs.plan(state, {'state': 'mounted', 'persistent': True}, paths)
    assert [a.kind for a in actions] == ['mount', 'mount', 'write_file']
    assert actions[2].after == ('x / ext4 defaults 0 1\n'
                                'debugfs /d debugfs defaults 0 0 # labkit.ebpf_rdma\n'
                                'tracefs /d/tracing tracefs defaults 0 0 # labkit.ebpf_rdma\n')
    assert report['persistence'] == {'debugfs': 'fstab', 'tracefs': 'fstab'}


# --------------------------------------------------------------------------
# issue 15: mount points are normalised, system directories and fstab-breaking characters refused

def refused_path(host, module_runner, args):
    setup(host, mountinfo=UNMOUNTED, units=False)
    cmds = mounting_commands(host)
    r = module_runner(debugfs, args, commands=cmds)
    assert r.get('failed'), r
    assert cmds.calls == [] and host.read('/etc/fstab') == FSTAB
    assert host.read('/proc/self/mountinfo') == fixture_text(UNMOUNTED)
    return r['msg']


@pytest.mark.parametrize('args, words', [
    ({'debugfs_path': '/etc'}, 'debugfs_path /etc is a system directory'),
    ({'debugfs_path': '/var/'}, 'debugfs_path /var is a system directory'),
    ({'debugfs_path': '/usr/share/x'}, 'debugfs_path /usr/share/x is beneath /usr'),
    ({'tracefs_path': '/sys/kernel/../..'}, 'tracefs_path / is a system directory'),
    ({'tracefs_path': '/sys/fs/bpf'}, 'tracefs_path /sys/fs/bpf is beneath /sys'),
    ({'debugfs_path': '/boot/efi/dbg', 'tracefs': False}, 'is beneath /boot'),
])
def test_system_directory_refused(host, module_runner, args, words):
    msg = refused_path(host, module_runner, args)
    assert words in msg and 'mounting over it would hide' in msg
    assert 'use the usual place /sys/kernel/' in msg


def test_hash_in_path_refused(host, module_runner):
    msg = refused_path(host, module_runner, {'debugfs_path': '/mnt/debug#1', 'tracefs': False})
    assert msg.startswith("debugfs_path '/mnt/debug#1' contains '#', which /etc/fstab cannot hold")
    assert 'choose a path without it' in msg


def test_path_through_symlink_refused(host, module_runner):
    host.mkdir('/srv/real')
    os.symlink('/srv/real', host.path('/srv/dbg'))
    msg = refused_path(host, module_runner, {'debugfs_path': '/srv/dbg/debugfs', 'tracefs': False})
    assert msg.startswith('debugfs_path /srv/dbg/debugfs goes through the symlink /srv/dbg -> /srv/real')
    assert 'give the path without symlinks' in msg


def test_dotdot_path_is_normalised_and_idempotent(host, module_runner):
    """'..' in the path: the mount is found in mountinfo, so nothing is re-planned."""
    setup(host)
    cmds = FakeCommands()
    r = module_runner(debugfs, {'debugfs_path': '/sys/kernel/tracing/../debug/'}, commands=cmds)
    assert r['changed'] is False and r['actions'] == [] and cmds.calls == []
    assert r['debugfs_path'] == '/sys/kernel/debug'


def test_space_in_path_is_escaped_in_fstab_and_idempotent(host, module_runner):
    setup(host, mountinfo=UNMOUNTED, units=False)
    host.mkdir('/mnt/debug fs')
    cmds = FakeCommands({('/usr/bin/systemctl', 'daemon-reload'): (0, '', '')})
    args = {'state': 'present', 'tracefs': False, 'debugfs_path': '/mnt/debug fs'}
    r = module_runner(debugfs, args, commands=cmds)
    assert r['changed'] is True
    assert host.read('/etc/fstab') == FSTAB + 'debugfs /mnt/debug\\040fs debugfs defaults 0 0 # labkit.ebpf_rdma\n'
    again = module_runner(debugfs, args, commands=cmds)
    assert again['changed'] is False and again['persistence'] == {'debugfs': 'fstab'}
    assert host.read('/etc/fstab').count('debug\\040fs') == 1


def params(**kw):
    p = {'state': 'mounted', 'persistent': True, 'tracefs': True, 'debugfs_path': '/sys/kernel/debug',
         'tracefs_path': None}
    p.update(kw)
    return p


def test_mount_points_debugfs_first(host):
    host.mkdir('/sys/kernel/tracing')
    assert list(debugfs.mount_points(params()).items()) == [('debugfs', '/sys/kernel/debug'),
                                                            ('tracefs', '/sys/kernel/tracing')]
    assert list(debugfs.mount_points(params(tracefs=False))) == ['debugfs']


def test_mount_points_without_tracing_dir_put_tracefs_beneath_debugfs(host):
    assert debugfs.mount_points(params())['tracefs'] == '/sys/kernel/debug/tracing'


def test_mount_points_refuse_one_directory_for_both(host):
    with pytest.raises(debugfs.PlanError, match='two different mount points'):
        debugfs.mount_points(params(tracefs_path='/sys/kernel/debug'))


def test_unmount_order_deepest_first():
    mounts = debugfs.parse_mountinfo(fixture_text(AUTOMOUNT))
    paths = {'debugfs': '/sys/kernel/debug', 'tracefs': '/sys/kernel/debug/tracing'}
    order = debugfs.unmount_order(mounts, paths, {'debugfs': True, 'tracefs': True})
    assert order[-1] == '/sys/kernel/debug'
    assert '/sys/kernel/debug/tracing' in order
    assert debugfs.unmount_order(mounts, paths, {'debugfs': False, 'tracefs': False}) == []


def test_command_failure_names_the_reason():
    mount = debugfs.Action('mount', '/sys/kernel/debug', 'mount debugfs at /sys/kernel/debug',
                           argv=['mount', '-t', 'debugfs', 'debugfs', '/sys/kernel/debug'])
    umount = debugfs.Action('umount', '/sys/kernel/debug', 'unmount /sys/kernel/debug', argv=['umount', 'x'])
    assert 'confidentiality mode' in debugfs.command_failure(mount, 32, '', 'permission denied', 'confidentiality')
    assert debugfs.command_failure(mount, 32, '', 'boom\n', 'none').startswith(
        'mount debugfs at /sys/kernel/debug failed (exit 32): boom. See dmesg')
    assert 'Something still uses /sys/kernel/debug' in debugfs.command_failure(umount, 32, 'busy', '', None)
