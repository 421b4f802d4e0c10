# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Distribution facts and package names, as pure functions.

``parse_os_release`` turns the text of ``/etc/os-release`` into a dict; the
other functions take that dict (and the running kernel release where the
package is per kernel) and return package names. Nothing here reads files or
runs commands, so roles' helpers and modules can share it and unit tests need
no mocks.

Families: ``debian`` (Debian, Ubuntu and their derivatives: apt/dpkg) and
``redhat`` (Fedora, RHEL, CentOS Stream, Rocky, Alma, Oracle Linux: dnf/rpm).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

DEBIAN_IDS = frozenset(['debian', 'ubuntu', 'linuxmint', 'pop', 'raspbian', 'kali', 'elementary', 'zorin', 'neon'])
REDHAT_IDS = frozenset(['fedora', 'rhel', 'centos', 'rocky', 'almalinux', 'ol', 'amzn', 'circle', 'eurolinux', 'nobara'])


def parse_os_release(text):
    """Parse os-release(5) text into a dict of str -> str.

    Handles comments, blank lines, single/double quotes and backslash escapes
    inside double quotes. Keys keep their case (``ID``, ``ID_LIKE``...).
    """
    result = {}
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in ('"', "'"):
            quote = value[0]
            value = value[1:-1]
            if quote == '"':
                value = re.sub(r'\\(["\\$`])', r'\1', value)
        result[key] = value
    return result


def _ids(os_release):
    os_release = os_release or {}
    ident = os_release.get('ID', '').strip().lower()
    like = os_release.get('ID_LIKE', '').strip().lower().split()
    return ident, like


def distro_family(os_release):
    """``'debian'``, ``'redhat'`` or None, from ID then ID_LIKE."""
    ident, like = _ids(os_release)
    if ident in DEBIAN_IDS:
        return 'debian'
    if ident in REDHAT_IDS:
        return 'redhat'
    for other in like:
        if other in DEBIAN_IDS:
            return 'debian'
        if other in REDHAT_IDS:
            return 'redhat'
    return None


def is_ubuntu_like(os_release):
    """True for Ubuntu and its derivatives (their kernels split modules and tools per release)."""
    ident, like = _ids(os_release)
    return ident == 'ubuntu' or 'ubuntu' in like


def describe_distro(os_release):
    """A short human name: PRETTY_NAME, else NAME VERSION_ID, else 'unknown distribution'."""
    os_release = os_release or {}
    if os_release.get('PRETTY_NAME'):
        return os_release['PRETTY_NAME']
    name = ' '.join(p for p in (os_release.get('NAME'), os_release.get('VERSION_ID')) if p)
    return name or 'unknown distribution'


def version_tuple(version_id):
    """``'24.04'`` -> ``(24, 4)``; ``'12'`` -> ``(12,)``; non-numeric parts end the tuple."""
    parts = []
    for piece in (version_id or '').split('.'):
        m = re.match(r'^(\d+)', piece)
        if not m:
            break
        parts.append(int(m.group(1)))
    return tuple(parts)


def package_manager(os_release):
    """``'apt'`` for the Debian family, ``'dnf'`` for the Red Hat family, else None."""
    return {'debian': 'apt', 'redhat': 'dnf'}.get(distro_family(os_release))


def kernel_flavour(kernel_release):
    """The flavour part of a Debian/Ubuntu kernel release, or None.

    ``6.1.0-50-cloud-amd64`` -> ``cloud-amd64``; ``6.12.41+deb13-amd64`` ->
    ``amd64``; ``6.8.0-1008-azure`` -> ``azure``; ``6.8.0-31-generic`` ->
    ``generic``. Leading dash-separated parts that start with a digit are the
    version and ABI; the rest is the flavour. Fedora-style releases
    (``6.8.5-301.fc40.x86_64``) have no flavour: None.
    """
    parts = (kernel_release or '').split('-')
    i = 0
    while i < len(parts) and parts[i][:1].isdigit():
        i += 1
    flavour = '-'.join(parts[i:])
    return flavour or None


def headers_package(os_release, kernel_release):
    """The package holding the build headers of ``kernel_release``, or None for an unknown family.

    Debian family: ``linux-headers-<release>``; Red Hat family:
    ``kernel-devel-<release>`` (``uname -r`` there already carries
    version-release.arch, which dnf accepts as a package spec).
    """
    family = distro_family(os_release)
    if family == 'debian':
        return 'linux-headers-%s' % kernel_release
    if family == 'redhat':
        return 'kernel-devel-%s' % kernel_release
    return None


def _flavour_meta_package(os_release, kernel_release, debian_pattern, redhat_name):
    """Debian family: ``debian_pattern % <flavour of the running kernel>``; Red Hat family: ``redhat_name``."""
    family = distro_family(os_release)
    if family == 'redhat':
        return redhat_name
    if family == 'debian':
        flavour = kernel_flavour(kernel_release)
        return debian_pattern % flavour if flavour else None
    return None


def headers_meta_package(os_release, kernel_release):
    """The meta-package that tracks the newest headers of the running kernel's flavour.

    Debian: ``linux-headers-<flavour>`` (``linux-headers-amd64``,
    ``linux-headers-cloud-amd64``); Ubuntu: ``linux-headers-<flavour>``
    (``linux-headers-generic``, ``linux-headers-azure``); Red Hat family:
    ``kernel-devel``. None when unknown.
    """
    return _flavour_meta_package(os_release, kernel_release, 'linux-headers-%s', 'kernel-devel')


def image_meta_package(os_release, kernel_release):
    """The meta-package that tracks the newest kernel image of the running flavour (None if unknown).

    Debian: ``linux-image-<flavour>``; Ubuntu: ``linux-image-<flavour>``; Red Hat family: ``kernel``.
    """
    return _flavour_meta_package(os_release, kernel_release, 'linux-image-%s', 'kernel')


def headers_package_prefix(os_release):
    """The name prefix shared by all versioned headers packages (for listing them)."""
    family = distro_family(os_release)
    if family == 'debian':
        return 'linux-headers-'
    if family == 'redhat':
        return 'kernel-devel-'
    return None


def bpftool_packages(os_release, kernel_release):
    """Packages that provide a working ``bpftool`` for the running kernel (list, maybe empty).

    Debian (bullseye and later) and the Red Hat family ship a ``bpftool``
    package. Ubuntu up to 24.10 ships the real binary only in
    ``linux-tools-<release>`` (``linux-tools-common`` holds the
    ``/usr/sbin/bpftool`` wrapper that looks for it); the unversioned
    ``bpftool`` package arrived with 25.04.
    """
    family = distro_family(os_release)
    if family is None:
        return []
    if is_ubuntu_like(os_release):
        if os_release.get('ID') == 'ubuntu' and version_tuple(os_release.get('VERSION_ID')) >= (25, 4):
            return ['bpftool']
        return ['linux-tools-common', 'linux-tools-%s' % kernel_release]
    return ['bpftool']


def bpftool_package(os_release, kernel_release):
    """The main package of :func:`bpftool_packages` (the versioned one on old Ubuntu), or None."""
    packages = bpftool_packages(os_release, kernel_release)
    return packages[-1] if packages else None


def rdma_rxe_modules_package(os_release, kernel_release):
    """The extra package that carries ``rdma_rxe.ko`` for ``kernel_release``, or None.

    Ubuntu (and derivatives) split rarely used drivers, rdma_rxe among them,
    into ``linux-modules-extra-<release>`` for generic and cloud kernels
    (aws, azure, gcp...). Debian ships it in the ``linux-image-<release>``
    package itself, except for the ``cloud`` flavour which does not build it
    at all (checked: 6.1.0-50-cloud-amd64 carries ib_core and mlx4/mlx5 but
    no drivers/infiniband/sw). For the Red Hat family no extra package is
    known here: None.
    """
    if is_ubuntu_like(os_release):
        return 'linux-modules-extra-%s' % kernel_release
    return None


def rdma_rxe_fix(os_release, kernel_release):
    """Human-readable fix for a kernel without ``rdma_rxe`` (for error messages)."""
    package = rdma_rxe_modules_package(os_release, kernel_release)
    if package:
        return 'install %s (apt-get install %s), or a kernel that ships rdma_rxe' % (package, package)
    flavour = kernel_flavour(kernel_release) or ''
    if distro_family(os_release) == 'debian' and flavour.startswith('cloud'):
        generic = flavour[len('cloud-'):] or 'amd64'
        return ('the Debian %s kernel does not build rdma_rxe: install linux-image-%s and reboot into it'
                % (flavour, generic))
    return 'use a kernel built with CONFIG_RDMA_RXE (the distribution\'s default kernel usually is)'


def install_command(os_release, packages):
    """The argv that installs ``packages`` non-interactively, or None for an unknown family."""
    family = distro_family(os_release)
    if family == 'debian':
        return ['apt-get', 'install', '-y', '--no-install-recommends'] + list(packages)
    if family == 'redhat':
        return ['dnf', 'install', '-y'] + list(packages)
    return None
