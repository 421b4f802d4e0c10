# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Apt sources for a guest: the host's mirrors (deb822 ``.sources`` and
one-line ``sources.list``), its proxy (``apt-config dump``, environment), and
the guest's ``debian.sources`` and ``apt.conf`` built from them. Pure
functions over text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


# ---------------------------------------------------------------- apt / mirror discovery

def parse_deb822_sources(text):
    """Parse a deb822 ``.sources`` file into a list of stanzas (dicts, keys lower-case).

    Values of ``URIs``, ``Suites``, ``Types`` and ``Components`` are lists.
    Comment lines are ignored, continuation lines are joined.
    """
    stanzas = []
    current = {}
    last_key = None
    for raw in (text or '').splitlines():
        if raw.startswith('#'):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
            continue
        if raw[0] in ' \t' and last_key:
            current[last_key] = current[last_key] + ' ' + raw.strip()
            continue
        if ':' not in raw:
            continue
        key, value = raw.split(':', 1)
        last_key = key.strip().lower()
        current[last_key] = value.strip()
    if current:
        stanzas.append(current)
    result = []
    for st in stanzas:
        if st.get('enabled', 'yes').lower() == 'no':
            continue
        item = dict(st)
        for key in ('uris', 'suites', 'types', 'components'):
            item[key] = (st.get(key) or '').split()
        result.append(item)
    return result


def parse_sources_list(text):
    """Parse one-line-style ``sources.list`` into the same shape as deb822 stanzas."""
    result = []
    for raw in (text or '').splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] not in ('deb', 'deb-src'):
            continue
        parts = parts[1:]
        if parts and parts[0].startswith('['):
            while parts and not parts[0].endswith(']'):
                parts = parts[1:]
            parts = parts[1:]
        if len(parts) < 2:
            continue
        result.append({'types': [line.split()[0]], 'uris': [parts[0]], 'suites': [parts[1]],
                       'components': parts[2:]})
    return result


def discover_mirrors(entries):
    """From parsed source entries return ``(mirror, security_mirror)`` (either may be None).

    The mirror is the first ``deb`` URI whose suites are not ``*-security``;
    the security mirror the first whose suites are.
    """
    mirror = security = None
    for entry in entries:
        if 'deb' not in entry.get('types', ['deb']):
            continue
        suites = entry.get('suites') or []
        uris = [u for u in entry.get('uris') or [] if re.match(r'^(https?|ftp)://', u)]
        if not uris:
            continue
        is_security = any(s.endswith('-security') or s.endswith('/updates') for s in suites)
        if is_security and security is None:
            security = uris[0]
        elif not is_security and mirror is None:
            mirror = uris[0]
    return mirror, security


def parse_apt_config_dump(text):
    """Return the http proxy (or None) from ``apt-config dump`` output.

    ``Acquire::http::Proxy "http://host:3142";`` -> ``http://host:3142``;
    ``DIRECT`` and ``false`` mean no proxy.
    """
    for line in (text or '').splitlines():
        m = re.match(r'^\s*Acquire::http::Proxy\s+"([^"]*)";', line, re.IGNORECASE)
        if m:
            value = m.group(1).strip()
            if value and value.upper() != 'DIRECT' and value.lower() != 'false':
                return value
    return None


def proxy_from_environ(environ):
    for key in ('http_proxy', 'HTTP_PROXY'):
        if environ.get(key):
            return environ[key]
    return None


def guest_url(url):
    """Rewrite a loopback host in ``url`` to the QEMU user-net gateway ``10.0.2.2``.

    The controller's ``127.0.0.1:3142`` apt proxy is the guest's ``10.0.2.2:3142``.
    """
    if not url:
        return url
    return re.sub(r'^(\w+://(?:[^@/]*@)?)(localhost|127\.[0-9.]+|\[::1\])(?=[:/]|$)', r'\g<1>10.0.2.2', url)


def os_release_id(text):
    for line in (text or '').splitlines():
        if line.startswith('ID='):
            return line.split('=', 1)[1].strip().strip('"')
    return None


def guest_sources(release, mirror, security_mirror, components=('main',)):
    """The guest's ``/etc/apt/sources.list.d/debian.sources`` (deb822)."""
    comps = ' '.join(components)
    text = ('Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\n'
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n') % (mirror, release, release, comps)
    if security_mirror:
        text += ('\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\n'
                 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n') % (security_mirror, release, comps)
    return text


def guest_apt_conf(proxy, check_valid_until, extra_lines):
    """The guest's ``/etc/apt/apt.conf.d/90labkit``; '' when there is nothing to say."""
    lines = []
    if proxy:
        lines.append('Acquire::http::Proxy "%s";' % proxy)
    if not check_valid_until:
        # a dated-snapshot mirror serves Release files past their Valid-Until
        lines.append('Acquire::Check-Valid-Until "false";')
    lines.extend(extra_lines or [])
    return ''.join(line.rstrip() + '\n' for line in lines)
