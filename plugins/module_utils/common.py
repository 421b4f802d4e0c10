# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared plumbing for the labkit.ebpf_rdma modules.

Every module follows the same three steps:

1. read the current state (only reads; IO at the edges),
2. compute a plan: a list of :class:`Action` built by pure functions,
3. apply the plan unless in check mode, and report ``changed``, the
   planned ``actions`` and a ``diff`` for every file written.

The helpers here are the only place that writes files or runs commands on
behalf of a module, so that check mode and diff behave the same everywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


# Where the host's filesystem starts. Unit tests point this at a fake tree
# (``monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))``) holding captured
# procfs/sysfs/etc files; modules always pass absolute host paths such as
# ``/proc/mounts`` through :func:`host_path`.
HOST_ROOT = '/'


def host_path(path):
    """Map an absolute host path into :data:`HOST_ROOT`."""
    if HOST_ROOT in ('/', ''):
        return path
    return os.path.join(HOST_ROOT, path.lstrip('/'))


class Action(object):
    """One step of a plan.

    ``kind`` is a short verb (``write_file``, ``remove_file``, ``run``, ``mount``...),
    ``target`` names what it acts on and ``description`` is the human text that
    the module returns in ``actions``. ``argv`` is the command (a list) for
    ``run`` actions; ``before``/``after`` carry file contents for diffs.
    """

    __slots__ = ('kind', 'target', 'description', 'argv', 'before', 'after', 'mode')

    def __init__(self, kind, target, description, argv=None, before=None, after=None, mode=None):
        self.kind = kind
        self.target = target
        self.description = description
        self.argv = argv
        self.before = before
        self.after = after
        self.mode = mode

    def __repr__(self):
        return 'Action(%r, %r, %r)' % (self.kind, self.target, self.description)

    def __eq__(self, other):
        return isinstance(other, Action) and all(
            getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __ne__(self, other):
        return not self == other


def read_text(path, default=None):
    """Return the text of ``path`` or ``default`` when it does not exist or cannot be read."""
    try:
        with open(host_path(path), 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return default


def read_first_line(path, default=None):
    """Return the first line of a (sysfs/procfs) file, stripped, or ``default``."""
    text = read_text(path)
    if text is None:
        return default
    return text.strip().split('\n', 1)[0].strip()


def read_file_state(path):
    """``(text, mode)`` of ``path`` on the host; ``(None, None)`` when it does not exist."""
    text = read_text(path)
    if text is None:
        return None, None
    try:
        return text, os.stat(host_path(path)).st_mode & 0o7777
    except OSError:
        return text, None


def file_change(path, current, content, mode=0o644, description=None):
    """Pure: plan writing ``content`` given ``current`` = :func:`read_file_state`; None when already so.

    A file whose content matches but whose mode differs is rewritten too.
    """
    before, before_mode = current
    if before == content and (mode is None or before_mode == mode):
        return None
    return Action('write_file', path, description or ('write %s' % path),
                  before=before if before is not None else '', after=content, mode=mode)


def file_removal(path, current, description=None):
    """Pure: plan removing ``path`` given ``current`` = :func:`read_file_state`; None when absent."""
    before = current[0]
    if before is None:
        return None
    return Action('remove_file', path, description or ('remove %s' % path), before=before, after='')


def plan_file(path, content, mode=0o644, description=None):
    """Plan writing ``content`` to ``path``; return an :class:`Action` or None when already so."""
    return file_change(path, read_file_state(path), content, mode, description)


def plan_remove_file(path, description=None):
    """Plan removing ``path``; None when it does not exist."""
    before = read_text(path)
    if before is None and not os.path.lexists(host_path(path)):
        return None
    return Action('remove_file', path, description or ('remove %s' % path),
                  before=before or '', after='')


def plan_run(argv, description=None, target=None):
    """Plan running a command given as an argument list."""
    if not isinstance(argv, (list, tuple)):
        raise TypeError('commands are argument lists, never shell strings')
    return Action('run', target or argv[0], description or ' '.join(argv), argv=list(argv))


def write_file_atomic(module, path, content, mode=0o644):
    """Write ``content`` to ``path`` through a temporary file and an atomic rename."""
    path = host_path(path)
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.labkit-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(content.encode('utf-8'))
            # On disk before the rename: a host that loses power (a VM killed mid-converge)
            # must find the old file or the new one, never a new name with no data (ext4
            # delays allocation; a zero-length config then reads as someone else's file).
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        if mode is not None:
            # atomic_move gives a new file the default mode; set the one asked for.
            os.chmod(path, mode)
        sync_directory(directory)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def sync_directory(directory):
    """Make a rename or removal in ``directory`` durable (fsync of the directory itself)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def apply_actions(module, actions, runner=None):
    """Carry out ``actions`` in order (never in check mode).

    ``runner`` is called for action kinds this function does not know
    (``mount``, ``modprobe``...). ``run`` actions fail the module with the
    command's output when they exit non-zero.
    """
    if module.check_mode:
        return
    for action in actions:
        if action.kind == 'write_file':
            write_file_atomic(module, action.target, action.after, action.mode)
        elif action.kind == 'remove_file':
            if os.path.lexists(host_path(action.target)):
                os.unlink(host_path(action.target))
        elif action.kind == 'run':
            run_checked(module, action.argv, what=action.description)
        elif runner is not None:
            runner(action)
        else:
            raise ValueError('no runner for action kind %r' % action.kind)


def diffs_for(actions):
    """Return the list of before/after diffs of the file actions in ``actions``."""
    diffs = []
    for action in actions:
        if action.kind in ('write_file', 'remove_file'):
            diffs.append({
                'before_header': action.target if action.before else '/dev/null',
                'after_header': action.target if action.kind == 'write_file' else '/dev/null',
                'before': action.before or '',
                'after': action.after or '',
            })
    return diffs


def describe(actions):
    """The ``actions`` return value: human-readable descriptions in plan order."""
    return [a.description for a in actions]


def run_checked(module, argv, what=None, hint=None, data=None, environ_update=None):
    """Run ``argv`` (a list) and return (stdout, stderr); fail the module on a non-zero exit.

    The failure message says what was being done, the command, and ``hint``
    (how to fix it) when given.
    """
    rc, out, err = module.run_command(list(argv), data=data, environ_update=environ_update)
    if rc != 0:
        msg = '%s failed (exit %d): %s' % (what or 'command', rc, (err or out or '').strip())
        if hint:
            msg += '. ' + hint
        module.fail_json(msg=msg, cmd=list(argv), rc=rc, stdout=out, stderr=err)
    return out, err


def result_for(module, actions, **extra):
    """Build the standard result: ``changed``, ``actions`` and (with --diff) ``diff``."""
    result = dict(changed=bool(actions), actions=describe(actions))
    if module._diff:
        result['diff'] = diffs_for(actions)
    result.update(extra)
    return result
