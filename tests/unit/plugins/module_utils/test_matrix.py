# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import matrix

from conftest import FIXTURES, ROOT

TARGETS = ['ib_modify_qp_with_udata']


def summary_of(tmp_path, suites):
    """project_test's summary.json for the vm-bookworm captures (made by its own gotest_report.py)."""
    out = tmp_path / ('report-' + '-'.join(suites))
    out.mkdir()
    for suite in suites:
        for ext in ('json', 'rc', 'stderr'):
            shutil.copy(os.path.join(FIXTURES, 'gotest', 'vm-bookworm', '%s.%s' % (suite, ext)),
                        str(out / ('%s.%s' % (suite.replace('-fail', ''), ext))))
    names = [s.replace('-fail', '') for s in suites]
    subprocess.check_output([sys.executable, os.path.join(ROOT, 'roles/project_test/files/gotest_report.py'),
                             str(out)] + names)
    return json.loads((out / 'summary.json').read_text())


def ebpf(vmlinux=True, ib_core=True, loaded=True, attachable=True, btf_modules_config='y', kallsyms=True):
    return {'kernel_release': '6.1.0-50-amd64',
            'btf': {'vmlinux': vmlinux, 'modules': {'ib_core': {'btf': ib_core, 'loaded': loaded}}},
            'config': {'source': '/boot/config-6.1.0-50-amd64', 'values': {'DEBUG_INFO_BTF_MODULES': btf_modules_config}},
            'kprobe_targets': {'ib_modify_qp_with_udata': {'filter_functions': attachable, 'kallsyms': kallsyms,
                                                           'modules': ['ib_core'], 'attachable': attachable}}}


def rdma(loaded=True, state='ACTIVE'):
    devices = {} if state is None else {'rxe0': {'name': 'rxe0', 'driver': 'rxe', 'ports': [{'port': 1, 'state': state}]}}
    return {'rxe_loaded': loaded, 'devices': devices}


def cells(row):
    return dict((k, (v['status'], v['reason'])) for k, v in row['cells'].items())


def test_a_kernel_that_passes_everything(tmp_path):
    row = matrix.build_rows([{'name': '6.1', 'ebpf': ebpf(), 'rdma': rdma(),
                              'summary': summary_of(tmp_path, ['unit', 'integration'])}], TARGETS, ['ib_core'])[0]
    assert row['status'] == 'pass' and row['kernel_release'] == '6.1.0-50-amd64'
    c = cells(row)
    assert c['btf vmlinux'][0] == c['btf ib_core'][0] == c['kprobe ib_modify_qp_with_udata'][0] == 'pass'
    assert c['rdma_rxe'][0] == c['rxe ACTIVE'][0] == 'pass'
    tests = [k for k in row['order'] if k.startswith(('unit ', 'integration '))]
    assert tests and all(c[t][0] in ('pass', 'skip') for t in tests)
    assert any(t.startswith('integration ') and c[t][0] == 'pass' for t in tests)


def test_a_failed_integration_test_is_named(tmp_path):
    row = matrix.build_rows([{'name': '6.1', 'ebpf': ebpf(), 'rdma': rdma(),
                              'summary': summary_of(tmp_path, ['integration-fail'])}], TARGETS, ['ib_core'])[0]
    assert row['status'] == 'fail'
    failed = [(k, r) for k, (s, r) in cells(row).items() if s == 'fail']
    assert failed and all(k.startswith('integration ') for k, _r in failed)
    assert all(r.split(':')[0].endswith('failed') for _k, r in failed)


def test_no_module_btf_says_why(tmp_path):
    row = matrix.build_rows([{'name': '5.10', 'ebpf': ebpf(ib_core=False, btf_modules_config='n'), 'rdma': rdma()}],
                            TARGETS, ['ib_core'])[0]
    status, reason = cells(row)['btf ib_core']
    assert status == 'fail' and 'CONFIG_DEBUG_INFO_BTF_MODULES' in reason
    assert cells(row)['tests'] == ('skip', 'the tests did not run')


def test_missing_kprobe_target_and_no_rxe(tmp_path):
    row = matrix.build_rows([{'name': 'x', 'ebpf': ebpf(attachable=False, kallsyms=False),
                              'rdma': rdma(loaded=False, state=None)}], TARGETS, ['ib_core'])[0]
    c = cells(row)
    assert c['kprobe ib_modify_qp_with_udata'] == ('fail', 'ib_modify_qp_with_udata is not in /proc/kallsyms on this kernel')
    assert c['rdma_rxe'][0] == 'fail' and c['rxe ACTIVE'] == ('fail', 'no rxe device')
    down = matrix.build_rows([{'name': 'y', 'ebpf': ebpf(), 'rdma': rdma(state='DOWN')}], TARGETS, ['ib_core'])[0]
    assert cells(down)['rxe ACTIVE'] == ('fail', 'rxe port state rxe0/1 DOWN')


def test_a_row_where_nothing_failed_but_nothing_ran_is_not_a_pass(tmp_path):
    row = matrix.build_rows([{'name': 'k', 'ebpf': ebpf(), 'rdma': rdma()}], TARGETS, ['ib_core'])[0]
    assert (row['status'], row['error']) == ('error', 'the tests did not run')
    row = matrix.build_rows([{'name': 'k', 'summary': summary_of(tmp_path, ['unit'])}], TARGETS, ['ib_core'])[0]
    assert (row['status'], row['error']) == ('error', 'the kernel facts were not gathered')


def test_a_kernel_that_could_not_run_is_a_row_with_its_reason():
    rows = matrix.build_rows([{'name': '7.3', 'error': 'the VM did not boot: no initrd'}], TARGETS, ['ib_core'])
    row = rows[0]
    assert row['status'] == 'error'
    assert set(s for s, _r in cells(row).values()) == {'skip'}
    assert set(r for _s, r in cells(row).values()) == {'the VM did not boot: no initrd'}


def test_text_json_and_junit(tmp_path):
    rows = matrix.build_rows([
        {'name': '6.1 bookworm', 'suite': 'bookworm', 'host': 'km-61', 'ebpf': ebpf(), 'rdma': rdma(),
         'summary': summary_of(tmp_path, ['unit', 'integration'])},
        {'name': '5.10 bullseye', 'suite': 'bullseye', 'ebpf': ebpf(ib_core=False, btf_modules_config='n'),
         'rdma': rdma()},
        {'name': '7.3 trixie-backports', 'error': 'converge failed: apt'},
    ], TARGETS, ['ib_core'])
    text = matrix.render_text(rows)
    lines = text.splitlines()
    assert lines[0].split() == ['6.1', 'bookworm', '5.10', 'bullseye', '7.3', 'trixie-backports']
    assert lines[2].split()[1:] == ['pass', 'FAIL', 'ERROR']
    assert any(line.startswith('btf ib_core') and 'FAIL [' in line for line in lines)
    assert '] converge failed: apt' in text
    data = json.loads(matrix.render_json(rows))
    assert [k['name'] for k in data['kernels']] == ['6.1 bookworm', '5.10 bullseye', '7.3 trixie-backports']
    assert data['tests'][0] == 'btf vmlinux'
    suites = ET.fromstring(matrix.render_junit(rows).split('\n', 1)[1]).findall('testsuite')
    assert [s.get('name') for s in suites] == ['kernel 6.1 bookworm', 'kernel 5.10 bullseye', 'kernel 7.3 trixie-backports']
    assert suites[1].get('failures') == '1' and suites[2].get('errors') == '1'
    failure = suites[1].find("testcase[@name='btf ib_core']/failure")
    assert 'CONFIG_DEBUG_INFO_BTF_MODULES' in failure.get('message')
    props = dict((p.get('name'), p.get('value')) for p in suites[0].find('properties'))
    assert props['host'] == 'km-61' and props['kernel_release'] == '6.1.0-50-amd64'


@pytest.mark.parametrize('summary', [{}, {'suites': {'unit': {'rc': 2, 'packages': {}, 'failures': [], 'skips': []}}}])
def test_summaries_without_packages(summary):
    out = matrix.test_cells(summary)
    assert out == ([] if not summary else [('unit (suite)', {'status': 'fail', 'reason': 'go test exited 2 without results'})])
