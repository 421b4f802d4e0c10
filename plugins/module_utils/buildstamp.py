# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Incremental build steps: hash what feeds a step, keep a stamp, decide whether it runs.

A step's *key* is the sha256 of its input files (relative path + content digest, in
sorted order), the key material the caller passes (toolchain versions, flags), the
environment and the command line. The stamp of the last successful run is kept in a
JSON file (one entry per step name); the step runs when its key differs from the stamp,
when the files it writes (``outputs`` globs) are not those it wrote last time, or when
forced. Reading and hashing are here; running the command is the module's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import json
import os

STAMP_FILE = 'stamps.json'
DEFAULT_EXCLUDE = ('.git', '.labkit', 'bin')


def _matches(rel, patterns):
    """A pattern without ``/`` matches the base name, one with ``/`` the relative path."""
    base = rel.rsplit('/', 1)[-1]
    for pat in patterns:
        if fnmatch.fnmatchcase(rel if '/' in pat else base, pat):
            return True
    return False


def walk_files(root, exclude=DEFAULT_EXCLUDE):
    """Sorted relative paths (``/``-separated) of the regular files under ``root``.

    Directories (and files) matching an ``exclude`` pattern are not entered (not listed);
    symlinks to directories are not followed.
    """
    found = []
    for base, dirs, files in os.walk(root):
        rel_base = os.path.relpath(base, root)
        rel_base = '' if rel_base == '.' else rel_base.replace(os.sep, '/') + '/'
        dirs[:] = sorted(d for d in dirs if not _matches(rel_base + d, exclude))
        for name in files:
            rel = rel_base + name
            if not _matches(rel, exclude) and os.path.isfile(os.path.join(base, name)):
                found.append(rel)
    return sorted(found)


def feeds_go_generate(rel, data):
    """Whether a file feeds ``go generate``: go.mod, go.sum, every non-Go non-Markdown file
    (C sources, headers...) and the Go files holding a ``//go:generate`` line."""
    if rel.endswith('.go'):
        return b'//go:generate' in data
    return not rel.endswith('.md')


def _entry(rel, data):
    return rel.encode('utf-8') + b'\0' + hashlib.sha256(data).digest()


def scan(root, inputs=('*',), exclude=DEFAULT_EXCLUDE, outputs=(), generate_only=False):
    """Hash the tree under ``root``.

    Returns a dict: ``inputs`` (hex digest of the input files), ``outputs`` (hex digest of
    the files matching ``outputs``; those are never inputs), ``files`` (number of input
    files), ``output_files`` (their relative paths).
    """
    ins, outs = hashlib.sha256(), hashlib.sha256()
    count, out_files = 0, []
    for rel in walk_files(root, exclude):
        is_output = bool(outputs) and _matches(rel, outputs)
        if not is_output and not _matches(rel, inputs):
            continue
        with open(os.path.join(root, rel), 'rb') as fh:
            data = fh.read()
        if is_output:
            outs.update(_entry(rel, data))
            out_files.append(rel)
        elif not generate_only or feeds_go_generate(rel, data):
            ins.update(_entry(rel, data))
            count += 1
    return {'inputs': ins.hexdigest(), 'outputs': outs.hexdigest(), 'files': count, 'output_files': out_files}


def step_key(inputs_digest, key_material, argv, environment):
    """The step's key: sha256 over the inputs digest, key material, argv and environment (canonical JSON)."""
    blob = json.dumps([inputs_digest, key_material, list(argv), environment or {}], sort_keys=True,
                      separators=(',', ':'))
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()


def parse_stamps(text):
    """The stamps dict from the stamp file's text; {} when missing or not a JSON object."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def decide(stamp, key, outputs_digest, track_outputs, force):
    """Pure: ``(run, reason)`` for a step given its last stamp (a dict or None)."""
    if force:
        return True, 'forced'
    if not isinstance(stamp, dict) or not stamp.get('key'):
        return True, 'no stamp of a successful run'
    if stamp.get('key') != key:
        return True, 'inputs changed'
    if track_outputs and stamp.get('outputs') != outputs_digest:
        return True, 'outputs changed or missing'
    return False, 'up to date'


def record(stamps, name, key, outputs_digest, track_outputs):
    """Pure: the stamps dict with ``name``'s entry set after a successful run."""
    entry = {'key': key}
    if track_outputs:
        entry['outputs'] = outputs_digest
    new = dict(stamps)
    new[name] = entry
    return new


def render(stamps):
    """The stamp file's text (stable: sorted keys, indented, final newline)."""
    return json.dumps(stamps, sort_keys=True, indent=2) + '\n'
