# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""go_suites: bad suites fail before anything runs, naming the variable to fix; nothing is written or run."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import go_suites

from conftest import ROOT, FakeCommands

FIXTURE_PROJECT = os.path.join(ROOT, 'tests', 'fixtures', 'rdma-ebpf-project')


@pytest.fixture
def project(tmp_path):
    dest = tmp_path / 'project'
    shutil.copytree(FIXTURE_PROJECT, str(dest))
    return dest


def snapshot(root):
    out = {}
    for dirpath, dummy, files in os.walk(str(root)):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def fail(module_runner, project, **args):
    before = snapshot(project)
    cmds = FakeCommands()  # any command would fail the test
    result = module_runner(go_suites, dict({'path': str(project)}, **args), commands=cmds)
    assert result.get('failed'), result
    assert cmds.calls == [] and snapshot(project) == before
    assert 'suites' not in result
    return result['msg']


def test_misnamed_suite_package(module_runner, project):
    msg = fail(module_runner, project, suites=[{'name': 'unit'}, {'name': 'integration', 'packages': ['./integ/...']}])
    assert msg.startswith('the test suites of %s are misconfigured (nothing was built or run)' % project)
    assert ('project_test_suites[1] (suite integration): package pattern ./integ/... matches no Go package of this '
            'project (no directory ./integ with .go files)') in msg
    assert 'fix the packages of suite integration in project_test_suites' in msg
    assert 'or set project_test_suites to [] to use the suites found in the project' in msg
    assert 'integration ./integration/...' in msg and './qpmon' in msg


def test_suite_package_outside_the_module(module_runner, project):
    msg = fail(module_runner, project, suites=[{'name': 'x', 'packages': ['qpmon/...']}])
    assert ('package pattern qpmon/... is not a package of this project (it is neither relative to the module '
            '(./dir, ./dir/...) nor under its module path example.invalid/rdmaebpf)') in msg
    assert 'fix the packages of suite x in project_test_suites' in msg


def test_only_names_a_missing_suite(module_runner, project):
    msg = fail(module_runner, project, only=['e2e'])
    assert ('project_test_only names suite e2e that does not exist; the suites are unit, integration: fix '
            'project_test_only (or set it to [] for all)') in msg


def test_packages_override_names_a_missing_package(module_runner, project):
    msg = fail(module_runner, project, packages=['./qpmonitor'])
    assert 'project_test_packages: package pattern ./qpmonitor matches no Go package' in msg
    assert "fix project_test_packages (or set it to [] to keep each suite's packages)" in msg


@pytest.mark.parametrize('suites, expected', [
    ([{'packages': ['./...']}], "project_test_suites[0] has name None: give it a name of letters"),
    ([{'name': 'a'}, {'name': 'a'}], 'project_test_suites[1] repeats the suite name a: give each suite its own name'),
    ([{'name': 'a/b'}], "project_test_suites[0] has name 'a/b'"),
    ([{'name': 'a', 'pakages': ['./...']}], 'project_test_suites[0] has unknown key pakages (known: name, packages'),
    ([{'name': 'a', 'packages': './...'}], "project_test_suites[0]: packages must be a list of strings, not './...'"),
])
def test_suite_shape(module_runner, project, suites, expected):
    assert expected in fail(module_runner, project, suites=suites)


def test_var_prefix_names_the_callers_variable(module_runner, project):
    msg = fail(module_runner, project, suites=[{'name': 'x', 'packages': ['./nope']}], var_prefix='my_')
    assert 'my_suites[0] (suite x)' in msg and 'project_test_' not in msg


def test_not_a_go_module(module_runner, tmp_path):
    msg = fail(module_runner, tmp_path)
    assert msg.startswith('%s/go.mod is missing: %s is not the directory of a Go module' % (tmp_path, tmp_path))
    assert 'project_test_src_dir' in msg


def test_unreadable_build_constraint(module_runner, project):
    (project / 'qpmon' / 'bad_test.go').write_text('//go:build integration &&\n\npackage qpmon\n')
    msg = fail(module_runner, project)
    assert "./qpmon/bad_test.go" in msg and 'fix the //go:build line' in msg
