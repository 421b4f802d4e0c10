# SPDX-License-Identifier: GPL-3.0-or-later
"""Every package install of the roles waits for the dpkg lock, with a bound.

apt-daily / unattended-upgrades hold the dpkg lock for minutes after a boot; an apt task
without lock_timeout fails after the apt module's default (60 s), and `apt-get` run by a
command fails at once. Every ansible.builtin.apt task (and every ansible.builtin.package
task that can reach apt, and the kernel_headers module) takes the shared bound
labkit_apt_lock_timeout; no role runs apt-get or dpkg itself.
"""

import glob
import os
import re

import yaml

from conftest import ROOT

SHARED = 'labkit_apt_lock_timeout | default(300) | int'
APT_MODULES = ('ansible.builtin.apt', 'ansible.builtin.package', 'labkit.ebpf_rdma.kernel_headers')


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ('block', 'rescue', 'always'):
            if key in node:
                yield from _tasks(node[key])


def _when(task):
    when = task.get('when', [])
    return ' '.join(when if isinstance(when, list) else [str(when)])


def package_tasks():
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))):
        with open(path) as f:
            for task in _tasks(yaml.safe_load(f) or []):
                for module in APT_MODULES:
                    if module in task:
                        yield os.path.relpath(path, ROOT), task, module


def test_every_apt_task_has_the_shared_lock_timeout():
    missing = []
    seen = 0
    for path, task, module in package_tasks():
        if module == 'ansible.builtin.package' and re.search(r"pkg_mgr'?\]?\s*!=\s*'apt'", _when(task)):
            continue  # never apt
        if (task[module] or {}).get('state') == 'checked':
            continue  # kernel_headers state=checked installs nothing
        seen += 1
        if SHARED not in str((task[module] or {}).get('lock_timeout', '')):
            missing.append('%s: %s' % (path, task.get('name')))
    assert seen >= 7
    assert not missing, 'package tasks without lock_timeout: "{{ %s }}":\n  %s' % (SHARED, '\n  '.join(missing))


def test_no_role_runs_apt_get_or_dpkg_itself():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))):
        with open(path) as f:
            for task in _tasks(yaml.safe_load(f) or []):
                for module in ('ansible.builtin.command', 'ansible.builtin.shell', 'ansible.builtin.raw'):
                    args = task.get(module) or ''
                    argv = args.get('argv') if isinstance(args, dict) else None
                    text = str(args)
                    runs_apt = (os.path.basename(str(argv[0])) in ('apt-get', 'apt', 'dpkg') if argv
                                else re.search(r"(^|[;&|]\s*|sudo\s+)(apt-get|apt|dpkg)(?![\w-])", text))
                    if runs_apt and 'DPkg::Lock::Timeout' not in text:
                        found.append('%s: %s' % (os.path.relpath(path, ROOT), task.get('name')))
    assert not found, 'apt-get/dpkg run by a command without -o DPkg::Lock::Timeout=N:\n  ' + '\n  '.join(found)
