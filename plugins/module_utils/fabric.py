# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The soft-RoCE fabric between local VMs (qemu_vm, fabric_netdev): the
fabric NIC's QEMU arguments and MAC, the node addresses of a subnet (netaddr),
which subnets are safe, and the plan that puts a node's address on its NIC.
Pure functions.

A fabric link is a pair of unix datagram sockets on the controller (QEMU's
``dgram`` netdev): no root, no bridge, no multicast, nothing leaves the
controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # reported by the modules with missing_required_lib
    netaddr = None
    HAS_NETADDR = False

MAC_RE = re.compile(r'^([0-9a-f]{2}:){5}[0-9a-f]{2}$')
# struct sockaddr_un.sun_path holds 108 bytes with the terminating NUL
UNIX_PATH_MAX = 107
# ranges a fabric subnet must never touch: loopback, link-local (169.254.169.254, the
# metadata address of clouds), multicast and the reserved block, and QEMU's user-mode
# network of the management NIC (10.0.2.0/24: its gateway, DNS and SMB addresses)
RESERVED = (
    ('127.0.0.0/8', 'loopback'),
    ('169.254.0.0/16', 'link-local (169.254.169.254 is the cloud metadata address)'),
    ('224.0.0.0/4', 'multicast'),
    ('240.0.0.0/4', 'reserved'),
    ('0.0.0.0/8', '"this network"'),
    ('10.0.2.0/24', "QEMU user-mode networking of the management NIC"),
)
DEFAULT_UNREACHABLE_METRIC = 4242


# ---------------------------------------------------------------- VM side (QEMU)

def fabric_mac(vm_name, index=0):
    """The MAC of fabric NIC ``index`` of VM ``vm_name``: stable, locally administered, unicast (02:...)."""
    digest = hashlib.sha256(('labkit-fabric|%s|%d' % (vm_name, int(index))).encode('utf-8')).hexdigest()
    return '02:' + ':'.join(digest[i:i + 2] for i in range(0, 10, 2))


def normalize_links(vm_name, links):
    """Fabric links as dicts with ``local``, ``remote`` and ``mac`` (the computed MAC when none is given)."""
    out = []
    for i, link in enumerate(links or []):
        out.append(dict(local=link.get('local') or '', remote=link.get('remote') or '',
                        mac=(link.get('mac') or fabric_mac(vm_name, i)).lower()))
    return out


def links_problem(links):
    """What is wrong with normalized fabric links (:func:`normalize_links`), or None."""
    seen = set()
    for i, link in enumerate(links):
        for key in ('local', 'remote'):
            path = link[key]
            if not path or not os.path.isabs(path):
                return ('fabric link %d: %s=%r is not an absolute path; give the unix datagram socket paths of both '
                        'ends (local_vm_fabric)' % (i, key, path))
            if len(path.encode('utf-8')) > UNIX_PATH_MAX:
                return ('fabric link %d: the socket path %s is longer than a unix socket path can be (%d bytes); '
                        'choose a shorter socket directory (labkit_fabric_socket_dir)' % (i, path, UNIX_PATH_MAX))
            if re.search(r'[\x00-\x1f\x7f]', path):
                return 'fabric link %d: %s=%r holds a control character; use a plain path' % (i, key, path)
        if link['local'] == link['remote']:
            return ('fabric link %d: local and remote are the same socket %s; remote is the local socket of the '
                    'peer VM' % (i, link['local']))
        if link['local'] in seen:
            return 'fabric link %d: the local socket %s is used twice' % (i, link['local'])
        seen.add(link['local'])
        mac = link['mac']
        if not MAC_RE.match(mac) or int(mac[:2], 16) & 1:
            return ('fabric link %d: mac=%r is not a unicast MAC (six hex pairs separated by ":", first octet '
                    'even); leave it empty for the computed one' % (i, mac))
    return None


def fabric_args(links, qemu_opt):
    """``-netdev dgram`` + ``-device virtio-net-pci`` arguments of normalized links (ids fab0, fab1...)."""
    argv = []
    for i, link in enumerate(links):
        argv += ['-netdev', 'dgram,id=fab%d,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s'
                 % (i, qemu_opt(link['local']), qemu_opt(link['remote'])),
                 '-device', 'virtio-net-pci,netdev=fab%d,mac=%s' % (i, link['mac'])]
    return argv


# ---------------------------------------------------------------- addresses

def parse_subnet(subnet):
    """``(network, error)``: a netaddr IPNetwork of an IPv4 subnet given in CIDR form, its host bits zero."""
    try:
        net = netaddr.IPNetwork(subnet)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None, 'subnet %r is not an IPv4 network in CIDR form such as 10.77.0.0/24 (fabric_subnet)' % (subnet,)
    if net.version != 4 or '/' not in str(subnet):
        return None, 'subnet %r is not an IPv4 network in CIDR form such as 10.77.0.0/24 (fabric_subnet)' % (subnet,)
    if net.ip != net.network:
        return None, ('subnet %s has host bits set; did you mean %s? (fabric_subnet)' % (subnet, net.cidr))
    if net.prefixlen > 30:
        return None, 'subnet %s has no room for two nodes; use a /30 or larger, such as a /24 (fabric_subnet)' % subnet
    return net, None


def node_address(net, index):
    """``(address, error)``: the address of node ``index`` (1 = the first host address) in ``net``."""
    if index < 1 or index > net.size - 2:
        return None, ('node index %d does not fit in %s, which has %d host addresses; use a larger subnet '
                      '(fabric_subnet)' % (index, net.cidr, net.size - 2))
    return netaddr.IPAddress(int(net.network) + index), None


def parse_routes(text):
    """``ip -j route show`` output -> list of route dicts (``[]`` for empty output)."""
    text = (text or '').strip()
    return json.loads(text) if text else []


def subnet_conflict(net, routes, where, own_dev=None):
    """Why ``net`` must not be the fabric subnet given the ``routes`` of ``where``, or None.

    Default routes are no conflict (everything overlaps them); routes through
    ``own_dev`` (the fabric NIC itself) and unreachable routes of exactly
    ``net`` (the pin this module adds) are this fabric's own.
    """
    for cidr, what in RESERVED:
        if net.cidr in netaddr.IPNetwork(cidr) or netaddr.IPNetwork(cidr) in net.cidr:
            return ('subnet %s overlaps %s (%s), whose addresses must never be fabric addresses; choose another '
                    'private subnet such as 10.77.0.0/24 (fabric_subnet)' % (net.cidr, cidr, what))
    for route in routes:
        dst = route.get('dst')
        if not dst or dst == 'default':
            continue
        if own_dev and route.get('dev') == own_dev:
            continue
        try:
            other = netaddr.IPNetwork(dst)
        except (netaddr.AddrFormatError, ValueError):
            continue
        if other.version != 4:
            continue
        if route.get('type') == 'unreachable' and other.cidr == net.cidr:
            continue
        if other.cidr in net.cidr or net.cidr in other.cidr:
            via = route.get('dev') or route.get('type') or 'no device'
            return ('subnet %s overlaps the route %s (%s) of %s: fabric addresses there would shadow (or leak to) '
                    'that network; choose a subnet that no route of %s covers (fabric_subnet)'
                    % (net.cidr, other.cidr, via, where, where))
    return None


# ---------------------------------------------------------------- the guest's NIC

def parse_links(text):
    """``ip -j addr show`` output -> ``{ifname: {mac, up, ipv4: [cidr...]}}``."""
    out = {}
    for dev in json.loads((text or '').strip() or '[]'):
        flags = dev.get('flags') or []
        out[dev.get('ifname')] = dict(
            mac=(dev.get('address') or '').lower(),
            up='UP' in flags,
            lower_up='LOWER_UP' in flags,
            operstate=dev.get('operstate'),
            ipv4=['%s/%s' % (a['local'], a['prefixlen']) for a in dev.get('addr_info') or []
                  if a.get('family') == 'inet'],
        )
    return out


def netdev_by_mac(links, mac):
    """The names of the netdevs (from :func:`parse_links`) with MAC ``mac``."""
    return sorted(name for name, link in links.items() if link['mac'] == mac.lower())


def has_pin(routes, net, metric):
    return any(r.get('type') == 'unreachable' and r.get('dst') == str(net.cidr) and
               int(r.get('metric') or 0) == int(metric) for r in routes)


def describe_state(dev, link, pinned):
    """The NIC's state as text (the diff's before/after)."""
    if link is None:
        return ''
    lines = ['netdev: %s' % dev, 'mac: %s' % link['mac'], 'link: %s' % ('up' if link['up'] else 'down')]
    lines += ['address: %s' % a for a in sorted(link['ipv4'])]
    lines += ['route: unreachable %s' % p for p in pinned]
    return '\n'.join(lines) + '\n'


def plan_netdev(dev, link, routes, net, address, metric, state, link_state):
    """Commands (``ip`` argument lists without the program) and their descriptions that bring the
    fabric NIC ``dev`` to the desired state, and the state after them (for the diff).

    ``state=present``: exactly ``address`` of ``net`` on the NIC (other addresses of ``net`` on it go),
    the NIC ``link_state`` (up or down: a fault), and the unreachable route of ``net`` with ``metric``,
    which keeps fabric traffic off the management NIC when the fabric NIC is down.
    ``state=absent``: the address and the pin go.
    """
    want = '%s/%d' % (address, net.prefixlen)
    steps = []
    after = dict(link, ipv4=list(link['ipv4']))
    in_net = [a for a in link['ipv4'] if netaddr.IPNetwork(a).ip in net]
    pinned = has_pin(routes, net, metric)
    if state == 'present':
        if not pinned:
            steps.append((['route', 'replace', 'unreachable', str(net.cidr), 'metric', str(metric)],
                          'pin %s with an unreachable route (metric %d): fabric traffic never takes the default route'
                          % (net.cidr, metric)))
        for a in in_net:
            if a != want:
                steps.append((['addr', 'del', a, 'dev', dev], 'remove %s from %s (not this node\'s address)' % (a, dev)))
                after['ipv4'].remove(a)
        if want not in link['ipv4']:
            steps.append((['addr', 'add', want, 'dev', dev], 'add %s to %s' % (want, dev)))
            after['ipv4'].append(want)
        if link['up'] != (link_state == 'up'):
            steps.append((['link', 'set', 'dev', dev, link_state], 'set %s %s' % (dev, link_state)))
            after['up'] = link_state == 'up'
        after_pins = [str(net.cidr)]
    else:
        for a in in_net:
            steps.append((['addr', 'del', a, 'dev', dev], 'remove %s from %s' % (a, dev)))
            after['ipv4'].remove(a)
        if pinned:
            steps.append((['route', 'del', 'unreachable', str(net.cidr), 'metric', str(metric)],
                          'remove the unreachable route of %s' % net.cidr))
        after_pins = []
    before = describe_state(dev, link, [str(net.cidr)] if pinned else [])
    return steps, before, describe_state(dev, after, after_pins)


# ---------------------------------------------------------------- faults: tc netem on the fabric NIC

NETEM_MODULE = 'sch_netem'
# keys of a netem qdisc's ``tc -j`` options that this module sets or that every netem qdisc has;
# any other key (duplicate, reorder, corrupt, rate, slot, another loss model) is an impairment
# set by someone else, so such a qdisc is replaced
NETEM_PLAIN_KEYS = frozenset(['limit', 'delay', 'loss-random', 'ecn', 'gap'])


def parse_qdiscs(text):
    """``tc -j qdisc show dev NIC`` output -> list of qdisc dicts (``[]`` for empty output)."""
    text = (text or '').strip()
    return json.loads(text) if text else []


def root_qdisc(qdiscs):
    """The root qdisc of :func:`parse_qdiscs` output, or None."""
    for q in qdiscs:
        if q.get('root'):
            return q
    return None


def normalize_netem(netem):
    """``(netem, error)``: the wanted netem as ``{delay_ms, jitter_ms, loss_percent}``, None for no netem.

    None, ``{}`` and all zeros mean no netem qdisc.
    """
    netem = netem or {}
    delay = int(netem.get('delay_ms') or 0)
    jitter = int(netem.get('jitter_ms') or 0)
    loss = float(netem.get('loss_percent') or 0.0)
    if delay < 0 or jitter < 0:
        return None, ('netem delay_ms=%d and jitter_ms=%d must not be negative (milliseconds; fabric_netem)'
                      % (delay, jitter))
    if jitter and not delay:
        return None, ('netem jitter_ms=%d needs a delay_ms: the jitter varies the delay (fabric_netem)' % jitter)
    if not 0.0 <= loss <= 100.0:
        return None, 'netem loss_percent=%s is not a percentage (0 to 100; fabric_netem)' % loss
    if not (delay or jitter or loss):
        return None, None
    return dict(delay_ms=delay, jitter_ms=jitter, loss_percent=loss), None


def qdisc_netem(qdisc):
    """``{delay_ms, jitter_ms, loss_percent, other}`` of a netem qdisc (``tc -j``), or None for another kind.

    ``tc -j`` gives the delay and jitter in seconds and the loss as a fraction; ``other`` lists what else the
    qdisc does (options this module never sets, correlations), which makes it differ from any wanted netem.
    """
    if not qdisc or qdisc.get('kind') != 'netem':
        return None
    opts = qdisc.get('options') or {}
    delay = opts.get('delay') or {}
    loss = opts.get('loss-random') or {}
    other = sorted(k for k in opts if k not in NETEM_PLAIN_KEYS)
    other += ['%s correlation' % k for k, v in (('delay', delay), ('loss', loss)) if v.get('correlation')]
    if opts.get('ecn'):
        other.append('ecn')
    return dict(delay_ms=int(round(float(delay.get('delay') or 0) * 1000)),
                jitter_ms=int(round(float(delay.get('jitter') or 0) * 1000)),
                loss_percent=round(float(loss.get('loss') or 0) * 100, 6),
                other=other)


def netem_matches(have, want):
    """Whether the netem of a qdisc (:func:`qdisc_netem`) is the wanted one (:func:`normalize_netem`)."""
    return (have is not None and not have['other'] and have['delay_ms'] == want['delay_ms'] and
            have['jitter_ms'] == want['jitter_ms'] and abs(have['loss_percent'] - want['loss_percent']) < 1e-4)


def netem_args(want):
    """The ``netem`` arguments of ``tc qdisc replace`` for a wanted netem."""
    args = ['netem']
    if want['delay_ms']:
        args += ['delay', '%dms' % want['delay_ms']]
        if want['jitter_ms']:
            args.append('%dms' % want['jitter_ms'])
    if want['loss_percent']:
        args += ['loss', '%s%%' % ('%.6f' % want['loss_percent']).rstrip('0').rstrip('.')]
    return args


def describe_netem(netem):
    """A netem as text: ``delay 20ms jitter 5ms loss 1.5%`` (what :func:`qdisc_netem` or :func:`normalize_netem` gives)."""
    parts = []
    if netem.get('delay_ms'):
        parts.append('delay %dms' % netem['delay_ms'])
    if netem.get('jitter_ms'):
        parts.append('jitter %dms' % netem['jitter_ms'])
    if netem.get('loss_percent'):
        parts.append('loss %s%%' % ('%.6f' % netem['loss_percent']).rstrip('0').rstrip('.'))
    parts += netem.get('other') or []
    return ' '.join(parts) or 'no impairment'


def describe_qdisc(qdisc):
    """The root qdisc as one line of the diff's before/after (``qdisc: netem delay 20ms``)."""
    if qdisc is None:
        return 'qdisc: none\n'
    netem = qdisc_netem(qdisc)
    return 'qdisc: %s%s\n' % (qdisc.get('kind'), ' ' + describe_netem(netem) if netem is not None else '')


def plan_netem(dev, root, want):
    """Commands (``tc`` argument lists without the program) and descriptions that give ``dev`` the wanted netem.

    ``want`` (from :func:`normalize_netem`) None removes a netem root qdisc (the one this module set; the kernel
    puts the NIC's default qdisc back) and leaves any other root qdisc alone; a netem is set as the root qdisc
    with ``tc qdisc replace``, which also changes one in place.
    """
    have = qdisc_netem(root)
    if want is None:
        if have is None:
            return []
        return [(['qdisc', 'del', 'dev', dev, 'root'],
                 'remove the netem root qdisc of %s (%s)' % (dev, describe_netem(have)))]
    if netem_matches(have, want):
        return []
    return [(['qdisc', 'replace', 'dev', dev, 'root'] + netem_args(want),
             'set netem on %s as its root qdisc: %s%s' % (dev, describe_netem(want),
                                                          ' (was %s)' % describe_netem(have) if have else ''))]


def netem_result(qdisc):
    """The module's ``qdisc`` return value: the root qdisc's kind and handle, and its netem (None for another kind)."""
    if qdisc is None:
        return dict(kind=None, handle=None, netem=None)
    netem = qdisc_netem(qdisc)
    return dict(kind=qdisc.get('kind'), handle=qdisc.get('handle'), netem=netem)
