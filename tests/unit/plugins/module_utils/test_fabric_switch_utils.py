# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fabric switch with real unix datagram sockets in a temporary directory: node sockets
stand in for the VMs' QEMU dgram netdevs (each bound to its own path, sending to its port)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric_switch as fs

MACS = {'a': b'\x02\x00\x00\x00\x00\x0a', 'b': b'\x02\x00\x00\x00\x00\x0b', 'c': b'\x02\x00\x00\x00\x00\x0c'}
BCAST = b'\xff' * 6
MCAST = b'\x33\x33\x00\x00\x00\x01'


def frame(dst, src, size=60, fill=b'x'):
    body = fill * (size - 14)
    return dst + src + b'\x08\x00' + body


@pytest.fixture
def sockdir():
    # short: a unix socket path holds 107 bytes at most
    path = tempfile.mkdtemp(prefix='fsw', dir='/tmp')
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Node(object):
    """A VM's end: bound to its own socket, sending to its switch port."""

    def __init__(self, sockdir, name):
        self.name = name
        self.path = os.path.join(sockdir, '%s.sock' % name)
        self.port = fs.port_socket(sockdir, name)
        self.bind()

    def bind(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            self.sock.setsockopt(socket.SOL_SOCKET, opt, 1 << 20)

    def vanish(self):
        self.sock.close()
        os.unlink(self.path)

    def send(self, data):
        self.sock.sendto(data, self.port)

    def recv_all(self, wait=0.3):
        got = []
        while select.select([self.sock], [], [], wait)[0]:
            got.append(self.sock.recv(fs.BUFSIZE))
            wait = 0.05
        return got


@pytest.fixture
def lan(sockdir):
    nodes = dict((n, Node(sockdir, n)) for n in ('a', 'b', 'c'))
    logged = []
    switch = fs.Switch([dict(name=n.name, socket=n.port, node_socket=n.path) for n in nodes.values()],
                       log=logged.append)
    switch.open()
    switch.logged = logged
    yield switch, nodes
    switch.close()
    for n in nodes.values():
        n.sock.close()


def pump(switch, rounds=3):
    for _i in range(rounds):
        switch.step(timeout=0.05)


def test_port_socket_path():
    assert fs.port_socket('/run/x', 'fabnode3') == '/run/x/port-fabnode3.sock'


def test_forward_learns_and_floods_unknown():
    table = fs.MacTable()
    out, learned = fs.forward(table, 0, frame(MACS['b'], MACS['a']), 3)
    assert out == [1, 2] and learned == MACS['a']
    out, learned = fs.forward(table, 1, frame(MACS['a'], MACS['b']), 3)
    assert out == [0] and learned == MACS['b']
    out, learned = fs.forward(table, 0, frame(MACS['b'], MACS['a']), 3)
    assert out == [1] and learned is None


def test_forward_group_destinations_flood_and_group_sources_are_not_learned():
    table = fs.MacTable()
    assert fs.forward(table, 2, frame(BCAST, MACS['c']), 3)[0] == [0, 1]
    assert fs.forward(table, 2, frame(MCAST, MACS['c']), 3)[0] == [0, 1]
    fs.forward(table, 1, frame(BCAST, MCAST), 3)
    assert fs.forward(table, 0, frame(MCAST, MACS['a']), 3)[0] == [1, 2]
    assert MCAST not in table.entries


def test_forward_never_echoes_and_drops_runts():
    table = fs.MacTable()
    fs.forward(table, 0, frame(BCAST, MACS['a']), 3)
    fs.forward(table, 0, frame(BCAST, MACS['b']), 3)  # b seen on port 0 too
    assert fs.forward(table, 0, frame(MACS['b'], MACS['a']), 3)[0] == []
    assert fs.forward(table, 0, b'\x01' * 13, 3) == ([], None)


def test_mac_table_ages_out_and_moves():
    now = [100.0]
    table = fs.MacTable(ageing=10, clock=lambda: now[0])
    assert table.learn(MACS['a'], 0)
    assert not table.learn(MACS['a'], 0)
    assert table.learn(MACS['a'], 2)  # moved
    now[0] += 11
    assert table.lookup(MACS['a']) is None
    assert fs.forward(table, 1, frame(MACS['a'], MACS['b']), 3)[0] == [0, 2]


def test_learning_and_flooding_over_real_sockets(lan):
    switch, n = lan
    first = frame(MACS['b'], MACS['a'])
    n['a'].send(first)
    pump(switch)
    assert n['b'].recv_all() == [first]
    assert n['c'].recv_all() == [first]  # b unknown yet: flooded
    assert n['a'].recv_all(0.1) == []    # never back to the sender
    reply = frame(MACS['a'], MACS['b'])
    n['b'].send(reply)
    pump(switch)
    assert n['a'].recv_all() == [reply]
    assert n['c'].recv_all(0.1) == []    # a was learned on its port
    again = frame(MACS['b'], MACS['a'], fill=b'y')
    n['a'].send(again)
    pump(switch)
    assert n['b'].recv_all() == [again]
    assert n['c'].recv_all(0.1) == []
    assert any('learned 02:00:00:00:00:0a on port a' in line for line in switch.logged)


def test_broadcast_and_multicast_reach_every_other_port(lan):
    switch, n = lan
    for dst in (BCAST, MCAST):
        f = frame(dst, MACS['c'])
        n['c'].send(f)
        pump(switch)
        assert n['a'].recv_all() == [f] and n['b'].recv_all() == [f]
        assert n['c'].recv_all(0.1) == []


def test_frame_to_own_port_is_not_echoed(lan):
    switch, n = lan
    n['a'].send(frame(BCAST, MACS['a']))
    pump(switch)
    n['b'].recv_all()
    n['c'].recv_all()
    n['a'].send(frame(MACS['a'], MACS['a']))
    pump(switch)
    assert [n[x].recv_all(0.1) for x in 'abc'] == [[], [], []]


@pytest.mark.parametrize('size', [1514, 1518, 9014, 65535])
def test_full_size_and_jumbo_frames_pass_intact(lan, size):
    if size > 2048 and sys.platform == 'darwin':
        pytest.skip('macOS limits unix datagrams to net.local.dgram.maxdgram (2048) by default')
    switch, n = lan
    big = frame(BCAST, MACS['a'], size=size, fill=b'\xa5')
    n['a'].send(big)
    pump(switch)
    got = n['b'].recv_all()
    assert len(got) == 1 and len(got[0]) == size and got[0] == big


def test_a_vanished_node_socket_does_not_kill_the_switch(lan):
    switch, n = lan
    n['c'].vanish()
    f = frame(BCAST, MACS['a'])
    n['a'].send(f)
    pump(switch)
    assert n['b'].recv_all() == [f]
    port_c = switch.ports[2]
    assert port_c.absent == 1 and port_c.tx == 0
    assert any('port c: dropping frames to' in line and 'no VM is bound' in line for line in switch.logged)
    # a stale socket file (the VM's QEMU gone, the path left behind) is the same
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(n['c'].path)
    stale.close()
    n['a'].send(f)
    pump(switch)
    assert n['b'].recv_all() == [f] and port_c.absent == 2
    os.unlink(n['c'].path)
    n['c'].bind()  # the VM is back
    n['a'].send(f)
    pump(switch)
    assert n['c'].recv_all() == [f] and n['b'].recv_all() == [f]
    assert any('port c: sending to' in line for line in switch.logged)


def test_a_full_node_queue_drops_instead_of_blocking(lan):
    switch, n = lan
    f = frame(BCAST, MACS['a'], size=1514)
    sent = 0
    # c never reads: its queue fills; the switch must keep serving b
    for _i in range(4000):
        n['a'].send(f)
        sent += 1
        switch.step(timeout=0)
        n['b'].recv_all(0)
        if switch.ports[2].full:
            break
    assert switch.ports[2].full >= 1, 'node c never filled up after %d frames' % sent
    n['a'].send(frame(MACS['b'], MACS['a']))
    pump(switch)
    assert n['b'].recv_all()


def test_frames_from_another_socket_are_dropped(lan, sockdir):
    switch, n = lan
    intruder = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    intruder.bind(os.path.join(sockdir, 'x.sock'))
    intruder.sendto(frame(BCAST, MACS['c']), n['a'].port)
    unbound = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unbound.sendto(frame(BCAST, MACS['c']), n['a'].port)
    pump(switch)
    assert n['b'].recv_all(0.1) == [] and n['c'].recv_all(0.1) == []
    assert switch.ports[0].foreign == 2 and MACS['c'] not in switch.table.entries
    intruder.close()
    unbound.close()


def test_open_replaces_a_stale_port_socket_and_refuses_a_live_one_or_a_file(sockdir):
    path = fs.port_socket(sockdir, 'a')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(path)
    stale.close()
    ports = [dict(name='a', socket=path, node_socket=os.path.join(sockdir, 'a.sock'))]
    switch = fs.Switch(ports)
    switch.open()
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    other = fs.Switch(ports)
    with pytest.raises(fs.SwitchError, match='bound by another process'):
        other.open()
    switch.close()
    assert not os.path.exists(path)
    with open(path, 'w') as f:
        f.write('not a socket')
    with pytest.raises(fs.SwitchError, match='exists and is not a socket'):
        fs.Switch(ports).open()


def test_close_leaves_a_newer_switchs_socket(sockdir):
    path = fs.port_socket(sockdir, 'a')
    ports = [dict(name='a', socket=path, node_socket=os.path.join(sockdir, 'a.sock'))]
    old = fs.Switch(ports)
    old.open()
    os.unlink(path)
    newer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    newer.bind(path)
    old.close()
    assert os.path.exists(path)
    newer.close()


# ---------------------------------------------------------------- the daemon, as the module starts it

def _config(sockdir, nodes, name='fab'):
    config = dict(name=name, pidfile=os.path.join(sockdir, name + '.pid'), log=os.path.join(sockdir, name + '.log'),
                  ports=[dict(name=n.name, socket=n.port, node_socket=n.path) for n in nodes])
    path = os.path.join(sockdir, name + '.json')
    with open(path, 'w') as f:
        json.dump(config, f)
    return config, path


def _wait_gone(pidfile, seconds=10):
    deadline = time.time() + seconds
    while fs.pidfile_holder(pidfile) is not None and time.time() < deadline:
        time.sleep(0.05)
    return fs.pidfile_holder(pidfile) is None


def test_daemon_starts_detached_forwards_and_stops_on_sigterm(sockdir):
    nodes = [Node(sockdir, n) for n in ('a', 'b', 'c')]
    config, path = _config(sockdir, nodes)
    # a stale pidfile (a switch that was killed): no lock on it, so it starts
    with open(config['pidfile'], 'w') as f:
        f.write('999999\n')
    assert fs.pidfile_holder(config['pidfile']) is None
    script = os.path.join(sockdir, 'switch.py')
    shutil.copyfile(fs.__file__.replace('.pyc', '.py'), script)
    proc = subprocess.run([sys.executable, script, '--daemon', path], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split()[1])
    try:
        assert fs.pidfile_holder(config['pidfile']) == pid == fs.read_pid(config['pidfile'])
        # a second start while it runs is refused, naming the running one
        again = subprocess.run([sys.executable, script, '--daemon', path], capture_output=True, text=True, timeout=30, check=False)
        assert again.returncode == 1 and 'already runs' in again.stderr and str(pid) in again.stderr
        f = frame(BCAST, MACS['a'], size=1514)
        nodes[0].send(f)
        assert nodes[1].recv_all(2) == [f] and nodes[2].recv_all(2) == [f]
        os.kill(pid, signal.SIGUSR1)
        time.sleep(0.3)
    finally:
        os.kill(pid, signal.SIGTERM)
    assert _wait_gone(config['pidfile'])
    assert not os.path.exists(config['pidfile'])
    assert not any(os.path.exists(n.port) for n in nodes)
    with open(config['log']) as f:
        log = f.read()
    assert 'switch fab started' in log and 'port a: rx 1' in log and 'switch fab stopped' in log
    for n in nodes:
        n.sock.close()


def test_daemon_reports_a_port_it_cannot_bind(sockdir):
    nodes = [Node(sockdir, n) for n in ('a', 'b')]
    config, path = _config(sockdir, nodes)
    os.mkdir(nodes[1].port)
    proc = subprocess.run([sys.executable, fs.__file__.replace('.pyc', '.py'), '--daemon', path],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    assert 'port-b.sock exists and is not a socket' in proc.stderr
    assert fs.pidfile_holder(config['pidfile']) is None and not os.path.exists(config['pidfile'])
    assert not os.path.exists(nodes[0].port)  # the ports bound before the failure are gone again
    for n in nodes:
        n.sock.close()
