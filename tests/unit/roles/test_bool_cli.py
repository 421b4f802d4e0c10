# SPDX-License-Identifier: GPL-3.0-or-later
"""Boolean role variables given on the command line, as users type them, evaluated by Ansible.

`-e project_build_vet=false` passes the string "false"; ansible-core 2.19 fails a `when:` on a
string ("Conditional result (True) was derived from value of type 'str'"). This runs every
condition of the roles that depends only on boolean role variables (and check mode) in one
ansible-playbook run on localhost, the variables given with -e as "false", "no" or "0", and
checks that each evaluates, and that a plain `VAR | bool` condition is false.
"""

import glob
import os
import re

from conftest import ROOT
from playbook_runner import run_cases
from test_bool_vars import _strip_string_literals, bool_variables

import yaml

WORDS = {'and', 'or', 'not', 'in', 'is', 'true', 'false', 'none', 'if', 'else', 'True', 'False', 'None'}
FALSE_FORMS = ('false', 'no', '0')


def _names(expr):
    expr = _strip_string_literals(expr)
    expr = re.sub(r'\|\s*\w+', '', expr)             # filters
    expr = re.sub(r'\bis\s+(not\s+)?\w+', '', expr)  # tests
    return set(re.findall(r'(?<![\w.])([A-Za-z_]\w*)', expr)) - WORDS


def _walk(tasks):
    for task in tasks or []:
        if isinstance(task, dict):
            yield task
            for key in ('block', 'rescue', 'always'):
                yield from _walk(task.get(key))


def bool_only_conditions():
    names = bool_variables()
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'roles', '*', 'tasks', '*.yml'))):
        with open(path) as f:
            for task in _walk(yaml.safe_load(f)):
                when = task.get('when', [])
                for expr in (when if isinstance(when, list) else [when]):
                    expr = str(expr)
                    used = _names(expr)
                    if used & names and used <= names | {'ansible_check_mode'}:
                        found.setdefault(expr, os.path.relpath(path, ROOT))
    return found


def test_conditions_on_command_line_booleans_evaluate(tmp_path):
    conditions = bool_only_conditions()
    assert any('project_build_vet' in c for c in conditions)
    assert len(conditions) >= 10
    cases = {}
    for i, expr in enumerate(sorted(conditions)):
        cases['c%d' % i] = [
            {'name': 'evaluate', 'ansible.builtin.debug': {'msg': 'ran'}, 'when': expr, 'register': '__r'},
            {'name': 'report', 'ansible.builtin.fail': {'msg': "{{ 'skipped' if __r is skipped else 'ran' }}"}}]
    extra = []
    for i, name in enumerate(sorted(bool_variables())):
        extra += ['-e', '%s=%s' % (name, FALSE_FORMS[i % len(FALSE_FORMS)])]
    results = run_cases(tmp_path, cases, extra)
    bad = ['%s (%s): %s' % (expr, conditions[expr], results['c%d' % i])
           for i, expr in enumerate(sorted(conditions)) if results['c%d' % i] not in ('skipped', 'ran')]
    assert not bad, 'conditions that fail on a command-line boolean:\n  ' + '\n  '.join(bad)
    plain = [(i, e) for i, e in enumerate(sorted(conditions)) if re.fullmatch(r'\w+ \| bool', e)]
    assert plain and all(results['c%d' % i] == 'skipped' for i, _e in plain), plain
