#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: stage_files
short_description: Bring a set of files from the controller into a directory of the host in one module run
version_added: 0.3.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Makes O(dest) on the host hold the files O(paths) of the controller directory O(src), the way
    M(ansible.builtin.copy) would with a loop, but in one module run and one file transfer whatever the number of
    files. Under emulation each module run costs seconds, so a loop of copies over a source tree, its binaries and
    its test binaries was most of a build-and-test cycle.
  - The action plugin (controller side) hashes the wanted files, packs into one tar only those the host lacks or has
    otherwise, sends it and runs the module, which unpacks them (each checked against its SHA-256 and replaced
    atomically), removes the files it staged before that are no longer wanted (except those matching O(keep)) and
    records what it staged in O(manifest).
  - Which files the host has comes from a record the action keeps on the controller (O(record)), checked by the
    module against the host's O(manifest); when the two disagree (a new VM, files changed on the host) the module
    returns what the host has and the action sends the difference in a second run. A staged file whose size or
    modification time changed on the host counts as absent and is sent again.
  - Files in O(dest) that were never staged (build outputs of the host) are left alone.
options:
  src:
    description:
      - The directory on the controller the files are read from (by the action plugin).
    type: path
    required: true
  paths:
    description:
      - The files to stage, relative to O(src) and, on the host, to O(dest). Regular files only; no C(..) component.
      - A file is installed with mode C(0755) when it is executable on the controller, else C(0644), owned by the
        user the module runs as.
    type: list
    elements: str
    required: true
  dest:
    description:
      - The directory on the host; created (mode C(0755)) when missing, like the directories the files need.
    type: path
    required: true
  manifest:
    description:
      - The file on the host that records what was staged into O(dest) (JSON), with per file its SHA-256, and the size
        and modification time it had when written.
    type: path
    required: true
  keep:
    description:
      - Globs of staged files never removed when they leave O(paths) (a glob without C(/) matches the base name),
        for files that something on the host also writes, such as build outputs. They stay in O(manifest), so a
        later run that wants them again sends them only when they changed on either side.
    type: list
    elements: str
    default: []
  record:
    description:
      - A file on the controller where the action keeps what the host has after each run, so that the next run
        sends the changed files at once. V('') keeps none (every run first asks the host, one more module run).
    type: path
    default: ''
  files:
    description:
      - Set by the action plugin (the wanted files with their SHA-256 and mode); do not set it.
    type: dict
    default: {}
  bundle:
    description:
      - Set by the action plugin (the tar it sent, on the host); do not set it.
    type: path
    default: ''
  on_missing:
    description:
      - Set by the action plugin. What the module does when a file to write is not in O(bundle) -
        V(report) returns RV(stale) and RV(have) and changes nothing; V(fail) fails.
    type: str
    choices: [fail, report]
    default: fail
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Has an action plugin, which packs the files on the controller and sends them as one archive.
    support: full
  check_mode:
    support: full
    details: Nothing is sent or written; RV(written) and RV(removed) say what would change.
  diff_mode:
    support: full
    details: Each file that would be written or removed, with its short SHA-256 before and after.
  platform:
    platforms: posix
  safe_file_operations:
    description: Each file is written to a temporary name in its directory and renamed into place.
    support: full
notes:
  - Owner, group and mode other than the two above are not managed; the files belong to the user the module runs as.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.posix.synchronize
'''

EXAMPLES = r'''
- name: Stage the project's source, generated files and binaries built on the controller
  labkit.ebpf_rdma.stage_files:
    src: /home/me/.cache/labkit-ebpf_rdma/project/build/devvm/myproj/src
    paths: "{{ tree.files + ['bin/agent'] }}"
    dest: /var/lib/labkit-project/myproj/src
    manifest: /var/lib/labkit-project/myproj/.labkit/staged.json
    keep: ['bin/*', '*_bpfel.o', '*_bpfel.go']
    record: "/home/me/.cache/labkit-ebpf_rdma/project/stage/{{ inventory_hostname }}/myproj.json"
'''

RETURN = r'''
written:
  description: The files written (new or different on the host), relative to O(dest).
  returned: always
  type: list
  elements: str
  sample: [agent/agent.go, bin/agent]
removed:
  description: The files removed (staged before, no longer in O(paths) nor kept).
  returned: always
  type: list
  elements: str
  sample: [old/removed.go]
manifest:
  description: What O(dest) holds now from this stage, path -> SHA-256 (the action keeps it as O(record)).
  returned: success
  type: dict
  sample: {"go.mod": "8f1c..."}
stale:
  description: Whether the module stopped because the host lacked files the bundle did not bring (only with
    O(on_missing=report); the action then sends them).
  returned: always
  type: bool
  sample: false
have:
  description: With RV(stale), what the host has (path -> SHA-256).
  returned: when stale
  type: dict
  sample: {"go.mod": "8f1c..."}
sent:
  description: Set by the action - how many files and bytes it packed and sent, and how many module runs it took.
  returned: success (through the action)
  type: dict
  sample: {"files": 1, "bytes": 10240, "runs": 1}
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.stage import (
    StageError, apply, bundle_members, check_rel, diff, plan, present, read_manifest, write_manifest)


def run(module):
    p = module.params
    dest, wanted = p['dest'], {}
    for rel, w in p['files'].items():
        check_rel(rel)
        if not isinstance(w, dict) or len(str(w.get('sha256', ''))) != 64:
            raise StageError('files[%s] needs a sha256 of 64 hex digits: run the module through its action (src and '
                             'paths), which computes them' % rel)
        wanted[rel] = {'sha256': w['sha256'], 'mode': int(w.get('mode', 0o644))}
    missing_paths = sorted(set(p['paths']) - set(wanted))
    if missing_paths:
        raise StageError('no SHA-256 given for %s: run the module through its action (src and paths), which computes '
                         'them' % ', '.join(missing_paths[:5]))
    if os.path.islink(dest) or (os.path.exists(dest) and not os.path.isdir(dest)):
        raise StageError('%s on %s is a symlink or not a directory: stage_files writes into a real directory; '
                         'remove it or choose another dest' % (dest, 'the host'))
    entries = read_manifest(p['manifest'])
    have = present(dest, entries)
    write, remove = plan(have, wanted, entries, p['keep'])
    result = dict(changed=bool(write or remove), written=write, removed=remove, stale=False)
    if module._diff:
        result['diff'] = diff(write, remove, have, wanted)
    if module.check_mode:
        return result
    members = bundle_members(p['bundle']) if p['bundle'] else set()
    lacking = [rel for rel in write if rel not in members]
    if lacking:
        if p['on_missing'] == 'report':
            return dict(changed=False, written=[], removed=[], stale=True, have=have)
        raise StageError('%d file(s) to write are not in the bundle (%s): run the module through its action with src '
                         'and paths, which sends them' % (len(lacking), ', '.join(lacking[:5])))
    if not os.path.isdir(dest):
        os.makedirs(dest, 0o755)
    new = apply(dest, p['bundle'], write, remove, wanted, entries, p['keep'])
    if write or remove or new != entries:
        write_manifest(p['manifest'], new)
    result['manifest'] = dict((rel, e['sha256']) for rel, e in new.items() if isinstance(e, dict))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type='path', required=True),
            paths=dict(type='list', elements='str', required=True),
            dest=dict(type='path', required=True),
            manifest=dict(type='path', required=True),
            keep=dict(type='list', elements='str', default=[], no_log=False),
            record=dict(type='path', default=''),
            files=dict(type='dict', default={}),
            bundle=dict(type='path', default=''),
            on_missing=dict(type='str', choices=['fail', 'report'], default='fail'),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except StageError as e:
        module.fail_json(msg='stage_files: %s' % e)
    except (IOError, OSError) as e:
        module.fail_json(msg='stage_files: %s on the host (dest %s): check the disk space and that the directory is '
                             'writable by the user the task runs as (become)' % (e, module.params['dest']))


if __name__ == '__main__':
    main()
