# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/buildstamp.py: which edits change which step's digest, and when a step runs."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import buildstamp as bs

from conftest import ROOT

FIXTURE = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')
OUTPUTS = ['*_bpfel.go', '*_bpfel.o', '*_bpfeb.go', '*_bpfeb.o']


@pytest.fixture
def project(tmp_path):
    dst = tmp_path / 'proj'
    shutil.copytree(FIXTURE, str(dst))
    # What go generate and the build leave behind next to the sources.
    (dst / 'qpmon' / 'qpmon_x86_bpfel.o').write_bytes(b'\x7fELF')
    (dst / 'qpmon' / 'qpmon_x86_bpfel.go').write_text(u'package qpmon\n')
    (dst / 'bin').mkdir()
    (dst / 'bin' / 'qpwatch').write_bytes(b'\x7fELF')
    (dst / '.labkit').mkdir()
    (dst / '.labkit' / 'stamps.json').write_text(u'{}')
    return dst


def sources(root):
    """What vet/build hash: every file, generated ones included."""
    return bs.scan(str(root))


def generate(root):
    return bs.scan(str(root), outputs=OUTPUTS, generate_only=True)


def append(path, text):
    with open(str(path), 'a') as fh:
        fh.write(text)


def test_counts_on_the_fixture(project):
    n_files = sum(len(files) for _root, _dirs, files in os.walk(FIXTURE))
    assert sources(project)['files'] == n_files + 2  # the two generated files
    gen = generate(project)
    # go.mod, go.sum, .gitignore, the BPF C source, its header and qpmon.go (//go:generate); not the other Go files or README.md
    assert gen['files'] == 6
    assert gen['output_files'] == ['qpmon/qpmon_x86_bpfel.go', 'qpmon/qpmon_x86_bpfel.o']


def test_go_file_edit_changes_sources_only(project):
    before_src, before_gen = sources(project), generate(project)
    append(project / 'qpstate' / 'qpstate.go', '// edited\n')
    assert sources(project)['inputs'] != before_src['inputs']
    assert generate(project) == before_gen


@pytest.mark.parametrize('rel', ['qpmon/qpmon.bpf.c', 'qpmon/headers/rdma_core_types.h', 'qpmon/qpmon.go', 'go.mod'])
def test_generate_inputs(project, rel):
    before_src, before_gen = sources(project), generate(project)
    append(project / rel, '\n')
    assert generate(project)['inputs'] != before_gen['inputs']
    assert sources(project)['inputs'] != before_src['inputs']


def test_outputs_are_not_generate_inputs_and_build_dirs_are_ignored(project):
    before_src, before_gen = sources(project), generate(project)
    (project / 'qpmon' / 'qpmon_x86_bpfel.o').write_bytes(b'\x7fELF changed')
    after_gen = generate(project)
    assert after_gen['outputs'] != before_gen['outputs'] and after_gen['inputs'] == before_gen['inputs']
    # a regenerated object is an input of vet and build
    assert sources(project)['inputs'] != before_src['inputs']
    after_src = sources(project)
    (project / 'bin' / 'qpwatch').write_bytes(b'other')
    (project / '.labkit' / 'stamps.json').write_text(u'{"x": 1}')
    assert sources(project) == after_src and generate(project) == after_gen


def test_markdown_is_a_source_but_not_a_generate_input(project):
    before_src, before_gen = sources(project), generate(project)
    append(project / 'README.md', 'more\n')
    assert generate(project) == before_gen and sources(project)['inputs'] != before_src['inputs']


def test_rename_changes_the_digest(project):
    before = sources(project)
    os.rename(str(project / 'qpstate' / 'qpstate.go'), str(project / 'qpstate' / 'state.go'))
    assert sources(project)['inputs'] != before['inputs']


def test_globs_with_a_slash_match_the_path(project):
    only_qpmon = bs.scan(str(project), inputs=['qpmon/*'])
    assert only_qpmon['files'] == len(bs.walk_files(str(project / 'qpmon')))
    assert bs.scan(str(project), exclude=['.git', '.labkit', 'bin', 'qpmon'])['files'] < sources(project)['files']


def test_key_depends_on_every_part():
    base = bs.step_key('d', ['go1.24'], ['go', 'vet', './...'], {'GOFLAGS': ''})
    assert base == bs.step_key('d', ['go1.24'], ['go', 'vet', './...'], {'GOFLAGS': ''})
    assert base != bs.step_key('e', ['go1.24'], ['go', 'vet', './...'], {'GOFLAGS': ''})
    assert base != bs.step_key('d', ['go1.25'], ['go', 'vet', './...'], {'GOFLAGS': ''})
    assert base != bs.step_key('d', ['go1.24'], ['go', 'vet', '-tags', 'x', './...'], {'GOFLAGS': ''})
    assert base != bs.step_key('d', ['go1.24'], ['go', 'vet', './...'], {'GOFLAGS': '-mod=mod'})


@pytest.mark.parametrize('stamp,outputs,track,force,expected', [
    (None, 'o', False, False, (True, 'no stamp of a successful run')),
    ({'key': 'k'}, 'o', False, True, (True, 'forced')),
    ({'key': 'other'}, 'o', False, False, (True, 'inputs changed')),
    ({'key': 'k'}, 'o', False, False, (False, 'up to date')),
    ({'key': 'k', 'outputs': 'o'}, 'o', True, False, (False, 'up to date')),
    ({'key': 'k', 'outputs': 'o'}, 'gone', True, False, (True, 'outputs changed or missing')),
    ({'key': 'k', 'outputs': 'o'}, 'gone', False, False, (False, 'up to date')),
])
def test_decide(stamp, outputs, track, force, expected):
    assert bs.decide(stamp, 'k', outputs, track, force) == expected


def test_record_and_render_round_trip():
    stamps = bs.record({'vet': {'key': 'v'}}, 'generate', 'g', 'o', True)
    assert stamps == {'vet': {'key': 'v'}, 'generate': {'key': 'g', 'outputs': 'o'}}
    assert bs.parse_stamps(bs.render(stamps)) == stamps
    assert bs.render(stamps).endswith('}\n')


@pytest.mark.parametrize('text', [None, '', 'not json', '[1, 2]'])
def test_a_missing_or_broken_stamp_file_is_empty(text):
    assert bs.parse_stamps(text) == {}
