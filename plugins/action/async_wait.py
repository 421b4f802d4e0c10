# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action of labkit.ebpf_rdma.async_wait: poll an async job, one progress line per interval.

A module cannot print while it runs, and an ``until`` loop prints every poll as
``FAILED - RETRYING``. This action runs on the controller: it runs the module
(one look at the job) every ``interval`` seconds and prints a line through
Display (forwarded live from the worker), so a long wait that goes well shows
stage, elapsed time and what comes next, and nothing that reads as a failure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.async_job import WAIT_ARGS

display = Display()


def duration(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return '%d s' % seconds
    return '%d min %02d s' % (seconds // 60, seconds % 60)


def progress_line(host, label, elapsed, stage, interval, next_step):
    line = '[%s] %s: running for %s, %s; next look in %d s' % (host, label, duration(elapsed), stage, interval)
    return line + ('; then: %s' % next_step if next_step else '')


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(WAIT_ARGS)

    # Replaced by unit tests.
    sleep = staticmethod(time.sleep)
    clock = staticmethod(time.time)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation, args = self.validate_argument_spec(argument_spec=WAIT_ARGS)
        for key in ('timeout', 'interval'):
            if args[key] < 1:
                result.update(failed=True, msg='%s must be at least 1 second, got %d: set it to the seconds to %s'
                                               % (key, args[key], 'wait in all' if key == 'timeout' else
                                                  'wait between two progress lines'))
                return result
        host = (task_vars or {}).get('inventory_hostname', '?')
        module_args = dict(args, async_dir=self._remote_expand_user(
            self.get_shell_option('async_dir', default='~/.ansible_async')))
        start = self.clock()
        while True:
            look = self._execute_module(module_name='labkit.ebpf_rdma.async_wait', module_args=module_args,
                                        task_vars=task_vars)
            waited = int(self.clock() - start)
            if look.get('failed'):
                result.update(look)
                return result
            if look.get('finished'):
                job = look.get('job') or {}
                result.update(job)
                result.update(finished=True, stage='done', elapsed=look.get('elapsed', waited), waited=waited,
                              ansible_job_id=args['jid'])
                if job.get('failed') and not job.get('msg'):
                    result['msg'] = '%s failed (job %s)' % (args['label'], args['jid'])
                return result
            stage = look.get('stage') or 'working'
            if waited >= args['timeout']:
                result.update(failed=True, finished=False, stage=stage, elapsed=look.get('elapsed', waited),
                              waited=waited, ansible_job_id=args['jid'],
                              msg='%s is still running after %s (timeout %d s), at: %s. It goes on in the '
                                  'background until its own async limit; raise the timeout if it is only slow, '
                                  'or look at what it is doing (job %s).'
                                  % (args['label'], duration(waited), args['timeout'], stage, args['jid']))
                return result
            display.display(progress_line(host, args['label'], look.get('elapsed', waited), stage,
                                          args['interval'], args['next']))
            self.sleep(min(args['interval'], max(1, args['timeout'] - waited)))
