# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure functions for the locked-memory limit (RLIMIT_MEMLOCK).

* :func:`parse_size` reads the user's value STRICTLY: ``unlimited`` (or
  ``infinity``), ``0``, or a whole number followed by a binary unit: ``K``/``KiB``,
  ``M``/``MiB``, ``G``/``GiB``, ``T``/``TiB`` (all powers of 1024). A bare number
  other than 0 is rejected: limits.conf reads it as KiB, systemd as bytes and
  ``ulimit -l`` as KiB, so it is ambiguous. ``GB``-style (decimal) units, fractions,
  signs, hex and spaces inside the value are rejected too.
* limits.conf takes the limit in KiB (:func:`limits_conf_value`), systemd in bytes
  (:func:`systemd_value`); ``unlimited`` becomes ``unlimited`` / ``infinity``.
* Parsers for ``/proc/<pid>/limits`` and ``systemctl show`` output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

UNLIMITED = 'unlimited'

MANAGED_BY = 'labkit.ebpf_rdma.memlock'
HEADER = '# Managed by %s; local changes are overwritten.\n' % MANAGED_BY

ACCEPTED_FORMS = ("'unlimited' (or 'infinity'), '0', or a whole number with a binary unit: "
                  "K or KiB, M or MiB, G or GiB, T or TiB (powers of 1024), e.g. 64K, 512M, 8GiB; "
                  "a bare number other than 0 is refused because limits.conf reads it as KiB and systemd as bytes")

_UNITS = {'K': 1, 'M': 2, 'G': 3, 'T': 4}
_SIZE = re.compile(r'^(0|[1-9][0-9]*)(K|M|G|T)(iB)?$')
# RLIMIT values are 64-bit with all ones meaning infinity; keep well below that.
MAX_BYTES = 1 << 62


class LimitError(ValueError):
    pass


def parse_size(value):
    """``'64M'`` -> 67108864; ``'unlimited'`` -> :data:`UNLIMITED`. Raises :class:`LimitError`."""
    if value is None:
        raise LimitError('no value given; accepted: ' + ACCEPTED_FORMS)
    text = str(value).strip()
    if text in ('unlimited', 'infinity'):
        return UNLIMITED
    if text == '0':
        return 0
    m = _SIZE.match(text)
    if not m:
        raise LimitError('%r is not a memlock size; accepted: %s' % (str(value), ACCEPTED_FORMS))
    size = int(m.group(1)) * (1024 ** _UNITS[m.group(2)])
    if size > MAX_BYTES:
        raise LimitError('%r is larger than the kernel can hold (%d bytes at most); use unlimited'
                         % (str(value), MAX_BYTES))
    return size


def limits_conf_value(size):
    """The value field of a limits.conf ``memlock`` line: KiB or ``unlimited``."""
    if size == UNLIMITED:
        return 'unlimited'
    return str(size // 1024)


def systemd_value(size):
    """The value of ``LimitMEMLOCK=``/``DefaultLimitMEMLOCK=``: bytes or ``infinity``."""
    if size == UNLIMITED:
        return 'infinity'
    return str(size)


def human(size):
    """67108864 -> ``'64M'`` (largest exact unit), ``UNLIMITED`` stays."""
    if size == UNLIMITED or size == 0:
        return str(size)
    for suffix, power in (('T', 4), ('G', 3), ('M', 2), ('K', 1)):
        unit = 1024 ** power
        if size % unit == 0:
            return '%d%s' % (size // unit, suffix)
    return '%dB' % size


_USER = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$')


def validate_domain(domain):
    """Accept a limits.conf domain: ``*``, a user name, ``@group`` or ``%group``. Raise LimitError otherwise."""
    if domain == '*':
        return domain
    name = domain[1:] if domain[:1] in ('@', '%') else domain
    if not _USER.match(name or ''):
        raise LimitError("domain %r is not '*', a user name, '@group' or '%%group' (names start with a letter or _ "
                         "and hold letters, digits, _ . -; at most 32 characters)" % domain)
    return domain


_UNIT = re.compile(r'^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.service$')


def normalize_unit(name):
    """``'ssh'`` -> ``'ssh.service'``; validate a service unit name. Raise LimitError when invalid."""
    unit = name if name.endswith('.service') else name + '.service'
    if len(unit) > 255 or not _UNIT.match(unit) or unit.startswith('.') or unit.startswith('@'):
        raise LimitError('%r is not a valid service unit name (letters, digits, : _ . - \\ and one @ for '
                         'templates, e.g. ssh.service or getty@tty1.service)' % name)
    return unit


_DROPIN = re.compile(r'^[A-Za-z0-9_.@:-]+\.conf$')


def validate_dropin_name(name):
    if not _DROPIN.match(name or '') or name.startswith('.'):
        raise LimitError('dropin_name %r must be a plain file name ending in .conf (systemd ignores other names), '
                         'e.g. 90-labkit-memlock.conf' % name)
    return name


def limit_type_field(limit_type):
    """``both``/``-`` -> ``-``; ``soft``/``hard`` unchanged."""
    return '-' if limit_type in ('both', '-') else limit_type


def render_limits_file(domains, limit_type, size):
    """The limits.d file: one line per domain (a single domain may be given as a string)."""
    if isinstance(domains, str):
        domains = [domains]
    lines = ''.join('%s\t%s\tmemlock\t%s\n' % (d, limit_type_field(limit_type), limits_conf_value(size))
                    for d in domains)
    return (HEADER +
            '# Locked-memory limit (RLIMIT_MEMLOCK, in KiB) for PAM sessions: logins, ssh, su, runuser.\n' + lines)


def render_manager_dropin(size):
    return (HEADER +
            '# Default locked-memory limit (bytes) of every systemd service without its own LimitMEMLOCK=.\n'
            '[Manager]\nDefaultLimitMEMLOCK=%s\n' % systemd_value(size))


def render_unit_dropin(size):
    return (HEADER +
            '# Locked-memory limit (bytes) of this service.\n'
            '[Service]\nLimitMEMLOCK=%s\n' % systemd_value(size))


def is_managed(text):
    """True when ``text`` (a file's content) carries this module's header."""
    return text is not None and MANAGED_BY in '\n'.join(text.splitlines()[:3])


def parse_limit_number(text, scale=1):
    """``'unlimited'``/``'infinity'`` -> UNLIMITED; digits -> int * scale; else None."""
    text = (text or '').strip()
    if text in ('unlimited', 'infinity'):
        return UNLIMITED
    if text.isdigit():
        return int(text) * scale
    return None


def parse_proc_limits(text):
    """The ``Max locked memory`` row of /proc/<pid>/limits -> ``{'soft': .., 'hard': ..}`` in bytes; None if absent."""
    for line in (text or '').splitlines():
        if line.startswith('Max locked memory'):
            parts = line[len('Max locked memory'):].split()
            if len(parts) >= 2:
                return {'soft': parse_limit_number(parts[0]), 'hard': parse_limit_number(parts[1])}
    return None


def parse_systemctl_show(text):
    """``systemctl show`` output -> list of dicts, one per unit (blocks split by blank lines)."""
    blocks = []
    current = {}
    for line in (text or '').splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition('=')
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def parse_running_services(text):
    """``systemctl list-units --type=service --state=running --plain --no-legend`` -> unit names."""
    units = []
    for line in (text or '').splitlines():
        fields = line.replace('\u25cf', ' ').split()
        if fields and fields[0].endswith('.service'):
            units.append(fields[0])
    return units


def first_group_member(group_text, passwd_text, group):
    """A user in ``group`` (supplementary members of /etc/group first, then primary gid in /etc/passwd), or None."""
    gid = None
    for line in (group_text or '').splitlines():
        fields = line.split(':')
        if len(fields) >= 4 and fields[0] == group:
            members = [u for u in fields[3].split(',') if u]
            if members:
                return members[0]
            gid = fields[2]
    if gid is None:
        return None
    for line in (passwd_text or '').splitlines():
        fields = line.split(':')
        if len(fields) >= 4 and fields[3] == gid:
            return fields[0]
    return None
