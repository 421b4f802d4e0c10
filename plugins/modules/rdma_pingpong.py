#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: rdma_pingpong
short_description: Pass RDMA traffic on a device with the libibverbs ping-pong programs (a smoke test)
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Runs one C(ibv_ud_pingpong) (or C(ibv_rc_pingpong), C(ibv_uc_pingpong), C(ibv_srq_pingpong)) server in the
    background and one client against it, both on this host and on the same RDMA device, and checks that both
    sides exit 0 (O(side=both)).
  - Across hosts (a fabric) one task runs O(side=server) on one node (in the background of the play, C(async)
    with C(poll 0)) and another O(side=client) on the other node with O(address) the server's IPv4 address; each
    side uses its own port's IPv4-mapped GID. The server runs for O(timeout) seconds at most; before it starts,
    a ping-pong server left on O(tcp_port) by an earlier run is stopped (RV(stale_servers)).
  - This is the smallest proof that a soft-RoCE (or hardware) device passes traffic end to end
    through libibverbs, the provider library and the kernel driver.
  - The GID index defaults to the port's first IPv4-mapped RoCE v2 GID, read from sysfs (the same table
    M(labkit.ebpf_rdma.rdma_facts) reports); RoCE needs a GID that carries an IP address.
  - The client is retried until the server listens on the TCP rendezvous port, within O(timeout) (or
    O(connect_timeout)).
  - O(side=stop) stops the ping-pong servers on O(tcp_port) of this host (RV(stopped)), so that a play ends the server
    of a check whose client failed instead of waiting for the server's O(timeout).
  - Changes nothing on the host (C(changed) is false) but with O(side=stop) when it stopped a server, so it also
    runs in check mode.
options:
  device:
    description: RDMA device to test, for example V(rxe0) (C(rdma link show)).
    type: str
    required: true
  transport:
    description:
      - Queue-pair type, which picks the program - V(ud) C(ibv_ud_pingpong), V(rc) C(ibv_rc_pingpong),
        V(uc) C(ibv_uc_pingpong), V(srq) C(ibv_srq_pingpong) (all from the ibverbs-utils package).
    type: str
    choices: [ud, rc, uc, srq]
    default: ud
  ib_port:
    description: Port of the device (C(-i)).
    type: int
    default: 1
  gid_index:
    description:
      - GID table index (C(-g)). V(-1) picks the port's first IPv4-mapped RoCE v2 GID.
    type: int
    default: -1
  tcp_port:
    description: TCP port the two sides meet on (C(-p)); the server listens on it on every address.
    type: int
    default: 18515
  address:
    description:
      - Address the client connects to, where the server runs (this host with O(side=both)). The programs meet
        over IPv4 only.
    type: str
    default: 127.0.0.1
  side:
    description:
      - V(both) runs the server and the client here. V(server) runs only the server (and waits for one client),
        V(client) only the client, against O(address).
      - V(stop) runs nothing; it stops the ping-pong servers on O(tcp_port) (O(device) is not read).
    type: str
    choices: [both, server, client, stop]
    default: both
  iterations:
    description: Number of exchanges (C(-n)).
    type: int
    default: 1000
  size:
    description:
      - Message size in bytes (C(-s)); V(0) keeps the program's default. For V(ud) it must fit the port's
        active MTU.
    type: int
    default: 0
  timeout:
    description: Seconds the whole test may take (server start, client retries and both runs) before it fails.
    type: int
    default: 30
  connect_timeout:
    description:
      - Seconds for which the client is retried while no server answers on O(address) (C(Couldn't connect));
        then it fails. V(0) retries within the whole O(timeout).
      - Across nodes, a peer that is off the fabric (its link down) then fails the check in this time rather than
        in O(timeout); the server side has had the head start of its own task.
    type: int
    default: 0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The test only sends traffic; it runs in check mode too. With O(side=stop) nothing is stopped in check mode.
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - The device must be ACTIVE and the locked-memory limit of the Ansible session high enough for the queue pairs'
    memory registrations (M(labkit.ebpf_rdma.memlock) sets it for new sessions).
seealso:
  - module: labkit.ebpf_rdma.rxe_link
  - module: labkit.ebpf_rdma.rdma_facts
'''

EXAMPLES = r'''
- name: UD traffic on rxe0 over its IPv4-mapped GID
  labkit.ebpf_rdma.rdma_pingpong:
    device: rxe0

- name: RC traffic on a hardware port with an explicit GID index and port
  labkit.ebpf_rdma.rdma_pingpong:
    device: mlx5_0
    transport: rc
    gid_index: 3
    tcp_port: 18600
  register: pp

- name: Show the throughput
  ansible.builtin.debug:
    msg: "{{ pp.client.mbit_per_sec }} Mbit/s over GID {{ pp.gid }}"

- name: Across two nodes - the server on node2, in the background
  labkit.ebpf_rdma.rdma_pingpong:
    device: rxe1
    side: server
    timeout: 60
  delegate_to: node2
  async: 90
  poll: 0
  changed_when: false
  register: pp_server

- name: The client on node1 against node2's fabric address
  labkit.ebpf_rdma.rdma_pingpong:
    device: rxe1
    side: client
    address: 10.77.0.2
    timeout: 60
  delegate_to: node1
  register: pp_client
'''

RETURN = r'''
program:
  description: The ping-pong program that ran.
  returned: when O(side) is not V(stop)
  type: str
  sample: ibv_ud_pingpong
gid_index:
  description: The GID index used.
  returned: when O(side) is not V(stop)
  type: int
  sample: 1
gid:
  description: The GID at that index, and the address it carries when known.
  returned: when O(side) is not V(stop)
  type: str
  sample: "::ffff:10.0.2.15"
server_cmd:
  description: The server's command line.
  returned: when O(side) is not V(stop)
  type: list
  elements: str
client_cmd:
  description: The client's command line.
  returned: when O(side) is not V(stop)
  type: list
  elements: str
side:
  description: Which side(s) ran here (O(side)).
  returned: always
  type: str
  sample: both
attempts:
  description: How many times the client was started (it is retried until the server listens); 0 with O(side=server).
  returned: when O(side) is not V(stop)
  type: int
client:
  description:
    - The client side - C(rc), C(stdout), C(stderr) and the figures it printed (C(bytes), C(seconds),
      C(mbit_per_sec), C(iterations), C(usec_per_iter), C(local) and C(remote) queue-pair addresses).
  returned: when O(side) is V(both) or V(client)
  type: dict
server:
  description: The server side, with the same keys as RV(client).
  returned: when O(side) is V(both) or V(server)
  type: dict
stale_servers:
  description: PIDs of ping-pong servers on O(tcp_port) left by earlier runs, stopped before this server started.
  returned: when O(side) is V(both) or V(server)
  type: list
  elements: int
stopped:
  description: PIDs of the ping-pong servers on O(tcp_port) that O(side=stop) stopped (in check mode, would stop).
  returned: when O(side) is V(stop)
  type: list
  elements: int
seconds:
  description: Wall time of the test.
  returned: always
  type: float
'''

import os
import shutil
import signal
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import background
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.rdma import (
    PINGPONG_TOOLS, parse_pingpong, pingpong_argv, pingpong_hint, read_ib_device, stale_pingpong_servers)

# Seconds the server may still take to finish once the client failed (it may
# print why); then it is killed.
SERVER_GRACE = 2


def side_result(rc, out, err):
    result = dict(rc=rc, stdout=out or '', stderr=err or '')
    result.update(parse_pingpong(out))
    return result


def choose_gid(module, dev, ib_port, gid_index):
    """Return (index, gid text) for the port, failing with the table when it has no usable GID."""
    ports = dict((p['port'], p) for p in dev['ports'])
    port = ports.get(ib_port)
    if port is None:
        module.fail_json(msg='%s has no port %d (ports: %s); set ib_port to one of them'
                             % (dev['name'], ib_port, ', '.join(str(p) for p in sorted(ports)) or 'none'))
    table = ', '.join('[%d] %s %s' % (g['index'], g['type'], g['ip'] or g['gid']) for g in port['gids']) or 'empty'
    if gid_index < 0:
        index = port['ipv4_gid_index']
        if index is None:
            module.fail_json(msg='%s port %d has no IPv4-mapped RoCE v2 GID (GID table: %s); give its netdev an IPv4 '
                                 'address, or set gid_index to an entry of the table' % (dev['name'], ib_port, table))
    else:
        index = gid_index
    for g in port['gids']:
        if g['index'] == index:
            return index, g['ip'] or g['gid']
    module.fail_json(msg='GID index %d is not in the GID table of %s port %d (%s); pick one of those or gid_index: -1'
                         % (index, dev['name'], ib_port, table))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            device=dict(type='str', required=True),
            transport=dict(type='str', default='ud', choices=sorted(PINGPONG_TOOLS)),
            ib_port=dict(type='int', default=1),
            gid_index=dict(type='int', default=-1),
            tcp_port=dict(type='int', default=18515),
            address=dict(type='str', default='127.0.0.1'),
            iterations=dict(type='int', default=1000),
            size=dict(type='int', default=0),
            timeout=dict(type='int', default=30),
            side=dict(type='str', default='both', choices=['both', 'server', 'client', 'stop']),
            connect_timeout=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for key, low in (('tcp_port', 1), ('iterations', 1), ('ib_port', 1), ('timeout', 1), ('size', 0)):
        if p[key] < low:
            module.fail_json(msg='%s must be at least %d, got %d' % (key, low, p[key]))
    if p['tcp_port'] > 65535:
        module.fail_json(msg='tcp_port must be at most 65535, got %d' % p['tcp_port'])
    if p['connect_timeout'] < 0:
        module.fail_json(msg='connect_timeout must be at least 0 (0: within the whole timeout), got %d'
                             % p['connect_timeout'])
    if p['side'] == 'stop':
        started = time.time()
        stopped = stale_pingpong_servers(proc_argvs(), p['tcp_port'])
        if not module.check_mode:
            stop_servers(module, stopped, 'the ping-pong server pid %%d on TCP port %d (side=stop)' % p['tcp_port'])
        module.exit_json(changed=bool(stopped), side='stop', stopped=stopped, seconds=round(time.time() - started, 2))
    program = PINGPONG_TOOLS[p['transport']]
    binary = module.get_bin_path(program)
    if not binary:
        module.fail_json(msg='%s is not installed; install it: apt-get install ibverbs-utils '
                             '(dnf install libibverbs-utils on Fedora/RHEL)' % program)
    dev = read_ib_device(p['device'])
    if dev is None:
        module.fail_json(msg='there is no RDMA device %s (/sys/class/infiniband/%s); create the soft-RoCE link first '
                             '(labkit.ebpf_rdma.rxe_link) or name an existing device (rdma link show)'
                             % (p['device'], p['device']))
    index, gid = choose_gid(module, dev, p['ib_port'], p['gid_index'])
    server_cmd = pingpong_argv(binary, p['device'], p['ib_port'], index, p['tcp_port'], p['iterations'], p['size'])
    client_cmd = pingpong_argv(binary, p['device'], p['ib_port'], index, p['tcp_port'], p['iterations'], p['size'],
                               server=p['address'])
    started = time.time()
    deadline = started + p['timeout']
    result = dict(changed=False, program=program, gid_index=index, gid=gid, server_cmd=server_cmd,
                  client_cmd=client_cmd, side=p['side'], attempts=0)
    if p['side'] != 'client':
        result['stale_servers'] = stop_stale_servers(module, p['tcp_port'])
    if p['side'] == 'server':
        # in the foreground, bounded: the play runs this task in the background (async, poll 0)
        rc, out, err = module.run_command(['timeout', str(p['timeout'])] + server_cmd)
        result['server'] = side_result(rc, out, err)
    elif p['side'] == 'client':
        result['attempts'], result['client'] = run_client(module, client_cmd, deadline, None,
                                                          connect_deadline(started, deadline, p['connect_timeout']))
    else:
        both(module, server_cmd, client_cmd, deadline, p['timeout'], result,
             connect_deadline(started, deadline, p['connect_timeout']))
    result['seconds'] = round(time.time() - started, 2)
    fail_if_failed(module, result, p, index, gid)
    module.exit_json(**result)


def connect_deadline(started, deadline, connect_timeout):
    """When the client stops retrying a server that does not answer (the test's deadline at the latest)."""
    return min(deadline, started + connect_timeout) if connect_timeout else deadline


def both(module, server_cmd, client_cmd, deadline, timeout, result, connect_until):
    """The server in the background (a session of its own, killed at the deadline at the latest), the client here."""
    work = tempfile.mkdtemp(prefix='labkit-pingpong-')
    server = None
    try:
        server = background.start(module, server_cmd, work, timeout)
        result['attempts'], client = run_client(module, client_cmd, deadline, server, connect_until)
        server_rc = server.wait(deadline if client['rc'] == 0 else min(deadline, time.time() + SERVER_GRACE))
        if server_rc is None:
            server.kill()
            server_rc = 124
        s_out, s_err = server.output()
    finally:
        # never leave a server behind: a stray one answers the next client with its own GID index
        if server is not None and server.poll() is None:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    result.update(client=client, server=side_result(server_rc, s_out, s_err))


def run_client(module, client_cmd, deadline, server, connect_until):
    """Run the client until it meets the server (retried while the server does not listen yet, until connect_until)."""
    attempts = 0
    while True:
        attempts += 1
        # the client's own wait is bounded by what is left of the test's time
        left = max(1, int(deadline - time.time()))
        rc, out, err = module.run_command(['timeout', str(left)] + client_cmd)
        if rc == 0 or "Couldn't connect to" not in (err or '') or time.time() + 0.5 >= connect_until:
            break
        if server is not None and server.poll() is not None:  # the server gave up: retrying cannot help
            break
        time.sleep(0.5)
    return attempts, side_result(rc, out, err)


def proc_argvs():
    """``{pid: argv}`` of the processes this user can read."""
    procs = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                raw = f.read()
        except (IOError, OSError):
            continue
        procs[int(entry)] = [a for a in raw.decode('utf-8', 'replace').split('\0') if a]
    return procs


def stop_stale_servers(module, tcp_port):
    """Stop ping-pong servers on ``tcp_port`` left by earlier runs (they would answer with their own GID index)."""
    stale = stale_pingpong_servers(proc_argvs(), tcp_port)
    stop_servers(module, stale, 'the ping-pong server pid %%d on TCP port %d, left by an earlier run' % tcp_port,
                 warn=True)
    return stale


def stop_servers(module, pids, what, warn=False):
    """SIGTERM to ``pids`` (``what`` % pid names each in a warning when ``warn``); a moment for them to go."""
    for pid in pids:
        if warn:
            module.warn('stopping ' + what % pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    if pids:
        time.sleep(0.5)


def fail_if_failed(module, result, p, index, gid):
    for which in ('client', 'server'):
        side = result.get(which)
        if side is None or side['rc'] == 0:
            continue
        lines = (side['stderr'] or side['stdout']).strip().splitlines()
        hint = pingpong_hint(side['stderr'], p['device'], index)
        if side['rc'] == 124:
            how = 'timed out after %d s (timeout)' % p['timeout']
        else:
            how = 'exited %d (%s)' % (side['rc'], lines[-1].strip() if lines else 'no output')
        if which == 'client' and p['side'] == 'client' and "Couldn't connect to" in (side['stderr'] or ''):
            how += ' after %d attempts in %s s' % (result['attempts'], result['seconds'])
            hint = ('no ping-pong server answered on %s port %d: is the server\'s node on the network (its link up, '
                    'frames not all lost) and its server started (side=server, same tcp_port)?'
                    % (p['address'], p['tcp_port']))
        where = '' if p['side'] == 'both' else ' (against %s)' % p['address'] if which == 'client' else ' (side=server)'
        module.fail_json(msg='%s on %s port %d (GID index %d, %s) failed: the %s%s %s; %s'
                             % (result['program'], p['device'], p['ib_port'], index, gid, which, where, how,
                                hint), **result)


if __name__ == '__main__':
    main()
