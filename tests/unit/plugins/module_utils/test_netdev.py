# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import netdev

from conftest import fixture_text


@pytest.fixture
def tree(rxe_tree):
    return rxe_tree


def test_ethernet_with_carrier(tree):
    f = netdev.netdev_facts('ens3')
    assert f['exists'] and f['ethernet'] and f['carrier'] is True
    assert (f['type'], f['operstate'], f['mtu'], f['loopback'], f['bridge']) == (1, 'up', 1500, False, False)
    assert netdev.netdev_problem(f) is None


def test_dummy_is_usable(tree):
    f = netdev.netdev_facts('dummy0')
    assert f['ethernet'] and f['carrier'] is True and f['operstate'] == 'unknown'
    assert netdev.netdev_problem(f) is None


def test_loopback(tree):
    f = netdev.netdev_facts('lo')
    assert f['loopback'] and not f['ethernet'] and f['type'] == 772
    assert 'loopback' in netdev.netdev_problem(f)


def test_bridge(tree):
    f = netdev.netdev_facts('br0')
    assert f['bridge'] and f['type'] == 1
    assert 'is a bridge' in netdev.netdev_problem(f)


def test_down_has_no_carrier(tree):
    f = netdev.netdev_facts('dummy1')
    # the kernel refuses to read carrier of a down interface (EINVAL): no file in the capture
    assert f['carrier'] is None and f['operstate'] == 'down'
    assert netdev.netdev_problem(f) == ('netdev dummy1 has no carrier (operstate down); a soft-RoCE port on it '
                                        'stays DOWN (bring it up with "ip link set dummy1 up" and connect it)')


def test_missing(tree):
    f = netdev.netdev_facts('nope0')
    assert not f['exists']
    assert netdev.netdev_problem(f) == 'netdev nope0 does not exist (no /sys/class/net/nope0)'
    assert not netdev.netdev_facts('../lo')['exists']


def test_not_ethernet(tree):
    (tree / 'sys/class/net/ens3/type').write_text(u'32\n')  # ARPHRD_INFINIBAND (an IPoIB device)
    assert 'is not Ethernet (ARP type 32: infiniband)' in netdev.netdev_problem(netdev.netdev_facts('ens3'))


def test_list_netdevs(tree):
    assert netdev.list_netdevs() == ['br0', 'dummy0', 'dummy1', 'ens3', 'lo']


def test_default_route():
    assert netdev.parse_default_route(fixture_text('rdma/ip-route-default.json')) == 'ens3'
    assert netdev.parse_default_route(fixture_text('rdma/ip-route-default-none.json')) is None
    assert netdev.parse_default_route('') is None
    # Debian 13 trixie amd64 under QEMU names the same virtio-net NIC ens4 (captured)
    assert netdev.parse_default_route(fixture_text('rdma/ip-route-default-trixie-ens4.json')) == 'ens4'


def test_default_route_lowest_metric():
    routes = json.loads(fixture_text('rdma/ip-route-default.json'))
    second = dict(routes[0], dev='dummy0', metric=100)
    blackhole = {'type': 'blackhole', 'dst': 'default', 'metric': 1, 'flags': []}
    assert netdev.parse_default_route(json.dumps([routes[0], second, blackhole])) == 'dummy0'
