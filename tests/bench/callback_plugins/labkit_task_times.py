# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark aid (not part of the collection): wall time of every task.

Enabled by tests/bench/* with ANSIBLE_CALLBACK_PLUGINS pointing here and
ANSIBLE_CALLBACKS_ENABLED=labkit_task_times. At the end of a run it writes
the per-task times as JSON to $LABKIT_TASK_TIMES (when set) and prints the
number of tasks, their sum and the slowest ones, so a benchmark can say what
dominates a figure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: labkit_task_times
type: aggregate
short_description: Wall time of every task, for the benchmarks under tests/bench
description:
  - Records the wall time between task starts and each task's status (failed, changed, ok or skipped), prints the slowest tasks at the end
    and writes every task's time as JSON to the file named by E(LABKIT_TASK_TIMES).
requirements:
  - enabled in the callback whitelist (ANSIBLE_CALLBACKS_ENABLED)
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'labkit_task_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.times = []
        self.current = None
        self.statuses = set()

    def _close(self):
        if self.current:
            name, role, start = self.current
            # one status for all hosts: failed > changed > ok > skipped (none seen: unknown)
            status = next((s for s in ('failed', 'changed', 'ok', 'skipped') if s in self.statuses), 'unknown')
            self.times.append({'task': name, 'role': role, 'seconds': round(time.time() - start, 2), 'status': status})
            self.current = None
        self.statuses = set()

    def _open(self, task, prefix=''):
        self._close()
        # get_name() already starts with the role's name
        role = task._role.get_name() if task._role else ''
        self.current = (prefix + task.get_name(), role, time.time())

    def v2_runner_on_ok(self, result):
        self.statuses.add('changed' if result._result.get('changed') else 'ok')

    def v2_runner_on_skipped(self, result):
        self.statuses.add('skipped')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self.statuses.add('failed')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open(task, 'handler: ')

    def v2_playbook_on_play_start(self, play):
        self._close()

    def v2_playbook_on_stats(self, stats):
        self._close()
        out = os.environ.get('LABKIT_TASK_TIMES')
        if out:
            with open(out, 'w') as f:
                json.dump(self.times, f, indent=1)
        total = sum(t['seconds'] for t in self.times)
        self._display.display('task times: %d tasks, %.0f s in tasks; slowest:' % (len(self.times), total))
        for t in sorted(self.times, key=lambda t: -t['seconds'])[:12]:
            self._display.display('  %6.1f s  %s' % (t['seconds'], t['task']))
