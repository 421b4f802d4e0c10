# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/goerrors.py on real Go toolchain output (tests/unit/fixtures/gobuild, see README-gobuild.md)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import goerrors as ge

from conftest import fixture_text

GO = '/usr/local/go/bin/go'


def capture(name):
    return (int(fixture_text('gobuild/%s.rc' % name)), fixture_text('gobuild/%s.stdout' % name),
            fixture_text('gobuild/%s.stderr' % name))


def test_vet_findings_are_the_users_code():
    rc, out, err = capture('vet-findings')
    failure = ge.classify([GO, 'vet', './...'], out, err)
    assert failure['kind'] == 'code' and failure['what'] == 'go vet reported problems in the code'
    assert [ge.format_finding(f) for f in failure['findings']] == [
        'main.go:7:15: copyIt passes lock by value: example.invalid/vetbad.guarded contains sync.Mutex',
        'main.go:7:41: return copies lock value: example.invalid/vetbad.guarded contains sync.Mutex',
        'main.go:9:41: call of copyIt copies lock value: example.invalid/vetbad.guarded contains sync.Mutex',
        'pkg/p.go:6:14: fmt.Printf format %s has arg n of wrong type int',
        'pkg/p.go:7:9: fmt.Sprintf call needs 1 arg but has 2 args',
    ]
    msg = ge.failure_message('vet', '/src', rc, failure, '-e project_build_vet=false', err, shown=3)
    assert msg.startswith('go vet reported problems in the code (step vet in /src, 5 findings): main.go:7:15: ')
    assert '; and 2 more.' in msg and 'pkg/p.go' not in msg
    assert msg.endswith('Fix the code and run again, or skip this step with -e project_build_vet=false.')
    assert '\n' not in msg


def test_vet_on_code_that_does_not_compile_strips_the_vet_prefix():
    _rc, out, err = capture('vet-typeerror')
    failure = ge.classify([GO, 'vet', './...'], out, err)
    assert failure['kind'] == 'code'
    assert failure['findings'] == [{'file': 'cmd/app/main.go', 'line': 9, 'col': 18,
                                    'msg': 'cannot use "three" (untyped string constant) as int value in variable '
                                           'declaration'}]


def test_compile_errors():
    rc, out, err = capture('build-errors')
    failure = ge.classify([GO, 'build', './...'], out, err)
    assert failure['kind'] == 'code' and failure['what'] == 'the code does not compile'
    assert [(f['file'], f['line'], f['col']) for f in failure['findings']] == [
        ('cmd/app/main.go', 5, 2), ('cmd/app/main.go', 9, 6), ('cmd/app/main.go', 9, 18), ('cmd/app/main.go', 10, 14)]
    msg = ge.failure_message('build', '/src', rc, failure)
    assert 'undefined: undefinedThing' in msg and '# example.invalid' not in msg
    assert msg.endswith('Fix the code and run again.')


def test_cgo_missing_header_is_a_finding_with_its_place():
    _rc, out, err = capture('build-cgo-header')
    failure = ge.classify([GO, 'build', './...'], out, err)
    assert failure['findings'] == [{'file': 'verbs/verbs.go', 'line': 4, 'col': 11,
                                    'msg': 'fatal error: infiniband/verbs.h: No such file or directory'}]


@pytest.mark.parametrize('name,cause', [
    ('generate-missing-module', 'no required module provides package github.com/cilium/ebpf/cmd/bpf2go; to add it:'),
    ('generate-no-command', None),
])
def test_generate_failures_name_the_directive_and_its_cause(name, cause):
    rc, out, err = capture(name)
    failure = ge.classify([GO, 'generate', './...'], out, err)
    assert failure['kind'] == 'code' and failure['findings'][0]['file'] == 'probe/gen.go'
    assert failure['findings'][0]['line'] == 3 and failure['findings'][0]['col'] is None
    msg = ge.failure_message('generate', '/src', rc, failure, '-e project_build_generate=false', err)
    assert 'probe/gen.go:3: running' in msg
    if cause:
        assert failure['context'][0] == cause and cause in msg


def test_a_tool_failure_shows_the_tail_not_findings():
    err = 'go: cannot find main module, but found .git/config in /src\n\tto create a module there, run:\n\tgo mod init\n'
    failure = ge.classify([GO, 'build', './...'], '', err)
    assert failure == {'kind': 'tool', 'what': '/usr/local/go/bin/go build failed', 'findings': [], 'context': []}
    msg = ge.failure_message('build', '/src', 1, failure, '', err)
    assert 'exit 1' in msg and 'go mod init' in msg and 'not a finding in the code' in msg


def test_findings_are_not_repeated_and_other_commands_are_named():
    text = 'a.c:1:2: error: x\na.c:1:2: error: x\n'
    failure = ge.classify(['make', 'all'], text, '')
    assert len(failure['findings']) == 1 and failure['what'] == 'make all reported problems in the code'
    assert ge.go_subcommand(['make', 'all']) is None


def test_tail_keeps_the_last_non_empty_lines():
    assert ge.tail('a\n\nb\nc\n', 2) == 'b\nc'
