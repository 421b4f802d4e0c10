# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""fabric_netdev against `ip -j` output captured on the controller (tests/unit/fixtures/README-fabric.md)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric
from ansible_collections.labkit.ebpf_rdma.plugins.modules import fabric_netdev
from conftest import FakeCommands, fixture_text

MAC = '02:5e:11:22:33:44'
ARGS = dict(mac=MAC, subnet='10.77.0.0/24', index=1)


def ip_world(state, qdisc='pfifo-fast-virtio'):
    """`ip` answering with the fixtures of ``state`` (bare, configured, down); ip changes succeed.

    `tc -j qdisc show` answers with the capture ``qdisc``; after `tc qdisc replace ... netem delay 20ms` it
    answers with the netem-delay capture, after `tc qdisc del` with the virtio NIC's default qdisc.
    """
    world = dict(qdisc=qdisc)

    def tc_change(argv, **kw):
        world['qdisc'] = 'pfifo-fast-virtio' if argv[2] == 'del' else 'netem-delay'
        return 0, '', ''

    return FakeCommands({
        ('/usr/bin/ip', '-j', 'addr', 'show'): (0, fixture_text('fabric/ip-addr-%s.json' % state), ''),
        ('/usr/bin/ip', '-j', 'route', 'show'): (0, fixture_text('fabric/ip-route-%s.json' % state), ''),
        lambda a: a[0] == '/usr/bin/ip' and a[1] in ('addr', 'route', 'link'): (0, '', ''),
        lambda a: a[:4] == ('/usr/bin/tc', '-j', 'qdisc', 'show'):
            lambda a, **kw: (0, fixture_text('fabric/tc-qdisc-%s.json' % world['qdisc']), ''),
        lambda a: a[:2] == ('/usr/bin/tc', 'qdisc'): tc_change,
    })


def changes(cmds):
    return [c[1:] for c in cmds.calls if c[1] != '-j']


def tc_changes(cmds):
    return [c[1:] for c in cmds.calls if c[0] == '/usr/bin/tc' and c[1] != '-j']


def test_a_bare_nic_is_configured_and_pinned(module_runner):
    cmds = ip_world('bare')
    res = module_runner(fabric_netdev, ARGS, commands=cmds, diff=True)
    assert res['changed'] is True and res['netdev'] == 'v0' and res['address'] == '10.77.0.1'
    assert changes(cmds) == [('route', 'replace', 'unreachable', '10.77.0.0/24', 'metric', '4242'),
                             ('addr', 'add', '10.77.0.1/24', 'dev', 'v0')]
    assert 'address: 10.77.0.1/24' in res['diff']['after'] and 'address' not in res['diff']['before']
    assert res['qdisc'] == dict(kind='pfifo_fast', handle='0:', netem=None)


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


# ---- netem: tc -j qdisc show captured in a VM (tests/unit/fixtures/README-fabric.md)

NETEM = dict(delay_ms=20, jitter_ms=0, loss_percent=0.0)


def test_netem_is_set_as_the_root_qdisc_and_reported(module_runner, fake_host):
    fake_host.mkdir('/sys/module/sch_netem')
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, dict(ARGS, netem=dict(delay_ms=20)), commands=cmds, diff=True)
    assert tc_changes(cmds) == [('qdisc', 'replace', 'dev', 'v0', 'root', 'netem', 'delay', '20ms')]
    assert res['changed'] is True and res['qdisc'] == dict(kind='netem', handle='8001:', netem=dict(NETEM, other=[]))
    assert 'qdisc: pfifo_fast' in res['diff']['before'] and 'qdisc: netem delay 20ms' in res['diff']['after']


def test_netem_already_set_is_left_alone(module_runner, fake_host):
    cmds = ip_world('configured', qdisc='netem-delay')
    res = module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=cmds)
    assert res['changed'] is False and tc_changes(cmds) == [] and res['qdisc']['netem']['delay_ms'] == 20


def test_a_different_netem_is_replaced(module_runner, fake_host):
    fake_host.mkdir('/sys/module/sch_netem')
    cmds = ip_world('configured', qdisc='netem-delay-jitter-loss')
    res = module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=cmds)
    assert tc_changes(cmds) == [('qdisc', 'replace', 'dev', 'v0', 'root', 'netem', 'delay', '20ms')]
    assert res['changed'] is True


@pytest.mark.parametrize('netem', [None, {}, dict(delay_ms=0, jitter_ms=0, loss_percent=0.0)])
def test_no_netem_removes_the_one_set_earlier(module_runner, netem):
    cmds = ip_world('configured', qdisc='netem-delay-jitter-loss')
    args = dict(ARGS) if netem is None else dict(ARGS, netem=netem)
    res = module_runner(fabric_netdev, args, commands=cmds)
    assert tc_changes(cmds) == [('qdisc', 'del', 'dev', 'v0', 'root')]
    assert res['changed'] is True and res['qdisc'] == dict(kind='pfifo_fast', handle='0:', netem=None)


def test_no_netem_leaves_the_default_qdisc_alone(module_runner):
    cmds = ip_world('configured', qdisc='noqueue')
    res = module_runner(fabric_netdev, ARGS, commands=cmds)
    assert res['changed'] is False and tc_changes(cmds) == [] and res['qdisc']['kind'] == 'noqueue'


def test_absent_removes_the_netem_too(module_runner):
    cmds = ip_world('configured', qdisc='netem-delay')
    module_runner(fabric_netdev, dict(ARGS, state='absent', netem=NETEM), commands=cmds)
    assert tc_changes(cmds) == [('qdisc', 'del', 'dev', 'v0', 'root')]


def test_netem_in_check_mode_plans_the_modprobe_and_runs_nothing(module_runner, fake_host):
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=cmds, check_mode=True)
    assert res['changed'] is True and tc_changes(cmds) == [] and not cmds.ran('/usr/bin/modprobe')
    assert res['actions'][0] == 'load sch_netem (modprobe)' and 'set netem on v0' in res['actions'][1]
    assert res['qdisc'] == dict(kind='netem', handle=None, netem=dict(NETEM, other=[]))


def test_sch_netem_is_loaded_before_the_qdisc(module_runner, fake_host):
    cmds = ip_world('configured')
    cmds.add(['/usr/bin/modprobe', 'sch_netem'], (0, '', ''))
    module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=cmds)
    order = [c[:2] for c in cmds.calls if c[1] in ('sch_netem', 'qdisc')]
    assert order == [('/usr/bin/modprobe', 'sch_netem'), ('/usr/bin/tc', 'qdisc')]


def test_a_kernel_without_sch_netem_fails_saying_what_to_do(module_runner, fake_host):
    cmds = ip_world('configured')
    cmds.add(['/usr/bin/modprobe', 'sch_netem'],
             (1, '', 'modprobe: FATAL: Module sch_netem not found in directory /lib/modules/6.1.0-lab\n'))
    res = module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=cmds)
    assert res['failed'] and res['msg'].startswith('modprobe sch_netem failed: the guest kernel has no sch_netem')
    assert 'CONFIG_NET_SCH_NETEM' in res['msg'] and 'fabric_netem: {}' in res['msg'] and tc_changes(cmds) == []


def test_bad_netem_fails_before_any_command(module_runner):
    cmds = ip_world('configured')
    res = module_runner(fabric_netdev, dict(ARGS, netem=dict(loss_percent=150.0)), commands=cmds)
    assert res['failed'] and 'not a percentage' in res['msg'] and cmds.calls == []


def test_netem_without_tc_fails_naming_the_package(module_runner):
    res = module_runner(fabric_netdev, dict(ARGS, netem=NETEM), commands=ip_world('configured'), bins={'tc': None})
    assert res['failed'] and 'apt-get install iproute2' in res['msg']


def test_without_tc_and_no_netem_the_nic_is_still_configured(module_runner):
    res = module_runner(fabric_netdev, ARGS, commands=ip_world('configured'), bins={'tc': None})
    assert res['changed'] is False and res['qdisc']['kind'] is None
