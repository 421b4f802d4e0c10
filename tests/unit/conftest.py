# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers for the unit tests.

* ``fixture_text(name)`` reads a capture from ``tests/unit/fixtures`` (real
  command output and file contents captured from Debian VMs; see
  ``tests/unit/fixtures/README.md`` for where each came from).
* ``run_module(mod, args, commands=...)`` runs a module's ``main()`` with
  ``run_command`` answered from a table of argv -> (rc, stdout, stderr) and
  returns the result dict, with ``result['failed']`` set on fail_json.
* ``hold_lock(path, seconds)`` is another process holding a ``flock`` on
  ``path`` (as a concurrent run does), its pid recorded in the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
FIXTURES = os.path.join(HERE, 'fixtures')

# Import the collection in place (collections/ansible_collections/labkit/ebpf_rdma
# links to the repository root); under ansible-test units it is already importable.
_collections = os.path.join(ROOT, 'collections')
if os.path.isdir(_collections) and _collections not in sys.path:
    sys.path.insert(0, _collections)

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402


class ModuleExit(Exception):
    def __init__(self, result):
        super(ModuleExit, self).__init__(result)
        self.result = result


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), 'rb') as f:
        return f.read().decode('utf-8')


def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name), 'rb') as f:
        return f.read()


class FakeCommands(object):
    """Answers ``run_command`` from a table, and records every call.

    ``table`` maps a tuple argv (or a callable predicate) to ``(rc, out, err)``
    or to a callable returning it. Unknown commands fail the test loudly.
    """

    def __init__(self, table=None):
        self.table = list((table or {}).items())
        self.calls = []

    def add(self, argv, answer):
        self.table.insert(0, (tuple(argv), answer))

    def __call__(self, args, **kwargs):
        argv = tuple(args) if isinstance(args, (list, tuple)) else (args,)
        assert not isinstance(args, str), 'commands must be argument lists: %r' % (args,)
        self.calls.append(argv)
        for key, answer in self.table:
            if (callable(key) and key(argv)) or key == argv:
                return answer(argv, **kwargs) if callable(answer) else answer
        raise AssertionError('unexpected command: %r' % (argv,))

    def ran(self, *prefix):
        return [c for c in self.calls if c[:len(prefix)] == tuple(prefix)]


def run_module(mod, args, commands=None, check_mode=False, diff=False, monkeypatch=None, bins=None):
    """Run ``mod.main()`` with ``args``; return its result dict.

    ``bins`` maps a program name to its path or None (missing); unnamed
    programs are found under /usr/bin.
    """
    bins = bins or {}
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True

    def exit_json(self, **kwargs):
        kwargs.setdefault('changed', False)
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs['failed'] = True
        kwargs['msg'] = msg
        raise ModuleExit(kwargs)

    commands = commands if commands is not None else FakeCommands()
    mp = monkeypatch
    mp.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    mp.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    mp.setattr(basic.AnsibleModule, 'run_command', lambda self, a, **kw: commands(a, **kw))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        path = bins.get(name, '/usr/bin/' + name)
        if path is None and required:
            self.fail_json(msg='Failed to find required executable "%s"' % name)
        return path

    mp.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as exited:
            mod.main()
    result = exited.value.result
    json.dumps(result)  # results must be JSON-serialisable
    return result


HOLDER = r'''
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.write(fd, b'%d\n' % os.getpid())
sys.stdout.write('held\n')
sys.stdout.flush()
time.sleep(float(sys.argv[2]))
'''


def hold_lock(path, seconds):
    """Another process holding an exclusive flock on ``path`` for ``seconds``; returned once it holds."""
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, path, str(seconds)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b'held\n'
    proc.stdout.close()
    return proc


class FakeHost(object):
    """A fake host tree under a temporary directory; ``common.HOST_ROOT`` points at it."""

    def __init__(self, root):
        self.root = str(root)

    def path(self, p):
        return os.path.join(self.root, p.lstrip('/'))

    def write(self, p, text):
        full = self.path(p)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        with open(full, 'w') as f:
            f.write(text)

    def read(self, p):
        with open(self.path(p)) as f:
            return f.read()

    def exists(self, p):
        return os.path.lexists(self.path(p))

    def mkdir(self, p):
        if not os.path.isdir(self.path(p)):
            os.makedirs(self.path(p))


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """A :class:`FakeHost` in tmp_path, with the collection's HOST_ROOT pointed at it."""
    from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    return FakeHost(tmp_path)


RXE_SYSFS_TREE = os.path.join(FIXTURES, 'rdma', 'sysfs-rxe0-rxe1')


@pytest.fixture
def rxe_tree(tmp_path, monkeypatch):
    """A copy of the sysfs tree captured with rxe0 (ens3) and rxe1 (dummy0), as HOST_ROOT."""
    import shutil
    from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
    root = tmp_path / 'host'
    shutil.copytree(RXE_SYSFS_TREE, str(root))
    monkeypatch.setattr(common, 'HOST_ROOT', str(root))
    return root


@pytest.fixture
def module_runner(monkeypatch):
    """``module_runner(mod, args, commands=FakeCommands(...), check_mode=..., diff=...)``."""
    def _run(mod, args, **kwargs):
        return run_module(mod, args, monkeypatch=monkeypatch, **kwargs)
    return _run
