# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import netaddr
import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.qemu_argv import qemu_opt
from conftest import fixture_text

NET = netaddr.IPNetwork('10.77.0.0/24')


# ---------------------------------------------------------------- VM side

def test_mac_is_stable_locally_administered_unicast_and_distinct():
    mac = fabric.fabric_mac('node1')
    assert mac == fabric.fabric_mac('node1', 0)
    assert fabric.MAC_RE.match(mac) and mac.startswith('02:')
    assert len({fabric.fabric_mac(n, i) for n in ('node1', 'node2') for i in (0, 1)}) == 4


def test_links_get_the_computed_mac_unless_given():
    links = fabric.normalize_links('node1', [{'local': '/s/a.sock', 'remote': '/s/b.sock', 'mac': ''},
                                             {'local': '/s/c.sock', 'remote': '/s/d.sock', 'mac': '02:AA:00:00:00:01'}])
    assert links[0]['mac'] == fabric.fabric_mac('node1', 0)
    assert links[1]['mac'] == '02:aa:00:00:00:01'
    assert fabric.links_problem(links) is None


@pytest.mark.parametrize('link,words', [
    ({'local': 'rel.sock', 'remote': '/s/b.sock'}, 'not an absolute path'),
    ({'local': '/s/a.sock', 'remote': '/s/a.sock'}, 'the same socket'),
    ({'local': '/' + 'x' * 120, 'remote': '/s/b.sock'}, 'longer than a unix socket path'),
    ({'local': '/s/a.sock', 'remote': '/s/b.sock', 'mac': '03:00:00:00:00:01'}, 'not a unicast MAC'),
    ({'local': '/s/a.sock', 'remote': '/s/b.sock', 'mac': 'nope'}, 'not a unicast MAC'),
    ({'local': '/s/a\n.sock', 'remote': '/s/b.sock'}, 'control character'),
])
def test_bad_links_are_refused_with_the_fix(link, words):
    assert words in fabric.links_problem(fabric.normalize_links('n', [link]))


def test_a_local_socket_used_twice_is_refused():
    links = fabric.normalize_links('n', [{'local': '/s/a', 'remote': '/s/b'}, {'local': '/s/a', 'remote': '/s/c'}])
    assert 'used twice' in fabric.links_problem(links)


def test_dgram_args_pair_two_unix_sockets_and_double_commas():
    links = fabric.normalize_links('node1', [{'local': '/s,x/node1.sock', 'remote': '/s,x/node2.sock'}])
    assert fabric.fabric_args(links, qemu_opt) == [
        '-netdev', 'dgram,id=fab0,local.type=unix,local.path=/s,,x/node1.sock,remote.type=unix,'
                   'remote.path=/s,,x/node2.sock',
        '-device', 'virtio-net-pci,netdev=fab0,mac=%s' % fabric.fabric_mac('node1')]


# ---------------------------------------------------------------- addresses

@pytest.mark.parametrize('subnet,words', [
    ('10.77.0.1/24', 'host bits set'),
    ('10.77.0.0', 'CIDR form'),
    ('fd00::/64', 'CIDR form'),
    ('nonsense', 'CIDR form'),
    ('10.77.0.0/31', 'no room for two nodes'),
])
def test_bad_subnets(subnet, words):
    net, err = fabric.parse_subnet(subnet)
    assert net is None and words in err


def test_node_addresses_count_from_the_first_host():
    assert str(fabric.node_address(NET, 1)[0]) == '10.77.0.1'
    assert str(fabric.node_address(NET, 254)[0]) == '10.77.0.254'
    assert 'does not fit' in fabric.node_address(NET, 255)[1]
    assert 'does not fit' in fabric.node_address(NET, 0)[1]


def test_the_controllers_real_routes_allow_the_default_subnet_but_not_its_lan():
    routes = fabric.parse_routes(fixture_text('fabric/ip-route-controller.json'))
    assert fabric.subnet_conflict(NET, routes, 'the controller') is None  # the default route is no conflict
    lan = netaddr.IPNetwork(routes[1]['dst'])
    msg = fabric.subnet_conflict(lan, routes, 'the controller')
    assert 'overlaps the route %s' % lan.cidr in msg and 'the controller' in msg


@pytest.mark.parametrize('subnet,words', [
    ('169.254.169.0/24', '169.254.169.254'),
    ('169.0.0.0/8', 'link-local'),
    ('10.0.0.0/16', 'QEMU user-mode'),
    ('127.1.0.0/24', 'loopback'),
])
def test_reserved_ranges_are_never_fabric_subnets(subnet, words):
    assert words in fabric.subnet_conflict(netaddr.IPNetwork(subnet), [], 'the guest')


def test_the_fabrics_own_routes_are_no_conflict():
    routes = fabric.parse_routes(fixture_text('fabric/ip-route-configured.json'))
    assert fabric.subnet_conflict(NET, routes, 'the guest', own_dev='v0') is None
    # another NIC with a route into the subnet is a conflict
    assert 'overlaps the route 10.77.0.0/24 (v0)' in fabric.subnet_conflict(NET, routes, 'the guest', own_dev='ens4')


# ---------------------------------------------------------------- the guest's NIC

def test_parse_links_and_find_the_nic_by_mac():
    links = fabric.parse_links(fixture_text('fabric/ip-addr-configured.json'))
    assert fabric.netdev_by_mac(links, '02:5E:11:22:33:44') == ['v0']
    assert links['v0']['ipv4'] == ['10.77.0.1/24'] and links['v0']['up']
    assert fabric.netdev_by_mac(links, '02:00:00:00:00:99') == []


def _plan(addr_fixture, route_fixture, address='10.77.0.1', state='present', link_state='up'):
    links = fabric.parse_links(fixture_text('fabric/' + addr_fixture))
    routes = fabric.parse_routes(fixture_text('fabric/' + route_fixture))
    return fabric.plan_netdev('v0', links['v0'], routes, NET, netaddr.IPAddress(address), 4242, state, link_state)


def test_a_bare_nic_gets_the_pin_then_the_address():
    steps, before, after = _plan('ip-addr-bare.json', 'ip-route-bare.json')
    assert [s[0] for s in steps] == [['route', 'replace', 'unreachable', '10.77.0.0/24', 'metric', '4242'],
                                     ['addr', 'add', '10.77.0.1/24', 'dev', 'v0']]
    assert 'address:' not in before and 'address: 10.77.0.1/24' in after
    assert 'route: unreachable 10.77.0.0/24' in after


def test_a_configured_nic_needs_nothing():
    steps, before, after = _plan('ip-addr-configured.json', 'ip-route-configured.json')
    assert steps == [] and before == after


def test_a_downed_nic_is_brought_up_and_keeps_its_pin():
    steps, _b, _a = _plan('ip-addr-down.json', 'ip-route-down.json')
    assert [s[0] for s in steps] == [['link', 'set', 'dev', 'v0', 'up']]


def test_link_down_is_a_fault_the_plan_can_apply():
    steps, _b, after = _plan('ip-addr-configured.json', 'ip-route-configured.json', link_state='down')
    assert [s[0] for s in steps] == [['link', 'set', 'dev', 'v0', 'down']] and 'link: down' in after


def test_another_address_of_the_subnet_is_replaced():
    steps, _b, after = _plan('ip-addr-configured.json', 'ip-route-configured.json', address='10.77.0.2')
    assert [s[0] for s in steps] == [['addr', 'del', '10.77.0.1/24', 'dev', 'v0'],
                                     ['addr', 'add', '10.77.0.2/24', 'dev', 'v0']]
    assert 'address: 10.77.0.1/24' not in after


def test_absent_removes_the_address_and_the_pin():
    steps, _b, after = _plan('ip-addr-configured.json', 'ip-route-configured.json', state='absent')
    assert [s[0] for s in steps] == [['addr', 'del', '10.77.0.1/24', 'dev', 'v0'],
                                     ['route', 'del', 'unreachable', '10.77.0.0/24', 'metric', '4242']]
    assert 'route:' not in after
