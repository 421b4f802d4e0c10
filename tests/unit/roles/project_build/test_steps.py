# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/project_build: the steps are build_step runs, each naming the knob that skips it."""

import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import ROOT  # noqa: E402

TASKS = os.path.join(ROOT, 'roles', 'project_build', 'tasks')


def load(name):
    with open(os.path.join(TASKS, name)) as f:
        return yaml.safe_load(f)


def steps():
    return {t['vars']['__project_build_step']: t for t in load('main.yml')
            if t.get('ansible.builtin.include_tasks') == 'step.yml'}


def test_four_steps_in_order_each_with_its_knob():
    found = steps()
    assert list(found) == ['generate', 'vet', 'build', 'binaries']
    assert found['generate']['vars']['__project_build_step_knob'] == '-e project_build_generate=false'
    assert found['vet']['vars']['__project_build_step_knob'] == '-e project_build_vet=false'
    assert found['generate']['when'] == 'project_build_generate | bool'
    assert found['vet']['when'] == 'project_build_vet | bool'


def test_step_runs_build_step_on_the_host_or_delegated_to_the_controller():
    host, controller, _report = load('step.yml')
    assert 'labkit.ebpf_rdma.build_step' in host and 'delegate_to' not in host
    assert controller['delegate_to'] == 'localhost' and controller['become'] is False
    assert set(host['labkit.ebpf_rdma.build_step']) == set(controller['labkit.ebpf_rdma.build_step'])
    assert host['labkit.ebpf_rdma.build_step']['force'] == '{{ project_build_force | bool }}'
