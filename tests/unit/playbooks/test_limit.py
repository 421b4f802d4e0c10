# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""--limit gives the same verdict: every shipped playbook keeps its gates and reports.

``ansible-playbook --list-hosts --list-tasks`` (no connection) of every playbook
in playbooks/, against inventories/lab and inventories/local, without a limit
and with ``-l <one host>``. A task that runs for a host without a limit (in a
play of that host, or in a play of the controller: its reports and gates) must
still run with the limit; the named gate and report tasks must be listed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PLAYBOOKS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'playbooks', '*.yml')))

# inventory -> hosts to limit to (one of each group the playbooks target)
LIMITS = {
    'inventories/lab': ['lab-sr-01', 'lab-hw-01'],
    'inventories/local': ['devvm'],
    'inventories/kernel-matrix': ['km-bookworm'],
    'inventories/fabric': ['fabnode2'],
}

# playbook -> tasks (name prefixes) that carry its verdict or write its report; listed whenever the
# playbook has a play for the host
GATES = {
    'playbooks/preflight.yml': ['Write the report and fail naming the hosts that are not ready'],
    'playbooks/dev-vm.yml': ["labkit.ebpf_rdma.preflight : Write this host's JSON report on the controller",
                             'labkit.ebpf_rdma.preflight : Fail when the host is not ready'],
    'playbooks/test.yml': ['labkit.ebpf_rdma.project_test : Summary',
                           'labkit.ebpf_rdma.project_test : Fail when a test failed'],
    'playbooks/lab.yml': ['Say what was left for the operator'],
    'playbooks/kernel-matrix.yml': ['Write the table (text, JSON, JUnit)', 'Fail when a kernel did not pass'],
    'playbooks/fabric.yml': ['labkit.ebpf_rdma.fabric : Fabric table on the controller'],
}

CONTROLLER = {'localhost', '127.0.0.1'}


def ansible_playbook():
    exe = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return exe if os.path.exists(exe) else shutil.which('ansible-playbook')


def listing(inventory, limit=None):
    """{playbook: [{'name', 'hosts': [...], 'tasks': [...]}]} from one --list-hosts --list-tasks run."""
    argv = [ansible_playbook(), '--list-hosts', '--list-tasks', '-i', inventory] + (['-l', limit] if limit else [])
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'collections'))
    proc = subprocess.run(argv + PLAYBOOKS, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    books, play, section = {}, None, None
    for line in proc.stdout.splitlines():
        text = line.split('\tTAGS:')[0].strip()
        m = re.match(r'^playbook: (\S+)$', line)
        if m:
            plays = books.setdefault(os.path.relpath(os.path.join(ROOT, m.group(1)), ROOT), [])
            continue
        m = re.match(r'^  play #\d+ \((.*?)\): (.*)$', line.split('\tTAGS:')[0])
        if m:
            play = {'name': m.group(2), 'hosts': [], 'tasks': []}
            plays.append(play)
            section = None
        elif re.match(r'^    hosts \(\d+\):$', line):
            section = 'hosts'
        elif line.startswith('    tasks:'):
            section = 'tasks'
        elif line.startswith('    pattern:'):
            section = None
        elif section and line.startswith('      ') and text:
            play[section].append(text)
    assert set(books) == set(PLAYBOOKS), proc.stdout
    return books


@pytest.fixture(scope='module')
def listings():
    if not ansible_playbook():
        pytest.skip('ansible-playbook is not installed')
    out = {}
    for inventory, hosts in LIMITS.items():
        out[(inventory, None)] = listing(inventory)
        for host in hosts:
            out[(inventory, host)] = listing(inventory, host)
    return out


def runs_for(plays, host):
    """Tasks that run for host: those of its plays and of the controller's plays (reports, gates)."""
    return [(p['name'], t) for p in plays
            if host in p['hosts'] or (p['hosts'] and set(p['hosts']) <= CONTROLLER) for t in p['tasks']]


CASES = [(inv, host, book) for inv, hosts in sorted(LIMITS.items()) for host in hosts for book in PLAYBOOKS]


@pytest.mark.parametrize('inventory, host, playbook', CASES)
def test_limit_keeps_every_task_of_the_host(listings, inventory, host, playbook):
    full = listings[(inventory, None)][playbook]
    limited = listings[(inventory, host)][playbook]
    want = runs_for(full, host)
    got = [(p['name'], t) for p in limited if p['hosts'] for t in p['tasks']]
    missing = [t for t in want if t not in got]
    assert not missing, '%s -i %s -l %s drops: %s' % (playbook, inventory, host, missing)


@pytest.mark.parametrize('inventory, host, playbook', [c for c in CASES if c[2] in GATES])
def test_gates_and_reports_listed_under_limit(listings, inventory, host, playbook):
    limited = listings[(inventory, host)][playbook]
    if not any(host in p['hosts'] for p in limited):
        pytest.skip('%s has no play for %s in %s' % (playbook, host, inventory))
    got = [t for p in limited if p['hosts'] for t in p['tasks']]
    for gate in GATES[playbook]:
        assert any(t.startswith(gate) for t in got), '%s -i %s -l %s: %r is not run (tasks: %s)' % (playbook, inventory, host, gate, got)


def test_every_playbook_has_a_host_somewhere(listings):
    """The cases above are not empty: each playbook has a host in one of the inventories."""
    for book in PLAYBOOKS:
        assert any(p['hosts'] for (inv, lim), books in listings.items() for p in books[book]), book
