# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 20: the role's default suites are found in the project, not assumed.

Before, the defaults listed an ``integration`` suite on ``./integration/...`` for every project, and a
project without that directory failed with "pattern ./integration/...: lstat ./integration/: no such
file or directory". Now the default is [] and plan.yml hands the variables to go_suites.
"""

import os

import yaml

from conftest import ROOT

ROLE = os.path.join(ROOT, 'roles', 'project_test')


def load(rel):
    with open(os.path.join(ROLE, rel)) as f:
        return yaml.safe_load(f)


def test_no_suite_is_assumed():
    defaults = load('defaults/main.yml')
    assert defaults['project_test_suites'] == []
    assert defaults['project_test_integration_tags'] == ['integration', 'e2e']


def test_plan_passes_the_variables_to_go_suites():
    tasks = load('tasks/plan.yml')
    calls = [t['labkit.ebpf_rdma.go_suites'] for t in tasks if 'labkit.ebpf_rdma.go_suites' in t]
    assert len(calls) == 2 and calls[0] == calls[1]  # controller copy and host copy, same arguments
    args = calls[0]
    for key in ('suites', 'packages', 'run', 'extra_tags', 'integration_tags', 'rdma_device'):
        assert args[key] == '{{ project_test_%s }}' % key
    assert 'project_test_only' in args['only'] and args['rdma'].startswith('{{ ansible_facts.labkit_rdma')
