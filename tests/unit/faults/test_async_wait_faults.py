# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""async_wait with bad input: the message names the problem and the fix; nothing is run or waited for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import async_wait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'plugins', 'action'))
from test_async_wait_action import ARGS, DONE, make  # noqa: E402  pylint: disable=wrong-import-position

JID = 'j123456789012.4242'


def test_missing_job_names_the_fix(module_runner, tmp_path):
    before = sorted(os.listdir(str(tmp_path)))
    result = module_runner(async_wait, {'jid': JID, 'timeout': 60, 'async_dir': str(tmp_path)})
    assert result['failed'] and 'there is no async job %s in %s' % (JID, tmp_path) in result['msg']
    assert 'give this task the become and delegate_to of the task that started it' in result['msg']
    assert sorted(os.listdir(str(tmp_path))) == before


@pytest.mark.parametrize('key, fix', [('timeout', 'set it to the seconds to wait in all'),
                                      ('interval', 'set it to the seconds to wait between two progress lines')])
def test_bad_intervals(monkeypatch, key, fix):
    act, calls, lines = make(dict(ARGS, **{key: 0}), [DONE], monkeypatch)
    result = act.run(task_vars={})
    assert result['failed'] and '%s must be at least 1 second, got 0' % key in result['msg'] and fix in result['msg']
    assert calls == [] and lines == []  # the job was not even looked at
