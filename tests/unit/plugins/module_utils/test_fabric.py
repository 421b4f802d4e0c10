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


# ---- netem (tc -j qdisc show captured in a VM, tests/unit/fixtures/README-fabric.md)

def qdisc(name):
    return fabric.root_qdisc(fabric.parse_qdiscs(fixture_text('fabric/tc-qdisc-%s.json' % name)))


WANT_DJL = dict(delay_ms=20, jitter_ms=5, loss_percent=1.5)


def test_captured_netem_qdiscs_read_as_milliseconds_and_percent():
    assert fabric.qdisc_netem(qdisc('netem-delay-jitter-loss')) == dict(delay_ms=20, jitter_ms=5, loss_percent=1.5,
                                                                        other=[])
    assert fabric.qdisc_netem(qdisc('netem-delay')) == dict(delay_ms=20, jitter_ms=0, loss_percent=0.0, other=[])
    assert fabric.qdisc_netem(qdisc('noqueue')) is None
    assert fabric.qdisc_netem(qdisc('pfifo-fast-virtio')) is None
    assert fabric.parse_qdiscs('') == [] and fabric.root_qdisc([]) is None


@pytest.mark.parametrize('netem', [None, {}, dict(delay_ms=0, jitter_ms=0, loss_percent=0.0)])
def test_no_netem_wanted(netem):
    assert fabric.normalize_netem(netem) == (None, None)


@pytest.mark.parametrize('netem, words', [
    (dict(delay_ms=-1), 'must not be negative'),
    (dict(jitter_ms=5), 'needs a delay_ms'),
    (dict(loss_percent=101.0), 'not a percentage'),
])
def test_bad_netem_is_refused(netem, words):
    want, problem = fabric.normalize_netem(netem)
    assert want is None and words in problem and 'fabric_netem' in problem


def test_netem_is_set_on_the_default_qdisc_and_left_alone_once_set():
    want = fabric.normalize_netem(WANT_DJL)[0]
    steps = fabric.plan_netem('ens5', qdisc('pfifo-fast-virtio'), want)
    assert [s[0] for s in steps] == [['qdisc', 'replace', 'dev', 'ens5', 'root', 'netem',
                                      'delay', '20ms', '5ms', 'loss', '1.5%']]
    assert fabric.plan_netem('ens5', qdisc('netem-delay-jitter-loss'), want) == []


def test_a_different_netem_is_replaced_in_place():
    want = fabric.normalize_netem(dict(delay_ms=20))[0]
    steps = fabric.plan_netem('ens5', qdisc('netem-delay-jitter-loss'), want)
    assert steps[0][0] == ['qdisc', 'replace', 'dev', 'ens5', 'root', 'netem', 'delay', '20ms']
    assert 'was delay 20ms jitter 5ms loss 1.5%' in steps[0][1]
    assert fabric.plan_netem('ens5', qdisc('netem-delay'), want) == []


def test_no_netem_removes_a_netem_root_qdisc_and_leaves_others_alone():
    assert fabric.plan_netem('ens5', qdisc('netem-delay'), None) == [
        (['qdisc', 'del', 'dev', 'ens5', 'root'], 'remove the netem root qdisc of ens5 (delay 20ms)')]
    assert fabric.plan_netem('ens5', qdisc('pfifo-fast-virtio'), None) == []
    assert fabric.plan_netem('ens5', qdisc('noqueue'), None) == []
    assert fabric.plan_netem('ens5', None, None) == []


def test_a_netem_with_impairments_this_module_never_sets_is_replaced():
    other = dict(qdisc('netem-delay'))
    other['options'] = dict(other['options'], duplicate={'duplicate': 0.01, 'correlation': 0})
    want = fabric.normalize_netem(dict(delay_ms=20))[0]
    assert fabric.qdisc_netem(other)['other'] == ['duplicate']
    assert fabric.plan_netem('ens5', other, want)[0][0][1] == 'replace'


def test_loss_only_and_fractional_loss_arguments():
    assert fabric.netem_args(dict(delay_ms=0, jitter_ms=0, loss_percent=0.25)) == ['netem', 'loss', '0.25%']
    assert fabric.netem_args(dict(delay_ms=0, jitter_ms=0, loss_percent=10.0)) == ['netem', 'loss', '10%']


def test_netem_result_and_diff_line():
    assert fabric.netem_result(qdisc('netem-delay')) == dict(
        kind='netem', handle='8001:', netem=dict(delay_ms=20, jitter_ms=0, loss_percent=0.0, other=[]))
    assert fabric.netem_result(qdisc('pfifo-fast-virtio'))['netem'] is None
    assert fabric.describe_qdisc(qdisc('netem-delay-jitter-loss')) == 'qdisc: netem delay 20ms jitter 5ms loss 1.5%\n'
    assert fabric.describe_qdisc(qdisc('noqueue')) == 'qdisc: noqueue\n'
