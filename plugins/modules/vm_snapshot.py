#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_snapshot
short_description: Find or keep a converged snapshot of a local VM's disk in the image cache
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Runs on the controller. A converged snapshot is the disk of a local VM that a converge left ready, kept in
    the image cache next to its base entry as C(<base entry>-conv-<key>.qcow2), a qcow2 whose backing file is the
    base entry's C(disk.qcow2), holding only what the converge changed (C(qemu-img convert -B)), with its
    manifest C(<base entry>-conv-<key>.json) (key, inputs, base entry, date) written last.
  - The key hashes the base entry (whose name carries the image key), the content of the collection's own
    C(roles/) and C(plugins/) (O(collection_dir); a changed role makes a new key), the converge roles' variables
    (O(inputs), only the names starting with C(ebpf_host_), C(ebpf_toolchain_), C(soft_roce_) or C(labkit_)),
    the controller's inputs (O(controller) plus the controller's C(go env) GOPROXY, GOSUMDB, GOPRIVATE, GONOSUMDB,
    GONOPROXY and GOFLAGS when go is installed) and O(disk_size).
  - V(query) computes the key and says whether the snapshot exists; it changes nothing.
  - V(present) keeps the VM's overlay (C(<state_dir>/disk.qcow2)) as the snapshot when there is none for the key.
    It refuses while the VM's QEMU runs (a disk a running guest writes to is never copied). The copy goes to a
    temporary name in the cache and is renamed into place, then the manifest is written; one run at a time per
    base entry (C(images/<base entry>-conv.lock), the holder's pid recorded, see M(labkit.ebpf_rdma.vm_image)).
    Then the snapshots of the same base entry are pruned to the newest O(keep), never one that a VM in
    O(vms_dir) uses as its backing file (its C(vm.json) names it).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details:
      - The manifest is diffed; the qcow2 copy and the pruned files are reported in RV(actions).
  platform:
    platforms: [linux, darwin]
options:
  state:
    description: V(query) only looks; V(present) keeps the VM's disk as the snapshot (see the description).
    type: str
    choices: [query, present]
    default: query
  name:
    description: Name of the VM (for messages).
    type: str
    required: true
  base_disk:
    description: The base entry's C(disk.qcow2) (RV(labkit.ebpf_rdma.vm_image#module:disk)); its directory names the entry.
    type: path
    required: true
  collection_dir:
    description: Root of the collection whose C(roles/) and C(plugins/) content goes into the key.
    type: path
    required: true
  inputs:
    description:
      - The converge roles' variables. Names with other prefixes are left out of the key, and so are state and
        facts (C(labkit_vm_running), C(labkit_vm_state_dir), C(labkit_vm_ssh_config) of the local_vms inventory
        plugin, the facts C(labkit_ebpf), C(labkit_rdma), C(labkit_memlock_applied), C(labkit_foreign_toolchain_links)).
    type: dict
    default: {}
  controller:
    description: Other controller-derived inputs of the converge (e.g. the mirror and proxy as resolved).
    type: dict
    default: {}
  disk_size:
    description: Virtual size of the VM's overlay (the guest's root filesystem is grown to it), part of the key.
    type: str
    default: 20G
  state_dir:
    description: The VM's directory (its C(disk.qcow2) and C(qemu.pid)); needed for O(state=present).
    type: path
    default: ''
  vms_dir:
    description: Directory holding the VMs' state dirs, looked through before pruning; empty means the parent of O(state_dir).
    type: path
    default: ''
  keep:
    description: How many snapshots of the same base entry to keep (the newest; at least the one just made).
    type: int
    default: 2
  lock_timeout:
    description: Seconds to wait for another run keeping a snapshot of the same base entry.
    type: int
    default: 600
'''

EXAMPLES = r'''
- name: Look for a converged snapshot of the image
  labkit.ebpf_rdma.vm_snapshot:
    name: devvm
    base_disk: "{{ image.disk }}"
    collection_dir: "{{ role_path }}/../.."
    inputs:
      labkit_memlock: unlimited
      soft_roce_links: [{name: rxe0}]
  register: snap

- name: Keep the stopped VM's disk as the snapshot
  labkit.ebpf_rdma.vm_snapshot:
    state: present
    name: devvm
    base_disk: "{{ image.disk }}"
    collection_dir: "{{ role_path }}/../.."
    state_dir: ~/.local/state/labkit-ebpf_rdma/vms/devvm
    keep: 2
'''

RETURN = r'''
key:
  description: The snapshot key (16 hex digits).
  returned: always
  type: str
snapshot:
  description: Path the snapshot has (or would have) in the cache.
  returned: always
  type: str
manifest:
  description: Path of its manifest.
  returned: always
  type: str
exists:
  description: Whether a valid snapshot (qcow2 and a manifest naming its key) exists for the key after the task.
  returned: always
  type: bool
base_entry:
  description: The base image entry's name.
  returned: always
  type: str
tree:
  description: sha256 of the collection's roles/ and plugins/ content.
  returned: always
  type: str
inputs:
  description: The variables that went into the key.
  returned: always
  type: dict
controller:
  description: The controller inputs that went into the key.
  returned: always
  type: dict
pruned:
  description: Snapshots removed (or, in check mode, to be removed) by O(state=present).
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
'''

import errno
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, describe, diffs_for, read_text, run_checked)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fsafe
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import snapshot as snap
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_instance

CACHE_FIX = 'or choose another cache (local_vm_cache_dir)'
GO_ENV_KEYS = ('GOPROXY', 'GOSUMDB', 'GOPRIVATE', 'GONOSUMDB', 'GONOPROXY', 'GOFLAGS')


def controller_inputs(module, extra):
    """O(controller) plus the controller's Go settings (go env), which the toolchain role uses."""
    found = dict(extra or {})
    go = module.get_bin_path('go')
    if go:
        rc, out, _err = module.run_command([go, 'env', '-json'] + list(GO_ENV_KEYS),
                                           environ_update={'GOTOOLCHAIN': 'local'})
        if rc == 0:
            try:
                env = json.loads(out)
            except ValueError:
                env = {}
            found['go_env'] = dict((k, env.get(k, '')) for k in GO_ENV_KEYS)
    return found


def vm_running(state_dir):
    """True when the VM's pidfile names a live QEMU of this VM."""
    return vm_instance.pidfile_runs_vm(os.path.join(state_dir, 'qemu.pid'))


def vm_records(vms_dir):
    """The vm.json records of the VM directories in ``vms_dir``."""
    records = []
    try:
        names = sorted(os.listdir(vms_dir))
    except OSError:
        return records
    for name in names:
        try:
            records.append(json.loads(read_text(os.path.join(vms_dir, name, 'vm.json')) or '{}'))
        except ValueError:
            continue
    return records


class Cache(object):
    """The images/ directory of the cache, opened and checked the fsafe way (see vm_image)."""

    def __init__(self, module, images):
        self.module = module
        self.path = images
        self.fd = None

    def open(self):
        try:
            self.fd = fsafe.open_dir(self.path, set([0, os.geteuid()]), CACHE_FIX)
            fsafe.check_owned_dir(os.fstat(self.fd), self.path, os.geteuid(), CACHE_FIX)
        except fsafe.FsafeError as e:
            self.module.fail_json(msg=str(e))
        except OSError as e:
            self.module.fail_json(msg='cannot open the image cache %s (%s); build the image first '
                                      '(labkit.ebpf_rdma.vm_image) %s' % (self.path, e, CACHE_FIX))

    def names(self):
        return os.listdir(self.fd) if self.fd is not None else []

    def read(self, name):
        try:
            fd = fsafe.open_regular_at(self.fd, name, os.path.join(self.path, name))
        except OSError:
            return None
        try:
            return os.read(fd, 1 << 20).decode('utf-8', 'replace')
        finally:
            os.close(fd)

    def mtime(self, name):
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mtime
        except OSError:
            return 0

    def unlink(self, name):
        try:
            os.unlink(name, dir_fd=self.fd)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


def existing(cache, base_entry, key):
    name = snap.snapshot_name(base_entry, key)
    present = snap.gather_snapshots(cache.names()).get((base_entry, key), {})
    return bool(present.get('qcow2')) and snap.manifest_valid(cache.read(name + '.json'), key, base_entry)


def prune_plan(cache, base_entry, keep, vms_dir, current):
    found = snap.gather_snapshots(cache.names())
    mine = [(snap.snapshot_name(b, k), cache.mtime(snap.snapshot_name(b, k) + '.qcow2'))
            for (b, k) in found if b == base_entry]
    in_use = snap.backing_names(vm_records(vms_dir)) if vms_dir else set()
    return snap.plan_prune(mine, base_entry, keep, in_use, current)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='query', choices=['query', 'present']),
            name=dict(type='str', required=True),
            base_disk=dict(type='path', required=True),
            collection_dir=dict(type='path', required=True),
            inputs=dict(type='dict', default={}),
            controller=dict(type='dict', default={}),
            disk_size=dict(type='str', default='20G'),
            state_dir=dict(type='path', default=''),
            vms_dir=dict(type='path', default=''),
            keep=dict(type='int', default=2),
            lock_timeout=dict(type='int', default=600),
        ),
        required_if=[('state', 'present', ('state_dir',))],
        supports_check_mode=True,
    )
    p = module.params
    if p['keep'] < 1:
        module.fail_json(msg='keep is %d; keep at least 1 snapshot per base image (local_vm_snapshot_keep)' % p['keep'])
    base_disk = os.path.abspath(p['base_disk'])
    entry_dir = os.path.dirname(base_disk)
    base_entry = os.path.basename(entry_dir)
    images = os.path.dirname(entry_dir)
    if not os.path.isdir(os.path.join(p['collection_dir'], 'roles')):
        module.fail_json(msg='collection_dir %s has no roles/ directory; pass the collection root '
                             '("{{ role_path }}/../..")' % p['collection_dir'])
    tree = snap.tree_digest(p['collection_dir'])
    inputs = snap.role_inputs(p['inputs'])
    controller = controller_inputs(module, p['controller'])
    key = snap.snapshot_key(base_entry, tree, inputs, controller, p['disk_size'])
    name = snap.snapshot_name(base_entry, key)
    result = dict(key=key, snapshot=os.path.join(images, name + '.qcow2'), manifest=os.path.join(images, name + '.json'),
                  base_entry=base_entry, tree=tree, inputs=inputs, controller=controller, pruned=[])
    cache = Cache(module, images)
    if not os.path.isdir(images):
        module.exit_json(changed=False, exists=False, actions=[], **result)
    cache.open()
    if p['state'] == 'query':
        module.exit_json(changed=False, exists=existing(cache, base_entry, key), actions=[], **result)

    state_dir = p['state_dir']
    vms_dir = p['vms_dir'] or os.path.dirname(state_dir.rstrip('/'))
    overlay = os.path.join(state_dir, 'disk.qcow2')
    lock = fsafe.lock('%s-conv.lock' % base_entry, dir_fd=cache.fd, timeout=p['lock_timeout'],
                      purpose='keeping a converged snapshot of %s' % base_entry, shared=module.check_mode,
                      create=not module.check_mode, on_wait=lambda msg, _holder: module.warn(msg))
    try:
        with lock:
            have = existing(cache, base_entry, key)
            what, why = snap.plan_create(have, os.path.isdir(state_dir), vm_running(state_dir), os.path.exists(overlay))
            if what == 'refuse':
                module.fail_json(msg='cannot keep the disk of %s as the converged snapshot %s: %s (%s). Nothing was '
                                     'written.' % (p['name'], result['snapshot'], why, state_dir), **result)
            actions = []
            manifest = snap.manifest_text(key, base_entry, base_disk, inputs, controller, tree, p['disk_size'],
                                          time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
            if what == 'create':
                qemu_img = module.get_bin_path('qemu-img', required=True)
                tmp = '.build-%s-%d.qcow2' % (name, os.getpid())
                actions.append(Action('convert', name + '.qcow2', 'copy the overlay of %s (what the converge changed, '
                                      'backed by %s) to %s' % (p['name'], base_disk, result['snapshot']),
                                      argv=[qemu_img, 'convert', '-q', '-O', 'qcow2', '-F', 'qcow2', '-B', base_disk,
                                            overlay, os.path.join(images, tmp)], before=tmp))
                actions.append(Action('write_file', result['manifest'], 'write the manifest %s' % result['manifest'],
                                      before='', after=manifest, mode=0o644))
            pruned = prune_plan(cache, base_entry, p['keep'], vms_dir, name)
            for old in pruned:
                actions.append(Action('prune', old, 'remove the older snapshot %s (keep=%d)' % (old, p['keep'])))
            if not module.check_mode:
                for action in actions:
                    apply(module, cache, action)
            result['pruned'] = pruned
            res = dict(changed=bool(actions), exists=have or (what == 'create' and not module.check_mode),
                       actions=describe(actions), **result)
            if module._diff:
                res['diff'] = diffs_for(actions)
            module.exit_json(**res)
    except fsafe.FsafeError as e:
        module.fail_json(msg=str(e), **result)


def apply(module, cache, action):
    if action.kind == 'convert':
        tmp = action.before
        cache.unlink(tmp)
        try:
            run_checked(module, action.argv, what=action.description,
                        hint='check the free space of the cache (df %s)' % cache.path)
            os.chmod(tmp, 0o644, dir_fd=cache.fd)
            os.rename(tmp, action.target, src_dir_fd=cache.fd, dst_dir_fd=cache.fd)
        finally:
            cache.unlink(tmp)
    elif action.kind == 'write_file':
        fsafe.write_file_at(cache.fd, os.path.basename(action.target), action.after.encode('utf-8'), action.mode)
    elif action.kind == 'prune':
        # the manifest goes first: a snapshot without one is never used
        cache.unlink(action.target + '.json')
        cache.unlink(action.target + '.qcow2')


if __name__ == '__main__':
    main()
