# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A user-space Ethernet switch of unix datagram sockets, for a fabric of more
than two local VMs (module fabric_switch, docs/fabric.md).

A QEMU ``dgram`` netdev sends every frame to one remote socket. With a switch,
each VM's ``remote`` is its own port of the switch: one AF_UNIX SOCK_DGRAM
socket per port, ``port-<node>.sock``, bound by the switch. The switch learns
the source MAC of each frame per port, sends a frame for a learned MAC to that
port's node socket only, and floods broadcast, multicast and unknown
destinations to every other port; nothing goes back to the port it came from.
Each port knows the node socket it sends to (its VM's ``local`` socket) and
takes frames only from it. Everything stays on the controller: no address, no
bridge, no multicast, no root.

This file is stdlib only (Linux and macOS). The module writes a copy of it
next to the sockets and runs that copy as a detached process
(``python <copy> --daemon <config>``), so the switch does not depend on the
module's temporary directory; ``--daemon`` prints ``started <pid>`` once
every port is bound (or the error, exit status 1).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import select
import signal
import socket
import stat
import sys
import time

# QEMU's NET_BUFSIZE: the largest datagram a dgram netdev sends or takes
BUFSIZE = 4096 + 65536
# a learned MAC is forgotten after this many seconds without a frame from it
AGEING = 300.0
# socket buffers asked for (the kernel may give less): room for bursts of full frames
SOCKBUF = 1 << 20
# frames read from one port before the others get their turn
BURST = 64
LOG_MAX = 1 << 20
# send errors: the node's socket is full, or no VM is bound to it (not started, stopped)
FULL = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)
ABSENT = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTCONN)

_clock = getattr(time, 'monotonic', time.time)


class SwitchError(Exception):
    pass


def port_socket(socket_dir, name):
    """The switch's socket of port ``name`` (a node's ``remote``)."""
    return os.path.join(socket_dir, 'port-%s.sock' % name)


def format_mac(mac):
    return ':'.join('%02x' % b for b in bytearray(mac))


def is_group(mac):
    """True for a broadcast or multicast MAC (the I/G bit of the first octet)."""
    return bool(bytearray(mac[:1])[0] & 1)


class MacTable(object):
    """Learned source MACs: MAC (6 bytes) -> (port index, last seen)."""

    def __init__(self, ageing=AGEING, clock=_clock):
        self.ageing = ageing
        self.clock = clock
        self.entries = {}

    def learn(self, mac, port):
        """Record ``mac`` on ``port``; True when it is new there (first seen, moved or aged out)."""
        now = self.clock()
        old = self.entries.get(mac)
        self.entries[mac] = (port, now)
        return old is None or old[0] != port or now - old[1] > self.ageing

    def lookup(self, mac):
        entry = self.entries.get(mac)
        if entry is None:
            return None
        if self.clock() - entry[1] > self.ageing:
            del self.entries[mac]
            return None
        return entry[0]

    def forget_port(self, port):
        for mac in [m for m, e in self.entries.items() if e[0] == port]:
            del self.entries[mac]


def forward(table, in_port, frame, nports):
    """The ports a frame that came in on ``in_port`` goes out on (learning its source MAC).

    ``(out_ports, learned)``: ``learned`` is the source MAC when it is new on ``in_port``, else None.
    A frame shorter than an Ethernet header goes nowhere.
    """
    if len(frame) < 14:
        return [], None
    dst, src = frame[0:6], frame[6:12]
    learned = None
    if not is_group(src) and table.learn(src, in_port):
        learned = src
    others = [p for p in range(nports) if p != in_port]
    if is_group(dst):
        return others, learned
    port = table.lookup(dst)
    if port is None:
        return others, learned
    return ([] if port == in_port else [port]), learned


class Port(object):
    def __init__(self, name, path, node_socket):
        self.name = name
        self.path = path
        self.node_socket = node_socket
        self.sock = None
        self.ident = None
        self.rx = self.tx = self.foreign = self.full = self.absent = self.errors = 0
        self.last_error = None


def _probe_live(path):
    """True when a process has a unix datagram socket bound at ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
        return True
    except (IOError, OSError):
        return False
    finally:
        probe.close()


class Switch(object):
    """The ports (``[{name, socket, node_socket}]``), their sockets and the forwarding loop."""

    def __init__(self, ports, log=None, ageing=AGEING):
        self.ports = [Port(p['name'], p['socket'], p['node_socket']) for p in ports]
        self.table = MacTable(ageing)
        self.log = log or (lambda text: None)
        self.stopping = False
        self.dump_wanted = False

    def open(self):
        """Bind every port's socket (a stale socket at its path goes); SwitchError names what failed."""
        try:
            for port in self.ports:
                self._bind(port)
        except SwitchError:
            self.close()
            raise

    def _bind(self, port):
        if os.path.lexists(port.path):
            if not stat.S_ISSOCK(os.lstat(port.path).st_mode):
                raise SwitchError('the port socket path %s exists and is not a socket; remove it or choose another '
                                  'socket directory' % port.path)
            if _probe_live(port.path):
                raise SwitchError('the port socket %s is bound by another process (another switch on the same socket '
                                  'directory?); stop it first' % port.path)
            os.unlink(port.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(port.path)
        except (IOError, OSError) as e:
            sock.close()
            raise SwitchError('cannot bind the port socket %s: %s' % (port.path, e))
        os.chmod(port.path, 0o600)
        sock.setblocking(False)
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKBUF)
            except (IOError, OSError):
                pass
        st = os.lstat(port.path)
        port.sock, port.ident = sock, (st.st_dev, st.st_ino)

    def close(self):
        """Close the ports' sockets and remove those still ours (not a newer switch's)."""
        for port in self.ports:
            if port.sock is None:
                continue
            port.sock.close()
            port.sock = None
            try:
                st = os.lstat(port.path)
                if (st.st_dev, st.st_ino) == port.ident:
                    os.unlink(port.path)
            except OSError:
                pass

    def receive(self, index):
        """Read up to BURST frames of port ``index`` and forward them."""
        port = self.ports[index]
        for _i in range(BURST):
            try:
                frame, sender = port.sock.recvfrom(BUFSIZE)
            except (IOError, OSError) as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                    return
                raise
            if sender != port.node_socket:
                if not port.foreign:
                    self.log('port %s: dropping frames from %r: only its node socket %s sends to it'
                             % (port.name, sender or 'an unbound socket', port.node_socket))
                port.foreign += 1
                continue
            port.rx += 1
            out, learned = forward(self.table, index, frame, len(self.ports))
            if learned is not None:
                self.log('learned %s on port %s' % (format_mac(learned), port.name))
            for o in out:
                self.send(self.ports[o], frame)

    def send(self, port, frame):
        """Send ``frame`` from ``port``'s socket to its node's; a full or absent node drops it."""
        try:
            port.sock.sendto(frame, port.node_socket)
        except (IOError, OSError) as e:
            if e.errno in FULL:
                port.full += 1
                kind = 'full'
            elif e.errno in ABSENT:
                port.absent += 1
                kind = 'absent'
            else:
                port.errors += 1
                kind = 'error'
            if port.last_error != kind:
                port.last_error = kind
                self.log('port %s: dropping frames to %s (%s: %s)' % (
                    port.name, port.node_socket,
                    {'full': 'its queue is full', 'absent': 'no VM is bound to it',
                     'error': 'send failed'}[kind], os.strerror(e.errno or 0)))
            return False
        port.tx += 1
        if port.last_error is not None:
            self.log('port %s: sending to %s again' % (port.name, port.node_socket))
            port.last_error = None
        return True

    def dump(self):
        for port in self.ports:
            self.log('port %s: rx %d tx %d foreign %d queue-full %d node-absent %d errors %d'
                     % (port.name, port.rx, port.tx, port.foreign, port.full, port.absent, port.errors))
        for mac, (index, seen) in sorted(self.table.entries.items()):
            self.log('mac %s on port %s (%.0f s ago)' % (format_mac(mac), self.ports[index].name,
                                                         self.table.clock() - seen))

    def step(self, timeout=1.0):
        """Wait up to ``timeout`` seconds for frames and forward them."""
        socks = dict((p.sock.fileno(), i) for i, p in enumerate(self.ports))
        try:
            ready = select.select(list(socks), [], [], timeout)[0]
        except (IOError, OSError, select.error) as e:
            if (e.args[0] if e.args else None) == errno.EINTR:
                return
            raise
        for fd in ready:
            self.receive(socks[fd])

    def run(self):
        while not self.stopping:
            self.step()
            if self.dump_wanted:
                self.dump_wanted = False
                self.dump()


# ---------------------------------------------------------------- the daemon

def load_config(path):
    with open(path) as f:
        config = json.load(f)
    for key in ('name', 'ports', 'pidfile', 'log'):
        if key not in config:
            raise SwitchError('the switch configuration %s has no %s' % (path, key))
    return config


def pidfile_holder(pidfile):
    """The pid of the switch that holds ``pidfile``'s lock, or None when no switch runs for it."""
    try:
        fd = os.open(pidfile, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except (IOError, OSError) as e:
            if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            text = os.read(fd, 64).decode('ascii', 'replace').strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            text = f.read().strip()
    except (IOError, OSError):
        return None
    return int(text) if text.isdigit() else None


def _logger(stream):
    def log(text):
        stream.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), text))
        stream.flush()
    return log


def serve(config, ready=None):
    """Run the switch of ``config`` until SIGTERM/SIGINT (SIGUSR1 logs counters and the MAC table).

    Holds the pidfile's lock while it runs; ``ready(message)`` is called once: ``started <pid>`` or the error.
    """
    ready = ready or (lambda message: None)
    log = _logger(sys.stderr)
    fd = os.open(config['pidfile'], os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError):
        os.close(fd)
        message = 'the switch %s already runs (pidfile %s, pid %s)' % (
            config['name'], config['pidfile'], read_pid(config['pidfile']))
        ready(message)
        return 1
    os.ftruncate(fd, 0)
    os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
    switch = Switch(config['ports'], log=log, ageing=config.get('ageing', AGEING))
    try:
        switch.open()
    except SwitchError as e:
        log(str(e))
        os.unlink(config['pidfile'])
        os.close(fd)
        ready(str(e))
        return 1

    def stop(signum, frame):
        switch.stopping = True

    def want_dump(signum, frame):
        switch.dump_wanted = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, want_dump)
    log('switch %s started (pid %d): %s' % (config['name'], os.getpid(), ', '.join(
        '%s (%s -> %s)' % (p.name, p.path, p.node_socket) for p in switch.ports)))
    ready('started %d' % os.getpid())
    try:
        switch.run()
    finally:
        switch.dump()
        switch.close()
        log('switch %s stopped' % config['name'])
        try:
            os.unlink(config['pidfile'])
        except OSError:
            pass
        os.close(fd)
    return 0


def daemonize(config):
    """Detach (double fork, new session), log to ``config['log']``, serve; the caller's process prints
    ``started <pid>`` once the ports are bound and exits 0, or prints the error and exits 1."""
    rfd, wfd = os.pipe()
    first = os.fork()
    if first:
        os.close(wfd)
        os.waitpid(first, 0)
        chunks = []
        while True:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        message = b''.join(chunks).decode('utf-8', 'replace').strip()
        if message.startswith('started '):
            sys.stdout.write(message + '\n')
            return 0
        sys.stderr.write((message or 'the switch exited before its ports were bound; see %s' % config['log']) + '\n')
        return 1
    os.close(rfd)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir('/')
    if os.path.exists(config['log']) and os.path.getsize(config['log']) > LOG_MAX:
        os.rename(config['log'], config['log'] + '.1')
    null = os.open(os.devnull, os.O_RDWR)
    logfd = os.open(config['log'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(logfd, 1)
    os.dup2(logfd, 2)
    os.closerange(3, wfd)
    os.closerange(wfd + 1, 1024)

    def ready(message):
        os.write(wfd, message.encode('utf-8'))
        os.close(wfd)

    try:
        rc = serve(config, ready)
    except Exception as e:  # the log says why; the module's caller gets the message when not yet ready
        sys.stderr.write('switch failed: %r\n' % (e,))
        rc = 1
    os._exit(rc)


def main(argv):
    args = list(argv)
    detach = '--daemon' in args
    args = [a for a in args if a != '--daemon']
    if len(args) != 1:
        sys.stderr.write('usage: fabric_switch.py [--daemon] CONFIG.json\n')
        return 2
    try:
        config = load_config(args[0])
    except (IOError, OSError, ValueError, SwitchError) as e:
        sys.stderr.write('cannot read the switch configuration %s: %s\n' % (args[0], e))
        return 2
    if detach:
        return daemonize(config)
    return serve(config, ready=lambda message: sys.stdout.write(message + '\n') or sys.stdout.flush())


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
