# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad role variables: each is refused with a message that names the variable and the fix,
and nothing is written. Ansible itself evaluates them: one ansible-playbook run on localhost
(no VM) in check mode per group of cases, values given with -e as a user types them."""

import os
import stat

import pytest

from conftest import ROOT
from playbook_runner import run_cases

SPECS = os.path.join(ROOT, 'roles', '%s', 'meta', 'argument_specs.yml')


def _validate(role, var):
    """The role's own argument_specs check of one variable given with -e."""
    return [{'name': 'validate %s' % var, 'ansible.builtin.validate_argument_spec': {
        'argument_spec': "{{ (lookup('ansible.builtin.file', %r) | from_yaml).argument_specs.main.options }}"
                         % (SPECS % role),
        'provided_arguments': {var: "{{ %s }}" % var}}}]


# (role, variable, -e value, what the message must say besides the variable name)
BAD_VALUES = [
    ('project_build', 'project_build_vet', 'maybe', "Valid booleans include"),
    ('project_build', 'project_build_force', '2', "Valid booleans include"),
    ('project_build', 'project_build_generate', 'perhaps', "Valid booleans include"),
    ('project_build', 'project_build_modules_from', 'elsewhere', 'must be one of: controller, host'),
    ('ebpf_toolchain', 'ebpf_toolchain_go_method', 'magic', 'must be one of: auto, distro, controller, archive'),
    ('ebpf_toolchain', 'ebpf_toolchain_bpf2go', 'sometimes', "Valid booleans include"),
    ('soft_roce', 'soft_roce_persistent', 'kinda', "Valid booleans include"),
    ('ebpf_host', 'ebpf_host_memlock_systemd_default', 'never', "Valid booleans include"),
]


@pytest.fixture(scope='module')
def bad_value_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad-values')
    cases = {var: _validate(role, var) for role, var, _v, _m in BAD_VALUES}
    extra = []
    for _role, var, value, _m in BAD_VALUES:
        extra += ['-e', '%s=%s' % (var, value)]
    return run_cases(tmp, cases, extra)


@pytest.mark.parametrize('role,var,value,fix', BAD_VALUES, ids=[b[1] for b in BAD_VALUES])
def test_bad_value_is_refused_naming_the_variable_and_the_valid_values(bad_value_results, role, var, value, fix):
    msg = bad_value_results[var]
    assert msg is not None, '%s=%s was accepted' % (var, value)
    assert var in msg and fix in msg, msg


# ------------------------------------------------------------ project_build_gomodcache

def _gomodcache(path, uid):
    return [{'name': 'check %s' % path, 'ansible.builtin.include_role': {
        'name': 'labkit.ebpf_rdma.project_build', 'tasks_from': 'private_dir'},
        'vars': {'__project_build_private_dirs': [{'var': 'project_build_gomodcache', 'path': str(path)}],
                 '__project_build_private_uid': str(uid),
                 '__project_build_private_mode': '0755'}}]


@pytest.fixture(scope='module')
def gomodcache_cases(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('making a directory owned by another user needs root')
    tmp = tmp_path_factory.mktemp('gomodcache')
    me = os.geteuid()
    paths = {}
    paths['foreign'] = tmp / 'foreign'
    paths['foreign'].mkdir(mode=0o755)
    os.chown(paths['foreign'], 65534, 65534)
    for name, mode in (('world', 0o777), ('group', 0o775), ('good', 0o755)):
        paths[name] = tmp / name
        paths[name].mkdir()
        os.chmod(paths[name], mode)
    paths['symlink'] = tmp / 'symlink'
    os.symlink(str(paths['good']), str(paths['symlink']))
    paths['file'] = tmp / 'file'
    paths['file'].write_text('not a directory\n')
    paths['missing'] = tmp / 'missing' / 'gomod'
    before = {name: os.lstat(str(p)) for name, p in paths.items() if os.path.lexists(str(p))}
    cases = {name: _gomodcache(p, me) for name, p in paths.items()}
    cases['relative'] = _gomodcache('var/cache/gomod', me)
    # the build cache next to it is checked the same way
    cases['cache_dir'] = _gomodcache(paths['good'], me)
    cases['cache_dir'][0]['vars']['__project_build_private_dirs'].insert(
        0, {'var': 'project_build_cache_dir', 'path': str(paths['foreign'])})
    results = run_cases(tmp, cases)
    after = {name: os.lstat(str(p)) for name, p in paths.items() if os.path.lexists(str(p))}
    return paths, results, before, after


@pytest.mark.parametrize('case,says', [
    ('foreign', ['owned by', '(uid 65534)', 'build runs as uid 0']),
    ('world', ['with mode 0777', 'group and others cannot write', 'chmod go-w']),
    ('group', ['with mode 0775', 'chmod go-w']),
    ('symlink', ['is a symlink']),
    ('file', ['is not a directory']),
    ('relative', ['var/cache/gomod', 'is a relative path: set an absolute path']),
    ('cache_dir', ['owned by', '(uid 65534)']),
])
def test_untrusted_gomodcache_is_refused_with_the_fix(gomodcache_cases, case, says):
    paths, results, before, after = gomodcache_cases
    msg = results[case]
    assert msg is not None, '%s was accepted' % case
    assert msg.startswith('project_build_cache_dir=' if case == 'cache_dir' else 'project_build_gomodcache='), msg
    for text in says:
        assert text in msg, msg
    assert 'Fix: remove it' in msg or case == 'relative', msg
    assert 'to a directory of your own' in msg or case == 'relative', msg


def test_refused_and_missing_gomodcache_are_left_untouched_in_check_mode(gomodcache_cases):
    paths, results, before, after = gomodcache_cases
    assert results['good'] is None and results['missing'] is None
    assert not os.path.lexists(str(paths['missing']))  # check mode: not created
    for name, st in before.items():
        assert (after[name].st_uid, stat.S_IMODE(after[name].st_mode)) == (st.st_uid, stat.S_IMODE(st.st_mode)), name


def test_the_default_gomodcache_is_under_the_root_owned_cache_dir():
    import yaml
    with open(os.path.join(ROOT, 'roles', 'project_build', 'defaults', 'main.yml')) as f:
        defaults = yaml.safe_load(f)
    assert defaults['project_build_gomodcache'] == '{{ project_build_cache_dir }}/gomod'
    assert defaults['project_build_cache_dir'].startswith('/var/cache/')
    assert 'XDG_CACHE_HOME' in defaults['project_build_controller_dir']


# ------------------------------------------------------------ foreign go, gofmt, bpf2go (ebpf_toolchain)

def _toolchain(bin_dir, root, method, extra=None):
    role_vars = {'ebpf_toolchain_go_bin_dir': str(bin_dir), 'ebpf_toolchain_go_root': str(root),
                 'ebpf_toolchain_go_method_used': method}
    role_vars.update(extra or {})
    role = 'labkit.ebpf_rdma.ebpf_toolchain'
    return [{'name': 'read %s' % bin_dir, 'vars': role_vars,
             'ansible.builtin.include_role': {'name': role, 'tasks_from': 'links'}},
            {'name': 'refuse foreign', 'vars': role_vars,
             'ansible.builtin.include_role': {'name': role, 'tasks_from': 'foreign'}}]


@pytest.fixture(scope='module')
def toolchain_cases(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('toolchain')
    root = tmp / 'labkit'
    (root / 'bpf2go-v0.19.0').mkdir(parents=True)
    (root / 'bpf2go-v0.19.0' / 'bpf2go').write_text('#!/bin/sh\n')
    shared = tmp / 'shared-bin'
    shared.mkdir()
    (shared / 'go').write_text('#!/bin/sh\necho the host\'s own go\n')
    os.symlink('/opt/colleague/go/bin/gofmt', str(shared / 'gofmt'))
    os.symlink(str(root / 'bpf2go-v0.19.0' / 'bpf2go'), str(shared / 'bpf2go'))
    ours = tmp / 'our-bin'
    ours.mkdir()
    os.symlink(str(root / 'go1.27.3' / 'bin' / 'go'), str(ours / 'go'))
    before = sorted((p.name, os.readlink(str(p)) if p.is_symlink() else p.read_text()) for p in shared.iterdir())
    cases = {
        'foreign': _toolchain(shared, root, 'controller'),
        'replace_allowed': _toolchain(shared, root, 'controller', {'ebpf_toolchain_replace_foreign': 'true'}),
        'distro_go_not_linked': _toolchain(shared, root, 'distro', {'ebpf_toolchain_bpf2go': 'yes'}),
        'only_ours': _toolchain(ours, root, 'controller'),
    }
    cases['fact'] = _toolchain(shared, root, 'distro') + [
        {'name': 'report the fact', 'ansible.builtin.fail': {'msg': '{{ labkit_foreign_toolchain_links | to_json }}'}}]
    results = run_cases(tmp, cases)
    after = sorted((p.name, os.readlink(str(p)) if p.is_symlink() else p.read_text()) for p in shared.iterdir())
    return shared, results, before, after


def test_foreign_go_and_gofmt_are_refused_with_the_fix(toolchain_cases):
    shared, results, before, after = toolchain_cases
    msg = results['foreign']
    assert msg is not None, 'a foreign go was going to be replaced'
    assert '%s/go on localhost is a regular file' % shared in msg, msg
    assert '%s/gofmt on localhost is a link to /opt/colleague/go/bin/gofmt' % shared in msg, msg
    assert 'bpf2go' not in msg.split(': labkit did not install')[0], msg  # labkit's own link is fine
    assert 'never replaces what it did not install' in msg
    assert 'ebpf_toolchain_replace_foreign=true' in msg and 'ebpf_toolchain_go_bin_dir=""' in msg, msg
    assert before == after  # nothing replaced


def test_foreign_entries_pass_when_allowed_or_not_to_be_linked(toolchain_cases):
    _shared, results, _b, _a = toolchain_cases
    assert results['replace_allowed'] is None
    assert results['distro_go_not_linked'] is None
    assert results['only_ours'] is None


def test_foreign_entries_are_published_for_the_preflight_report(toolchain_cases):
    shared, results, _b, _a = toolchain_cases
    import json
    fact = sorted(json.loads(results['fact']), key=lambda f: f['path'])
    assert fact == [{'path': '%s/go' % shared, 'kind': 'file', 'target': ''},
                    {'path': '%s/gofmt' % shared, 'kind': 'link', 'target': '/opt/colleague/go/bin/gofmt'}]
