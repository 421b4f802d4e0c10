# SPDX-License-Identifier: GPL-3.0-or-later
"""The fabric inventory picks point to point (two nodes) or the switch (more), and the fabric
role's switch entry point, imported as dev-vm.yml and vm-destroy.yml import it, starts the real
switch for the inventory's nodes and removes it. ansible-playbook on localhost; no VM, no QEMU."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

from conftest import ROOT
from playbook_runner import ansible_playbook

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric_switch as fs


def _import(playbook):
    with open(os.path.join(ROOT, 'playbooks', playbook)) as f:
        plays = yaml.safe_load(f)
    for key in ('pre_tasks', 'post_tasks'):
        for task in plays[0].get(key, []):
            if task.get('ansible.builtin.import_role', {}).get('tasks_from') == 'switch.yml':
                return task
    raise AssertionError('%s imports no fabric switch' % playbook)


@pytest.fixture
def state():
    path = tempfile.mkdtemp(prefix='fsp', dir='/tmp')  # short: socket paths
    yield path
    pid = fs.pidfile_holder(os.path.join(path, 'labkit-ebpf_rdma', 'fabric', 'labkit_fabric.pid'))
    if pid:
        os.kill(pid, 9)
    shutil.rmtree(path, ignore_errors=True)


def run(tmp_path, state, nodes, tasks, extra=()):
    tmp_path = tmp_path / ('run%d' % len(list(tmp_path.iterdir())))
    tmp_path.mkdir()
    inv = tmp_path / 'inv'
    shutil.copytree(os.path.join(ROOT, 'inventories', 'fabric', 'group_vars'), str(inv / 'group_vars'))
    hosts = {'all': {'children': {'labkit_vms': {'children': {'labkit_fabric': {'hosts': {
        'fabnode[1:%d]' % nodes: None}}}}}}}
    (inv / 'hosts.yml').write_text(yaml.safe_dump(hosts))
    out = tmp_path / 'out'
    out.mkdir()
    plays = [{'name': 'wiring', 'hosts': 'labkit_vms', 'gather_facts': False, 'tasks': tasks(str(out))}]
    book = tmp_path / 'play.yml'
    book.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), XDG_STATE_HOME=state,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'collections'), ANSIBLE_NOCOLOR='1')
    argv = [ansible_playbook(), '-i', str(inv), '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable,
            str(book)] + list(extra)
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, out


def fabric_of(out_dir):
    return [{'name': 'record local_vm_fabric', 'delegate_to': 'localhost', 'ansible.builtin.copy': {
        'content': '{{ local_vm_fabric | to_json }}', 'dest': out_dir + '/{{ inventory_hostname }}.json',
        'mode': '0600'}}]


@pytest.mark.parametrize('nodes, extra, switched', [(2, [], False), (3, [], True), (2, ['-e', 'labkit_fabric_switch=true'], True)])
def test_inventory_picks_point_to_point_or_the_switch(tmp_path, state, nodes, extra, switched):
    proc, out = run(tmp_path, state, nodes, fabric_of, extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    sock = os.path.join(state, 'labkit-ebpf_rdma', 'fabric')
    names = ['fabnode%d' % i for i in range(1, nodes + 1)]
    for name in names:
        links = json.loads((out / (name + '.json')).read_text())
        want = (os.path.join(sock, 'port-%s.sock' % name) if switched
                else os.path.join(sock, '%s.sock' % [n for n in names if n != name][0]))
        assert links == [{'local': os.path.join(sock, name + '.sock'), 'remote': want}]
        assert links[0]['remote'] == (fs.port_socket(sock, name) if switched else want)


@pytest.mark.parametrize('nodes, extra, message', [
    (1, [], 'a fabric needs two nodes or more'),
    (3, ['-e', 'labkit_fabric_switch=false'], 'a QEMU dgram segment joins exactly two VMs'),
])
def test_inventory_refuses_what_it_cannot_wire(tmp_path, state, nodes, extra, message):
    proc, _out = run(tmp_path, state, nodes, fabric_of, extra)
    assert proc.returncode != 0 and message in proc.stdout, proc.stdout[-3000:]


def test_dev_vm_starts_and_vm_destroy_removes_the_switch_of_three_nodes(tmp_path, state):
    start, destroy = _import('dev-vm.yml'), _import('vm-destroy.yml')
    pidfile = os.path.join(state, 'labkit-ebpf_rdma', 'fabric', 'labkit_fabric.pid')

    def tasks(out_dir):
        return [start, {'name': 'record the pid', 'delegate_to': 'localhost', 'run_once': True,
                        'ansible.builtin.copy': {'content': "{{ hostvars['fabnode1'].__fabric_switch.pid }}",
                                                 'dest': out_dir + '/pid', 'mode': '0600'}}]

    proc, out = run(tmp_path, state, 3, tasks)
    assert proc.returncode == 0, proc.stdout[-4000:]
    pid = int((out / 'pid').read_text())
    assert fs.pidfile_holder(pidfile) == pid
    with open(os.path.join(state, 'labkit-ebpf_rdma', 'fabric', 'labkit_fabric.json')) as f:
        ports = json.load(f)['ports']
    assert [p['name'] for p in ports] == ['fabnode1', 'fabnode2', 'fabnode3']
    assert ports[2]['node_socket'] == os.path.join(state, 'labkit-ebpf_rdma', 'fabric', 'fabnode3.sock')
    assert 'changed: [fabnode1 -> localhost]' in proc.stdout and 'fabnode2 -> localhost' not in proc.stdout

    # again: unchanged
    proc, out = run(tmp_path, state, 3, tasks)
    assert proc.returncode == 0 and int((out / 'pid').read_text()) == pid
    assert 'ok: [fabnode1 -> localhost]' in proc.stdout

    # vm-destroy limited to one node keeps the switch of the others
    proc, _out = run(tmp_path, state, 3, lambda out_dir: [destroy], ['--limit', 'fabnode3'])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert fs.pidfile_holder(pidfile) == pid
    # all of them: gone
    proc, _out = run(tmp_path, state, 3, lambda out_dir: [destroy])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert fs.pidfile_holder(pidfile) is None
    assert os.listdir(os.path.join(state, 'labkit-ebpf_rdma', 'fabric')) == []


def test_dev_vm_leaves_a_two_node_fabric_point_to_point(tmp_path, state):
    start = _import('dev-vm.yml')
    proc, _out = run(tmp_path, state, 2, lambda out_dir: [start])
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'ok: [fabnode1 -> localhost]' in proc.stdout
    assert not os.path.exists(os.path.join(state, 'labkit-ebpf_rdma', 'fabric', 'labkit_fabric.pid'))
