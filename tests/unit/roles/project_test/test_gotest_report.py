# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/project_test/files/gotest_report.py on real `go test -json` streams.

The streams under tests/unit/fixtures/gotest/ were captured from real runs:
go1.26-controller/ by capture.sh on the controller (the zoo/ packages: pass,
fail, skip with a reason, subtests, no test files, a build failure, a panic,
a timeout), vm-bookworm/ by playbooks/test.yml on a bookworm VM (the fixture
project's unit and integration suites, passing and with a failing test).
"""

import json
import os
import shutil
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import ROOT, role_script  # noqa: E402

gr = role_script('project_test', 'gotest_report')
FIXTURES = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'gotest')
ZOO = 'example.invalid/zoo/'


def report(tmp_path, capsys, source, *suites):
    """Copy the captured suites into a report dir and run the script on it."""
    for name in suites:
        for ext in ('.json', '.stderr', '.rc'):
            src = os.path.join(FIXTURES, source, name + ext)
            if os.path.exists(src):
                shutil.copy(src, str(tmp_path / (name + ext)))
    gr.main(['gotest_report.py', str(tmp_path)] + list(suites))
    table = capsys.readouterr().out
    with open(str(tmp_path / 'summary.json')) as fh:
        summary = json.load(fh)
    return summary, table


def junit(tmp_path, suite):
    return ET.parse(str(tmp_path / (suite + '.junit.xml'))).getroot()


def case(root, name):
    found = [tc for tc in root.iter('testcase') if tc.get('name') == name]
    assert len(found) == 1, name
    return found[0]


def test_pass_fail_skip_and_subtests(tmp_path, capsys):
    summary, table = report(tmp_path, capsys, 'go1.26-controller', 'mixed')
    pkgs = summary['suites']['mixed']['packages']
    assert pkgs[ZOO + 'mixed'] == {'passed': 2, 'failed': 3, 'skipped': 1, 'elapsed': 0.054,
                                   'result': 'fail'}
    assert pkgs[ZOO + 'notests']['result'] == 'skip'
    assert summary['suites']['mixed']['rc'] == 1
    assert [f['test'] for f in summary['suites']['mixed']['failures']] == ['TestFail', 'TestSub', 'TestSub/bad']
    fail = summary['suites']['mixed']['failures'][0]
    # t.Log context and both lines of the message, without the === / --- lines
    assert fail['output'] == ['mixed_test.go:11: context before the failure',
                              'mixed_test.go:12: got 3 transitions, want 4',
                              'second line of the message']
    assert summary['suites']['mixed']['skips'] == [
        {'package': ZOO + 'mixed', 'test': 'TestSkip',
         'reason': 'mixed_test.go:16: no RDMA device: libibverbs lists none; load rdma_rxe'}]
    # the table names packages relative to the module path, printed once above it
    assert table.splitlines()[0] == 'packages relative to example.invalid/zoo/'
    assert '  SKIP mixed TestSkip: mixed_test.go:16: no RDMA device' in table
    assert '  FAIL mixed TestFail' in table
    assert '(no test files)' in table.split('\n  notests ')[1].splitlines()[0]
    assert table.rstrip().endswith('total: 2 passed, 3 failed, 1 skipped')

    root = junit(tmp_path, 'mixed')
    suite = [s for s in root.iter('testsuite') if s.get('name') == ZOO + 'mixed'][0]
    assert (suite.get('tests'), suite.get('failures'), suite.get('skipped')) == ('6', '3', '1')
    assert case(root, 'TestFail').find('failure').get('message') == 'mixed_test.go:11: context before the failure'
    assert 'want 4' in case(root, 'TestFail').find('failure').text
    assert case(root, 'TestSkip').find('skipped').get('message').endswith('load rdma_rxe')
    assert case(root, 'TestPass').find('failure') is None and case(root, 'TestPass').find('skipped') is None
    notests = [s for s in root.iter('testsuite') if s.get('name') == ZOO + 'notests'][0]
    assert notests.get('tests') == '0'
    assert notests.find('properties/property').get('value') == 'no test files'


def test_build_failure_is_a_failing_package_case(tmp_path, capsys):
    summary, table = report(tmp_path, capsys, 'go1.26-controller', 'buildfail')
    fails = summary['suites']['buildfail']['failures']
    assert [(f['package'], f['test']) for f in fails] == [(ZOO + 'buildfail', '(package)')]
    assert any('cannot use "not an int"' in line for line in fails[0]['output'])
    assert summary['failed'] == 1 and summary['passed'] == 0
    assert '  FAIL buildfail (package)' in table


def test_panic_fails_the_test_and_keeps_the_panic(tmp_path, capsys):
    summary = report(tmp_path, capsys, 'go1.26-controller', 'panics')[0]
    s = summary['suites']['panics']
    assert s['packages'][ZOO + 'panics']['passed'] == 1
    assert [f['test'] for f in s['failures']] == ['TestPanics']
    assert s['failures'][0]['output'][0] == 'panic: assignment to entry in nil map [recovered, repanicked]'
    # the stack is long: the summary keeps the first lines, the JUnit all of it
    assert len(s['failures'][0]['output']) == gr.FAIL_LINES
    assert 'p_test.go:9' in case(junit(tmp_path, 'panics'), 'TestPanics').find('failure').text


def test_timeout_fails_the_test_that_never_finished(tmp_path, capsys):
    summary = report(tmp_path, capsys, 'go1.26-controller', 'hang')[0]
    s = summary['suites']['hang']
    assert [f['test'] for f in s['failures']] == ['TestHangs']
    assert s['failures'][0]['output'][0] == 'panic: test timed out after 2s'
    assert s['packages'][ZOO + 'hang']['result'] == 'fail'
    # it ran until the package was killed: it heads the slowest list
    hung = case(junit(tmp_path, 'hang'), 'TestHangs')
    assert float(hung.get('time')) == pytest.approx(2.01)
    assert hung.find('failure').text.rstrip().endswith(gr.UNFINISHED)


def test_suites_add_up_and_slowest_lists_top_level_tests(tmp_path, capsys):
    summary, table = report(tmp_path, capsys, 'go1.26-controller', 'mixed', 'buildfail', 'panics', 'hang')
    assert (summary['passed'], summary['failed'], summary['skipped']) == (3, 6, 1)
    slow = table.split('slowest tests:\n')[1].splitlines()
    assert 'TestHangs' in slow[0]  # 2 s timeout, the slowest
    assert not any('TestSub/' in line or '(package)' in line for line in slow)


def test_nonzero_exit_without_a_failing_test_is_a_failure(tmp_path, capsys):
    """go test killed or refusing its arguments: no test failed, the suite did."""
    (tmp_path / 'odd.json').write_text('')
    (tmp_path / 'odd.stderr').write_text('go: unknown flag -bogus\n')
    (tmp_path / 'odd.rc').write_text('2\n')
    gr.main(['gotest_report.py', str(tmp_path), 'odd'])
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['failed'] == 1
    fail = summary['suites']['odd']['failures'][0]
    assert fail['test'] == '(command)'
    assert fail['output'] == ['go test exited with status 2', 'go: unknown flag -bogus']
    assert 'exit status 2' in capsys.readouterr().out


def test_truncated_stream_counts_the_unfinished_test_as_failed(tmp_path, capsys):
    """The connection dropped mid-run: the last test has no result line."""
    with open(os.path.join(FIXTURES, 'go1.26-controller', 'mixed.json')) as fh:
        lines = fh.readlines()
    cut = next(i for i, line in enumerate(lines) if '"Test":"TestSkip"' in line)
    (tmp_path / 'cut.json').write_text(''.join(lines[:cut + 2]) + '{"Action":"outp')
    gr.main(['gotest_report.py', str(tmp_path), 'cut'])
    summary = json.loads((tmp_path / 'summary.json').read_text())
    names = [f['test'] for f in summary['suites']['cut']['failures']]
    assert names == ['TestFail', 'TestSkip']
    assert summary['suites']['cut']['failures'][1]['output'] == [gr.UNFINISHED]
    assert summary['passed'] == 1 and summary['skipped'] == 0
    capsys.readouterr()


def test_clean_run_reports_no_failures(tmp_path, capsys):
    with open(os.path.join(FIXTURES, 'go1.26-controller', 'mixed.json')) as fh:
        (tmp_path / 'ok.json').write_text(''.join(line for line in fh if '"Test":"TestPass"' in line))
    (tmp_path / 'ok.rc').write_text('0\n')
    gr.main(['gotest_report.py', str(tmp_path), 'ok'])
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert (summary['passed'], summary['failed']) == (1, 0)
    assert summary['suites']['ok']['failures'] == []
    assert junit(tmp_path, 'ok').find('.//failure') is None
    capsys.readouterr()


PROJECT = 'example.invalid/rdmaebpf/'


def test_vm_fixture_project_passing_suites(tmp_path, capsys):
    summary, table = report(tmp_path, capsys, 'vm-bookworm', 'unit', 'integration')
    unit = summary['suites']['unit']['packages']
    assert {p: (r['passed'], r['failed'], r['skipped']) for p, r in unit.items()} == {
        PROJECT + 'cmd/qpwatch': (0, 0, 0), PROJECT + 'integration': (0, 0, 0),
        PROJECT + 'qpmon': (2, 0, 0), PROJECT + 'qpstate': (4, 0, 0), PROJECT + 'verbs': (1, 0, 0)}
    assert unit[PROJECT + 'integration']['result'] == 'skip'  # built without the integration tag
    integ = summary['suites']['integration']
    assert integ['rc'] == 0 and integ['failures'] == [] and integ['skips'] == []
    assert integ['packages'][PROJECT + 'integration']['passed'] == 1
    tc = case(junit(tmp_path, 'integration'), 'TestKprobeSeesUDQPTransitions')
    assert tc.find('failure') is None and tc.find('skipped') is None
    assert 'INIT -> RTR -> RTS' in tc.find('system-out').text
    assert 'TestKprobeSeesUDQPTransitions' in table.split('slowest tests:\n')[1].splitlines()[0]
    assert (summary['passed'], summary['failed'], summary['skipped']) == (8, 0, 0)


def test_vm_fixture_project_failing_integration(tmp_path, capsys):
    """LABKIT_RDMA_DEVICE=nosuchdev: the integration test fails, named, with its reason."""
    summary, table = report(tmp_path, capsys, 'vm-bookworm', 'integration-fail')
    s = summary['suites']['integration-fail']
    assert s['rc'] == 1
    assert [(f['package'], f['test']) for f in s['failures']] == [
        (PROJECT + 'integration', 'TestKprobeSeesUDQPTransitions')]
    assert s['failures'][0]['output'][0].startswith('qp_transitions_test.go:70: RDMA device nosuchdev')
    assert '  FAIL integration TestKprobeSeesUDQPTransitions' in table
    failure = case(junit(tmp_path, 'integration-fail'), 'TestKprobeSeesUDQPTransitions').find('failure')
    assert 'not found (libibverbs sees 1 devices)' in failure.get('message')


AGENT = 'example.invalid/some-org/rdma-telemetry-agent/'


def table_rows(table):
    """The package rows of the first suite's table (header included)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('  package '))
    rows = []
    for line in lines[start:]:
        if not line.startswith('  ') or line.startswith(('  SKIP', '  FAIL')):
            break
        rows.append(line)
    return rows


def test_long_package_paths_keep_the_table_columns(tmp_path, capsys):
    """Issue 20: 60+ character import paths wrapped the rows; they are named relative to the module."""
    summary, table = report(tmp_path, capsys, 'go1.26-controller', 'agent')
    probe = AGENT + 'internal/hardware/verbs_device_probe'
    assert len(probe) > 60
    assert set(summary['suites']['agent']['packages']) == {AGENT + 'internal/agent/controller_client', probe}
    assert table.splitlines()[0] == 'packages relative to %sinternal/' % AGENT
    rows = table_rows(table)
    assert [r.split()[0] for r in rows] == ['package', 'agent/controller_client', 'hardware/verbs_device_probe']
    # every row has its numbers in the same columns as the header, and fits a terminal
    assert len({len(r) for r in rows}) == 1 and all(len(r) < 80 for r in rows)
    assert rows[2].split()[1:] == ['1', '0', '5', '0.00']
    assert probe not in table


def test_module_path_names_packages_relative_to_the_module(tmp_path, capsys):
    for name in ('agent',):
        for ext in ('.json', '.stderr', '.rc'):
            shutil.copy(os.path.join(FIXTURES, 'go1.26-controller', name + ext), str(tmp_path / (name + ext)))
    gr.main(['gotest_report.py', '--module', AGENT.rstrip('/'), str(tmp_path), 'agent'])
    table = capsys.readouterr().out
    assert [r.split()[0] for r in table_rows(table)][1:] == [
        'internal/agent/controller_client', 'internal/hardware/verbs_device_probe']
    assert json.loads((tmp_path / 'summary.json').read_text())['module'] == AGENT.rstrip('/')


def test_skips_for_one_reason_are_shown_once_with_a_count(tmp_path, capsys):
    """Four hardware tests skip with the same reason from four lines: one line, a count, their names."""
    summary, table = report(tmp_path, capsys, 'go1.26-controller', 'agent')
    assert table.count('no RDMA device: set LABKIT_RDMA_DEVICE') == 1
    assert '  SKIP 4 tests: no RDMA device: set LABKIT_RDMA_DEVICE\n' in table
    assert ('    hardware/verbs_device_probe: TestOpenDevice, TestQueryPort, TestCreateQP, TestModifyQP\n'
            in table)
    # a reason given once keeps its own line, with its source position
    assert ('  SKIP hardware/verbs_device_probe TestAttachProbe: probe_test.go:25: needs root to load the kprobe '
            '(LABKIT_ROOT is not 1)') in table
    # summary.json and the JUnit keep every skip with its full reason
    skips = summary['suites']['agent']['skips']
    assert len(skips) == 5 and skips[0]['reason'] == 'probe_test.go:19: no RDMA device: set LABKIT_RDMA_DEVICE'
    assert summary['skipped'] == 5 and summary['passed'] == 4


def test_many_skips_for_one_reason_list_a_few_names(tmp_path, capsys):
    skips = [{'package': AGENT + 'p', 'test': 'Test%d' % i, 'reason': 'x_test.go:%d: no device' % i}
             for i in range(10)]
    lines = gr.skip_lines(skips, lambda p: gr.short_name(p, AGENT.rstrip('/')))
    assert lines == ['  SKIP 10 tests: no device',
                     '    p: Test0, Test1, Test2, Test3, Test4, Test5 and 4 more']
    capsys.readouterr()


def test_common_prefix():
    assert gr.common_prefix(['a/b/c', 'a/b/d/e']) == 'a/b'
    assert gr.common_prefix(['a/b/c']) == 'a/b'            # a lone package keeps its own name
    assert gr.common_prefix(['a/b', 'a/b/c']) == 'a'       # the module's root package is a package too
    assert gr.common_prefix(['x/y', 'z/w', '(go test)']) == ''
    assert gr.short_name('(go test)', 'a') == '(go test)'
