# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Safe filesystem operations for modules that run as root on behalf of a user.

A module running as root (``become``) that writes into a directory a user
owns must never follow a name the user can change: the user can rename or
replace any entry of that directory at any moment. The rules here:

* open a directory once (:func:`open_dir`: component by component from ``/``
  with ``O_NOFOLLOW``), check what was opened (:func:`check_owned_dir`,
  :func:`check_trusted_ancestors` on the ``fstat`` of the fd, never on a name),
  then work *relative to the fd* (``dir_fd=``);
* create files with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and change their owner
  through their own fd (:func:`write_file_at`, :func:`copy_file_at`); walk a
  tree with :func:`chown_tree_at` (``os.fwalk``, ``follow_symlinks=False``) and
  remove one with :func:`rmtree_at` (no links followed, no other filesystem
  entered);
* serialise work on a shared object with :func:`lock` (``fcntl.flock``; the
  holder's pid is written into the lock file so that a waiting run can name it).

Errors are :class:`FsafeError` whose text says what is wrong, why and the fix,
ready for ``fail_json(msg=str(e))``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import stat
import time

try:
    import grp
    import pwd
except ImportError:  # pragma: no cover - not on Windows controllers anyway
    grp = pwd = None

O_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
O_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)
O_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)


class FsafeError(Exception):
    """A refusal whose message names the path, the problem and the fix."""


class LockTimeout(FsafeError):
    """The lock stayed held by ``holder`` (a pid or None) for the whole timeout."""

    def __init__(self, msg, path, holder):
        super(LockTimeout, self).__init__(msg)
        self.path = path
        self.holder = holder


# ---------------------------------------------------------------- who is who

def user_name(uid):
    """``'alice (uid 1000)'``; ``'uid 1000'`` when the uid has no passwd entry."""
    try:
        return '%s (uid %d)' % (pwd.getpwuid(uid).pw_name, uid)
    except (KeyError, AttributeError):
        return 'uid %d' % uid


def intended_uid(environ, euid):
    """The user a module works for: the one who ran ``become`` (sudo/doas/pkexec), else ``euid``.

    A module run as root through ``sudo`` sees ``SUDO_UID``; ``doas`` sets
    ``DOAS_USER``; ``pkexec`` sets ``PKEXEC_UID``. Without them (``su``, a
    real root login) the module works for root itself.
    """
    if euid != 0:
        return euid
    for key in ('SUDO_UID', 'PKEXEC_UID'):
        value = (environ.get(key) or '').strip()
        if value.isdigit():
            return int(value)
    name = (environ.get('DOAS_USER') or '').strip()
    if name and pwd is not None:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    return euid


def describe_mode(st):
    return '%04o' % stat.S_IMODE(st.st_mode)


# ---------------------------------------------------------------- directories

def _components(path):
    return [c for c in path.split('/') if c]


def private_group(gid, uid):
    """True when ``gid`` is ``uid``'s own user private group (same name, no other member): the umask 002 scheme."""
    if pwd is None or grp is None:
        return False
    try:
        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return user.pw_gid == gid and group.gr_name == user.pw_name and set(group.gr_mem) <= set([user.pw_name])


def _writable_by_others(st):
    """Writable by everyone, or by a group that is not its owner's private group."""
    if st.st_mode & stat.S_IWOTH:
        return True
    return bool(st.st_mode & stat.S_IWGRP) and not private_group(st.st_gid, st.st_uid)


def check_owned_dir(st, path, uid, fix):
    """Refuse ``st`` (an ``fstat``) unless it is a directory owned by ``uid`` that no group or other may write.

    ``fix`` is the last part of the message (e.g. ``'or choose another cache_dir'``).
    """
    if not stat.S_ISDIR(st.st_mode):
        raise FsafeError('%s is not a directory; remove it %s' % (path, fix))
    if st.st_uid != uid:
        raise FsafeError('%s is owned by %s, not by %s who uses it (mode %s): another user could change what '
                         'is built or run from it; chown %d %s %s'
                         % (path, user_name(st.st_uid), user_name(uid), describe_mode(st), uid, path, fix))
    if _writable_by_others(st):
        raise FsafeError('%s is writable by its group or by everyone (mode %s, owner %s): another user could '
                         'replace what is in it; chmod go-w %s %s'
                         % (path, describe_mode(st), user_name(st.st_uid), path, fix))


def check_trusted_ancestor(st, path, uids, fix):
    """Refuse an ancestor directory that a user outside ``uids`` could change.

    Trusted: owned by one of ``uids`` (root and the user) and not writable by
    group or others, unless it is sticky and root's (like ``/tmp``, where no
    one renames what another user made).
    """
    if st.st_uid not in uids:
        raise FsafeError('%s is owned by %s (mode %s), neither by root nor by %s: its owner could swap the '
                         'directories below it; use a path whose parents belong to root or to you %s'
                         % (path, user_name(st.st_uid), describe_mode(st),
                            ' or '.join(user_name(u) for u in sorted(uids) if u != 0) or 'root', fix))
    if _writable_by_others(st) and not (st.st_mode & stat.S_ISVTX and st.st_uid == 0):
        raise FsafeError('%s is writable by its group or by everyone and not sticky (mode %s, owner %s): another '
                         'user could swap the directories below it; chmod go-w %s %s'
                         % (path, describe_mode(st), user_name(st.st_uid), path, fix))


def open_dir(path, trusted_uids=None, fix='', check_last=False):
    """Open the directory ``path`` (absolute) without following any symlink; return its fd.

    ``path`` is first resolved with ``realpath`` (legitimate links such as
    ``/home -> /usr/home`` are fine); the resolved components are then opened
    one by one with ``O_NOFOLLOW``, so a component swapped for a link later
    fails instead of redirecting. With ``trusted_uids`` every component is
    checked with :func:`check_trusted_ancestor` (the last one too with
    ``check_last``; otherwise the caller checks it, e.g. with
    :func:`check_owned_dir`). Raises :class:`FsafeError`,
    or ``OSError`` (ENOENT) when a component does not exist.
    """
    real = os.path.realpath(path)
    fd = os.open('/', os.O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    here = '/'
    try:
        if trusted_uids is not None and (check_last or real != '/'):
            check_trusted_ancestor(os.fstat(fd), here, trusted_uids, fix)
        for name in _components(real):
            here = os.path.join(here, name)
            try:
                nfd = os.open(name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise FsafeError('%s changed into a symbolic link or a file while it was opened; labkit does '
                                     'not follow links it did not resolve: remove it %s' % (here, fix))
                raise
            os.close(fd)
            fd = nfd
            if trusted_uids is not None and (check_last or here != real):
                check_trusted_ancestor(os.fstat(fd), here, trusted_uids, fix)
        return fd
    except BaseException:
        os.close(fd)
        raise


def existing_prefix(path):
    """The longest existing prefix of ``path`` (realpath of it) and the missing names below it."""
    missing = []
    here = os.path.abspath(path)
    while not os.path.lexists(here) and here != '/':
        missing.insert(0, os.path.basename(here))
        here = os.path.dirname(here)
    return os.path.realpath(here), missing


def mkdirs_at(dir_fd, names, mode, owner=None):
    """Create ``names`` (nested) below ``dir_fd`` without following links; return the fd of the last.

    Each new directory is chowned to ``owner`` (uid, gid) through its own fd.
    The caller owns ``dir_fd``; the returned fd is new.
    """
    fd = os.dup(dir_fd)
    try:
        for name in names:
            try:
                os.mkdir(name, mode, dir_fd=fd)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise
            nfd = os.open(name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
            if owner is not None:
                st = os.fstat(fd)
                if (st.st_uid, st.st_gid) != tuple(owner):
                    os.fchown(fd, owner[0], owner[1])
        return fd
    except BaseException:
        os.close(fd)
        raise


# ---------------------------------------------------------------- files

def write_file_at(dir_fd, name, data, mode=0o644, owner=None):
    """Write ``data`` (bytes) to ``name`` below ``dir_fd`` atomically (a new file renamed over it).

    The temporary file is created with ``O_EXCL | O_NOFOLLOW`` and chowned to
    ``owner`` through its fd before the rename, so no link is ever followed.
    """
    tmp = '.%s.tmp-%d' % (name, os.getpid())
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except OSError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, 'wb', closefd=False) as f:
            f.write(data)
        os.fchmod(fd, mode)
        if owner is not None:
            os.fchown(fd, owner[0], owner[1])
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def open_regular_at(dir_fd, name, what):
    """Open ``name`` below ``dir_fd`` for reading, refusing a symlink or anything but a regular file."""
    try:
        fd = os.open(name, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FsafeError('%s is a symbolic link; labkit does not follow links there: remove it' % what)
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FsafeError('%s is not a regular file; remove it' % what)
    return fd


def copy_file_at(src_dir_fd, src_name, dst_dir_fd, dst_name, mode=0o644, owner=None, hasher=None):
    """Copy a regular file (never a link) into a new file ``dst_name`` (``O_EXCL``), chowned through its fd.

    ``hasher`` (a hashlib object) is fed the bytes on the way.
    """
    src = open_regular_at(src_dir_fd, src_name, src_name)
    try:
        dst = os.open(dst_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=dst_dir_fd)
        try:
            while True:
                block = os.read(src, 1 << 20)
                if not block:
                    break
                if hasher is not None:
                    hasher.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(dst, view):]
            os.fchmod(dst, mode)
            if owner is not None:
                os.fchown(dst, owner[0], owner[1])
        finally:
            os.close(dst)
    finally:
        os.close(src)


def chown_tree_at(dir_fd, name, uid, gid):
    """``chown -hR uid:gid name`` below ``dir_fd``: ``os.fwalk`` with no link followed, ``lchown`` semantics."""
    top = os.open(name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fchown(top, uid, gid)
        for _root, dirs, files, fd in os.fwalk('.', dir_fd=top, follow_symlinks=False):
            for entry in dirs + files:
                os.chown(entry, uid, gid, dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(top)


def rmtree_at(dir_fd, name):
    """Remove the tree ``name`` below ``dir_fd``: no link followed, no other filesystem entered.

    A directory on another device (a mount left by an interrupted build) stops
    the removal with :class:`FsafeError` instead of emptying the mounted tree.
    """
    try:
        top = os.open(name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            os.unlink(name, dir_fd=dir_fd)
            return
        raise
    try:
        _empty_dir(top, os.fstat(top).st_dev, name)
    finally:
        os.close(top)
    os.rmdir(name, dir_fd=dir_fd)


def _empty_dir(fd, dev, where):
    for entry in list(os.scandir(fd)):
        if entry.is_dir(follow_symlinks=False):
            sub = os.open(entry.name, os.O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, dir_fd=fd)
            try:
                if os.fstat(sub).st_dev != dev:
                    raise FsafeError('%s/%s is another filesystem (a mount left by an interrupted build); unmount '
                                     'it (umount -l) and run again' % (where, entry.name))
                _empty_dir(sub, dev, '%s/%s' % (where, entry.name))
            finally:
                os.close(sub)
            os.rmdir(entry.name, dir_fd=fd)
        else:
            os.unlink(entry.name, dir_fd=fd)


# ---------------------------------------------------------------- locks

def _holder(fd):
    try:
        text = os.pread(fd, 64, 0).decode('ascii', 'replace').strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def describe_holder(pid):
    """``'pid 1234 (ansible-playboo)'``; ``'an unknown process'`` without a recorded pid."""
    if not pid:
        return 'an unknown process (no pid recorded)'
    try:
        with open('/proc/%d/comm' % pid) as f:
            return 'pid %d (%s)' % (pid, f.read().strip())
    except (IOError, OSError):
        return 'pid %d' % pid


@contextlib.contextmanager
def lock(name, dir_fd=None, timeout=0, purpose='', shared=False, owner=None, on_wait=None, create=True, poll=0.2,
         mode=0o644):
    """Hold an ``fcntl.flock`` on the file ``name`` (below ``dir_fd`` when given, else a path) for the ``with`` block.

    * exclusive by default; ``shared=True`` for readers (several at once);
    * the lock file is opened with ``O_NOFOLLOW`` and must be a regular file
      with one link (a planted link or hard link is refused); a new one gets
      ``mode`` and is chowned to ``owner`` (uid, gid) so that the user's own
      runs can lock it;
    * when held by another process, ``on_wait(message, holder)`` is called once
      with a message naming the holder and the holder's recorded pid (None when
      unknown), then the call waits up to ``timeout`` seconds and raises
      :class:`LockTimeout` naming the holder;
    * ``create=False`` (check mode: write nothing) yields None when the lock file
      does not exist (nobody ever locked it, so nothing runs there).

    The holder's pid is written into the file while the lock is held
    (exclusive locks only). The lock goes with the holder's process: the
    kernel drops a ``flock`` when its file is closed, so a killed run leaves no
    stale lock; the file stays (removing it would race). Yields the number of
    seconds waited.
    """
    flags = (os.O_RDONLY if shared else os.O_RDWR) | O_NOFOLLOW | O_CLOEXEC
    if create:
        flags |= os.O_CREAT
    try:
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ENOENT and not create:
            yield None
            return
        if e.errno == errno.ELOOP:
            raise FsafeError('the lock file %s is a symbolic link; remove it (rm %s) and run again' % (name, name))
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            kind = 'file' if stat.S_ISREG(st.st_mode) else 'special file'
            raise FsafeError('the lock file %s is not a plain file of its own (it is a %s with %d links); remove '
                             'it (rm %s) and run again' % (name, kind, st.st_nlink, name))
        if create and owner is not None and st.st_uid != owner[0] and os.geteuid() == 0:
            os.fchown(fd, owner[0], owner[1])
        how = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        start = time.time()
        told = False
        while True:
            try:
                fcntl.flock(fd, how | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            holder = _holder(fd)
            waited = time.time() - start
            if waited >= timeout:
                raise LockTimeout('%s is locked by %s%s; waited %d s. Wait for it to finish, or stop it '
                                  '(kill %s) if it is stuck, then run again'
                                  % (name, describe_holder(holder), ' (%s)' % purpose if purpose else '',
                                     int(waited), holder or '<pid>'), name, holder)
            if not told and on_wait is not None:
                on_wait('waiting up to %d s for %s, locked by %s%s' % (
                    timeout, name, describe_holder(holder), ' (%s)' % purpose if purpose else ''), holder)
                told = True
            time.sleep(min(poll, max(timeout - waited, 0.01)))
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, ('%d\n' % os.getpid()).encode('ascii'), 0)
        try:
            yield time.time() - start
        finally:
            if not shared:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
