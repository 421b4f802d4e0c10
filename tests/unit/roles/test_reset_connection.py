# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every task that changes what a login session reads only at its start resets the connection.

Memory-lock limits (pam_limits), group membership and environment files are read
when a session starts; Ansible's SSH connection is one session reused
(ControlPersist). A task that writes them must notify a handler of its role that
runs ``meta: reset_connection`` (meta tasks ignore ``when``, so a handler is the
way to reset only on a change), and the next task must flush it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

SESSION_MODULES = {'labkit.ebpf_rdma.memlock', 'memlock', 'community.general.pam_limits', 'pam_limits'}
USER_MODULES = {'ansible.builtin.user', 'ansible.legacy.user', 'user'}
FILE_MODULES = {'%s%s' % (ns, m) for ns in ('', 'ansible.builtin.', 'ansible.legacy.')
                for m in ('copy', 'template', 'lineinfile', 'blockinfile', 'file', 'replace')}
SESSION_PATHS = ('/etc/security/limits', '/etc/environment', '/etc/profile', '/etc/default/locale',
                 '/etc/group', '/etc/gshadow', '/etc/pam.d/')
KEYWORDS = {'name', 'when', 'register', 'notify', 'vars', 'become', 'become_user', 'tags', 'loop', 'loop_control',
            'changed_when', 'failed_when', 'check_mode', 'delegate_to', 'run_once', 'environment', 'no_log',
            'ignore_errors', 'until', 'retries', 'delay', 'listen', 'block', 'rescue', 'always', 'diff',
            'async', 'poll', 'args', 'timeout', 'throttle', 'delegate_facts', 'module_defaults', 'collections'}


def action_of(task):
    keys = [k for k in task if k not in KEYWORDS and not k.startswith('with_')]
    return (keys[0], task[keys[0]]) if keys else (None, None)


def task_lists(tasks):
    """Yield every list of tasks (a file, a block, a rescue, an always) found in tasks."""
    yield tasks
    for task in tasks or []:
        for key in ('block', 'rescue', 'always'):
            if isinstance(task, dict) and task.get(key):
                yield from task_lists(task[key])


def changes_session(task):
    action, args = action_of(task)
    if action in SESSION_MODULES:
        return True
    if action in USER_MODULES and isinstance(args, dict) and args.get('groups'):
        return True
    if action in FILE_MODULES and isinstance(args, dict):
        path = str(args.get('dest') or args.get('path') or '')
        return path.startswith(SESSION_PATHS)
    return False


def role_files():
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))):
        role = path.split(os.sep)[-3]
        yield role, path


def reset_handlers(role):
    path = os.path.join(ROOT, 'roles', role, 'handlers', 'main.yml')
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        handlers = yaml.safe_load(f) or []
    names = set()
    for h in handlers:
        action, args = action_of(h)
        if action in ('ansible.builtin.meta', 'meta') and args == 'reset_connection':
            names.add(h['name'])
            names.update([h['listen']] if isinstance(h.get('listen'), str) else h.get('listen') or [])
    return names


def session_tasks():
    found = []
    for role, path in role_files():
        with open(path) as f:
            tasks = yaml.safe_load(f) or []
        for tasks_list in task_lists(tasks):
            for i, task in enumerate(tasks_list or []):
                if isinstance(task, dict) and changes_session(task):
                    nxt = tasks_list[i + 1] if i + 1 < len(tasks_list) else None
                    found.append((role, os.path.relpath(path, ROOT), task, nxt))
    return found


def test_the_limit_writers_are_found():
    """Not vacuous: the memlock tasks of ebpf_host and soft_roce are among them."""
    roles = {role for role, _path, _task, _next in session_tasks()}
    assert {'ebpf_host', 'soft_roce'} <= roles


@pytest.mark.parametrize('role, path, task, nxt', session_tasks(), ids=lambda v: v if isinstance(v, str) else '')
def test_session_change_notifies_and_flushes_a_reset(role, path, task, nxt):
    notify = task.get('notify') or []
    notify = [notify] if isinstance(notify, str) else notify
    handlers = reset_handlers(role)
    assert handlers, 'roles/%s/handlers/main.yml has no handler running meta: reset_connection' % role
    assert set(notify) & handlers, '%s: %r does not notify %s' % (path, task['name'], sorted(handlers))
    assert nxt is not None and action_of(nxt) in (('ansible.builtin.meta', 'flush_handlers'), ('meta', 'flush_handlers')), \
        '%s: the task after %r must be meta: flush_handlers, so the reset happens before later tasks' % (path, task['name'])
