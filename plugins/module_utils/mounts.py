# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure parsers and planners for mounts: /proc/self/mountinfo, /proc/filesystems, /etc/fstab.

Nothing here reads a file or runs a command; callers pass text in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

# The comment put at the end of every fstab line this collection adds, so that
# a later run can find (and remove) only its own lines.
FSTAB_MARKER = '# labkit.ebpf_rdma'

_OCTAL = re.compile(r'\\([0-7]{3})')
# A comment in fstab starts at a "#" that begins a field (or the line).
_FSTAB_COMMENT = re.compile(r'(^|\s)#')

# Directories a pseudo-filesystem must never be mounted on: mounting hides what they hold.
SYSTEM_DIRS = ('/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media',
               '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var')
# Trees nothing may be mounted beneath (programs, configuration, devices, kernel interfaces)...
SYSTEM_TREES = ('/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys',
                '/usr')
# ... except the usual homes of debugfs and tracefs.
KERNEL_FS_HOMES = ('/sys/kernel/debug', '/sys/kernel/tracing', '/sys/kernel/debug/tracing')


def unescape_octal(field):
    """Undo the kernel's (and fstab's) octal escapes: ``/mnt/a\\040b`` -> ``/mnt/a b``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def escape_octal(path):
    """Escape a path for an fstab field (space, tab, newline, backslash)."""
    out = []
    for ch in path:
        if ch in ' \t\n\\':
            out.append('\\%03o' % ord(ch))
        else:
            out.append(ch)
    return ''.join(out)


def normalize_path(path):
    """``/sys/kernel/debug/`` -> ``/sys/kernel/debug``, ``/sys/kernel/x/../debug`` -> ``/sys/kernel/debug``
    (``/`` stays ``/``; ``..`` is resolved by name, as ``os.path.normpath`` does)."""
    if not path:
        return path
    path = posixpath.normpath(re.sub('/+', '/', path))
    return re.sub('^/+', '/', path)


def mount_point_problem(option, path, usual):
    """Why ``path`` (option ``option``, as given) cannot take a debugfs/tracefs mount, or None. Pure.

    ``usual`` is the usual place, named in the fix. Refused: a relative path, characters
    /etc/fstab cannot hold (a "#" starts a comment there; control characters break the line;
    blanks and backslashes are fine, written as octal escapes), a system directory of
    :data:`SYSTEM_DIRS` and anything beneath :data:`SYSTEM_TREES` but :data:`KERNEL_FS_HOMES`.
    """
    if not path.startswith('/'):
        return '%s must be an absolute path, got %r; give the full path, e.g. %s' % (option, path, usual)
    bad = sorted(set(ch for ch in path if ch == '#' or ord(ch) < 32 or ord(ch) == 127))
    if bad:
        return ('%s %r contains %s, which /etc/fstab cannot hold (a "#" starts a comment there, a control character '
                'breaks the line), so its boot-time line would never be found again and would be added on every run; '
                'choose a path without it, e.g. %s' % (option, path, ', '.join(repr(ch) for ch in bad), usual))
    clean = normalize_path(path)
    fix = 'use the usual place %s, or an empty directory of your own such as /mnt/%s' % (usual, option.split('_')[0])
    if clean in SYSTEM_DIRS:
        return ('%s %s is a system directory; mounting over it would hide everything it holds; %s'
                % (option, clean, fix))
    trees = [t for t in SYSTEM_TREES if is_beneath(clean, t)]
    if trees and clean not in KERNEL_FS_HOMES:
        allowed = ', '.join(KERNEL_FS_HOMES)
        return ('%s %s is beneath %s, which holds files or kernel interfaces the system needs (only %s are allowed '
                'there); mounting over it would hide them; %s' % (option, clean, trees[0], allowed, fix))
    return None


def parse_mountinfo(text):
    """Parse /proc/self/mountinfo into a list of dicts, in file order.

    Each dict has ``mount_id``, ``parent_id``, ``root``, ``mount_point``,
    ``options`` (per-mount), ``fstype``, ``source`` and ``super_options``.
    Paths are unescaped (``\\040`` -> space). Malformed lines are skipped.
    """
    mounts = []
    for line in (text or '').splitlines():
        fields = line.split(' ')
        if '-' not in fields:
            continue
        sep = fields.index('-')
        if sep < 6 or len(fields) < sep + 3:
            continue
        try:
            mount_id = int(fields[0])
            parent_id = int(fields[1])
        except ValueError:
            continue
        mounts.append({
            'mount_id': mount_id,
            'parent_id': parent_id,
            'root': unescape_octal(fields[3]),
            'mount_point': unescape_octal(fields[4]),
            'options': fields[5],
            'fstype': fields[sep + 1],
            'source': unescape_octal(fields[sep + 2]),
            'super_options': fields[sep + 3] if len(fields) > sep + 3 else '',
        })
    return mounts


def mount_at(mounts, path):
    """The mount visible at ``path`` (the last one stacked there), or None."""
    path = normalize_path(path)
    found = None
    for m in mounts:
        if normalize_path(m['mount_point']) == path:
            found = m
    return found


def mounts_beneath(mounts, path):
    """Mount points strictly beneath ``path``, deepest first (the order to unmount them)."""
    path = normalize_path(path)
    prefix = path.rstrip('/') + '/'
    below = sorted(set(normalize_path(m['mount_point']) for m in mounts
                       if normalize_path(m['mount_point']).startswith(prefix)))
    return sorted(below, key=lambda p: (-p.count('/'), p))


def is_beneath(path, parent):
    """True when ``path`` lies strictly beneath ``parent``."""
    path = normalize_path(path)
    parent = normalize_path(parent)
    return path != parent and path.startswith(parent.rstrip('/') + '/')


def parse_filesystems(text):
    """Parse /proc/filesystems into the set of filesystem type names."""
    names = set()
    for line in (text or '').splitlines():
        parts = line.split()
        if parts:
            names.add(parts[-1])
    return names


def parse_fstab(text):
    """Parse fstab text into entries: dicts with ``lineno`` (0-based), ``spec``,
    ``file`` (unescaped), ``vfstype``, ``options``, ``ours`` (carries
    :data:`FSTAB_MARKER`) and ``line`` (the raw line without its newline).

    Comment and blank lines are not entries.
    """
    entries = []
    for lineno, line in enumerate((text or '').splitlines()):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        m = _FSTAB_COMMENT.search(line)
        body, comment = (line[:m.start()], line[m.end():]) if m else (line, '')
        fields = body.split()
        if len(fields) < 2:
            continue
        entries.append({
            'lineno': lineno,
            'spec': unescape_octal(fields[0]),
            'file': normalize_path(unescape_octal(fields[1])),
            'vfstype': fields[2] if len(fields) > 2 else '',
            'options': fields[3] if len(fields) > 3 else '',
            'ours': comment.strip() == FSTAB_MARKER.lstrip('#').strip(),
            'line': line,
        })
    return entries


def fstab_entry_for(entries, path):
    """The last fstab entry whose mount point is ``path``, or None."""
    path = normalize_path(path)
    found = None
    for entry in entries:
        if entry['file'] == path:
            found = entry
    return found


def fstab_line(fstype, path):
    """The fstab line this collection adds for ``fstype`` at ``path`` (no newline)."""
    return '%s %s %s defaults 0 0 %s' % (fstype, escape_octal(normalize_path(path)), fstype, FSTAB_MARKER)


def fstab_add_lines(text, lines):
    """Return ``text`` with ``lines`` appended; the existing bytes stay as they are
    (a final newline is added first when the file lacks one)."""
    text = text or ''
    if not lines:
        return text
    if text and not text.endswith('\n'):
        text += '\n'
    return text + ''.join(line + '\n' for line in lines)


def fstab_remove_ours(text, paths):
    """Return ``text`` without the lines carrying :data:`FSTAB_MARKER` whose mount
    point is in ``paths``; every other line stays byte for byte."""
    wanted = set(normalize_path(p) for p in paths)
    drop = set(e['lineno'] for e in parse_fstab(text) if e['ours'] and e['file'] in wanted)
    if not drop:
        return text
    kept = [line for i, line in enumerate((text or '').splitlines(True)) if i not in drop]
    return ''.join(kept)


def systemd_mount_unit_name(path):
    """The systemd unit name for a mount point: ``/sys/kernel/debug`` -> ``sys-kernel-debug.mount``.

    Implements systemd's path escaping (``systemd-escape --path --suffix=mount``).
    """
    path = normalize_path(path).strip('/')
    if not path:
        return '-.mount'
    out = []
    for i, ch in enumerate(path):
        if ch == '/':
            out.append('-')
        elif ch.isalnum() and ord(ch) < 128 or ch in ':_' or (ch == '.' and i > 0):
            out.append(ch)
        else:
            for byte in bytearray(ch.encode('utf-8')):
                out.append('\\x%02x' % byte)
    return ''.join(out) + '.mount'
