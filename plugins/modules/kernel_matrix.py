#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kernel_matrix
short_description: Turn per-kernel facts and test results into a kernel x test table (text, JSON, JUnit)
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Takes, per kernel, the facts the collection's own modules gathered on the host that ran it
    (M(labkit.ebpf_rdma.ebpf_facts) for the kernel release, BTF for vmlinux and for modules such as C(ib_core), whether
    each kprobe target exists and is attachable; M(labkit.ebpf_rdma.rdma_facts) for rdma_rxe loaded and rxe ports
    ACTIVE) and the C(summary.json) that the C(labkit.ebpf_rdma.project_test) role wrote for it, and writes the
    table kernel x test, each cell V(pass), V(fail) or V(skip) with its reason, under O(dest) as
    C(kernel-matrix.txt), C(kernel-matrix.json) and C(kernel-matrix.junit.xml) (one C(testsuite) per kernel).
  - A kernel that could not run (its VM did not boot, the converge failed, no rdma_rxe...) is a row with its
    reason (O(kernels[].error)); its cells are skipped with that reason, and nothing fails here.
  - Tests are reported per suite and Go package (C(summary.json) counts per package, names failed and skipped
    tests and the skip reasons).
  - Runs on the controller; writes only the three files (check mode and diff supported).
options:
  kernels:
    description: One item per kernel of the matrix, in the order of the table's columns.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The kernel's label in the table (e.g. V(5.10 bullseye)).
        type: str
        required: true
      host:
        description: The inventory host (VM) that ran it.
        type: str
        default: ''
      suite:
        description: The suite the kernel came from.
        type: str
        default: ''
      kernel_release:
        description: C(uname -r); empty takes C(kernel_release) of O(kernels[].ebpf).
        type: str
        default: ''
      ebpf:
        description: The C(labkit_ebpf) fact of M(labkit.ebpf_rdma.ebpf_facts) on that host ({} when not gathered).
        type: dict
        default: {}
      rdma:
        description: The C(labkit_rdma) fact of M(labkit.ebpf_rdma.rdma_facts) on that host ({} when not gathered).
        type: dict
        default: {}
      summary_file:
        description: The C(summary.json) of project_test for that host on the controller; empty or missing means
          the tests did not run.
        type: path
        default: ''
      error:
        description: Why this kernel could not run (empty when it ran); the row is kept, with this reason.
        type: str
        default: ''
  kprobe_targets:
    description: The kprobe targets the project uses (looked up in C(ebpf.kprobe_targets)).
    type: list
    elements: str
    default: []
  btf_modules:
    description: The modules whose BTF the project's CO-RE relocations need.
    type: list
    elements: str
    default: [ib_core]
  dest:
    description: Directory on the controller for the three files (made when missing).
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Write the kernel matrix of the hosts of this play
  labkit.ebpf_rdma.kernel_matrix:
    dest: "{{ lookup('ansible.builtin.env', 'HOME') }}/.local/state/labkit-ebpf_rdma/kernel-matrix"
    kprobe_targets: [ib_modify_qp_with_udata]
    kernels:
      - name: 6.1 bookworm
        host: km-bookworm
        suite: bookworm
        ebpf: "{{ hostvars['km-bookworm'].ansible_facts.labkit_ebpf | default({}) }}"
        rdma: "{{ hostvars['km-bookworm'].ansible_facts.labkit_rdma | default({}) }}"
        summary_file: ~/.local/state/labkit-ebpf_rdma/test-reports/km-bookworm/summary.json
      - name: 5.10 bullseye
        host: km-bullseye
        error: "the VM did not boot: ..."
  delegate_to: localhost
  run_once: true
  register: matrix
'''

RETURN = r'''
table:
  description: The text table (one line per test, one column per kernel, reasons numbered below it).
  returned: always
  type: list
  elements: str
rows:
  description: Per kernel C(name), C(host), C(suite), C(kernel_release), C(error), C(status) (pass, fail, error)
    and C(cells) (test -> C(status), C(reason)).
  returned: always
  type: list
  elements: dict
failed_kernels:
  description: Names of the kernels whose row is not a pass (a failed cell, or an error).
  returned: always
  type: list
  elements: str
files:
  description: The files written (text, json, junit).
  returned: always
  type: dict
  sample: {text: /home/me/.local/state/labkit-ebpf_rdma/kernel-matrix/kernel-matrix.txt}
actions:
  description: What was written (or would be in check mode).
  returned: always
  type: list
  elements: str
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import matrix


def read_summary(path):
    """The parsed summary.json, None when absent, or an error string when it cannot be parsed."""
    if not path:
        return None, ''
    text = common.read_text(path)
    if text is None:
        return None, ''
    try:
        data = json.loads(text)
    except ValueError as e:
        return None, 'the test summary %s is not JSON (%s)' % (path, e)
    if not isinstance(data, dict):
        return None, 'the test summary %s is not a JSON object' % path
    return data, ''


def main():
    module = AnsibleModule(argument_spec=dict(
        kernels=dict(type='list', elements='dict', required=True, options=dict(
            name=dict(type='str', required=True),
            host=dict(type='str', default=''),
            suite=dict(type='str', default=''),
            kernel_release=dict(type='str', default=''),
            ebpf=dict(type='dict', default={}),
            rdma=dict(type='dict', default={}),
            summary_file=dict(type='path', default=''),
            error=dict(type='str', default=''),
        )),
        kprobe_targets=dict(type='list', elements='str', default=[]),
        btf_modules=dict(type='list', elements='str', default=['ib_core']),
        dest=dict(type='path', required=True),
    ), supports_check_mode=True)
    p = module.params
    names = [k['name'] for k in p['kernels']]
    dupes = sorted(set(n for n in names if names.count(n) > 1))
    if dupes:
        module.fail_json(msg='kernels: the name %s is used more than once; give each kernel its own name (it labels '
                             'a column and a JUnit testsuite)' % dupes[0])
    kernels = []
    for k in p['kernels']:
        item = dict(k)
        summary, problem = read_summary(k['summary_file'])
        item['summary'] = summary
        if problem and not item['error']:
            item['error'] = problem
        kernels.append(item)
    rows = matrix.build_rows(kernels, p['kprobe_targets'], p['btf_modules'])
    texts = {'text': matrix.render_text(rows), 'json': matrix.render_json(rows), 'junit': matrix.render_junit(rows)}
    files = {'text': 'kernel-matrix.txt', 'json': 'kernel-matrix.json', 'junit': 'kernel-matrix.junit.xml'}
    paths = dict((k, os.path.join(p['dest'], v)) for k, v in files.items())
    if os.path.exists(p['dest']) and not os.path.isdir(p['dest']):
        module.fail_json(msg='dest %s exists and is not a directory; give a directory for the matrix files'
                             % p['dest'])
    actions = [a for a in (common.plan_file(paths[k], texts[k], 0o644, 'write the kernel matrix (%s) to %s'
                                            % (k, paths[k])) for k in sorted(files)) if a]
    common.apply_actions(module, actions)
    module.exit_json(**common.result_for(
        module, actions, table=texts['text'].rstrip('\n').split('\n'),
        rows=[dict((k, v) for k, v in r.items() if k != 'order') for r in rows],
        failed_kernels=[r['name'] for r in rows if r['status'] != matrix.PASS], files=paths))


if __name__ == '__main__':
    main()
