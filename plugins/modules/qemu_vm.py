#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: qemu_vm
short_description: Run a local QEMU VM on a qcow2 overlay of a cached base image
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Starts, stops or removes one local QEMU VM whose state lives in O(state_dir)
    (overlay, pidfile, serial console log, SSH keys, known_hosts, port, inventory, ssh_config).
  - The VM runs on its own qcow2 overlay whose backing file is the cached base image, which therefore
    stays clean. With O(kernel) and O(initrd) (a debootstrap image) it boots them directly
    (C(-kernel)/C(-initrd)). Without them (a cloud image, RV(labkit.ebpf_rdma.vm_image#module:boot)=firmware)
    it boots the disk through firmware (O(firmware)) and gets a per-VM cloud-init NoCloud seed
    (C(seed/cidata.img), label C(cidata), made with xorriso, genisoimage, mkisofs, mkfs.vfat + mcopy or
    macOS hdiutil; no loop mount) holding C(meta-data) (instance-id, local-hostname) and C(user-data) with
    root's authorized key (the VM's own key, C(disable_root false)), the VM's own ed25519 host key
    (cloud-init C(ssh_keys)), the hostname and the apt files O(guest_apt_sources) and O(guest_apt_conf).
  - SSH is forwarded from a free loopback port (kept across restarts while it is free). The VM's
    authorized key, its SSH host key and its hostname are passed at boot with QEMU C(-fw_cfg) and
    installed by the image's C(labkit-fwcfg) oneshot before C(ssh.service), so no key is baked into
    the shared image and the controller knows the host key beforehand (host key checking stays on).
    A firmware-booted image gets the same identity from its NoCloud seed instead.
  - With O(accel=auto) the accelerator is chosen by a bounded probe (KVM on Linux, boot the guest
    kernel for at most O(probe_timeout) seconds and look for a late boot message; the verdict is cached
    per host, kernel and QEMU version), hvf on macOS, else tcg. The reason is returned in RV(accel_reason).
    A firmware boot has no kernel to probe with, so it uses a cached verdict when there is one, else tcg
    (set O(accel=kvm) to use KVM anyway).
  - The module does not wait for SSH (a module cannot stream progress); the role waits in bounded steps.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details:
      - The files it writes as text are diffed, in check mode too (C(known_hosts), C(ssh_config), the inventory,
        C(port), the seed's C(user-data) and C(meta-data), with the private host key not shown); the SSH keys,
        the overlay, the UEFI vars and the seed image are reported in RV(actions) only.
  platform:
    platforms: [linux, darwin]
options:
  name:
    description: Name of the VM (also its hostname unless O(hostname) is set).
    type: str
    required: true
  state:
    description:
      - V(started) (or V(present)) creates the VM when needed and starts it; running VMs are left alone.
      - V(stopped) powers the guest off (ACPI power button over QMP, then SIGTERM after O(stop_timeout)).
      - V(absent) kills the VM's own QEMU (pid checked against its command line) and removes
        O(state_dir) when it is this VM's (its C(vm.json) names the VM); any other directory, or a
        symbolic link, fails the task and nothing is removed. The image cache is kept.
      - V(running) only looks. When the VM runs it returns its RV(connection) and changes nothing
        (playbooks that use a VM made by C(dev-vm.yml), such as C(build.yml)); when it does not run
        the module fails saying how to start it. O(disk), O(kernel) and the sizes are not needed.
    type: str
    choices: [started, present, stopped, absent, running]
    default: started
  state_dir:
    description:
      - Directory of this VM. Empty means C($XDG_STATE_HOME/labkit-ebpf_rdma/vms/<name>) or
        C(~/.local/state/labkit-ebpf_rdma/vms/<name>).
      - Commas and blanks are fine (QEMU gets commas doubled, ssh gets quoted paths); C(") and C(%), which ssh
        cannot take in a path, and control characters are refused.
    type: path
    default: ''
  cache_dir:
    description: Cache root holding the accelerator probe verdicts. Empty means the user cache (see M(labkit.ebpf_rdma.vm_image)).
    type: path
    default: ''
  arch:
    description: Debian architecture of the guest.
    type: str
    choices: [amd64, arm64]
    default: amd64
  disk:
    description: Base qcow2 image (RV(labkit.ebpf_rdma.vm_image#module:disk)); required to create the VM.
    type: path
  snapshot:
    description:
      - A converged snapshot of O(disk) (RV(labkit.ebpf_rdma.vm_snapshot#module:snapshot), a qcow2 whose backing
        file is O(disk)). A VM created now gets its overlay on it instead of on O(disk); a VM that exists keeps the
        overlay it has (no silent disk swap), and one created earlier on this snapshot goes on running on it.
      - Empty (the default), or a snapshot that does not exist, uses O(disk). O(kernel) and O(initrd) stay those of O(disk).
    type: path
    default: ''
  kernel:
    description:
      - Guest kernel for a direct kernel boot (with O(initrd)). Empty (with O(initrd) empty too) boots
        O(disk) through firmware with a cloud-init seed (see the description).
    type: path
  initrd:
    description: Guest initrd; given together with O(kernel).
    type: path
  firmware:
    description:
      - Firmware of a kernel-less boot. V(auto) is SeaBIOS on amd64 (QEMU's default; hybrid BIOS/UEFI
        cloud images boot with it) and UEFI on arm64 (the only way there). V(uefi) boots through edk2
        (OVMF/AAVMF) from a per-VM copy of its vars template (C(efivars.fd)); the firmware is looked for
        where Debian (ovmf, qemu-efi-aarch64), Fedora and Homebrew (QEMU's share dir) put it.
      - Ignored with O(kernel).
    type: str
    choices: [auto, bios, uefi]
    default: auto
  guest_apt_sources:
    description:
      - With a firmware boot, the content of the guest's C(/etc/apt/sources.list.d/debian.sources), written
        by the seed (which then empties C(/etc/apt/sources.list));
        RV(labkit.ebpf_rdma.vm_image#module:guest_apt_sources). Empty keeps the image's own sources.
    type: str
    default: ''
  guest_apt_conf:
    description:
      - With a firmware boot, the content of the guest's C(/etc/apt/apt.conf.d/90labkit) (proxy,
        Check-Valid-Until...), written by the seed; RV(labkit.ebpf_rdma.vm_image#module:guest_apt_conf).
    type: str
    default: ''
  cpus:
    description: Number of vCPUs (1 to 1024).
    type: int
    default: 2
  memory:
    description: Memory in MiB (128 to 16777216).
    type: int
    default: 2048
  disk_size:
    description: Virtual size of the VM's overlay (at least the base image's); the guest grows its root filesystem to it.
    type: str
    default: 20G
  ssh_port:
    description:
      - Loopback port forwarded to the guest's port 22 (1 to 65535); 0 picks a free one (kept while free).
      - When the port is taken between the check and QEMU's start, the task fails naming the port and,
        when it can be read from C(/proc), the process holding it.
    type: int
    default: 0
  accel:
    description: Accelerator; V(auto) probes (see the description).
    type: str
    choices: [auto, kvm, hvf, tcg]
    default: auto
  probe_timeout:
    description: Seconds the KVM probe may run.
    type: int
    default: 20
  stop_timeout:
    description: Seconds to wait for the guest to power off before QEMU is terminated.
    type: int
    default: 90
  lock_timeout:
    description:
      - Seconds to wait for another run on the same VM to finish. Starting, stopping and removing a VM hold
        a per-VM lock (C(.<name>.lock) next to O(state_dir), recording the holder's pid); a second run waits
        (with a warning), then fails naming the holder's pid.
    type: int
    default: 120
  hostname:
    description:
      - Hostname of the guest; empty means O(name), which must then be a valid host name too.
      - An RFC 1123 host name (dot-separated labels of letters, digits and C(-), 1 to 63 each, 253 at most);
        anything else fails before anything is written. It reaches the guest as data (fw_cfg or the seed).
    type: str
    default: ''
  kernel_cmdline:
    description: Extra kernel command line arguments (direct kernel boot only; a firmware-booted image has its boot loader's).
    type: str
    default: ''
  extra_args:
    description: Extra QEMU arguments appended to the command line.
    type: list
    elements: str
    default: []
  fabric:
    description:
      - Fabric NICs, one per entry, after the management NIC, each a virtio-net device on a QEMU C(dgram) netdev over
        two unix datagram sockets on the controller (no root, no bridge, no multicast; nothing leaves the
        controller). Two VMs whose O(fabric[].local) and O(fabric[].remote) are crossed share one Ethernet segment;
        more VMs share one when each O(fabric[].remote) is its port of a M(labkit.ebpf_rdma.fabric_switch).
      - The socket directory is created (mode 0700) and a stale local socket of a VM that does not run is removed
        before the start. Socket paths are unix socket paths (107 bytes at most).
      - Changing the list of a running VM reports RV(restart_needed).
    type: list
    elements: dict
    default: []
    suboptions:
      local:
        description: Absolute path of this VM's socket (QEMU binds it).
        type: path
        required: true
      remote:
        description:
          - Absolute path where this VM's frames go, the peer VM's socket, or with more than two VMs this VM's port
            of the switch (M(labkit.ebpf_rdma.fabric_switch)).
        type: path
        required: true
      mac:
        description:
          - MAC of the NIC; empty means a stable, locally administered one computed from O(name) and the entry's
            position (RV(fabric)), which the guest module M(labkit.ebpf_rdma.fabric_netdev) computes the same way.
        type: str
        default: ''
'''

EXAMPLES = r'''
- name: Start devvm from a cached image
  labkit.ebpf_rdma.qemu_vm:
    name: devvm
    disk: "{{ image.disk }}"
    kernel: "{{ image.kernel }}"
    initrd: "{{ image.initrd }}"
    cpus: 2
    memory: 2048
  register: vm

- name: Start a VM from a cached cloud image through UEFI, apt settings from vm_image
  labkit.ebpf_rdma.qemu_vm:
    name: cloudvm
    disk: "{{ cloud.disk }}"
    firmware: uefi
    guest_apt_sources: "{{ cloud.guest_apt_sources }}"
    guest_apt_conf: "{{ cloud.guest_apt_conf }}"

- name: Find devvm, made earlier by dev-vm.yml, and fail unless it runs
  labkit.ebpf_rdma.qemu_vm:
    name: devvm
    state: running
  register: vm

- name: Remove it (keeps the image cache)
  labkit.ebpf_rdma.qemu_vm:
    name: devvm
    state: absent
'''

RETURN = r'''
state_dir:
  description: The VM's directory.
  returned: always
  type: str
running:
  description: Whether the VM runs after the task.
  returned: always
  type: bool
pid:
  description: PID of the VM's QEMU process.
  returned: when running
  type: int
ssh_port:
  description: Loopback port forwarded to the guest's SSH.
  returned: when O(state=started) or O(state=running)
  type: int
accel:
  description: Accelerator used (kvm, hvf or tcg).
  returned: when O(state=started) or O(state=running)
  type: str
accel_reason:
  description: Why that accelerator was chosen.
  returned: when O(state=started) or O(state=running)
  type: str
boot:
  description: How the VM boots, C(kernel) (direct kernel boot), C(bios) or C(uefi) (through firmware, with a NoCloud seed).
  returned: when O(state=started) or O(state=running)
  type: str
  sample: kernel
seed:
  description: Path of the VM's NoCloud seed image.
  returned: when O(state=started) and the VM boots through firmware (not with O(state=running))
  type: str
connection:
  description: Ansible connection variables for the VM (for add_host).
  returned: when O(state=started) or O(state=running)
  type: dict
inventory:
  description: Path of the YAML inventory written for the VM.
  returned: when O(state=started) or O(state=running)
  type: str
ssh_config:
  description: Path of the ssh_config written for the VM (C(ssh -F <path> <name>)).
  returned: when O(state=started) or O(state=running)
  type: str
serial_log:
  description: Path of the serial console log.
  returned: always
  type: str
argv:
  description: The QEMU command line.
  returned: when O(state=started) or O(state=running)
  type: list
  elements: str
fabric:
  description: The fabric NICs as started, each with C(local), C(remote) and C(mac) (the computed MAC when none was given).
  returned: when O(state=started) or O(state=running)
  type: list
  elements: dict
  sample: [{local: /run/user/1000/labkit-fabric/node1.sock, remote: /run/user/1000/labkit-fabric/node2.sock,
            mac: "02:8e:1f:0a:33:c4"}]
from_snapshot:
  description: Whether the VM's overlay lies on the converged snapshot O(snapshot) (created on it now or before).
  returned: when O(state=started) or O(state=running)
  type: bool
disk:
  description: The backing file of the VM's overlay (O(disk), or O(snapshot) when RV(from_snapshot)).
  returned: when O(state=started) or O(state=running)
  type: str
disk_note:
  description: Why the VM runs on RV(disk) when O(snapshot) was given ("" otherwise).
  returned: when O(state=started)
  type: str
restart_needed:
  description: True when the VM runs with settings that differ from the requested ones (stop and start it to apply them).
  returned: when O(state=started) or O(state=running)
  type: bool
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
'''

import contextlib
import errno
import json
import os
import platform
import shutil
import signal
import socket
import stat
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, apply_actions, plan_file, plan_run, read_text, run_checked, result_for, write_file_atomic)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric as fabric_utils
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fsafe
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu_argv
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import snapshot as snapshot_utils
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import ssh_access
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_base
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_instance
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_seed

KVM_DEVICE = '/dev/kvm'

CONFIG_KEYS = ('arch', 'disk', 'kernel', 'initrd', 'cpus', 'memory', 'disk_size', 'accel',
               'hostname', 'kernel_cmdline', 'extra_args')


def install_hint(arch):
    pkg = 'qemu-system-x86' if arch == 'amd64' else 'qemu-system-arm'
    if platform.system() == 'Darwin':
        return 'install QEMU: brew install qemu'
    return 'install it: apt-get install %s qemu-utils' % pkg


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def process_argv(module, pid):
    """The argv of ``pid`` (/proc on Linux, ps elsewhere); [] when it is gone."""
    raw = None
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read()
    except (IOError, OSError):
        raw = None
    if raw is not None:
        return vm_instance.split_proc_cmdline(raw)
    if os.path.isdir('/proc/self'):
        return []
    ps = module.get_bin_path('ps')
    if not ps:
        return []
    rc, out, _err = module.run_command([ps, '-o', 'command=', '-p', str(pid)])
    return out.split() if rc == 0 else []


class VM(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.name = self.p['name']
        self.dir = self.p['state_dir'] or os.path.join(vm_base.user_state_root(os.environ), 'vms', self.name)
        self.cache_dir = self.p['cache_dir'] or vm_base.user_cache_root(os.environ)

        def j(name):
            return os.path.join(self.dir, name)
        self.pidfile = j('qemu.pid')
        self.overlay = j('disk.qcow2')
        self.serial_log = j('serial.log')
        self.qmp = j('qmp.sock')
        self.key = j('id_ed25519')
        self.host_key = j('ssh_host_ed25519_key')
        self.known_hosts = j('known_hosts')
        self.ssh_config = j('ssh_config')
        self.inventory = j('inventory.yml')
        self.vm_json = j('vm.json')
        self.port_file = j('port')
        self.efivars = j('efivars.fd')
        self.seed_dir = j('seed')
        self.seed = j('seed/cidata.img')
        self.stopped_how = None
        self.record = None
        self.disk_note = ''
        self.want = None

    # ------------------------------------------------------------ reads
    def running_pid(self):
        """PID of this VM's QEMU, verified against its command line; None when not running."""
        pid = vm_instance.parse_pidfile(read_text(self.pidfile))
        if pid is None or not pid_alive(pid):
            return None
        if not vm_instance.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            return None
        return pid

    def saved(self):
        try:
            record = json.loads(read_text(self.vm_json) or '{}')
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def make_dir(self):
        """Create the VM's directory with its marker (vm.json naming the VM) before anything else goes in."""
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir, 0o700)
        if not os.path.exists(self.vm_json):
            write_file_atomic(self.module, self.vm_json, json.dumps({'name': self.name}) + '\n', 0o600)

    def foreign_dir_problem(self):
        """Why state_dir must not be removed as this VM's (None when it is this VM's, or empty)."""
        if os.path.islink(self.dir) or not os.path.isdir(self.dir):
            what = 'a symbolic link' if os.path.islink(self.dir) else 'not a directory'
            return ('state_dir %s is %s, not the directory of VM %s; nothing was removed. Check state_dir '
                    '(local_vm_state_dir); remove it by hand if it is yours to remove: rm -- %s'
                    % (self.dir, what, self.name, self.dir))
        entries = sorted(os.listdir(self.dir))
        if not entries or vm_instance.record_names_vm(self.saved(), self.name, self.pidfile):
            return None
        shown = ', '.join(entries[:8]) + (', ...' if len(entries) > 8 else '')
        return ('state_dir %s is not the directory of VM %s: it has no vm.json naming %s (it holds %s); nothing '
                'was removed. Check state_dir (local_vm_state_dir); if it is a VM directory you want gone, remove '
                'it by hand: rm -r -- %s' % (self.dir, self.name, self.name, shown, self.dir))

    def lock_path(self):
        return os.path.join(os.path.dirname(self.dir.rstrip('/')) or '/', '.%s.lock' % self.name)

    @contextlib.contextmanager
    def locked(self):
        """Hold the per-VM lock (a second run waits up to lock_timeout, then fails naming the holder)."""
        path = self.lock_path()
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o700)

        def waiting(_msg, holder):
            self.module.warn('waited for the run with pid %s, which held the lock of VM %s (%s)' % (holder, self.name, path))
        try:
            with fsafe.lock(path, timeout=self.p['lock_timeout'], on_wait=waiting, poll=0.5, mode=0o600):
                yield
        except fsafe.LockTimeout as e:
            self.module.fail_json(msg='another run (pid %s) holds the lock of VM %s (%s) and did not finish within '
                                      'lock_timeout=%d s; nothing was changed. Wait for it to end (or stop it: kill %s) '
                                      'and run again' % (e.holder, self.name, path, self.p['lock_timeout'], e.holder))
        except fsafe.FsafeError as e:  # a lock file planted as a link: refused, nothing followed
            self.module.fail_json(msg=str(e))

    # ------------------------------------------------------------ apply
    def run_action(self, action):
        """Carry out the actions that are not plain files or commands (the apply step's runner)."""
        if action.kind in ('kill', 'stop'):
            self.stopped_how = self.stop(int(action.target), graceful=action.kind == 'stop')
        elif action.kind == 'remove_dir':
            shutil.rmtree(action.target)
        elif action.kind == 'mkdir':
            self.make_dir()
        elif action.kind == 'copy':
            shutil.copyfile(action.before, action.target)
            os.chmod(action.target, 0o600)
        elif action.kind == 'overlay':
            run_checked(self.module, action.argv, what=action.description,
                        hint='the overlay must not be smaller than the base image (local_vm_disk_size)')
        elif action.kind == 'seed':
            self.write_seed()
        elif action.kind == 'fabric_dir':
            if not os.path.isdir(action.target):
                os.makedirs(action.target, 0o700)
        elif action.kind == 'stale_socket':
            os.unlink(action.target)
        elif action.kind == 'start':
            self.start(action.argv)
        else:
            raise ValueError('qemu_vm has no runner for action kind %r' % action.kind)

    def start(self, argv):
        """Rotate the console log, record the VM (vm.json) and launch QEMU."""
        if os.path.exists(self.serial_log):
            os.rename(self.serial_log, self.serial_log + '.1')
        if os.path.exists(self.qmp):
            os.unlink(self.qmp)
        write_file_atomic(self.module, self.vm_json, json.dumps(self.record, indent=2, sort_keys=True) + '\n', 0o600)
        launch(self, argv)

    # ------------------------------------------------------------ stop
    def qmp_powerdown(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(self.qmp)
            f = sock.makefile('rwb')
            f.readline()  # greeting
            for cmd in ('qmp_capabilities', 'system_powerdown'):
                f.write(json.dumps({'execute': cmd}).encode() + b'\n')
                f.flush()
                while True:
                    reply = json.loads(f.readline().decode() or '{}')
                    if 'return' in reply or 'error' in reply or not reply:
                        break
            return True
        except (IOError, OSError, ValueError):
            return False
        finally:
            sock.close()

    def wait_exit(self, pid, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if not pid_alive(pid) or not vm_instance.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
                return True
            time.sleep(0.5)
        return False

    def stop(self, pid, graceful):
        if graceful and self.qmp_powerdown() and self.wait_exit(pid, self.p['stop_timeout']):
            return 'powered off'
        # re-verify right before signalling: the pid must still be this VM's QEMU
        if not vm_instance.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            return 'exited'
        os.kill(pid, signal.SIGTERM)
        if self.wait_exit(pid, 15):
            return 'terminated'
        if vm_instance.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            os.kill(pid, signal.SIGKILL)
            self.wait_exit(pid, 10)
        return 'killed'

    # ------------------------------------------------------------ accelerator
    def qemu_version(self, qemu):
        rc, out, _err = self.module.run_command([qemu, '--version'])
        return qemu_argv.parse_qemu_version(out) if rc == 0 else None

    def probe_kvm(self, qemu, arch, kernel):
        """Return (usable, reason); usable is None when KVM is absent or inaccessible."""
        if not os.path.exists(KVM_DEVICE):
            return None, '%s does not exist' % KVM_DEVICE
        if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
            return None, 'no read/write access to /dev/kvm (add the user to the kvm group)'
        cache_file = os.path.join(self.cache_dir, 'accel-probe.json')
        key = qemu_argv.probe_cache_key(platform.node(), os.uname()[2], self.qemu_version(qemu), arch)
        try:
            verdicts = json.loads(read_text(cache_file) or '{}')
        except ValueError:
            verdicts = {}
        if key in verdicts:
            v = verdicts[key]
            return v['ok'], v['reason'] + ' (cached verdict from %s)' % v.get('when', '?')
        if not kernel:
            return False, ('not probed: the image boots through firmware, so there is no guest kernel to probe '
                           'with, and no verdict is cached; set accel=kvm (local_vm_accel) to use KVM anyway')
        if self.module.check_mode:
            return False, 'KVM probe skipped in check mode'
        timeout = self.module.get_bin_path('timeout')
        if not timeout:
            return False, 'cannot bound the KVM probe: the timeout program (coreutils) is missing'
        self.make_dir()
        log = os.path.join(self.dir, 'kvm-probe.log')
        if os.path.exists(log):
            os.unlink(log)
        argv = [timeout, '-s', 'KILL', str(self.p['probe_timeout'])] + qemu_argv.probe_argv(qemu, arch, kernel, log)
        rc, _out, err = self.module.run_command(argv)
        ok, reason = qemu_argv.probe_verdict(read_text(log, ''), rc, err, rc in (124, 137, -9))
        verdicts[key] = {'ok': ok, 'reason': reason, 'when': time.strftime('%Y-%m-%d %H:%M:%S')}
        write_file_atomic(self.module, cache_file, json.dumps(verdicts, indent=2, sort_keys=True) + '\n', 0o644)
        return ok, reason

    def choose_accel(self, qemu, arch, kernel):
        requested = self.p['accel']
        system = platform.system()
        host_arch = vm_base.debarch_for_machine(platform.machine())
        kvm_ok = kvm_reason = None
        hvf = False
        if requested == 'auto' and host_arch == arch:
            if system == 'Linux':
                kvm_ok, kvm_reason = self.probe_kvm(qemu, arch, kernel)
            elif system == 'Darwin':
                sysctl = self.module.get_bin_path('sysctl', opt_dirs=['/usr/sbin'])
                if sysctl:
                    rc, out, _err = self.module.run_command([sysctl, '-n', 'kern.hv_support'])
                    hvf = rc == 0 and out.strip() == '1'
        return qemu_argv.choose_accel(requested, system, host_arch, arch, kvm_ok, kvm_reason, hvf)

    # ------------------------------------------------------------ firmware boot
    def firmware_files(self, qemu, arch, firmware):
        """``(code, vars template)`` for a UEFI boot; fails naming the package when there is none."""
        if firmware != 'uefi':
            return None
        share = qemu_argv.qemu_share_dirs(os.path.realpath(qemu) if qemu else None)
        found = qemu_argv.find_firmware(arch, share, os.path.exists)
        if not found:
            self.module.fail_json(msg=qemu_argv.firmware_missing_message(arch, platform.system(), share))
        return found

    def seed_tool(self):
        """``(tool, path, mcopy)`` of the first program that can write the seed; fails with the install hint."""
        for tool, _pkg in vm_seed.SEED_TOOLS:
            if tool == 'hdiutil' and platform.system() != 'Darwin':
                continue
            path = self.module.get_bin_path(tool, opt_dirs=['/usr/sbin', '/sbin'])
            if not path:
                continue
            if tool == 'mkfs.vfat':
                mcopy = self.module.get_bin_path('mcopy')
                if not mcopy:
                    continue
                return tool, path, mcopy
            return tool, path, None
        self.module.fail_json(msg='no program to write the cloud-init NoCloud seed of %s was found (xorriso, '
                                  'genisoimage, mkisofs, or mkfs.vfat with mcopy); install one: apt-get install '
                                  'xorriso (or genisoimage, or dosfstools mtools)' % self.name)

    def plan_seed(self, hostname, apt_sources, apt_conf):
        """The seed's files (user-data, meta-data) as file actions, and whether the image must be (re)written."""
        user_data = vm_seed.seed_user_data(hostname, read_text(self.key + '.pub', ''), read_text(self.host_key, ''),
                                           read_text(self.host_key + '.pub', ''), apt_sources, apt_conf)
        meta_data = vm_seed.seed_meta_data(vm_seed.seed_instance_id(self.name, user_data), hostname)
        actions = [a for a in (
            plan_file(os.path.join(self.seed_dir, 'user-data'), user_data, 0o600,
                      'write the seed user-data of %s (identity, apt settings)' % self.name),
            plan_file(os.path.join(self.seed_dir, 'meta-data'), meta_data, 0o600,
                      'write the seed meta-data of %s' % self.name)) if a]
        return actions, bool(actions) or not os.path.exists(self.seed)

    def write_seed(self):
        """(Re)write seed/cidata.img from seed/user-data and seed/meta-data, through a temporary file."""
        tool, path, mcopy = self.seed_tool()
        tmp = self.seed + '.tmp.iso'
        if os.path.exists(tmp):
            os.unlink(tmp)
        files = [os.path.join(self.seed_dir, n) for n in ('user-data', 'meta-data')]
        for argv in vm_seed.seed_argvs(tool, path, tmp, files, mcopy):
            run_checked(self.module, argv, what='writing the NoCloud seed of %s with %s' % (self.name, tool))
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.seed)
        return tool

    # ------------------------------------------------------------ files for the user
    def plan_user_files(self, port, host_pub):
        conn = ssh_access.connection_vars(self.name, port, self.key, self.known_hosts)
        actions = [
            plan_file(self.known_hosts, ssh_access.known_hosts_line(self.name, host_pub), 0o600,
                      'write the known host key of %s to %s' % (self.name, self.known_hosts)),
            plan_file(self.ssh_config, ssh_access.ssh_config_text(self.name, port, self.key, self.known_hosts), 0o600,
                      'write %s (ssh -F %s %s)' % (self.ssh_config, self.ssh_config, self.name)),
            plan_file(self.inventory, ssh_access.inventory_text(self.name, conn), 0o600, 'write %s' % self.inventory),
            plan_file(self.port_file, '%d\n' % port, 0o644),
        ]
        return [a for a in actions if a], conn


def desired_config(p, hostname, firmware=None):
    """What the VM runs with (vm.json). The firmware-boot keys exist only for a firmware boot, so the
    recorded config of a kernel-booted VM stays what it always was (no spurious restart_needed)."""
    cfg = dict((k, p[k]) for k in CONFIG_KEYS if k in p)
    cfg['hostname'] = hostname
    if p.get('fabric'):
        cfg['fabric'] = fabric_utils.normalize_links(p['name'], p['fabric'])
    if firmware:
        cfg.update(firmware=firmware, guest_apt_sources=p['guest_apt_sources'], guest_apt_conf=p['guest_apt_conf'])
    return cfg


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='started', choices=['started', 'present', 'stopped', 'absent', 'running']),
    state_dir=dict(type='path', default=''),
    cache_dir=dict(type='path', default=''),
    arch=dict(type='str', default='amd64', choices=list(vm_base.SUPPORTED_ARCHES)),
    disk=dict(type='path'),
    snapshot=dict(type='path', default=''),
    kernel=dict(type='path'),
    initrd=dict(type='path'),
    firmware=dict(type='str', default='auto', choices=['auto', 'bios', 'uefi']),
    guest_apt_sources=dict(type='str', default=''),
    guest_apt_conf=dict(type='str', default=''),
    cpus=dict(type='int', default=2),
    memory=dict(type='int', default=2048),
    disk_size=dict(type='str', default='20G'),
    ssh_port=dict(type='int', default=0),
    accel=dict(type='str', default='auto', choices=['auto', 'kvm', 'hvf', 'tcg']),
    probe_timeout=dict(type='int', default=20),
    stop_timeout=dict(type='int', default=90),
    lock_timeout=dict(type='int', default=120),
    hostname=dict(type='str', default=''),
    kernel_cmdline=dict(type='str', default=''),
    extra_args=dict(type='list', elements='str', default=[]),
    fabric=dict(type='list', elements='dict', default=[], options=dict(
        local=dict(type='path', required=True),
        remote=dict(type='path', required=True),
        mac=dict(type='str', default=''),
    )),
)

# shown in place of a key in a diff (the seed's user-data carries the VM's private host key)
HIDDEN = '<not shown: the private SSH host key of the VM>'
PLANNED_HOST_KEY = 'ssh-ed25519 <generated-at-start>'


def proc_net_tcp():
    return read_text('/proc/net/tcp', '')


def socket_holders(listeners):
    """``{pid: command}`` of the processes (of this user) holding the sockets of ``listeners``."""
    inodes = set('socket:[%s]' % inode for _a, _u, inode in listeners)
    holders = {}
    if not inodes or not os.path.isdir('/proc'):
        return holders
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        fd_dir = '/proc/%s/fd' % entry
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            continue
        if inodes.intersection(links):
            cmd = vm_instance.split_proc_cmdline(read_text('/proc/%s/cmdline' % entry, '').encode('utf-8'))
            holders[int(entry)] = ' '.join(cmd)[:120] or '?'
    return holders


def exit_with(vm, actions, secret=None, **extra):
    """exit_json with the standard result; ``secret`` (a private key) never shows in the diff."""
    result = result_for(vm.module, actions, state_dir=vm.dir, serial_log=vm.serial_log, **extra)
    if secret and 'diff' in result:
        for d in result['diff']:
            d['before'] = d['before'].replace(secret, HIDDEN)
            d['after'] = d['after'].replace(secret, HIDDEN)
    vm.module.exit_json(**result)


def exit_running(vm, actions, pid, saved, restart_needed):
    """The result of a VM that runs (state=running, or started on a running VM)."""
    port = int(saved.get('ssh_port') or 0)
    exit_with(vm, actions, running=True, pid=pid, ssh_port=port, accel=saved.get('accel'),
              accel_reason=saved.get('accel_reason'),
              connection=ssh_access.connection_vars(vm.name, port, vm.key, vm.known_hosts),
              inventory=vm.inventory, ssh_config=vm.ssh_config, argv=saved.get('argv') or [],
              restart_needed=restart_needed, boot=(saved.get('config') or {}).get('firmware') or 'kernel',
              fabric=(saved.get('config') or {}).get('fabric') or [], **disk_facts(saved.get('config') or {}))


def disk_facts(config):
    """``disk`` and ``from_snapshot`` of a VM from its recorded (or wanted) config."""
    disk = config.get('disk') or ''
    return dict(disk=disk, from_snapshot=bool(snapshot_utils.snap_parts(disk)))


def plan_absent(vm, pid, dir_exists):
    """state=absent: kill the VM's own QEMU, remove its (checked) directory."""
    actions = []
    if pid:
        actions.append(Action('kill', str(pid), 'stop QEMU pid %d of %s' % (pid, vm.name)))
    if dir_exists:
        actions.append(Action('remove_dir', vm.dir, 'remove %s (overlay, keys, logs)' % vm.dir))
    return actions


def plan_stopped(vm, pid, pidfile_exists):
    """state=stopped: power the VM off, or drop a stale pidfile."""
    if pid:
        return [Action('stop', str(pid), 'power off %s (QEMU pid %d)' % (vm.name, pid))]
    if pidfile_exists:
        return [Action('remove_file', vm.pidfile, 'remove the stale pidfile %s' % vm.pidfile)]
    return []


def do_absent(vm):
    if os.path.lexists(vm.dir):
        problem = vm.foreign_dir_problem()
        if problem:
            vm.module.fail_json(msg=problem, state_dir=vm.dir)
    actions = plan_absent(vm, vm.running_pid(), os.path.isdir(vm.dir))
    apply_actions(vm.module, actions, runner=vm.run_action)
    exit_with(vm, actions, running=False)


def do_stopped(vm):
    actions = plan_stopped(vm, vm.running_pid(), os.path.exists(vm.pidfile))
    apply_actions(vm.module, actions, runner=vm.run_action)
    exit_with(vm, actions, running=False, stopped_how=vm.stopped_how)


def do_running(vm):
    pid = vm.running_pid()
    if not pid:
        vm.module.fail_json(msg='%s is not running (no live QEMU of its pidfile %s); create or start it first: '
                                'ansible-playbook playbooks/dev-vm.yml (role labkit.ebpf_rdma.local_vm, '
                                'local_vm_state=started)' % (vm.name, vm.pidfile),
                            running=False, state_dir=vm.dir, serial_log=vm.serial_log)
    # Only the connection is wanted: the files it would (re)write are not touched.
    exit_running(vm, [], pid, vm.saved(), False)


def keep_running(vm, pid, want, saved):
    """state=started on a running VM: rewrite the user's files if needed, report settings that differ."""
    host_pub = read_text(vm.host_key + '.pub', '')
    actions, _conn = vm.plan_user_files(int(saved.get('ssh_port') or 0), host_pub)
    apply_actions(vm.module, actions)
    restart = saved.get('config') != want
    if restart:
        vm.module.warn('%s runs with other settings than requested (%s); stop and start it to apply them'
                       % (vm.name, ', '.join(sorted(k for k in want if (saved.get('config') or {}).get(k) != want[k]))))
    exit_running(vm, actions, pid, saved, restart)


def boot_files(vm, want, saved, firmware, warn=True):
    """``(disk, kernel, initrd)`` to boot: checked, and an existing overlay keeps its base image."""
    p, module = vm.p, vm.module
    if not p['disk']:
        module.fail_json(msg='disk is required to start %s (state=started); pass the vm_image results' % vm.name)
    if bool(p['kernel']) != bool(p['initrd']):
        module.fail_json(msg='kernel and initrd go together (a direct kernel boot) or are both empty (a firmware '
                             'boot of the disk); %s has only %s' % (vm.name, 'kernel' if p['kernel'] else 'initrd'))
    if firmware and p['kernel_cmdline']:
        module.fail_json(msg='kernel_cmdline (local_vm_kernel_cmdline) needs a direct kernel boot; %s boots its disk '
                             'through firmware, whose boot loader has the command line: leave it empty' % vm.name)
    # an existing overlay keeps its base: a rebuilt image does not silently replace a VM's disk
    disk, kernel, initrd = want['disk'], p['kernel'], p['initrd']
    if os.path.exists(vm.overlay) and saved.get('config', {}).get('disk') and saved['config']['disk'] != disk:
        old = saved['config']
        if not all(os.path.exists(old[k]) for k in ('disk', 'kernel', 'initrd') if old.get(k)):
            module.fail_json(msg='%s was created from %s, which is no longer in the cache (the image inputs or '
                                 'recipe changed); remove the VM (playbooks/vm-destroy.yml or state=absent) to '
                                 'recreate it from %s' % (vm.name, old['disk'], disk))
        if warn:
            module.warn('%s keeps running on its original image %s; remove the VM to move to %s' % (vm.name, old['disk'], disk))
        disk, kernel, initrd = old['disk'], old['kernel'], old['initrd']
        want.update(disk=disk, kernel=kernel, initrd=initrd)
    for path in (disk, kernel, initrd):
        if path and not os.path.exists(path) and not module.check_mode:
            module.fail_json(msg='%s does not exist; build the image first (labkit.ebpf_rdma.vm_image)' % path)
    return disk, kernel, initrd


def find_programs(module, arch):
    """``(qemu, qemu_img, ssh_keygen)`` paths; fails naming the package of a missing one."""
    found = []
    for prog in (vm_base.ARCH_INFO[arch]['qemu'], 'qemu-img', 'ssh-keygen'):
        path = module.get_bin_path(prog)
        if not path:
            module.fail_json(msg='%s is missing on the controller, it is needed to run the VM; %s' % (
                prog, install_hint(arch) if prog != 'ssh-keygen' else 'install it: apt-get install openssh-client'))
        found.append(path)
    return tuple(found)


def plan_create(vm, progs, disk, firmware):
    """The actions that create what the VM lacks (directory, keys, overlay, UEFI vars) and its pflash pair."""
    qemu, qemu_img, ssh_keygen = progs
    actions = []
    if not os.path.isdir(vm.dir):
        actions.append(Action('mkdir', vm.dir, 'create %s' % vm.dir))
    for path, what in ((vm.key, 'the SSH key pair for root@%s' % vm.name),
                       (vm.host_key, 'the SSH host key of %s' % vm.name)):
        if not os.path.exists(path):
            actions.append(plan_run([ssh_keygen, '-q', '-t', 'ed25519', '-N', '', '-C', 'labkit-%s' % vm.name, '-f', path],
                                    description='generate %s (%s)' % (what, path)))
    if not os.path.exists(vm.overlay):
        actions.append(Action('overlay', vm.overlay, 'create the overlay %s on %s' % (vm.overlay, disk),
                              argv=[qemu_img, 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', disk, vm.overlay,
                                    vm.p['disk_size']]))
    pflash = None
    fw_files = vm.firmware_files(qemu, vm.p['arch'], firmware)
    if fw_files:
        pflash = (fw_files[0], vm.efivars)
        if not os.path.exists(vm.efivars):
            actions.append(Action('copy', vm.efivars, 'copy the UEFI vars template %s to %s' % (fw_files[1], vm.efivars),
                                  before=fw_files[1]))
    if firmware:
        vm.seed_tool()  # fail before anything is created when no seed can be written
    return actions, pflash


def exit_planned(vm, actions, port, hostname, firmware):
    """Check mode: what a start would do, with the diff of the files it would write; nothing is written."""
    host_pub = read_text(vm.host_key + '.pub', PLANNED_HOST_KEY)
    if firmware:
        seed_actions, _rewrite = vm.plan_seed(hostname, vm.p['guest_apt_sources'], vm.p['guest_apt_conf'])
        actions += seed_actions + [Action('seed', vm.seed, 'write the NoCloud seed %s' % vm.seed)]
    try:
        actions += plan_fabric_sockets(fabric_utils.normalize_links(vm.name, vm.p['fabric']))
    except FabricPathError as e:
        vm.module.fail_json(msg=str(e))
    actions.append(Action('start', vm.name, 'start %s' % vm.name))
    file_actions, _conn = vm.plan_user_files(port, host_pub)
    exit_with(vm, actions + file_actions, secret=read_text(vm.host_key), running=False, disk_note=vm.disk_note,
              **disk_facts(vm.want or {}))


def plan_launch(vm, hostname, firmware, qemu, spec):
    """The start of a created VM: its identity (seed files and image, or fw_cfg), then QEMU."""
    actions = []
    spec = dict(spec)
    if firmware:
        # the identity comes from the NoCloud seed: the image knows nothing of labkit
        actions, rewrite = vm.plan_seed(hostname, vm.p['guest_apt_sources'], vm.p['guest_apt_conf'])
        if rewrite:
            actions.append(Action('seed', vm.seed, 'write the NoCloud seed %s (%s)' % (vm.seed, vm.seed_tool()[0])))
        spec['seed'] = vm.seed
    else:
        spec['fw_cfg'] = [('authorized_keys', 'file', vm.key + '.pub'),
                          ('ssh_host_ed25519_key', 'file', vm.host_key),
                          ('hostname', 'string', hostname)]
    actions += plan_fabric_sockets(spec.get('fabric') or [])
    return actions + [Action('start', vm.name, 'start %s' % vm.name, argv=qemu_argv.vm_argv(qemu, spec))]


def plan_fabric_sockets(links):
    """Before a start: the socket directories to create and the stale local sockets to remove.

    Only called for a VM that does not run, so a socket at its own local path is left over
    from an earlier QEMU (which would make the bind fail).
    """
    actions = []
    for link in links:
        sock_dir = os.path.dirname(link['local'])
        if not os.path.isdir(sock_dir) and sock_dir not in [a.target for a in actions]:
            actions.append(Action('fabric_dir', sock_dir, 'create the fabric socket directory %s' % sock_dir))
        if os.path.lexists(link['local']):
            if not stat.S_ISSOCK(os.lstat(link['local']).st_mode):
                raise FabricPathError('the fabric socket path %s exists and is not a socket; nothing was started. '
                                      'Remove it or choose another socket directory (labkit_fabric_socket_dir)'
                                      % link['local'])
            actions.append(Action('stale_socket', link['local'], 'remove the stale fabric socket %s' % link['local']))
    return actions


class FabricPathError(Exception):
    pass


def launch(vm, argv):
    """Run QEMU (it daemonizes); a taken SSH port fails naming the port and its holder."""
    port, accel, accel_reason = vm.record['ssh_port'], vm.record['accel'], vm.record['accel_reason']
    rc, out, err = vm.module.run_command(argv)
    if rc == 0:
        return
    if vm_instance.hostfwd_failed(err, port):
        listeners = vm_instance.tcp_listeners(proc_net_tcp(), port)
        vm.module.fail_json(msg=vm_instance.port_taken_message(vm.name, port, listeners, socket_holders(listeners)),
                            cmd=argv, rc=rc, stderr=err)
    vm.module.fail_json(msg='QEMU failed to start %s (exit %d): %s. Accelerator: %s (%s); console log: %s'
                        % (vm.name, rc, (err or out).strip(), accel, accel_reason, vm.serial_log),
                        cmd=argv, rc=rc, stdout=out, stderr=err)


def do_started(vm, hostname):
    p, module = vm.p, vm.module
    firmware, want, saved = start_inputs(vm, hostname)
    pid = vm.running_pid()
    if pid:
        keep_running(vm, pid, want, saved)
    disk, kernel, initrd = boot_files(vm, want, saved, firmware)
    progs = find_programs(module, p['arch'])
    port, why = vm_instance.choose_port(p['ssh_port'], int(saved.get('ssh_port') or 0), vm_instance.port_is_free, vm_instance.free_port)
    if port is None:
        module.fail_json(msg=why)
    actions, pflash = plan_create(vm, progs, disk, firmware)
    if module.check_mode:
        exit_planned(vm, actions, port, hostname, firmware)
    accel, accel_reason = vm.choose_accel(progs[0], p['arch'], kernel)
    apply_actions(module, actions, runner=vm.run_action)
    spec = dict(name=vm.name, arch=p['arch'], accel=accel, cpus=p['cpus'], memory_mb=p['memory'], overlay=vm.overlay,
                kernel=kernel, initrd=initrd, ssh_port=port, serial_log=vm.serial_log, pidfile=vm.pidfile,
                qmp_socket=vm.qmp, cmdline_extra=p['kernel_cmdline'], extra_args=p['extra_args'],
                pflash=pflash, fabric=want.get('fabric') or [])
    try:
        start = plan_launch(vm, hostname, firmware, progs[0], spec)
    except FabricPathError as e:
        module.fail_json(msg=str(e))
    vm.record = dict(name=vm.name, config=want, ssh_port=port, accel=accel, accel_reason=accel_reason,
                     argv=start[-1].argv)
    start[-1].description = 'start %s with %s on 127.0.0.1:%d (%s; %s)' % (vm.name, accel, port, why, accel_reason)
    apply_actions(module, start, runner=vm.run_action)
    actions += start
    argv = start[-1].argv
    file_actions, conn = vm.plan_user_files(port, read_text(vm.host_key + '.pub', ''))
    apply_actions(module, file_actions)
    new_pid = vm.running_pid()
    extra = dict(seed=vm.seed) if firmware else {}
    exit_with(vm, actions + file_actions, secret=read_text(vm.host_key), running=bool(new_pid), pid=new_pid,
              ssh_port=port, accel=accel, accel_reason=accel_reason, connection=conn, inventory=vm.inventory,
              ssh_config=vm.ssh_config, argv=argv, restart_needed=False, boot=firmware or 'kernel',
              fabric=want.get('fabric') or [], disk_note=vm.disk_note, **dict(extra, **disk_facts(want)))


def start_inputs(vm, hostname):
    """``(firmware, want, saved)`` of state=started; fails on an impossible firmware choice."""
    firmware = None
    if not vm.p['kernel']:
        firmware, why_not = qemu_argv.choose_firmware(vm.p['firmware'], vm.p['arch'])
        if why_not:
            vm.module.fail_json(msg=why_not)
    want, saved = desired_config(vm.p, hostname, firmware), vm.saved()
    snap = vm.p['snapshot']
    if vm.p['disk']:
        disk, _from, vm.disk_note = snapshot_utils.choose_disk(
            os.path.exists(vm.overlay), (saved.get('config') or {}).get('disk'), vm.p['disk'], snap,
            os.path.exists(snap) or vm.module.check_mode)
        want['disk'] = disk
    vm.want = want
    return firmware, want, saved


def precheck(vm, state, hostname):
    """The checks that can fail a run, made before the lock is taken (so a failing run writes nothing).

    The state function repeats them under the lock: they only read.
    """
    if state == 'absent' and os.path.lexists(vm.dir):
        problem = vm.foreign_dir_problem()
        if problem:
            vm.module.fail_json(msg=problem, state_dir=vm.dir)
    if state != 'started' or vm.running_pid():
        return
    firmware, want, saved = start_inputs(vm, hostname)
    boot_files(vm, want, saved, firmware, warn=False)
    find_programs(vm.module, vm.p['arch'])
    port, why = vm_instance.choose_port(vm.p['ssh_port'], 0, vm_instance.port_is_free, lambda: 0)
    if port is None:
        vm.module.fail_json(msg=why)


def run_state(vm, state, hostname):
    if state == 'absent':
        do_absent(vm)
    elif state == 'stopped':
        do_stopped(vm)
    else:
        do_started(vm, hostname)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    state = 'started' if p['state'] == 'present' else p['state']
    hostname = p['hostname'] or p['name']
    state_dir = p['state_dir'] or os.path.join(vm_base.user_state_root(os.environ), 'vms', p['name'] or '')
    problem = vm_instance.vm_options_problem(p, state_dir, hostname, state == 'started')
    if not problem and state == 'started':
        problem = fabric_utils.links_problem(fabric_utils.normalize_links(p['name'], p['fabric']))
    if problem:
        module.fail_json(msg=problem)
    vm = VM(module)
    if state == 'running':
        do_running(vm)
    precheck(vm, state, hostname)
    if module.check_mode or (state != 'started' and not os.path.isdir(vm.dir)):
        run_state(vm, state, hostname)
    else:
        with vm.locked():
            run_state(vm, state, hostname)


if __name__ == '__main__':
    main()
