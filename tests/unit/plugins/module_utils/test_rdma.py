# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common, rdma

from conftest import RXE_SYSFS_TREE as TREE, fixture_text


@pytest.fixture
def tree(rxe_tree):
    return rxe_tree


@pytest.mark.parametrize('use_jmespath', [True, False])
def test_parse_links_two(use_jmespath):
    links = rdma.parse_rdma_links(fixture_text('rdma/rdma-link-show-rxe0-rxe1.json'), use_jmespath=use_jmespath)
    assert links == [
        {'name': 'rxe0', 'port': 1, 'state': 'ACTIVE', 'physical_state': 'LINK_UP', 'netdev': 'ens3', 'netdev_index': 2},
        {'name': 'rxe1', 'port': 1, 'state': 'ACTIVE', 'physical_state': 'LINK_UP', 'netdev': 'dummy0',
         'netdev_index': 3},
    ]


@pytest.mark.parametrize('use_jmespath', [True, False])
def test_parse_links_empty(use_jmespath):
    assert rdma.parse_rdma_links(fixture_text('rdma/rdma-link-show-empty.json'), use_jmespath=use_jmespath) == []
    assert rdma.parse_rdma_links('', use_jmespath=use_jmespath) == []


@pytest.mark.parametrize('has_jmespath', [True, False])
def test_find_links(monkeypatch, has_jmespath):
    monkeypatch.setattr(rdma, 'HAS_JMESPATH', has_jmespath)
    links = rdma.parse_rdma_links(fixture_text('rdma/rdma-link-show-rxe0-rxe1.json'))
    assert [link['name'] for link in rdma.find_links(links, name='rxe1')] == ['rxe1']
    assert [link['name'] for link in rdma.find_links(links, netdev='ens3')] == ['rxe0']
    assert rdma.find_links(links, name='rxe1', netdev='ens3') == []
    assert rdma.find_links(links, name='nope') == []
    assert len(rdma.find_links(links)) == 2


def test_link_help():
    assert rdma.link_help_supports_add(fixture_text('rdma/rdma-link-help.txt'))
    assert not rdma.link_help_supports_add(fixture_text('rdma/rdma-link-help-iproute2-before-5.1.txt'))
    assert not rdma.link_help_supports_add('')


def test_modules_dep():
    assert rdma.module_in_dep(fixture_text('rdma/modules.dep'), 'rdma_rxe')
    assert not rdma.module_in_dep(fixture_text('rdma/modules.dep-without-rxe'), 'rdma_rxe')
    # compressed modules (Ubuntu .ko.zst, Fedora .ko.xz) count too
    assert rdma.module_in_dep('kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko.zst: a.ko\n', 'rdma_rxe')
    assert not rdma.module_in_dep('kernel/drivers/infiniband/sw/rxe/rdma_rxe_x.ko:\n', 'rdma_rxe')
    assert not rdma.module_builtin(fixture_text('rdma/modules.builtin'), 'rdma_rxe')
    assert rdma.module_builtin('kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko\n', 'rdma_rxe')


def test_parse_numbered():
    assert rdma.parse_numbered('4: ACTIVE\n') == (4, 'ACTIVE')
    assert rdma.parse_numbered('5: LinkUp') == (5, 'LinkUp')
    assert rdma.parse_numbered('Ethernet') == (None, 'Ethernet')
    assert rdma.parse_numbered(None) == (None, None)


@pytest.mark.parametrize('has_netaddr', [True, False])
def test_decode_gid(monkeypatch, has_netaddr):
    monkeypatch.setattr(rdma, 'HAS_NETADDR', has_netaddr)
    gids = os.path.join(TREE, 'sys/class/infiniband/rxe0/ports/1/gids')
    with open(os.path.join(gids, '1')) as f:
        v4 = f.read().strip()
    with open(os.path.join(gids, '0')) as f:
        ll = f.read().strip()
    with open(os.path.join(gids, '3')) as f:
        zero = f.read().strip()
    assert rdma.decode_gid(1, v4, 'RoCE v2', 'ens3') == {
        'index': 1, 'gid': v4, 'type': 'RoCE v2', 'netdev': 'ens3', 'ip': '10.0.2.15', 'ip_version': 4}
    assert rdma.decode_gid(0, ll, 'RoCE v2')['ip'] == 'fe80::5054:ff:fe12:3456'
    assert rdma.decode_gid(0, ll, 'RoCE v2')['ip_version'] == 6
    # a RoCE v1 GID is not an IP address: no ip
    assert rdma.decode_gid(1, v4, 'IB/RoCE v1')['ip'] is None
    assert rdma.decode_gid(3, zero, None) is None


def test_ipv4_gid_index():
    entries = [rdma.decode_gid(0, 'fe80:0000:0000:0000:5054:00ff:fe12:3456', 'RoCE v2'),
               rdma.decode_gid(1, '0000:0000:0000:0000:0000:ffff:0a00:020f', 'IB/RoCE v1'),
               rdma.decode_gid(2, '0000:0000:0000:0000:0000:ffff:0a00:020f', 'RoCE v2')]
    assert rdma.ipv4_gid_index(entries) == 2
    assert rdma.ipv4_gid_index(entries[:2]) is None


def test_rxe_active_mtu_matches_ibv_devinfo():
    info = rdma.parse_ibv_devinfo(fixture_text('rdma/ibv_devinfo.txt'))
    with open(os.path.join(TREE, 'sys/class/net/ens3/mtu')) as f:
        mtu = int(f.read())
    assert rdma.rxe_active_mtu(mtu) == info['rxe0']['ports'][1]['active_mtu'] == 1024
    assert rdma.rxe_active_mtu(9000) == 4096
    assert rdma.rxe_active_mtu(2200) == 2048
    assert rdma.rxe_active_mtu(300) == 256
    assert rdma.rxe_active_mtu(None) is None


def test_parse_ibv_devinfo():
    info = rdma.parse_ibv_devinfo(fixture_text('rdma/ibv_devinfo.txt'))
    assert sorted(info) == ['rxe0', 'rxe1']
    assert info['rxe1']['vendor_id'] == '0xffffff'
    assert info['rxe1']['node_guid'] == 'f89c:07ff:fefe:132a'
    assert info['rxe0']['ports'] == {1: {'state': 'PORT_ACTIVE (4)', 'max_mtu': 4096, 'active_mtu': 1024,
                                         'link_layer': 'Ethernet'}}
    assert rdma.parse_ibv_devinfo('') == {}


def test_read_ib_device(tree):
    assert rdma.list_ib_devices() == ['rxe0', 'rxe1']
    dev = rdma.read_ib_device('rxe0')
    assert dev['driver'] == 'rxe'
    assert dev['netdev'] == dev['parent'] == 'ens3'
    assert dev['node_type'] == 'CA'
    assert dev['node_guid'] == '5054:00ff:fe12:3456'
    port = dev['ports'][0]
    assert (port['port'], port['state'], port['physical_state'], port['link_layer']) == (1, 'ACTIVE', 'LinkUp', 'Ethernet')
    assert [(g['index'], g['ip']) for g in port['gids']] == [
        (0, 'fe80::5054:ff:fe12:3456'), (1, '10.0.2.15'), (2, 'fec0::5054:ff:fe12:3456')]
    assert port['ipv4_gid_index'] == 1
    dev1 = rdma.read_ib_device('rxe1')
    assert dev1['netdev'] == 'dummy0'
    assert [(g['index'], g['ip']) for g in dev1['ports'][0]['gids']] == [(0, 'fe80::f89c:7ff:fefe:132a'), (1, '198.18.0.1')]
    assert rdma.read_ib_device('mlx5_0') is None


def test_hardware_driver_from_device_link(tree):
    # A hardware device: no ``parent`` attribute, a device/driver link (layout as on any PCI HCA).
    base = tree / 'sys/class/infiniband/rxe0'
    (base / 'parent').unlink()
    (tree / 'sys/bus/pci/drivers/mlx5_core').mkdir(parents=True)
    (base / 'device').mkdir()
    os.symlink('../../../../bus/pci/drivers/mlx5_core', str(base / 'device' / 'driver'))
    assert rdma.read_ib_device('rxe0')['driver'] == 'mlx5_core'
    os.unlink(str(base / 'device' / 'driver'))
    assert rdma.read_ib_device('rxe0')['driver'] == 'unknown'


def test_no_infiniband_class(tmp_path, monkeypatch):
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    assert rdma.list_ib_devices() == []
