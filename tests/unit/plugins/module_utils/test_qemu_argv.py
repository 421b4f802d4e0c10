# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu_argv
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_instance
from conftest import fixture_text


# ---------------------------------------------------------------- accelerator

def test_probe_kvm_cpu_host_aborts_on_pvm_kvm():
    ok, reason = qemu_argv.probe_verdict(fixture_text('qemu/kvm-probe-cpu-host.serial'), 134,
                                         fixture_text('qemu/kvm-probe-cpu-host.stderr'), False)
    assert not ok
    assert 'failed to set MSR 0x10a' in reason and '134' in reason


def test_probe_kvm_default_cpu_hangs_after_edd():
    ok, reason = qemu_argv.probe_verdict(fixture_text('qemu/kvm-probe-default-cpu.serial'), 137,
                                         fixture_text('qemu/kvm-probe-default-cpu.stderr'), True)
    assert not ok
    assert 'Probing EDD' in reason and 'did not finish' in reason


def test_probe_tcg_boot_reaches_the_root_mount_panic():
    ok, reason = qemu_argv.probe_verdict(fixture_text('qemu/tcg-probe.serial'), 0, '', False)
    assert ok and 'VFS: Unable to mount root fs' in reason


def test_probe_empty_log_without_timeout():
    assert qemu_argv.probe_verdict('', 0, '', False) == (False, 'QEMU exited before the kernel reached a late boot message')
    assert qemu_argv.probe_verdict('', 137, '', True)[1].endswith('(no serial output)')


@pytest.mark.parametrize('args,accel,words', [
    (('auto', 'Linux', 'amd64', 'amd64', True, 'booted', False), 'kvm', 'probe passed'),
    (('auto', 'Linux', 'amd64', 'amd64', False, 'MSR', False), 'tcg', 'failed the boot probe (MSR)'),
    (('auto', 'Linux', 'amd64', 'amd64', None, '/dev/kvm does not exist', False), 'tcg', '/dev/kvm does not exist'),
    (('auto', 'Darwin', 'arm64', 'arm64', None, None, True), 'hvf', 'Hypervisor.framework'),
    (('auto', 'Darwin', 'arm64', 'arm64', None, None, False), 'tcg', 'kern.hv_support'),
    (('auto', 'Darwin', 'arm64', 'amd64', None, None, True), 'tcg', 'amd64 guest on a arm64 host'),
    (('auto', 'Linux', 'amd64', 'arm64', True, 'x', False), 'tcg', 'same architecture'),
    (('tcg', 'Linux', 'amd64', 'amd64', True, 'x', False), 'tcg', 'requested'),
    (('kvm', 'Linux', 'amd64', 'amd64', False, 'x', False), 'kvm', 'requested'),
    (('hvf', 'Darwin', 'arm64', 'arm64', None, None, False), 'hvf', 'requested'),
])
def test_choose_accel(args, accel, words):
    got, reason = qemu_argv.choose_accel(*args)
    assert got == accel
    assert words in reason


def test_probe_argv_is_bounded_and_diskless():
    argv = qemu_argv.probe_argv('qemu-system-x86_64', 'amd64', '/k', '/tmp/p.log')
    assert argv[:5] == ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host']
    assert '-no-reboot' in argv and '-initrd' not in argv and '-drive' not in argv
    assert 'panic=-1' in argv[argv.index('-append') + 1]
    arm = qemu_argv.probe_argv('qemu-system-aarch64', 'arm64', '/k', '/tmp/p.log')
    assert arm[1:3] == ['-M', 'virt']
    assert 'console=ttyAMA0' in arm[arm.index('-append') + 1]


def test_parse_qemu_version_from_real_output():
    assert qemu_argv.parse_qemu_version(fixture_text('qemu/qemu-version.txt')) == '7.2.22'
    assert qemu_argv.parse_qemu_version('garbage') is None


# ---------------------------------------------------------------- qemu argv

SPEC = dict(name='devvm', arch='amd64', accel='tcg', cpus=2, memory_mb=2048, overlay='/s/disk.qcow2',
            kernel='/c/vmlinuz', initrd='/c/initrd.img', ssh_port=40022, serial_log='/s/serial.log',
            pidfile='/s/qemu.pid', qmp_socket='/s/qmp.sock',
            fw_cfg=[('authorized_keys', 'file', '/s/id_ed25519.pub'), ('hostname', 'string', 'devvm')])


def _opt(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_vm_argv_amd64_tcg():
    argv = qemu_argv.vm_argv('/usr/bin/qemu-system-x86_64', SPEC)
    assert argv[0] == '/usr/bin/qemu-system-x86_64'
    assert '-M' not in argv
    assert _opt(argv, '-accel') == ['tcg,thread=multi']
    assert _opt(argv, '-cpu') == ['max']
    assert _opt(argv, '-smp') == ['2'] and _opt(argv, '-m') == ['2048M']
    assert _opt(argv, '-append') == ['root=/dev/vda rw console=ttyS0']
    assert _opt(argv, '-netdev') == ['user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22']
    assert _opt(argv, '-fw_cfg') == ['name=opt/labkit/authorized_keys,file=/s/id_ed25519.pub',
                                     'name=opt/labkit/hostname,string=devvm']
    assert _opt(argv, '-pidfile') == ['/s/qemu.pid'] and '-daemonize' in argv
    assert _opt(argv, '-serial') == ['file:/s/serial.log']
    assert _opt(argv, '-drive') == ['file=/s/disk.qcow2,if=none,id=hd0,format=qcow2,discard=unmap']


def test_vm_argv_of_a_kernel_boot_is_the_one_running_vms_have():
    # the real command line of a devvm started before cloud images existed: the same
    # spec must give it byte for byte (else running VMs would be flagged restart_needed)
    real = vm_instance.split_proc_cmdline(fixture_text('qemu/proc-cmdline-qemu.bin').encode('utf-8'))
    img = '/root/.cache/labkit-ebpf_rdma/images/bookworm-amd64-d841029573415799/'
    st = '/root/.local/state/labkit-ebpf_rdma/vms/devvm/'
    spec = dict(name='devvm', arch='amd64', accel='tcg', cpus=2, memory_mb=2048, overlay=st + 'disk.qcow2',
                kernel=img + 'vmlinuz', initrd=img + 'initrd.img', ssh_port=48571, serial_log=st + 'serial.log',
                pidfile=st + 'qemu.pid', qmp_socket=st + 'qmp.sock', cmdline_extra='', extra_args=[],
                fw_cfg=[('authorized_keys', 'file', st + 'id_ed25519.pub'),
                        ('ssh_host_ed25519_key', 'file', st + 'ssh_host_ed25519_key'),
                        ('hostname', 'string', 'devvm')])
    assert qemu_argv.vm_argv('/usr/bin/qemu-system-x86_64', spec) == real


FW_SPEC = dict(SPEC, kernel='', initrd='', fw_cfg=[], seed='/s/seed/cidata.img')


def test_vm_argv_bios_boot_has_no_kernel_and_attaches_the_seed():
    argv = qemu_argv.vm_argv('/usr/bin/qemu-system-x86_64', FW_SPEC)
    for flag in ('-kernel', '-initrd', '-append', '-fw_cfg'):
        assert flag not in argv
    assert _opt(argv, '-drive') == ['file=/s/disk.qcow2,if=none,id=hd0,format=qcow2,discard=unmap',
                                    'file=/s/seed/cidata.img,if=none,id=cidata,format=raw,readonly=on']
    assert _opt(argv, '-device')[:2] == ['virtio-blk-pci,drive=hd0,bootindex=0', 'virtio-blk-pci,drive=cidata']


def test_vm_argv_uefi_boot_uses_the_firmware_and_the_vms_own_vars():
    argv = qemu_argv.vm_argv('qemu-system-aarch64', dict(FW_SPEC, arch='arm64', pflash=('/fw/CODE.fd', '/s/efivars.fd')))
    assert _opt(argv, '-M') == ['virt']
    assert _opt(argv, '-drive')[:2] == ['if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
                                        'if=pflash,format=raw,unit=1,file=/s/efivars.fd']
    assert '-kernel' not in argv and '-bios' not in argv


# ---------------------------------------------------------------- firmware lookup

def test_find_firmware_prefers_the_distribution_then_qemus_share_dir():
    share = qemu_argv.qemu_share_dirs('/opt/homebrew/Cellar/qemu/9.1.0/bin/qemu-system-aarch64')
    assert share[0] == '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu' and '/opt/homebrew/share/qemu' in share
    brew = {'/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-aarch64-code.fd',
            '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-arm-vars.fd'}
    assert qemu_argv.find_firmware('arm64', share, brew.__contains__) == (
        '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-aarch64-code.fd',
        '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-arm-vars.fd')
    debian = {'/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd',
              '/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'}
    assert qemu_argv.find_firmware('amd64', qemu_argv.qemu_share_dirs('/usr/bin/qemu-system-x86_64'), debian.__contains__) == (
        '/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd')
    # code without its vars template is no use
    assert qemu_argv.find_firmware('amd64', [], {'/usr/share/OVMF/OVMF_CODE_4M.fd'}.__contains__) is None


def test_missing_firmware_names_the_package():
    msg = qemu_argv.firmware_missing_message('arm64', 'Linux', [])
    assert 'apt-get install qemu-efi-aarch64' in msg and '/usr/share/AAVMF/AAVMF_CODE.fd' in msg
    assert 'apt-get install ovmf' in qemu_argv.firmware_missing_message('amd64', 'Linux', [])
    assert 'brew install qemu' in qemu_argv.firmware_missing_message('amd64', 'Darwin', ['/opt/homebrew/share/qemu'])


def test_choose_firmware():
    assert qemu_argv.choose_firmware('auto', 'amd64') == ('bios', None)
    assert qemu_argv.choose_firmware('auto', 'arm64') == ('uefi', None)
    assert qemu_argv.choose_firmware('uefi', 'amd64') == ('uefi', None)
    fw, err = qemu_argv.choose_firmware('bios', 'arm64')
    assert fw is None and 'UEFI only' in err and 'local_vm_firmware' in err


def test_vm_argv_arm64_tcg_uses_virt_and_cheap_pauth():
    argv = qemu_argv.vm_argv('qemu-system-aarch64', dict(SPEC, arch='arm64', cmdline_extra='quiet'))
    assert _opt(argv, '-M') == ['virt']
    assert _opt(argv, '-cpu') == ['max,pauth-impdef=on']
    assert _opt(argv, '-append') == ['root=/dev/vda rw console=ttyAMA0 quiet']


@pytest.mark.parametrize('arch,accel', [('amd64', 'kvm'), ('arm64', 'kvm'), ('arm64', 'hvf'), ('amd64', 'hvf')])
def test_vm_argv_hardware_accel_uses_host_cpu(arch, accel):
    argv = qemu_argv.vm_argv('qemu', dict(SPEC, arch=arch, accel=accel, extra_args=['-device', 'x']))
    assert _opt(argv, '-accel') == [accel]
    assert _opt(argv, '-cpu') == ['host']
    assert argv[-2:] == ['-device', 'x']


def test_probe_verdict_on_a_full_tcg_boot_log():
    text = fixture_text('qemu/tcg-boot-serial.log')
    ok, reason = qemu_argv.probe_verdict(text, 0, '', False)
    assert ok and 'Run /init as init process' in reason
    assert 'labkit-fwcfg' in text  # the identity oneshot ran in that boot


def test_vm_argv_puts_the_fabric_nics_after_the_management_nic():
    from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric
    links = fabric.normalize_links('devvm', [{'local': '/f/devvm.sock', 'remote': '/f/peer.sock'}])
    argv = qemu_argv.vm_argv('/usr/bin/qemu-system-x86_64', dict(SPEC, fabric=links))
    assert _opt(argv, '-netdev') == ['user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22',
                                     'dgram,id=fab0,local.type=unix,local.path=/f/devvm.sock,'
                                     'remote.type=unix,remote.path=/f/peer.sock']
    devices = _opt(argv, '-device')
    assert devices.index('virtio-net-pci,netdev=n0') < devices.index(
        'virtio-net-pci,netdev=fab0,mac=%s' % fabric.fabric_mac('devvm'))
    # no fabric: the argv of a VM is what it always was
    assert qemu_argv.vm_argv('q', SPEC) == qemu_argv.vm_argv('q', dict(SPEC, fabric=[]))
