# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fault suite (issue 15), kernel-facing modules: bad inputs to rxe_link, debugfs and memlock.

Each case gives one bad input and asserts the exact failure message (it names what is wrong and the
fix) and that nothing was applied: no command that changes the host ran, and every file of the fake
host (sysfs, /etc, /run, /proc) is byte for byte as before.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.modules import debugfs, memlock, rxe_link

from conftest import FakeCommands, fixture_text
from fake_rdma import REL, FakeRdmaHost


def tree(root):
    """Every file and symlink under ``root``: path -> content or link target."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            full = os.path.join(d, name)
            if os.path.islink(full):
                out[full] = '-> ' + os.readlink(full)
            else:
                with open(full, 'rb') as f:
                    out[full] = f.read()
    return out


def assert_refused(module_runner, mod, args, root, commands, msg, **kwargs):
    before = tree(root)
    result = module_runner(mod, args, commands=commands, **kwargs)
    assert result.get('failed'), result
    assert result['msg'] == msg
    assert tree(root) == before, 'a file changed'
    return result


# --------------------------------------------------------------------------
# rxe_link: a fake host with rxe0 (made by labkit) on ens3 and a hand-made rxefrgn on dummy0

@pytest.fixture
def rdma_host(tmp_path, monkeypatch):
    monkeypatch.setattr(rxe_link, 'kernel_release', lambda: REL)
    host = FakeRdmaHost(tmp_path / 'host', [('rxefrgn', 'dummy0')])
    monkeypatch.setattr(common, 'HOST_ROOT', host.root)
    host.add_link('rxe0', 'ens3')
    host.write('/run/labkit/rxe/rxe0.conf', 'RXE_NAME=rxe0\nNETDEV=ens3\n')  # labkit's record: rxe0 is ours
    return host


BAD_NAME = ('name %r is not a valid RDMA device name for this module: use letters, digits, "_", "." and "-", starting '
            'with a letter or digit, at most 63 characters (e.g. rxe0)')
BAD_NETDEV = ('netdev %r is not a valid network device name (1-15 characters, no "/", no whitespace, not "." or ".."); '
              'give the name "ip link" shows, e.g. ens3')
CREATE = ('cannot create soft-RoCE link rxe5: %s. Choose an Ethernet netdev that is up with netdev=..., for example '
          'the default-route device, a dummy or a veth device')

RXE_FAULTS = [
    ({'name': 'rxe 0'}, BAD_NAME % 'rxe 0'),
    ({'name': '-rxe'}, BAD_NAME % '-rxe'),
    ({'name': 'r' * 64}, BAD_NAME % ('r' * 64)),
    ({'name': 'rxe/0'}, BAD_NAME % 'rxe/0'),
    ({'name': 'rxe5', 'netdev': 'a/b'}, BAD_NETDEV % 'a/b'),
    ({'name': 'rxe5', 'netdev': 'averyveryverylong0'}, BAD_NETDEV % 'averyveryverylong0'),
    ({'name': 'rxe5', 'netdev': '..'}, BAD_NETDEV % '..'),
    ({'name': 'rxe5', 'netdev': 'eth 0'}, BAD_NETDEV % 'eth 0'),
    ({'name': 'rxe5', 'netdev': ''}, BAD_NETDEV % ''),
    ({'name': 'rxe5', 'wait_timeout': -1}, 'wait_timeout must be 0 or more seconds, not -1; use 0 not to wait'),
    ({'name': 'rxe5', 'netdev': 'lo'}, CREATE % 'netdev lo is the loopback device; soft-RoCE needs an Ethernet device '
                                                '(RoCE traffic to 127.0.0.1 works over any rxe link)'),
    ({'name': 'rxe5', 'netdev': 'br0'}, CREATE % 'netdev br0 is a bridge; put the soft-RoCE link on the Ethernet '
                                                 'device that carries the traffic, or on a dummy/veth device'),
    ({'name': 'rxe5', 'netdev': 'nope0'}, CREATE % 'netdev nope0 does not exist (no /sys/class/net/nope0)'),
    ({'name': 'rxefrgn', 'state': 'absent'},
     'soft-RoCE link rxefrgn on dummy0 was not created by labkit.ebpf_rdma (no record /etc/labkit/rxe/rxefrgn.conf '
     'nor /run/labkit/rxe/rxefrgn.conf); it is not deleted, as this module deletes only links it created. Delete it '
     'by hand (rdma link delete rxefrgn), or set force: true to let this module delete it'),
    ({'name': 'rxefrgn', 'netdev': 'ens3'},
     'soft-RoCE link rxefrgn already exists on netdev dummy0, not on ens3; it is not re-created silently. Remove it '
     'first (it was not created by labkit.ebpf_rdma: rdma link delete rxefrgn, or rxe_link name=rxefrgn state=absent '
     'force=true) or pick another name for the link on ens3'),
    ({'name': 'rxe5', 'netdev': 'dummy0', 'persistent': True},
     'netdev dummy0 already has a soft-RoCE link named rxefrgn; a netdev carries at most one and a second is not '
     'created. rxefrgn is not a labkit link (no record /etc/labkit/rxe/rxefrgn.conf): use it as it is with '
     'use_foreign: true or name=rxefrgn, or delete it first (rdma link delete rxefrgn)'),
    ({'name': 'rxe5', 'netdev': 'ens3'},
     'netdev ens3 already has a soft-RoCE link named rxe0; a netdev carries at most one and a second is not created. '
     'Use name=rxe0, or remove rxe0 first'),
    ({'name': 'rxe0', 'netdev': 'dummy0', 'state': 'absent'},
     'soft-RoCE link rxe0 is on netdev ens3, not on dummy0 as given; nothing was removed. Give netdev=ens3 (or leave '
     'netdev out) to remove it'),
]


@pytest.mark.parametrize('args, msg', RXE_FAULTS, ids=[str(i) for i in range(len(RXE_FAULTS))])
def test_rxe_link_fault(rdma_host, module_runner, args, msg):
    assert_refused(module_runner, rxe_link, args, rdma_host.root, rdma_host.commands, msg)
    assert rdma_host.mutations() == []
    assert rdma_host.links() == {'rxefrgn': 'dummy0', 'rxe0': 'ens3'}


def test_rxe_link_persistent_without_systemd(rdma_host, module_runner):
    os.rmdir(rdma_host.path('/run/systemd/system'))
    assert_refused(module_runner, rxe_link, {'name': 'rxe5', 'netdev': 'dummy1', 'require_carrier': False,
                                             'persistent': True}, rdma_host.root, rdma_host.commands,
                   'persistent: true needs systemd as the running init (no /run/systemd/system); use persistent: '
                   'false and re-create the link at boot another way')
    assert rdma_host.mutations() == []


# --------------------------------------------------------------------------
# debugfs: a Debian 12 host with neither filesystem mounted

@pytest.fixture
def mount_host(fake_host, monkeypatch):
    monkeypatch.setattr(debugfs, 'current_euid', lambda: 0)
    monkeypatch.setattr(debugfs, 'kernel_release', lambda: REL)
    fake_host.write('/proc/filesystems', fixture_text('mounts/filesystems-bookworm.txt'))
    fake_host.write('/proc/self/mountinfo', fixture_text('mounts/mountinfo-unmounted.txt'))
    fake_host.write('/etc/fstab', fixture_text('mounts/fstab-bookworm.txt'))
    fake_host.mkdir('/run/systemd/system')
    fake_host.mkdir('/sys/kernel/debug')
    fake_host.mkdir('/sys/kernel/tracing')
    fake_host.mkdir('/srv/real')
    os.symlink('/srv/real', fake_host.path('/srv/link'))
    return fake_host


FIX = 'use the usual place /sys/kernel/%s, or an empty directory of your own such as /mnt/%s'
SYSTEM = '%s %s is a system directory; mounting over it would hide everything it holds; ' + FIX
BENEATH = ('%s %s is beneath %s, which holds files or kernel interfaces the system needs (only /sys/kernel/debug, '
           '/sys/kernel/tracing, /sys/kernel/debug/tracing are allowed there); mounting over it would hide them; ' + FIX)
FSTAB_CHARS = ('%s %r contains %s, which /etc/fstab cannot hold (a "#" starts a comment there, a control character '
               'breaks the line), so its boot-time line would never be found again and would be added on every run; '
               'choose a path without it, e.g. /sys/kernel/%s')

DEBUGFS_FAULTS = [
    ({'debugfs_path': '/etc'}, SYSTEM % ('debugfs_path', '/etc', 'debug', 'debugfs')),
    ({'debugfs_path': '/'}, SYSTEM % ('debugfs_path', '/', 'debug', 'debugfs')),
    ({'debugfs_path': '/etc/../usr/'}, SYSTEM % ('debugfs_path', '/usr', 'debug', 'debugfs')),
    ({'debugfs_path': '/root'}, SYSTEM % ('debugfs_path', '/root', 'debug', 'debugfs')),
    ({'debugfs_path': '/sys/fs/bpf'}, BENEATH % ('debugfs_path', '/sys/fs/bpf', '/sys', 'debug', 'debugfs')),
    ({'tracefs_path': '/usr/lib/trace'}, BENEATH % ('tracefs_path', '/usr/lib/trace', '/usr', 'tracing', 'tracefs')),
    ({'tracefs_path': '/proc/sys'}, BENEATH % ('tracefs_path', '/proc/sys', '/proc', 'tracing', 'tracefs')),
    ({'debugfs_path': 'debug'}, "debugfs_path must be an absolute path, got 'debug'; give the full path, e.g. "
                                "/sys/kernel/debug"),
    ({'debugfs_path': '/mnt/dbg#1'}, FSTAB_CHARS % ('debugfs_path', '/mnt/dbg#1', "'#'", 'debug')),
    ({'debugfs_path': '/mnt/dbg\n1'}, FSTAB_CHARS % ('debugfs_path', '/mnt/dbg\n1', "'\\n'", 'debug')),
    ({'tracefs_path': '/mnt/tr\x7f'}, FSTAB_CHARS % ('tracefs_path', '/mnt/tr\x7f', "'\\x7f'", 'tracing')),
    ({'debugfs_path': '/srv/link/dbg'},
     'debugfs_path /srv/link/dbg goes through the symlink /srv/link -> /srv/real: the kernel mounts on the target, so '
     '/proc/self/mountinfo would never show /srv/link/dbg and every run would mount again; give the path without '
     'symlinks'),
    ({'debugfs_path': '/sys/kernel/debug', 'tracefs_path': '/sys/kernel/debug/'},
     'debugfs_path and tracefs_path are both /sys/kernel/debug; they need two different mount points: leave '
     'tracefs_path out (the default: /sys/kernel/tracing, or DEBUGFS/tracing on kernels without it) or give another '
     'directory'),
]


@pytest.mark.parametrize('args, msg', DEBUGFS_FAULTS, ids=[str(i) for i in range(len(DEBUGFS_FAULTS))])
def test_debugfs_fault(mount_host, module_runner, args, msg):
    assert_refused(module_runner, debugfs, args, mount_host.root, FakeCommands(), msg)


# --------------------------------------------------------------------------
# memlock: a systemd host with an unrelated limits file

@pytest.fixture
def limits_host(fake_host, monkeypatch):
    monkeypatch.setattr(memlock, 'current_euid', lambda: 0)
    monkeypatch.setattr(memlock, 'kernel_release', lambda: REL)
    fake_host.mkdir('/run/systemd/system')
    fake_host.write('/etc/security/limits.d/20-site.conf', '@staff - memlock 1024\n')
    return fake_host


ACCEPTED = ("accepted: 'unlimited' (or 'infinity'), '0', or a whole number with a binary unit: K or KiB, M or MiB, G "
            "or GiB, T or TiB (powers of 1024), e.g. 64K, 512M, 8GiB; a bare number other than 0 is refused because "
            "limits.conf reads it as KiB and systemd as bytes")
DOMAIN = ("domain %r is not '*', a user name, '@group' or '%%group' (names start with a letter or _ and hold letters, "
          "digits, _ . -; at most 32 characters)")

MEMLOCK_FAULTS = [
    ({'value': '8GB'}, "'8GB' is not a memlock size; " + ACCEPTED),
    ({'value': '1024'}, "'1024' is not a memlock size; " + ACCEPTED),
    ({'value': '-5M'}, "'-5M' is not a memlock size; " + ACCEPTED),
    ({'value': '1.5G'}, "'1.5G' is not a memlock size; " + ACCEPTED),
    ({'value': '99999999T'}, "'99999999T' is larger than the kernel can hold (4611686018427387904 bytes at most); "
                             "use unlimited"),
    ({'value': '64M', 'domains': ['bad user']}, DOMAIN % 'bad user'),
    ({'value': '64M', 'domains': []}, 'domains is empty: name at least one limits.conf domain, e.g. "*" or root'),
    ({'value': '64M', 'units': ['ssh;reboot']},
     "'ssh;reboot' is not a valid service unit name (letters, digits, : _ . - \\ and one @ for templates, e.g. "
     "ssh.service or getty@tty1.service)"),
    ({'value': '64M', 'dropin_name': '../x.conf'},
     "dropin_name '../x.conf' must be a plain file name ending in .conf (systemd ignores other names), e.g. "
     "90-labkit-memlock.conf"),
    ({'value': '64M', 'limits_file': '/etc/security/limits.d/90-labkit'},
     'limits_file /etc/security/limits.d/90-labkit does not end in .conf, so pam_limits would ignore it; name it e.g. '
     '/etc/security/limits.d/90-labkit-memlock.conf'),
    ({'value': '64M', 'limits_file': '/etc/security/limits.d/20-site.conf'},
     '/etc/security/limits.d/20-site.conf exists and was not written by labkit.ebpf_rdma.memlock (no "Managed by" '
     'header); it is left alone: merge it by hand, or choose another limits_file'),
]


@pytest.mark.parametrize('args, msg', MEMLOCK_FAULTS, ids=[str(i) for i in range(len(MEMLOCK_FAULTS))])
def test_memlock_fault(limits_host, module_runner, args, msg):
    assert_refused(module_runner, memlock, args, limits_host.root, FakeCommands(), msg)


def test_memlock_without_systemd(limits_host, module_runner):
    os.rmdir(limits_host.path('/run/systemd/system'))
    assert_refused(module_runner, memlock, {'value': '64M'}, limits_host.root, FakeCommands(),
                   'this host is not running systemd (/run/systemd/system is missing), so there is no service '
                   'manager to configure; set systemd: false and units: [] (the limits.d file still covers PAM '
                   'logins)')


def test_at_least_twenty_bad_inputs():
    assert len(RXE_FAULTS) + len(DEBUGFS_FAULTS) + len(MEMLOCK_FAULTS) + 2 >= 20
