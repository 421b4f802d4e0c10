# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import time

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fsafe
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu_argv
from ansible_collections.labkit.ebpf_rdma.plugins.modules import qemu_vm

from conftest import FakeCommands, fixture_text, hold_lock

FAKE_PID = 4242


class World(object):
    """A fake controller: which pid runs which argv, and the signals sent."""

    def __init__(self, tmp_path, monkeypatch, system='Linux', machine='x86_64'):
        self.tmp = tmp_path
        self.procs = {}
        self.signals = []
        self.image = tmp_path / 'cache' / 'images' / 'bookworm-amd64-k'
        self.image.mkdir(parents=True)
        for name in ('disk.qcow2', 'vmlinuz', 'initrd.img'):
            (self.image / name).write_text(name)
        self.state = tmp_path / 'state' / 'devvm'
        self.kvm = tmp_path / 'kvm'
        monkeypatch.setattr(qemu_vm.platform, 'system', lambda: system)
        monkeypatch.setattr(qemu_vm.platform, 'machine', lambda: machine)
        monkeypatch.setattr(qemu_vm.platform, 'node', lambda: 'ctl')
        monkeypatch.setattr(qemu_vm, 'KVM_DEVICE', str(self.kvm))
        monkeypatch.setattr(qemu_vm, 'pid_alive', lambda pid: pid in self.procs)
        monkeypatch.setattr(qemu_vm, 'process_argv', lambda module, pid: self.procs.get(pid, []))
        monkeypatch.setattr(qemu_vm.time, 'sleep', lambda s: None)

        def kill(pid, sig):
            self.signals.append((pid, sig))
            if sig in (signal.SIGTERM, signal.SIGKILL):
                self.procs.pop(pid, None)
        monkeypatch.setattr(qemu_vm.os, 'kill', kill)
        monkeypatch.setattr(qemu_vm.vm_instance, 'port_is_free', lambda port, host='127.0.0.1': port != 2222)
        monkeypatch.setattr(qemu_vm.vm_instance, 'free_port', lambda host='127.0.0.1': 40022)

    def args(self, **kw):
        a = dict(name='devvm', state_dir=str(self.state), cache_dir=str(self.tmp / 'cache'),
                 disk=str(self.image / 'disk.qcow2'), kernel=str(self.image / 'vmlinuz'),
                 initrd=str(self.image / 'initrd.img'), accel='tcg')
        a.update(kw)
        return a

    # command answers ------------------------------------------------
    def keygen(self, argv, **kw):
        path = argv[argv.index('-f') + 1]
        with open(path, 'w') as f:
            f.write('PRIVATE')
        with open(path + '.pub', 'w') as f:
            f.write('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%s labkit-devvm\n' % os.path.basename(path))
        return 0, '', ''

    def img_create(self, argv, **kw):
        with open(argv[-2], 'w') as f:
            f.write('overlay')
        return 0, '', ''

    def launch(self, argv, **kw):
        pidfile = argv[argv.index('-pidfile') + 1]
        with open(pidfile, 'w') as f:
            f.write('%d\n' % FAKE_PID)
        self.procs[FAKE_PID] = list(argv)
        return 0, '', ''

    def commands(self, probe=None):
        table = {
            lambda a: a[0].endswith('ssh-keygen'): self.keygen,
            lambda a: a[0].endswith('qemu-img') and a[1] == 'create': self.img_create,
            lambda a: a[0].startswith('/usr/bin/qemu-system') and a[1] == '--version':
                (0, fixture_text('qemu/qemu-version.txt'), ''),
            lambda a: a[0].startswith('/usr/bin/qemu-system') and '-daemonize' in a: self.launch,
        }
        if probe:
            table[lambda a: a[0].endswith('timeout')] = probe
        return FakeCommands(table)


@pytest.fixture
def world(tmp_path, monkeypatch):
    return World(tmp_path, monkeypatch)


def test_check_mode_plans_and_creates_nothing(module_runner, world):
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(), commands=cmds, check_mode=True, diff=True)
    assert res['changed'] is True and res['running'] is False
    assert len(res['actions']) == 9  # dir, 2 keys, overlay, start, then the 4 files it writes
    assert res['actions'][4] == 'start devvm'
    assert not world.state.exists() and cmds.calls == []
    assert not (world.tmp / 'state').exists()  # not even the lock file


def test_check_mode_shows_the_diff_of_the_files_a_start_writes(module_runner, world):
    """Regression: check mode showed no file diff although diff_mode claimed full support."""
    res = module_runner(qemu_vm, world.args(ssh_port=47022), check_mode=True, diff=True)
    by_file = dict((d['after_header'], d) for d in res['diff'])
    st = world.state
    assert sorted(by_file) == sorted(str(st / n) for n in ('known_hosts', 'ssh_config', 'inventory.yml', 'port'))
    assert 'Port 47022' in by_file[str(st / 'ssh_config')]['after']
    assert 'ansible_port: 47022' in by_file[str(st / 'inventory.yml')]['after']
    assert by_file[str(st / 'known_hosts')]['after'] == 'labkit-devvm ssh-ed25519 <generated-at-start>\n'
    assert not world.state.exists()


def test_start_writes_identity_inventory_and_is_idempotent(module_runner, world):
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(cpus=2, memory=2048), commands=cmds, diff=True)
    assert res['changed'] is True and res['running'] is True and res['pid'] == FAKE_PID
    assert res['ssh_port'] == 40022 and res['accel'] == 'tcg'
    st = world.state
    argv = world.procs[FAKE_PID]
    assert argv[argv.index('-pidfile') + 1] == str(st / 'qemu.pid')
    assert 'name=opt/labkit/authorized_keys,file=%s' % (st / 'id_ed25519.pub') in argv
    assert 'name=opt/labkit/ssh_host_ed25519_key,file=%s' % (st / 'ssh_host_ed25519_key') in argv
    assert 'name=opt/labkit/hostname,string=devvm' in argv
    assert cmds.ran('/usr/bin/qemu-img', 'create')[0][-3:] == (str(world.image / 'disk.qcow2'), str(st / 'disk.qcow2'), '20G')
    known = (st / 'known_hosts').read_text()
    assert known == 'labkit-devvm ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIssh_host_ed25519_key\n'
    assert oct(os.stat(str(st / 'known_hosts')).st_mode & 0o777) == '0o600'
    assert res['connection']['ansible_port'] == 40022
    assert 'StrictHostKeyChecking=yes' in res['connection']['ansible_ssh_common_args']
    assert 'Port 40022' in (st / 'ssh_config').read_text()
    assert '40022' in (st / 'inventory.yml').read_text()
    assert (st / 'port').read_text() == '40022\n'
    assert [d['after_header'] for d in res['diff']] == [str(st / n) for n in ('known_hosts', 'ssh_config', 'inventory.yml', 'port')]
    # second run: the VM runs, nothing is launched
    cmds2 = world.commands()
    res2 = module_runner(qemu_vm, world.args(cpus=2, memory=2048), commands=cmds2)
    assert res2['changed'] is False and res2['running'] is True and res2['restart_needed'] is False
    assert cmds2.calls == [] and res2['ssh_port'] == 40022
    # changed settings on a running VM: reported, not applied
    res3 = module_runner(qemu_vm, world.args(cpus=4, memory=2048), commands=world.commands())
    assert res3['changed'] is False and res3['restart_needed'] is True


def test_restart_keeps_the_port_while_free(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    assert world.procs == {}
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(), commands=cmds)
    assert res['ssh_port'] == 40022 and cmds.ran('/usr/bin/ssh-keygen') == [] and cmds.ran('/usr/bin/qemu-img') == []
    assert (world.state / 'serial.log.1').exists() is False  # no log yet in this fake world


def test_explicit_busy_port_fails_before_launch(module_runner, world):
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(ssh_port=2222), commands=cmds)
    assert res['failed'] and 'port 2222 (local_vm_ssh_port) is in use' in res['msg']
    assert not world.procs


def test_stop_signals_only_the_verified_qemu(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    res = module_runner(qemu_vm, world.args(state='stopped', stop_timeout=1), commands=world.commands())
    assert res['changed'] is True and res['stopped_how'] == 'terminated'
    assert world.signals[-1] == (FAKE_PID, signal.SIGTERM)
    again = module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    assert again['changed'] is False or again['actions'] == ['remove the stale pidfile %s' % (world.state / 'qemu.pid')]


def test_pid_reused_by_another_process_is_never_signalled(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    world.procs[FAKE_PID] = ['/usr/bin/sleep', '1000']  # the VM died, its pid was reused
    world.signals[:] = []
    res = module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    assert world.signals == []
    assert res['actions'] == ['remove the stale pidfile %s' % (world.state / 'qemu.pid')]
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert world.signals == [] and not world.state.exists()


def test_absent_kills_and_removes_the_state_but_keeps_the_cache(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    res = module_runner(qemu_vm, world.args(state='absent'), check_mode=True, commands=world.commands())
    assert res['changed'] and world.state.exists() and FAKE_PID in world.procs
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert res['changed'] is True and not world.state.exists()
    assert (FAKE_PID, signal.SIGTERM) in world.signals
    assert (world.image / 'disk.qcow2').exists()
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert res['changed'] is False


def _probe(serial_fixture, rc, stderr_fixture):
    def answer(argv, **kw):
        log = [a for a in argv if a.startswith('file:')][0][5:]
        with open(log, 'w') as f:
            f.write(fixture_text(serial_fixture))
        return rc, '', fixture_text(stderr_fixture) if stderr_fixture else ''
    return answer


def test_auto_accel_probes_kvm_and_falls_back_to_tcg_on_pvm(module_runner, world):
    world.kvm.write_text('')
    cmds = world.commands(probe=_probe('qemu/kvm-probe-cpu-host.serial', 134, 'qemu/kvm-probe-cpu-host.stderr'))
    res = module_runner(qemu_vm, world.args(accel='auto', probe_timeout=7), commands=cmds)
    assert res['accel'] == 'tcg'
    assert 'KVM exists but failed the boot probe' in res['accel_reason'] and 'MSR 0x10a' in res['accel_reason']
    probe = cmds.ran('/usr/bin/timeout')[0]
    assert probe[1:4] == ('-s', 'KILL', '7') and '-accel' in probe and 'kvm' in probe
    argv = world.procs[FAKE_PID]
    assert argv[argv.index('-accel') + 1] == 'tcg,thread=multi' and argv[argv.index('-cpu') + 1] == 'max'
    assert res['boot'] == 'kernel' and '-kernel' in argv and 'seed' not in res
    verdicts = json.loads((world.tmp / 'cache' / 'accel-probe.json').read_text())
    assert list(verdicts) == [qemu_argv.probe_cache_key('ctl', os.uname()[2], '7.2.22', 'amd64')]
    # the verdict is cached: no second probe
    module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    cmds2 = world.commands()
    res2 = module_runner(qemu_vm, world.args(accel='auto'), commands=cmds2)
    assert cmds2.ran('/usr/bin/timeout') == [] and 'cached verdict' in res2['accel_reason']


def test_auto_accel_hang_after_edd_falls_back(module_runner, world):
    world.kvm.write_text('')
    cmds = world.commands(probe=_probe('qemu/kvm-probe-default-cpu.serial', 137, 'qemu/kvm-probe-default-cpu.stderr'))
    res = module_runner(qemu_vm, world.args(accel='auto'), commands=cmds)
    assert res['accel'] == 'tcg' and 'Probing EDD' in res['accel_reason']


def test_auto_accel_uses_kvm_when_the_probe_boots(module_runner, world):
    world.kvm.write_text('')
    cmds = world.commands(probe=_probe('qemu/tcg-probe.serial', 0, None))
    res = module_runner(qemu_vm, world.args(accel='auto'), commands=cmds)
    argv = world.procs[FAKE_PID]
    assert res['accel'] == 'kvm' and argv[argv.index('-cpu') + 1] == 'host'


def test_auto_accel_without_dev_kvm_does_not_probe(module_runner, world):
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(accel='auto'), commands=cmds)
    assert res['accel'] == 'tcg' and 'does not exist' in res['accel_reason'] and cmds.ran('/usr/bin/timeout') == []


def test_macos_arm64_uses_hvf(module_runner, tmp_path, monkeypatch):
    w = World(tmp_path, monkeypatch, system='Darwin', machine='arm64')
    cmds = w.commands()
    cmds.add(['/usr/bin/sysctl', '-n', 'kern.hv_support'], (0, '1\n', ''))
    res = module_runner(qemu_vm, w.args(accel='auto', arch='arm64'), commands=cmds)
    argv = w.procs[FAKE_PID]
    assert res['accel'] == 'hvf' and argv[0] == '/usr/bin/qemu-system-aarch64'
    assert argv[argv.index('-M') + 1] == 'virt' and argv[argv.index('-cpu') + 1] == 'host'


def test_missing_image_fails_with_the_fix(module_runner, world):
    res = module_runner(qemu_vm, world.args(disk=str(world.tmp / 'nope.qcow2')), commands=world.commands())
    assert res['failed'] and 'build the image first' in res['msg']
    res = module_runner(qemu_vm, world.args(disk=None), commands=world.commands())
    assert res['failed'] and 'disk is required' in res['msg']


def test_missing_qemu_fails_with_install_command(module_runner, world):
    res = module_runner(qemu_vm, world.args(), commands=world.commands(), bins={'qemu-system-x86_64': None})
    assert res['failed'] and 'apt-get install qemu-system-x86 qemu-utils' in res['msg']


def test_bad_name_fails(module_runner, world):
    res = module_runner(qemu_vm, world.args(name='../etc'), commands=world.commands())
    assert res['failed'] and 'is not valid' in res['msg']


def test_overlay_on_a_vanished_base_image_fails_with_the_fix(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    (world.image / 'disk.qcow2').unlink()
    new = world.tmp / 'cache' / 'images' / 'bookworm-amd64-new'
    new.mkdir()
    for name in ('disk.qcow2', 'vmlinuz', 'initrd.img'):
        (new / name).write_text(name)
    res = module_runner(qemu_vm, world.args(disk=str(new / 'disk.qcow2'), kernel=str(new / 'vmlinuz'),
                                            initrd=str(new / 'initrd.img')), commands=world.commands())
    assert res['failed'] and 'vm-destroy.yml' in res['msg']


# ---------------------------------------------------------------- firmware boot (cloud images)

class CloudWorld(World):
    """A cloud-image entry (disk only), fake edk2 files and a seed writer."""

    def __init__(self, tmp_path, monkeypatch, **kw):
        super(CloudWorld, self).__init__(tmp_path, monkeypatch, **kw)
        self.cloud = tmp_path / 'cache' / 'images' / 'cloud-amd64-k'
        self.cloud.mkdir(parents=True)
        (self.cloud / 'disk.qcow2').write_text('cloud disk')
        fw = tmp_path / 'fw'
        fw.mkdir()
        (fw / 'CODE.fd').write_text('code')
        (fw / 'VARS.fd').write_text('vars template')
        self.fw = fw
        monkeypatch.setattr(qemu_vm.qemu_argv, 'UEFI_FIRMWARE', {'amd64': ((str(fw / 'CODE.fd'), str(fw / 'VARS.fd')),),
                                                                 'arm64': ((str(fw / 'CODE.fd'), str(fw / 'VARS.fd')),)})
        monkeypatch.setattr(qemu_vm.qemu_argv, 'HOMEBREW_QEMU_SHARE', ())
        self.seeds = []

    def args(self, **kw):
        a = dict(name='cloudvm', state_dir=str(self.state), cache_dir=str(self.tmp / 'cache'),
                 disk=str(self.cloud / 'disk.qcow2'), kernel='', initrd='', accel='tcg', firmware='uefi',
                 guest_apt_sources='Types: deb\nURIs: http://mirror.example.invalid/debian\n',
                 guest_apt_conf='Acquire::Check-Valid-Until "false";\n')
        a.update(kw)
        return a

    def xorriso(self, argv, **kw):
        out = argv[argv.index('-output') + 1]
        files = argv[argv.index('-rock') + 1:]
        self.seeds.append(dict((os.path.basename(f), open(f).read()) for f in files))
        with open(out, 'w') as f:
            f.write('iso')
        return 0, '', ''

    def commands(self, probe=None):
        cmds = super(CloudWorld, self).commands(probe)
        cmds.table.insert(0, (lambda a: a[0] == '/usr/bin/xorriso', self.xorriso))
        return cmds


@pytest.fixture
def cloud(tmp_path, monkeypatch):
    return CloudWorld(tmp_path, monkeypatch)


def test_firmware_boot_writes_a_seed_with_the_vms_identity(module_runner, cloud):
    cmds = cloud.commands()
    res = module_runner(qemu_vm, cloud.args(), commands=cmds)
    assert res['changed'] is True and res['running'] is True and res['boot'] == 'uefi'
    st = cloud.state
    argv = cloud.procs[FAKE_PID]
    for flag in ('-kernel', '-initrd', '-append', '-fw_cfg'):
        assert flag not in argv
    assert 'if=pflash,format=raw,unit=0,readonly=on,file=%s' % (cloud.fw / 'CODE.fd') in argv
    assert 'if=pflash,format=raw,unit=1,file=%s' % (st / 'efivars.fd') in argv
    assert (st / 'efivars.fd').read_text() == 'vars template'  # the VM's own copy
    assert 'file=%s,if=none,id=cidata,format=raw,readonly=on' % (st / 'seed' / 'cidata.img') in argv
    assert res['seed'] == str(st / 'seed' / 'cidata.img') and (st / 'seed' / 'cidata.img').exists()
    seed = cloud.seeds[0]
    doc = json.loads(seed['user-data'].split('\n', 1)[1])
    assert doc['ssh_authorized_keys'] == [(st / 'id_ed25519.pub').read_text().strip()]
    assert doc['ssh_keys']['ed25519_private'] == (st / 'ssh_host_ed25519_key').read_text()
    assert doc['ssh_keys']['ed25519_public'] == (st / 'ssh_host_ed25519_key.pub').read_text().strip()
    assert doc['hostname'] == 'cloudvm' and doc['disable_root'] is False
    files = dict((f['path'], f['content']) for f in doc['write_files'])
    assert files['/etc/apt/sources.list.d/debian.sources'].startswith('Types: deb\nURIs: http://mirror.example.invalid')
    assert json.loads(seed['meta-data'])['local-hostname'] == 'cloudvm'
    assert oct(os.stat(str(st / 'seed' / 'user-data')).st_mode & 0o777) == '0o600'
    # the known host key is the one the seed gives the guest
    assert (st / 'known_hosts').read_text().split()[2] == doc['ssh_keys']['ed25519_public'].split()[1]
    # running: nothing to do
    cmds2 = cloud.commands()
    res2 = module_runner(qemu_vm, cloud.args(), commands=cmds2)
    assert res2['changed'] is False and res2['restart_needed'] is False and cmds2.calls == []
    assert res2['boot'] == 'uefi'
    # other apt settings for a running VM: reported, not applied
    res3 = module_runner(qemu_vm, cloud.args(guest_apt_conf=''), commands=cloud.commands())
    assert res3['changed'] is False and res3['restart_needed'] is True


def test_firmware_boot_restart_keeps_the_seed_and_the_vars(module_runner, cloud):
    module_runner(qemu_vm, cloud.args(), commands=cloud.commands())
    (cloud.state / 'efivars.fd').write_text('vars written by the guest')
    module_runner(qemu_vm, cloud.args(state='stopped'), commands=cloud.commands())
    cmds = cloud.commands()
    res = module_runner(qemu_vm, cloud.args(), commands=cmds)
    assert res['running'] is True and cmds.ran('/usr/bin/xorriso') == [] and len(cloud.seeds) == 1
    assert (cloud.state / 'efivars.fd').read_text() == 'vars written by the guest'
    # a changed setting at the next start rewrites the seed, with a new instance-id
    module_runner(qemu_vm, cloud.args(state='stopped'), commands=cloud.commands())
    module_runner(qemu_vm, cloud.args(guest_apt_conf=''), commands=cloud.commands())
    assert len(cloud.seeds) == 2
    iids = [json.loads(sd['meta-data'])['instance-id'] for sd in cloud.seeds]
    assert iids[0] != iids[1]


def test_bios_boot_on_amd64_by_default(module_runner, cloud):
    res = module_runner(qemu_vm, cloud.args(firmware='auto'), commands=cloud.commands())
    argv = cloud.procs[FAKE_PID]
    assert res['boot'] == 'bios' and not any('pflash' in a for a in argv)
    assert 'virtio-blk-pci,drive=hd0,bootindex=0' in argv and not (cloud.state / 'efivars.fd').exists()


def test_firmware_check_mode_plans_the_seed_and_creates_nothing(module_runner, cloud):
    cmds = cloud.commands()
    res = module_runner(qemu_vm, cloud.args(), commands=cmds, check_mode=True, diff=True)
    assert res['changed'] is True and res['actions'][-6:-4] == [
        'write the NoCloud seed %s' % (cloud.state / 'seed' / 'cidata.img'), 'start cloudvm']
    assert any(a.startswith('copy the UEFI vars template') for a in res['actions'])
    assert not cloud.state.exists() and cmds.calls == []
    seed = dict((d['after_header'], d['after']) for d in res['diff'])
    assert 'http://mirror.example.invalid/debian' in seed[str(cloud.state / 'seed' / 'user-data')]
    assert '"local-hostname": "cloudvm"' in seed[str(cloud.state / 'seed' / 'meta-data')]


def test_the_private_host_key_never_shows_in_a_diff(module_runner, cloud):
    res = module_runner(qemu_vm, cloud.args(), commands=cloud.commands(), diff=True)
    user_data = [d['after'] for d in res['diff'] if d['after_header'].endswith('user-data')][0]
    assert 'PRIVATE' not in user_data and qemu_vm.HIDDEN in user_data
    assert 'PRIVATE' in (cloud.state / 'seed' / 'user-data').read_text()  # the file itself has it


def test_missing_uefi_firmware_names_the_package(module_runner, cloud, monkeypatch):
    monkeypatch.setattr(qemu_vm.qemu_argv, 'UEFI_FIRMWARE', {'amd64': (), 'arm64': ()})
    res = module_runner(qemu_vm, cloud.args(), commands=cloud.commands())
    assert res['failed'] and 'apt-get install ovmf' in res['msg'] and not cloud.procs


def test_no_seed_writer_fails_before_anything(module_runner, cloud):
    cmds = cloud.commands()
    res = module_runner(qemu_vm, cloud.args(), commands=cmds,
                        bins={'xorriso': None, 'genisoimage': None, 'mkisofs': None, 'mkfs.vfat': None})
    assert res['failed'] and 'apt-get install xorriso' in res['msg']
    assert not cloud.state.exists() and cmds.calls == []


def test_vfat_seed_when_no_iso_tool(module_runner, cloud):
    made = []

    def mkfs(argv, **kw):
        open(argv[-2], 'w').close()
        made.append(argv)
        return 0, '', ''
    cmds = cloud.commands()
    cmds.table.insert(0, (lambda a: a[0] == '/usr/bin/mkfs.vfat', mkfs))
    cmds.table.insert(0, (lambda a: a[0] == '/usr/bin/mcopy', (0, '', '')))
    res = module_runner(qemu_vm, cloud.args(), commands=cmds, bins={'xorriso': None, 'genisoimage': None, 'mkisofs': None})
    assert res['running'] and made[0][1:3] == ('-n', 'CIDATA')
    assert [c[-1] for c in cmds.ran('/usr/bin/mcopy')] == ['::user-data', '::meta-data']


def test_arm64_cannot_boot_bios(module_runner, cloud):
    res = module_runner(qemu_vm, cloud.args(arch='arm64', firmware='bios'), commands=cloud.commands())
    assert res['failed'] and 'UEFI only' in res['msg']


def test_kernel_without_initrd_and_cmdline_without_kernel_fail(module_runner, cloud):
    res = module_runner(qemu_vm, cloud.args(kernel=str(cloud.image / 'vmlinuz')), commands=cloud.commands())
    assert res['failed'] and 'kernel and initrd go together' in res['msg']
    res = module_runner(qemu_vm, cloud.args(kernel_cmdline='quiet'), commands=cloud.commands())
    assert res['failed'] and 'needs a direct kernel boot' in res['msg']


def test_firmware_boot_with_auto_accel_does_not_probe_without_a_kernel(module_runner, cloud):
    cloud.kvm.write_text('')
    cmds = cloud.commands()
    res = module_runner(qemu_vm, cloud.args(accel='auto'), commands=cmds)
    assert res['accel'] == 'tcg' and 'no guest kernel to probe' in res['accel_reason']
    assert cmds.ran('/usr/bin/timeout') == []


def test_kernel_boot_records_the_same_config_as_before(module_runner, world):
    # vm.json of a kernel-booted VM must not grow firmware keys (restart_needed on upgrade)
    module_runner(qemu_vm, world.args(), commands=world.commands())
    saved = json.loads((world.state / 'vm.json').read_text())
    assert sorted(saved['config']) == sorted(qemu_vm.CONFIG_KEYS)


def test_running_state_returns_the_connection_of_a_running_vm_and_changes_nothing(module_runner, world):
    started = module_runner(qemu_vm, world.args(), commands=world.commands())
    (world.state / 'ssh_config').write_text('edited by hand\n')
    cmds = world.commands()
    res = module_runner(qemu_vm, dict(name='devvm', state='running', state_dir=str(world.state)), commands=cmds)
    assert res['changed'] is False and res['running'] is True and res['pid'] == FAKE_PID
    assert res['connection'] == started['connection'] and res['ssh_port'] == 40022
    assert res['inventory'] == str(world.state / 'inventory.yml')
    assert cmds.calls == [] and world.signals == []
    assert (world.state / 'ssh_config').read_text() == 'edited by hand\n'


def test_running_state_fails_naming_dev_vm_when_the_vm_is_not_running(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    module_runner(qemu_vm, world.args(state='stopped', stop_timeout=1), commands=world.commands())
    for state_dir in (world.state, world.tmp / 'never-created'):
        cmds = world.commands()
        res = module_runner(qemu_vm, dict(name='devvm', state='running', state_dir=str(state_dir)), commands=cmds)
        assert res['failed'] and res['running'] is False
        assert 'devvm is not running' in res['msg'] and 'playbooks/dev-vm.yml' in res['msg']
        assert cmds.calls == [] and world.procs == {}
    assert not (world.tmp / 'never-created').exists()


# ---------------------------------------------------------------- trust (issue 15)

def test_absent_removes_a_vm_directory_recorded_before_the_name_marker(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    record = json.loads((world.state / 'vm.json').read_text())
    assert record['name'] == 'devvm'
    del record['name']  # a vm.json written by an older labkit: its argv names the VM
    (world.state / 'vm.json').write_text(json.dumps(record))
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert res['changed'] is True and not world.state.exists()


def test_absent_refuses_a_directory_without_the_vms_marker(module_runner, world):
    """Regression: state=absent removed any state_dir recursively."""
    world.state.mkdir(parents=True)
    (world.state / 'thesis.tex').write_text('years of work')
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert res['failed'] and 'no vm.json naming devvm (it holds thesis.tex)' in res['msg']
    assert 'rm -r -- %s' % world.state in res['msg']
    assert (world.state / 'thesis.tex').read_text() == 'years of work'


def test_the_vm_directory_carries_its_marker_from_the_start(module_runner, world):
    def keygen_fails(argv, **kw):
        return 1, '', 'ssh-keygen: disk full'
    cmds = world.commands()
    cmds.table.insert(0, (lambda a: a[0].endswith('ssh-keygen'), keygen_fails))
    res = module_runner(qemu_vm, world.args(), commands=cmds)
    assert res['failed']
    assert json.loads((world.state / 'vm.json').read_text()) == {'name': 'devvm'}
    res = module_runner(qemu_vm, world.args(state='absent'), commands=world.commands())
    assert res['changed'] is True and not world.state.exists()


def test_a_second_run_fails_naming_the_holder_of_the_vm_lock(module_runner, world):
    """Regression: no lock, two runs at once raced on ssh-keygen and qemu-img."""
    lock = str(world.tmp / 'state' / '.devvm.lock')
    cmds = world.commands()
    (world.tmp / 'state').mkdir()
    with fsafe.lock(lock):
        res = module_runner(qemu_vm, world.args(lock_timeout=0), commands=cmds)
    assert res['failed'] and res['msg'] == (
        'another run (pid %d) holds the lock of VM devvm (%s) and did not finish within lock_timeout=0 s; nothing '
        'was changed. Wait for it to end (or stop it: kill %d) and run again' % (os.getpid(), lock, os.getpid()))
    assert cmds.calls == [] and not world.state.exists() and not world.procs
    res = module_runner(qemu_vm, world.args(), commands=world.commands())
    assert res['running'] is True


def test_a_second_run_waits_for_the_lock_with_a_warning(module_runner, world, monkeypatch):
    from ansible.module_utils import basic
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    lock = str(world.tmp / 'state' / '.devvm.lock')
    (world.tmp / 'state').mkdir()
    holder = fsafe.lock(lock)
    holder.__enter__()

    def sleep(_s):
        holder.__exit__(None, None, None)  # the first run ends while the second waits
    monkeypatch.setattr(fsafe, 'time', type('Clock', (), dict(time=staticmethod(time.time), sleep=staticmethod(sleep))))
    res = module_runner(qemu_vm, world.args(), commands=world.commands())
    assert res['running'] is True
    assert warnings == ['waited for the run with pid %d, which held the lock of VM devvm (%s)' % (os.getpid(), lock)]


def test_the_vm_lock_file_is_private_and_holds_no_pid_after_the_run(module_runner, world):
    res = module_runner(qemu_vm, world.args(), commands=world.commands())
    lock = world.tmp / 'state' / '.devvm.lock'
    assert res['running'] is True and oct(os.stat(str(lock)).st_mode & 0o777) == oct(0o600)
    assert lock.read_text() == ''


def test_a_run_that_died_holding_the_lock_leaves_no_stale_lock(module_runner, world):
    lock = str(world.tmp / 'state' / '.devvm.lock')
    (world.tmp / 'state').mkdir()
    hold_lock(lock, 0).wait()  # held, then its process ended: the file still names it
    assert open(lock).read().strip().isdigit()
    res = module_runner(qemu_vm, world.args(lock_timeout=0), commands=world.commands())
    assert res['running'] is True


def test_a_lock_file_planted_as_a_link_is_refused(module_runner, world):
    lock = world.tmp / 'state' / '.devvm.lock'
    (world.tmp / 'state').mkdir()
    (world.tmp / 'elsewhere').write_text('keep')
    lock.symlink_to(world.tmp / 'elsewhere')
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(), commands=cmds)
    assert res['failed'] and res['msg'] == (
        'the lock file %s is a symbolic link; remove it (rm %s) and run again' % (lock, lock))
    assert cmds.calls == [] and not world.state.exists() and (world.tmp / 'elsewhere').read_text() == 'keep'


def test_a_port_taken_between_check_and_start_names_the_port_and_the_fix(module_runner, world, monkeypatch):
    """Regression: QEMU's failure to bind the forward was a raw stderr dump."""
    monkeypatch.setattr(qemu_vm, 'proc_net_tcp', lambda: fixture_text('qemu/proc-net-tcp-47222-listening.txt'))
    monkeypatch.setattr(qemu_vm, 'socket_holders', lambda listeners: {16530: 'python3 -m http.server --bind 127.0.0.1 47222'}
                        if listeners == [('127.0.0.1', 0, '25849')] else {})
    cmds = world.commands()
    cmds.table.insert(0, (lambda a: '-daemonize' in a, (1, '', fixture_text('qemu/hostfwd-port-busy.stderr'))))
    res = module_runner(qemu_vm, world.args(ssh_port=47222), commands=cmds)
    assert res['failed'] and res['msg'] == (
        'QEMU could not forward 127.0.0.1:47222 to the SSH port of devvm: the port was taken by pid 16530 '
        '(python3 -m http.server --bind 127.0.0.1 47222) after it was checked; nothing of the VM was lost. Choose '
        'another port (local_vm_ssh_port, 0 picks a free one) or stop the process holding it, then run again')


def test_paths_with_commas_and_blanks_reach_qemu_and_ssh_whole(module_runner, tmp_path, monkeypatch):
    """Regression: a comma split -drive, a blank split ssh_common_args."""
    world = World(tmp_path / 'a, b', monkeypatch)
    res = module_runner(qemu_vm, world.args(), commands=world.commands())
    st = str(world.state)
    argv = world.procs[FAKE_PID]
    assert 'file=%s/disk.qcow2,if=none,id=hd0,format=qcow2,discard=unmap' % st.replace(',', ',,') in argv
    assert 'name=opt/labkit/authorized_keys,file=%s/id_ed25519.pub' % st.replace(',', ',,') in argv
    assert 'unix:%s/qmp.sock,server=on,wait=off' % st.replace(',', ',,') in argv
    assert 'file:%s/serial.log' % st in argv  # -serial file: takes the rest literally
    import shlex
    args = shlex.split(res['connection']['ansible_ssh_common_args'])
    assert args[:2] == ['-o', 'UserKnownHostsFile="%s/known_hosts"' % st]
    cfg = (world.state / 'ssh_config').read_text()
    assert '  IdentityFile "%s/id_ed25519"\n' % st in cfg and '  UserKnownHostsFile "%s/known_hosts"\n' % st in cfg


def test_the_stop_and_remove_plans_are_pure(tmp_path, monkeypatch):
    class Module(object):
        params = dict(name='devvm', state_dir=str(tmp_path / 'devvm'), cache_dir='')
    vm = qemu_vm.VM(Module())
    assert [a.kind for a in qemu_vm.plan_absent(vm, 4242, True)] == ['kill', 'remove_dir']
    assert qemu_vm.plan_absent(vm, None, False) == []
    assert [a.kind for a in qemu_vm.plan_stopped(vm, 4242, True)] == ['stop']
    assert [a.description for a in qemu_vm.plan_stopped(vm, None, True)] == [
        'remove the stale pidfile %s' % (tmp_path / 'devvm' / 'qemu.pid')]
    assert qemu_vm.plan_stopped(vm, None, False) == []
    assert not (tmp_path / 'devvm').exists()


def test_fabric_nic_sockets_mac_and_restart_needed(module_runner, world, tmp_path):
    fab = tmp_path / 'fabric'
    links = [{'local': str(fab / 'devvm.sock'), 'remote': str(fab / 'peer.sock')}]
    check = module_runner(qemu_vm, world.args(fabric=links), commands=world.commands(), check_mode=True)
    assert 'create the fabric socket directory %s' % fab in check['actions'] and not fab.exists()
    res = module_runner(qemu_vm, world.args(fabric=links), commands=world.commands())
    mac = qemu_vm.fabric_utils.fabric_mac('devvm')
    assert res['fabric'] == [dict(links[0], mac=mac)]
    argv = world.procs[FAKE_PID]
    assert 'virtio-net-pci,netdev=fab0,mac=%s' % mac in argv
    assert oct(os.stat(str(fab)).st_mode & 0o777) == '0o700'
    # running: the same fabric is no change; another one needs a restart
    again = module_runner(qemu_vm, world.args(fabric=links), commands=world.commands())
    assert again['changed'] is False and again['restart_needed'] is False and again['fabric'] == res['fabric']
    other = module_runner(qemu_vm, world.args(fabric=[dict(links[0], mac='02:00:00:00:00:01')]),
                          commands=world.commands())
    assert other['restart_needed'] is True


def test_a_stale_fabric_socket_is_removed_before_the_start(module_runner, world, tmp_path):
    import socket as socket_mod
    fab = tmp_path / 'f'
    fab.mkdir()
    stale = socket_mod.socket(socket_mod.AF_UNIX, socket_mod.SOCK_DGRAM)
    stale.bind(str(fab / 'devvm.sock'))
    stale.close()
    links = [{'local': str(fab / 'devvm.sock'), 'remote': str(fab / 'peer.sock')}]
    res = module_runner(qemu_vm, world.args(fabric=links), commands=world.commands())
    assert 'remove the stale fabric socket %s' % (fab / 'devvm.sock') in res['actions']
    assert not (fab / 'devvm.sock').exists()


def test_a_fabric_path_that_is_not_a_socket_fails_before_the_start(module_runner, world, tmp_path):
    (tmp_path / 'devvm.sock').write_text('mine')
    links = [{'local': str(tmp_path / 'devvm.sock'), 'remote': str(tmp_path / 'peer.sock')}]
    res = module_runner(qemu_vm, world.args(fabric=links), commands=world.commands())
    assert res['failed'] is True
    assert 'exists and is not a socket' in res['msg'] and FAKE_PID not in world.procs
    assert (tmp_path / 'devvm.sock').read_text() == 'mine'


def test_bad_fabric_links_fail_before_anything(module_runner, world):
    res = module_runner(qemu_vm, world.args(fabric=[{'local': '/f/a', 'remote': '/f/a'}]),
                        commands=world.commands())
    assert res['failed'] is True
    assert 'the same socket' in res['msg'] and not world.state.exists()


# ---------------------------------------------------------------- converged snapshots

def _snapshot(world, key='0123456789abcdef', create=True):
    path = world.tmp / 'cache' / 'images' / ('bookworm-amd64-k-conv-%s.qcow2' % key)
    if create:
        path.write_text('converged')
    return str(path)


def test_a_new_vm_boots_the_converged_snapshot(module_runner, world):
    snap = _snapshot(world)
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(snapshot=snap), commands=cmds)
    assert res['from_snapshot'] is True and res['disk'] == snap and 'created on the converged snapshot' in res['disk_note']
    argv = cmds.ran('/usr/bin/qemu-img', 'create')[0]
    assert argv[argv.index('-b') + 1] == snap
    assert json.loads((world.state / 'vm.json').read_text())['config']['disk'] == snap
    # kernel and initrd stay the base image's
    assert str(world.image / 'vmlinuz') in world.procs[FAKE_PID]
    # running: the same VM, nothing to restart, still on the snapshot (also when no snapshot is passed)
    again = module_runner(qemu_vm, world.args(snapshot=snap), commands=world.commands())
    assert again['changed'] is False and again['restart_needed'] is False and again['from_snapshot'] is True
    again = module_runner(qemu_vm, world.args(), commands=world.commands())
    assert again['restart_needed'] is False and again['from_snapshot'] is True and again['disk'] == snap


def test_an_existing_vm_keeps_its_overlay_on_the_base(module_runner, world):
    module_runner(qemu_vm, world.args(), commands=world.commands())
    module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    snap = _snapshot(world)
    cmds = world.commands()
    res = module_runner(qemu_vm, world.args(snapshot=snap), commands=cmds)
    assert res['from_snapshot'] is False and res['disk'] == str(world.image / 'disk.qcow2')
    assert 'keeps its overlay' in res['disk_note'] and cmds.ran('/usr/bin/qemu-img') == []
    assert not res.get('warnings')


def test_a_stopped_vm_on_an_older_snapshot_keeps_it(module_runner, world):
    old = _snapshot(world, key='1' * 16)
    module_runner(qemu_vm, world.args(snapshot=old), commands=world.commands())
    module_runner(qemu_vm, world.args(state='stopped'), commands=world.commands())
    new = _snapshot(world, key='2' * 16)
    res = module_runner(qemu_vm, world.args(snapshot=new), commands=world.commands())
    assert res['disk'] == old and res['from_snapshot'] is True


def test_a_missing_snapshot_means_the_base(module_runner, world):
    snap = _snapshot(world, create=False)
    res = module_runner(qemu_vm, world.args(snapshot=snap), commands=world.commands())
    assert res['from_snapshot'] is False and res['disk'] == str(world.image / 'disk.qcow2')


def test_check_mode_reports_the_snapshot_it_would_boot(module_runner, world):
    snap = _snapshot(world)
    res = module_runner(qemu_vm, world.args(snapshot=snap), commands=world.commands(), check_mode=True)
    assert res['from_snapshot'] is True and res['disk'] == snap and not world.state.exists()
    assert any(a.startswith('create the overlay') and snap in a for a in res['actions'])
