# SPDX-License-Identifier: GPL-3.0-or-later
"""Role preflight's one template set, rendered by Ansible on localhost (no VM).

host.json.j2 makes a host's report from the module results the role registers;
host.txt.j2 shows it (per host, and for every host inside table.txt.j2). The
module results here are shaped like the RETURN samples of ebpf_facts and
rdma_facts (a dev VM after dev-vm.yml: rxe0 ACTIVE, memlock unlimited).
"""

import json
import os

import pytest
import yaml

from conftest import ROOT
from playbook_runner import run_cases

TEMPLATES = os.path.join(ROOT, 'roles', 'preflight', 'templates')

EBPF = {'ansible_facts': {'labkit_ebpf': {
    'kernel_release': '6.1.0-50-amd64', 'architecture': 'x86_64',
    'btf': {'vmlinux': True, 'modules': {'ib_core': {'btf': True, 'loaded': True}}},
    'tracefs': {'path': '/sys/kernel/tracing', 'mounted_as': 'tracefs', 'filter_functions_readable': True},
    'memlock': {'soft': 'unlimited', 'hard': 'unlimited'}, 'memlock_new_session': 'unlimited',
    'bpf_memory_accounting': 'memcg', 'lockdown': {'mode': 'none'},
    'unprivileged_bpf_disabled': {'value': 2},
    'headers': {'build_dir': '/lib/modules/6.1.0-50-amd64/build', 'present': True},
    'tools': {'clang': {'path': '/usr/bin/clang', 'version': '14.0.6', 'line': 'Debian clang version 14.0.6'},
              'go': {'path': '/usr/local/bin/go', 'version': '1.22.5', 'line': 'go version go1.22.5 linux/amd64'},
              'bpftool': {'path': '/usr/sbin/bpftool', 'version': '7.1.0', 'line': 'bpftool v7.1.0'},
              'bpf2go': {'path': '/usr/local/bin/bpf2go', 'version': None, 'line': None}},
    'kprobe_targets': {'ib_modify_qp_with_udata': {'attachable': True, 'modules': ['ib_core']}},
    'bpftool': {'features': {'gen_skeleton': True}},
}}, 'problems': []}
RDMA = {'ansible_facts': {'labkit_rdma': {
    'rxe_loaded': True, 'links': [{'name': 'rxe0', 'netdev': 'eth0'}], 'problems': [],
    'devices': {'rxe0': {'driver': 'rxe', 'netdev': 'eth0', 'ports': [{
        'port': 1, 'netdev': 'eth0', 'state': 'ACTIVE', 'physical_state': 'LINK_UP', 'active_mtu': 1024,
        'ipv4_gid_index': 1,
        'gids': [{'index': 1, 'gid': '0000:0000:0000:0000:0000:ffff:0a00:020f', 'type': 'RoCE v2',
                  'ip': '10.0.2.15'}]}]}},
}}}
KERNEL = {'running': '6.1.0-50-amd64', 'installed': ['6.1.0-50-amd64'], 'newer_installed': [],
          'headers_ok': True, 'headers_build_dir': '/lib/modules/6.1.0-50-amd64/build', 'headers_message': '',
          'headers_for': ['6.1.0-50-amd64'], 'reboot_needed': False, 'reboot_reasons': []}
VARS = {'__preflight_ebpf': EBPF, '__preflight_rdma_facts': RDMA, 'preflight_kernel': KERNEL,
        '__preflight_rdma_facts_from': 'soft_roce', 'preflight_memlock': 'unlimited', 'preflight_rxe_links': ['rxe0'],
        'preflight_softroce_on_hardware': False, '__preflight_python_apt': {'rc': 0}}


def render(tmp_path, variables):
    """{'report': host.json.j2, 'host': host.txt.j2 of it, 'table': table.txt.j2 of one host}."""
    out = tmp_path / 'out.json'
    tasks = [
        {'name': 'report', 'ansible.builtin.set_fact': {
            'r': "{{ lookup('ansible.builtin.template', '%s/host.json.j2') | from_json }}" % TEMPLATES}},
        {'name': 'text', 'ansible.builtin.set_fact': {
            'h': "{{ lookup('ansible.builtin.template', '%s/host.txt.j2', template_vars={'rep': r}) }}" % TEMPLATES,
            'preflight_summary': {'hosts': {'localhost': '{{ r }}'}, 'not_ready': []}}},
        {'name': 'table', 'ansible.builtin.set_fact': {
            't': "{{ lookup('ansible.builtin.template', '%s/table.txt.j2') }}" % TEMPLATES}},
        {'name': 'write', 'check_mode': False, 'ansible.builtin.copy': {
            'content': "{{ {'report': r, 'host': h, 'table': t} | to_json }}", 'dest': str(out), 'mode': '0600'}},
    ]
    vars_file = tmp_path / 'vars.yml'
    vars_file.write_text(yaml.safe_dump(variables))
    failures = run_cases(tmp_path, {'render': tasks}, extra_args=['-e', '@' + str(vars_file)])
    assert failures == {'render': None}
    return json.loads(out.read_text())


@pytest.fixture(scope='module')
def ready(tmp_path_factory):
    return render(tmp_path_factory.mktemp('ready'), VARS)


def test_a_converged_dev_vm_is_ready(ready):
    rep = ready['report']
    assert rep['ready'] is True and rep['problems'] == []
    assert rep['generated_by'] == 'labkit.ebpf_rdma.preflight'
    assert rep['tools'] == {'bpf2go': 'installed', 'bpftool': 'bpftool v7.1.0', 'clang': 'Debian clang version 14.0.6',
                            'go': 'go version go1.22.5 linux/amd64'}
    assert rep['rdma']['facts_from'] == 'soft_roce'
    assert rep['rdma']['ports'][0]['gids'] == ['1 0000:0000:0000:0000:0000:ffff:0a00:020f RoCE v2 10.0.2.15']
    assert rep['bpftool_features'] == {'gen_skeleton': True}


def test_one_text_per_host_in_the_summary_and_the_table(ready):
    host = ready['host']
    assert host.startswith('== localhost: ready\n')
    assert '  rdma       rxe0/1 (rxe) on eth0: ACTIVE LINK_UP, mtu 1024, IPv4 GID index 1\n' in host
    assert '  memlock    new root session unlimited, wanted unlimited (BPF memory by memcg)\n' in host
    table = ready['table']
    assert table.startswith('labkit.ebpf_rdma preflight: 1 host(s), not ready: none\n')
    assert table.rstrip('\n').endswith(host.rstrip('\n'))


def test_missing_link_memlock_and_tool_are_problems_with_fixes(tmp_path):
    ebpf = json.loads(json.dumps(EBPF))
    ebpf['ansible_facts']['labkit_ebpf']['memlock_new_session'] = '8192'
    ebpf['ansible_facts']['labkit_ebpf']['tools']['go'] = None
    rdma = {'ansible_facts': {'labkit_rdma': {'rxe_loaded': False, 'links': [], 'problems': [], 'devices': {}}}}
    got = render(tmp_path, dict(VARS, __preflight_ebpf=ebpf, __preflight_rdma_facts=rdma,
                                __preflight_rdma_facts_from='preflight'))
    problems = got['report']['problems']
    assert got['report']['ready'] is False
    assert [p.split(':')[0] for p in problems] == [
        'memlock for a new session is 8192 KiB, less than unlimited (labkit_memlock)',
        'go is not installed (not on PATH)', 'soft-RoCE link rxe0 does not exist', 'no ACTIVE RDMA port']
    assert '  go         NOT FOUND\n' in got['host'] and 'rdma       no RDMA device (rdma_rxe not loaded)' in got['host']


def test_without_rdma_no_rdma_checks(tmp_path):
    got = render(tmp_path, dict(VARS, __preflight_rdma_facts={'skipped': True}, __preflight_rdma_facts_from=None))
    assert got['report']['ready'] is True
    assert got['report']['rdma']['ports'] == [] and got['report']['rdma']['facts_from'] is None
    assert 'rdma ' not in got['host']
