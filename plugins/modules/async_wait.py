#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: async_wait
short_description: Wait for an async job, printing its progress as progress (stage, elapsed time, what comes next)
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Waits for a job started with C(async) and C(poll=0) and returns its result, like M(ansible.builtin.async_status)
    in an C(until) loop, but without the C(FAILED - RETRYING) line of every poll - a long wait that is going well
    prints no failure.
  - Every O(interval) seconds it prints one line - what is waited for (O(label)), the time since the job started,
    its current stage and what comes next (O(next)). The stage is the last line of O(stage_file) when given (a
    console log), else the program the job is running (for example C(debootstrap), C(mkfs.ext4), C(qemu-img)),
    read from the job's processes in C(/proc).
  - Fails only when the job failed (with the job's own result) or is still running after O(timeout) seconds.
  - An action plugin runs the loop on the controller and prints the lines; this module, run by it on the host of
    the job, reads the job's state once.
options:
  jid:
    description: The job id (the C(ansible_job_id) registered from the task started with C(async) and C(poll=0)).
    type: str
    required: true
  timeout:
    description: Seconds to wait, counted from the start of the wait, before failing.
    type: int
    required: true
  interval:
    description: Seconds between two progress lines (and two looks at the job).
    type: int
    default: 15
  label:
    description: What is waited for, as printed on every line (for example V(image build)).
    type: str
    default: job
  next:
    description: What comes when the job is done, as printed on every line (for example V(start the VM)).
    type: str
    default: ''
  stage_file:
    description:
      - A file whose last non-empty line is the job's stage (for example the serial console log of a booting VM).
      - Without it the stage is the program the job runs.
    type: path
  async_dir:
    description:
      - Directory of the async job files; the action plugin sets it from the shell's C(async_dir) (default
        C(~/.ansible_async)), as M(ansible.builtin.async_status) does.
    type: path
    default: ~/.ansible_async
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads; in check mode there is usually no job to wait for (C(when) the job was started).
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Run it with the same C(become) and C(delegate_to) as the task that started the job (the job file is in that
    user's O(async_dir)).
seealso:
  - module: ansible.builtin.async_status
'''

EXAMPLES = r'''
- name: Build the image in the background
  labkit.ebpf_rdma.vm_image:
    release: bookworm
    arch: amd64
  async: 3600
  poll: 0
  register: build_job

- name: Wait for the image build (one progress line per 15 s)
  labkit.ebpf_rdma.async_wait:
    jid: "{{ build_job.ansible_job_id }}"
    timeout: 3600
    label: image build
    next: start the VM
  register: built
'''

RETURN = r'''
finished:
  description: Whether the job finished (always true when the module returns without failing).
  returned: always
  type: bool
stage:
  description: The job's stage at the last look.
  returned: always
  type: str
  sample: "debootstrap (running dpkg)"
elapsed:
  description: Seconds since the job started.
  returned: always
  type: int
waited:
  description: Seconds this task waited.
  returned: always
  type: int
ansible_job_id:
  description: The job id.
  returned: always
  type: str
'''

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.async_job import WAIT_ARGS
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import host_path, read_text

# Programs a job may be running, most telling first, with what they mean.
STAGES = (
    ('qemu-img', 'converting the disk image (qemu-img)'),
    ('mkfs.ext4', 'writing the root filesystem (mkfs.ext4)'),
    ('debootstrap', 'debootstrap: fetching and installing the base system'),
    ('apt-get', 'installing packages (apt-get)'),
    ('dpkg', 'installing packages (dpkg)'),
    ('curl', 'downloading (curl)'),
    ('wget', 'downloading (wget)'),
)
ESCAPES = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]')


def read_processes():
    """{pid: (ppid, comm, argv)} of every process in /proc."""
    procs = {}
    for name in os.listdir(host_path('/proc')):
        if not name.isdigit():
            continue
        stat = read_text('/proc/%s/stat' % name, '')
        cmdline = read_text('/proc/%s/cmdline' % name, '')
        m = re.match(r'^\d+ \((.*)\) \S+ (\d+)', stat or '')
        if m:
            procs[int(name)] = (int(m.group(2)), m.group(1), [a for a in (cmdline or '').split('\0') if a])
    return procs


def program_name(argv, comm):
    """What a process runs: its program, or the script an interpreter (sh, python, perl) runs."""
    name = os.path.basename(argv[0]) if argv else comm
    if name in ('sh', 'bash', 'dash') or name.startswith(('python', 'perl')):
        scripts = [a for a in argv[1:] if not a.startswith('-')]
        return os.path.basename(scripts[0]) if scripts else name
    return name


def job_roots(procs, jid):
    """The pids of async job jid's wrapper processes (none once the job has ended)."""
    prefix = jid.rsplit('.', 1)[0]
    return [pid for pid, (_pp, _comm, argv) in procs.items()
            if any('async_wrapper' in a for a in argv[:2]) and prefix in argv]


def job_stage(procs, jid):
    """The stage of async job jid from its processes: the best known program among them, and what runs last."""
    roots = job_roots(procs, jid)
    if not roots:
        return ''
    children = {}
    for pid, (ppid, _comm, _argv) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, order = set(roots), list(roots), []
    while todo:
        pid = todo.pop(0)
        order.append(pid)
        for child in sorted(children.get(pid, [])):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    names = [program_name(procs[pid][2], procs[pid][1]) for pid in order]
    programs = [n for n in names if not n.startswith(('AnsiballZ_', 'async_wrapper'))]
    last = programs[-1] if programs else ''
    for program, meaning in STAGES:
        if program in programs:
            return meaning if last in ('', program) else '%s (running %s)' % (meaning, last)
    return 'running %s' % last if last else 'working'


def last_line(path):
    text = read_text(path, '') or ''
    lines = [ESCAPES.sub('', line).strip() for line in text[-8192:].splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:120] if lines else ''


def read_job(path):
    """The job's file: its result, or {'started': ...} while it runs."""
    try:
        with open(path) as f:
            return json.loads(f.read())
    except ValueError:
        return {'started': True, 'finished': False}  # being written


def main():
    module = AnsibleModule(
        argument_spec=dict(WAIT_ARGS, async_dir=dict(type='path', default='~/.ansible_async')),
        supports_check_mode=True,
    )
    p = module.params
    path = os.path.join(p['async_dir'], p['jid'])
    if not os.path.exists(path):
        module.fail_json(msg='there is no async job %s in %s: it ran as another user (give this task the become '
                             'and delegate_to of the task that started it) or its file was removed'
                             % (p['jid'], p['async_dir']), ansible_job_id=p['jid'], finished=True)
    elapsed = int(time.time() - os.stat(path).st_mtime)
    data = read_job(path)
    procs = read_processes()
    if 'started' in data and not job_roots(procs, p['jid']):
        data = read_job(path)  # it may have written its result and ended since the first read
        if 'started' in data:
            module.fail_json(msg='async job %s (%s) is no longer running and left no result: it was killed (a '
                                 'signal, the OOM killer, a restart of this machine). Run the playbook again; a '
                                 'build that was cut short starts over' % (p['jid'], p['label']),
                             ansible_job_id=p['jid'], finished=True, elapsed=elapsed)
    if 'started' not in data:  # the job's own result
        module.exit_json(job=data, finished=True, stage='done', elapsed=elapsed, ansible_job_id=p['jid'])
    stage = last_line(p['stage_file']) if p['stage_file'] else job_stage(procs, p['jid'])
    module.exit_json(finished=False, stage=stage or 'working', elapsed=elapsed, ansible_job_id=p['jid'])


if __name__ == '__main__':
    main()
