#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: rdma_facts
short_description: Facts about RDMA devices, ports and GID tables (soft-RoCE and hardware)
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Reads every RDMA device under C(/sys/class/infiniband) - driver (V(rxe), V(mlx5_core)...), node type, node GUID,
    netdev - and each port's state, physical state, link layer, rate, MTUs and GID table; and the link view of
    C(rdma -j link show). Changes nothing.
  - Each GID table entry carries its type (V(RoCE v2) or V(IB/RoCE v1)) and, for RoCE v2, the IPv4 or IPv6 address
    it maps to (C(::ffff:a.b.c.d) is IPv4 C(a.b.c.d)); unused (all-zero) entries are skipped. Each port has
    C(ipv4_gid_index), the index of its first IPv4-mapped RoCE v2 GID (what C(ibv_ud_pingpong -g N) and friends need).
  - Sets C(ansible_facts.labkit_rdma), including a C(problems) list that says what stops RDMA traffic.
options:
  devices:
    description:
      - Only report these RDMA devices (default all).
    type: list
    elements: str
  ibv_devinfo:
    description:
      - Run C(ibv_devinfo) (from ibverbs-utils) for the ports' C(active_mtu) and C(max_mtu), which sysfs does not have.
      - When it is not installed (or with V(false)), an rxe port's active MTU is derived from its netdev's MTU the way
        C(rdma_rxe) does (netdev MTU minus 80, rounded down to 256/512/1024/2048/4096; max 4096), and other ports'
        MTUs are null. C(mtu_source) tells which.
    type: bool
    default: true
notes:
  - "Sources: sysfs C(/sys/class/infiniband/DEV) (C(node_type), C(node_guid), C(sys_image_guid), C(node_desc),
    C(fw_ver), C(parent) for rxe, the C(device/driver) link for hardware) and C(ports/N/) (C(state), C(phys_state),
    C(link_layer), C(rate), C(gids/I), C(gid_attrs/types/I), C(gid_attrs/ndevs/I)). sysfs has no MTU attribute for a
    port, hence C(ibv_devinfo)."
  - "rdma_rxe exposes no driver name in sysfs: a virtual device with a C(parent) netdev and C(node_desc) V(rxe) is
    reported as driver V(rxe) (and C(ibv_devinfo) shows vendor_id C(0xffffff) for it)."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: linux
seealso:
  - module: labkit.ebpf_rdma.rxe_link
'''

EXAMPLES = r'''
- name: Gather RDMA facts
  labkit.ebpf_rdma.rdma_facts:

- name: Ping-pong over the IPv4-mapped GID of rxe0
  ansible.builtin.command:
    argv: [ibv_ud_pingpong, -d, rxe0, -g, "{{ ansible_facts.labkit_rdma.devices.rxe0.ports[0].ipv4_gid_index }}"]
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    labkit_rdma:
      description: RDMA facts.
      type: complex
      contains:
        devices:
          description:
            - RDMA devices by name; each has C(name), C(driver), C(node_type) (V(CA)...), C(node_guid), C(sys_image_guid),
              C(node_desc), C(fw_ver), C(parent), C(netdev), C(vendor_id) (from ibv_devinfo, else null) and C(ports).
            - Each port has C(port), C(state) (V(ACTIVE), V(DOWN)...), C(physical_state) (V(LinkUp), V(Disabled)...),
              C(link_layer) (V(Ethernet), V(InfiniBand)), C(rate), C(netdev), C(active_mtu), C(max_mtu), C(mtu_source)
              (V(ibv_devinfo), V(rxe-netdev-mtu) or null), C(ipv4_gid_index), and C(gids), a list of
              C({index, gid, type, netdev, ip, ip_version}).
          type: dict
          sample:
            rxe0:
              name: rxe0
              driver: rxe
              node_type: CA
              node_guid: 5054:00ff:fe12:3456
              netdev: ens3
              ports:
                - port: 1
                  state: ACTIVE
                  physical_state: LinkUp
                  link_layer: Ethernet
                  active_mtu: 1024
                  max_mtu: 4096
                  mtu_source: ibv_devinfo
                  ipv4_gid_index: 1
                  gids:
                    - {index: 1, gid: "0000:0000:0000:0000:0000:ffff:0a00:020f", type: RoCE v2, netdev: ens3,
                       ip: 10.0.2.15, ip_version: 4}
        links:
          description: C(rdma -j link show), as a list of C({name, port, state, physical_state, netdev, netdev_index}).
          type: list
          elements: dict
        rxe_loaded:
          description: Whether the rdma_rxe kernel module is loaded (or built in).
          type: bool
        problems:
          description: What stops RDMA traffic, one sentence each (empty when all is well).
          type: list
          elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import host_path
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.netdev import netdev_facts
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.rdma import (
    RXE_MODULE,
    RXE_VENDOR_ID,
    list_ib_devices,
    parse_ibv_devinfo,
    parse_rdma_links,
    read_ib_device,
    rxe_active_mtu,
)


def add_mtus(device, devinfo, netdev_mtu):
    """Fill each port's active/max MTU from ibv_devinfo, else (rxe) from the netdev MTU."""
    info = devinfo.get(device['name'])
    device['vendor_id'] = info.get('vendor_id') if info else None
    if info and info.get('vendor_id') == RXE_VENDOR_ID and device['driver'] == 'unknown':
        device['driver'] = 'rxe'
    for port in device['ports']:
        pinfo = (info or {}).get('ports', {}).get(port['port'])
        if pinfo and pinfo.get('active_mtu'):
            port.update(active_mtu=pinfo['active_mtu'], max_mtu=pinfo.get('max_mtu'), mtu_source='ibv_devinfo')
        elif device['driver'] == 'rxe' and netdev_mtu is not None:
            port.update(active_mtu=rxe_active_mtu(netdev_mtu), max_mtu=4096, mtu_source='rxe-netdev-mtu')
        else:
            port.update(active_mtu=None, max_mtu=None, mtu_source=None)


def problems_for(devices, links, rxe_loaded, netdevs, link_error=None):
    """Pure: the problems list from the gathered facts."""
    problems = []
    if link_error:
        problems.append(link_error)
    if not devices:
        problems.append('no RDMA device: %s; create a soft-RoCE link with labkit.ebpf_rdma.rxe_link' % (
            'rdma_rxe is loaded but has no link' if rxe_loaded else 'rdma_rxe is not loaded'))
    for name in sorted(devices):
        dev = devices[name]
        for port in dev['ports']:
            where = '%s port %s' % (name, port['port'])
            netdev = port['netdev'] or dev['netdev']
            if port['state'] != 'ACTIVE':
                why = ''
                facts = netdevs.get(netdev)
                if facts is not None and not facts['exists']:
                    why = '; its netdev %s does not exist' % netdev
                elif facts is not None and not facts['carrier']:
                    why = '; its netdev %s has no carrier (operstate %s)' % (netdev, facts['operstate'])
                problems.append('%s is %s (physical state %s), not ACTIVE%s' % (
                    where, port['state'], port['physical_state'], why))
            if port['link_layer'] == 'Ethernet' and port['ipv4_gid_index'] is None:
                problems.append('%s has no IPv4-mapped RoCE v2 GID: give its netdev %s an IPv4 address '
                                '(RoCE v2 over IPv4 and ibv_*_pingpong -g need one)' % (where, netdev))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='str'),
            ibv_devinfo=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    wanted = module.params['devices']
    link_error = None
    links = []
    rdma = module.get_bin_path('rdma')
    if rdma:
        rc, out, err = module.run_command([rdma, '-j', 'link', 'show'])
        if rc == 0:
            links = parse_rdma_links(out)
        else:
            link_error = 'rdma -j link show failed (exit %d): %s' % (rc, (err or out).strip())

    devinfo = {}
    if module.params['ibv_devinfo']:
        ibv = module.get_bin_path('ibv_devinfo')
        if ibv:
            rc, out, err = module.run_command([ibv])
            if rc == 0:
                devinfo = parse_ibv_devinfo(out)

    devices = {}
    netdevs = {}
    for name in list_ib_devices():
        if wanted and name not in wanted:
            continue
        dev = read_ib_device(name)
        if dev is None:
            continue
        nd = dev['netdev']
        if nd and nd not in netdevs:
            netdevs[nd] = netdev_facts(nd)
        for port in dev['ports']:
            pnd = port['netdev']
            if pnd and pnd not in netdevs:
                netdevs[pnd] = netdev_facts(pnd)
        add_mtus(dev, devinfo, netdevs[nd]['mtu'] if nd else None)
        devices[name] = dev
    if wanted:
        links = [link for link in links if link['name'] in wanted]
    rxe_loaded = os.path.isdir(host_path('/sys/module/%s' % RXE_MODULE))
    problems = problems_for(devices, links, rxe_loaded, netdevs, link_error)
    if wanted:
        for name in wanted:
            if name not in devices:
                problems.append('RDMA device %s does not exist' % name)
    facts = {'devices': devices, 'links': links, 'rxe_loaded': rxe_loaded, 'problems': problems}
    module.exit_json(changed=False, ansible_facts={'labkit_rdma': facts})


if __name__ == '__main__':
    main()
