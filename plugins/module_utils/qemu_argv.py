# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Running QEMU (qemu_vm): choosing the accelerator and judging its probe
boot, the QEMU argv of a VM, and the UEFI firmware a cloud image boots
through. Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.fabric import fabric_args
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.vm_base import ARCH_INFO


# Messages a kernel prints late in boot, after all initcalls: seeing one in
# the probe's serial log proves the accelerator runs a stock kernel.
PROBE_LATE_MESSAGES = (
    'VFS: Unable to mount root fs',
    'Run /init as init process',
    'Freeing unused kernel',
)


# ---------------------------------------------------------------- accelerator

def probe_verdict(serial_text, rc, stderr, timed_out):
    """Judge a bounded accelerator probe boot.

    Returns ``(ok, reason)``. The probe boots the guest kernel with no root
    device, ``panic=-1`` and ``-no-reboot``: a working accelerator reaches
    the root-mount panic within seconds and QEMU exits 0.
    """
    text = serial_text or ''
    for msg in PROBE_LATE_MESSAGES:
        if msg in text:
            return True, 'the probe kernel booted to "%s"' % msg
    err = (stderr or '').strip().splitlines()
    if timed_out:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        last = lines[-1] if lines else '(no serial output)'
        return False, 'the probe kernel did not finish booting in time; last console line: %s' % last[-160:]
    if rc != 0:
        first = next((ln for ln in err if 'error' in ln.lower()), err[0] if err else 'no message')
        return False, 'QEMU exited with %s: %s' % (rc, first.strip()[:200])
    return False, 'QEMU exited before the kernel reached a late boot message'


def choose_accel(requested, system, host_arch, guest_arch, kvm_usable, kvm_reason, hvf_available):
    """Pick the accelerator. Returns ``(accel, reason)``.

    ``system`` is ``platform.system()`` (Linux/Darwin), ``host_arch`` and
    ``guest_arch`` Debian arch names; ``kvm_usable`` is the verdict of the
    probe (None when not probed), ``hvf_available`` the macOS
    ``kern.hv_support`` answer.
    """
    native = host_arch == guest_arch
    if requested == 'tcg':
        return 'tcg', 'tcg requested (local_vm_accel=tcg)'
    if requested == 'kvm':
        return 'kvm', 'kvm requested (local_vm_accel=kvm)'
    if requested == 'hvf':
        return 'hvf', 'hvf requested (local_vm_accel=hvf)'
    if not native:
        return 'tcg', ('%s guest on a %s host: hardware acceleration needs the same architecture, '
                       'using tcg (emulation)' % (guest_arch, host_arch))
    if system == 'Darwin':
        if hvf_available:
            return 'hvf', 'macOS with Hypervisor.framework (kern.hv_support=1)'
        return 'tcg', 'macOS without Hypervisor.framework support (kern.hv_support!=1), using tcg'
    if system == 'Linux':
        if kvm_usable:
            return 'kvm', 'KVM probe passed: %s' % kvm_reason
        if kvm_usable is None:
            return 'tcg', 'no usable /dev/kvm (%s), using tcg' % (kvm_reason or 'not present or not accessible')
        return 'tcg', 'KVM exists but failed the boot probe (%s), using tcg' % kvm_reason
    return 'tcg', 'unknown host system %s, using tcg' % system


def cpu_for(arch, accel):
    if accel in ('kvm', 'hvf'):
        return 'host'
    return ARCH_INFO[arch]['tcg_cpu']


def accel_args(arch, accel):
    if accel == 'tcg':
        return ['-accel', 'tcg,thread=multi']
    return ['-accel', accel]


def probe_argv(qemu, arch, kernel, serial_log):
    """argv of the bounded KVM probe (run under ``timeout``)."""
    argv = [qemu]
    if ARCH_INFO[arch]['machine']:
        argv += ['-M', ARCH_INFO[arch]['machine']]
    argv += ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1', '-nodefaults',
             '-kernel', kernel, '-append', ARCH_INFO[arch]['probe_append'], '-no-reboot',
             '-display', 'none', '-serial', 'file:' + serial_log, '-monitor', 'none']
    return argv


def probe_cache_key(hostname, kernel_release, qemu_version, arch):
    return '|'.join([hostname or '', kernel_release or '', qemu_version or '', arch])


def parse_qemu_version(text):
    """``QEMU emulator version 7.2.22 (Debian ...)`` -> ``7.2.22``."""
    m = re.search(r'version\s+([0-9][0-9.]*)', text or '')
    return m.group(1) if m else None


# ---------------------------------------------------------------- qemu argv

def qemu_opt(value):
    """``value`` inside a QEMU option list (``-drive file=``, ``-fw_cfg``, ``-qmp unix:``): commas doubled.

    QEMU splits these lists at ``,`` and reads ``,,`` as one literal comma, so a
    path such as ``/srv/a,b/disk.qcow2`` stays one value. (``-serial file:``,
    ``-kernel``, ``-initrd`` and ``-pidfile`` take their value literally.)
    """
    return str(value).replace(',', ',,')


def fw_cfg_args(entries):
    """``[(name, kind, value)]`` -> ``-fw_cfg`` args; kind is ``file`` or ``string``."""
    argv = []
    for name, kind, value in entries:
        argv += ['-fw_cfg', 'name=opt/labkit/%s,%s=%s' % (name, kind, qemu_opt(value))]
    return argv


def kernel_cmdline(arch, extra=''):
    line = 'root=/dev/vda rw console=%s' % ARCH_INFO[arch]['console']
    if extra:
        line += ' ' + extra.strip()
    return line


def vm_argv(qemu, spec):
    """Build the qemu-system argv for a VM from ``spec`` (a dict).

    Keys: name, arch, accel, cpus, memory_mb, overlay, kernel, initrd,
    ssh_port, serial_log, pidfile, qmp_socket, fw_cfg (list of tuples),
    cmdline_extra, extra_args (list), fabric (normalized fabric links, see
    :func:`fabric.normalize_links`: one ``dgram`` NIC each after the management NIC).

    With a ``kernel`` the VM boots it directly (``-kernel/-initrd/-append``).
    Without one it boots its disk through firmware: ``pflash`` (a
    ``(code, vars)`` pair of UEFI firmware files, see :func:`find_firmware`)
    or, when absent, QEMU's default BIOS (SeaBIOS on amd64); ``seed`` is the
    cloud-init NoCloud seed attached as a second, read-only disk.
    """
    arch = spec['arch']
    accel = spec['accel']
    kernel = spec.get('kernel')
    argv = [qemu, '-name', 'labkit-%s' % spec['name']]
    if ARCH_INFO[arch]['machine']:
        argv += ['-M', ARCH_INFO[arch]['machine']]
    argv += accel_args(arch, accel)
    argv += ['-cpu', cpu_for(arch, accel),
             '-smp', str(spec['cpus']), '-m', '%dM' % int(spec['memory_mb'])]
    if kernel:
        argv += ['-kernel', kernel, '-initrd', spec['initrd'],
                 '-append', kernel_cmdline(arch, spec.get('cmdline_extra') or '')]
    elif spec.get('pflash'):
        code, efivars = spec['pflash']
        argv += ['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=%s' % qemu_opt(code),
                 '-drive', 'if=pflash,format=raw,unit=1,file=%s' % qemu_opt(efivars)]
    argv += ['-drive', 'file=%s,if=none,id=hd0,format=qcow2,discard=unmap' % qemu_opt(spec['overlay']),
             '-device', 'virtio-blk-pci,drive=hd0' + ('' if kernel else ',bootindex=0')]
    if not kernel and spec.get('seed'):
        argv += ['-drive', 'file=%s,if=none,id=cidata,format=raw,readonly=on' % qemu_opt(spec['seed']),
                 '-device', 'virtio-blk-pci,drive=cidata']
    argv += ['-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22' % int(spec['ssh_port']),
             '-device', 'virtio-net-pci,netdev=n0',
             '-device', 'virtio-rng-pci']
    argv += fabric_args(spec.get('fabric') or [], qemu_opt)
    argv += fw_cfg_args(spec.get('fw_cfg') or [])
    argv += ['-display', 'none', '-serial', 'file:%s' % spec['serial_log'], '-monitor', 'none',
             '-qmp', 'unix:%s,server=on,wait=off' % qemu_opt(spec['qmp_socket']),
             '-daemonize', '-pidfile', spec['pidfile']]
    argv += list(spec.get('extra_args') or [])
    return argv


# ---------------------------------------------------------------- firmware boot (cloud images)

# UEFI firmware as (code, vars template) pairs, where distributions put them.
# Debian/Ubuntu: ovmf (amd64), qemu-efi-aarch64 (arm64); Fedora: edk2-ovmf,
# edk2-aarch64. QEMU's own share dir (Homebrew: <prefix>/share/qemu) holds
# edk2-*-code.fd with the vars templates next to them.
UEFI_FIRMWARE = {
    'amd64': (('/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'),
              ('/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'),
              ('/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd')),
    'arm64': (('/usr/share/AAVMF/AAVMF_CODE.fd', '/usr/share/AAVMF/AAVMF_VARS.fd'),
              ('/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw', '/usr/share/edk2/aarch64/vars-template-pflash.raw')),
}
QEMU_SHARE_FIRMWARE = {
    'amd64': ('edk2-x86_64-code.fd', 'edk2-i386-vars.fd'),
    'arm64': ('edk2-aarch64-code.fd', 'edk2-arm-vars.fd'),
}
UEFI_PACKAGE = {'amd64': 'ovmf', 'arm64': 'qemu-efi-aarch64'}
HOMEBREW_QEMU_SHARE = ('/opt/homebrew/share/qemu', '/usr/local/share/qemu')


def qemu_share_dirs(qemu_path):
    """QEMU's data dirs: ``<prefix>/share/qemu`` of the binary (Homebrew, a source build), then Homebrew's."""
    dirs = []
    if qemu_path:
        dirs.append(os.path.join(os.path.dirname(os.path.dirname(qemu_path)), 'share', 'qemu'))
    for d in HOMEBREW_QEMU_SHARE:
        if d not in dirs:
            dirs.append(d)
    return dirs


def firmware_candidates(arch, share_dirs):
    """Every ``(code, vars)`` pair to look for, in order of preference."""
    pairs = list(UEFI_FIRMWARE[arch])
    code, efivars = QEMU_SHARE_FIRMWARE[arch]
    pairs += [(os.path.join(d, code), os.path.join(d, efivars)) for d in share_dirs]
    return pairs


def find_firmware(arch, share_dirs, exists):
    """The first ``(code, vars)`` pair whose files both exist (``exists`` is os.path.exists); None when none."""
    for code, efivars in firmware_candidates(arch, share_dirs):
        if exists(code) and exists(efivars):
            return code, efivars
    return None


def firmware_missing_message(arch, system, share_dirs):
    looked = ', '.join(c for c, _v in firmware_candidates(arch, share_dirs))
    if system == 'Darwin':
        fix = 'install QEMU with Homebrew (brew install qemu), which ships edk2-*-code.fd'
    else:
        fix = 'install it: apt-get install %s (Fedora: dnf install %s)' % (
            UEFI_PACKAGE[arch], 'edk2-ovmf' if arch == 'amd64' else 'edk2-aarch64')
    return ('booting the %s image through UEFI needs the UEFI firmware (code and vars template), found in none '
            'of: %s; %s' % (arch, looked, fix))


def choose_firmware(requested, arch):
    """``(firmware, error)`` for a firmware (kernel-less) boot: ``bios`` or ``uefi``.

    auto: SeaBIOS on amd64 (QEMU's default, hybrid cloud images boot with it),
    UEFI on arm64 (``-M virt`` has no BIOS).
    """
    if requested == 'auto':
        return ('uefi' if arch == 'arm64' else 'bios'), None
    if requested == 'bios' and arch == 'arm64':
        return None, 'an arm64 guest (-M virt) boots through UEFI only; set firmware to uefi or auto (local_vm_firmware)'
    return requested, None
