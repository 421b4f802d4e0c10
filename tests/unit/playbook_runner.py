# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a small playbook against localhost (no VM) with the collection in place.

``run_cases(tmp_path, cases, extra_args)`` writes one play whose every case is a block
(tasks given as YAML-ready dicts) with a rescue, so one ansible-playbook run tries them all;
it returns {case: None | failure message}. Used by tests that need Ansible itself to
evaluate something (role argument validation, conditionals of -e strings, a role's asserts).
"""

import json
import os
import subprocess
import sys

import yaml

from conftest import ROOT

BIN = os.path.dirname(sys.executable)
# the message of a failed task; of a loop, those of its failed items (the top one says only
# "One or more items failed")
FAILED_MSG = ("{{ (ansible_failed_result.results | default([]) | selectattr('failed', 'defined') | selectattr('failed')"
              " | map(attribute='msg') | join('; ')) or ansible_failed_result.msg"
              " | default(ansible_failed_result | string) }}")


def ansible_playbook():
    path = os.path.join(BIN, 'ansible-playbook')
    return path if os.path.exists(path) else 'ansible-playbook'


def run_cases(tmp_path, cases, extra_args=(), check=True):
    out = tmp_path / 'results.json'
    tasks = []
    for name, body in cases.items():
        tasks.append({
            'name': 'case %s' % name,
            'block': body + [{'name': 'passed %s' % name, 'ansible.builtin.set_fact': {
                '__case_results': "{{ __case_results | default({}) | combine({%r: None}) }}" % name}}],
            'rescue': [{'name': 'failed %s' % name, 'ansible.builtin.set_fact': {
                '__case_results': "{{ __case_results | default({}) | combine({%r: __msg}) }}" % name},
                'vars': {'__msg': FAILED_MSG}}],
        })
    tasks.append({'name': 'write the results (the test harness, not a role)', 'check_mode': False,
                  'ansible.builtin.copy': {'content': '{{ __case_results | default({}) | to_json }}',
                                           'dest': str(out), 'mode': '0600'}})
    play = [{'name': 'cases', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]
    book = tmp_path / 'cases.yml'
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    argv = [ansible_playbook(), '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=' + sys.executable,
            str(book)] + (['--check'] if check else [])
    proc = subprocess.run(argv + list(extra_args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.exists(), 'ansible-playbook failed (rc %d):\n%s\n%s' % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
    return json.loads(out.read_text())
