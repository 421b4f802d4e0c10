# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: local_vms
short_description: The local QEMU VMs made by labkit.ebpf_rdma.local_vm, with their connection variables
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Reads the state directory of every local VM that M(labkit.ebpf_rdma.qemu_vm) (role labkit.ebpf_rdma.local_vm,
    C(playbooks/dev-vm.yml)) made, C(<state_dir>/<name>/), and adds a host per VM with the variables to reach it
    over SSH, the same ones the VM's own C(inventory.yml) holds; so C(ansible devvm -m ping) and
    C(ansible-playbook ... -l devvm) work with the default inventory, without C(-i) into the state directory.
  - The SSH port comes from the VM's C(vm.json); the key, known_hosts file and SSH options are the ones
    C(qemu_vm) wrote in the same directory.
  - A VM whose QEMU does not run (no C(qemu.pid), or its process is gone or is not that VM's QEMU) is added
    to the group O(stopped_group) as well, with C(labkit_vm_running=false), and a warning says how to start it.
    Its connection variables are kept (the port stays the same across restarts while it is free).
  - A directory without C(vm.json) (a VM that was never started, or was removed) is skipped. No state directory
    at all (no VM made yet, as on the first C(dev-vm.yml) run) adds no host and is no error.
  - The inventory file name must end with C(local_vms.yml) or C(local_vms.yaml).
options:
  plugin:
    description: The name of this plugin; it marks the file as a source of this plugin.
    type: str
    required: true
    choices: [labkit.ebpf_rdma.local_vms]
  state_dir:
    description:
      - The directory holding one directory per VM.
      - Default C($XDG_STATE_HOME/labkit-ebpf_rdma/vms), where C(XDG_STATE_HOME) defaults to C(~/.local/state),
        the default of the local_vm role's C(local_vm_state_dir) without the VM's name. A host whose
        C(local_vm_state_dir) points elsewhere is not seen unless this option points there.
    type: path
    env:
      - name: LABKIT_VMS_STATE_DIR
  group:
    description:
      - Group of every VM found. The default is not C(labkit_vms) on purpose, so that a state directory of a VM
        the inventory does not list is reachable but never converged by C(dev-vm.yml); the default inventory lists
        C(devvm) under C(labkit_vms) itself.
    type: str
    default: labkit_local_vms
  stopped_group:
    description: Group of the VMs whose QEMU does not run.
    type: str
    default: stopped
  start_hint:
    description: What the warning about a stopped VM tells to run.
    type: str
    default: ansible-playbook playbooks/dev-vm.yml
  warn_stopped:
    description: Warn about each stopped VM when the inventory is read.
    type: bool
    default: true
notes:
  - Host variables set per VM - C(ansible_host), C(ansible_port), C(ansible_user), C(ansible_ssh_private_key_file),
    C(ansible_ssh_common_args), C(ansible_python_interpreter), C(labkit_vm_running), C(labkit_vm_state_dir) and
    C(labkit_vm_ssh_config).
  - Whether a VM runs is read from C(/proc) (Linux); elsewhere a live process of the pidfile counts as running.
'''

EXAMPLES = r'''
# inventories/local/vms.local_vms.yml (next to hosts.yml, so both are the default inventory)
plugin: labkit.ebpf_rdma.local_vms

# Another state directory (the Molecule scenarios' XDG_STATE_HOME, a test):
#   LABKIT_VMS_STATE_DIR=/tmp/state/labkit-ebpf_rdma/vms ansible-inventory --graph
# or in the file:
# plugin: labkit.ebpf_rdma.local_vms
# state_dir: /srv/vms/labkit-ebpf_rdma/vms
'''

import json
import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.utils.display import Display

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import ssh_access
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_base
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_instance

display = Display()

HOST_VARS = ('ansible_host', 'ansible_port', 'ansible_user', 'ansible_ssh_private_key_file',
             'ansible_ssh_common_args', 'ansible_python_interpreter')


def default_state_dir(environ):
    return os.path.join(vm_base.user_state_root(environ), 'vms')


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def qemu_runs(pidfile, proc='/proc'):
    """True when the pidfile names a live process that is this VM's QEMU (module_utils vm_instance)."""
    return vm_instance.pidfile_runs_vm(pidfile, proc)


def read_vm(vm_dir, runs=qemu_runs):
    """One VM's host: ``{'name', 'running', 'vars'}``, or None when the directory holds no started VM."""
    name = os.path.basename(vm_dir.rstrip('/'))
    try:
        saved = json.loads(_read(os.path.join(vm_dir, 'vm.json')) or 'null')
    except ValueError:
        saved = None
    if not isinstance(saved, dict) or not saved.get('ssh_port'):
        return None
    conn = ssh_access.connection_vars(name, int(saved['ssh_port']), os.path.join(vm_dir, 'id_ed25519'),
                                      os.path.join(vm_dir, 'known_hosts'))
    running = bool(runs(os.path.join(vm_dir, 'qemu.pid')))
    host_vars = dict((k, conn[k]) for k in HOST_VARS)
    host_vars.update(labkit_vm_running=running, labkit_vm_state_dir=vm_dir,
                     labkit_vm_ssh_config=os.path.join(vm_dir, 'ssh_config'))
    return {'name': name, 'running': running, 'vars': host_vars}


def read_vms(state_dir, runs=qemu_runs):
    """Every VM under ``state_dir`` (sorted by name); [] when the directory does not exist."""
    if not os.path.isdir(state_dir):
        return []
    vms = []
    for entry in sorted(os.listdir(state_dir)):
        path = os.path.join(state_dir, entry)
        if os.path.isdir(path):
            vm = read_vm(path, runs)
            if vm:
                vms.append(vm)
    return vms


def stopped_warning(name, vm_dir, hint):
    return ('%s is not running (no live QEMU of %s): connecting to it fails until it is started; start it with: '
            '%s (the VM part alone: --tags vm)' % (name, os.path.join(vm_dir, 'qemu.pid'), hint))


class InventoryModule(BaseInventoryPlugin):
    NAME = 'labkit.ebpf_rdma.local_vms'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('local_vms.yml', 'local_vms.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        state_dir = self.get_option('state_dir') or default_state_dir(os.environ)
        if os.path.exists(state_dir) and not os.path.isdir(state_dir):
            raise AnsibleParserError('%s: state_dir %s is not a directory; point state_dir (or LABKIT_VMS_STATE_DIR) '
                                     'at the directory holding one directory per VM' % (path, state_dir))
        group = self.inventory.add_group(self.get_option('group'))
        stopped = self.get_option('stopped_group')
        for vm in read_vms(state_dir):
            self.inventory.add_host(vm['name'], group=group)
            for key, value in vm['vars'].items():
                self.inventory.set_variable(vm['name'], key, value)
            if not vm['running']:
                self.inventory.add_group(stopped)
                self.inventory.add_host(vm['name'], group=stopped)
                if self.get_option('warn_stopped'):
                    display.warning(stopped_warning(vm['name'], vm['vars']['labkit_vm_state_dir'],
                                                    self.get_option('start_hint')))
