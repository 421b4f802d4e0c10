# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Staging a set of files from the controller into a directory of a host in one module run.

Shared by the module labkit.ebpf_rdma.stage_files (host side: which files must be
written, the bundle unpacked, the manifest kept) and its action plugin (controller
side: the wanted files hashed, the bundle of the ones the host lacks packed).

The host keeps a manifest (JSON) of what was staged: per relative path its
SHA-256, and the size and mtime the file had when written. A file whose size or
mtime no longer match (edited or replaced on the host) counts as absent, so it is
written again; the host's files are never hashed (under emulation that would cost
more than shipping them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import io
import json
import os
import tarfile
import tempfile

MANIFEST_VERSION = 1


class StageError(Exception):
    """What is wrong, why and the fix: ready for fail_json(msg=str(e))."""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def check_rel(rel):
    """A path relative to the destination that cannot leave it."""
    if not isinstance(rel, str) or not rel or rel.startswith('/') or '\\' in rel or '\0' in rel:
        raise StageError('%r is not a relative path: give paths relative to the source directory' % (rel,))
    parts = rel.split('/')
    if any(p in ('', '.', '..') for p in parts):
        raise StageError('%r has an empty, "." or ".." component: give plain relative paths (a/b/c)' % (rel,))
    return rel


def kept(rel, keep):
    """Whether a glob of keep protects rel from removal (a glob without "/" matches the base name)."""
    base = rel.rsplit('/', 1)[-1]
    return any(fnmatch.fnmatchcase(rel if '/' in g else base, g) for g in keep)


def wanted_from_controller(src, paths):
    """{rel: {sha256, mode}} for the files src/<rel> on the controller; mode 0755 when executable."""
    wanted = {}
    for rel in paths:
        check_rel(rel)
        path = os.path.join(src, rel)
        if not os.path.isfile(path):
            raise StageError('%s is not a file on the controller (stage_files src=%s, path %s): build it first or '
                             'leave it out of paths' % (path, src, rel))
        mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
        wanted[rel] = {'sha256': sha256_file(path), 'mode': mode}
    return wanted


def read_manifest(path):
    """The host's manifest: {rel: {sha256, size, mtime_ns, mode}}; {} when missing or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get('version') != MANIFEST_VERSION or not isinstance(data.get('files'), dict):
        return {}
    return data['files']


def present(dest, entries):
    """{rel: sha256} of the manifest's entries whose file is still as written (size and mtime)."""
    have = {}
    for rel, e in entries.items():
        try:
            check_rel(rel)
            st = os.lstat(os.path.join(dest, rel))
        except (StageError, OSError):
            continue
        if not isinstance(e, dict):
            continue
        if (st.st_mode & 0o170000) == 0o100000 and st.st_size == e.get('size') and st.st_mtime_ns == e.get('mtime_ns'):
            have[rel] = e.get('sha256')
    return have


def plan(have, wanted, staged, keep):
    """(to write, to remove): wanted files the host lacks or has otherwise, and staged files no longer wanted."""
    write = sorted(rel for rel, w in wanted.items() if have.get(rel) != w['sha256'])
    remove = sorted(rel for rel in staged if rel not in wanted and not kept(rel, keep))
    return write, remove


def pack(src, rels, wanted, out):
    """Write a tar of src/<rel> for rels to the open binary file out (members named rel, mode from wanted)."""
    with tarfile.open(fileobj=out, mode='w', format=tarfile.PAX_FORMAT) as tf:
        for rel in rels:
            path = os.path.join(src, rel)
            info = tf.gettarinfo(path, arcname=rel)
            if not info.isfile():
                raise StageError('%s is not a regular file on the controller: stage_files ships regular files only'
                                 % path)
            info.mode = wanted[rel]['mode']
            info.uid = info.gid = 0
            info.uname = info.gname = ''
            with open(path, 'rb') as f:
                tf.addfile(info, f)


def bundle_members(bundle):
    """The regular-file members of a bundle tar by name."""
    with tarfile.open(bundle, mode='r:*') as tf:
        return set(m.name for m in tf.getmembers() if m.isfile())


def _inside(dest, path):
    dest = os.path.realpath(dest)
    return os.path.realpath(path).startswith(dest + os.sep)


def _make_dirs(dest, rel):
    parent = os.path.dirname(os.path.join(dest, rel))
    # the deepest part of the path that exists must be inside dest before any directory is made below it
    # (dest itself exists: the module makes it first)
    existing = parent
    while not os.path.lexists(existing) and existing != os.path.dirname(existing):
        existing = os.path.dirname(existing)
    _refuse_outside(dest, existing, rel)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    _refuse_outside(dest, parent, rel)
    return parent


def _refuse_outside(dest, directory, rel):
    if not _inside(dest, os.path.join(directory, 'x')):
        raise StageError('%s leads out of %s through a symlink: remove that symlink on the host' % (rel, dest))


def apply(dest, bundle, write, remove, wanted, entries, keep=()):
    """Unpack write from bundle into dest (each checked against its SHA-256, replaced atomically), remove
    remove, and return the new manifest entries: the wanted files, and the staged files that keep protects
    (still as staged, so that a later stage that wants them again need not send them)."""
    new = dict((rel, e) for rel, e in entries.items() if isinstance(e, dict)
               and ((rel in wanted and rel not in write) or (rel not in wanted and kept(rel, keep))))
    if write:
        with tarfile.open(bundle, mode='r:*') as tf:
            members = dict((m.name, m) for m in tf.getmembers() if m.isfile())
            for rel in write:
                parent = _make_dirs(dest, rel)
                fd, tmp = tempfile.mkstemp(prefix='.stage-', dir=parent)
                try:
                    h = hashlib.sha256()
                    src = tf.extractfile(members[rel])
                    with os.fdopen(fd, 'wb') as out:
                        for block in iter(lambda: src.read(1 << 20), b''):
                            h.update(block)
                            out.write(block)
                    if h.hexdigest() != wanted[rel]['sha256']:
                        raise StageError('%s arrived with SHA-256 %s, not %s: it changed on the controller while '
                                         'it was packed; run again' % (rel, h.hexdigest(), wanted[rel]['sha256']))
                    os.chmod(tmp, wanted[rel]['mode'])
                    os.rename(tmp, os.path.join(dest, rel))
                except BaseException:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    raise
                st = os.lstat(os.path.join(dest, rel))
                new[rel] = {'sha256': wanted[rel]['sha256'], 'size': st.st_size, 'mtime_ns': st.st_mtime_ns,
                            'mode': wanted[rel]['mode']}
    for rel in remove:
        path = os.path.join(dest, rel)
        if os.path.lexists(path) and _inside(dest, path) and not os.path.isdir(path):
            os.unlink(path)
    return new


def manifest_text(entries):
    return json.dumps({'version': MANIFEST_VERSION, 'files': entries}, indent=1, sort_keys=True) + '\n'


def write_manifest(path, entries):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.manifest-', dir=directory)
    with os.fdopen(fd, 'w') as f:
        f.write(manifest_text(entries))
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def diff(write, remove, have, wanted):
    """A before/after text of the files that change (path and short SHA-256)."""
    before = ''.join('%s %s\n' % (rel, (have.get(rel) or 'absent')[:12]) for rel in write + remove)
    after = ''.join(['%s %s\n' % (rel, wanted[rel]['sha256'][:12]) for rel in write]
                    + ['%s absent\n' % rel for rel in remove])
    return {'before': before, 'after': after, 'before_header': 'staged files', 'after_header': 'staged files'}


def record_text(have):
    return json.dumps(have, indent=1, sort_keys=True) + '\n'


def read_record(path):
    """The controller's record of a host's files ({rel: sha256}), or None when there is none."""
    try:
        with io.open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
