# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/project_build/tasks/where.yml: where the build runs (project_build_where), evaluated by Ansible.

The decision tasks run on localhost with the results of guest_sysroot and cross_toolchain given as facts
(shapes from NATIVE-BUILD-INTERFACES: supported/reason/goarch/glibc; usable/reason/env/go_version/zig_version).
"""

import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import ROOT  # noqa: E402

from playbook_runner import run_cases  # noqa: E402

DECISION = ('Find whether the controller can build for this host', 'Decide where the project is built',
            'Fail when the build was asked on the controller but cannot run there')
SYSROOT = {'supported': True, 'key': 'k', 'goarch': 'arm64', 'triple': 'aarch64-linux-gnu', 'glibc': '2.36'}
CROSS = {'usable': True, 'go_version': 'go1.24.1', 'zig_version': '0.14.0', 'key': 'c',
         'env': {'CGO_ENABLED': '1', 'GOOS': 'linux', 'GOARCH': 'arm64', 'BPF2GO_CC': '/x/bpf-clang'}}
NO_BPF = dict(CROSS, env={'CGO_ENABLED': '1', 'GOOS': 'linux', 'GOARCH': 'arm64'})


def decision_tasks():
    with open(os.path.join(ROOT, 'roles', 'project_build', 'tasks', 'where.yml')) as f:
        tasks = [t for t in yaml.safe_load(f) if t['name'] in DECISION]
    assert [t['name'] for t in tasks] == list(DECISION)
    return tasks


def case(where, sysroot, cross, expect, generate=None, why='', git=''):
    facts = {'project_build_where': where, 'project_build_git_repo': git}
    if sysroot is not None:
        facts['__project_build_sysroot'] = sysroot
    if cross is not None:
        facts['__project_build_cross'] = cross
    checks = ["__project_build_where == %r" % expect, "%r in __project_build_where_why" % why]
    if generate:
        checks.append("__project_build_generate_where == %r" % generate)
    return [{'name': 'inputs', 'ansible.builtin.set_fact': facts}] + decision_tasks() + [
        {'name': 'check', 'ansible.builtin.assert': {'that': checks, 'fail_msg': 'got {{ __project_build_where }} '
                                                     '(generate {{ __project_build_generate_where }}): '
                                                     '{{ __project_build_where_why }}'}}]


def test_where_the_build_runs(tmp_path):
    cases = {
        'auto-cross': case('auto', SYSROOT, CROSS, 'controller', 'controller', 'cross-builds for arm64 (glibc 2.36'),
        'auto-no-bpf-clang': case('auto', SYSROOT, NO_BPF, 'controller', 'host'),
        'auto-no-sysroot': case('auto', {'supported': False, 'reason': 'rpm host'}, None, 'host', 'host',
                                'the guest sysroot cannot be read: rpm host'),
        'auto-no-zig': case('auto', SYSROOT, {'usable': False, 'reason': 'ziglang not installed'}, 'host', 'host',
                            'no cross toolchain on the controller: ziglang not installed'),
        'auto-git': case('auto', None, None, 'host', 'host', 'git source', git='https://example.invalid/p.git'),
        'host': case('host', None, None, 'host', 'host', 'project_build_where=host'),
        'controller': case('controller', SYSROOT, CROSS, 'controller', 'controller'),
        'controller-impossible': case('controller', {'supported': False, 'reason': 'rpm host'}, None, 'host'),
    }
    results = run_cases(tmp_path, cases, check=False)
    failed = results.pop('controller-impossible')
    assert results == dict.fromkeys(results), results
    assert failed.startswith('project_build_where=controller, but localhost cannot be built on the controller: '
                             'the guest sysroot cannot be read: rpm host.'), failed
