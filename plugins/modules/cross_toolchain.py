#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cross_toolchain
short_description: Set up the controller's Go and zig cc to build cgo and BPF code for a guest
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Runs on the controller (with C(delegate_to) localhost). Finds the Go toolchain (O(go)) and C(zig cc) from the
    C(ziglang) Python package (O(python) C(-m ziglang)), and writes two small wrapper scripts into O(dir)
    C(cc), the cgo C compiler (C(zig cc -target <arch>-linux-gnu.<glibc>) with the sysroot's headers and libraries),
    and C(bpf-cc), bpf2go's compiler (zig's clang with bpf2go's C(-target bpfel|bpfeb) rewritten to zig's
    C(bpfel-freestanding|bpfeb-freestanding), headers from the sysroot).
  - Returns RV(env), the environment of the go commands that build for the guest (C(go generate), C(go vet),
    C(go build), C(go test -c)), and RV(key), an id of the whole toolchain for build stamps.
  - When something is missing (no Go, no C(ziglang), no sysroot) it returns RV(usable=false) with RV(reason) saying
    how to fix it, and writes nothing, so a caller can fall back to building on the host.
  - The sysroot is the guest's own Debian packages unpacked (M(labkit.ebpf_rdma.guest_sysroot) with O(ignore:archive));
    the C(.<glibc>) suffix of the zig target pins the glibc symbol versions to the guest's.
options:
  goarch:
    description: GOARCH of the guest.
    type: str
    choices: [amd64, arm64]
    required: true
  triple:
    description: The guest's GNU multiarch triple (the subdirectory of its libraries and arch headers); V('') = the
      one of O(goarch).
    type: str
    default: ''
  glibc:
    description: The guest's glibc version, major.minor (M(labkit.ebpf_rdma.guest_sysroot) RV(labkit.ebpf_rdma.guest_sysroot#module:glibc)).
    type: str
    required: true
  sysroot:
    description: The unpacked sysroot archive on the controller (it holds C(usr/include) and C(usr/lib/<triple>)).
    type: path
    required: true
  sysroot_key:
    description: The sysroot's key; V('') = read from C(<sysroot>/labkit-sysroot.json) (the archive's first member).
    type: str
    default: ''
  dir:
    description: Directory of the wrapper scripts (created). Give each sysroot its own.
    type: path
    required: true
  python:
    description: The Python that has the C(ziglang) package; V('') = the Python this module runs with (on the
      controller, C(ansible_playbook_python) when C(ansible_python_interpreter) of localhost is that).
    type: path
    default: ''
  go:
    description: The Go command, a path or a name looked up in C(PATH).
    type: str
    default: go
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Finds the tools as usual and reports the wrappers it would write.
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - bpf2go strips DWARF from BPF objects with C(llvm-strip). Where the controller has none, RV(env) sets
    C(BPF2GO_STRIP) to a third wrapper, C(strip-keep), that leaves the object as it is (it then keeps its DWARF;
    bigger, loads the same; BTF is not DWARF).
  - The first build for a target compiles zig's libc stubs for it (tens of seconds); zig caches them in its global
    cache (C(~/.cache/zig)).
'''

EXAMPLES = r'''
- name: The cross toolchain for the guest
  labkit.ebpf_rdma.cross_toolchain:
    goarch: "{{ sysroot.goarch }}"
    glibc: "{{ sysroot.glibc }}"
    sysroot: "~/.cache/labkit-ebpf_rdma/sysroots/{{ sysroot.key }}/root"
    dir: "~/.cache/labkit-ebpf_rdma/sysroots/{{ sysroot.key }}/bin"
  delegate_to: localhost
  become: false
  register: cross

- name: Build for the guest on the controller
  ansible.builtin.command:
    argv: ["{{ cross.go }}", build, ./...]
    chdir: ~/src/myproject
  environment: "{{ cross.env }}"
  delegate_to: localhost
  become: false
  when: cross.usable
  changed_when: true
'''

RETURN = r'''
usable:
  description: Whether the controller can build for the guest with this toolchain.
  returned: always
  type: bool
  sample: true
reason:
  description: Why not, with the fix, when RV(usable) is false; V('') otherwise.
  returned: always
  type: str
  sample: "ziglang is not installed for /usr/bin/python3 (No module named ziglang): pip install -r requirements.txt
    in the Python that runs Ansible, or build on the host (project_build_where: host)"
env:
  description: Environment of the go commands that build for the guest (V({}) when not usable).
  returned: always
  type: dict
  sample: {CC: /home/u/.cache/labkit-ebpf_rdma/sysroots/3f2a9c0d1b7e4a55/bin/cc, CGO_ENABLED: "1", GOOS: linux,
           GOARCH: arm64, CGO_CFLAGS: "-O2 -g", CGO_LDFLAGS: "-O2 -g",
           BPF2GO_CC: /home/u/.cache/labkit-ebpf_rdma/sysroots/3f2a9c0d1b7e4a55/bin/bpf-cc}
go:
  description: The Go command's path (V('') when not found).
  returned: always
  type: str
  sample: /usr/local/go/bin/go
go_version:
  description: C(go env GOVERSION).
  returned: always
  type: str
  sample: go1.26.8
zig_version:
  description: C(python -m ziglang version).
  returned: always
  type: str
  sample: 0.17.1
key:
  description: Hex id of the toolchain (Go and zig versions, sysroot key, GOARCH, glibc); V('') when not usable.
  returned: always
  type: str
  sample: 9d1c0b2a77e3f410
sysroot_key:
  description: The sysroot's key used in RV(key).
  returned: always
  type: str
  sample: 3f2a9c0d1b7e4a55
notes:
  description: What the caller may print (no llvm-strip on the controller...).
  returned: always
  type: list
  elements: str
'''

import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import cross

FALLBACK = 'or build on the host (project_build_where: host)'


def find_go(module, go):
    if '/' in go:
        return go if os.path.isfile(go) and os.access(go, os.X_OK) else None
    return module.get_bin_path(go)


def read_sysroot_key(sysroot):
    text = common.read_text(os.path.join(sysroot, cross.MANIFEST_NAME))
    try:
        return (json.loads(text) or {}).get('key') or '' if text else ''
    except ValueError:
        return ''


def not_usable(module, reason, **extra):
    result = dict(changed=False, usable=False, reason=reason, env={}, go='', go_version='', zig_version='',
                  key='', sysroot_key='', notes=[])
    result.update(extra)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            goarch=dict(type='str', required=True, choices=sorted(a[0] for a in cross.ARCHES.values())),
            triple=dict(type='str', default=''),
            glibc=dict(type='str', required=True),
            sysroot=dict(type='path', required=True),
            sysroot_key=dict(type='str', default='', no_log=False),
            dir=dict(type='path', required=True),
            python=dict(type='path', default=''),
            go=dict(type='str', default='go'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    arch = [a for a, f in cross.ARCHES.items() if f[0] == p['goarch']][0]
    default_triple, zig_arch = cross.ARCHES[arch][1:]
    triple = p['triple'] or default_triple
    python = p['python'] or sys.executable
    if not cross.upstream_version(p['glibc']) or cross.upstream_version(p['glibc']) != p['glibc']:
        module.fail_json(msg='glibc=%r is not a major.minor version such as 2.36: pass the guest_sysroot result\'s '
                             'glibc' % p['glibc'])

    go = find_go(module, p['go'])
    if not go:
        not_usable(module, 'no Go on the controller (%s is not %s): install Go there or set the go option, %s'
                   % (p['go'], 'an executable file' if '/' in p['go'] else 'in PATH', FALLBACK))
    rc, out, err = module.run_command([go, 'env', '-json', 'GOVERSION', 'GOROOT'])
    go_env = cross.parse_go_env(out) if rc == 0 else {}
    if not go_env.get('GOVERSION'):
        not_usable(module, '%s env failed on the controller (exit %d: %s): fix that Go installation, %s'
                   % (go, rc, (err or out).strip(), FALLBACK), go=go)
    go_version = go_env['GOVERSION']

    rc, out, err = module.run_command([python, '-m', 'ziglang', 'version'])
    zig_version = cross.parse_zig_version(out) if rc == 0 else None
    if not zig_version:
        not_usable(module, 'ziglang is not installed for %s (%s): pip install -r requirements.txt in the Python that '
                           'runs Ansible (or set the python option to one that has ziglang), %s'
                   % (python, (err or out).strip().splitlines()[-1] if (err or out).strip() else 'exit %d' % rc,
                      FALLBACK), go=go, go_version=go_version)

    sysroot = p['sysroot']
    for need in ('usr/include', 'usr/lib/' + triple):
        if not os.path.isdir(os.path.join(sysroot, need)):
            not_usable(module, 'the sysroot %s has no %s/: unpack the guest_sysroot archive of the guest there, %s'
                       % (sysroot, need, FALLBACK), go=go, go_version=go_version, zig_version=zig_version)
    sysroot_key = p['sysroot_key'] or read_sysroot_key(sysroot)
    if not sysroot_key:
        not_usable(module, 'the sysroot %s has no %s (its key): unpack a guest_sysroot archive there or pass '
                           'sysroot_key, %s' % (sysroot, cross.MANIFEST_NAME, FALLBACK),
                   go=go, go_version=go_version, zig_version=zig_version)

    key = cross.toolchain_key(go_version, zig_version, sysroot_key, p['goarch'], p['glibc'])
    cc = os.path.join(p['dir'], 'cc')
    bpf_cc = os.path.join(p['dir'], 'bpf-cc')
    files = [(cc, cross.cc_wrapper(python, cross.zig_target(zig_arch, p['glibc']), sysroot, triple, key)),
             (bpf_cc, cross.bpf_wrapper(python, sysroot, triple, key))]
    env = cross.cross_env(cc, bpf_cc, p['goarch'])
    notes = []
    if not module.get_bin_path('llvm-strip'):
        strip = os.path.join(p['dir'], 'strip-keep')
        files.append((strip, cross.keep_strip_wrapper(key)))
        env['BPF2GO_STRIP'] = strip
        notes.append('no llvm-strip on the controller: bpf2go keeps the DWARF of the BPF objects (bigger objects, '
                     'they load the same); install llvm to strip it')
    actions = [a for a in (common.plan_file(path, text, mode=0o755, description='write the wrapper %s' % path)
                           for path, text in files) if a is not None]
    common.apply_actions(module, actions)
    module.exit_json(**common.result_for(module, actions, usable=True, reason='', env=env, go=go,
                                         go_version=go_version, zig_version=zig_version, key=key,
                                         sysroot_key=sysroot_key, notes=notes))


if __name__ == '__main__':
    main()
