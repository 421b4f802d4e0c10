# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Building for a guest on the controller: its sysroot and the cross toolchain.

Used by the modules guest_sysroot (on the target: which Debian packages make
the sysroot, their files, a key) and cross_toolchain (on the controller: the C
compiler wrappers around ``python -m ziglang cc`` and the Go environment).
Everything here is a pure function over command output or paths; the modules
do the IO.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

try:
    from shlex import quote as shell_quote
except ImportError:  # pragma: no cover - Python 2
    from pipes import quote as shell_quote

# The packages a cgo (libibverbs) + bpf2go build reads: C library headers and
# stubs, kernel UAPI headers (BPF and asm/), libibverbs with its libnl
# dependencies (the linker follows libibverbs.so's NEEDED entries), libbpf's
# headers (bpf_helpers.h, bpf_tracing.h).
DEFAULT_PACKAGES = ('libc6-dev', 'linux-libc-dev', 'libibverbs-dev', 'libibverbs1', 'libnl-3-200',
                    'libnl-route-3-200', 'libnl-3-dev', 'libnl-route-3-dev', 'libbpf-dev')

# dpkg architecture -> (GOARCH, GNU multiarch triple, zig target arch)
ARCHES = {
    'amd64': ('amd64', 'x86_64-linux-gnu', 'x86_64'),
    'arm64': ('arm64', 'aarch64-linux-gnu', 'aarch64'),
}
# Architectures dpkg knows that the controller build does not cover (named in the reason).
OTHER_ARCHES = {'i386': '386', 'armhf': 'arm', 'armel': 'arm', 'ppc64el': 'ppc64le', 's390x': 's390x',
                'riscv64': 'riscv64', 'mips64el': 'mips64le'}

# Where the sysroot's files live: headers and libraries. Everything else a
# package ships (documentation, /etc, binaries) stays out of the archive.
SYSROOT_DIRS = ('/usr/include/', '/usr/lib/', '/lib/')

# The member of the archive (its first) that says what it holds.
MANIFEST_NAME = 'labkit-sysroot.json'

DPKG_QUERY_FORMAT = '${Package}\\t${Architecture}\\t${Version}\\t${Status}\\n'

_NOT_FOUND_RE = re.compile(r'no packages found matching (\S+)')


def dpkg_query_argv(packages):
    # dpkg-query expands the backslash escapes of the format itself
    return ['dpkg-query', '-W', '-f', DPKG_QUERY_FORMAT] + list(packages)


def parse_dpkg_query(stdout, stderr, packages, arch):
    """``dpkg-query -W -f=<DPKG_QUERY_FORMAT>`` output -> (installed {name: (version, pkg_arch)}, missing [names]).

    A package counts when its status is ``install ok installed`` and its architecture is ``arch``
    or ``all`` (an arm64 copy of a Multi-Arch package on an amd64 host is not the host's).
    Packages dpkg does not know (stderr: "no packages found matching X") and packages known but
    not installed (removed, config-files) are missing.
    """
    installed = {}
    for line in (stdout or '').splitlines():
        fields = line.split('\t')
        if len(fields) != 4:
            continue
        name, pkg_arch, version, status = fields
        if status.strip() != 'install ok installed' or pkg_arch not in (arch, 'all'):
            continue
        installed[name] = (version, pkg_arch)
    missing = [p for p in packages if p not in installed]
    return installed, missing


def not_found_in_stderr(stderr):
    return _NOT_FOUND_RE.findall(stderr or '')


def upstream_version(version):
    """'2.36-9+deb12u14' -> '2.36' (epoch and Debian revision dropped, major.minor kept)."""
    v = version.split(':', 1)[-1].split('-', 1)[0]
    m = re.match(r'^(\d+)\.(\d+)', v)
    return '%s.%s' % (m.group(1), m.group(2)) if m else None


def sysroot_key(arch, packages):
    """Hex id of a sysroot: the dpkg architecture and the sorted name=version of its packages."""
    text = arch + '\n' + ''.join('%s=%s\n' % (n, packages[n]) for n in sorted(packages))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def arch_facts(arch):
    """(goarch, triple, zig_arch) of a dpkg architecture, or None when the controller build does not cover it."""
    return ARCHES.get(arch)


def unsupported_arch_reason(arch):
    go = OTHER_ARCHES.get(arch)
    return ('the dpkg architecture of the host is %s%s: building on the controller covers amd64 and arm64 guests '
            'only; build on the host (project_build_where: host)'
            % (arch, ' (GOARCH %s)' % go if go else ''))


def parse_dpkg_list(stdout):
    """``dpkg -L pkg...`` output -> the sorted paths of the sysroot (under /usr/include, /usr/lib, /lib).

    Directories are listed by dpkg too; the caller keeps files and symlinks only.
    """
    paths = set()
    for line in (stdout or '').splitlines():
        line = line.strip()
        if not line.startswith('/') or line == '/.':
            continue
        if any(line.startswith(d) for d in SYSROOT_DIRS):
            paths.add(line)
    return sorted(paths)


def manifest(key, arch, packages, glibc, triple):
    return {'key': key, 'arch': arch, 'triple': triple, 'glibc': glibc,
            'packages': dict((n, packages[n]) for n in sorted(packages))}


def manifest_text(m):
    return json.dumps(m, indent=1, sort_keys=True) + '\n'


# ---------------------------------------------------------------- controller side

def parse_zig_version(stdout):
    """``python -m ziglang version`` -> '0.17.1' (None when it printed something else)."""
    line = (stdout or '').strip().splitlines()[0] if (stdout or '').strip() else ''
    return line if re.match(r'^\d+\.\d+\.\d+\S*$', line) else None


def parse_go_env(stdout):
    """``go env -json GOVERSION GOROOT`` -> dict (empty when not JSON)."""
    try:
        data = json.loads(stdout or '')
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def zig_target(zig_arch, glibc):
    return '%s-linux-gnu.%s' % (zig_arch, glibc)


def sysroot_flags(sysroot, triple):
    """The C compiler flags that point into the sysroot: headers (-isystem) and libraries (-L)."""
    root = sysroot.rstrip('/')
    return (['-isystem', root + '/usr/include', '-isystem', '%s/usr/include/%s' % (root, triple)],
            ['-L%s/usr/lib/%s' % (root, triple), '-L%s/lib/%s' % (root, triple)])


_HEADER = '''#!/bin/sh
# Written by labkit.ebpf_rdma.cross_toolchain (key %s); rewritten when the
# toolchain or the sysroot changes. Do not edit.
'''


def cc_wrapper(python, target, sysroot, triple, key):
    """The cgo C compiler: zig cc for the guest's arch and glibc, headers and libraries from the sysroot."""
    inc, lib = sysroot_flags(sysroot, triple)
    argv = [python, '-m', 'ziglang', 'cc', '-target', target] + inc + lib
    return (_HEADER % key) + 'exec %s "$@"\n' % ' '.join(shell_quote(a) for a in argv)


def bpf_wrapper(python, sysroot, triple, key):
    """bpf2go's clang: zig cc, with ``-target bpfel|bpfeb`` (zig's names: ``bpfel-freestanding``) rewritten.

    bpf2go passes the target as two arguments (``-target bpfel``); ``--target=bpfel`` and
    ``-target=bpfel`` are rewritten too. Headers come from the same sysroot (linux/bpf.h,
    asm/ of the guest's arch, bpf/bpf_helpers.h).
    """
    inc = sysroot_flags(sysroot, triple)[0]
    argv = [python, '-m', 'ziglang', 'cc'] + inc
    body = '''n=$#
prev=
for arg in "$@"; do
  if [ "$prev" = -target ]; then
    case $arg in bpfel|bpfeb) arg=$arg-freestanding ;; esac
  fi
  case $arg in
    -target=bpfel|-target=bpfeb|--target=bpfel|--target=bpfeb) arg=$arg-freestanding ;;
  esac
  set -- "$@" "$arg"
  prev=$arg
done
shift "$n"
'''
    return (_HEADER % key) + body + 'exec %s "$@"\n' % ' '.join(shell_quote(a) for a in argv)


def keep_strip_wrapper(key):
    """BPF2GO_STRIP where the controller has no llvm-strip: leave the object as it is."""
    return (_HEADER % key) + '# bpf2go runs "<strip> -g <object>"; no llvm-strip here: keep the DWARF.\nexit 0\n'


def toolchain_key(go_version, zig_version, sysroot_key_, goarch, glibc):
    text = json.dumps([go_version, zig_version, sysroot_key_, goarch, glibc])
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def cross_env(cc, bpf_cc, goarch):
    """The environment of go commands that build for the guest (generate, vet, build, test -c).

    CGO_CFLAGS and CGO_LDFLAGS are go's own defaults, set so that the controller's
    environment (flags for its own C compiler) does not reach the cross build.
    """
    return {'CC': cc, 'CGO_ENABLED': '1', 'GOOS': 'linux', 'GOARCH': goarch,
            'CGO_CFLAGS': '-O2 -g', 'CGO_LDFLAGS': '-O2 -g', 'BPF2GO_CC': bpf_cc}
