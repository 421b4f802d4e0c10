# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake controller for the vm_image tests (unit and fault suites).

* ``debian_controller(tmp_path, monkeypatch)``: Debian with the example.invalid
  sources on Linux x86_64 under ``tmp_path/host`` (``HOST_ROOT``); the module
  runs as the test's own user, with no proxy in the environment.
* ``root_for_user(tmp_path, monkeypatch)``: the module runs as root (become)
  for a user who owns ``tmp_path/cache`` (and ``tmp_path/build`` exists).
* ``tree_state(path)``: every entry below ``path`` with its mode, owner, size
  and mtime, for "nothing was written" checks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.modules import vm_image

from conftest import fixture_text

OTHER_UID = 4242


def debian_controller(tmp_path, monkeypatch):
    root = tmp_path / 'host'
    (root / 'etc/apt/sources.list.d').mkdir(parents=True)
    (root / 'etc/apt/sources.list.d/debian.sources').write_text(fixture_text('qemu/debian.sources'))
    (root / 'etc/os-release').write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    (root / 'proc/self').mkdir(parents=True)
    (root / 'proc/self/mountinfo').write_text(fixture_text('mounts/mountinfo-bookworm-boot.txt'))
    monkeypatch.setattr(common, 'HOST_ROOT', str(root))
    monkeypatch.setattr(vm_image.platform, 'system', lambda: 'Linux')
    monkeypatch.setattr(vm_image.platform, 'machine', lambda: 'x86_64')
    monkeypatch.setattr(vm_image, 'effective_uid', os.getuid)
    # a build 'as root' (effective_uid 0, see root_for_user) works for the user who ran sudo, as with become
    monkeypatch.setenv('SUDO_UID', str(os.getuid()))
    monkeypatch.delenv('http_proxy', raising=False)
    monkeypatch.delenv('HTTP_PROXY', raising=False)
    return root


def root_for_user(tmp_path, monkeypatch):
    """The module runs as root (become) for a user who owns the cache: returns that user's uid.

    As root (here) the cache belongs to another uid; as a plain user the test
    plays root (effective_uid 0) for itself (SUDO_UID = its own uid).
    """
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    user = OTHER_UID if os.getuid() == 0 else os.getuid()
    monkeypatch.setenv('SUDO_UID', str(user))
    cache = tmp_path / 'cache'
    (cache / 'images').mkdir(parents=True)
    for d in (cache, cache / 'images'):
        os.chmod(str(d), 0o755)
        os.chown(str(d), user, -1)
    (tmp_path / 'build').mkdir(mode=0o755)
    return user


def tree_state(path):
    state = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in sorted(dirnames + filenames):
            st = os.lstat(os.path.join(dirpath, name))
            state.append((os.path.relpath(os.path.join(dirpath, name), path), st.st_mode, st.st_uid,
                          st.st_size, st.st_mtime_ns))
    return sorted(state)
