# SPDX-License-Identifier: GPL-3.0-or-later
"""Every boolean role variable is read through ``| bool``.

A value given on the command line (``-e project_build_vet=false``) is the
string "false"; ansible-core 2.19 refuses a string as a conditional ("Conditional
result (True) was derived from value of type 'str'"), and older cores take any
non-empty string as true. So every use of a boolean variable, in a ``when:``, an
``assert``, a Jinja expression or a module option, must pass it through ``bool``.

The boolean variables are those declared ``type: bool`` in any entry point of a
role's meta/argument_specs.yml, and those whose default in defaults/main.yml is
a YAML boolean. Their uses are looked for in every role's tasks, handlers, vars,
defaults and templates (a role may read another role's variable).
"""

import glob
import os
import re

import pytest
import yaml

from conftest import ROOT

ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')) if os.path.isdir(p))

# Keys whose string value is a bare Jinja expression (no {{ }}).
EXPRESSION_KEYS = {'when', 'that', 'changed_when', 'failed_when', 'until'}
JINJA = re.compile(r'{{(.*?)}}|{%(.*?)%}', re.S)
# What may stand between the name and `bool`: a default() filter.
BOOL_AFTER = re.compile(r'\s*(\|\s*default\([^()]*\)\s*)?\|\s*bool\b')


def _load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def bool_variables():
    names = set()
    for role in ROLES:
        specs = os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')
        if os.path.exists(specs):
            for entry in (_load(specs) or {}).get('argument_specs', {}).values():
                for name, opt in (entry.get('options') or {}).items():
                    if (opt or {}).get('type') == 'bool':
                        names.add(name)
        defaults = os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')
        if os.path.exists(defaults):
            for name, value in (_load(defaults) or {}).items():
                if isinstance(value, bool):
                    names.add(name)
    return names


def _expressions(node, key=None):
    """Yield every Jinja expression text in a loaded YAML tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'name':
                continue  # task names are display text
            yield from _expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _expressions(v, key)
    elif isinstance(node, str):
        if key in EXPRESSION_KEYS and '{{' not in node:
            yield node
        else:
            for m in JINJA.finditer(node):
                yield m.group(1) or m.group(2)


def _strip_string_literals(expr):
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", expr)


def unfiltered_uses(expr, names):
    expr = _strip_string_literals(expr)
    found = []
    for m in re.finditer(r'(?<![\w.])([a-z_][a-z0-9_]*)\b', expr):
        name = m.group(1)
        if name in names and not BOOL_AFTER.match(expr, m.end()):
            found.append(name)
    return found


def role_files():
    for role in ROLES:
        base = os.path.join(ROOT, 'roles', role)
        for sub in ('tasks', 'handlers', 'vars', 'defaults'):
            for path in sorted(glob.glob(os.path.join(base, sub, '*.yml'))):
                yield path, 'yaml'
        for path in sorted(glob.glob(os.path.join(base, 'templates', '**', '*'), recursive=True)):
            if os.path.isfile(path):
                yield path, 'template'


def find_unfiltered():
    names = bool_variables()
    problems = []
    for path, kind in role_files():
        if kind == 'yaml':
            exprs = list(_expressions(_load(path)))
        else:
            with open(path) as f:
                exprs = [a or b for a, b in JINJA.findall(f.read())]
        for expr in exprs:
            for name in unfiltered_uses(expr, names):
                problems.append('%s: %s in `%s`' % (os.path.relpath(path, ROOT), name, ' '.join(expr.split())))
    return problems


def test_bool_variables_found():
    names = bool_variables()
    # a sanity floor: the scan reads the specs at all
    assert {'project_build_vet', 'soft_roce_persistent', 'ebpf_toolchain_bpf2go'} <= names


def test_every_bool_variable_goes_through_bool():
    problems = find_unfiltered()
    assert not problems, (
        'boolean role variables used without `| bool` (a command-line -e VAR=false is a string):\n  '
        + '\n  '.join(problems))


@pytest.mark.parametrize('expr,bad', [
    ('project_build_vet', ['project_build_vet']),
    ('project_build_vet | bool', []),
    ('project_build_vet | default(true) | bool', []),
    ('not project_build_force and x', ['project_build_force']),
    ("'project_build_vet' in names", []),
    ('hostvars[h].project_build_vet', []),
])
def test_scanner(expr, bad):
    assert unfiltered_uses(expr, {'project_build_vet', 'project_build_force'}) == bad
