# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""build_step: runs only when the key changed, keeps stamps, reports failures in the user's code as findings."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import build_step

from conftest import FakeCommands, fixture_text

GO = '/usr/local/go/bin/go'
VET = (GO, 'vet', './...')
GENERATE = (GO, 'generate', './...')


@pytest.fixture
def src(tmp_path):
    root = tmp_path / 'src'
    (root / 'pkg').mkdir(parents=True)
    (root / 'go.mod').write_text(u'module example.invalid/app\n\ngo 1.22\n')
    (root / 'pkg' / 'p.go').write_text(u'package pkg\n')
    (root / 'probe').mkdir()
    (root / 'probe' / 'gen.go').write_text(u'package probe\n\n//go:generate bpf2go -target amd64 probe probe.bpf.c\n')
    (root / 'probe' / 'probe.bpf.c').write_text(u'int x;\n')
    return root


def args(src, tmp_path, **kw):
    a = dict(name='vet', argv=list(VET), chdir=str(src), stamp_dir=str(tmp_path / 'state'),
             env={'GOFLAGS': '', 'GOTOOLCHAIN': 'local'}, key_material=['go1.26.8'], knob='-e project_build_vet=false')
    a.update(kw)
    return a


def stamps(tmp_path):
    with open(str(tmp_path / 'state' / 'stamps.json')) as fh:
        return json.load(fh)


def test_first_run_runs_in_chdir_with_env_and_records_the_stamp(module_runner, src, tmp_path):
    seen = {}

    def vet(argv, **kw):
        seen.update(kw)
        return 0, '', ''
    cmds = FakeCommands({VET: vet})
    r = module_runner(build_step, args(src, tmp_path), commands=cmds, diff=True)
    assert r['changed'] and r['ran'] and r['rc'] == 0 and r['reason'] == 'no stamp of a successful run'
    assert seen['cwd'] == str(src) and seen['environ_update'] == {'GOFLAGS': '', 'GOTOOLCHAIN': 'local'}
    assert seen['expand_user_and_vars'] is False
    assert stamps(tmp_path) == {'vet': {'key': r['key']}}
    assert r['files'] == 4 and r['delta'].startswith('0:00:')
    assert r['diff'][0]['after_header'].endswith('stamps.json')


def test_second_run_is_up_to_date_and_runs_nothing(module_runner, src, tmp_path):
    module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: (0, '', '')}))
    cmds = FakeCommands()
    r = module_runner(build_step, args(src, tmp_path), commands=cmds)
    assert not r['changed'] and not r['ran'] and r['reason'] == 'up to date' and 'rc' not in r
    assert cmds.calls == []


@pytest.mark.parametrize('change', ['source', 'env', 'key_material', 'argv', 'force'])
def test_what_makes_the_step_run_again(module_runner, src, tmp_path, change):
    module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: (0, '', '')}))
    kw = {}
    if change == 'source':
        (src / 'pkg' / 'p.go').write_text(u'package pkg\n// edited\n')
    elif change == 'env':
        kw['env'] = {'GOFLAGS': '-mod=mod', 'GOTOOLCHAIN': 'local'}
    elif change == 'key_material':
        kw['key_material'] = ['go1.26.9']
    elif change == 'argv':
        kw['argv'] = [GO, 'vet', '-tags', 'integration', './...']
    else:
        kw['force'] = True
    cmds = FakeCommands({lambda argv: argv[:2] == (GO, 'vet'): (0, '', '')})
    r = module_runner(build_step, args(src, tmp_path, **kw), commands=cmds)
    assert r['ran'] and len(cmds.calls) == 1
    assert r['reason'] == ('forced' if change == 'force' else 'inputs changed')


def test_files_under_excluded_dirs_do_not_count(module_runner, src, tmp_path):
    module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: (0, '', '')}))
    (src / 'bin').mkdir()
    (src / 'bin' / 'app').write_bytes(b'\x7fELF')
    (src / '.labkit').mkdir()
    (src / '.labkit' / 'x').write_text(u'x')
    assert not module_runner(build_step, args(src, tmp_path), commands=FakeCommands())['ran']


def generate_args(src, tmp_path, **kw):
    return args(src, tmp_path, name='generate', argv=list(GENERATE), generate_inputs=True,
                outputs=['*_bpfel.go', '*_bpfel.o'], knob='-e project_build_generate=false', **kw)


def bpf2go(src):
    def run(argv, **kw):
        (src / 'probe' / 'probe_x86_bpfel.go').write_text(u'package probe\n')
        (src / 'probe' / 'probe_x86_bpfel.o').write_bytes(b'\x7fELF')
        return 0, '', ''
    return run


def test_generate_records_its_outputs_and_reruns_when_they_are_gone(module_runner, src, tmp_path):
    r = module_runner(build_step, generate_args(src, tmp_path), commands=FakeCommands({GENERATE: bpf2go(src)}))
    assert r['output_files'] == ['probe/probe_x86_bpfel.go', 'probe/probe_x86_bpfel.o']
    assert set(stamps(tmp_path)['generate']) == {'key', 'outputs'}
    # a Go edit outside //go:generate files does not rerun generate
    (src / 'pkg' / 'p.go').write_text(u'package pkg\n// edited\n')
    assert not module_runner(build_step, generate_args(src, tmp_path), commands=FakeCommands())['ran']
    os.unlink(str(src / 'probe' / 'probe_x86_bpfel.o'))
    r = module_runner(build_step, generate_args(src, tmp_path), commands=FakeCommands({GENERATE: bpf2go(src)}))
    assert r['ran'] and r['reason'] == 'outputs changed or missing'


def test_check_mode_reports_and_runs_nothing(module_runner, src, tmp_path):
    cmds = FakeCommands()
    r = module_runner(build_step, args(src, tmp_path), commands=cmds, check_mode=True)
    assert r['changed'] and not r['ran'] and r['actions'] == ['run %s (no stamp of a successful run)' % ' '.join(VET)]
    assert cmds.calls == [] and not (tmp_path / 'state').exists()


def test_vet_findings_fail_with_one_message_naming_the_knob(module_runner, src, tmp_path):
    module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: (0, '', '')}))
    before = stamps(tmp_path)
    (src / 'pkg' / 'p.go').write_text(u'package pkg\n// broken\n')
    answer = (1, fixture_text('gobuild/vet-findings.stdout'), fixture_text('gobuild/vet-findings.stderr'))
    r = module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: answer}))
    assert r['failed'] and r['failure'] == 'code' and r['rc'] == 1 and len(r['findings']) == 5
    assert r['msg'].startswith('go vet reported problems in the code (step vet in %s, 5 findings): ' % src)
    assert 'pkg/p.go:6:14: fmt.Printf format %s has arg n of wrong type int' in r['msg']
    assert r['msg'].endswith('skip this step with -e project_build_vet=false.')
    assert stamps(tmp_path) == before  # a failed run keeps the last good stamp


def test_compile_errors_fail_as_the_users_code(module_runner, src, tmp_path):
    answer = (1, fixture_text('gobuild/build-errors.stdout'), fixture_text('gobuild/build-errors.stderr'))
    build = (GO, 'build', './...')
    r = module_runner(build_step, args(src, tmp_path, name='build', argv=list(build), knob=''),
                      commands=FakeCommands({build: answer}))
    assert r['failed'] and r['failure'] == 'code'
    assert 'the code does not compile (step build' in r['msg'] and 'cmd/app/main.go:10:14: undefined' in r['msg']
    assert not (tmp_path / 'state' / 'stamps.json').exists()


def test_a_tool_failure_is_not_blamed_on_the_code(module_runner, src, tmp_path):
    err = 'go: example.invalid/dep@v1.0.0: reading file:///var/cache/goproxy/example.invalid/dep/@v/v1.0.0.mod: no such file\n'
    r = module_runner(build_step, args(src, tmp_path), commands=FakeCommands({VET: (1, '', err)}))
    assert r['failed'] and r['failure'] == 'tool' and r['findings'] == []
    assert 'no such file' in r['msg'] and 'not a finding in the code' in r['msg'] and r['output_tail'] == err.strip()


def test_a_missing_chdir_fails_with_the_fix(module_runner, tmp_path):
    r = module_runner(build_step, args(tmp_path / 'nope', tmp_path), commands=FakeCommands())
    assert r['failed'] and 'is not a directory' in r['msg']
