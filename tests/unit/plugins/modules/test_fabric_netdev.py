# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""fabric_netdev against `ip -j` output captured on the controller (tests/unit/fixtures/README-fabric.md)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric
from ansible_collections.labkit.ebpf_rdma.plugins.modules import fabric_netdev
from conftest import FakeCommands, fixture_text

MAC = '02:5e:11:22:33:44'
ARGS = dict(mac=MAC, subnet='10.77.0.0/24', index=1)


def ip_world(state):
    """`ip` answering with the fixtures of ``state`` (bare, configured, down); ip changes succeed."""
    return FakeCommands({
        ('/usr/bin/ip', '-j', 'addr', 'show'): (0, fixture_text('fabric/ip-addr-%s.json' % state), ''),
        ('/usr/bin/ip', '-j', 'route', 'show'): (0, fixture_text('fabric/ip-route-%s.json' % state), ''),
        lambda a: a[0] == '/usr/bin/ip' and a[1] in ('addr', 'route', 'link'): (0, '', ''),
    })


def changes(cmds):
    return [c[1:] for c in cmds.calls if c[1] != '-j']


def test_a_bare_nic_is_configured_and_pinned(module_runner):
    cmds = ip_world('bare')
    res = module_runner(fabric_netdev, ARGS, commands=cmds, diff=True)
    assert res['changed'] is True and res['netdev'] == 'v0' and res['address'] == '10.77.0.1'
    assert changes(cmds) == [('route', 'replace', 'unreachable', '10.77.0.0/24', 'metric', '4242'),
                             ('addr', 'add', '10.77.0.1/24', 'dev', 'v0')]
    assert 'address: 10.77.0.1/24' in res['diff']['after'] and 'address' not in res['diff']['before']


def test_check_mode_plans_and_runs_no_change(module_runner):
    cmds = ip_world('bare')
    res = module_runner(fabric_netdev, ARGS, commands=cmds, check_mode=True)
    assert res['changed'] is True and len(res['actions']) == 2 and changes(cmds) == []


def test_a_configured_nic_is_left_alone(module_runner):
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, ARGS, commands=cmds)
    assert res['changed'] is False and changes(cmds) == [] and res['link_state'] == 'up'


def test_a_downed_nic_comes_back_up(module_runner):
    cmds = ip_world('down')
    res = module_runner(fabric_netdev, ARGS, commands=cmds)
    assert changes(cmds) == [('link', 'set', 'dev', 'v0', 'up')] and res['changed'] is True


def test_link_down_fault(module_runner):
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, dict(ARGS, link_state='down'), commands=cmds)
    assert changes(cmds) == [('link', 'set', 'dev', 'v0', 'down')] and res['link_state'] == 'down'


def test_the_mac_is_computed_from_the_vm_name(module_runner, monkeypatch):
    monkeypatch.setattr(fabric, 'fabric_mac', lambda name, index=0: MAC if (name, index) == ('node1', 0) else 'x')
    res = module_runner(fabric_netdev, dict(vm_name='node1', subnet='10.77.0.0/24', index=1),
                        commands=ip_world('configured'))
    assert res['netdev'] == 'v0' and res['mac'] == MAC


def test_no_nic_with_the_mac_fails_listing_the_nics(module_runner):
    res = module_runner(fabric_netdev, dict(ARGS, mac='02:00:00:00:00:99'), commands=ip_world('configured'))
    assert res['failed'] and 'no NIC has MAC 02:00:00:00:00:99' in res['msg'] and 'v0 (02:5e:11:22:33:44)' in res['msg']


def test_a_subnet_overlapping_the_controllers_routes_fails_before_any_change(module_runner):
    cmds = ip_world('bare')
    routes = fabric.parse_routes(fixture_text('fabric/ip-route-controller.json'))
    lan = routes[1]['dst']
    res = module_runner(fabric_netdev, dict(ARGS, subnet=lan, avoid_routes=routes), commands=cmds)
    assert res['failed'] and 'of the controller' in res['msg'] and cmds.calls == []


def test_the_default_route_of_the_controller_is_no_conflict(module_runner):
    routes = fabric.parse_routes(fixture_text('fabric/ip-route-controller.json'))
    res = module_runner(fabric_netdev, dict(ARGS, avoid_routes=routes), commands=ip_world('configured'))
    assert res['changed'] is False


def test_an_index_outside_the_subnet_fails(module_runner):
    res = module_runner(fabric_netdev, dict(ARGS, subnet='10.77.0.0/30', index=3), commands=ip_world('bare'))
    assert res['failed'] and 'does not fit' in res['msg']


def test_absent_removes_address_and_pin(module_runner):
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, dict(ARGS, state='absent'), commands=cmds)
    assert changes(cmds) == [('addr', 'del', '10.77.0.1/24', 'dev', 'v0'),
                             ('route', 'del', 'unreachable', '10.77.0.0/24', 'metric', '4242')]
    assert res['changed'] is True


def test_neither_mac_nor_vm_name_fails(module_runner):
    res = module_runner(fabric_netdev, dict(subnet='10.77.0.0/24', index=1), commands=ip_world('bare'))
    assert res['failed'] and 'vm_name' in res['msg']
