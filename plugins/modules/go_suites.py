#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: go_suites
short_description: Find the go test suites of a Go project and the environment its hardware tests read
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Reads a Go project's tree (the directory of its C(go.mod)) and returns the C(go test) suites to run, in order,
    for the role labkit.ebpf_rdma.project_test. Nothing is written and no command is run; C(go) is not needed,
    so it runs on the controller's copy of a project before the project is built on the host.
  - Without O(suites) the suites come from the project. V(unit) is always C(./...). Each tag of O(integration_tags)
    that the project uses gets a suite of its own, named after the tag, with that build tag; a package uses a tag when one
    of its C(*_test.go) files builds only with it (C(//go:build integration), or the old C(// +build) lines),
    evaluated for Linux on amd64 or arm64. A C(./<tag>) tree (C(./integration)) is such a suite too
    (C(./integration/...)), with the tag when its files need it.
  - A separate suite gets the hardware environment (C(LABKIT_RDMA_DEVICE), C(LABKIT_RDMA_NETDEV),
    C(LABKIT_RDMA_GID_INDEX), C(LABKIT_ROOT)) and, on a node of a fabric (O(fabric)), the fabric's nodes
    (C(LABKIT_FABRIC_SELF), C(LABKIT_FABRIC_NODES), C(LABKIT_FABRIC_DEVICE)). A project with no separate suite, whose hardware tests are plain tests
    that skip without a device, gets it in its V(unit) suite instead, and RV(notes) says that no separate integration
    suite was found; that is not an error.
  - With O(suites), those suites are checked against the tree; a package pattern that names no package of the project,
    a repeated or missing suite name, or a name in O(only) that is no suite fails the module, naming the variable to
    fix (O(var_prefix) + C(suites), C(packages) or C(only)).
options:
  path:
    description:
      - The project's directory (the one holding its C(go.mod)).
    type: path
    required: true
  suites:
    description:
      - Suites to run instead of the ones found. Keys C(name) (required; names the report files), C(packages) (package
        patterns, default C(./...)), C(tags), C(run) (a C(-run) regexp), C(timeout) (default C(10m)), C(env), C(user)
        (run as this user), C(hardware) (add the hardware environment, default V(true)).
      - Package patterns are relative (C(./dir), C(./dir/...), C(./cmd/.../x)) or start with the module path of
        C(go.mod); each must match a directory with C(.go) files (build tags are not considered).
    type: list
    elements: dict
    default: []
  only:
    description:
      - Return only the suites with these names (V([]) = all). A name that is no suite is an error.
    type: list
    elements: str
    default: []
  packages:
    description:
      - Package patterns that replace every suite's own (V([]) = keep them); checked like the suites' own.
    type: list
    elements: str
    default: []
  run:
    description:
      - A C(-run) regexp that replaces every suite's own (V('') = keep them).
    type: str
    default: ''
  extra_tags:
    description:
      - Build tags added to every suite's.
    type: list
    elements: str
    default: []
  integration_tags:
    description:
      - Build tags (and C(./<tag>) trees) that mark a separate hardware suite when the project uses them.
    type: list
    elements: str
    default: [integration, e2e]
  rdma:
    description:
      - The C(labkit_rdma) facts of the host (M(labkit.ebpf_rdma.rdma_facts)); the hardware environment is read from them.
      - V({}) leaves C(LABKIT_RDMA_NETDEV) and C(LABKIT_RDMA_GID_INDEX) out (and C(LABKIT_RDMA_DEVICE) unless
        O(rdma_device) is set).
    type: dict
    default: {}
  rdma_device:
    description:
      - The RDMA device for C(LABKIT_RDMA_DEVICE); V('') = the first device (by name) with an ACTIVE port in O(rdma).
    type: str
    default: ''
  fabric:
    description:
      - "The soft-RoCE fabric this host is a node of (role labkit.ebpf_rdma.fabric), for the cross-node tests. Keys
        C(self) (this host's name), C(rxe) (the fabric's rxe device, used for a node without C(node)) and C(nodes),
        the fabric's nodes in order, each C(name), C(node) (its C(fabric_node) fact, or V({})) and C(rdma) (its
        C(labkit_rdma) facts, read when C(node) is V({}); the device's IPv4-mapped RoCE v2 GID gives the GID, its
        index and the fabric address)."
      - When C(self) is one of C(nodes), the hardware environment gets C(LABKIT_FABRIC_SELF) (C(self)),
        C(LABKIT_FABRIC_NODES) (a JSON list, in node order, of objects C(name), C(address), C(device), C(gid),
        C(gid_index); an unknown value is C(null)) and C(LABKIT_FABRIC_DEVICE) (this node's C(device)). Otherwise
        (V({}), a host of no fabric) none of them is set.
    type: dict
    default: {}
  uid:
    description:
      - The user id the suites run as on the host (C(id -u) with the play's become); C(LABKIT_ROOT) is V(1) for a
        hardware suite that runs as root (and has no other C(user)), else V(0). Unset leaves C(LABKIT_ROOT) out.
    type: int
  goarch:
    description:
      - For test binaries built on the controller (role labkit.ebpf_rdma.project_test with a controller build), the
        guest's GOARCH. Each suite then also gets C(binaries), one per package whose C(*_test.go) files build with the
        suite's tags on linux/O(goarch) (C(package) import path, C(dir), C(pattern) and C(name), the binary's file
        name after the whole package path), and C(no_tests), the import paths of its other packages.
      - V('') plans no binaries.
    type: str
    choices: ['', amd64, arm64]
    default: ''
  var_prefix:
    description:
      - "Prefix of the variable names in error messages (the caller's variables: C(<prefix>suites),
        C(<prefix>packages), C(<prefix>only))."
    type: str
    default: project_test_
notes:
  - "A package pattern is checked against the directories that hold C(.go) files, with the go command's rules for
    C(./...): directories named C(testdata) or C(vendor), starting with C(.) or C(_), and nested modules are left out."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode returns the same result.
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Find the suites of the project on the controller, before building it on the host
  labkit.ebpf_rdma.go_suites:
    path: "{{ project_build_src }}"
    rdma: "{{ ansible_facts.labkit_rdma }}"
    uid: 0
  delegate_to: localhost
  become: false
  register: plan

- name: On a node of a fabric, give the hardware suites the fabric's nodes (LABKIT_FABRIC_*)
  labkit.ebpf_rdma.go_suites:
    path: /var/lib/labkit-project/rdma-ebpf-project/src
    rdma: "{{ ansible_facts.labkit_rdma }}"
    fabric:
      self: "{{ inventory_hostname }}"
      rxe: rxe1
      nodes:
        - {name: fabnode1, node: "{{ hostvars['fabnode1'].fabric_node | default({}) }}", rdma: {}}
        - {name: fabnode2, node: "{{ hostvars['fabnode2'].fabric_node | default({}) }}", rdma: {}}

- name: A configured suite (a misnamed package fails here, naming project_test_suites)
  labkit.ebpf_rdma.go_suites:
    path: /var/lib/labkit-project/myproject/src
    suites:
      - name: e2e
        packages: ["./test/e2e/..."]
        tags: [e2e]
        timeout: 20m
'''

RETURN = r'''
suites:
  description: The suites to run, in order, with every key filled in; C(env) holds the hardware environment; with
    O(goarch), C(binaries) and C(no_tests) too.
  returned: success
  type: list
  elements: dict
  sample:
    - {name: unit, packages: ["./..."], tags: [], run: "", timeout: 5m, env: {}, user: null, hardware: false}
    - name: integration
      packages: ["./integration/..."]
      tags: [integration]
      run: ""
      timeout: 10m
      user: null
      hardware: true
      env: {LABKIT_RDMA_DEVICE: rxe0, LABKIT_RDMA_NETDEV: ens4, LABKIT_RDMA_GID_INDEX: "1", LABKIT_ROOT: "1"}
      # on a node of a fabric, also LABKIT_FABRIC_SELF, LABKIT_FABRIC_NODES, LABKIT_FABRIC_DEVICE (see hardware_env)
      binaries:
        - {package: example.invalid/rdmaebpf/integration, dir: integration, pattern: ./integration,
           name: integration.test}
      no_tests: []
found:
  description: Per tag of O(integration_tags), the directories with tests behind it (C(tagged)) and whether a C(./<tag>)
    tree exists (C(tree)).
  returned: success
  type: dict
  sample: {integration: {tagged: ["./integration"], tree: true}, e2e: {tagged: [], tree: false}}
hardware_env:
  description: The hardware environment read from O(rdma) (without C(LABKIT_ROOT), which is per suite).
  returned: success
  type: dict
  sample:
    LABKIT_RDMA_DEVICE: rxe0
    LABKIT_RDMA_NETDEV: ens4
    LABKIT_RDMA_GID_INDEX: "1"
    LABKIT_FABRIC_SELF: fabnode2
    LABKIT_FABRIC_DEVICE: rxe1
    LABKIT_FABRIC_NODES: >-
      [{"name":"fabnode1","address":"10.77.0.1","device":"rxe1","gid":"0000:0000:0000:0000:0000:ffff:0a4d:0001","gid_index":1},
      {"name":"fabnode2","address":"10.77.0.2","device":"rxe1","gid":"0000:0000:0000:0000:0000:ffff:0a4d:0002","gid_index":1}]
module_path:
  description: The module path of C(go.mod).
  returned: success
  type: str
  sample: example.invalid/rdmaebpf
notes:
  description: What the caller should print, one sentence each (no separate integration suite found, no RDMA device...).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import gosuites as gs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            suites=dict(type='list', elements='dict', default=[]),
            only=dict(type='list', elements='str', default=[]),
            packages=dict(type='list', elements='str', default=[]),
            run=dict(type='str', default=''),
            extra_tags=dict(type='list', elements='str', default=[]),
            integration_tags=dict(type='list', elements='str', default=list(gs.DEFAULT_INTEGRATION_TAGS)),
            rdma=dict(type='dict', default={}),
            rdma_device=dict(type='str', default=''),
            fabric=dict(type='dict', default={}),
            uid=dict(type='int'),
            goarch=dict(type='str', default='', choices=['', 'amd64', 'arm64']),
            var_prefix=dict(type='str', default='project_test_'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    gomod = os.path.join(p['path'], 'go.mod')
    if not os.path.isfile(gomod):
        module.fail_json(msg='%s is missing: %s is not the directory of a Go module; point it at the directory of the '
                             "project's go.mod (role project_test: %ssrc_dir, or project_build_src before the build)"
                             % (gomod, p['path'], p['var_prefix']), notes=[])
    tree = gs.scan_tree(p['path'])
    try:
        suites, found, notes, errors = gs.plan_suites(
            tree, configured=p['suites'], only=p['only'], packages=p['packages'], run=p['run'],
            extra_tags=p['extra_tags'], integration_tags=p['integration_tags'], var_prefix=p['var_prefix'])
    except gs.ConstraintError as e:
        module.fail_json(msg='a build constraint of %s cannot be read (%s); fix the //go:build line' % (p['path'], e),
                         notes=[])
    if errors:
        module.fail_json(msg='the test suites of %s are misconfigured (nothing was built or run): %s'
                         % (p['path'], ' | '.join(errors)), errors=errors, found=found, notes=notes)
    hw_env, hw_notes = gs.hardware_env(p['rdma'], p['rdma_device'], p['uid'])
    fabric_env, fabric_notes = gs.fabric_env(p['fabric'])
    hw_env.update(fabric_env)
    hw_notes = hw_notes + fabric_notes
    if any(s['hardware'] for s in suites):
        notes = notes + hw_notes
    for s in suites:
        s['env'] = gs.suite_env(s, hw_env, p['uid'])
    if p['goarch']:
        try:
            suites = gs.plan_binaries(tree, suites, p['goarch'])
        except gs.ConstraintError as e:
            module.fail_json(msg='a build constraint of %s cannot be read (%s); fix the //go:build line'
                             % (p['path'], e), notes=[])
    module.exit_json(changed=False, suites=suites, found=found, notes=notes, hardware_env=hw_env,
                     module_path=tree['module'])


if __name__ == '__main__':
    main()
