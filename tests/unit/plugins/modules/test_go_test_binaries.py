# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""go_test_binaries: go test -c per package (mocked), changed-binary detection, and the convert step on
controller captures of test binaries run with -test.v=test2json (fixtures/gotest/test2json-go1.26-controller)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import subprocess
import sys

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import gosuites as gs
from ansible_collections.labkit.ebpf_rdma.plugins.modules import go_test_binaries

from conftest import ROOT, FakeCommands, fixture_text

FIXTURE_PROJECT = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')
RUNNER = os.path.join(ROOT, 'roles', 'project_test', 'files', 'run_test_binaries.py')
T2J = 'gotest/test2json-go1.26-controller/'
ENV = {'GOOS': 'linux', 'GOARCH': 'arm64', 'CC': '/w/cc', 'CGO_ENABLED': '1'}


def planned():
    tree = gs.scan_tree(FIXTURE_PROJECT)
    suites = gs.plan_suites(tree)[0]
    return gs.plan_binaries(tree, suites, 'arm64')


def go_test_c(content=b'ELF'):
    """Answer `go test -c -o OUT ...` by writing OUT (its content from ``content``, a function of OUT)."""
    def answer(argv, **kw):
        out = argv[argv.index('-o') + 1]
        with open(out, 'wb') as f:
            f.write(content(out) if callable(content) else content)
        assert kw['cwd'] == FIXTURE_PROJECT and kw['environ_update'] == ENV
        return 0, '', ''
    cmds = FakeCommands()
    cmds.table.insert(0, (lambda argv: argv[:3] == ('go', 'test', '-c'), answer))
    return cmds


def build_args(tmp_path, shipped=None):
    return {'step': 'build', 'path': FIXTURE_PROJECT, 'suites': planned(), 'dest': str(tmp_path / 'bin'),
            'env': ENV, 'host_src': '/var/lib/labkit-project/p/src', 'shipped': shipped or {}}


def test_build_one_binary_per_package_named_after_its_path(module_runner, tmp_path):
    cmds = go_test_c()
    result = module_runner(go_test_binaries, build_args(tmp_path), commands=cmds)
    assert result['changed'] is True and not result.get('failed')
    assert cmds.ran('go', 'test', '-c') == [
        ('go', 'test', '-c', '-o', str(tmp_path / 'bin/unit/qpmon.test'), './qpmon'),
        ('go', 'test', '-c', '-o', str(tmp_path / 'bin/unit/qpstate.test'), './qpstate'),
        ('go', 'test', '-c', '-o', str(tmp_path / 'bin/unit/verbs.test'), './verbs'),
        ('go', 'test', '-c', '-o', str(tmp_path / 'bin/integration/integration.test'), '-tags', 'integration',
         './integration')]
    assert [b['rel'] for b in result['binaries'] if b['ship']] == [
        'unit/qpmon.test', 'unit/qpstate.test', 'unit/verbs.test', 'integration/integration.test']
    assert set(result['manifest'].values()) == {hashlib.sha256(b'ELF').hexdigest()}
    (run,) = result['runs']['integration']
    assert run == {'package': 'example.invalid/rdmaebpf/integration',
                   'binary': '/var/lib/labkit-project/p/src/.labkit/tests/integration/integration.test',
                   'dir': '/var/lib/labkit-project/p/src/integration',
                   'args': ['-test.v=test2json', '-test.paniconexit0', '-test.count=1', '-test.timeout=10m']}


def test_only_changed_binaries_ship(module_runner, tmp_path):
    first = module_runner(go_test_binaries, build_args(tmp_path), commands=go_test_c())
    # the host has what the first build made; verbs' code changed since

    def content(out):
        return b'ELF2' if out.endswith('verbs.test') else b'ELF'
    again = module_runner(go_test_binaries, build_args(tmp_path, shipped=first['manifest']),
                          commands=go_test_c(content))
    assert [b['rel'] for b in again['binaries'] if b['ship']] == ['unit/verbs.test']
    assert again['changed'] is True
    same = module_runner(go_test_binaries, build_args(tmp_path, shipped=again['manifest']),
                         commands=go_test_c(content))
    assert same['changed'] is False and [b for b in same['binaries'] if b['ship']] == []


def test_check_mode_builds_nothing(module_runner, tmp_path):
    cmds = go_test_c()
    result = module_runner(go_test_binaries, build_args(tmp_path), commands=cmds, check_mode=True)
    assert cmds.calls == [] and not os.path.exists(str(tmp_path / 'bin'))
    assert result['runs']['unit'][0]['binary'].endswith('/.labkit/tests/unit/qpmon.test')
    assert all(b['sha256'] == '' and not b['ship'] for b in result['binaries'])


def test_compile_error_names_the_package_and_says_nothing_ran(module_runner, tmp_path):
    cmds = FakeCommands()
    cmds.table.insert(0, (lambda argv: argv[:3] == ('go', 'test', '-c'),
                          (1, '', '# example.invalid/rdmaebpf/qpmon\nqpmon/qpmon.go:12:2: undefined: foo\n')))
    result = module_runner(go_test_binaries, build_args(tmp_path), commands=cmds)
    assert result['failed'] and 'example.invalid/rdmaebpf/qpmon (suite unit)' in result['msg']
    assert 'undefined: foo' in result['msg'] and 'nothing was run in the guest' in result['msg']


def test_suites_without_binaries_fail_with_the_fix(module_runner, tmp_path):
    a = build_args(tmp_path)
    a['suites'] = [dict((k, v) for k, v in s.items() if k != 'binaries') for s in a['suites']]
    result = module_runner(go_test_binaries, a, commands=FakeCommands())
    assert result['failed'] and 'goarch' in result['msg']


def fake_test2json(argv, data=None, binary_data=False, **kw):
    assert argv[:5] == ('go', 'tool', 'test2json', '-t', '-p') and binary_data
    case = argv[5].rsplit('/', 1)[-1]
    assert data == fixture_text(T2J + case + '.out')
    return 0, fixture_text(T2J + case + '.t2j'), ''


def test_convert_gives_the_go_test_json_stream(module_runner):
    cmds = FakeCommands()
    cmds.table.insert(0, (lambda argv: argv[:3] == ('go', 'tool', 'test2json'), fake_test2json))
    runs = [{'package': 'example.invalid/zoo/' + c, 'rc': int(fixture_text(T2J + c + '.rc')),
             'output': fixture_text(T2J + c + '.out'), 'elapsed': 0.5, 'error': ''} for c in ('mixed', 'panics')]
    result = module_runner(go_test_binaries, {'step': 'convert', 'runs': runs,
                                              'no_tests': ['example.invalid/zoo/notests']}, commands=cmds)
    assert result['changed'] is False and result['rc'] == 1 and result['stderr'] == ''
    events = [json.loads(x) for x in result['stream'].splitlines()]
    finals = [(e['Package'].rsplit('/', 1)[-1], e['Action']) for e in events
              if 'Test' not in e and e['Action'] in ('pass', 'fail', 'skip')]
    assert finals == [('mixed', 'fail'), ('panics', 'fail'), ('notests', 'skip')]


def test_runner_runs_each_binary_in_its_directory(tmp_path):
    """The host script, with a shell script as the test binary and a missing one."""
    pkgdir = tmp_path / 'src' / 'p'
    pkgdir.mkdir(parents=True)
    binary = tmp_path / 'p.test'
    binary.write_text('#!/bin/sh\necho "cwd=$(pwd) args=$*"\necho oops >&2\nexit 3\n')
    os.chmod(str(binary), 0o755)
    spec = {'runs': [{'package': 'ex/p', 'binary': str(binary), 'dir': str(pkgdir), 'args': ['-test.v=test2json']},
                     {'package': 'ex/q', 'binary': str(tmp_path / 'missing.test'), 'dir': str(pkgdir), 'args': []}]}
    out = subprocess.check_output([sys.executable, RUNNER, json.dumps(spec)])
    p, q = json.loads(out.decode())
    assert (p['package'], p['rc'], p['error']) == ('ex/p', 3, '')
    assert p['output'] == 'cwd=%s args=-test.v=test2json\noops\n' % pkgdir
    assert q['rc'] == 127 and 'missing.test' in q['error'] and q['output'] == q['error'] + '\n'
