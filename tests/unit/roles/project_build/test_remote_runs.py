# SPDX-License-Identifier: GPL-3.0-or-later
"""A build and test wholly on the controller touches the guest in a handful of module runs.

Under emulation each module run in the guest costs seconds, which is what kept the build loop far
from its targets (docs/benchmarks.md). These tests read the task files the controller path goes
through and list every task that runs on the host (not delegated to the controller, not a
set_fact/assert/debug/include): a new one there is a new remote run on every loop and must be
folded into an existing run instead, or put behind host.yml (steps on the host).
"""

import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import ROOT  # noqa: E402

CONTROLLER_ONLY = {'ansible.builtin.set_fact', 'ansible.builtin.assert', 'ansible.builtin.debug',
                   'ansible.builtin.include_tasks', 'ansible.builtin.include_role', 'ansible.builtin.meta'}
TASK_KEYS = {'name', 'when', 'vars', 'register', 'delegate_to', 'become', 'become_user', 'run_once', 'loop',
             'loop_control', 'changed_when', 'failed_when', 'check_mode', 'environment', 'throttle', 'block',
             'no_log', 'tags', 'args', 'notify', 'rescue', 'always', 'until', 'retries', 'delay', 'ignore_errors'}


def tasks(role, name):
    with open(os.path.join(ROOT, 'roles', role, 'tasks', name)) as f:
        return yaml.safe_load(f)


def remote(task_list):
    """(name, module) of each task that runs a module on the host, blocks included."""
    found = []
    for t in task_list:
        if 'block' in t:
            if t.get('delegate_to') != 'localhost':
                found += remote(t['block'])
            continue
        module = [k for k in t if k not in TASK_KEYS][0]
        if module not in CONTROLLER_ONLY and t.get('delegate_to') != 'localhost':
            found.append((t['name'], module))
    return found


def included(task_list):
    return [t['ansible.builtin.include_tasks'] if isinstance(t['ansible.builtin.include_tasks'], str)
            else t['ansible.builtin.include_tasks']['file'] for t in task_list if 'ansible.builtin.include_tasks' in t]


def test_project_build_main_runs_nothing_on_the_host_but_the_fallback_fetch():
    main = tasks('project_build', 'main.yml')
    runs = remote(main)
    assert runs == [("Bring what go generate wrote on the host to the controller's copy", 'ansible.builtin.fetch')]
    fetch = [t for t in main if t['name'] == runs[0][0]][0]
    assert "__project_build_generate_where == 'host'" in fetch['when'], 'only when go generate ran on the host'


def test_host_preparation_is_behind_the_where_decision():
    main = tasks('project_build', 'main.yml')
    names = [t['name'] for t in main]
    host = [t for t in main if t.get('ansible.builtin.include_tasks') == 'host.yml'][0]
    assert names.index('Decide where the project is built (project_build_where)') < names.index(host['name'])
    assert host['when'] == "__project_build_where == 'host' or __project_build_generate_where == 'host'"
    assert set(included(main)) == {'private_dir.yml', 'where.yml', 'host.yml', 'controller_src.yml', 'step.yml',
                                   'controller_ship.yml', 'fetch.yml'}


def test_the_controller_path_reads_the_guest_once_and_stages_once():
    assert remote(tasks('project_build', 'where.yml')) == [
        ("Read the guest's sysroot packages (for a build on the controller)", 'labkit.ebpf_rdma.guest_sysroot')]
    assert remote(tasks('project_build', 'controller_ship.yml')) == [
        ('Stage the source, the binaries and the generated files on the host', 'labkit.ebpf_rdma.stage_files')]
    assert remote(tasks('project_build', 'controller_src.yml')) == []
    assert remote(tasks('project_build', 'step.yml')) == [
        ("Run the step on the host: {{ __project_build_argv | join(' ') }}", 'labkit.ebpf_rdma.build_step')]


def test_tests_built_on_the_controller_are_one_stage_and_one_run_per_suite():
    assert remote(tasks('project_test', 'controller.yml')) == [
        ('Stage the test binaries on the host (only the changed ones are sent)', 'labkit.ebpf_rdma.stage_files')]
    assert [m for _n, m in remote(tasks('project_test', 'controller_suite.yml'))] == ['ansible.builtin.script']
    main = remote(tasks('project_test', 'main.yml'))
    assert [m for _n, m in main] == ['ansible.builtin.stat']  # the go.mod check, skipped after a controller build
    stat = [t for t in tasks('project_test', 'main.yml') if t['name'] == main[0][0]][0]
    assert stat['when'] == "project_build_result_where | default('host') != 'controller'"
