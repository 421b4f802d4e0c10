#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: build_step
short_description: Run one incremental build step when what feeds it changed
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Hashes the files under O(chdir) that feed the step (sha256 of each relative path and content), together with
    O(key_material), O(env) and O(argv), into the step's key.
  - Runs O(argv) in O(chdir) with O(env) only when that key differs from the stamp of the step's last successful run,
    when the files it writes (O(outputs)) are not those it wrote last time, or with O(force=true). The stamp is then
    written to C(<stamp_dir>/stamps.json) (one entry per O(name)); a failed run leaves the old stamp.
  - "A failed Go command is read (C(file:line:col: message) lines of C(go vet), C(go build), C(go generate) and cgo's
    C compiler): failures in the user's code are reported as findings, with O(knob) (how to skip the step) in the
    same message; other failures with the tail of the output."
  - The role C(labkit.ebpf_rdma.project_build) composes its steps (generate, vet, build, binaries) from this module,
    on the host or on the controller (C(delegate_to) C(localhost)).
options:
  name:
    description: Name of the step (its entry in the stamp file and in messages), for example V(vet).
    type: str
    required: true
  argv:
    description: The command, as an argument list (never a shell string). The first element is looked up in the
      C(PATH) of O(env) when it is not a path.
    type: list
    elements: str
    required: true
  chdir:
    description: Directory the command runs in, and the root of the files hashed.
    type: path
    required: true
  env:
    description: Environment variables set for the command (on top of the module's). Part of the key.
    type: dict
    default: {}
  stamp_dir:
    description: Directory of the stamp file C(stamps.json) (created when missing).
    type: path
    required: true
  inputs:
    description:
      - Globs of the files under O(chdir) that feed the step. A glob without C(/) matches the file's base name,
        one with C(/) its path relative to O(chdir).
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Globs (matched like O(inputs)) of directories and files never hashed.
    type: list
    elements: str
    default: ['.git', '.labkit', 'bin']
  generate_inputs:
    description:
      - Only the files that feed C(go generate) count among O(inputs) - C(go.mod), C(go.sum), every file that is
        neither Go nor Markdown (C sources, headers), and the Go files holding a C(//go:generate) line.
    type: bool
    default: false
  outputs:
    description:
      - Globs (matched like O(inputs)) of the files the step writes, such as bpf2go's C(*_bpfel.go) and
        C(*_bpfel.o). They are never inputs of this step; their digest is recorded after a successful run, and
        the step runs again when they changed or are gone.
    type: list
    elements: str
    default: []
  key_material:
    description:
      - Anything else the step depends on (toolchain versions, package versions, flags), any JSON value. Part of the key.
    type: raw
  force:
    description: Run the step even when its stamp says it is up to date.
    type: bool
    default: false
  knob:
    description:
      - How the user skips this step, named in the failure message of findings in their code, for example
        V(-e project_build_vet=false).
    type: str
    default: ''
  tail_lines:
    description: How many of the last lines of the command's output are returned (and shown on a tool failure).
    type: int
    default: 20
notes:
  - The command runs as an argument list, with no shell and no expansion of C($VAR) or C(~) in its arguments.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the step would run (C(changed)) and why (RV(reason)); runs nothing and writes no stamp.
  diff_mode:
    support: full
    details: The diff shows the stamp file before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Run go vet when the sources, the toolchain or the flags changed
  labkit.ebpf_rdma.build_step:
    name: vet
    argv: [/usr/local/go/bin/go, vet, ./...]
    chdir: /var/lib/labkit-project/app/src
    env: {GOFLAGS: -mod=mod, GOTOOLCHAIN: local}
    stamp_dir: /var/lib/labkit-project/app/.labkit
    key_material: [go1.24.1, clang 19]
    knob: -e project_build_vet=false

- name: Run bpf2go through go generate; the generated files are recorded and checked
  labkit.ebpf_rdma.build_step:
    name: generate
    argv: [go, generate, ./...]
    chdir: "{{ src }}"
    stamp_dir: "{{ src }}/../.labkit"
    generate_inputs: true
    outputs: ["*_bpfel.go", "*_bpfel.o"]
'''

RETURN = r'''
name:
  description: The step's name.
  returned: always
  type: str
  sample: vet
ran:
  description: Whether the command ran (false when up to date, and always in check mode).
  returned: always
  type: bool
reason:
  description: Why the step ran or would run (V(forced), V(no stamp of a successful run), V(inputs changed),
    V(outputs changed or missing)), or V(up to date).
  returned: always
  type: str
  sample: inputs changed
key:
  description: The step's key (sha256 hex) - what the stamp records after a successful run.
  returned: always
  type: str
files:
  description: Number of input files hashed.
  returned: always
  type: int
  sample: 14
output_files:
  description: Paths (relative to O(chdir)) of the files matching O(outputs), after the run.
  returned: always
  type: list
  elements: str
  sample: [qpmon/qpmon_x86_bpfel.go, qpmon/qpmon_x86_bpfel.o]
cmd:
  description: The command.
  returned: always
  type: list
  elements: str
rc:
  description: Exit status of the command (not returned when it did not run, as Ansible reads any other rc than 0 as
    a failure).
  returned: when the command ran
  type: int
duration:
  description: Seconds the command ran; null when it did not run.
  returned: always
  type: float
delta:
  description: The same as a duration string H:MM:SS.ffffff (as M(ansible.builtin.command) reports it); null when
    it did not run.
  returned: always
  type: str
  sample: "0:00:03.201144"
output_tail:
  description: The last O(tail_lines) non-empty lines of the command's standard error and output (empty on a failure
    in the user's code, which RV(findings) describe).
  returned: always
  type: str
failure:
  description: On failure, V(code) (findings in the user's code) or V(tool) (anything else).
  returned: failure
  type: str
findings:
  description: "On failure, the C(file:line:col: message) findings read from the output (col null when not given)."
  returned: failure
  type: list
  elements: dict
  sample: [{file: pkg/p.go, line: 6, col: 14, msg: "fmt.Printf format %s has arg n of wrong type int"}]
actions:
  description: What was (or would be) done.
  returned: always
  type: list
  elements: str
'''

import datetime
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import buildstamp as bs
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import goerrors


def argument_spec():
    return dict(
        name=dict(type='str', required=True),
        argv=dict(type='list', elements='str', required=True),
        chdir=dict(type='path', required=True),
        env=dict(type='dict', default={}),
        stamp_dir=dict(type='path', required=True),
        inputs=dict(type='list', elements='str', default=['*']),
        exclude=dict(type='list', elements='str', default=list(bs.DEFAULT_EXCLUDE)),
        generate_inputs=dict(type='bool', default=False),
        outputs=dict(type='list', elements='str', default=[]),
        key_material=dict(type='raw', no_log=False),
        force=dict(type='bool', default=False),
        knob=dict(type='str', default=''),
        tail_lines=dict(type='int', default=20),
    )


def scan(p):
    return bs.scan(p['chdir'], inputs=p['inputs'], exclude=p['exclude'], outputs=p['outputs'],
                   generate_only=p['generate_inputs'])


def run_step(module, p, env):
    """Run the command; return (rc, stdout, stderr, seconds)."""
    start = time.time()
    rc, out, err = module.run_command(p['argv'], cwd=p['chdir'], environ_update=env, expand_user_and_vars=False)
    return rc, out, err, time.time() - start


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not p['argv']:
        module.fail_json(msg='build_step %s: argv is empty; give the command as a list' % p['name'])
    if not os.path.isdir(p['chdir']):
        module.fail_json(msg='build_step %s: %s is not a directory; the source must be in place before the step '
                             '(chdir)' % (p['name'], p['chdir']))
    env = dict((k, '' if v is None else str(v)) for k, v in p['env'].items())
    stamp_path = os.path.join(p['stamp_dir'], bs.STAMP_FILE)
    old_state = common.read_file_state(stamp_path)
    old_text = old_state[0]
    stamps = bs.parse_stamps(old_text)
    track = bool(p['outputs'])
    before = scan(p)
    key = bs.step_key(before['inputs'], p['key_material'], p['argv'], env)
    run, reason = bs.decide(stamps.get(p['name']), key, before['outputs'], track, p['force'])
    result = dict(name=p['name'], ran=False, reason=reason, key=key, files=before['files'],
                  output_files=before['output_files'], cmd=p['argv'], duration=None, delta=None,
                  output_tail='')
    if not run:
        module.exit_json(changed=False, actions=[], **result)
    description = 'run %s (%s)' % (' '.join(p['argv']), reason)
    if module.check_mode:
        module.exit_json(changed=True, actions=[description], **result)
    rc, out, err, seconds = run_step(module, p, env)
    combined = '\n'.join(t for t in (err, out) if t)
    result.update(ran=True, rc=rc, duration=round(seconds, 3), delta=str(datetime.timedelta(seconds=seconds)),
                  output_tail=goerrors.tail(combined, p['tail_lines']))
    if rc != 0:
        failure = goerrors.classify(p['argv'], out, err)
        if failure['kind'] == 'code':
            result['output_tail'] = ''  # the findings say it; no dump of the output under the message
        module.fail_json(msg=goerrors.failure_message(p['name'], p['chdir'], rc, failure, p['knob'], combined),
                         failure=failure['kind'], findings=failure['findings'], changed=True, actions=[description],
                         **result)
    after = scan(p) if track else before
    result['output_files'] = after['output_files']
    new_text = bs.render(bs.record(stamps, p['name'], key, after['outputs'], track))
    action = common.file_change(stamp_path, old_state, new_text, mode=0o644,
                                description='record the stamp of %s in %s' % (p['name'], stamp_path))
    actions = [common.Action('run', p['argv'][0], description)]
    if action is not None:
        common.write_file_atomic(module, stamp_path, new_text, 0o644)
        actions.append(action)
    module.exit_json(**common.result_for(module, actions, **result))


if __name__ == '__main__':
    main()
