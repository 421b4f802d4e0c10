# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Parsers for kernel facts, as pure functions over text (or lines).

Kernel config (``/proc/config.gz``, ``/boot/config-<release>``), symbol
lists (``/proc/kallsyms``, tracefs ``available_filter_functions``: both are
large, so :func:`lines_naming` cuts them down at C speed to the lines that
contain a requested name and :func:`find_symbols` parses only those), the lockdown file, where tracefs is (over the mount list that
``mounts.parse_mountinfo`` returns), ``bpftool`` JSON output, kernel release
and version parsing and ordering (:func:`version_tuple` is the one version
parser), and the running release (:func:`kernel_release`, ``uname -r``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import io
import json
import os
import re

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.distro import kernel_flavour

GZIP_MAGIC = b'\x1f\x8b'

# Kernel config keys every eBPF/kprobe development box needs (without CONFIG_).
DEFAULT_CONFIG_KEYS = ('BPF', 'BPF_SYSCALL', 'BPF_JIT', 'BPF_EVENTS', 'KPROBES', 'KPROBE_EVENTS',
                       'DEBUG_INFO_BTF', 'DEBUG_INFO_BTF_MODULES')

JIT_MEANING = {
    0: 'disabled: programs run in the interpreter',
    1: 'enabled',
    2: 'enabled, with JIT debug output in the kernel log',
}

UNPRIVILEGED_BPF_MEANING = {
    0: 'unprivileged bpf() allowed',
    1: 'unprivileged bpf() disabled until reboot (the sysctl cannot be set back to 0)',
    2: 'unprivileged bpf() disabled; an admin may set it back to 0',
}

# Kernel functions this collection traces, and the module that provides each.
# A kprobe target that lives in a module only appears in kallsyms and in
# available_filter_functions while that module is loaded.
KNOWN_SYMBOL_MODULES = {
    'ib_modify_qp_with_udata': ('ib_core', 'modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core'),
    'ib_modify_qp': ('ib_core', 'modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core'),
    '_ib_modify_qp': ('ib_core', 'modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core'),
    'ib_create_qp_kernel': ('ib_core', 'modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core'),
    'rxe_create_qp': ('rdma_rxe', 'modprobe rdma_rxe'),
    'rxe_modify_qp': ('rdma_rxe', 'modprobe rdma_rxe'),
}

# bpftool capabilities by the version that introduced them. bpftool's
# version is libbpf's + 6 since 7.0 (libbpf 1.1 -> bpftool 7.1); before that
# it followed the kernel (5.x). Checked: 7.1.0 (Debian 12) has no
# ``autoattach`` in ``bpftool prog help``; 7.5.0 (Debian 13) has it.
BPFTOOL_FEATURE_VERSIONS = (
    ('gen_skeleton', (5, 6, 0)),
    ('btf_dump_c', (5, 3, 0)),
    ('gen_min_core_btf', (5, 18, 0)),
    ('prog_loadall_autoattach', (7, 2, 0)),
)


# --------------------------------------------------------------------------
# kernel releases

def version_tuple(version):
    """The one version parser: ``'6.1.0-50-amd64'`` -> ``(6, 1, 0)``, ``'v7.1.0'`` -> ``(7, 1, 0)``, ``'7.5'`` -> ``(7, 5, 0)``.

    The first three dot-separated numbers of a kernel release or a tool
    version (a missing part is 0); None when it does not start with a number.
    """
    if not version:
        return None
    m = re.match(r'^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?', version.strip())
    if not m:
        return None
    return tuple(int(p or 0) for p in m.groups())


def kernel_release():
    """The running kernel release, as ``uname -r`` prints it."""
    return os.uname()[2]


def release_sort_key(release):
    """Sort key for kernel releases: numbers first, so '6.1.0-50' > '6.1.0-47' > '5.10.0-30'.

    Works for Debian (``6.1.0-50-amd64``, ``6.12.41+deb13-amd64``), Ubuntu
    (``6.8.0-31-generic``) and Fedora (``6.8.5-301.fc40.x86_64``) releases.
    """
    numbers = version_tuple(release) or (0, 0, 0)
    rest = release.split('-', 1)[1] if '-' in release else ''
    m = re.match(r'^(\d+)', rest)
    abi = int(m.group(1)) if m else -1
    return (numbers, abi, release)


def same_flavour_newer(running, candidates):
    """Releases in ``candidates`` newer than ``running`` with the same flavour, newest first."""
    flavour = kernel_flavour(running)
    key = release_sort_key(running)
    newer = [c for c in candidates if c != running and kernel_flavour(c) == flavour
             and release_sort_key(c)[:2] > key[:2]]
    return sorted(newer, key=release_sort_key, reverse=True)


# --------------------------------------------------------------------------
# kernel config

def decode_config(data):
    """Bytes of ``/proc/config.gz`` (gzip) or ``/boot/config-*`` (plain) -> text."""
    if data is None:
        return None
    if data[:2] == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            data = f.read()
    return data.decode('utf-8', 'replace')


def normalize_config_key(key):
    """``'CONFIG_BPF'`` or ``'bpf'`` -> ``'BPF'``."""
    key = key.strip().upper()
    return key[len('CONFIG_'):] if key.startswith('CONFIG_') else key


_CONFIG_SET = re.compile(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$')
_CONFIG_UNSET = re.compile(r'^# CONFIG_([A-Za-z0-9_]+) is not set$')


def parse_kernel_config(text):
    """Kernel config text -> dict ``{'BPF': 'y', 'NR_CPUS': '8192', 'X': 'n', ...}``.

    ``y``/``m`` stay as they are, ``# CONFIG_X is not set`` becomes ``'n'``,
    quoted strings lose their quotes. Keys have no ``CONFIG_`` prefix.
    """
    values = {}
    for raw in (text or '').splitlines():
        line = raw.strip()
        m = _CONFIG_SET.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace('\\\\', '\\')
            values[m.group(1)] = value
            continue
        m = _CONFIG_UNSET.match(line)
        if m:
            values[m.group(1)] = 'n'
    return values


def config_values(config, keys):
    """Pick ``keys`` from a parsed config: value, ``'n'`` when not set, None when unknown.

    ``config`` None (no config readable) makes every value None. A key the
    config does not mention at all (the option does not exist for this
    kernel/arch, or a typo) is None as well.
    """
    result = {}
    for key in keys:
        key = normalize_config_key(key)
        result[key] = None if config is None else config.get(key)
    return result


# --------------------------------------------------------------------------
# small procfs/sysfs files

def parse_int(text):
    """First line of ``text`` as int, or None."""
    if text is None:
        return None
    try:
        return int(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def parse_lockdown(text):
    """``'[none] integrity confidentiality'`` -> ``{'mode': 'none', 'available': [...]}``; None if no text."""
    if text is None:
        return None
    words = text.split()
    mode = None
    available = []
    for word in words:
        if word.startswith('[') and word.endswith(']'):
            word = word[1:-1]
            mode = word
        available.append(word)
    return {'mode': mode, 'available': available}


def tracefs_location(mounts):
    """Where tracefs can be used, from ``mounts.parse_mountinfo`` output (a list of dicts).

    Returns ``(path, how)``: ``('/sys/kernel/tracing', 'tracefs')`` when a
    tracefs is mounted (``/sys/kernel/tracing`` preferred), else
    ``('/sys/kernel/debug/tracing', 'debugfs')`` when only debugfs is mounted
    (the kernel automounts tracefs there on first access), else ``(None, None)``.
    """
    tracefs = [m['mount_point'] for m in mounts if m.get('fstype') == 'tracefs']
    if tracefs:
        if '/sys/kernel/tracing' in tracefs:
            return '/sys/kernel/tracing', 'tracefs'
        return tracefs[0], 'tracefs'
    debugfs = [m['mount_point'] for m in mounts if m.get('fstype') == 'debugfs']
    if debugfs:
        base = '/sys/kernel/debug' if '/sys/kernel/debug' in debugfs else debugfs[0]
        return base.rstrip('/') + '/tracing', 'debugfs'
    return None, None


# --------------------------------------------------------------------------
# symbol lists

def _split_symbol_line(line, kind):
    """Return ``(name, module, type)`` from one kallsyms or available_filter_functions line."""
    fields = line.split()
    if kind == 'kallsyms':
        if len(fields) < 3:
            return None, None, None
        name, sym_type = fields[2], fields[1]
        module = fields[3] if len(fields) > 3 else None
    else:
        if not fields:
            return None, None, None
        name, sym_type = fields[0], None
        module = fields[1] if len(fields) > 1 else None
    if module is not None:
        module = module.strip('[]')
    return name, module, sym_type


def lines_naming(data, names):
    """The lines of ``data`` (bytes) that contain one of ``names``, in file order.

    A pre-filter for :func:`find_symbols`: every line it could match (the name
    itself or a ``name.isra.0`` clone) contains the name, so parsing only these
    lines gives the same answer as parsing them all. ``bytes.find`` runs in C;
    the 100 000+ lines of ``/proc/kallsyms`` parsed one by one in Python took
    over a second in a TCG guest, twice per run (kallsyms and tracefs).
    """
    starts = set()
    for name in names:
        needle = name.encode('utf-8') if not isinstance(name, bytes) else name
        if not needle:
            continue
        pos = data.find(needle)
        while pos != -1:
            start = data.rfind(b'\n', 0, pos) + 1
            starts.add(start)
            end = data.find(b'\n', pos)
            if end == -1:
                break
            pos = data.find(needle, end)
    lines = []
    for start in sorted(starts):
        end = data.find(b'\n', start)
        lines.append(data[start:] if end == -1 else data[start:end])
    return lines


def find_symbols(lines, names, kind='kallsyms'):
    """Scan ``lines`` (an iterable: a file object streams) for ``names``.

    ``kind`` is ``'kallsyms'`` (``addr type name [module]``) or
    ``'filter_functions'`` (``name [module]``). Returns, per name:
    ``{'found': bool, 'modules': [...], 'types': [...], 'variants': [...]}``
    where module ``'vmlinux'`` means built in, and ``variants`` lists
    compiler-made clones (``name.isra.0``, ``name.constprop.0``) that are
    attachable under their own name.
    """
    wanted = set(names)
    prefixes = tuple(n + '.' for n in wanted)
    result = dict((n, {'found': False, 'modules': [], 'types': [], 'variants': []}) for n in wanted)
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode('utf-8', 'replace')
        name, module, sym_type = _split_symbol_line(line, kind)
        if name is None:
            continue
        if name in wanted:
            entry = result[name]
            entry['found'] = True
            mod = module or 'vmlinux'
            if mod not in entry['modules']:
                entry['modules'].append(mod)
            if sym_type and sym_type not in entry['types']:
                entry['types'].append(sym_type)
        elif prefixes and name.startswith(prefixes):
            base = name.split('.', 1)[0]
            if base in result and name not in result[base]['variants']:
                result[base]['variants'].append(name)
    return result


# --------------------------------------------------------------------------
# bpftool

def parse_bpftool_version(json_text=None, text=None):
    """``bpftool -j version`` (preferred) or ``bpftool version`` -> dict.

    ``{'version': '7.1.0', 'libbpf_version': '1.1', 'build_features': {...}}``;
    None when neither parses.
    """
    if json_text:
        try:
            data = json.loads(json_text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get('version'):
            return {
                'version': str(data['version']).lstrip('v'),
                'libbpf_version': data.get('libbpf_version'),
                'build_features': data.get('features') or {},
            }
    if text:
        version = libbpf = None
        features = {}
        for line in text.splitlines():
            line = line.strip()
            m = re.match(r'^\S*bpftool v?(\d[\w.\-]*)', line)
            if m:
                version = m.group(1)
            m = re.match(r'^using libbpf v?(\S+)', line)
            if m:
                libbpf = m.group(1)
            if line.startswith('features:'):
                for feat in line.split(':', 1)[1].split(','):
                    if feat.strip():
                        features[feat.strip()] = True
        if version:
            return {'version': version, 'libbpf_version': libbpf, 'build_features': features}
    return None


def bpftool_features(version, prog_help=None):
    """Capabilities of a bpftool ``version`` (``'7.1.0'``), from the table above.

    ``prog_help`` (the text of ``bpftool prog help``, which bpftool prints on
    stderr) overrides the guess for ``prog_loadall_autoattach`` when given:
    the binary is the authority.
    """
    vt = version_tuple(version)
    features = {}
    for name, since in BPFTOOL_FEATURE_VERSIONS:
        features[name] = bool(vt is not None and vt >= since)
    if prog_help and 'loadall' in prog_help:
        features['prog_loadall_autoattach'] = 'autoattach' in prog_help
    return features


def summarize_feature_probe(json_text):
    """``bpftool -j feature probe kernel`` -> summary dict (raises ValueError on bad JSON).

    Counts available program types, map types and distinct helpers, and
    picks the booleans this collection cares about.
    """
    data = json.loads(json_text)
    if not isinstance(data, dict):
        raise ValueError('bpftool feature probe did not return a JSON object')
    prog_types = data.get('program_types') or {}
    map_types = data.get('map_types') or {}
    helpers = data.get('helpers') or {}
    helper_names = set()
    for names in helpers.values():
        helper_names.update(names or [])
    kprobe_helpers = set(helpers.get('kprobe_available_helpers') or [])
    syscall = data.get('syscall_config') or {}
    return {
        'program_types_available': sum(1 for v in prog_types.values() if v),
        'program_types_total': len(prog_types),
        'map_types_available': sum(1 for v in map_types.values() if v),
        'map_types_total': len(map_types),
        'helpers_available': len(helper_names),
        'kprobe_helpers_available': len(kprobe_helpers),
        'bpf_syscall': syscall.get('have_bpf_syscall'),
        'kprobe': prog_types.get('have_kprobe_prog_type'),
        'tracing': prog_types.get('have_tracing_prog_type'),
        'ringbuf': map_types.get('have_ringbuf_map_type'),
        'probe_read_kernel': 'bpf_probe_read_kernel' in kprobe_helpers if kprobe_helpers else None,
        'unavailable_program_types': sorted(_strip_have(k, '_prog_type') for k, v in prog_types.items() if not v),
        'unavailable_map_types': sorted(_strip_have(k, '_map_type') for k, v in map_types.items() if not v),
    }


def _strip_have(key, suffix):
    if key.startswith('have_'):
        key = key[len('have_'):]
    if key.endswith(suffix):
        key = key[:-len(suffix)]
    return key


# --------------------------------------------------------------------------
# eBPF toolchain programs (ebpf_facts tools=...)

# program -> the arguments that make it print its version (None: it has no such flag)
TOOL_VERSION_ARGS = {
    'clang': ['--version'],
    'go': ['version'],
    'bpftool': ['version'],
    'bpf2go': None,
}
# where ebpf_toolchain installs programs, searched after PATH
TOOL_DIRS = ['/usr/local/go/bin', '/usr/local/bin', '/usr/local/sbin', '/usr/sbin', '/sbin']

_TOOL_VERSION_RES = {
    'clang': re.compile(r'clang version (\d+(?:\.\d+)*)'),
    'go': re.compile(r'^go version go(\d[\w.\-]*)', re.M),
    'bpftool': re.compile(r'^\S*bpftool v?(\d[\w.\-]*)', re.M),
    # no version flag: ebpf_toolchain installs it as .../bpf2go-<version>/bpf2go
    'bpf2go': re.compile(r'bpf2go-v?(\d[\w.\-]*)/bpf2go$'),
}


def parse_tool_version(name, text):
    """The version a toolchain program reports (``clang --version``, ``go version``,
    ``bpftool version``) or, for bpf2go, the version in its real install path; None when unknown."""
    regex = _TOOL_VERSION_RES.get(name)
    m = regex.search(text or '') if regex else None
    return m.group(1) if m else None


def first_line(text):
    for line in (text or '').splitlines():
        if line.strip():
            return line.strip()
    return None
