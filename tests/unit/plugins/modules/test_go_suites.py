# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""go_suites on the fixture project and on an issue-20 layout written in tmp_path."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.labkit.ebpf_rdma.plugins.modules import go_suites

from conftest import ROOT, FakeCommands

FIXTURE_PROJECT = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')
RDMA = {'devices': {'rxe0': {'name': 'rxe0', 'netdev': 'ens4', 'ports': [
    {'port': 1, 'state': 'ACTIVE', 'netdev': 'ens4', 'ipv4_gid_index': 1}]}}}


def test_fixture_project(module_runner):
    cmds = FakeCommands()  # runs nothing
    result = module_runner(go_suites, {'path': FIXTURE_PROJECT, 'rdma': RDMA, 'rdma_device': 'rxe0', 'uid': 0},
                           commands=cmds)
    assert result['changed'] is False and not result.get('failed')
    assert result['module_path'] == 'example.invalid/rdmaebpf'
    unit, integ = result['suites']
    assert (unit['name'], unit['env']) == ('unit', {})
    assert (integ['name'], integ['packages'], integ['tags']) == ('integration', ['./integration/...'], ['integration'])
    assert integ['env'] == {'LABKIT_RDMA_DEVICE': 'rxe0', 'LABKIT_RDMA_NETDEV': 'ens4',
                            'LABKIT_RDMA_GID_INDEX': '1', 'LABKIT_ROOT': '1'}
    assert result['notes'] == [] and cmds.calls == []
    # check mode: the same answer (the module only reads)
    again = module_runner(go_suites, {'path': FIXTURE_PROJECT, 'rdma': RDMA, 'rdma_device': 'rxe0', 'uid': 0},
                          check_mode=True)
    assert again['suites'] == result['suites']


def test_fixture_project_on_a_fabric_node(module_runner):
    """The integration suite of a fabric node gets LABKIT_FABRIC_*, in node order; the unit suite does not."""
    node2 = {'node': 'fabnode2', 'index': 2, 'address': '10.77.0.2', 'rxe': 'rxe1', 'gid_index': 1,
             'gid': '0000:0000:0000:0000:0000:ffff:0a4d:0002'}
    node1 = dict(node2, node='fabnode1', index=1, address='10.77.0.1', gid='0000:0000:0000:0000:0000:ffff:0a4d:0001')
    fabric = {'self': 'fabnode1', 'rxe': 'rxe1',
              'nodes': [{'name': 'fabnode1', 'node': node1, 'rdma': {}}, {'name': 'fabnode2', 'node': node2, 'rdma': {}}]}
    result = module_runner(go_suites, {'path': FIXTURE_PROJECT, 'rdma': RDMA, 'rdma_device': 'rxe0', 'uid': 0,
                                       'fabric': fabric})
    unit, integ = result['suites']
    assert unit['env'] == {}
    assert integ['env']['LABKIT_FABRIC_SELF'] == 'fabnode1' and integ['env']['LABKIT_FABRIC_DEVICE'] == 'rxe1'
    assert integ['env']['LABKIT_RDMA_DEVICE'] == 'rxe0'
    assert [(n['name'], n['address'], n['gid_index']) for n in json.loads(integ['env']['LABKIT_FABRIC_NODES'])] == [
        ('fabnode1', '10.77.0.1', 1), ('fabnode2', '10.77.0.2', 1)]
    assert result['hardware_env']['LABKIT_FABRIC_SELF'] == 'fabnode1'
    # a host of no fabric: none of them
    alone = module_runner(go_suites, {'path': FIXTURE_PROJECT, 'rdma': RDMA, 'rdma_device': 'rxe0', 'uid': 0,
                                      'fabric': {}})
    assert not [k for k in alone['suites'][1]['env'] if k.startswith('LABKIT_FABRIC_')]


def test_project_without_integration(module_runner, tmp_path):
    (tmp_path / 'go.mod').write_text('module example.invalid/agent\n')
    (tmp_path / 'probe').mkdir()
    (tmp_path / 'probe' / 'probe_test.go').write_text(
        'package probe\n\nimport "testing"\n\nfunc TestX(t *testing.T) { t.Skip("no RDMA device") }\n')
    result = module_runner(go_suites, {'path': str(tmp_path), 'rdma': RDMA, 'uid': 0})
    assert not result.get('failed')
    assert [(s['name'], s['packages'], s['env']) for s in result['suites']] == [
        ('unit', ['./...'], {'LABKIT_RDMA_DEVICE': 'rxe0', 'LABKIT_RDMA_NETDEV': 'ens4',
                             'LABKIT_RDMA_GID_INDEX': '1', 'LABKIT_ROOT': '1'})]
    assert result['notes'][0].startswith('no separate integration suite was found')
