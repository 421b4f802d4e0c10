# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the async_wait action and module share: the options of one wait on an async job.

The action (on the controller) validates the task's arguments with
:data:`WAIT_ARGS`; the module it runs for each look takes the same options
plus ``async_dir`` (where the job's result file is, on the target).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

WAIT_ARGS = dict(
    jid=dict(type='str', required=True),
    timeout=dict(type='int', required=True),
    interval=dict(type='int', default=15),
    label=dict(type='str', default='job'),
    next=dict(type='str', default=''),
    stage_file=dict(type='path'),
)
