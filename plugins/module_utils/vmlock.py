# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A per-VM lock: ``fcntl.flock`` on a file that records the holder's pid.

Two runs on the same VM at once (two ``dev-vm.yml``) would race on
``ssh-keygen``, qemu-img's write lock and the SSH port. The second one waits
up to a bound, then fails naming the holder's pid. The lock goes with the
process (a killed run leaves no stale lock: the kernel drops a flock when its
file is closed), and the file is left in place (removing it would race).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import time


class LockHeld(Exception):
    """The lock was still held when the wait ended; ``holder`` is its pid (None when unknown)."""

    def __init__(self, path, holder):
        super(LockHeld, self).__init__(path, holder)
        self.path = path
        self.holder = holder


def _holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).decode('ascii', 'replace').strip() or 0) or None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def flock(path, timeout, on_wait=None, poll=0.5, clock=time.time, sleep=time.sleep):
    """Hold an exclusive lock on ``path`` (created 0600, never through a symlink) for the ``with`` block.

    When another process holds it, ``on_wait(holder_pid)`` is called once and
    the lock is retried every ``poll`` seconds for ``timeout`` seconds, then
    :class:`LockHeld` is raised.
    """
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0), 0o600)
    try:
        deadline = clock() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            holder = _holder(fd)
            if clock() >= deadline:
                raise LockHeld(path, holder)
            if not waited and on_wait:
                on_wait(holder)
            waited = True
            sleep(poll)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
