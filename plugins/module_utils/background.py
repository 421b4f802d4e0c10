# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run one program in the background of a module, through ``run_command``.

``run_command`` waits for its process to end, so a module that needs a
program to keep running while it does something else (the ``ibv_*_pingpong``
server while the client runs) starts it through :data:`LAUNCHER`: a fixed
Python program, run as ``run_command([python, -c, LAUNCHER, workdir, limit,
argv...])`` (an argument list, no shell). It detaches a supervisor in a session
of its own and returns at once, printing that session's process-group id. The
supervisor runs ``argv`` with its output in ``workdir/stdout`` and
``workdir/stderr``, kills it after ``limit`` seconds, and writes its exit status
to ``workdir/rc`` (124 when the limit killed it, ``-N`` for signal N).

:meth:`Background.kill` kills the whole process group (supervisor and program),
so nothing is left running whatever happened to the module's side.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import sys
import time

LAUNCHER = r'''
import os, signal, sys
work, limit, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
first = os.fork()
if first:
    os.waitpid(first, 0)
    sys.stdout.write('%d\n' % first)
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
for fd, name in ((1, 'stdout'), (2, 'stderr')):
    os.dup2(os.open(os.path.join(work, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
os.closerange(3, 1024)
child = os.fork()
if child == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os.write(2, ('cannot run %s\n' % argv[0]).encode())
        os._exit(127)
expired = []


def expire(signum, frame):
    expired.append(True)
    os.kill(child, signal.SIGKILL)


signal.signal(signal.SIGALRM, expire)
signal.alarm(limit)
status = os.waitpid(child, 0)[1]
rc = 124 if expired else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
with open(os.path.join(work, 'rc.new'), 'w') as f:
    f.write('%d\n' % rc)
os.rename(os.path.join(work, 'rc.new'), os.path.join(work, 'rc'))
'''

# Replaced by unit tests.
KILLPG = os.killpg


class Background(object):
    """A program started by :func:`start`: poll it, wait for it, read its output, kill it."""

    def __init__(self, work, pgid):
        self.work = work
        self.pgid = pgid
        self.killed = False

    def _read(self, name):
        try:
            with open(os.path.join(self.work, name), 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except (IOError, OSError):
            return None

    def poll(self):
        """The exit status once the program ended, else None."""
        text = self._read('rc')
        return int(text) if text and text.strip() else None

    def wait(self, deadline, step=0.1):
        """The exit status, or None when the program still runs at ``deadline`` (a time.time() value)."""
        while True:
            rc = self.poll()
            if rc is not None or time.time() >= deadline:
                return rc
            time.sleep(step)

    def output(self):
        return self._read('stdout') or '', self._read('stderr') or ''

    def kill(self):
        """Kill the supervisor and the program (its whole process group), once; a group already gone is fine."""
        if self.killed:
            return
        self.killed = True
        try:
            KILLPG(self.pgid, signal.SIGKILL)
        except OSError:
            pass


def start(module, argv, work, limit):
    """Start argv in the background (output and status in the existing directory work), killed after limit s.

    Returns a :class:`Background`, or fails the module naming the program when it cannot be started.
    """
    rc, out, err = module.run_command([sys.executable, '-c', LAUNCHER, work, str(int(limit))] + list(argv))
    pgid = out.strip()
    if rc != 0 or not pgid.isdigit():
        module.fail_json(msg='could not start %s in the background (rc %d: %s); the Python interpreter of the '
                             'module (%s) must be able to fork' % (argv[0], rc, (err or out).strip(), sys.executable))
    return Background(work, int(pgid))
