# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

from ansible_collections.labkit.ebpf_rdma.plugins.modules import kernel_matrix

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'module_utils'))
from test_matrix import ebpf, rdma, summary_of  # noqa: E402


def kernels(tmp_path):
    summary = tmp_path / 'summary.json'
    summary.write_text(json.dumps(summary_of(tmp_path, ['unit', 'integration'])))
    return [
        {'name': '6.1 bookworm', 'host': 'km-61', 'suite': 'bookworm', 'ebpf': ebpf(), 'rdma': rdma(),
         'summary_file': str(summary)},
        {'name': '5.10 bullseye', 'host': 'km-510', 'suite': 'bullseye',
         'ebpf': ebpf(ib_core=False, btf_modules_config='n'), 'rdma': rdma(),
         'summary_file': str(tmp_path / 'no-such' / 'summary.json')},
        {'name': '7.3 trixie-backports', 'error': 'the VM did not boot'},
    ]


def test_writes_three_files_then_is_idempotent(module_runner, tmp_path):
    dest = tmp_path / 'state' / 'kernel-matrix'
    a = {'kernels': kernels(tmp_path), 'kprobe_targets': ['ib_modify_qp_with_udata'], 'dest': str(dest)}
    res = module_runner(kernel_matrix, a)
    assert res['changed'] is True and not res.get('failed'), res
    assert sorted(os.listdir(str(dest))) == ['kernel-matrix.json', 'kernel-matrix.junit.xml', 'kernel-matrix.txt']
    assert res['failed_kernels'] == ['5.10 bullseye', '7.3 trixie-backports']
    assert res['table'][2].split()[1:] == ['pass', 'FAIL', 'ERROR']
    assert (dest / 'kernel-matrix.txt').read_text().splitlines() == res['table']
    again = module_runner(kernel_matrix, a)
    assert again['changed'] is False and again['actions'] == []


def test_check_mode_writes_nothing_and_shows_the_diff(module_runner, tmp_path):
    dest = tmp_path / 'm'
    res = module_runner(kernel_matrix, {'kernels': kernels(tmp_path), 'dest': str(dest)}, check_mode=True, diff=True)
    assert res['changed'] is True and not dest.exists()
    assert [d['after_header'] for d in res['diff']] == [str(dest / n) for n in (
        'kernel-matrix.json', 'kernel-matrix.junit.xml', 'kernel-matrix.txt')]


def test_a_broken_summary_is_the_rows_reason(module_runner, tmp_path):
    bad = tmp_path / 'summary.json'
    bad.write_text('{not json')
    res = module_runner(kernel_matrix, {'kernels': [{'name': 'k', 'summary_file': str(bad)}], 'dest': str(tmp_path / 'd')})
    row = res['rows'][0]
    assert row['status'] == 'error' and 'is not JSON' in row['error']


def test_duplicate_names_fail_before_writing(module_runner, tmp_path):
    res = module_runner(kernel_matrix, {'kernels': [{'name': 'a'}, {'name': 'a'}], 'dest': str(tmp_path / 'd')})
    assert res['failed'] and 'more than once' in res['msg'] and not (tmp_path / 'd').exists()
