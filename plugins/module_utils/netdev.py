# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Network device facts, read from ``/sys/class/net`` and ``ip -j route``.

:func:`netdev_facts` reads one netdev's sysfs attributes (through
``common.read_text``, so unit tests can point ``common.HOST_ROOT`` at a fake
tree); :func:`parse_default_route` and :func:`netdev_problem` are pure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import host_path, read_first_line

SYS_NET = '/sys/class/net'

# include/uapi/linux/if_arp.h
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NAMES = {
    1: 'ether', 32: 'infiniband', 512: 'ppp', 768: 'ipip', 772: 'loopback', 776: 'sit',
    778: 'gre', 823: 'ip6gre', 65534: 'none',
}
IFF_LOOPBACK = 0x8


def _int(text, base=10):
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def list_netdevs():
    """Names of the network devices under /sys/class/net (sorted)."""
    try:
        return sorted(os.listdir(host_path(SYS_NET)))
    except OSError:
        return []


def netdev_facts(name):
    """Facts about the netdev ``name``.

    ``carrier`` is None when the kernel refuses to read it (the interface is
    down: reading ``carrier`` then fails with EINVAL).
    """
    base = '%s/%s' % (SYS_NET, name)
    exists = bool(name) and '/' not in name and os.path.isdir(host_path(base))
    facts = {
        'name': name, 'exists': exists, 'type': None, 'type_name': None, 'ethernet': False,
        'loopback': False, 'bridge': False, 'carrier': None, 'operstate': None, 'mtu': None,
        'address': None, 'flags': None,
    }
    if not exists:
        return facts
    arp_type = _int(read_first_line(base + '/type'))
    flags = _int(read_first_line(base + '/flags'), 16) if read_first_line(base + '/flags') else None
    carrier = read_first_line(base + '/carrier')
    facts.update({
        'type': arp_type,
        'type_name': ARPHRD_NAMES.get(arp_type, str(arp_type) if arp_type is not None else None),
        'loopback': arp_type == ARPHRD_LOOPBACK or bool(flags is not None and flags & IFF_LOOPBACK),
        'bridge': os.path.isdir(host_path(base + '/bridge')),
        'carrier': None if carrier is None else carrier == '1',
        'operstate': read_first_line(base + '/operstate'),
        'mtu': _int(read_first_line(base + '/mtu')),
        'address': read_first_line(base + '/address'),
        'flags': flags,
    })
    facts['ethernet'] = arp_type == ARPHRD_ETHER and not facts['loopback']
    return facts


def netdev_problem(facts):
    """Why a soft-RoCE link cannot be put on this netdev, or None when it can.

    The text says what is wrong and why; callers add the fix.
    """
    name = facts['name']
    if not facts['exists']:
        return 'netdev %s does not exist (no %s/%s)' % (name, SYS_NET, name)
    if facts['loopback']:
        return ('netdev %s is the loopback device; soft-RoCE needs an Ethernet device '
                '(RoCE traffic to 127.0.0.1 works over any rxe link)' % name)
    if facts['bridge']:
        return ('netdev %s is a bridge; put the soft-RoCE link on the Ethernet device '
                'that carries the traffic, or on a dummy/veth device' % name)
    if not facts['ethernet']:
        return ('netdev %s is not Ethernet (ARP type %s: %s); soft-RoCE (RoCE) runs on Ethernet devices only'
                % (name, facts['type'], facts['type_name']))
    if not facts['carrier']:
        return ('netdev %s has no carrier (operstate %s); a soft-RoCE port on it stays DOWN '
                '(bring it up with "ip link set %s up" and connect it)' % (name, facts['operstate'], name))
    return None


def parse_default_route(text):
    """The netdev of the default route from ``ip -j route show default`` output, or None.

    With several default routes, the one with the lowest metric wins (the
    kernel's choice); routes without a device (e.g. ``blackhole``) are skipped.
    """
    text = (text or '').strip()
    if not text:
        return None
    routes = json.loads(text)
    best = None
    for route in routes:
        dev = route.get('dev')
        if not dev or route.get('type') in ('blackhole', 'unreachable', 'prohibit'):
            continue
        metric = route.get('metric', 0) or 0
        if best is None or metric < best[0]:
            best = (metric, dev)
    return best[1] if best else None
