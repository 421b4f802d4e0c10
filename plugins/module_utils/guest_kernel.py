# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guest's kernel as an input of its own (vm_image ``kernel_suite``): the
kernel a suite of the archive carries (read from ``apt-cache show`` with an
apt state of its own, never the controller's), the derived image's cache key,
where the installed kernel and initrd are (``/boot`` or the
``/usr/lib/modules/<release>/`` layout of newer packages), the apt files the
guest gets for its kernel's suite, and the modes read back with ``debugfs``.
Pure functions over text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re


# Bump when the derivation (how the kernel is installed into the base tree,
# the files written for it) changes: part of the derived entries' key.
KERNEL_RECIPE_VERSION = 1

SUITE_RE = re.compile(r'^[a-z][a-z0-9]*(-[a-z0-9]+)*$')
KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'

# Where the derived image keeps what was installed (read by humans and by the
# kernel_headers/ebpf_facts modules in the guest).
MARKER_PATH = '/etc/labkit/kernel.json'
GUEST_SOURCES_PATH = '/etc/apt/sources.list.d/labkit-kernel.sources'
GUEST_PREFERENCES_PATH = '/etc/apt/preferences.d/labkit-kernel'


def bad_suite(suite):
    """None for a suite name such as ``bookworm-backports``; else the reason."""
    if isinstance(suite, str) and SUITE_RE.match(suite):
        return None
    return ('%r is not a Debian suite name (lower case letters and digits, parts joined by "-", '
            'e.g. bookworm-backports or unstable)' % (suite,))


def isolated_apt_options(root, proxy='', status='/dev/null'):
    """``-o`` options that give apt-get/apt-cache a state of their own under ``root``.

    The sources come from ``root/sources`` only, the lists, cache and (empty)
    dpkg status live under ``root``: the controller's apt state is neither read
    nor written. ``status`` is the dpkg status to read (an image tree's own
    when installing into it).
    """
    opts = {
        'Dir::Etc::SourceList': '/dev/null',
        'Dir::Etc::SourceParts': root + '/sources',
        'Dir::Etc::Preferences': '/dev/null',
        'Dir::Etc::PreferencesParts': '/dev/null',
        'Dir::State::Lists': root + '/lists',
        'Dir::State::Status': status,
        'Dir::Cache': root + '/cache',
        'Acquire::Check-Valid-Until': 'false',
        'Acquire::Languages': 'none',
        'APT::Sandbox::User': 'root',
        'Acquire::http::Proxy': proxy or 'DIRECT',
    }
    argv = []
    for key in sorted(opts):
        argv += ['-o', '%s=%s' % (key, opts[key])]
    return argv


def suite_sources(mirror, suites, keyring=KEYRING):
    """A deb822 ``.sources`` stanza for ``suites`` of ``mirror`` (main)."""
    return ('Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n'
            % (mirror, ' '.join(suites), keyring))


def guest_preferences(suite):
    """Pin the kernel's suite to 100: the guest can install from it (headers), never upgrades into it."""
    return ('# labkit: the kernel of this image comes from %s; nothing else is taken from it unless asked\n'
            'Package: *\nPin: release n=%s\nPin-Priority: 100\n' % (suite, suite))


def parse_apt_show(text):
    """``apt-cache show`` output -> list of stanzas (dicts of the first-line values, keys as written)."""
    stanzas = []
    for block in re.split(r'\n\s*\n', text or ''):
        stanza, last = {}, None
        for line in block.splitlines():
            if line[:1] in (' ', '\t') and last:
                stanza[last] += ' ' + line.strip()
            elif ':' in line:
                last, value = line.split(':', 1)
                stanza[last] = value.strip()
        if stanza.get('Package'):
            stanzas.append(stanza)
    return stanzas


def parse_depends(value):
    """``a (= 1), b | c`` -> ``[[('a', '=', '1')], [('b', '', ''), ('c', '', '')]]``."""
    out = []
    for group in (value or '').split(','):
        alts = []
        for alt in group.split('|'):
            m = re.match(r'^\s*([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?', alt)
            if m:
                alts.append((m.group(1), m.group(2) or '', m.group(3) or ''))
        if alts:
            out.append(alts)
    return out


def _order(c):
    if c == '~':
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a, b):
    while a or b:
        na = re.match(r'^[^0-9]*', a).group(0)
        nb = re.match(r'^[^0-9]*', b).group(0)
        for i in range(max(len(na), len(nb))):
            ca = _order(na[i]) if i < len(na) else 0
            cb = _order(nb[i]) if i < len(nb) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a, b = a[len(na):], b[len(nb):]
        da = re.match(r'^[0-9]*', a).group(0)
        db = re.match(r'^[0-9]*', b).group(0)
        if int(da or 0) != int(db or 0):
            return -1 if int(da or 0) < int(db or 0) else 1
        a, b = a[len(da):], b[len(db):]
    return 0


def compare_versions(a, b):
    """Debian version comparison (epoch, upstream, revision; ``~`` sorts first): -1, 0 or 1."""
    def split(v):
        epoch, rest = (v.split(':', 1) if ':' in v else ('0', v))
        upstream, _sep, revision = rest.rpartition('-') if '-' in rest else (rest, '', '0')
        return int(epoch or 0), upstream, revision
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def resolve_kernel(show_text, arch):
    """The kernel that ``linux-image-<arch>`` of the indexes in ``show_text`` installs.

    Returns ``{'meta', 'package', 'release', 'version'}`` (the newest version
    when several are listed): ``package`` is ``linux-image-<release>``, the
    release is what ``uname -r`` prints once it runs. ValueError when there is
    none.
    """
    meta = 'linux-image-%s' % arch
    best = None
    for stanza in parse_apt_show(show_text):
        if stanza.get('Package') != meta:
            continue
        for alts in parse_depends(stanza.get('Depends')):
            name, _rel, version = alts[0]
            m = re.match(r'^linux-image-([0-9][^ ]*)$', name)
            if m and not m.group(1).endswith('-unsigned'):
                found = {'meta': meta, 'package': name, 'release': m.group(1),
                         'version': version or stanza.get('Version', '')}
                if best is None or compare_versions(found['version'], best['version']) > 0:
                    best = found
                break
    if best is None:
        raise ValueError('no %s that depends on a linux-image-<release> package' % meta)
    return best


def headers_package(release):
    return 'linux-headers-%s' % release


def derived_key_inputs(base_key, suite, kernel, headers):
    """What the key of a derived entry hashes: the base entry, the kernel's suite and resolved package/version."""
    return {'base': base_key, 'kernel_suite': suite, 'kernel_package': kernel['package'],
            'kernel_version': kernel['version'], 'kernel_headers': bool(headers)}


def derived_entry_name(release, arch, suite, key):
    return '%s-%s-k%s-%s' % (release, arch, suite, key)


def boot_file_candidates(release):
    """``{'vmlinuz': [(dir, name), ...], 'initrd': [...]}`` relative to the rootfs, in order of preference.

    Kernels up to Debian 13 install ``/boot/vmlinuz-<release>``; the package
    split of newer ones (trixie-backports 7.x) puts the kernel at
    ``/usr/lib/modules/<release>/vmlinuz``. The initrd is made by
    initramfs-tools (``/boot/initrd.img-<release>``) or dracut
    (``/boot/initramfs-<release>.img``), or beside the kernel.
    """
    mod = 'usr/lib/modules/%s' % release
    return {
        'vmlinuz': [('boot', 'vmlinuz-%s' % release), (mod, 'vmlinuz'), ('lib/modules/%s' % release, 'vmlinuz')],
        'initrd': [('boot', 'initrd.img-%s' % release), ('boot', 'initramfs-%s.img' % release),
                   (mod, 'initrd.img'), (mod, 'initrd'), (mod, 'initramfs.img')],
    }


def parse_debugfs_ls(text):
    """``debugfs -f`` output of ``ls -p <dir>`` commands -> ``{path: mode}`` of every entry listed (no . and ..).

    Lines look like ``/13/104755/0/0/f/3/`` (inode, octal mode, uid, gid, name,
    size), each block after the echoed ``debugfs: ls -p "<dir>"`` line.
    """
    modes = {}
    current = None
    for line in (text or '').splitlines():
        if line.startswith('debugfs: '):
            m = re.match(r'^debugfs: ls -p "(.*)"$', line) or re.match(r'^debugfs: ls -p (.*)$', line)
            current = m.group(1) if m else None
            continue
        if current is None:
            continue
        m = re.match(r'^/(\d+)/([0-7]+)/(\d+)/(\d+)/(.*)/(\d*)/$', line)
        if not m or m.group(5) in ('.', '..'):
            continue
        path = current.rstrip('/') + '/' + m.group(5)
        modes[path] = int(m.group(2), 8)
    return modes


def debugfs_ls_commands(dirs):
    """A ``debugfs -f`` command file listing each directory (absolute paths in the image); paths with ``"`` are left out."""
    return ''.join('ls -p "%s"\n' % d for d in dirs if '"' not in d and '\n' not in d)


def marker_text(suite, kernel, headers):
    """``/etc/labkit/kernel.json`` of a derived image: which kernel, from where, and whether its headers are in."""
    return json.dumps({'suite': suite, 'package': kernel['package'], 'release': kernel['release'],
                       'version': kernel['version'], 'headers': headers}, indent=2, sort_keys=True) + '\n'


def marker_headers_note(marker_text_value, release):
    """From a marker file: the reason the headers of ``release`` are not installed; '' when they are or it says nothing."""
    try:
        data = json.loads(marker_text_value or '')
    except ValueError:
        return ''
    if not isinstance(data, dict) or data.get('release') != release:
        return ''
    headers = data.get('headers') or {}
    if headers.get('installed'):
        return ''
    return headers.get('reason') or ''
