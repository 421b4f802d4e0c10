# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local_vms inventory plugin on state directories written in tmp_path (as qemu_vm writes them).

A running VM is a real process whose argv is a QEMU command line with the VM's -pidfile (python
started under the name qemu-system-x86_64), so the /proc check is the real one.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.labkit.ebpf_rdma.plugins.inventory import local_vms
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import ssh_access

from conftest import ROOT


def make_vm(state_dir, name, port):
    """A VM directory as qemu_vm leaves it after a start (vm.json, key, known_hosts, ssh_config, inventory.yml)."""
    d = state_dir / name
    d.mkdir(parents=True)
    (d / 'vm.json').write_text(json.dumps({'ssh_port': port, 'accel': 'tcg', 'config': {}}))
    conn = ssh_access.connection_vars(name, port, str(d / 'id_ed25519'), str(d / 'known_hosts'))
    (d / 'inventory.yml').write_text(ssh_access.inventory_text(name, conn))
    (d / 'ssh_config').write_text(ssh_access.ssh_config_text(name, port, str(d / 'id_ed25519'), str(d / 'known_hosts')))
    return d


@pytest.fixture
def fake_qemu():
    """start(vm_dir): a live process that looks like the VM's QEMU, its pid in qemu.pid."""
    procs = []

    def start(vm_dir):
        pidfile = str(vm_dir / 'qemu.pid')
        p = subprocess.Popen(['qemu-system-x86_64', '-c', 'import time; time.sleep(120)', '-pidfile', pidfile],
                             executable=sys.executable)
        procs.append(p)
        (vm_dir / 'qemu.pid').write_text('%d\n' % p.pid)
        for dummy in range(50):  # until the new process has its argv in /proc
            if local_vms.qemu_runs(pidfile):
                break
            time.sleep(0.05)
        return p
    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='the running check reads /proc')
def test_running_and_stopped_vms(tmp_path, fake_qemu):
    state = tmp_path / 'vms'
    devvm = make_vm(state, 'devvm', 40022)
    make_vm(state, 'old', 40023)                          # never had a pidfile: stopped
    gone = make_vm(state, 'gone', 40024)
    (gone / 'qemu.pid').write_text('999999999\n')        # a pid that does not exist
    mine = make_vm(state, 'notqemu', 40025)
    (mine / 'qemu.pid').write_text('%d\n' % os.getpid())  # alive, but not that VM's QEMU
    (state / 'half').mkdir()                              # no vm.json: never started, skipped
    fake_qemu(devvm)
    vms = {vm['name']: vm for vm in local_vms.read_vms(str(state))}
    assert sorted(vms) == ['devvm', 'gone', 'notqemu', 'old']
    assert {n: vm['running'] for n, vm in vms.items()} == {
        'devvm': True, 'gone': False, 'notqemu': False, 'old': False}
    # the same connection as the VM's own inventory.yml
    own = yaml.safe_load((devvm / 'inventory.yml').read_text())['all']['children']['labkit_vms']['hosts']['devvm']
    v = vms['devvm']['vars']
    assert {k: v[k] for k in own} == own
    assert (v['ansible_host'], v['ansible_port'], v['ansible_user']) == ('127.0.0.1', 40022, 'root')
    assert v['ansible_ssh_private_key_file'] == str(devvm / 'id_ed25519')
    assert 'UserKnownHostsFile=%s' % (devvm / 'known_hosts') in v['ansible_ssh_common_args']
    assert (v['labkit_vm_running'], v['labkit_vm_ssh_config']) == (True, str(devvm / 'ssh_config'))


def test_no_state_dir_and_broken_vm_json(tmp_path):
    assert local_vms.read_vms(str(tmp_path / 'nothing-yet')) == []  # dev-vm.yml's first run
    (tmp_path / 'vms' / 'x').mkdir(parents=True)
    (tmp_path / 'vms' / 'x' / 'vm.json').write_text('{not json')
    assert local_vms.read_vms(str(tmp_path / 'vms')) == []


def test_default_state_dir():
    assert local_vms.default_state_dir({'HOME': '/home/u'}) == '/home/u/.local/state/labkit-ebpf_rdma/vms'
    assert local_vms.default_state_dir({'HOME': '/home/u', 'XDG_STATE_HOME': '/s'}) == '/s/labkit-ebpf_rdma/vms'


def test_stopped_warning_says_how_to_start():
    msg = local_vms.stopped_warning('devvm', '/s/vms/devvm', 'ansible-playbook playbooks/dev-vm.yml')
    assert msg.startswith('devvm is not running (no live QEMU of /s/vms/devvm/qemu.pid)')
    assert 'start it with: ansible-playbook playbooks/dev-vm.yml' in msg


def test_verify_file(tmp_path):
    plugin = local_vms.InventoryModule()
    for name, ok in (('vms.local_vms.yml', True), ('local_vms.yaml', True), ('hosts.yml', False),
                     ('local_vms.json', False)):
        path = tmp_path / name
        path.write_text('plugin: labkit.ebpf_rdma.local_vms\n')
        assert plugin.verify_file(str(path)) is ok, name


# ------------------------------------------------------------ the default inventory, as ansible sees it

ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), 'ansible-inventory')


def ansible_inventory(state_dir, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'collections'), LABKIT_VMS_STATE_DIR=str(state_dir),
               ANSIBLE_NOCOLOR='1')
    env.pop('ANSIBLE_INVENTORY', None)
    return subprocess.run([ANSIBLE_INVENTORY, '-i', 'inventories/local'] + list(args), cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)


def hostvars(out, host):
    """--list's hostvars of ``host``; strings from an inventory plugin are marked unsafe (never templated)."""
    hv = json.loads(out.stdout)['_meta']['hostvars'][host]
    return {k: v['__ansible_unsafe'] if isinstance(v, dict) and '__ansible_unsafe' in v else v for k, v in hv.items()}


@pytest.mark.skipif(not os.path.exists(ANSIBLE_INVENTORY), reason='ansible-inventory is not next to this python')
@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='the running check reads /proc')
def test_default_inventory_gives_devvm_its_connection(tmp_path, fake_qemu):
    state = tmp_path / 'vms'
    fake_qemu(make_vm(state, 'devvm', 40022))
    out = ansible_inventory(state, '--list')
    inv = json.loads(out.stdout)
    hv = hostvars(out, 'devvm')
    # the static entry (hosts.yml) and the plugin's connection variables, on one host
    assert hv['labkit_vm_create'] is True and hv['soft_roce_links'] == [{'name': 'rxe0', 'netdev': None}]
    assert (hv['ansible_host'], hv['ansible_port'], hv['ansible_user']) == ('127.0.0.1', 40022, 'root')
    assert hv['ansible_ssh_private_key_file'] == str(state / 'devvm' / 'id_ed25519')
    assert hv['labkit_vm_running'] is True
    assert inv['labkit_vms']['hosts'] == ['devvm'] and inv['labkit_local_vms']['hosts'] == ['devvm']
    assert 'stopped' not in inv and 'not running' not in out.stderr


@pytest.mark.skipif(not os.path.exists(ANSIBLE_INVENTORY), reason='ansible-inventory is not next to this python')
def test_default_inventory_with_a_stopped_vm_and_without_any(tmp_path):
    state = tmp_path / 'vms'
    make_vm(state, 'devvm', 40022)
    out = ansible_inventory(state, '--list')
    assert json.loads(out.stdout)['stopped']['hosts'] == ['devvm']
    assert 'devvm is not running' in out.stderr and 'ansible-playbook playbooks/dev-vm.yml' in out.stderr
    hv = hostvars(out, 'devvm')
    assert (hv['labkit_vm_running'], hv['ansible_port']) == (False, 40022)
    # no VM made yet (dev-vm.yml's first run): devvm is there from hosts.yml, without a connection, no warning
    out = ansible_inventory(tmp_path / 'none', '--list')
    hv = hostvars(out, 'devvm')
    assert 'ansible_port' not in hv and hv['labkit_vm_create'] is True
    assert 'WARNING' not in out.stderr


def test_documentation_names_every_option_the_plugin_reads():
    import re
    doc = yaml.safe_load(local_vms.DOCUMENTATION)
    assert doc['name'] == 'local_vms' and yaml.safe_load(local_vms.EXAMPLES)
    with open(local_vms.__file__) as f:
        used = set(re.findall(r"get_option\('(\w+)'\)", f.read()))
    assert used and used <= set(doc['options'])
    assert all(o.get('description') and o.get('type') for o in doc['options'].values())
