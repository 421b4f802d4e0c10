# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark scripts of tests/bench: they parse, pass shellcheck, and each
section they record into has its markers in docs/benchmarks.md."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
BENCH = os.path.join(ROOT, 'tests', 'bench')
SCRIPTS = sorted(f for f in os.listdir(BENCH)
                 if os.path.isfile(os.path.join(BENCH, f)) and not f.endswith('.py')
                 and open(os.path.join(BENCH, f)).readline().startswith('#!'))


def test_there_are_bench_scripts():
    assert {'vm-ready', 'project-build', 'kernel-matrix', 'fabric'} <= set(SCRIPTS)


@pytest.mark.parametrize('script', SCRIPTS)
def test_script_parses(script):
    subprocess.run(['bash', '-n', os.path.join(BENCH, script)], check=True)


@pytest.mark.skipif(shutil.which('shellcheck') is None, reason='shellcheck is not installed (make host-deps)')
@pytest.mark.parametrize('script', SCRIPTS + ['lib.sh'])
def test_shellcheck(script):
    r = subprocess.run(['shellcheck', '-x', os.path.join('tests', 'bench', script)], cwd=ROOT, check=False,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize('script', SCRIPTS)
def test_recorded_sections_exist(script):
    with open(os.path.join(BENCH, script)) as f:
        text = f.read()
    names = set(re.findall(r'record\.py"? (\w[\w-]*) ', text))
    with open(os.path.join(ROOT, 'docs', 'benchmarks.md')) as f:
        page = f.read()
    for name in names:
        assert '<!-- bench:%s begin -->' % name in page and '<!-- bench:%s end -->' % name in page, name
