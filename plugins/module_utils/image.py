# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VM image's recipe and cache entry (vm_image): the debootstrap package
set and ``Packages`` index slimming, the cache key, the entry's files,
manifest, checksums and ``verified.json`` stamp, cloud-image locations and
checksums, and the checks of image options (package names, URLs, sizes).
Pure functions over text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.vm_base import ARCH_INFO


# Bump whenever the image recipe (debootstrap arguments, files written into
# the rootfs, mkfs/convert options) changes: it is part of the cache key, so
# a bump makes every cached image stale and the next run rebuilds.
RECIPE_VERSION = 1

# The same for cloud-image entries (fetch, checksum, conversion to qcow2):
# part of their cache key, independent of the debootstrap recipe.
CLOUD_RECIPE_VERSION = 1

SUPPORTED_RELEASES = ('bookworm', 'trixie')

# Installed by debootstrap --include in every image (the kernel is added per arch).
BASE_PACKAGES = (
    'systemd-sysv', 'udev', 'kmod', 'dbus', 'openssh-server', 'python3',
    'iproute2', 'sudo', 'ca-certificates', 'procps', 'e2fsprogs',
)


def normalise_packages(packages):
    return sorted(set(p.strip() for p in packages or [] if p and p.strip()))


def include_packages(arch, bake_packages):
    """debootstrap ``--include`` list: kernel + base + baked packages (sorted, unique)."""
    return [ARCH_INFO[arch]['kernel_package']] + sorted(set(BASE_PACKAGES) | set(normalise_packages(bake_packages)))


def debpaths_packages(text):
    """Package names in debootstrap's ``debootstrap/debpaths`` (``NAME PATH`` a line): what the first stage fetched."""
    return set(line.split()[0] for line in text.splitlines() if line.strip())


def slim_packages_index(text, names):
    """The stanzas of an apt ``Packages`` index whose ``Package`` is in ``names``, in their order.

    debootstrap's second stage re-reads the whole index (tens of MB) with perl
    and grep several times, once per pre-dependency; run under qemu-user that
    is minutes a read. Everything it resolves there is among the packages the
    first stage already fetched, so it needs no other stanza.
    """
    kept = []
    for stanza in text.split('\n\n'):
        body = stanza.strip('\n')
        for line in body.split('\n'):
            if line.startswith('Package:'):
                if line[len('Package:'):].strip() in names:
                    kept.append(body)
                break
    return ''.join(stanza + '\n\n' for stanza in kept)


def cache_key(inputs, recipe_version=None):
    """A stable short hash of the inputs that shape an image (a dict).

    ``recipe_version`` defaults to :data:`RECIPE_VERSION` (debootstrap images);
    cloud-image entries pass :data:`CLOUD_RECIPE_VERSION`.
    """
    payload = dict(inputs)
    payload['recipe_version'] = RECIPE_VERSION if recipe_version is None else recipe_version
    if 'packages' in payload:
        payload['packages'] = normalise_packages(payload['packages'])
    blob = json.dumps(payload, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


def image_entry_name(release, arch, key):
    return '%s-%s-%s' % (release, arch, key)


IMAGE_FILES = ('disk.qcow2', 'vmlinuz', 'initrd.img')
# a cloud image boots through firmware: its entry holds the disk only
CLOUD_IMAGE_FILES = ('disk.qcow2',)


def image_files(source):
    """The files a valid cache entry of ``source`` (debootstrap or cloud_image) holds."""
    return CLOUD_IMAGE_FILES if source == 'cloud_image' else IMAGE_FILES


def manifest_valid(manifest_text, expected_key, present_files, required=IMAGE_FILES):
    """True when ``manifest_text`` is a complete manifest for ``expected_key``.

    ``present_files`` maps file name -> size of the files really in the entry;
    an entry whose ``required`` files (:func:`image_files` of its source) are
    missing or have another size is not valid.
    """
    if not manifest_text:
        return False
    try:
        manifest = json.loads(manifest_text)
    except ValueError:
        return False
    if not isinstance(manifest, dict) or manifest.get('key') != expected_key:
        return False
    files = manifest.get('files') or {}
    for name in required:
        if name not in files or present_files.get(name) != files[name]:
            return False
    return True


def manifest_checksums(manifest_text, required=IMAGE_FILES):
    """``{name: sha256 hex}`` recorded in a manifest for every ``required`` file; None when it has none.

    Entries built before checksums were recorded have no ``sha256`` map (they
    are hashed once and the map added, see vm_image).
    """
    try:
        sums = json.loads(manifest_text or '').get('sha256')
    except (ValueError, AttributeError):
        return None
    if not isinstance(sums, dict) or any(not isinstance(sums.get(n), str) for n in required):
        return None
    return dict((n, sums[n]) for n in required)


def file_signature(st):
    """What must stay the same for a verified file to need no new hash: device, inode, size, mtime and ctime.

    ctime cannot be set back by a user (``touch -d`` changes it), so a write
    through the filesystem always changes the signature.
    """
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def stamp_text(signatures, sums):
    """The ``verified.json`` of an entry: the file signatures seen when these sha256 sums were checked."""
    return json.dumps({'files': signatures, 'sha256': sums}, indent=2, sort_keys=True) + '\n'


def stamp_fresh(stamp, signatures, sums):
    """True when ``stamp`` (verified.json text) vouches for ``sums`` with the very same ``signatures``."""
    try:
        data = json.loads(stamp or '')
    except ValueError:
        return False
    return isinstance(data, dict) and data.get('sha256') == sums and data.get('files') == signatures


# ---------------------------------------------------------------- image option checks

# Debian policy 5.6.7: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
PACKAGE_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9+.-]+$')
SIZE_RE = re.compile(r'^([0-9]+)([KMGTPE](?:iB|B)?)?$')
SIZE_UNITS = {'K': 10, 'M': 20, 'G': 30, 'T': 40, 'P': 50, 'E': 60}


def size_bytes(text):
    """``'8G'`` -> bytes (``truncate -s`` syntax: K M G T P E, optionally KiB/KB); ValueError saying what is wrong."""
    m = SIZE_RE.match(text or '')
    if not m:
        raise ValueError('%r is not a size; give a positive number with an optional unit K, M, G or T, e.g. 8G' % text)
    unit = m.group(2) or ''
    power = 1 if not unit else (1000 ** (SIZE_UNITS[unit[0]] // 10) if unit.endswith('B') and not unit.endswith('iB')
                                else 1 << SIZE_UNITS[unit[0]])
    size = int(m.group(1)) * power
    if size <= 0:
        raise ValueError('%r is not a positive size; give e.g. 8G' % text)
    return size


def bad_package_name(name):
    """None for a valid Debian package name, else the reason (Debian policy: ``[a-z0-9][a-z0-9+.-]+``)."""
    if isinstance(name, str) and PACKAGE_NAME_RE.match(name):
        return None
    return ('%r is not a Debian package name (lower case letters, digits, "+", "-" and "."; at least two '
            'characters, starting with a letter or digit)' % (name,))


def bad_url(value, schemes=('http', 'https')):
    """None for a URL with one of ``schemes``, a host and no spaces/quotes; else the reason."""
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://([^/\s"]+)[^\s"]*$', value or '')
    if not m or m.group(1).lower() not in schemes:
        return '%r is not an %s URL' % (value, '/'.join(schemes))
    return None


# ---------------------------------------------------------------- cloud image fetch

CHECKSUM_LENGTHS = {'sha256': 64, 'sha512': 128}


def parse_checksum(text):
    """``sha256:<hex>`` / ``sha512:<hex>`` -> ``(algorithm, hex)`` (lower case); ValueError saying what is wrong."""
    value = (text or '').strip()
    if ':' not in value:
        raise ValueError('%r is not <algorithm>:<hex>; give e.g. sha256:<64 hex digits> (sha256sum of the image) '
                         'or sha512:<128 hex digits>' % value)
    algo, digest = value.split(':', 1)
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if algo not in CHECKSUM_LENGTHS:
        raise ValueError('checksum algorithm %r is not supported; use sha256 or sha512' % algo)
    if len(digest) != CHECKSUM_LENGTHS[algo] or not re.match(r'^[0-9a-f]+$', digest):
        raise ValueError('%s checksum %r is not %d hex digits' % (algo, digest, CHECKSUM_LENGTHS[algo]))
    return algo, digest


def cloud_image_location(value):
    """``(kind, where)``: ``('url', 'https://...')`` or ``('path', '/abs/path')`` (a ``file://`` URL is a path)."""
    value = (value or '').strip()
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$', value)
    if not m:
        return 'path', value
    scheme = m.group(1).lower()
    if scheme == 'file':
        rest = m.group(2)
        if rest.startswith('localhost/'):
            rest = rest[len('localhost'):]
        return 'path', rest
    if scheme in ('http', 'https'):
        return 'url', value
    raise ValueError('cloud_image %r: scheme %s is not supported; give a path, a file:// URL or an http(s) URL'
                     % (value, scheme))


def cloud_entry_name(arch, key):
    return 'cloud-%s-%s' % (arch, key)


def parse_qemu_img_info(text):
    """``qemu-img info --output=json`` -> ``{'format', 'virtual_size', 'backing'}``; ValueError on bad JSON."""
    info = json.loads(text or '')
    if not isinstance(info, dict) or 'format' not in info:
        raise ValueError('qemu-img info gave no format')
    return {'format': info['format'], 'virtual_size': info.get('virtual-size'),
            'backing': info.get('full-backing-filename') or info.get('backing-filename')}
