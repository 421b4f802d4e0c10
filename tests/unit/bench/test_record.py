# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/bench/record.py: a bench's table replaces its own section of docs/benchmarks.md, nothing else."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPEC = importlib.util.spec_from_file_location('bench_record', os.path.join(ROOT, 'tests', 'bench', 'record.py'))
record = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(record)

DOC = """# Benchmarks
hand text
<!-- bench:vm-ready begin -->
old vm-ready table
<!-- bench:vm-ready end -->
more hand text
<!-- bench:project-build begin -->
old build table
<!-- bench:project-build end -->
"""


def test_only_the_named_section_is_replaced():
    out = record.replace_section(DOC, 'vm-ready', 'new table\n')
    assert 'old vm-ready table' not in out and 'new table' in out
    assert out.count('<!-- bench:vm-ready begin -->\nnew table\n<!-- bench:vm-ready end -->') == 1
    assert 'old build table' in out and 'hand text' in out and 'more hand text' in out


def test_a_missing_section_says_how_to_add_it():
    with pytest.raises(SystemExit, match='has no section <!-- bench:nosuch begin -->.*add the two marker lines'):
        record.replace_section(DOC, 'nosuch', 'x')


def test_the_docs_page_has_a_section_for_each_bench_that_records():
    with open(os.path.join(ROOT, 'docs', 'benchmarks.md')) as f:
        text = f.read()
    with open(os.path.join(ROOT, 'tests', 'bench', 'vm-ready')) as f:
        assert 'record.py" vm-ready ' in f.read()
    with open(os.path.join(ROOT, 'tests', 'bench', 'project-build')) as f:
        assert 'record.py" "$SECTION" ' in f.read()  # project-build[-<fixture>]
    fixtures = sorted(os.listdir(os.path.join(ROOT, 'tests', 'fixtures')))
    sections = ['vm-ready'] + ['project-build' if d == 'rdma-ebpf-project' else 'project-build-' + d
                               for d in fixtures if os.path.isfile(os.path.join(ROOT, 'tests', 'fixtures', d, 'go.mod'))]
    assert 'project-build-rdma-mesh-agent' in sections
    for bench in sections:
        assert record.replace_section(text, bench, 'x\n') != text


def test_a_missing_section_leaves_the_page_untouched(tmp_path, monkeypatch):
    page = tmp_path / 'benchmarks.md'
    page.write_text(DOC)
    monkeypatch.setattr(record, 'DOC', str(page))
    monkeypatch.setattr('sys.argv', ['record.py', 'nosuch', 'tests/bench/nosuch'])
    monkeypatch.setattr('sys.stdin', __import__('io').StringIO('table\n'))
    with pytest.raises(SystemExit):
        record.main()
    assert page.read_text() == DOC
    monkeypatch.setattr('sys.argv', ['record.py', 'vm-ready', 'tests/bench/vm-ready --record'])
    monkeypatch.setattr('sys.stdin', __import__('io').StringIO('table\n'))
    record.main()
    assert 'by `tests/bench/vm-ready --record`' in page.read_text() and '```\ntable\n```' in page.read_text()
