# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""cross_toolchain with run_command answered from controller captures (fixtures/cross); needs no ziglang."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.labkit.ebpf_rdma.plugins.modules import cross_toolchain

from conftest import FakeCommands, fixture_text

PY = '/opt/venv/bin/python'


def sysroot(tmp_path, key='3f2a9c0d1b7e4a55', triple='aarch64-linux-gnu'):
    root = tmp_path / ('root-%s-%s' % (key or 'nokey', triple))
    (root / 'usr' / 'include').mkdir(parents=True, exist_ok=True)
    (root / 'usr' / 'lib' / triple).mkdir(parents=True, exist_ok=True)
    if key:
        (root / 'labkit-sysroot.json').write_text(json.dumps({'key': key}))
    return str(root)


def args(tmp_path, **kw):
    a = {'goarch': 'arm64', 'glibc': '2.36', 'sysroot': sysroot(tmp_path), 'dir': str(tmp_path / 'bin'), 'python': PY}
    a.update(kw)
    return a


def commands(zig=True):
    cmds = FakeCommands()
    cmds.add(['/usr/bin/go', 'env', '-json', 'GOVERSION', 'GOROOT'], (0, fixture_text('cross/go-env.stdout'), ''))
    if zig:
        cmds.add([PY, '-m', 'ziglang', 'version'], (0, fixture_text('cross/zig-version.stdout'), ''))
    else:
        cmds.add([PY, '-m', 'ziglang', 'version'], (int(fixture_text('cross/zig-missing.rc')), '',
                                                    fixture_text('cross/zig-missing.stderr')))
    return cmds


def test_usable_writes_the_wrappers_and_returns_env_and_key(module_runner, tmp_path):
    a = args(tmp_path)
    result = module_runner(cross_toolchain, a, commands=commands(), diff=True,
                           bins={'llvm-strip': '/usr/bin/llvm-strip'})
    assert result['usable'] is True and result['reason'] == '' and result['changed'] is True
    assert (result['go'], result['go_version'], result['zig_version']) == ('/usr/bin/go', 'go1.26.8', '0.17.1')
    assert result['sysroot_key'] == '3f2a9c0d1b7e4a55' and len(result['key']) == 16
    cc, bpf = str(tmp_path / 'bin' / 'cc'), str(tmp_path / 'bin' / 'bpf-cc')
    assert result['env'] == {'CC': cc, 'BPF2GO_CC': bpf, 'CGO_ENABLED': '1', 'GOOS': 'linux', 'GOARCH': 'arm64',
                             'CGO_CFLAGS': '-O2 -g', 'CGO_LDFLAGS': '-O2 -g'}
    text = open(cc).read()
    assert '-target aarch64-linux-gnu.2.36' in text and a['sysroot'] + '/usr/lib/aarch64-linux-gnu' in text
    assert os.stat(cc).st_mode & 0o777 == 0o755 and 'bpfel-freestanding' not in text
    assert '-freestanding' in open(bpf).read()
    assert [d['after_header'] for d in result['diff']] == [cc, bpf]
    again = module_runner(cross_toolchain, a, commands=commands(), bins={'llvm-strip': '/usr/bin/llvm-strip'})
    assert again['changed'] is False and again['key'] == result['key']


def test_check_mode_writes_nothing(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path), commands=commands(), check_mode=True)
    assert result['usable'] and result['changed'] and not os.path.exists(str(tmp_path / 'bin'))


def test_no_llvm_strip_keeps_dwarf_with_a_note(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path), commands=commands(), bins={'llvm-strip': None})
    strip = str(tmp_path / 'bin' / 'strip-keep')
    assert result['env']['BPF2GO_STRIP'] == strip and os.path.exists(strip)
    assert 'llvm-strip' in result['notes'][0]


def test_no_go(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path), commands=FakeCommands(), bins={'go': None})
    assert result['usable'] is False and not result.get('failed') and result['env'] == {}
    assert result['reason'].startswith('no Go on the controller') and 'project_build_where: host' in result['reason']
    assert not os.path.exists(str(tmp_path / 'bin'))


def test_ziglang_missing_says_pip_install(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path), commands=commands(zig=False))
    assert result['usable'] is False and result['go_version'] == 'go1.26.8'
    assert 'ziglang is not installed for %s' % PY in result['reason']
    assert 'No module named ziglang' in result['reason'] and 'pip install -r requirements.txt' in result['reason']


def test_sysroot_without_headers_or_key(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path, sysroot=str(tmp_path / 'nowhere')), commands=commands())
    assert result['usable'] is False and 'has no usr/include/' in result['reason']
    result = module_runner(cross_toolchain, args(tmp_path, sysroot=sysroot(tmp_path / 'nokey', key='')),
                           commands=commands())
    assert result['usable'] is False and 'labkit-sysroot.json' in result['reason']
    result = module_runner(cross_toolchain, args(tmp_path, sysroot=sysroot(tmp_path / 'k2', key=''),
                                                 sysroot_key='given'), commands=commands())
    assert result['usable'] is True and result['sysroot_key'] == 'given'


def test_amd64_sysroot_lacks_arm64_libraries(module_runner, tmp_path):
    root = sysroot(tmp_path, triple='x86_64-linux-gnu')
    result = module_runner(cross_toolchain, args(tmp_path, sysroot=root), commands=commands())
    assert result['usable'] is False and 'usr/lib/aarch64-linux-gnu/' in result['reason']


def test_bad_glibc_fails(module_runner, tmp_path):
    result = module_runner(cross_toolchain, args(tmp_path, glibc='2.36-9'), commands=commands())
    assert result['failed'] and 'major.minor' in result['msg']
