# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""RDMA (soft-RoCE) parsers and sysfs readers.

* ``rdma -j link show`` JSON, queried with jmespath (falls back to plain
  Python when jmespath is not installed on the managed host: Debian and
  Ubuntu do not install python3-jmespath by default).
* ``rdma link help`` (does this iproute2 have ``rdma link add``?).
* ``/lib/modules/<release>/modules.dep`` and ``modules.builtin`` (is
  ``rdma_rxe`` in this kernel?).
* ``/sys/class/infiniband/<dev>``: node and port attributes and the GID
  table, decoded with netaddr (stdlib ``ipaddress`` when netaddr is missing).
* ``ibv_devinfo`` text (the only source of ``active_mtu``/``max_mtu``: sysfs
  has no MTU attribute under ``ports/N``).

Everything but :func:`read_ib_device` / :func:`list_ib_devices` is a pure
function over text; those two read sysfs through ``common.read_text`` so that
unit tests can point ``common.HOST_ROOT`` at a captured tree.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import host_path, read_first_line

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - depends on the host
    jmespath = None
    HAS_JMESPATH = False

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - depends on the host
    netaddr = None
    HAS_NETADDR = False

try:
    import ipaddress
except ImportError:  # pragma: no cover - Python 2 without the backport
    ipaddress = None

SYS_IB = '/sys/class/infiniband'
RXE_MODULE = 'rdma_rxe'
RXE_VENDOR_ID = '0xffffff'
ROCE_V2 = 'RoCE v2'
ROCE_V1 = 'IB/RoCE v1'

LINK_QUERY = ('[].{name: ifname, port: port, state: state, physical_state: physical_state, '
              'netdev: netdev, netdev_index: netdev_index}')
LINK_KEYS = (('name', 'ifname'), ('port', 'port'), ('state', 'state'),
             ('physical_state', 'physical_state'), ('netdev', 'netdev'), ('netdev_index', 'netdev_index'))

# IB MTU enum values (include/rdma/ib_verbs.h)
IB_MTUS = (4096, 2048, 1024, 512, 256)
# drivers/infiniband/sw/rxe/rxe_param.h: RXE_MAX_HDR_LENGTH
RXE_MAX_HDR_LENGTH = 80


# --------------------------------------------------------------------------
# rdma tool output

def parse_rdma_links(text, use_jmespath=None):
    """``rdma -j link show`` -> list of {name, port, state, physical_state, netdev, netdev_index}.

    Ports without a netdev (InfiniBand HCAs) have ``netdev`` None.
    """
    text = (text or '').strip()
    if not text:
        return []
    data = json.loads(text)
    if use_jmespath is None:
        use_jmespath = HAS_JMESPATH
    if use_jmespath:
        links = jmespath.search(LINK_QUERY, data) or []
    else:
        links = [dict((key, entry.get(src)) for key, src in LINK_KEYS) for entry in data]
    return links


def find_links(links, name=None, netdev=None):
    """The links with this device ``name`` and/or on this ``netdev``."""
    if HAS_JMESPATH:
        expr = '[?' + ' && '.join(
            ([u'name == `%s`' % json.dumps(name)] if name is not None else [])
            + ([u'netdev == `%s`' % json.dumps(netdev)] if netdev is not None else [])) + ']'
        if name is None and netdev is None:
            return list(links)
        return jmespath.search(expr, links) or []
    return [link for link in links
            if (name is None or link['name'] == name) and (netdev is None or link['netdev'] == netdev)]


def link_help_supports_add(text):
    """Whether ``rdma link help`` lists ``rdma link add`` (iproute2 5.1 and later)."""
    return bool(re.search(r'^\s*Usage:\s+rdma link add\b', text or '', re.M))


# --------------------------------------------------------------------------
# kernel module index

def module_in_dep(text, module):
    """Whether ``modules.dep`` text lists ``module`` (any compression suffix; '-' and '_' alike)."""
    wanted = module.replace('-', '_')
    for line in (text or '').splitlines():
        path = line.split(':', 1)[0].strip()
        base = os.path.basename(path)
        m = re.match(r'^(.*)\.ko(\.[a-z0-9]+)?$', base)
        if m and m.group(1).replace('-', '_') == wanted:
            return True
    return False


def module_builtin(text, module):
    """Whether ``modules.builtin`` text lists ``module``."""
    return module_in_dep(text, module)


# --------------------------------------------------------------------------
# sysfs values

def parse_numbered(text):
    """``'4: ACTIVE'`` -> ``(4, 'ACTIVE')``; ``'Ethernet'`` -> ``(None, 'Ethernet')``; None -> (None, None)."""
    if text is None:
        return None, None
    m = re.match(r'^\s*(\d+)\s*:\s*(.*?)\s*$', text)
    if m:
        return int(m.group(1)), m.group(2)
    return None, text.strip()


def gid_is_zero(gid):
    return not (gid or '').replace(':', '').strip('0')


def _ip_of_gid(gid):
    """IPv6 address of a GID (colon-separated hex) -> (ip text, version) with IPv4-mapped -> IPv4."""
    if HAS_NETADDR:
        addr = netaddr.IPAddress(gid, 6)
        if addr.is_ipv4_mapped():
            return str(addr.ipv4()), 4
        return str(addr), 6
    addr = ipaddress.IPv6Address(u'%s' % gid)
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped), 4
    return str(addr), 6


def decode_gid(index, gid, gid_type=None, ndev=None):
    """One GID table entry, or None for an unused (all-zero) entry.

    For RoCE v2 GIDs (the GID is the IP address) ``ip`` and ``ip_version``
    say which address it maps to (``::ffff:a.b.c.d`` -> IPv4 ``a.b.c.d``).
    """
    if gid is None or gid_is_zero(gid):
        return None
    entry = {'index': index, 'gid': gid.strip(), 'type': gid_type, 'netdev': ndev, 'ip': None, 'ip_version': None}
    if gid_type == ROCE_V2:
        entry['ip'], entry['ip_version'] = _ip_of_gid(gid.strip())
    return entry


def ipv4_gid_index(gids):
    """Index of the first RoCE v2 GID that maps an IPv4 address (what ``ibv_*_pingpong -g N`` needs), or None."""
    for entry in gids:
        if entry['type'] == ROCE_V2 and entry['ip_version'] == 4:
            return entry['index']
    return None


def rxe_active_mtu(netdev_mtu):
    """The active MTU rdma_rxe derives from its netdev's MTU (rxe_set_mtu: netdev MTU - 80, rounded down to an IB MTU)."""
    if netdev_mtu is None:
        return None
    payload = netdev_mtu - RXE_MAX_HDR_LENGTH
    for mtu in IB_MTUS:
        if payload >= mtu:
            return mtu
    return 256


# --------------------------------------------------------------------------
# ibv_devinfo

def parse_ibv_devinfo(text):
    """``ibv_devinfo`` (without -v) -> {dev: {vendor_id, transport, ports: {port: {...}}}}.

    Port keys: state, max_mtu, active_mtu (ints, bytes), link_layer.
    """
    devices = {}
    dev = None
    port = None
    for line in (text or '').splitlines():
        m = re.match(r'^hca_id:\s*(\S+)', line)
        if m:
            dev = devices.setdefault(m.group(1), {'ports': {}})
            port = None
            continue
        if dev is None:
            continue
        m = re.match(r'^\s+port:\s*(\d+)', line)
        if m:
            port = dev['ports'].setdefault(int(m.group(1)), {})
            continue
        m = re.match(r'^\s+([a-z_]+):\s*(.*?)\s*$', line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if port is None:
            if key in ('vendor_id', 'transport', 'fw_ver', 'node_guid', 'phys_port_cnt'):
                dev[key] = value
        elif key in ('max_mtu', 'active_mtu'):
            mm = re.match(r'^(\d+)', value)
            port[key] = int(mm.group(1)) if mm else None
        elif key in ('state', 'link_layer'):
            port[key] = value
    return devices


# --------------------------------------------------------------------------
# sysfs readers (IO through common.read_text / host_path)

def list_ib_devices():
    """Names under /sys/class/infiniband (sorted); [] when there is none."""
    try:
        return sorted(os.listdir(host_path(SYS_IB)))
    except OSError:
        return []


def device_driver(dev_sysfs_path, node_type, has_parent):
    """The kernel driver of an IB device.

    rdma_rxe devices are virtual (no ``device`` link) and the only ones with a ``parent``
    attribute (their netdev): ``rxe``. Other devices: the ``device/driver`` link (``mlx5_core``...;
    for SoftiWARP, node type RNIC, that link names the NIC's driver since siw hangs off the netdev's
    parent). ``node_desc`` is not used: rdma-ndd rewrites it to "<hostname> <device>".
    """
    link = host_path(dev_sysfs_path + '/device/driver')
    if has_parent and not os.path.islink(link):
        return 'rxe'
    if os.path.islink(link):
        return os.path.basename(os.readlink(link))
    return 'unknown'


def _sorted_numeric(names):
    return sorted((n for n in names if n.isdigit()), key=int)


def read_port(dev, port):
    base = '%s/%s/ports/%s' % (SYS_IB, dev, port)
    state_num, state = parse_numbered(read_first_line(base + '/state'))
    phys_num, phys = parse_numbered(read_first_line(base + '/phys_state'))
    gids = []
    try:
        indexes = _sorted_numeric(os.listdir(host_path(base + '/gids')))
    except OSError:
        indexes = []
    for i in indexes:
        gid = read_first_line('%s/gids/%s' % (base, i))
        if gid is None or gid_is_zero(gid):
            continue
        entry = decode_gid(int(i), gid, read_first_line('%s/gid_attrs/types/%s' % (base, i)),
                           read_first_line('%s/gid_attrs/ndevs/%s' % (base, i)))
        if entry is not None:
            gids.append(entry)
    ndevs = [g['netdev'] for g in gids if g['netdev']]
    return {
        'port': int(port),
        'state': state, 'state_num': state_num,
        'physical_state': phys, 'physical_state_num': phys_num,
        'link_layer': read_first_line(base + '/link_layer'),
        'rate': read_first_line(base + '/rate'),
        'netdev': ndevs[0] if ndevs else None,
        'gids': gids,
        'ipv4_gid_index': ipv4_gid_index(gids),
    }


def read_ib_device(dev):
    """Facts about one device under /sys/class/infiniband, or None when it does not exist."""
    base = '%s/%s' % (SYS_IB, dev)
    if not os.path.isdir(host_path(base)):
        return None
    parent = read_first_line(base + '/parent')
    node_type_num, node_type = parse_numbered(read_first_line(base + '/node_type'))
    node_desc = read_first_line(base + '/node_desc')
    try:
        ports = _sorted_numeric(os.listdir(host_path(base + '/ports')))
    except OSError:
        ports = []
    facts = {
        'name': dev,
        'driver': device_driver(base, node_type, parent is not None),
        'parent': parent,
        'node_type': node_type, 'node_type_num': node_type_num,
        'node_desc': node_desc,
        'node_guid': read_first_line(base + '/node_guid'),
        'sys_image_guid': read_first_line(base + '/sys_image_guid'),
        'fw_ver': read_first_line(base + '/fw_ver'),
        'ports': [read_port(dev, p) for p in ports],
    }
    netdevs = [p['netdev'] for p in facts['ports'] if p['netdev']]
    facts['netdev'] = parent or (netdevs[0] if netdevs else None)
    return facts


# --------------------------------------------------------------------------
# ibv_*_pingpong (libibverbs examples, package ibverbs-utils)

PINGPONG_TOOLS = {
    'ud': 'ibv_ud_pingpong',
    'rc': 'ibv_rc_pingpong',
    'uc': 'ibv_uc_pingpong',
    'srq': 'ibv_srq_pingpong',
}

_PP_BYTES_RE = re.compile(r'^(\d+) bytes in ([0-9.]+) seconds = ([0-9.]+) Mbit/sec', re.M)
_PP_ITERS_RE = re.compile(r'^(\d+) iters in ([0-9.]+) seconds = ([0-9.]+) usec/iter', re.M)
_PP_ADDR_RE = re.compile(r'^\s*(local|remote) address:\s+LID (0x[0-9a-fA-F]+), QPN (0x[0-9a-fA-F]+), '
                         r'PSN (0x[0-9a-fA-F]+)(?:, QKey (0x[0-9a-fA-F]+))?[,:]?\s*GID (\S+)', re.M)


def pingpong_argv(tool, device, ib_port, gid_index, tcp_port, iterations, size=None, server=None):
    """argv of one side of an ``ibv_*_pingpong`` run (the client when ``server`` is an address)."""
    argv = [tool, '-d', device, '-i', str(ib_port), '-g', str(gid_index), '-p', str(tcp_port),
            '-n', str(iterations)]
    if size:
        argv += ['-s', str(size)]
    if server:
        argv.append(server)
    return argv


def parse_pingpong(text):
    """Figures of one side's ``ibv_*_pingpong`` stdout.

    Returns a dict with ``bytes``, ``seconds``, ``mbit_per_sec``, ``iterations``,
    ``usec_per_iter`` (None when the line is missing) and ``local``/``remote``
    (LID, QPN, PSN, GID of the queue pairs, None when missing).
    """
    text = text or ''
    out = dict(bytes=None, seconds=None, mbit_per_sec=None, iterations=None, usec_per_iter=None,
               local=None, remote=None)
    m = _PP_BYTES_RE.search(text)
    if m:
        out.update(bytes=int(m.group(1)), seconds=float(m.group(2)), mbit_per_sec=float(m.group(3)))
    m = _PP_ITERS_RE.search(text)
    if m:
        out.update(iterations=int(m.group(1)), usec_per_iter=float(m.group(3)))
    for m in _PP_ADDR_RE.finditer(text):
        out[m.group(1)] = {'lid': m.group(2), 'qpn': m.group(3), 'psn': m.group(4), 'gid': m.group(6)}
    return out


def pingpong_hint(stderr, device, gid_index):
    """How to fix a failed ping-pong, judged from what the program printed."""
    err = stderr or ''
    if "Couldn't connect to" in err or 'Couldn\'t listen' in err:
        return ('the two sides could not meet on the TCP rendezvous port: another program may use it '
                '(choose another tcp_port) or a firewall drops loopback traffic')
    if 'No IB devices found' in err or ('IB device %s not found' % device) in err:
        return ('there is no RDMA device %s: create the soft-RoCE link first (labkit.ebpf_rdma.rxe_link) '
                'or name an existing device (rdma link show)' % device)
    if 'Failed to modify QP to RTR' in err or 'Failed to create AH' in err or "Couldn't read sgid" in err:
        return ('GID index %s does not work for this port: use the IPv4-mapped RoCE v2 GID '
                '(labkit.ebpf_rdma.rdma_facts ipv4_gid_index; gid_index: -1 picks it)' % gid_index)
    if "Couldn't allocate" in err or "Couldn't register MR" in err or "Couldn't create" in err:
        return ('the verbs resources could not be allocated: the locked-memory limit may be too low '
                '(labkit.ebpf_rdma.memlock) or the device is not ACTIVE')
    return 'check the device state (rdma link show; ibv_devinfo -d %s)' % device


def stale_pingpong_servers(procs, tcp_port):
    """The pids among ``procs`` (pid -> argv) that are ``ibv_*_pingpong`` servers on ``tcp_port``.

    A server is a ping-pong program run without the peer's address (its last
    argument is an option value, not an address); one left from an earlier run
    answers the next client with its own GID index and both sides fail.
    """
    programs = set(PINGPONG_TOOLS.values())
    found = []
    for pid, argv in sorted(procs.items()):
        if not argv or argv[0].rsplit('/', 1)[-1] not in programs:
            continue
        pairs = dict(zip(argv[1::2], argv[2::2]))
        if pairs.get('-p') == str(tcp_port) and len(argv) % 2 == 1:
            found.append(pid)
    return found
