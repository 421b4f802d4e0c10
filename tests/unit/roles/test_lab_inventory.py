# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared-lab example inventory grants unlimited locked memory to a named group and named
services, never to every login (`*`) nor, through DefaultLimitMEMLOCK, to every service."""

import glob
import os

import yaml

from conftest import ROOT

LAB = os.path.join(ROOT, 'inventories', 'lab')


def _vars(*parts):
    with open(os.path.join(LAB, *parts)) as f:
        return yaml.safe_load(f) or {}


def _all_lab_vars():
    files = sorted(glob.glob(os.path.join(LAB, 'group_vars', '*.yml')) + glob.glob(os.path.join(LAB, 'host_vars', '*.yml')))
    return [(os.path.relpath(f, ROOT), _vars(os.path.relpath(f, LAB))) for f in files]


def test_lab_memlock_is_for_a_named_group_not_every_user():
    for path, values in _all_lab_vars():
        for key, value in values.items():
            if key.endswith('memlock_domains'):
                assert '*' not in value, '%s: %s grants the limit to every user' % (path, key)
    assert _vars('group_vars', 'all.yml')['labkit_memlock_domains'] == ['@rdma', 'root']


def test_lab_sets_no_systemd_wide_default_and_names_services():
    everything = {k: v for _p, values in _all_lab_vars() for k, v in values.items()}
    assert _vars('group_vars', 'all.yml')['labkit_memlock_systemd_default'] is False
    assert everything.get('ebpf_host_memlock_units'), 'the example names no service that gets the limit'


def test_the_roles_pass_the_systemd_default_switch_to_memlock():
    for role, task_file in (('ebpf_host', 'main.yml'), ('soft_roce', 'memlock.yml')):
        with open(os.path.join(ROOT, 'roles', role, 'tasks', task_file)) as f:
            tasks = yaml.safe_load(f)
        memlock = [t['labkit.ebpf_rdma.memlock'] for t in tasks if 'labkit.ebpf_rdma.memlock' in t]
        assert memlock and all(m.get('systemd') == '{{ %s_memlock_systemd_default | bool }}' % role for m in memlock)


def test_lab_integration_groups_follow_the_example():
    with open(os.path.join(ROOT, 'tests', 'integration', 'lab', 'groups.yml')) as f:
        groups = yaml.safe_load(f)
    lab_vars = groups['all']['children']['softroce']['vars']
    assert lab_vars['labkit_memlock_domains'] == _vars('group_vars', 'all.yml')['labkit_memlock_domains']
    assert lab_vars['labkit_memlock_systemd_default'] is False
