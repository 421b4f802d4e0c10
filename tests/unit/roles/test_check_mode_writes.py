# SPDX-License-Identifier: GPL-3.0-or-later
"""Check mode writes nothing, on the host or on the controller.

A task with ``check_mode: false`` runs for real in check mode. In project_build and
ebpf_toolchain that is allowed only for the tasks listed in READS below, which only read
(they feed the decisions check mode reports); any other such task must be skipped in check
mode (``not ansible_check_mode`` in its own or an enclosing block's ``when``). A task
delegated to the controller that writes there (download, tar packing, bpf2go build) is held
to the same rule through its block's ``check_mode: false``.
"""

import glob
import os

import pytest
import yaml

from conftest import ROOT

ROLES = ('project_build', 'ebpf_toolchain')

# (role, task name): tasks run in check mode too because they only read.
READS = {
    ('project_build', 'Find the Go toolchain on the host'),
    ('project_build', "Read the controller's GOPROXY"),
    ('project_build', 'Read the toolchain versions (part of every step\'s inputs)'),
    # runs source_tree.py --check in check mode: compares, writes no tar
    ('project_build', 'Pack the source tree on the controller'),
    ('ebpf_toolchain', 'Find which packages are missing (dpkg-query)'),
    ('ebpf_toolchain', 'Read where the links point in {{ ebpf_toolchain_go_bin_dir or \'the bin directory\' }}'),
    ('ebpf_toolchain', 'Read the clang version'),
    ('ebpf_toolchain', 'Look for Go on the controller'),
    ('ebpf_toolchain', "Read the distribution's Go version"),
    ('ebpf_toolchain', 'Read the installed Go version'),
    ('ebpf_toolchain', 'Look for the Go toolchain on the host and read its version'),
}


def _when_list(task):
    when = task.get('when', [])
    return [str(w) for w in (when if isinstance(when, list) else [when])]


def walk(tasks, inherited_check_mode=None, inherited_when=()):
    for task in tasks or []:
        check_mode = task.get('check_mode', inherited_check_mode)
        when = tuple(inherited_when) + tuple(_when_list(task))
        if 'block' in task:
            yield from walk(task['block'], check_mode, when)
            yield from walk(task.get('rescue'), check_mode, when)
            yield from walk(task.get('always'), check_mode, when)
        else:
            yield task, check_mode, when


def unguarded(role):
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', role, 'tasks', '*.yml'))):
        with open(path) as f:
            for task, check_mode, when in walk(yaml.safe_load(f)):
                if check_mode is not False or (role, task.get('name')) in READS:
                    continue
                if any('not ansible_check_mode' in w for w in when):
                    continue
                found.append('%s: %s' % (os.path.relpath(path, ROOT), task.get('name')))
    return found


@pytest.mark.parametrize('role', ROLES)
def test_tasks_that_run_in_check_mode_only_read(role):
    found = unguarded(role)
    assert not found, ('tasks that run for real in check mode (check_mode: false) but are neither listed as '
                       'read-only nor skipped in check mode:\n  ' + '\n  '.join(found))


def test_the_read_list_names_existing_tasks():
    names = set()
    for role in ROLES:
        for path in glob.glob(os.path.join(ROOT, 'roles', role, 'tasks', '*.yml')):
            with open(path) as f:
                names.update((role, t.get('name')) for t, _c, _w in walk(yaml.safe_load(f)))
    assert READS <= names, sorted(READS - names)


def test_the_scan_sees_a_block_check_mode():
    tasks = [{'name': 'b', 'check_mode': False, 'block': [{'name': 'write', 'ansible.builtin.copy': {}}]}]
    assert [t['name'] for t, c, _w in walk(tasks) if c is False] == ['write']


def test_the_source_tar_is_only_compared_in_check_mode():
    with open(os.path.join(ROOT, 'roles', 'project_build', 'tasks', 'main.yml')) as f:
        pack = [t for t in yaml.safe_load(f) if t['name'] == 'Pack the source tree on the controller'][0]
    assert "['--check'] if ansible_check_mode" in pack['ansible.builtin.command']['argv']


def test_go_env_writes_no_telemetry_in_check_mode():
    # go env writes telemetry counters under $HOME/.config (HOME is the cache directory)
    with open(os.path.join(ROOT, 'roles', 'project_build', 'tasks', 'host.yml')) as f:
        read = [t for t in yaml.safe_load(f) if t['name'] == "Read the toolchain versions (part of every step's inputs)"][0]
    assert "{'HOME': '', 'XDG_CONFIG_HOME': ''} if ansible_check_mode" in read['environment']
