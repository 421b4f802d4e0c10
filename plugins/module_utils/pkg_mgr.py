# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Package-manager output, as pure functions over text: ``apt-cache policy``,
``apt-cache search``, ``apt-get -s remove`` and ``dnf list``, and which of the
headers packages they name belong to a real kernel release, newest first.
Package names per distribution are in ``distro``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.distro import kernel_flavour
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.kernel import release_sort_key


def parse_apt_policy(text):
    """``apt-cache policy PKG`` -> ``{'installed': ver|None, 'candidate': ver|None}``.

    apt prints nothing (exit 0) for a package it does not know: both None.
    """
    result = {'installed': None, 'candidate': None}
    for line in (text or '').splitlines():
        line = line.strip()
        for key in ('installed', 'candidate'):
            prefix = key.capitalize() + ':'
            if line.startswith(prefix):
                value = line[len(prefix):].strip()
                result[key] = None if value in ('(none)', '') else value
    return result


def parse_apt_search_names(text):
    """``apt-cache search --names-only REGEX`` -> package names, in output order."""
    names = []
    for line in (text or '').splitlines():
        name = line.split(' - ', 1)[0].strip()
        if name and ' ' not in name:
            names.append(name)
    return names


def parse_apt_simulated_removals(text):
    """``apt-get -s remove PKG`` -> names of the packages apt would remove (``Remv`` lines)."""
    removed = []
    for line in (text or '').splitlines():
        if line.startswith('Remv '):
            removed.append(line.split()[1])
    return removed


def versioned_headers(names, prefix='linux-headers-'):
    """Keep headers packages for one real kernel release; return ``{package: release}``.

    Drops meta-packages (``linux-headers-amd64``, and ``linux-headers-6.12-amd64``
    which bookworm-security carries for its 6.12 kernels), the ``-common``
    packages and Ubuntu's flavourless ``linux-headers-6.8.0-31``.
    """
    result = {}
    for name in names:
        if not name.startswith(prefix):
            continue
        release = name[len(prefix):]
        if not re.match(r'^\d+\.\d+\.\d+', release):
            continue  # meta-packages: linux-headers-amd64, linux-headers-6.12-amd64
        flavour = kernel_flavour(release)
        if not flavour or flavour.startswith('common'):
            continue
        result[name] = release
    return result


def parse_dnf_list(text, name='kernel-devel'):
    """``dnf list --available --showduplicates kernel-devel`` -> ``{package-spec: release}``.

    Lines look like ``kernel-devel.x86_64  6.8.5-301.fc40  updates``; the
    release ``uname -r`` would print is ``6.8.5-301.fc40.x86_64``.
    """
    result = {}
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 2 or not fields[0].startswith(name + '.'):
            continue
        arch = fields[0][len(name) + 1:]
        version = fields[1].split(':', 1)[-1]
        if not version[:1].isdigit():
            continue
        release = '%s.%s' % (version, arch)
        result['%s-%s' % (name, release)] = release
    return result


def newest_first(packages, flavour=None, limit=None, series_of=None):
    """``{package: release}`` -> package names newest first, optionally one flavour only.

    With ``series_of`` (a kernel release), packages of the same major.minor
    series come first (``6.1.0-56`` before a backported ``6.12.117``), each
    group newest first.
    """
    series = release_sort_key(series_of)[0][:2] if series_of else None
    items = []
    for pkg, rel in packages.items():
        if flavour is not None and kernel_flavour(rel) != flavour:
            continue
        key = release_sort_key(rel)
        items.append((series is not None and key[0][:2] == series, key, pkg))
    items.sort(reverse=True)
    names = [pkg for _same, _key, pkg in items]
    return names[:limit] if limit else names
