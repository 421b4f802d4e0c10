#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: fabric_netdev
short_description: Give a VM's fabric NIC (found by its MAC) its node address and pin the fabric subnet
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Finds the fabric NIC by its MAC (never by name, which depends on the PCI slot), puts node O(index)'s
    address of O(subnet) on it (the first host address is node 1), brings it up and adds an C(unreachable)
    route for the subnet with metric O(unreachable_metric).
  - The unreachable route keeps fabric traffic on the fabric. When the fabric NIC is down its connected route
    goes away; without the pin a packet to a fabric address would follow the default route into QEMU's user-mode
    networking and leave the controller for that address. With the pin it fails with "unreachable" instead.
  - The subnet is refused when it overlaps loopback, link-local (C(169.254.169.254)), multicast, QEMU's user-mode
    network C(10.0.2.0/24), a route of this guest on another NIC, or a route in O(avoid_routes) (the controller's
    C(ip -j route), which the M(labkit.ebpf_rdma.fabric) role passes). Default routes are no conflict.
  - With O(netem), the NIC gets a C(netem) root qdisc (C(tc qdisc replace dev NIC root netem ...)) that delays
    and drops the frames it sends (a fault on the fabric). Without it, a netem root qdisc on the NIC (the one an
    earlier run set) is removed (C(tc qdisc del dev NIC root)), which gives the NIC its default qdisc back; any
    other root qdisc is left alone. The current qdisc is read with C(tc -j qdisc show dev NIC).
  - The settings are runtime only (as C(ip) and C(tc) make them); the fabric role applies them on every converge.
  - Then M(labkit.ebpf_rdma.rxe_link) can put a soft-RoCE link on RV(netdev).
options:
  mac:
    description:
      - MAC of the fabric NIC. Empty means the one M(labkit.ebpf_rdma.qemu_vm) computes for O(vm_name) and
        O(nic_index).
    type: str
    default: ''
  vm_name:
    description: Name of the VM (its M(labkit.ebpf_rdma.qemu_vm) O(labkit.ebpf_rdma.qemu_vm#module:name)), for the computed MAC.
    type: str
    default: ''
  nic_index:
    description: Position of the NIC in the VM's O(labkit.ebpf_rdma.qemu_vm#module:fabric) list, for the computed MAC.
    type: int
    default: 0
  subnet:
    description: The fabric's IPv4 subnet in CIDR form, host bits zero, a C(/30) or larger.
    type: str
    required: true
  index:
    description: This node's index (1 to the subnet's number of host addresses); its address is the subnet's C(index)th.
    type: int
    required: true
  state:
    description:
      - V(present) sets the address, the link state and the pin; another address of O(subnet) on the NIC is removed.
      - V(absent) removes the NIC's addresses of O(subnet) and the pin (the link state is left alone).
    type: str
    choices: [present, absent]
    default: present
  link_state:
    description: V(up), or V(down) to take the node off the fabric (a fault; the pin stays).
    type: str
    choices: [up, down]
    default: up
  unreachable_metric:
    description: Metric of the unreachable route (higher than the connected route's 0, so that one wins while the NIC is up).
    type: int
    default: 4242
  netem:
    description:
      - Loss and delay of the frames the fabric NIC sends (C(tc netem) as its root qdisc), a fault for tests.
        Delay and loss apply to this node's outgoing frames; the round trip to a peer takes the delay once.
      - Omitted, V({}) or all zeros means no netem qdisc (one set earlier is removed). With O(state=absent) a
        netem root qdisc is removed too.
      - Needs the guest kernel's C(sch_netem) (loaded with C(modprobe) when it is not).
    type: dict
    suboptions:
      delay_ms:
        description: Delay added to every frame, in milliseconds.
        type: int
        default: 0
      jitter_ms:
        description: Random variation of the delay (plus or minus), in milliseconds; needs O(netem.delay_ms).
        type: int
        default: 0
      loss_percent:
        description: Share of frames dropped at random, in percent (V(0) to V(100)).
        type: float
        default: 0
  avoid_routes:
    description:
      - Routes whose networks the subnet must not overlap, as C(ip -j route show) gives them (dicts with C(dst),
        C(dev), C(type)); the fabric role passes the controller's.
    type: list
    elements: dict
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the NIC's link state, IPv4 addresses, pin and root qdisc before and after (no file is written).
  platform:
    platforms: linux
requirements:
  - python3-netaddr on the guest (baked into the project's images)
  - iproute2 (C(ip), and C(tc) for O(netem))
  - the guest kernel's C(sch_netem) for O(netem)
seealso:
  - module: labkit.ebpf_rdma.qemu_vm
  - module: labkit.ebpf_rdma.rxe_link
'''

EXAMPLES = r'''
- name: Node 2 of the fabric 10.77.0.0/24, NIC found by the MAC qemu_vm computed
  labkit.ebpf_rdma.fabric_netdev:
    vm_name: node2
    subnet: 10.77.0.0/24
    index: 2
  register: fab

- name: Soft-RoCE on it
  labkit.ebpf_rdma.rxe_link:
    name: rxe1
    netdev: "{{ fab.netdev }}"

- name: Take the node off the fabric (a fault)
  labkit.ebpf_rdma.fabric_netdev:
    vm_name: node2
    subnet: 10.77.0.0/24
    index: 2
    link_state: down

- name: Delay node 2's fabric frames by 20 ms (plus or minus 5 ms) and drop 1 % of them
  labkit.ebpf_rdma.fabric_netdev:
    vm_name: node2
    subnet: 10.77.0.0/24
    index: 2
    netem:
      delay_ms: 20
      jitter_ms: 5
      loss_percent: 1

- name: Back to no netem (the module removes the netem qdisc it set)
  labkit.ebpf_rdma.fabric_netdev:
    vm_name: node2
    subnet: 10.77.0.0/24
    index: 2
'''

RETURN = r'''
netdev:
  description: Name of the fabric NIC in the guest.
  returned: success
  type: str
  sample: ens6
mac:
  description: Its MAC.
  returned: success
  type: str
  sample: "02:8e:1f:0a:33:c4"
address:
  description: This node's fabric address.
  returned: success
  type: str
  sample: 10.77.0.2
prefixlen:
  description: Prefix length of the subnet.
  returned: success
  type: int
  sample: 24
subnet:
  description: The subnet.
  returned: success
  type: str
  sample: 10.77.0.0/24
link_state:
  description: The NIC's link state after the task.
  returned: success
  type: str
  sample: up
qdisc:
  description:
    - The NIC's root qdisc after the task (in check mode, as it would be); C(kind) and C(handle) are null when
      the removal of a netem qdisc leaves the NIC's default one to the kernel (check mode).
    - C(netem) is null for a qdisc of another kind, else its delay and jitter (milliseconds), loss (percent)
      and C(other), what else the qdisc does (impairments this module never sets).
  returned: success
  type: dict
  sample:
    kind: netem
    handle: "8001:"
    netem:
      delay_ms: 20
      jitter_ms: 5
      loss_percent: 1.5
      other: []
actions:
  description: The C(ip) and C(tc) commands run (or, in check mode, that would run), described.
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, apply_actions, host_path, run_checked)


def read_state(module, ip):
    out, _err = run_checked(module, [ip, '-j', 'addr', 'show'], what='reading the NICs (ip -j addr show)')
    links = fabric.parse_links(out)
    out, _err = run_checked(module, [ip, '-j', 'route', 'show'], what='reading the routes (ip -j route show)')
    return links, fabric.parse_routes(out)


def read_root_qdisc(module, tc, dev):
    out, _err = run_checked(module, [tc, '-j', 'qdisc', 'show', 'dev', dev],
                            what='reading the qdiscs of %s (tc -j qdisc show dev %s)' % (dev, dev))
    return fabric.root_qdisc(fabric.parse_qdiscs(out))


def load_netem(module, action):
    """Runner of the ``modprobe`` action: load sch_netem, failing with what to do when the kernel has none."""
    rc, out, err = module.run_command(action.argv)
    if rc != 0:
        module.fail_json(msg='modprobe %s failed: the guest kernel has no %s (%s); boot a kernel built with '
                             'CONFIG_NET_SCH_NETEM (Debian\'s linux-image packages have it as a module), or leave '
                             'netem empty (fabric_netem: {})'
                             % (fabric.NETEM_MODULE, fabric.NETEM_MODULE, (err or out or 'no output').strip()),
                         cmd=action.argv, rc=rc, stdout=out, stderr=err)


def plan_qdisc(module, tc, dev, root, want):
    """The actions that give ``dev`` the wanted netem (sch_netem loaded first when it is not)."""
    actions = []
    steps = fabric.plan_netem(dev, root, want)
    if want is not None and steps and not os.path.isdir(host_path('/sys/module/%s' % fabric.NETEM_MODULE)):
        modprobe = module.get_bin_path('modprobe', opt_dirs=['/usr/sbin', '/sbin'])
        if not modprobe:
            module.fail_json(msg='modprobe is missing, and %s is not loaded for netem; install kmod (apt-get install '
                                 'kmod) or leave netem empty' % fabric.NETEM_MODULE)
        actions.append(Action('modprobe', fabric.NETEM_MODULE, 'load %s (modprobe)' % fabric.NETEM_MODULE,
                              argv=[modprobe, fabric.NETEM_MODULE]))
    actions += [Action('run', dev, desc, argv=[tc] + args) for args, desc in steps]
    return actions


def predicted_qdisc(root, want, changed):
    """The ``qdisc`` result of check mode: what the planned change would leave."""
    if not changed:
        return fabric.netem_result(root)
    if want is None:
        return dict(kind=None, handle=None, netem=None)
    handle = root.get('handle') if root and root.get('kind') == 'netem' else None
    return dict(kind='netem', handle=handle, netem=dict(want, other=[]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mac=dict(type='str', default=''),
            vm_name=dict(type='str', default=''),
            nic_index=dict(type='int', default=0),
            subnet=dict(type='str', required=True),
            index=dict(type='int', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            link_state=dict(type='str', default='up', choices=['up', 'down']),
            unreachable_metric=dict(type='int', default=fabric.DEFAULT_UNREACHABLE_METRIC),
            avoid_routes=dict(type='list', elements='dict', default=[]),
            netem=dict(type='dict', options=dict(
                delay_ms=dict(type='int', default=0),
                jitter_ms=dict(type='int', default=0),
                loss_percent=dict(type='float', default=0.0),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not fabric.HAS_NETADDR:
        module.fail_json(msg=missing_required_lib('netaddr') + ' (apt-get install python3-netaddr in the guest)')
    if not 1 <= p['unreachable_metric'] <= 4294967295:
        module.fail_json(msg='unreachable_metric=%d is not a route metric: give 1 to 4294967295' % p['unreachable_metric'])
    if not p['mac'] and not p['vm_name']:
        module.fail_json(msg='give the fabric NIC\'s mac, or vm_name (the VM\'s name, whose fabric MAC qemu_vm computed)')
    mac = (p['mac'] or fabric.fabric_mac(p['vm_name'], p['nic_index'])).lower()
    if not fabric.MAC_RE.match(mac):
        module.fail_json(msg='mac=%r is not a MAC (six hex pairs separated by ":")' % p['mac'])
    net, problem = fabric.parse_subnet(p['subnet'])
    address = None
    if net is not None:
        address, problem = fabric.node_address(net, p['index'])
    if problem:
        module.fail_json(msg=problem)
    problem = fabric.subnet_conflict(net, p['avoid_routes'], 'the controller')
    if problem:
        module.fail_json(msg=problem)
    want_netem, problem = fabric.normalize_netem(p['netem'] if p['state'] == 'present' else None)
    if problem:
        module.fail_json(msg=problem)
    ip = module.get_bin_path('ip', opt_dirs=['/usr/sbin', '/sbin'])
    if not ip:
        module.fail_json(msg='the ip program is missing; install it: apt-get install iproute2')
    links, routes = read_state(module, ip)
    names = fabric.netdev_by_mac(links, mac)
    if len(names) != 1:
        seen = ', '.join('%s (%s)' % (n, links[n]['mac']) for n in sorted(links)) or 'none'
        what = 'no NIC' if not names else 'several NICs (%s)' % ', '.join(names)
        module.fail_json(msg='%s has MAC %s, the fabric NIC of %s (NICs: %s); start the VM with its fabric NIC '
                             '(local_vm_fabric, qemu_vm fabric) or give the mac the VM was started with; a VM started '
                             'before its fabric was declared needs a stop and start (restart_needed)'
                         % (what, mac, p['vm_name'] or 'this node', seen))
    dev = names[0]
    problem = fabric.subnet_conflict(net, routes, 'this guest', own_dev=dev)
    if problem:
        module.fail_json(msg=problem, netdev=dev)
    steps, before, after = fabric.plan_netdev(dev, links[dev], routes, net, address, p['unreachable_metric'],
                                              p['state'], p['link_state'])
    actions = [Action('run', dev, desc, argv=[ip] + args) for args, desc in steps]
    tc = module.get_bin_path('tc', opt_dirs=['/usr/sbin', '/sbin'])
    if not tc and want_netem is not None:
        module.fail_json(msg='the tc program is missing, and netem needs it; install it: apt-get install iproute2',
                         netdev=dev)
    # without tc there is no netem qdisc to remove either
    root = read_root_qdisc(module, tc, dev) if tc else None
    qdisc_actions = plan_qdisc(module, tc, dev, root, want_netem) if tc else []
    actions += qdisc_actions
    apply_actions(module, actions, runner=lambda action: load_netem(module, action))
    if qdisc_actions and not module.check_mode:
        qdisc = fabric.netem_result(read_root_qdisc(module, tc, dev))
    else:
        qdisc = predicted_qdisc(root, want_netem, bool(qdisc_actions))
    result = dict(changed=bool(actions), actions=[a.description for a in actions], netdev=dev, mac=mac,
                  address=str(address), prefixlen=net.prefixlen, subnet=str(net.cidr),
                  link_state=p['link_state'] if p['state'] == 'present' else ('up' if links[dev]['up'] else 'down'),
                  qdisc=qdisc)
    if module._diff:
        qdisc_after = 'qdisc: %s\n' % (qdisc['kind'] or 'the default') if qdisc['netem'] is None else \
            'qdisc: netem %s\n' % fabric.describe_netem(qdisc['netem'])
        result['diff'] = dict(before_header='%s (%s)' % (dev, mac), after_header='%s (%s)' % (dev, mac),
                              before=before + (fabric.describe_qdisc(root) if tc else ''),
                              after=after + (qdisc_after if tc else ''))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
