# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/module_utils/gosuites.py: build constraints, the tree, the suites found and the hardware env.

Layouts: the collection's fixture project (tests/fixtures/rdma-ebpf-project: ./integration behind
//go:build integration) and small ones written in tmp_path by :func:`layout` (the issue-20 kind:
no ./integration, hardware tests that skip without a device).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import gosuites as gs

from conftest import ROOT

FIXTURE_PROJECT = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')

SKIPPING_HW_TEST = '''package probe

import (
\t"os"
\t"testing"
)

func TestOpenDevice(t *testing.T) {
\tif os.Getenv("LABKIT_RDMA_DEVICE") == "" {
\t\tt.Skip("no RDMA device")
\t}
}
'''


def layout(root, files, module='example.invalid/agent'):
    """Write a Go module: ``files`` maps a relative path to its text."""
    (root / 'go.mod').write_text('module %s\n\ngo 1.22\n' % module)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return gs.scan_tree(str(root))


NO_INTEGRATION = {
    'cmd/agent/main.go': 'package main\n\nfunc main() {}\n',
    'internal/agent/controller_client/client.go': 'package controller_client\n',
    'internal/agent/controller_client/client_test.go': 'package controller_client\n',
    'internal/hardware/probe/probe.go': '//go:build linux\n\npackage probe\n',
    'internal/hardware/probe/probe_test.go': SKIPPING_HW_TEST,
    'internal/hardware/probe/testdata/x_test.go': '//go:build integration\n\npackage x\n',
}


@pytest.mark.parametrize('expr, tag, needed', [
    ('integration', 'integration', True),
    ('!integration', 'integration', False),
    ('linux && integration', 'integration', True),
    ('integration || e2e', 'integration', True),
    ('(linux || darwin) && (integration && cgo)', 'integration', True),
    ('amd64 && integration', 'integration', True),     # one of the two architectures
    ('windows && integration', 'integration', False),
    ('linux', 'integration', False),
    ('e2e', 'integration', False),
    ('go1.21 && e2e', 'e2e', True),
    ('', 'integration', False),
])
def test_needs_tag(expr, tag, needed):
    assert gs.needs_tag(expr, tag) is needed


def test_bad_constraint_is_an_error():
    with pytest.raises(gs.ConstraintError):
        gs.parse_constraint('integration &&')
    with pytest.raises(gs.ConstraintError):
        gs.parse_constraint('(integration')


def test_header_constraint():
    assert gs.header_constraint('// Copyright\n\n//go:build integration\n\npackage x\n') == 'integration'
    # only before the package clause
    assert gs.header_constraint('package x\n\n//go:build integration\n') == ''
    assert gs.header_constraint('/* licence\n   text */\n//go:build e2e && linux\npackage x\n') == 'e2e && linux'
    # the old form: lines AND, spaces OR, commas AND
    expr = gs.header_constraint('// +build linux,integration e2e\n// +build !windows\n\npackage x\n')
    assert gs.needs_tag(expr, 'integration') and gs.needs_tag(expr, 'e2e')
    assert not gs.needs_tag(gs.header_constraint('// +build !integration\n\npackage x\n'), 'integration')


def test_fixture_project_has_an_integration_suite():
    tree = gs.scan_tree(FIXTURE_PROJECT)
    assert tree['module'] == 'example.invalid/rdmaebpf'
    assert sorted(tree['dirs']) == ['cmd/qpwatch', 'integration', 'qpmon', 'qpstate', 'verbs']
    suites, found, notes, errors = gs.plan_suites(tree)
    assert errors == [] and notes == []
    assert [(s['name'], s['packages'], s['tags'], s['timeout'], s['hardware']) for s in suites] == [
        ('unit', ['./...'], [], '5m', False),
        ('integration', ['./integration/...'], ['integration'], '10m', True)]
    assert found == {'integration': {'tagged': ['./integration'], 'tree': True},
                     'e2e': {'tagged': [], 'tree': False}}


def test_project_without_integration_runs_unit_with_the_hardware_env(tmp_path):
    """Issue 20: no ./integration, no tag: unit only, with the hardware environment and a note."""
    tree = layout(tmp_path, NO_INTEGRATION)
    # testdata is not a package (go's ./... rule), so its tagged file does not count
    assert 'internal/hardware/probe/testdata' not in tree['dirs']
    suites, found, notes, errors = gs.plan_suites(tree)
    assert errors == []
    assert [(s['name'], s['packages'], s['tags'], s['hardware']) for s in suites] == [
        ('unit', ['./...'], [], True)]
    assert len(notes) == 1 and notes[0].startswith('no separate integration suite was found')
    assert 'integration or e2e' in notes[0] and 'LABKIT_RDMA_' in notes[0]


def test_tagged_packages_anywhere_make_a_suite_per_tag(tmp_path):
    tree = layout(tmp_path, dict(NO_INTEGRATION, **{
        'test/e2e/cluster_test.go': '//go:build e2e\n\npackage e2e\n',
        'internal/hardware/probe/rdma_integration_test.go': '//go:build integration && linux\n\npackage probe\n',
        'internal/hardware/probe/rdma_windows_test.go': '//go:build e2e\n\npackage probe\n',  # not on Linux
        '_scratch/x_test.go': '//go:build e2e\n\npackage x\n',
        'vendor/v/v_test.go': '//go:build e2e\n\npackage v\n',
        'nested/go.mod': 'module other\n',
        'nested/n_test.go': '//go:build integration\n\npackage n\n',
    }))
    suites, found, notes, errors = gs.plan_suites(tree)
    assert errors == [] and notes == []
    assert [(s['name'], s['packages'], s['tags'], s['hardware']) for s in suites] == [
        ('unit', ['./...'], [], False),
        ('integration', ['./internal/hardware/probe'], ['integration'], True),
        ('e2e', ['./test/e2e'], ['e2e'], True)]


def test_integration_tree_without_a_tag(tmp_path):
    tree = layout(tmp_path, {'a/a.go': 'package a\n', 'integration/flow/flow_test.go': 'package flow\n'})
    suites = gs.plan_suites(tree)[0]
    assert [(s['name'], s['packages'], s['tags']) for s in suites] == [
        ('unit', ['./...'], []), ('integration', ['./integration/...'], [])]


@pytest.mark.parametrize('pattern, dirs', [
    ('./...', ['', 'a', 'a/b', 'integration']),
    ('./a/...', ['a', 'a/b']),
    ('./a', ['a']),
    ('.', ['']),
    ('example.invalid/m/a/...', ['a', 'a/b']),
    ('example.invalid/m', ['']),
    ('./.../b', ['a/b']),
    ('./integ/...', []),
])
def test_resolve_pattern(pattern, dirs):
    tree = {'module': 'example.invalid/m', 'dirs': {'': [], 'a': [], 'a/b': [], 'integration': []}}
    assert gs.resolve_pattern(pattern, tree['module'], tree['dirs']) == (dirs, None)


def test_resolve_pattern_outside_the_module():
    dirs = {'': []}
    assert gs.resolve_pattern('fmt', 'example.invalid/m', dirs)[1].startswith('it is neither relative')
    assert gs.resolve_pattern('./../x', 'example.invalid/m', dirs)[1] == 'it leaves the module directory'


def test_configured_suites_are_checked_and_filled_in():
    tree = gs.scan_tree(FIXTURE_PROJECT)
    suites, found, notes, errors = gs.plan_suites(tree, configured=[
        {'name': 'fast', 'packages': ['./qpstate', 'example.invalid/rdmaebpf/verbs'], 'hardware': False},
        {'name': 'hw', 'packages': ['./integration/...'], 'tags': ['integration'], 'timeout': '20m',
         'env': {'X': '1'}, 'user': 'nobody'}])
    assert errors == []
    assert notes == ['suites from project_test_suites: fast, hw']
    assert suites[0] == {'name': 'fast', 'packages': ['./qpstate', 'example.invalid/rdmaebpf/verbs'], 'tags': [],
                         'run': '', 'timeout': '10m', 'env': {}, 'user': None, 'hardware': False}
    assert (suites[1]['timeout'], suites[1]['user'], suites[1]['hardware']) == ('20m', 'nobody', True)


def test_selection_only_packages_run_extra_tags():
    tree = gs.scan_tree(FIXTURE_PROJECT)
    suites = gs.plan_suites(tree, only=['integration'], packages=['./integration'], run='TestKprobe',
                            extra_tags=['debug', 'integration'])[0]
    assert [(s['name'], s['packages'], s['run'], s['tags']) for s in suites] == [
        ('integration', ['./integration'], 'TestKprobe', ['integration', 'debug'])]


# ------------------------------------------------------------ hardware environment

@pytest.fixture
def rdma(module_runner, rxe_tree):
    """labkit_rdma facts of the captured VM (rxe0 on ens3 with GID 1 = ::ffff:10.0.2.15, rxe1 on dummy0)."""
    from ansible_collections.labkit.ebpf_rdma.plugins.modules import rdma_facts
    from conftest import FakeCommands, fixture_text
    (rxe_tree / 'sys/module/rdma_rxe').mkdir(parents=True)
    cmds = FakeCommands({('/usr/bin/rdma', '-j', 'link', 'show'):
                         (0, fixture_text('rdma/rdma-link-show-rxe0-rxe1.json'), '')})
    result = module_runner(rdma_facts, {'ibv_devinfo': False}, commands=cmds)
    return result['ansible_facts']['labkit_rdma']


def test_hardware_env_from_rdma_facts(rdma):
    assert gs.hardware_env(rdma, 'rxe0', 0) == (
        {'LABKIT_RDMA_DEVICE': 'rxe0', 'LABKIT_RDMA_NETDEV': 'ens3', 'LABKIT_RDMA_GID_INDEX': '1'}, [])
    assert gs.hardware_env(rdma, 'rxe1', 0)[0]['LABKIT_RDMA_NETDEV'] == 'dummy0'
    # no device named: the first with an ACTIVE port
    assert gs.hardware_env(rdma, '', 0)[0]['LABKIT_RDMA_DEVICE'] == 'rxe0'


def test_hardware_env_device_missing_or_none(rdma):
    env, notes = gs.hardware_env(rdma, 'rxe7', 0)
    assert env == {'LABKIT_RDMA_DEVICE': 'rxe7'}
    assert notes == ['RDMA device rxe7 is not on the host (rdma_facts lists rxe0, rxe1): LABKIT_RDMA_NETDEV '
                     'and LABKIT_RDMA_GID_INDEX are not set']
    env, notes = gs.hardware_env({}, '', 0)
    assert env == {} and 'no RDMA device with an ACTIVE port' in notes[0]


def test_hardware_env_without_ipv4_gid(rdma):
    rdma['devices']['rxe0']['ports'][0]['ipv4_gid_index'] = None  # an rxe netdev without an IPv4 address
    env, notes = gs.hardware_env(rdma, 'rxe0', 0)
    assert 'LABKIT_RDMA_GID_INDEX' not in env and 'give ens3 an IPv4 address' in notes[0]


def test_suite_env_root_and_own_env():
    hw = {'LABKIT_RDMA_DEVICE': 'rxe0'}
    hw_suite = gs.normalise({'name': 'i', 'env': {'LABKIT_RDMA_DEVICE': 'mine'}})
    assert gs.suite_env(hw_suite, hw, 0) == {'LABKIT_RDMA_DEVICE': 'mine', 'LABKIT_ROOT': '1'}
    assert gs.suite_env(dict(hw_suite, user='nobody'), hw, 0)['LABKIT_ROOT'] == '0'
    assert gs.suite_env(hw_suite, hw, 1000)['LABKIT_ROOT'] == '0'
    assert 'LABKIT_ROOT' not in gs.suite_env(hw_suite, hw, None)
    assert gs.suite_env(gs.normalise({'name': 'u', 'hardware': False}), hw, 0) == {}


# ------------------------------------------------------------ fabric environment (LABKIT_FABRIC_*)

def _fabric_node(name, index, address, gid):
    """A fabric_node fact as role fabric's node.json.j2 writes it (the fields the environment reads)."""
    return {'node': name, 'index': index, 'address': address, 'prefixlen': 24, 'netdev': 'ens5',
            'mac': '02:00:00:00:00:0%d' % index, 'link': 'up', 'rxe': 'rxe1', 'state': 'ACTIVE',
            'gid_index': 1, 'gid': gid, 'active_mtu': 1024}


FAB1 = _fabric_node('fabnode1', 1, '10.77.0.1', '0000:0000:0000:0000:0000:ffff:0a4d:0001')
FAB2 = _fabric_node('fabnode2', 2, '10.77.0.2', '0000:0000:0000:0000:0000:ffff:0a4d:0002')


def test_fabric_env_from_fabric_node_facts():
    fabric = {'self': 'fabnode2', 'rxe': 'rxe1',
              'nodes': [{'name': 'fabnode1', 'node': FAB1, 'rdma': {}}, {'name': 'fabnode2', 'node': FAB2, 'rdma': {}}]}
    env, notes = gs.fabric_env(fabric)
    assert notes == []
    assert sorted(env) == ['LABKIT_FABRIC_DEVICE', 'LABKIT_FABRIC_NODES', 'LABKIT_FABRIC_SELF']
    assert env['LABKIT_FABRIC_SELF'] == 'fabnode2' and env['LABKIT_FABRIC_DEVICE'] == 'rxe1'
    assert json.loads(env['LABKIT_FABRIC_NODES']) == [
        {'name': 'fabnode1', 'address': '10.77.0.1', 'device': 'rxe1',
         'gid': '0000:0000:0000:0000:0000:ffff:0a4d:0001', 'gid_index': 1},
        {'name': 'fabnode2', 'address': '10.77.0.2', 'device': 'rxe1',
         'gid': '0000:0000:0000:0000:0000:ffff:0a4d:0002', 'gid_index': 1}]


def test_fabric_env_absent_off_the_fabric():
    assert gs.fabric_env({}) == ({}, [])
    assert gs.fabric_env({'self': 'vm1', 'rxe': 'rxe1', 'nodes': []}) == ({}, [])
    # a host that is not one of the nodes (another group's host in the same play)
    fabric = {'self': 'vm1', 'rxe': 'rxe1', 'nodes': [{'name': 'fabnode1', 'node': FAB1, 'rdma': {}}]}
    assert gs.fabric_env(fabric) == ({}, [])


def test_fabric_env_single_node_in_the_play():
    env, notes = gs.fabric_env({'self': 'fabnode1', 'rxe': 'rxe1',
                                'nodes': [{'name': 'fabnode1', 'node': FAB1, 'rdma': {}}]})
    assert [n['name'] for n in json.loads(env['LABKIT_FABRIC_NODES'])] == ['fabnode1']
    assert notes == ['fabric: only fabnode1 of the fabric is in the play; LABKIT_FABRIC_NODES lists it alone']


def test_fabric_env_from_rdma_facts_without_fabric_node(rdma):
    """A later run (test.yml after dev-vm.yml): no fabric_node fact, the device's IPv4-mapped GID gives the address."""
    fabric = {'self': 'fabnode1', 'rxe': 'rxe0',
              'nodes': [{'name': 'fabnode1', 'node': {}, 'rdma': rdma}, {'name': 'fabnode2', 'node': FAB2, 'rdma': {}}]}
    env, notes = gs.fabric_env(fabric)
    first = json.loads(env['LABKIT_FABRIC_NODES'])[0]
    port = rdma['devices']['rxe0']['ports'][0]
    gid = [g for g in port['gids'] if g['index'] == port['ipv4_gid_index']][0]
    assert first == {'name': 'fabnode1', 'address': '10.0.2.15', 'device': 'rxe0', 'gid': gid['gid'], 'gid_index': 1}
    assert env['LABKIT_FABRIC_DEVICE'] == 'rxe0' and notes == []


def test_fabric_env_names_nodes_without_a_gid(rdma):
    rdma['devices']['rxe0']['ports'][0]['ipv4_gid_index'] = None  # the fabric NIC has no IPv4 address
    fabric = {'self': 'fabnode2', 'rxe': 'rxe0',
              'nodes': [{'name': 'fabnode1', 'node': {}, 'rdma': rdma}, {'name': 'fabnode2', 'node': FAB2, 'rdma': {}},
                        {'name': 'fabnode3', 'node': {}, 'rdma': {}}]}
    env, notes = gs.fabric_env(fabric)
    nodes = json.loads(env['LABKIT_FABRIC_NODES'])
    assert nodes[0] == {'name': 'fabnode1', 'address': None, 'device': 'rxe0', 'gid': None, 'gid_index': None}
    assert nodes[2]['gid'] is None
    assert len(notes) == 1 and notes[0].startswith('fabric node(s) fabnode1, fabnode3 have no fabric address')
