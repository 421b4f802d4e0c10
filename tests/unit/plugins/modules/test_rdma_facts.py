# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.modules import rdma_facts

from conftest import FIXTURES, FakeCommands, fixture_text

TREE = os.path.join(FIXTURES, 'rdma', 'sysfs-rxe0-rxe1')
RDMA = '/usr/bin/rdma'
IBV = '/usr/bin/ibv_devinfo'


@pytest.fixture
def root(tmp_path, monkeypatch):
    root = tmp_path / 'host'
    shutil.copytree(TREE, str(root))
    (root / 'sys/module/rdma_rxe').mkdir(parents=True)
    monkeypatch.setattr(common, 'HOST_ROOT', str(root))
    return root


def fake(links='rdma/rdma-link-show-rxe0-rxe1.json', devinfo='rdma/ibv_devinfo.txt'):
    return FakeCommands({
        (RDMA, '-j', 'link', 'show'): (0, fixture_text(links), ''),
        (IBV,): (0, fixture_text(devinfo), ''),
    })


def facts_of(result):
    assert result['changed'] is False and not result.get('failed'), result
    return result['ansible_facts']['labkit_rdma']


def test_two_rxe_devices(module_runner, root):
    cmds = fake()
    facts = facts_of(module_runner(rdma_facts, {}, commands=cmds))
    assert sorted(facts['devices']) == ['rxe0', 'rxe1']
    rxe0 = facts['devices']['rxe0']
    assert (rxe0['driver'], rxe0['netdev'], rxe0['node_type'], rxe0['vendor_id']) == ('rxe', 'ens3', 'CA', '0xffffff')
    port = rxe0['ports'][0]
    assert (port['state'], port['physical_state'], port['link_layer']) == ('ACTIVE', 'LinkUp', 'Ethernet')
    assert (port['active_mtu'], port['max_mtu'], port['mtu_source']) == (1024, 4096, 'ibv_devinfo')
    assert port['ipv4_gid_index'] == 1
    assert [(g['index'], g['type'], g['ip']) for g in port['gids']] == [
        (0, 'RoCE v2', 'fe80::5054:ff:fe12:3456'), (1, 'RoCE v2', '10.0.2.15'), (2, 'RoCE v2', 'fec0::5054:ff:fe12:3456')]
    rxe1 = facts['devices']['rxe1']
    assert rxe1['netdev'] == 'dummy0' and rxe1['ports'][0]['gids'][1]['ip'] == '198.18.0.1'
    assert [link['name'] for link in facts['links']] == ['rxe0', 'rxe1']
    assert facts['problems'] == [] and facts['rxe_loaded'] is True
    assert cmds.calls == [(RDMA, '-j', 'link', 'show'), (IBV,)]  # reads only


def test_without_ibv_devinfo_mtu_from_netdev(module_runner, root):
    facts = facts_of(module_runner(rdma_facts, {}, commands=fake(), bins={'ibv_devinfo': None}))
    port = facts['devices']['rxe0']['ports'][0]
    assert (port['active_mtu'], port['max_mtu'], port['mtu_source']) == (1024, 4096, 'rxe-netdev-mtu')
    assert facts['devices']['rxe0']['vendor_id'] is None


def test_device_filter(module_runner, root):
    facts = facts_of(module_runner(rdma_facts, {'devices': ['rxe1', 'mlx5_0']}, commands=fake()))
    assert sorted(facts['devices']) == ['rxe1']
    assert [link['name'] for link in facts['links']] == ['rxe1']
    assert facts['problems'] == ['RDMA device mlx5_0 does not exist']


def test_port_down_and_no_ipv4_gid(module_runner, root):
    """rxe1's netdev went down and lost its address (files edited the way the kernel shows it)."""
    port = root / 'sys/class/infiniband/rxe1/ports/1'
    (port / 'state').write_text(u'1: DOWN\n')
    (port / 'phys_state').write_text(u'3: Disabled\n')
    (port / 'gids/1').write_text(u'0000:0000:0000:0000:0000:0000:0000:0000\n')
    (root / 'sys/class/net/dummy0/carrier').unlink()
    (root / 'sys/class/net/dummy0/operstate').write_text(u'down\n')
    facts = facts_of(module_runner(rdma_facts, {}, commands=fake()))
    assert facts['problems'] == [
        'rxe1 port 1 is DOWN (physical state Disabled), not ACTIVE; its netdev dummy0 has no carrier (operstate down)',
        'rxe1 port 1 has no IPv4-mapped RoCE v2 GID: give its netdev dummy0 an IPv4 address '
        '(RoCE v2 over IPv4 and ibv_*_pingpong -g need one)']
    assert facts['devices']['rxe1']['ports'][0]['ipv4_gid_index'] is None


def test_no_devices(module_runner, tmp_path, monkeypatch):
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    facts = facts_of(module_runner(rdma_facts, {}, commands=fake('rdma/rdma-link-show-empty.json')))
    assert facts['devices'] == {} and facts['links'] == []
    assert facts['problems'] == ['no RDMA device: rdma_rxe is not loaded; create a soft-RoCE link with '
                                 'labkit.ebpf_rdma.rxe_link']


def test_rdma_fails(module_runner, root):
    cmds = FakeCommands({(RDMA, '-j', 'link', 'show'): (255, '', 'Failed to get netlink\n'),
                         (IBV,): (0, fixture_text('rdma/ibv_devinfo.txt'), '')})
    facts = facts_of(module_runner(rdma_facts, {}, commands=cmds))
    assert facts['problems'][0] == 'rdma -j link show failed (exit 255): Failed to get netlink'
    assert sorted(facts['devices']) == ['rxe0', 'rxe1']  # sysfs still read
