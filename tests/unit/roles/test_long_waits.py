# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Long waits print progress, not failures.

An ``until`` loop prints every unsuccessful try as ``FAILED - RETRYING``: a cold
``dev-vm.yml`` printed its image build that way. No task of the roles and
playbooks retries with ``until`` any more; the image build and the boot to SSH
are waited for by ``labkit.ebpf_rdma.async_wait`` (one progress line per interval).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
FILES = sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))
               + glob.glob(os.path.join(ROOT, 'roles', '*', 'handlers', '*.yml'))
               + glob.glob(os.path.join(ROOT, 'playbooks', '*.yml'))
               + glob.glob(os.path.join(ROOT, 'molecule', 'shared', '*.yml')))


def tasks_of(node):
    if isinstance(node, list):
        for item in node:
            yield from tasks_of(item)
    elif isinstance(node, dict):
        if 'name' in node or 'block' in node:
            yield node
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            if key in node:
                yield from tasks_of(node[key])


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or []


def test_no_task_retries_with_until():
    found = ['%s: %s' % (os.path.relpath(path, ROOT), task.get('name'))
             for path in FILES for task in tasks_of(load(path)) if 'until' in task or 'retries' in task]
    assert not found, 'until/retries print FAILED - RETRYING on every try; wait with labkit.ebpf_rdma.async_wait: %s' \
        % found


def test_image_build_and_boot_are_waited_for_with_progress():
    # started.yml builds the image, boot.yml (imported by it and by snapshot.yml) boots the VM
    tasks = [t for name in ('started.yml', 'boot.yml')
             for t in tasks_of(load(os.path.join(ROOT, 'roles', 'local_vm', 'tasks', name)))]
    waits = [t for t in tasks if 'labkit.ebpf_rdma.async_wait' in t]
    jobs = [t['labkit.ebpf_rdma.async_wait']['jid'] for t in waits]
    assert any('__local_vm_image_job' in j for j in jobs), jobs
    assert any('__local_vm_banner_job' in j for j in jobs), jobs
    for t in waits:
        args = t['labkit.ebpf_rdma.async_wait']
        assert args.get('label') and args.get('next') and args.get('timeout'), t['name']
    started = [t for t in tasks if t.get('poll') == 0]
    assert len(started) == 2 and all('async' in t for t in started)


def test_starting_a_background_job_reports_no_change_of_its_own():
    """A ``poll: 0`` task always reports changed; its wait reports what really changed.

    Without ``changed_when: false`` the boot-to-SSH wait made every re-run of a
    running VM report a change (Molecule's idempotence step failed on it).
    """
    found = ['%s: %s' % (os.path.relpath(path, ROOT), task.get('name'))
             for path in FILES for task in tasks_of(load(path))
             if task.get('poll') == 0 and task.get('changed_when') is not False]
    assert not found, 'a background job started with poll: 0 needs changed_when: false ' \
        '(the async_wait that follows reports the change): %s' % found
