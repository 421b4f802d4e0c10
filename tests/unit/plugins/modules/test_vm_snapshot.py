# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import vm_snapshot

from conftest import FakeCommands

ENTRY = 'bookworm-amd64-0123456789abcdef'
GO_ENV = json.dumps({'GOPROXY': 'https://proxy.golang.org,direct', 'GOSUMDB': 'sum.golang.org', 'GOPRIVATE': '',
                     'GONOSUMDB': '', 'GONOPROXY': '', 'GOFLAGS': ''})


class World(object):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.images = tmp_path / 'cache' / 'images'
        (self.images / ENTRY).mkdir(parents=True)
        self.base = self.images / ENTRY / 'disk.qcow2'
        self.base.write_text('base')
        self.coll = tmp_path / 'coll'
        (self.coll / 'roles' / 'r').mkdir(parents=True)
        (self.coll / 'roles' / 'r' / 'main.yml').write_text('a\n')
        (self.coll / 'plugins').mkdir()
        self.vms = tmp_path / 'vms'
        self.state = self.vms / 'devvm'
        self.state.mkdir(parents=True)
        (self.state / 'disk.qcow2').write_text('overlay')
        self.goproxy = GO_ENV

    def args(self, **kw):
        a = dict(name='devvm', base_disk=str(self.base), collection_dir=str(self.coll),
                 inputs={'labkit_memlock': 'unlimited', 'local_vm_cpus': 2}, state_dir=str(self.state))
        a.update(kw)
        return a

    def commands(self):
        def convert(argv, **kw):
            with open(argv[-1], 'w') as f:
                f.write('converged from ' + argv[-2])
            return 0, '', ''
        return FakeCommands({
            lambda a: a[0].endswith('/go') and a[1] == 'env': lambda a, **kw: (0, self.goproxy, ''),
            lambda a: a[0].endswith('qemu-img') and a[1] == 'convert': convert,
        })


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def test_query_finds_nothing_then_present_keeps_the_disk(module_runner, world):
    q = module_runner(vm_snapshot, world.args(), commands=world.commands())
    assert q['changed'] is False and q['exists'] is False and q['base_entry'] == ENTRY
    assert q['snapshot'] == str(world.images / ('%s-conv-%s.qcow2' % (ENTRY, q['key'])))
    assert q['inputs'] == {'labkit_memlock': 'unlimited'}  # other prefixes are not inputs of the converge
    assert q['controller']['go_env']['GOPROXY'] == 'https://proxy.golang.org,direct'
    cmds = world.commands()
    res = module_runner(vm_snapshot, world.args(state='present'), commands=cmds, diff=True)
    assert res['changed'] is True and res['exists'] is True and res['key'] == q['key']
    argv = cmds.ran('/usr/bin/qemu-img', 'convert')[0]
    assert argv[argv.index('-B') + 1] == str(world.base) and argv[-2] == str(world.state / 'disk.qcow2')
    assert open(res['snapshot']).read() == 'converged from %s' % (world.state / 'disk.qcow2')
    manifest = json.loads(open(res['manifest']).read())
    assert manifest['key'] == q['key'] and manifest['base_entry'] == ENTRY and manifest['base_disk'] == str(world.base)
    assert [d['after_header'] for d in res['diff']] == [res['manifest']]
    assert not [n for n in os.listdir(str(world.images)) if n.startswith('.build-')]
    again = module_runner(vm_snapshot, world.args(state='present'), commands=world.commands())
    assert again['changed'] is False and again['exists'] is True
    assert module_runner(vm_snapshot, world.args(), commands=world.commands())['exists'] is True


def test_check_mode_writes_nothing(module_runner, world):
    cmds = world.commands()
    res = module_runner(vm_snapshot, world.args(state='present'), commands=cmds, check_mode=True)
    assert res['changed'] is True and res['exists'] is False and len(res['actions']) == 2
    assert cmds.ran('/usr/bin/qemu-img') == []
    assert sorted(os.listdir(str(world.images))) == [ENTRY]


def test_a_changed_role_or_input_makes_another_key(module_runner, world):
    key = module_runner(vm_snapshot, world.args(), commands=world.commands())['key']
    assert module_runner(vm_snapshot, world.args(inputs={'labkit_memlock': '64M'}), commands=world.commands())['key'] != key
    world.goproxy = GO_ENV.replace('proxy.golang.org', 'goproxy.invalid')
    assert module_runner(vm_snapshot, world.args(), commands=world.commands())['key'] != key
    world.goproxy = GO_ENV
    (world.coll / 'roles' / 'r' / 'main.yml').write_text('b\n')
    assert module_runner(vm_snapshot, world.args(), commands=world.commands())['key'] != key


def test_a_snapshot_without_its_manifest_does_not_count(module_runner, world):
    q = module_runner(vm_snapshot, world.args(), commands=world.commands())
    open(q['snapshot'], 'w').write('interrupted')
    assert module_runner(vm_snapshot, world.args(), commands=world.commands())['exists'] is False
    res = module_runner(vm_snapshot, world.args(state='present'), commands=world.commands())
    assert res['changed'] and open(q['snapshot']).read().startswith('converged from')


def test_a_running_vm_is_never_copied(module_runner, world, monkeypatch):
    monkeypatch.setattr(vm_snapshot, 'vm_running', lambda state_dir: True)
    cmds = world.commands()
    res = module_runner(vm_snapshot, world.args(state='present'), commands=cmds)
    assert res['failed'] and 'running guest' in res['msg'] and 'Nothing was written' in res['msg']
    assert cmds.ran('/usr/bin/qemu-img') == []


def test_a_live_pid_that_is_not_the_vms_qemu_is_not_running(world):
    (world.state / 'qemu.pid').write_text('%d\n' % os.getpid())
    assert vm_snapshot.vm_running(str(world.state)) is False
    assert vm_snapshot.vm_running(str(world.tmp / 'nowhere')) is False


def test_prune_keeps_the_newest_and_those_a_vm_runs_on(module_runner, world):
    old = []
    for i, key in enumerate(('1' * 16, '2' * 16, '3' * 16)):
        name = '%s-conv-%s' % (ENTRY, key)
        (world.images / (name + '.qcow2')).write_text('old')
        (world.images / (name + '.json')).write_text(json.dumps({'key': key, 'base_entry': ENTRY}))
        os.utime(str(world.images / (name + '.qcow2')), (1000 + i, 1000 + i))
        old.append(name)
    other = world.vms / 'othervm'
    other.mkdir()
    (other / 'vm.json').write_text(json.dumps({'name': 'othervm', 'config': {'disk': str(world.images / (old[0] + '.qcow2'))}}))
    res = module_runner(vm_snapshot, world.args(state='present', keep=2), commands=world.commands())
    assert res['pruned'] == [old[1]]  # newest two: the new one and old[2]; old[0] backs othervm
    names = os.listdir(str(world.images))
    assert old[1] + '.qcow2' not in names and old[1] + '.json' not in names
    assert old[0] + '.qcow2' in names and old[2] + '.qcow2' in names


def test_bad_keep_and_collection_dir_fail_with_the_fix(module_runner, world):
    res = module_runner(vm_snapshot, world.args(keep=0), commands=world.commands())
    assert res['failed'] and 'local_vm_snapshot_keep' in res['msg']
    res = module_runner(vm_snapshot, world.args(collection_dir=str(world.tmp)), commands=world.commands())
    assert res['failed'] and 'no roles/ directory' in res['msg']


def test_without_go_the_key_still_comes(module_runner, world):
    res = module_runner(vm_snapshot, world.args(), commands=FakeCommands(), bins={'go': None})
    assert res['exists'] is False and 'go_env' not in res['controller']
