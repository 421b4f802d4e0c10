# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/project_build/files/step_inputs.py: which edits change which step's digest."""

import json
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import ROOT, role_script  # noqa: E402

si = role_script('project_build', 'step_inputs')
FIXTURE = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')
OUTPUTS = ['*_bpfel.go', '*_bpfel.o', '*_bpfeb.go', '*_bpfeb.o']


@pytest.fixture
def project(tmp_path):
    dst = tmp_path / 'proj'
    shutil.copytree(FIXTURE, dst)
    # What go generate and the build leave behind next to the sources.
    (dst / 'qpmon' / 'qpmon_x86_bpfel.o').write_bytes(b'\x7fELF')
    (dst / 'qpmon' / 'qpmon_x86_bpfel.go').write_text('package qpmon\n')
    (dst / 'bin').mkdir()
    (dst / 'bin' / 'qpwatch').write_bytes(b'\x7fELF')
    (dst / '.labkit').mkdir()
    (dst / '.labkit' / 'stamps.json').write_text('{}')
    return dst


def digests(capsys, root):
    si.main(['step_inputs.py', str(root)] + OUTPUTS)
    return json.loads(capsys.readouterr().out)


def append(path, text):
    with open(path, 'a') as fh:
        fh.write(text)


def test_counts_on_the_fixture(project, capsys):
    d = digests(capsys, project)
    n_sources = sum(len(files) for _root, _dirs, files in os.walk(FIXTURE))
    assert d['counts'] == {'sources': n_sources, 'outputs': 2, 'generate': d['counts']['generate']}
    # go.mod, go.sum, .gitignore, the BPF C source, its header and qpmon.go (//go:generate); not the other Go files or README.md
    assert d['counts']['generate'] == 6


def test_go_file_edit_changes_sources_only(project, capsys):
    before = digests(capsys, project)
    append(project / 'qpstate' / 'qpstate.go', '// edited\n')
    after = digests(capsys, project)
    assert after['sources'] != before['sources']
    assert after['generate'] == before['generate'] and after['outputs'] == before['outputs']


@pytest.mark.parametrize('rel', ['qpmon/qpmon.bpf.c', 'qpmon/headers/rdma_core_types.h', 'qpmon/qpmon.go', 'go.mod'])
def test_generate_inputs(project, capsys, rel):
    before = digests(capsys, project)
    append(project / rel, '\n')
    after = digests(capsys, project)
    assert after['generate'] != before['generate'] and after['sources'] != before['sources']


def test_outputs_are_not_sources_and_build_dirs_are_ignored(project, capsys):
    before = digests(capsys, project)
    (project / 'qpmon' / 'qpmon_x86_bpfel.o').write_bytes(b'\x7fELF changed')
    after = digests(capsys, project)
    assert after['outputs'] != before['outputs']
    assert after['sources'] == before['sources'] and after['generate'] == before['generate']
    (project / 'bin' / 'qpwatch').write_bytes(b'other')
    (project / '.labkit' / 'stamps.json').write_text('{"x": 1}')
    assert digests(capsys, project) == after


def test_markdown_is_a_source_but_not_a_generate_input(project, capsys):
    before = digests(capsys, project)
    append(project / 'README.md', 'more\n')
    after = digests(capsys, project)
    assert after['generate'] == before['generate'] and after['sources'] != before['sources']


def test_rename_changes_the_digest(project, capsys):
    before = digests(capsys, project)
    os.rename(project / 'qpstate' / 'qpstate.go', project / 'qpstate' / 'state.go')
    assert digests(capsys, project)['sources'] != before['sources']
