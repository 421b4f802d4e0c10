# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import snapshot as snap

BASE = '/c/images/bookworm-amd64-0123456789abcdef/disk.qcow2'
ENTRY = 'bookworm-amd64-0123456789abcdef'
KEY = 'fedcba9876543210'
SNAP = '/c/images/%s-conv-%s.qcow2' % (ENTRY, KEY)


def _tree(tmp_path):
    (tmp_path / 'roles' / 'r' / 'tasks').mkdir(parents=True)
    (tmp_path / 'roles' / 'r' / 'tasks' / 'main.yml').write_text('- debug: {}\n')
    (tmp_path / 'plugins' / 'modules' / '__pycache__').mkdir(parents=True)
    (tmp_path / 'plugins' / 'modules' / 'm.py').write_text('print(1)\n')
    return tmp_path


def test_tree_digest_follows_the_content_of_roles_and_plugins(tmp_path):
    root = _tree(tmp_path)
    first = snap.tree_digest(str(root))
    assert first == snap.tree_digest(str(root))
    (root / 'plugins' / 'modules' / '__pycache__' / 'm.cpython-311.pyc').write_bytes(b'\0')
    (root / 'roles' / 'r' / 'tasks' / '.main.yml.swp').write_text('x')
    (root / 'docs').mkdir()
    (root / 'docs' / 'x.md').write_text('not part of the converge')
    assert snap.tree_digest(str(root)) == first
    (root / 'roles' / 'r' / 'tasks' / 'main.yml').write_text('- debug: {msg: changed}\n')
    assert snap.tree_digest(str(root)) != first


def test_tree_digest_counts_a_renamed_file(tmp_path):
    root = _tree(tmp_path)
    first = snap.tree_digest(str(root))
    (root / 'plugins' / 'modules' / 'm.py').rename(root / 'plugins' / 'modules' / 'n.py')
    assert snap.tree_digest(str(root)) != first


def test_role_inputs_keeps_only_the_converge_roles_variables():
    got = snap.role_inputs({'ebpf_host_memlock': 'unlimited', 'soft_roce_links': [{'name': 'rxe0'}],
                            'labkit_goproxy': '', 'ebpf_toolchain_go_version': '1.27.3',
                            'local_vm_cpus': 2, 'ansible_port': 22, 'project_build_vet': True})
    assert sorted(got) == ['ebpf_host_memlock', 'ebpf_toolchain_go_version', 'labkit_goproxy', 'soft_roce_links']


def test_role_inputs_leave_out_state_and_facts():
    got = snap.role_inputs({'labkit_vm_running': True, 'labkit_vm_state_dir': '/s', 'labkit_ebpf': {},
                            'labkit_memlock_applied': {}, 'labkit_memlock': '64M'})
    assert got == {'labkit_memlock': '64M'}


def test_snapshot_key_is_stable_and_changes_with_every_input():
    args = dict(base_entry=ENTRY, tree='t' * 64, inputs={'a_x': 1, 'b_y': [1, 2]},
                controller={'go_env': {'GOPROXY': 'https://proxy.invalid'}}, disk_size='20G')
    key = snap.snapshot_key(**args)
    assert len(key) == 16 and int(key, 16) >= 0
    same = dict(args)
    same['inputs'] = {'b_y': [1, 2], 'a_x': 1}
    assert snap.snapshot_key(**same) == key
    for name, value in (('base_entry', 'trixie-amd64-0123456789abcdef'), ('tree', 'u' * 64),
                        ('inputs', {'a_x': 2, 'b_y': [1, 2]}), ('controller', {'go_env': {'GOPROXY': 'direct'}}),
                        ('disk_size', '40G')):
        changed = dict(args)
        changed[name] = value
        assert snap.snapshot_key(**changed) != key, name


def test_names_parse_back():
    name = snap.snapshot_name(ENTRY, KEY)
    assert name == '%s-conv-%s' % (ENTRY, KEY)
    assert snap.parse_name(name + '.qcow2') == (ENTRY, KEY, 'qcow2')
    assert snap.parse_name(name + '.json') == (ENTRY, KEY, 'json')
    assert snap.parse_name(ENTRY) is None
    assert snap.parse_name(name + '.lock') is None
    assert snap.parse_name('.build-%s-123.qcow2' % name) is None


def test_manifest_must_name_the_key_and_the_base():
    text = snap.manifest_text(KEY, ENTRY, BASE, {'labkit_x': 1}, {}, 't', '20G', '2026-01-01T00:00:00Z')
    data = json.loads(text)
    assert data['key'] == KEY and data['base_entry'] == ENTRY and data['inputs'] == {'labkit_x': 1}
    assert snap.manifest_valid(text, KEY, ENTRY)
    assert not snap.manifest_valid(text, '0' * 16, ENTRY)
    assert not snap.manifest_valid(text, KEY, 'trixie-amd64-0123456789abcdef')
    assert not snap.manifest_valid('', KEY, ENTRY) and not snap.manifest_valid('{"key"', KEY, ENTRY)
    assert not snap.manifest_valid('[]', KEY, ENTRY)


def test_gather_snapshots_pairs_the_disk_and_the_manifest():
    names = [ENTRY, '%s-conv-%s.qcow2' % (ENTRY, KEY), '%s-conv-%s.json' % (ENTRY, KEY),
             '%s-conv-%s.qcow2' % (ENTRY, '1' * 16), '%s-conv.lock' % ENTRY]
    got = snap.gather_snapshots(names)
    assert got == {(ENTRY, KEY): {'qcow2': True, 'json': True}, (ENTRY, '1' * 16): {'qcow2': True, 'json': False}}


def test_plan_create():
    assert snap.plan_create(True, True, True, True)[0] == 'skip'
    assert snap.plan_create(False, True, False, True)[0] == 'create'
    what, why = snap.plan_create(False, True, True, True)
    assert what == 'refuse' and 'running guest' in why
    assert snap.plan_create(False, False, False, False)[0] == 'refuse'
    assert snap.plan_create(False, True, False, False)[0] == 'refuse'


def _n(key):
    return snap.snapshot_name(ENTRY, key)


def test_prune_keeps_the_newest_the_current_and_those_in_use():
    snaps = [(_n('1' * 16), 100), (_n('2' * 16), 200), (_n('3' * 16), 300), (_n('4' * 16), 400)]
    assert snap.plan_prune(snaps, ENTRY, 2, set(), _n('4' * 16)) == [_n('2' * 16), _n('1' * 16)]
    assert snap.plan_prune(snaps, ENTRY, 2, set([_n('1' * 16)]), _n('4' * 16)) == [_n('2' * 16)]
    # the current one stays even when it is not among the newest
    assert _n('1' * 16) not in snap.plan_prune(snaps, ENTRY, 1, set(), _n('1' * 16))
    assert snap.plan_prune(snaps, ENTRY, 10, set(), _n('4' * 16)) == []


def test_prune_never_touches_another_base_entry():
    other = snap.snapshot_name('trixie-amd64-0123456789abcdef', '5' * 16)
    assert snap.plan_prune([(other, 1), (_n('1' * 16), 2)], ENTRY, 1, set(), _n('1' * 16)) == []


def test_backing_names_come_from_the_vms_records():
    records = [{'config': {'disk': SNAP}}, {'config': {'disk': BASE}}, {}, None, {'config': None}]
    assert snap.backing_names(records) == set([_n(KEY)])


def test_is_snapshot_of():
    assert snap.is_snapshot_of(SNAP, BASE)
    assert not snap.is_snapshot_of(SNAP, '/c/images/trixie-amd64-0123456789abcdef/disk.qcow2')
    assert not snap.is_snapshot_of('/elsewhere/%s-conv-%s.qcow2' % (ENTRY, KEY), BASE)
    assert not snap.is_snapshot_of(BASE, BASE) and not snap.is_snapshot_of('', BASE)


def test_choose_disk_new_vm_boots_the_snapshot():
    disk, from_snap, note = snap.choose_disk(False, None, BASE, SNAP, True)
    assert (disk, from_snap) == (SNAP, True) and 'created on the converged snapshot' in note


def test_choose_disk_without_a_usable_snapshot_uses_the_base():
    assert snap.choose_disk(False, None, BASE, SNAP, False)[:2] == (BASE, False)
    assert snap.choose_disk(False, None, BASE, '', True) == (BASE, False, '')


def test_choose_disk_an_existing_vm_keeps_its_overlay():
    disk, from_snap, note = snap.choose_disk(True, BASE, BASE, SNAP, True)
    assert (disk, from_snap) == (BASE, False) and 'keeps its overlay' in note
    older = '/c/images/%s-conv-%s.qcow2' % (ENTRY, '9' * 16)
    assert snap.choose_disk(True, older, BASE, SNAP, True)[:2] == (older, True)
    assert snap.choose_disk(True, SNAP, BASE, '', False)[:2] == (SNAP, True)
