# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One VM's identity on the host (qemu_vm, the local_vms inventory): checks of
its options (name, hostname, sizes, paths), whether a pid or a ``vm.json``
record is that VM, and its SSH port (free ports, ``/proc/net/tcp``
listeners, hostfwd failures). Pure except :func:`port_is_free` and
:func:`free_port`, which bind a loopback socket.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import socket


VM_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')


def valid_vm_name(name):
    return bool(name) and bool(VM_NAME_RE.match(name))


def cmdline_is_vm(argv, pidfile):
    """True when a process argv (from /proc/<pid>/cmdline) is the QEMU of the VM owning ``pidfile``."""
    if not argv:
        return False
    if not os.path.basename(argv[0]).startswith('qemu-system'):
        return False
    for i, arg in enumerate(argv[:-1]):
        if arg == '-pidfile' and argv[i + 1] == pidfile:
            return True
    return False


def record_names_vm(record, name, pidfile):
    """True when a VM directory's ``vm.json`` (``record``, a dict) is the marker of VM ``name``.

    A record names its VM (``name``, written since this check exists) or holds the
    QEMU argv of that VM (``-name labkit-<name>`` with its own pidfile: older records).
    """
    if not isinstance(record, dict):
        return False
    if record.get('name') is not None:
        return record.get('name') == name
    argv = record.get('argv') or []
    pairs = dict(zip(argv, argv[1:])) if isinstance(argv, list) else {}
    return pairs.get('-name') == 'labkit-%s' % name and pairs.get('-pidfile') == pidfile


def split_proc_cmdline(raw):
    """``/proc/<pid>/cmdline`` bytes/text -> argv list."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    return [a for a in (raw or '').split('\0') if a != ''] if raw else []


def parse_pidfile(text):
    try:
        pid = int((text or '').strip())
    except ValueError:
        return None
    return pid if pid > 0 else None


def pidfile_runs_vm(pidfile, proc='/proc'):
    """True when ``pidfile`` names a live process that is this VM's QEMU (checked in ``proc`` when there is one)."""
    try:
        with open(pidfile) as f:
            pid = parse_pidfile(f.read())
    except (IOError, OSError):
        return False
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        if e.errno != errno.EPERM:  # EPERM: alive, another user's
            return False
    if not os.path.isdir(os.path.join(proc, 'self')):
        return True
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as f:
            raw = f.read()
    except (IOError, OSError):
        return False
    return cmdline_is_vm(split_proc_cmdline(raw), pidfile)


# ---------------------------------------------------------------- checking a VM's options

HOSTNAME_LABEL_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
DISK_SIZE_RE = re.compile(r'^[1-9][0-9]*(\.[0-9]+)?[KMGTP]?$')
CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')
# what ssh_config/ssh -o cannot hold in a path: '"' ends the quoted value, '%' starts a token
SSH_PATH_BAD = ('"', '%')
INT_BOUNDS = (
    # option, role variable, lowest, highest, what it is
    ('cpus', 'local_vm_cpus', 1, 1024, 'a number of vCPUs'),
    ('memory', 'local_vm_memory', 128, 16777216, 'a memory size in MiB'),
    ('ssh_port', 'local_vm_ssh_port', 0, 65535, 'a TCP port (0 picks a free one)'),
    ('probe_timeout', 'local_vm_probe_timeout', 1, 3600, 'seconds'),
    ('stop_timeout', 'local_vm_stop_timeout', 0, 3600, 'seconds'),
    ('lock_timeout', None, 0, 86400, 'seconds'),
)


def valid_hostname(name):
    """True for an RFC 1123 host name: dot-separated labels of letters, digits and inner '-', 253 at most."""
    if not name or len(name) > 253:
        return False
    return all(HOSTNAME_LABEL_RE.match(label) for label in name.split('.'))


def _int_problem(params, key, var, low, high, what):
    value = params.get(key)
    if value is None or low <= value <= high:
        return None
    via = ' (%s)' % var if var else ''
    return '%s=%s is not %s: give a whole number from %d to %d%s' % (key, value, what, low, high, via)


def _path_problem(key, path, for_ssh):
    if not path:
        return None
    if CONTROL_RE.search(path):
        return ('%s %r holds a control character (a newline or tab); QEMU and ssh cannot take it: '
                'use a plain path' % (key, path))
    if for_ssh:
        bad = [c for c in SSH_PATH_BAD if c in path]
        if bad:
            return ('state_dir %r holds %s, which ssh cannot take in IdentityFile/UserKnownHostsFile '
                    '(\'"\' ends a quoted value, \'%%\' starts a token): choose a state_dir '
                    '(local_vm_state_dir) without it' % (path, ' and '.join(repr(c) for c in bad)))
    return None


def vm_options_problem(params, state_dir, hostname, starting):
    """Pure: what is wrong with a qemu_vm task's options, or None. Checked before anything is written.

    ``hostname`` is the guest's effective host name (``hostname`` or the VM
    name); it is only checked when ``starting`` (an existing VM can always be
    stopped or removed). Paths holding commas are fine (:func:`qemu_opt`),
    blanks too (:func:`ssh_option`).
    """
    if not valid_vm_name(params.get('name')):
        return ('VM name %r is not valid: use letters, digits, ".", "_" and "-" (at most 63, '
                'starting with a letter or digit)' % params.get('name'))
    for bounds in INT_BOUNDS:
        problem = _int_problem(params, *bounds)
        if problem:
            return problem
    for key in ('disk', 'kernel', 'initrd', 'cache_dir'):
        problem = _path_problem(key, params.get(key), False)
        if problem:
            return problem
    problem = _path_problem('state_dir', state_dir, True)
    if problem:
        return problem
    if not starting:
        return None
    if not DISK_SIZE_RE.match(params.get('disk_size') or ''):
        return ('disk_size=%r is not a size: give a number with an optional K, M, G, T or P suffix, '
                'such as 20G (local_vm_disk_size)' % params.get('disk_size'))
    if CONTROL_RE.search(params.get('kernel_cmdline') or ''):
        return 'kernel_cmdline holds a control character (a newline or tab): give one line (local_vm_kernel_cmdline)'
    if not valid_hostname(hostname):
        given = 'hostname' if params.get('hostname') else 'the VM name (used as its hostname)'
        return ('%s %r is not a valid host name (RFC 1123: dot-separated labels of letters, digits and "-", '
                'each 1-63 long, not starting or ending with "-"; 253 at most): set hostname '
                '(local_vm_hostname) to one, such as %r' % (given, hostname, hostname_suggestion(hostname)))
    return None


def hostname_suggestion(name):
    """A valid host name close to ``name`` (for the error message)."""
    labels = [re.sub(r'[^A-Za-z0-9-]+', '-', label).strip('-')[:63].strip('-') for label in (name or '').split('.')]
    return '.'.join(label for label in labels if label)[:253].strip('.-') or 'devvm'


# ---------------------------------------------------------------- ports

def port_is_free(port, host='127.0.0.1'):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, int(port)))
    except (OSError, socket.error):
        return False
    finally:
        sock.close()
    return True


def free_port(host='127.0.0.1'):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def tcp_listeners(proc_net_tcp, port):
    """``/proc/net/tcp`` text -> ``[(address, uid, inode)]`` of the sockets listening on ``port``."""
    found = []
    for line in (proc_net_tcp or '').splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != '0A' or ':' not in fields[1]:
            continue
        addr_hex, port_hex = fields[1].split(':', 1)
        if int(port_hex, 16) != int(port) or len(addr_hex) != 8:
            continue
        address = '.'.join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
        found.append((address, int(fields[7]), fields[9]))
    return found


def hostfwd_failed(stderr, port):
    """True when QEMU's stderr says it could not bind the SSH forward on ``port``."""
    return "Could not set up host forwarding rule 'tcp:127.0.0.1:%d-" % int(port) in (stderr or '')


def port_taken_message(name, port, listeners, holders):
    """The error when QEMU could not bind ``port``: who holds it (``holders``: pid -> command) and the fix."""
    who = ''
    if holders:
        who = ' by %s' % ', '.join('pid %d (%s)' % (pid, cmd) for pid, cmd in sorted(holders.items()))
    elif listeners:
        who = ' by a process of uid %s (socket inode %s)' % (listeners[0][1], listeners[0][2])
    return ('QEMU could not forward 127.0.0.1:%d to the SSH port of %s: the port was taken%s after it was '
            'checked; nothing of the VM was lost. Choose another port (local_vm_ssh_port, 0 picks a free one) '
            'or stop the process holding it, then run again' % (int(port), name, who))


def choose_port(requested, saved, is_free, pick_free):
    """Choose the SSH forward port. Returns ``(port, reason)`` or ``(None, error)``.

    An explicit ``requested`` port must be free; otherwise the VM's ``saved``
    port is kept while free, else a new free port is picked.
    """
    if requested:
        if is_free(requested):
            return requested, 'port %d requested' % requested
        return None, ('port %d (local_vm_ssh_port) is in use on 127.0.0.1; free it or set '
                      'local_vm_ssh_port: 0 to pick a free port' % requested)
    if saved and is_free(saved):
        return saved, 'port %d kept from the previous start' % saved
    port = pick_free()
    if saved:
        return port, 'port %d from the previous start is in use, picked %d' % (saved, port)
    return port, 'picked free port %d' % port
