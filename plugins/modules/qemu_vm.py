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
  - The VM boots the image's kernel and initrd directly (C(-kernel)/C(-initrd)) from its own qcow2
    overlay whose backing file is the cached base image, which therefore stays clean.
  - SSH is forwarded from a free loopback port (kept across restarts while it is free). The VM's
    authorized key, its SSH host key and its hostname are passed at boot with QEMU C(-fw_cfg) and
    installed by the image's C(labkit-fwcfg) oneshot before C(ssh.service), so no key is baked into
    the shared image and the controller knows the host key beforehand (host key checking stays on).
  - With O(accel=auto) the accelerator is chosen by a bounded probe (KVM on Linux, boot the guest
    kernel for at most O(probe_timeout) seconds and look for a late boot message; the verdict is cached
    per host, kernel and QEMU version), hvf on macOS, else tcg. The reason is returned in RV(accel_reason).
  - The module does not wait for SSH (a module cannot stream progress); the role waits in bounded steps.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
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
        O(state_dir); the image cache is kept.
    type: str
    choices: [started, present, stopped, absent]
    default: started
  state_dir:
    description:
      - Directory of this VM. Empty means C($XDG_STATE_HOME/labkit-ebpf_rdma/vms/<name>) or
        C(~/.local/state/labkit-ebpf_rdma/vms/<name>).
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
  kernel:
    description: Guest kernel; required to create the VM.
    type: path
  initrd:
    description: Guest initrd; required to create the VM.
    type: path
  cpus:
    description: Number of vCPUs.
    type: int
    default: 2
  memory:
    description: Memory in MiB.
    type: int
    default: 2048
  disk_size:
    description: Virtual size of the VM's overlay (at least the base image's); the guest grows its root filesystem to it.
    type: str
    default: 20G
  ssh_port:
    description: Loopback port forwarded to the guest's port 22; 0 picks a free one (kept while free).
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
  hostname:
    description: Hostname of the guest; empty means O(name).
    type: str
    default: ''
  kernel_cmdline:
    description: Extra kernel command line arguments.
    type: str
    default: ''
  extra_args:
    description: Extra QEMU arguments appended to the command line.
    type: list
    elements: str
    default: []
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
  returned: when O(state=started)
  type: int
accel:
  description: Accelerator used (kvm, hvf or tcg).
  returned: when O(state=started)
  type: str
accel_reason:
  description: Why that accelerator was chosen.
  returned: when O(state=started)
  type: str
connection:
  description: Ansible connection variables for the VM (for add_host).
  returned: when O(state=started)
  type: dict
inventory:
  description: Path of the YAML inventory written for the VM.
  returned: when O(state=started)
  type: str
ssh_config:
  description: Path of the ssh_config written for the VM (C(ssh -F <path> <name>)).
  returned: when O(state=started)
  type: str
serial_log:
  description: Path of the serial console log.
  returned: always
  type: str
argv:
  description: The QEMU command line.
  returned: when O(state=started)
  type: list
  elements: str
restart_needed:
  description: True when the VM runs with settings that differ from the requested ones (stop and start it to apply them).
  returned: when O(state=started)
  type: bool
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
'''

import errno
import json
import os
import platform
import shutil
import signal
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, apply_actions, plan_file, plan_run, read_text, run_checked, result_for, write_file_atomic)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu as q

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
        return q.split_proc_cmdline(raw)
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
        self.dir = self.p['state_dir'] or os.path.join(q.user_state_root(os.environ), 'vms', self.name)
        self.cache_dir = self.p['cache_dir'] or q.user_cache_root(os.environ)

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

    # ------------------------------------------------------------ reads
    def running_pid(self):
        """PID of this VM's QEMU, verified against its command line; None when not running."""
        pid = q.parse_pidfile(read_text(self.pidfile))
        if pid is None or not pid_alive(pid):
            return None
        if not q.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            return None
        return pid

    def saved(self):
        try:
            return json.loads(read_text(self.vm_json) or '{}')
        except ValueError:
            return {}

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
            if not pid_alive(pid) or not q.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
                return True
            time.sleep(0.5)
        return False

    def stop(self, pid, graceful):
        if graceful and self.qmp_powerdown() and self.wait_exit(pid, self.p['stop_timeout']):
            return 'powered off'
        # re-verify right before signalling: the pid must still be this VM's QEMU
        if not q.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            return 'exited'
        os.kill(pid, signal.SIGTERM)
        if self.wait_exit(pid, 15):
            return 'terminated'
        if q.cmdline_is_vm(process_argv(self.module, pid), self.pidfile):
            os.kill(pid, signal.SIGKILL)
            self.wait_exit(pid, 10)
        return 'killed'

    # ------------------------------------------------------------ accelerator
    def qemu_version(self, qemu):
        rc, out, _err = self.module.run_command([qemu, '--version'])
        return q.parse_qemu_version(out) if rc == 0 else None

    def probe_kvm(self, qemu, arch, kernel):
        """Return (usable, reason); usable is None when KVM is absent or inaccessible."""
        if not os.path.exists(KVM_DEVICE):
            return None, '%s does not exist' % KVM_DEVICE
        if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
            return None, 'no read/write access to /dev/kvm (add the user to the kvm group)'
        cache_file = os.path.join(self.cache_dir, 'accel-probe.json')
        key = q.probe_cache_key(platform.node(), os.uname()[2], self.qemu_version(qemu), arch)
        try:
            verdicts = json.loads(read_text(cache_file) or '{}')
        except ValueError:
            verdicts = {}
        if key in verdicts:
            v = verdicts[key]
            return v['ok'], v['reason'] + ' (cached verdict from %s)' % v.get('when', '?')
        if self.module.check_mode:
            return False, 'KVM probe skipped in check mode'
        timeout = self.module.get_bin_path('timeout')
        if not timeout:
            return False, 'cannot bound the KVM probe: the timeout program (coreutils) is missing'
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir, 0o700)
        log = os.path.join(self.dir, 'kvm-probe.log')
        if os.path.exists(log):
            os.unlink(log)
        argv = [timeout, '-s', 'KILL', str(self.p['probe_timeout'])] + q.probe_argv(qemu, arch, kernel, log)
        rc, _out, err = self.module.run_command(argv)
        ok, reason = q.probe_verdict(read_text(log, ''), rc, err, rc in (124, 137, -9))
        verdicts[key] = {'ok': ok, 'reason': reason, 'when': time.strftime('%Y-%m-%d %H:%M:%S')}
        write_file_atomic(self.module, cache_file, json.dumps(verdicts, indent=2, sort_keys=True) + '\n', 0o644)
        return ok, reason

    def choose_accel(self, qemu, arch, kernel):
        requested = self.p['accel']
        system = platform.system()
        host_arch = q.debarch_for_machine(platform.machine())
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
        return q.choose_accel(requested, system, host_arch, arch, kvm_ok, kvm_reason, hvf)

    # ------------------------------------------------------------ files for the user
    def plan_user_files(self, port, host_pub):
        conn = q.connection_vars(self.name, port, self.key, self.known_hosts)
        actions = [
            plan_file(self.known_hosts, q.known_hosts_line(self.name, host_pub), 0o600,
                      'write the known host key of %s to %s' % (self.name, self.known_hosts)),
            plan_file(self.ssh_config, q.ssh_config_text(self.name, port, self.key, self.known_hosts), 0o600,
                      'write %s (ssh -F %s %s)' % (self.ssh_config, self.ssh_config, self.name)),
            plan_file(self.inventory, q.inventory_text(self.name, conn), 0o600, 'write %s' % self.inventory),
            plan_file(self.port_file, '%d\n' % port, 0o644),
        ]
        return [a for a in actions if a], conn


def desired_config(p, hostname):
    cfg = dict((k, p[k]) for k in CONFIG_KEYS if k in p)
    cfg['hostname'] = hostname
    return cfg


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=['started', 'present', 'stopped', 'absent']),
            state_dir=dict(type='path', default=''),
            cache_dir=dict(type='path', default=''),
            arch=dict(type='str', default='amd64', choices=list(q.SUPPORTED_ARCHES)),
            disk=dict(type='path'),
            kernel=dict(type='path'),
            initrd=dict(type='path'),
            cpus=dict(type='int', default=2),
            memory=dict(type='int', default=2048),
            disk_size=dict(type='str', default='20G'),
            ssh_port=dict(type='int', default=0),
            accel=dict(type='str', default='auto', choices=['auto', 'kvm', 'hvf', 'tcg']),
            probe_timeout=dict(type='int', default=20),
            stop_timeout=dict(type='int', default=90),
            hostname=dict(type='str', default=''),
            kernel_cmdline=dict(type='str', default=''),
            extra_args=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not q.valid_vm_name(p['name']):
        module.fail_json(msg='VM name %r is not valid: use letters, digits, ".", "_" and "-" (at most 63, '
                             'starting with a letter or digit)' % p['name'])
    vm = VM(module)
    state = 'started' if p['state'] == 'present' else p['state']
    pid = vm.running_pid()
    base = dict(state_dir=vm.dir, serial_log=vm.serial_log)

    if state == 'absent':
        actions = []
        if pid:
            actions.append(Action('kill', str(pid), 'stop QEMU pid %d of %s' % (pid, vm.name)))
        if os.path.isdir(vm.dir):
            actions.append(Action('remove_dir', vm.dir, 'remove %s (overlay, keys, logs)' % vm.dir))
        if not module.check_mode:
            if pid:
                vm.stop(pid, graceful=False)
            if os.path.isdir(vm.dir):
                shutil.rmtree(vm.dir)
        module.exit_json(**result_for(module, actions, running=False, **base))

    if state == 'stopped':
        actions = []
        if pid:
            actions.append(Action('stop', str(pid), 'power off %s (QEMU pid %d)' % (vm.name, pid)))
        elif os.path.exists(vm.pidfile):
            actions.append(Action('remove_file', vm.pidfile, 'remove the stale pidfile %s' % vm.pidfile))
        how = None
        if not module.check_mode:
            if pid:
                how = vm.stop(pid, graceful=True)
            elif os.path.exists(vm.pidfile):
                os.unlink(vm.pidfile)
        module.exit_json(**result_for(module, actions, running=False, stopped_how=how, **base))

    # ---------------------------------------------------------------- started
    hostname = p['hostname'] or p['name']
    want = desired_config(p, hostname)
    saved = vm.saved()
    if pid:
        port = int(saved.get('ssh_port') or 0)
        host_pub = read_text(vm.host_key + '.pub', '')
        actions, conn = vm.plan_user_files(port, host_pub)
        apply_actions(module, actions)
        restart = saved.get('config') != want
        if restart:
            module.warn('%s runs with other settings than requested (%s); stop and start it to apply them'
                        % (vm.name, ', '.join(sorted(k for k in want if (saved.get('config') or {}).get(k) != want[k]))))
        module.exit_json(**result_for(module, actions, running=True, pid=pid, ssh_port=port,
                                      accel=saved.get('accel'), accel_reason=saved.get('accel_reason'),
                                      connection=conn, inventory=vm.inventory, ssh_config=vm.ssh_config,
                                      argv=saved.get('argv') or [], restart_needed=restart, **base))

    for opt in ('disk', 'kernel', 'initrd'):
        if not p[opt]:
            module.fail_json(msg='%s is required to start %s (state=started); pass the vm_image results' % (opt, vm.name))
    # an existing overlay keeps its base: a rebuilt image does not silently replace a VM's disk
    disk, kernel, initrd = p['disk'], p['kernel'], p['initrd']
    if os.path.exists(vm.overlay) and saved.get('config', {}).get('disk') and saved['config']['disk'] != disk:
        old = saved['config']
        if not all(os.path.exists(old[k]) for k in ('disk', 'kernel', 'initrd')):
            module.fail_json(msg='%s was created from %s, which is no longer in the cache (the image inputs or '
                                 'recipe changed); remove the VM (playbooks/vm-destroy.yml or state=absent) to '
                                 'recreate it from %s' % (vm.name, old['disk'], disk))
        module.warn('%s keeps running on its original image %s; remove the VM to move to %s' % (vm.name, old['disk'], disk))
        disk, kernel, initrd = old['disk'], old['kernel'], old['initrd']
        want.update(disk=disk, kernel=kernel, initrd=initrd)
    for path in (disk, kernel, initrd):
        if not os.path.exists(path) and not module.check_mode:
            module.fail_json(msg='%s does not exist; build the image first (labkit.ebpf_rdma.vm_image)' % path)
    arch = p['arch']
    qemu = module.get_bin_path(q.ARCH_INFO[arch]['qemu'])
    qemu_img = module.get_bin_path('qemu-img')
    ssh_keygen = module.get_bin_path('ssh-keygen')
    for prog, path in ((q.ARCH_INFO[arch]['qemu'], qemu), ('qemu-img', qemu_img), ('ssh-keygen', ssh_keygen)):
        if not path:
            module.fail_json(msg='%s is missing on the controller, it is needed to run the VM; %s' % (
                prog, install_hint(arch) if prog != 'ssh-keygen' else 'install it: apt-get install openssh-client'))

    actions = []
    if not os.path.isdir(vm.dir):
        actions.append(Action('mkdir', vm.dir, 'create %s' % vm.dir))
    for path, what in ((vm.key, 'the SSH key pair for root@%s' % vm.name),
                       (vm.host_key, 'the SSH host key of %s' % vm.name)):
        if not os.path.exists(path):
            actions.append(plan_run([ssh_keygen, '-q', '-t', 'ed25519', '-N', '', '-C', 'labkit-%s' % vm.name, '-f', path],
                                    description='generate %s (%s)' % (what, path)))
    if not os.path.exists(vm.overlay):
        actions.append(plan_run([qemu_img, 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', disk, vm.overlay,
                                 p['disk_size']], description='create the overlay %s on %s' % (vm.overlay, disk)))
    if module.check_mode:
        actions.append(Action('start', vm.name, 'start %s' % vm.name))
        module.exit_json(**result_for(module, actions, running=False, **base))
    accel, accel_reason = vm.choose_accel(qemu, arch, kernel)
    for action in actions:
        if action.kind == 'mkdir':
            if not os.path.isdir(vm.dir):  # the KVM probe may have made it
                os.makedirs(vm.dir, 0o700)
        else:
            run_checked(module, action.argv, what=action.description,
                        hint='the overlay must not be smaller than the base image (local_vm_disk_size)'
                        if action.argv[0] == qemu_img else None)
    is_free = q.port_is_free
    port, why = q.choose_port(p['ssh_port'], int(saved.get('ssh_port') or 0), is_free, q.free_port)
    if port is None:
        module.fail_json(msg=why)
    spec = dict(name=vm.name, arch=arch, accel=accel, cpus=p['cpus'], memory_mb=p['memory'], overlay=vm.overlay,
                kernel=kernel, initrd=initrd, ssh_port=port, serial_log=vm.serial_log, pidfile=vm.pidfile,
                qmp_socket=vm.qmp, cmdline_extra=p['kernel_cmdline'], extra_args=p['extra_args'],
                fw_cfg=[('authorized_keys', 'file', vm.key + '.pub'),
                        ('ssh_host_ed25519_key', 'file', vm.host_key),
                        ('hostname', 'string', hostname)])
    argv = q.vm_argv(qemu, spec)
    if os.path.exists(vm.serial_log):
        os.rename(vm.serial_log, vm.serial_log + '.1')
    if os.path.exists(vm.qmp):
        os.unlink(vm.qmp)
    record = dict(config=want, ssh_port=port, accel=accel, accel_reason=accel_reason, argv=argv)
    write_file_atomic(module, vm.vm_json, json.dumps(record, indent=2, sort_keys=True) + '\n', 0o600)
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg='QEMU failed to start %s (exit %d): %s. Accelerator: %s (%s); console log: %s'
                         % (vm.name, rc, (err or out).strip(), accel, accel_reason, vm.serial_log),
                         cmd=argv, rc=rc, stdout=out, stderr=err)
    actions.append(Action('start', vm.name, 'start %s with %s on 127.0.0.1:%d (%s; %s)' % (vm.name, accel, port, why, accel_reason)))
    file_actions, conn = vm.plan_user_files(port, read_text(vm.host_key + '.pub', ''))
    apply_actions(module, file_actions)
    new_pid = vm.running_pid()
    module.exit_json(**result_for(module, actions + file_actions, running=bool(new_pid), pid=new_pid,
                                  ssh_port=port, accel=accel, accel_reason=accel_reason, connection=conn,
                                  inventory=vm.inventory, ssh_config=vm.ssh_config, argv=argv,
                                  restart_needed=False, **base))


if __name__ == '__main__':
    main()
