# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Converged snapshots of local VMs: their key, names, manifests and pruning (pure but for tree_digest).

A snapshot is the disk of a VM that a converge left ready, kept next to its base
image entry in ``<cache>/images/`` as ``<base entry>-conv-<key>.qcow2`` (a qcow2
whose backing file is the base entry's ``disk.qcow2``) with its manifest
``<base entry>-conv-<key>.json``. Its key hashes everything that shaped the
disk beyond the base image: the collection's own roles/ and plugins/ content,
the converge roles' variables and the controller's inputs (GOPROXY...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

SNAPSHOT_RECIPE_VERSION = 1

# what the converge roles read from the inventory (role defaults are part of roles/, hashed as content)
INPUT_PREFIXES = ('ebpf_host_', 'ebpf_toolchain_', 'soft_roce_', 'labkit_')
# the collection's own content that makes the converge
# state and facts, not inputs: set by the local_vms inventory plugin (whether the VM runs, where its
# state is) and by the modules and roles as facts (a fact cache brings them back in later runs)
NOT_INPUTS = frozenset(('labkit_vm_running', 'labkit_vm_state_dir', 'labkit_vm_ssh_config', 'labkit_ebpf', 'labkit_rdma',
                        'labkit_memlock_applied', 'labkit_foreign_toolchain_links'))
TREE_DIRS = ('roles', 'plugins')
SKIPPED_NAMES = ('__pycache__',)
SKIPPED_SUFFIXES = ('.pyc', '.pyo', '.swp', '~')

NAME_RE = re.compile(r'^(?P<base>.+)-conv-(?P<key>[0-9a-f]{16})\.(?P<ext>qcow2|json)$')


def tree_digest(root, dirs=TREE_DIRS):
    """sha256 over the relative path and content of every regular file below ``root``/``dirs`` (sorted).

    Caches, editor leftovers and dot files are skipped; a missing directory counts as empty.
    """
    h = hashlib.sha256()
    for top in dirs:
        base = os.path.join(root, top)
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES and not d.startswith('.'))
            for name in filenames:
                if name.startswith('.') or name.endswith(SKIPPED_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    found.append(path)
        for path in sorted(found):
            rel = os.path.relpath(path, root).replace(os.sep, '/')
            with open(path, 'rb') as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            h.update(('%s\0%s\n' % (rel, digest)).encode('utf-8'))
    return h.hexdigest()


def role_inputs(variables, prefixes=INPUT_PREFIXES):
    """The variables the converge roles read, by prefix (``{name: value}``), without state and facts (NOT_INPUTS)."""
    return dict((k, v) for k, v in (variables or {}).items() if k.startswith(tuple(prefixes)) and k not in NOT_INPUTS)


def snapshot_key(base_entry, tree, inputs, controller, disk_size):
    """16 hex digits naming a converged snapshot of ``base_entry`` (stable across dict orders)."""
    payload = {
        'recipe_version': SNAPSHOT_RECIPE_VERSION,
        'base_entry': base_entry,
        'tree': tree,
        'inputs': inputs,
        'controller': controller,
        'disk_size': disk_size,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


def snapshot_name(base_entry, key):
    return '%s-conv-%s' % (base_entry, key)


def parse_name(name):
    """``(base entry, key, ext)`` of a snapshot file name, or None."""
    m = NAME_RE.match(name)
    return (m.group('base'), m.group('key'), m.group('ext')) if m else None


def manifest_text(key, base_entry, base_disk, inputs, controller, tree, disk_size, created):
    return json.dumps({
        'key': key,
        'recipe_version': SNAPSHOT_RECIPE_VERSION,
        'base_entry': base_entry,
        'base_disk': base_disk,
        'tree': tree,
        'inputs': inputs,
        'controller': controller,
        'disk_size': disk_size,
        'created': created,
    }, indent=2, sort_keys=True, default=str) + '\n'


def manifest_valid(text, key, base_entry):
    """A snapshot counts only with a manifest naming its key and base entry (written last)."""
    try:
        data = json.loads(text or '')
    except ValueError:
        return False
    return isinstance(data, dict) and data.get('key') == key and data.get('base_entry') == base_entry


def gather_snapshots(names):
    """``{(base entry, key): {'qcow2': bool, 'json': bool}}`` from the names in ``images/``."""
    found = {}
    for name in names:
        parsed = parse_name(name)
        if parsed:
            found.setdefault(parsed[:2], {'qcow2': False, 'json': False})[parsed[2]] = True
    return found


def plan_create(exists, vm_exists, vm_running, source_overlay_exists):
    """``(action, why)`` for state=present: create, skip (exists) or refuse (running guest, no VM)."""
    if exists:
        return 'skip', 'the snapshot for this key exists'
    if not vm_exists or not source_overlay_exists:
        return 'refuse', 'the VM has no overlay to keep'
    if vm_running:
        return 'refuse', 'the VM runs: a disk a running guest writes to is never copied; stop it first'
    return 'create', 'no snapshot for this key yet'


def plan_prune(snapshots, base_entry, keep, in_use, current):
    """Names (without extension) of the snapshots of ``base_entry`` to delete.

    ``snapshots``: ``[(name, mtime)]`` of that base entry's snapshots. The newest ``keep`` stay,
    counting ``current`` (the one just kept, or about to be) as the newest, and so does every snapshot a VM uses as its
    backing file (``in_use``: names).
    """
    snapshots = [s for s in snapshots if s[0] != current] + [(current, float('inf'))]  # the current one is the newest
    mine = sorted(snapshots, key=lambda s: (-s[1], s[0]))
    kept = [n for n, _m in mine[:max(keep, 0)]]
    return [n for n, _m in mine if n not in kept and n != current and n not in in_use
            and n.startswith(base_entry + '-conv-')]


def backing_names(vm_records):
    """Snapshot names (without extension) that VMs' recorded disks point at (their overlays' backing)."""
    names = set()
    for record in vm_records:
        disk = ((record or {}).get('config') or {}).get('disk') or ''
        parsed = parse_name(os.path.basename(disk))
        if parsed and parsed[2] == 'qcow2':
            names.add(snapshot_name(parsed[0], parsed[1]))
    return names


def is_snapshot_of(disk, base):
    """True when ``disk`` is a converged snapshot (by its name and place) of the base image ``base``."""
    parsed = snap_parts(disk)
    entry_dir = os.path.dirname(base or '')
    return bool(parsed) and parsed[0] == os.path.basename(entry_dir) and \
        os.path.dirname(disk) == os.path.dirname(entry_dir)


def snap_parts(disk):
    parsed = parse_name(os.path.basename(disk or ''))
    return parsed if parsed and parsed[2] == 'qcow2' else None


def choose_disk(overlay_exists, saved_disk, base, snapshot, snapshot_ok):
    """``(disk, from_snapshot, note)``: the backing file of the VM's overlay.

    * an existing VM keeps what it was created on: a snapshot of ``base`` when its record names one
      (whatever its key: no silent disk swap), else ``base`` (qemu_vm's own rules for a changed base apply);
    * a new VM (no overlay) is created on ``snapshot`` when there is a usable one, else on ``base``.
    """
    if overlay_exists and saved_disk and is_snapshot_of(saved_disk, base):
        return saved_disk, True, 'runs on its overlay of the converged snapshot %s' % saved_disk
    if snapshot and not overlay_exists and snapshot_ok:
        return snapshot, True, 'created on the converged snapshot %s' % snapshot
    if snapshot and overlay_exists:
        return base, False, 'keeps its overlay (created on %s); the converged snapshot is for new VMs' % (
            saved_disk or base)
    return base, False, ''
