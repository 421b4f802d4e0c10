# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""async_wait (action side): progress lines while the job runs, never a failure unless there is one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from unittest.mock import MagicMock

from ansible_collections.labkit.ebpf_rdma.plugins.action import async_wait as action

JID = 'j123456789012.4242'


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def make(args, looks, monkeypatch):
    """The action with the module's looks (dicts) answered in turn, a fake clock and captured display lines."""
    task = MagicMock()
    task.args = dict(args)
    task.async_val = 0
    task.check_mode = False
    connection = MagicMock()
    connection._shell.tmpdir = '/tmp/x'
    act = action.ActionModule(task, connection, MagicMock(), MagicMock(), MagicMock(), MagicMock())
    clock = Clock()
    act.clock = clock.time
    act.sleep = clock.sleep
    act._remote_expand_user = lambda path, sudoable=True: path.replace('~', '/root')
    act.get_shell_option = lambda name, default=None: default
    calls = []
    queue = list(looks)

    def execute(module_name, module_args, task_vars):
        calls.append((module_name, module_args))
        look = queue.pop(0) if len(queue) > 1 else queue[0]
        clock.now += 0.5
        return dict(look)
    act._execute_module = execute
    lines = []
    monkeypatch.setattr(action.display, 'display', lambda msg, *a, **kw: lines.append(msg))
    return act, calls, lines


RUNNING = [{'finished': False, 'stage': 'debootstrap: fetching and installing the base system', 'elapsed': e}
           for e in (3, 18, 33)]
DONE = {'finished': True, 'elapsed': 40, 'job': {'changed': True, 'path': '/cache/img.qcow2', 'cached': False}}
ARGS = {'jid': JID, 'timeout': 3600, 'label': 'devvm image build', 'next': 'start the VM'}


def test_progress_lines_then_the_jobs_result(monkeypatch):
    act, calls, lines = make(ARGS, RUNNING + [DONE], monkeypatch)
    result = act.run(task_vars={'inventory_hostname': 'devvm'})
    assert not result.get('failed') and result['changed'] is True and result['path'] == '/cache/img.qcow2'
    assert result['finished'] is True and len(calls) == 4
    want = dict(ARGS, interval=15, stage_file=None, async_dir='/root/.ansible_async')
    assert calls[0] == ('labkit.ebpf_rdma.async_wait', want)
    assert lines == ['[devvm] devvm image build: running for %s, debootstrap: fetching and installing the base '
                     'system; next look in 15 s; then: start the VM' % t for t in ('3 s', '18 s', '33 s')]
    assert not any('FAILED' in line or 'RETRYING' in line for line in lines)


def test_minutes_in_the_progress_line():
    assert action.progress_line('devvm', 'devvm boot', 125, 'Booting Linux', 15, '') == \
        '[devvm] devvm boot: running for 2 min 05 s, Booting Linux; next look in 15 s'


def test_a_failed_job_fails_with_its_own_message(monkeypatch):
    done = {'finished': True, 'job': {'failed': True, 'msg': 'debootstrap of bookworm/amd64 failed: E: no mirror'}}
    act, calls, lines = make(ARGS, [RUNNING[0], done], monkeypatch)
    result = act.run(task_vars={'inventory_hostname': 'devvm'})
    assert result['failed'] and result['msg'] == 'debootstrap of bookworm/amd64 failed: E: no mirror'
    assert len(lines) == 1


def test_timeout_names_the_stage_and_the_fix(monkeypatch):
    act, calls, lines = make(dict(ARGS, timeout=40), RUNNING, monkeypatch)
    result = act.run(task_vars={'inventory_hostname': 'devvm'})
    assert result['failed'] and result['finished'] is False
    assert 'devvm image build is still running after' in result['msg'] and 'timeout 40 s' in result['msg']
    assert 'debootstrap' in result['msg'] and 'raise the timeout' in result['msg']
    assert len(lines) == 3  # 0.5 s, 16 s, 31.5 s; 47 s is past the timeout


def test_module_failure_is_returned(monkeypatch):
    act, calls, lines = make(ARGS, [{'failed': True, 'msg': 'there is no async job %s in /root/.ansible_async' % JID}],
                             monkeypatch)
    result = act.run(task_vars={'inventory_hostname': 'devvm'})
    assert result['failed'] and 'there is no async job' in result['msg'] and lines == []
