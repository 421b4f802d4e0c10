# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils/cross.py on controller captures of dpkg-query, dpkg -L, ziglang and go (fixtures/cross)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import cross

from conftest import fixture_text

WANTED = ['libc6', 'libc6-dev', 'linux-libc-dev', 'libibverbs-dev', 'libibverbs1', 'libnl-3-200', 'libnl-route-3-200',
          'libnl-3-dev', 'libnl-route-3-dev', 'libbpf-dev']


def test_dpkg_query_partial_capture():
    out = fixture_text('cross/query-bookworm-amd64-partial.stdout')
    err = fixture_text('cross/query-bookworm-amd64-partial.stderr')
    installed, missing = cross.parse_dpkg_query(out, err, WANTED, 'amd64')
    assert installed['libc6'] == ('2.36-9+deb12u14', 'amd64')
    assert installed['libibverbs1'] == ('44.0-2', 'amd64')
    assert missing == ['libibverbs-dev', 'libnl-3-dev', 'libnl-route-3-dev', 'libbpf-dev']
    assert cross.not_found_in_stderr(err) == ['libibverbs-dev', 'libnl-3-dev', 'libnl-route-3-dev', 'libbpf-dev']
    # the same rows for another architecture count for nothing (Multi-Arch copies are not the host's)
    installed, missing = cross.parse_dpkg_query(out, err, WANTED, 'arm64')
    assert installed == {} and missing == WANTED


def test_dpkg_query_status_and_arch_all():
    out = ('libc6\tamd64\t2.36-9\tinstall ok installed\n'
           'libc6\tarm64\t2.36-9\tinstall ok installed\n'
           'libnl-3-dev\tamd64\t3.7.0\tdeinstall ok config-files\n'
           'some-headers\tall\t1.0\tinstall ok installed\n')
    installed, missing = cross.parse_dpkg_query(out, '', ['libc6', 'libnl-3-dev', 'some-headers'], 'amd64')
    assert installed == {'libc6': ('2.36-9', 'amd64'), 'some-headers': ('1.0', 'all')}
    assert missing == ['libnl-3-dev']


def test_format_is_passed_with_its_escapes_for_dpkg_query():
    argv = cross.dpkg_query_argv(['libc6'])
    assert argv[:3] == ['dpkg-query', '-W', '-f'] and argv[3] == '${Package}\\t${Architecture}\\t${Version}\\t${Status}\\n'


def test_upstream_version():
    assert cross.upstream_version('2.36-9+deb12u14') == '2.36'
    assert cross.upstream_version('2.41-12') == '2.41'
    assert cross.upstream_version('1:1.1.2-0+deb12u1') == '1.1'
    assert cross.upstream_version('weird') is None


def test_sysroot_key_is_order_independent_and_version_sensitive():
    a = cross.sysroot_key('amd64', {'libc6': '2.36-9', 'libibverbs1': '44.0-2'})
    b = cross.sysroot_key('amd64', {'libibverbs1': '44.0-2', 'libc6': '2.36-9'})
    assert a == b and len(a) == 16 and int(a, 16) >= 0
    assert a != cross.sysroot_key('arm64', {'libc6': '2.36-9', 'libibverbs1': '44.0-2'})
    assert a != cross.sysroot_key('amd64', {'libc6': '2.36-10', 'libibverbs1': '44.0-2'})


def test_arch_facts():
    assert cross.arch_facts('amd64') == ('amd64', 'x86_64-linux-gnu', 'x86_64')
    assert cross.arch_facts('arm64') == ('arm64', 'aarch64-linux-gnu', 'aarch64')
    assert cross.arch_facts('armhf') is None
    assert 'GOARCH arm' in cross.unsupported_arch_reason('armhf') and 'project_build_where: host' in \
        cross.unsupported_arch_reason('armhf')


def test_dpkg_list_keeps_headers_and_libraries():
    paths = cross.parse_dpkg_list(fixture_text('cross/list-libibverbs1-libnl-3-200.stdout'))
    assert '/usr/lib/x86_64-linux-gnu/libibverbs.so.1.14.44.0' in paths
    assert '/usr/lib/x86_64-linux-gnu/libibverbs.so.1' in paths
    assert '/lib/x86_64-linux-gnu/libnl-3.so.200.26.0' in paths
    assert not [p for p in paths if p.startswith(('/usr/share', '/etc'))]
    assert '/.' not in paths and '' not in paths


def test_zig_and_go_captures():
    assert cross.parse_zig_version(fixture_text('cross/zig-version.stdout')) == '0.17.1'
    assert cross.parse_zig_version(fixture_text('cross/zig-missing.stderr')) is None
    assert cross.parse_zig_version('') is None
    env = cross.parse_go_env(fixture_text('cross/go-env.stdout'))
    assert env == {'GOROOT': '/usr/local/go', 'GOVERSION': 'go1.26.8'}
    assert cross.parse_go_env('not json') == {}


def test_toolchain_key_changes_with_each_input():
    base = cross.toolchain_key('go1.26.8', '0.17.1', 'k1', 'amd64', '2.36')
    assert base != cross.toolchain_key('go1.26.9', '0.17.1', 'k1', 'amd64', '2.36')
    assert base != cross.toolchain_key('go1.26.8', '0.17.2', 'k1', 'amd64', '2.36')
    assert base != cross.toolchain_key('go1.26.8', '0.17.1', 'k2', 'amd64', '2.36')
    assert base != cross.toolchain_key('go1.26.8', '0.17.1', 'k1', 'arm64', '2.36')


def _fake_python(tmp_path):
    """A 'python' that prints its arguments one a line (stands in for python -m ziglang cc)."""
    py = tmp_path / 'fake python'
    py.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    os.chmod(str(py), 0o755)
    return str(py)


def _run(script_text, tmp_path, name, args):
    path = tmp_path / name
    path.write_text(script_text)
    os.chmod(str(path), 0o755)
    assert subprocess.call(['sh', '-n', str(path)]) == 0
    return subprocess.check_output([str(path)] + args).decode().splitlines()


def test_cc_wrapper_targets_guest_glibc_and_sysroot(tmp_path):
    py = _fake_python(tmp_path)
    text = cross.cc_wrapper(py, cross.zig_target('aarch64', '2.36'), '/sys root/x', 'aarch64-linux-gnu', 'k')
    argv = _run(text, tmp_path, 'cc', ['-c', 'a b.c', '-o', 'x.o'])
    assert argv == ['-m', 'ziglang', 'cc', '-target', 'aarch64-linux-gnu.2.36',
                    '-isystem', '/sys root/x/usr/include', '-isystem', '/sys root/x/usr/include/aarch64-linux-gnu',
                    '-L/sys root/x/usr/lib/aarch64-linux-gnu', '-L/sys root/x/lib/aarch64-linux-gnu',
                    '-c', 'a b.c', '-o', 'x.o']


def test_bpf_wrapper_rewrites_only_the_bpf_target(tmp_path):
    py = _fake_python(tmp_path)
    text = cross.bpf_wrapper(py, '/sr', 'x86_64-linux-gnu', 'k')
    # as bpf2go v0.19 calls it: -target bpfel as two arguments
    argv = _run(text, tmp_path, 'bpf-cc', ['-O2', '-g', '-target', 'bpfel', '-D__TARGET_ARCH_x86', '-c', 'q.bpf.c',
                                           '-o', '/tmp/out.o', '-I./headers'])
    assert argv == ['-m', 'ziglang', 'cc', '-isystem', '/sr/usr/include', '-isystem',
                    '/sr/usr/include/x86_64-linux-gnu', '-O2', '-g', '-target', 'bpfel-freestanding',
                    '-D__TARGET_ARCH_x86', '-c', 'q.bpf.c', '-o', '/tmp/out.o', '-I./headers']
    argv = _run(text, tmp_path, 'bpf-cc2', ['--target=bpfeb', 'bpfel', '-target', 'x86_64-linux-gnu', ''])
    assert argv[-5:] == ['--target=bpfeb-freestanding', 'bpfel', '-target', 'x86_64-linux-gnu', '']
    assert len(argv) == 7 + 5  # the empty argument is kept


def test_keep_strip_wrapper_does_nothing(tmp_path):
    assert _run(cross.keep_strip_wrapper('k'), tmp_path, 'strip', ['-g', 'x.o']) == []


def test_cross_env():
    env = cross.cross_env('/w/cc', '/w/bpf-cc', 'arm64')
    assert env == {'CC': '/w/cc', 'CGO_ENABLED': '1', 'GOOS': 'linux', 'GOARCH': 'arm64', 'CGO_CFLAGS': '-O2 -g',
                   'CGO_LDFLAGS': '-O2 -g', 'BPF2GO_CC': '/w/bpf-cc'}
