#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: go_test_binaries
short_description: Build Go test binaries on the controller for a guest, and turn their output into go test -json
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - The controller half of the role labkit.ebpf_rdma.project_test when the project was built on the controller
    (C(project_build_result_where=controller)). Runs on the controller (with C(delegate_to) localhost).
  - O(step=build) runs C(go test -c) once per package of each suite (the C(binaries) that
    M(labkit.ebpf_rdma.go_suites) plans with its C(goarch) option), with the suite's build tags and the cross
    environment (M(labkit.ebpf_rdma.cross_toolchain) RV(labkit.ebpf_rdma.cross_toolchain#module:env)), into
    C(<dest>/<suite>/<name>) where the name comes from the whole package path. It returns each binary's SHA-256 and
    whether it differs from what O(shipped) says the host has. (The role labkit.ebpf_rdma.project_test stages all of
    them with M(labkit.ebpf_rdma.stage_files), which sends only the changed ones, and passes no O(shipped).)
  - O(step=convert) turns the output of test binaries run with C(-test.v=test2json) (O(runs)) into the
    C(go test -json) stream of the suite with C(go tool test2json -t) on the controller (the C(Time) of the events
    is then the time of the conversion), adding what C(go test) itself adds (the
    package's C(ok)/C(FAIL) line, its elapsed time, a failure when the binary died) and the packages without test
    files (O(no_tests)), so the role writes the same stream, JUnit and summary as a C(go test -json) run on the host.
options:
  step:
    description: V(build) the binaries, or V(convert) the output of their runs.
    type: str
    choices: [build, convert]
    required: true
  path:
    description: The project's directory on the controller (its C(go.mod)); O(step=build).
    type: path
  suites:
    description: The suites from M(labkit.ebpf_rdma.go_suites) with C(binaries) (its O(labkit.ebpf_rdma.go_suites#module:goarch)); O(step=build).
    type: list
    elements: dict
    default: []
  dest:
    description: Controller directory of the binaries (C(<dest>/<suite>/<name>)); O(step=build).
    type: path
  shipped:
    description: What the host has, C(<suite>/<name>) -> SHA-256, when the caller keeps such a record; a binary
      whose hash differs is marked to ship (the C(ship) field of RV(binaries)).
    type: dict
    default: {}
  go:
    description: The Go command on the controller.
    type: str
    default: go
  env:
    description: Environment of C(go test -c) (the cross environment; C(GOOS), C(GOARCH), C(CC)...).
    type: dict
    default: {}
  host_src:
    description: O(step=build) the project's directory on the host (where the binaries run, each in its package's
      directory); RV(runs) is built from it.
    type: str
    default: ''
  host_dir:
    description: O(step=build) the host directory the binaries are shipped to (C(<host_dir>/<suite>/<name>));
      V('') = C(<host_src>/.labkit/tests).
    type: str
    default: ''
  count:
    description: O(step=build) C(-test.count) of every run.
    type: int
    default: 1
  runs:
    description: O(step=convert) the runs of one suite's binaries, in order; keys C(package) (import path),
      C(rc), C(output) (stdout and stderr of the binary, in the order written) and C(elapsed) (seconds).
    type: list
    elements: dict
    default: []
  no_tests:
    description: O(step=convert) import paths of the suite's packages without test files.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: O(step=build) builds nothing in check mode and reports changed (RV(binaries) have an empty C(sha256) and
      are not shipped);
      O(step=convert) only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Build the test binaries on the controller
  labkit.ebpf_rdma.go_test_binaries:
    step: build
    path: "{{ project_build_result_controller_src }}"
    suites: "{{ plan.suites }}"
    dest: ~/.cache/labkit-ebpf_rdma/project/test-binaries/devvm
    env: "{{ project_build_result_cross_env }}"
  delegate_to: localhost
  become: false
  register: built

- name: The go test -json stream of a suite from its runs in the guest
  labkit.ebpf_rdma.go_test_binaries:
    step: convert
    runs: "{{ ran.stdout | from_json }}"
    no_tests: "{{ suite.no_tests }}"
  delegate_to: localhost
  become: false
  register: converted
'''

RETURN = r'''
binaries:
  description: O(step=build) every binary built, in suite order.
  returned: success
  type: list
  elements: dict
  sample:
    - {suite: integration, package: example.invalid/rdmaebpf/integration, dir: integration, name: integration.test,
       rel: integration/integration.test, controller_path: /home/u/.cache/x/integration/integration.test,
       sha256: 0c4f..., ship: true}
manifest:
  description: O(step=build) C(<suite>/<name>) -> SHA-256 of every binary, to keep on the host.
  returned: success
  type: dict
runs:
  description: O(step=build) per suite, what the host runs (the runner script of the role reads it); each run has the
    C(package), the C(binary) and C(dir) on the host and the C(args) C(go test -json) would give the binary (with
    C(-test.v=test2json), the suite's C(-test.timeout) and C(-test.run)).
  returned: success
  type: dict
  sample:
    integration:
      - {package: example.invalid/rdmaebpf/integration, binary: /var/lib/p/src/.labkit/tests/integration/integration.test,
         dir: /var/lib/p/src/integration, args: [-test.v=test2json, -test.paniconexit0, -test.count=1, -test.timeout=10m]}
stream:
  description: O(step=convert) the C(go test -json) stream of the suite (one JSON event a line).
  returned: success
  type: str
rc:
  description: O(step=convert) the suite's exit status as C(go test) would give it (0, or the first non-zero exit
    status of a binary).
  returned: success
  type: int
stderr:
  description: O(step=convert) what went wrong outside the tests (a binary that could not be run), else V('').
  returned: success
  type: str
'''

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import gosuites as gs

FIRST_LINES = 15


def sha256_file(path):
    h = hashlib.sha256()
    try:
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
    except (IOError, OSError):
        return ''
    return h.hexdigest()


def build_argv(go, suite, binary, out):
    argv = [go, 'test', '-c', '-o', out]
    if suite.get('tags'):
        argv += ['-tags', ','.join(suite['tags'])]
    return argv + [binary['pattern']]


def plan_ship(binaries, shipped):
    """Mark the binaries whose hash differs from the host's manifest (pure)."""
    for b in binaries:
        b['ship'] = bool(b['sha256']) and shipped.get(b['rel']) != b['sha256']
    return binaries


def host_runs(suites, host_src, host_dir, count):
    """Per suite, the runs of its binaries on the host (pure)."""
    host_dir = host_dir or host_src.rstrip('/') + '/.labkit/tests'
    runs = {}
    for s in suites:
        runs[s['name']] = [{'package': b['package'], 'binary': '%s/%s/%s' % (host_dir, s['name'], b['name']),
                            'dir': host_src.rstrip('/') + ('/' + b['dir'] if b['dir'] else ''),
                            'args': gs.test_binary_args(s, count)} for b in s.get('binaries') or []]
    return runs


def build(module):
    p = module.params
    for opt in ('path', 'dest', 'host_src'):
        if not p[opt]:
            module.fail_json(msg='step=build needs %s' % opt)
    binaries, before = [], {}
    runs = host_runs(p['suites'], p['host_src'], p['host_dir'], p['count'])
    for s in p['suites']:
        if 'binaries' not in s:
            module.fail_json(msg='suite %s has no binaries: plan the suites with go_suites and its goarch option '
                                 '(the guest\'s GOARCH)' % s.get('name'))
        for b in s['binaries']:
            rel = '%s/%s' % (s['name'], b['name'])
            out = os.path.join(p['dest'], s['name'], b['name'])
            before[rel] = sha256_file(out)
            binaries.append(dict(b, suite=s['name'], tags=list(s.get('tags') or []), rel=rel, controller_path=out, sha256='', ship=False,
                                 argv=build_argv(p['go'], s, b, out)))
    if module.check_mode:
        for b in binaries:
            b.pop('argv')
        module.exit_json(changed=bool(binaries), binaries=binaries, manifest={}, runs=runs)
    for b in binaries:
        d = os.path.dirname(b['controller_path'])
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        rc, out, err = module.run_command(b['argv'], cwd=p['path'], environ_update=dict(
            (k, str(v)) for k, v in p['env'].items()))
        if rc != 0:
            lines = [ln for ln in (err or out).strip().splitlines() if ln.strip()]
            module.fail_json(
                msg='go test -c of %s (suite %s) failed on the controller: %s%s. Fix the code (or the suite\'s tags); '
                    'nothing was run in the guest' % (
                        b['package'], b['suite'], ' | '.join(lines[:FIRST_LINES]),
                        ' | ...' if len(lines) > FIRST_LINES else ''),
                cmd=b['argv'], rc=rc, stdout=out, stderr=err)
        b['sha256'] = sha256_file(b['controller_path'])
        if not b['sha256']:
            tags = ','.join(b.get('tags') or []) or '(none)'
            module.fail_json(msg='go test -c of %s (suite %s) wrote no %s: the package has no test files for tags '
                                 '%s; fix the suite\'s packages' % (b['package'], b['suite'], b['controller_path'], tags),
                             cmd=b['argv'])
        b.pop('argv')
    plan_ship(binaries, p['shipped'])
    changed = any(before[b['rel']] != b['sha256'] for b in binaries)
    module.exit_json(changed=changed, binaries=binaries, manifest=dict((b['rel'], b['sha256']) for b in binaries),
                     runs=runs)


def convert(module):
    p = module.params
    lines, rc, errors = [], 0, []
    for run in p['runs']:
        pkg = run.get('package')
        if not pkg:
            module.fail_json(msg='a run has no package: %r' % (dict((k, v) for k, v in run.items() if k != 'output'),))
        run_rc = int(run.get('rc') or 0)
        out = run.get('output') or ''
        argv = [p['go'], 'tool', 'test2json', '-t', '-p', pkg]
        t2j_rc, events, t2j_err = module.run_command(argv, data=out, binary_data=True)
        if t2j_rc != 0:
            module.fail_json(msg='go tool test2json failed on the controller (exit %d): %s; check the Go installation '
                                 '(%s)' % (t2j_rc, (t2j_err or events).strip(), p['go']))
        lines.extend(gs.complete_stream(events, pkg, run_rc, run.get('elapsed') or 0))
        if run_rc != 0 and rc == 0:
            rc = run_rc
        if run.get('error'):
            errors.append('%s: %s' % (pkg, run['error']))
    for pkg in p['no_tests']:
        lines.extend(gs.no_test_files_stream(pkg))
    module.exit_json(changed=False, stream='\n'.join(lines) + ('\n' if lines else ''), rc=rc, stderr='\n'.join(errors))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type='str', required=True, choices=['build', 'convert']),
            path=dict(type='path'),
            suites=dict(type='list', elements='dict', default=[]),
            dest=dict(type='path'),
            shipped=dict(type='dict', default={}),
            go=dict(type='str', default='go'),
            env=dict(type='dict', default={}),
            runs=dict(type='list', elements='dict', default=[]),
            no_tests=dict(type='list', elements='str', default=[]),
            host_src=dict(type='str', default=''),
            host_dir=dict(type='str', default=''),
            count=dict(type='int', default=1),
        ),
        supports_check_mode=True,
    )
    if module.params['step'] == 'build':
        build(module)
    convert(module)


if __name__ == '__main__':
    main()
