# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fcntl
import os
import stat
import time

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fsafe

from conftest import hold_lock


def dirfd(path):
    return os.open(str(path), os.O_RDONLY | os.O_DIRECTORY)


def test_intended_uid_follows_sudo_doas_pkexec():
    assert fsafe.intended_uid({'SUDO_UID': '1000'}, 0) == 1000
    assert fsafe.intended_uid({'PKEXEC_UID': '1001'}, 0) == 1001
    assert fsafe.intended_uid({}, 0) == 0
    assert fsafe.intended_uid({'SUDO_UID': '1000'}, 1002) == 1002  # not root: itself
    assert fsafe.intended_uid({'SUDO_UID': 'x'}, 0) == 0


def test_open_dir_refuses_what_others_may_change(tmp_path):
    d = tmp_path / 'a' / 'b'
    d.mkdir(parents=True)
    os.chmod(str(tmp_path / 'a'), 0o777)
    with pytest.raises(fsafe.FsafeError) as e:
        fsafe.open_dir(str(d), set([0, os.getuid()]), 'or pick another')
    assert str(e.value).startswith('%s is writable by its group or by everyone and not sticky (mode 0777' % (tmp_path / 'a'))
    os.chmod(str(tmp_path / 'a'), 0o1777)
    if os.getuid() == 0:  # sticky and root's: like /tmp
        os.close(fsafe.open_dir(str(d), set([0]), ''))
    os.chmod(str(tmp_path / 'a'), 0o755)
    fd = fsafe.open_dir(str(d), set([0, os.getuid()]), '')
    fsafe.check_owned_dir(os.fstat(fd), str(d), os.getuid(), '')
    os.close(fd)


def test_check_owned_dir_names_owner_mode_and_fix(tmp_path):
    st = os.stat(str(tmp_path))
    with pytest.raises(fsafe.FsafeError) as e:
        fsafe.check_owned_dir(st, '/c', st.st_uid + 1, 'or choose another cache_dir')
    assert 'is owned by %s, not by' % fsafe.user_name(st.st_uid) in str(e.value)
    assert str(e.value).endswith('chown %d /c or choose another cache_dir' % (st.st_uid + 1))


def test_chown_tree_and_rmtree_never_follow_links(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'keep').write_text('keep')
    tree = tmp_path / 'tree'
    (tree / 'sub').mkdir(parents=True)
    (tree / 'sub' / 'f').write_text('x')
    os.symlink(str(outside), str(tree / 'link-dir'))
    os.symlink(str(outside / 'keep'), str(tree / 'link-file'))
    fd = dirfd(tmp_path)
    try:
        before = os.stat(str(outside / 'keep'))
        fsafe.chown_tree_at(fd, 'tree', os.getuid(), os.getgid())
        assert os.stat(str(outside / 'keep')).st_ctime_ns == before.st_ctime_ns  # the link's target untouched
        fsafe.rmtree_at(fd, 'tree')
    finally:
        os.close(fd)
    assert not tree.exists() and (outside / 'keep').read_text() == 'keep'


def test_write_and_copy_refuse_links_and_set_the_owner(tmp_path):
    fd = dirfd(tmp_path)
    try:
        os.symlink('/etc/passwd', str(tmp_path / 'planted'))
        with pytest.raises(fsafe.FsafeError):
            fsafe.open_regular_at(fd, 'planted', 'planted')
        fsafe.write_file_at(fd, 'new', b'data', 0o640, (os.getuid(), os.getgid()))
        assert (tmp_path / 'new').read_bytes() == b'data'
        assert stat.S_IMODE(os.stat(str(tmp_path / 'new')).st_mode) == 0o640
        fsafe.copy_file_at(fd, 'new', fd, 'copy', 0o644)
        assert (tmp_path / 'copy').read_bytes() == b'data'
        with pytest.raises(OSError):
            fsafe.copy_file_at(fd, 'new', fd, 'planted')  # O_EXCL: never writes through an existing name
    finally:
        os.close(fd)


def test_lock_names_the_holder_and_times_out(tmp_path):
    path = str(tmp_path / 'x.lock')
    with fsafe.lock(path, timeout=0) as waited:
        assert waited < 1
        assert open(path).read() == '%d\n' % os.getpid()
        told = []
        with pytest.raises(fsafe.LockTimeout) as e:
            with fsafe.lock(path, timeout=0.3, purpose='testing', on_wait=lambda msg, pid: told.append(msg)):
                pass
        assert e.value.holder == os.getpid()
        assert str(e.value).startswith('%s is locked by pid %d' % (path, os.getpid()))
        assert len(told) == 1 and told[0].startswith('waiting up to 0 s for %s, locked by pid %d' % (path, os.getpid()))
    # released: free again, and empty
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)
    assert open(path).read() == ''


def test_lock_tells_the_waiter_once_with_the_holders_pid(tmp_path, monkeypatch):
    path = str(tmp_path / 'x.lock')
    holder = fsafe.lock(path, mode=0o600)
    holder.__enter__()
    seen = []

    def sleep(_s):
        holder.__exit__(None, None, None)  # the first run ends while the second waits
    monkeypatch.setattr(fsafe, 'time', type('Clock', (), dict(time=staticmethod(time.time), sleep=staticmethod(sleep))))
    with fsafe.lock(path, timeout=60, on_wait=lambda msg, pid: seen.append((msg, pid))):
        assert open(path).read() == '%d\n' % os.getpid()
    me = fsafe.describe_holder(os.getpid())
    assert me.startswith('pid %d' % os.getpid())
    assert seen == [('waiting up to 60 s for %s, locked by %s' % (path, me), os.getpid())]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_holder_that_dies_leaves_no_stale_lock(tmp_path):
    path = str(tmp_path / 'x.lock')
    holder = hold_lock(path, 60)
    with pytest.raises(fsafe.LockTimeout) as e:
        with fsafe.lock(path, timeout=0):
            pass
    assert e.value.holder == holder.pid
    holder.kill()  # SIGKILL: no cleanup of its own
    holder.wait()
    with fsafe.lock(path, timeout=0) as waited:
        assert waited < 1 and open(path).read() == '%d\n' % os.getpid()


def test_lock_without_create_writes_nothing(tmp_path):
    with fsafe.lock(str(tmp_path / 'none.lock'), create=False, shared=True) as held:
        assert held is None
    assert os.listdir(str(tmp_path)) == []


def test_group_write_is_fine_for_a_user_private_group(monkeypatch):
    """umask 002 with user private groups (Ubuntu): group alice holds only alice, so g+w gives no one else access."""
    import collections
    Pw = collections.namedtuple('Pw', 'pw_name pw_gid')
    Gr = collections.namedtuple('Gr', 'gr_name gr_mem')
    monkeypatch.setattr(fsafe.pwd, 'getpwuid', lambda uid: Pw('alice', 1000))
    groups = {1000: Gr('alice', []), 50: Gr('staff', ['alice', 'bob'])}
    monkeypatch.setattr(fsafe.grp, 'getgrgid', lambda gid: groups[gid])
    St = collections.namedtuple('St', 'st_mode st_uid st_gid')
    fsafe.check_owned_dir(St(stat.S_IFDIR | 0o775, 1000, 1000), '/c', 1000, '')
    with pytest.raises(fsafe.FsafeError):
        fsafe.check_owned_dir(St(stat.S_IFDIR | 0o775, 1000, 50), '/c', 1000, '')
    with pytest.raises(fsafe.FsafeError):
        fsafe.check_owned_dir(St(stat.S_IFDIR | 0o757, 1000, 1000), '/c', 1000, '')
