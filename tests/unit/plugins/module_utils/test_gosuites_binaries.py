# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test binaries planned for a controller build, and test2json output turned into the go test -json stream.

The streams are compared with `go test -json` of the same packages, captured on the controller
(fixtures/gotest/test2json-go1.26-controller, see fixtures/gotest/README.md).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import gosuites as gs

from conftest import ROOT, fixture_text

FIXTURE_PROJECT = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')
T2J = 'gotest/test2json-go1.26-controller/'


def test_binaries_of_the_fixture_project():
    tree = gs.scan_tree(FIXTURE_PROJECT)
    suites, _found, _notes, errors = gs.plan_suites(tree)
    assert errors == []
    unit, integ = gs.plan_binaries(tree, suites, 'amd64')
    assert [(b['dir'], b['pattern'], b['name'], b['package']) for b in unit['binaries']] == [
        ('qpmon', './qpmon', 'qpmon.test', 'example.invalid/rdmaebpf/qpmon'),
        ('qpstate', './qpstate', 'qpstate.test', 'example.invalid/rdmaebpf/qpstate'),
        ('verbs', './verbs', 'verbs.test', 'example.invalid/rdmaebpf/verbs')]
    # integration's only test file needs the integration tag: no test files for the unit suite, as go test says
    assert unit['no_tests'] == ['example.invalid/rdmaebpf/cmd/qpwatch', 'example.invalid/rdmaebpf/integration']
    assert [b['name'] for b in integ['binaries']] == ['integration.test'] and integ['no_tests'] == []
    assert 'binaries' not in suites[0]  # the input is not changed


def write(tmp_path, rel, text):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_binary_named_after_the_whole_package_path(tmp_path):
    write(tmp_path, 'go.mod', 'module example.invalid/some-org/agent\n')
    for d in ('', 'internal/probe', 'cmd/probe', 'a-b', 'a/b', 'arm_only'):
        write(tmp_path, os.path.join(d, 'x_test.go'), 'package x\n')
    write(tmp_path, 'arm_only/x_test.go', '//go:build arm64\n\npackage x\n')
    write(tmp_path, 'windows_only/x_windows_test.go', 'package x\n')
    write(tmp_path, 'windows_only/x.go', 'package x\n')
    tree = gs.scan_tree(str(tmp_path))
    suite = gs.normalise({'name': 'unit', 'packages': ['./...']})
    (amd,) = gs.plan_binaries(tree, [suite], 'amd64')
    names = dict((b['dir'], b['name']) for b in amd['binaries'])
    # two packages named probe do not collide; a-b and a/b would, and get a hash of their path
    assert names['internal/probe'] == 'internal-probe.test' and names['cmd/probe'] == 'cmd-probe.test'
    assert names[''] == 'agent.test'
    assert re.match(r'^a-b-[0-9a-f]{8}\.test$', names['a-b']) and re.match(r'^a-b-[0-9a-f]{8}\.test$', names['a/b'])
    assert names['a-b'] != names['a/b']
    assert 'arm_only' not in names and amd['no_tests'] == ['example.invalid/some-org/agent/windows_only']
    (arm,) = gs.plan_binaries(tree, [suite], 'arm64')
    assert 'arm_only' in [b['dir'] for b in arm['binaries']]
    assert len(set(b['name'] for b in arm['binaries'])) == len(arm['binaries'])


def test_tags_select_the_packages(tmp_path):
    write(tmp_path, 'go.mod', 'module example.invalid/p\n')
    write(tmp_path, 'e2e/e2e_test.go', '//go:build e2e\n\npackage e2e\n')
    write(tmp_path, 'e2e/doc.go', 'package e2e\n')
    tree = gs.scan_tree(str(tmp_path))
    plain, tagged = gs.plan_binaries(tree, [gs.normalise({'name': 'u', 'packages': ['./...']}),
                                            gs.normalise({'name': 'e', 'packages': ['./e2e'], 'tags': ['e2e']})],
                                     'arm64')
    assert plain['binaries'] == [] and plain['no_tests'] == ['example.invalid/p/e2e']
    assert [b['name'] for b in tagged['binaries']] == ['e2e.test']


def test_binary_args_as_go_test_gives_them():
    s = gs.normalise({'name': 'i', 'timeout': '20m', 'run': 'TestQP'})
    assert gs.test_binary_args(s, 3) == ['-test.v=test2json', '-test.paniconexit0', '-test.count=3',
                                         '-test.timeout=20m', '-test.run=TestQP']


def _norm(lines):
    """(Action, Test, Output) of a stream, without times and run-dependent addresses."""
    out = []
    for line in lines:
        ev = json.loads(line)
        text = ev.get('Output')
        if text is not None:
            text = re.sub(r'\t\d+\.\d+s\n$', '\tNs\n', text)
            text = re.sub(r'goroutine \d+', 'goroutine N', re.sub(r'0x[0-9a-f]+', '0x', text))
        out.append((ev['Action'], ev.get('Test'), text))
    return out


@pytest.mark.parametrize('case', ['mixed', 'panics', 'hang'])
def test_stream_reads_like_go_test_json(case):
    rc = int(fixture_text(T2J + case + '.rc'))
    lines = gs.complete_stream(fixture_text(T2J + case + '.t2j'), 'example.invalid/zoo/' + case, rc, 1.25)
    assert _norm(lines) == _norm(fixture_text(T2J + case + '.gotest.json').splitlines())
    last = json.loads(lines[-1])
    assert last['Action'] == ('pass' if rc == 0 else 'fail') and last['Elapsed'] == 1.25 and 'Test' not in last


def test_panic_fails_the_test_that_printed_its_fail_line():
    lines = gs.complete_stream(fixture_text(T2J + 'panics.t2j'), 'example.invalid/zoo/panics', 2, 0.1)
    fails = [json.loads(x) for x in lines if '"Action":"fail"' in x]
    assert [(f.get('Test'), f['Action']) for f in fails] == [('TestPanics', 'fail'), (None, 'fail')]


def test_binary_that_never_ran():
    out = 'cannot run /x/.labkit/tests/unit/p.test in /x/p: [Errno 2] No such file or directory\n'
    lines = gs.complete_stream(json.dumps({'Action': 'output', 'Package': 'p', 'Output': out}), 'p', 127, 0)
    assert [json.loads(x)['Action'] for x in lines] == ['start', 'output', 'output', 'fail']


def test_exit_status_wins_over_a_pass_line():
    # TestMain that prints PASS and exits 1: go test says FAIL
    lines = gs.complete_stream('{"Action":"start","Package":"p"}\n{"Action":"pass","Package":"p"}\n', 'p', 1, 0)
    assert json.loads(lines[-1])['Action'] == 'fail' and 'FAIL\tp\t' in json.loads(lines[-2])['Output']


def test_no_test_files_as_go_test_says():
    got = _norm(gs.no_test_files_stream('example.invalid/zoo/notests'))
    captured = [x for x in fixture_text('gotest/go1.26-controller/mixed.json').splitlines()
                if '"example.invalid/zoo/notests"' in x]
    assert got == _norm(captured)
