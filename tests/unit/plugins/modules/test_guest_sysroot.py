# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""guest_sysroot with run_command answered from controller captures (fixtures/cross) over a fake host tree."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import tarfile

from ansible_collections.labkit.ebpf_rdma.plugins.modules import guest_sysroot

from conftest import FakeCommands, fixture_text

RUNTIME = ['libc6-dev', 'linux-libc-dev', 'libibverbs1', 'libnl-3-200', 'libnl-route-3-200']


def commands(arch='amd64', query='runtime'):
    cmds = FakeCommands()
    cmds.add(['/usr/bin/dpkg', '--print-architecture'], (0, arch + '\n', ''))
    rc = int(fixture_text('cross/query-bookworm-amd64-%s.rc' % query))
    err = fixture_text('cross/query-bookworm-amd64-partial.stderr') if query == 'partial' else ''
    query_out = fixture_text('cross/query-bookworm-amd64-%s.stdout' % query)
    cmds.table.insert(0, (lambda argv: argv[:2] == ('/usr/bin/dpkg-query', '-W'), (rc, query_out, err)))
    list_out = fixture_text('cross/list-libibverbs1-libnl-3-200.stdout')
    cmds.table.insert(0, (lambda argv: argv[:2] == ('/usr/bin/dpkg', '-L'), (0, list_out, '')))
    return cmds


def host_files(fake_host):
    fake_host.write('/usr/lib/x86_64-linux-gnu/libibverbs.so.1.14.44.0', 'ELF')
    fake_host.write('/lib/x86_64-linux-gnu/libnl-3.so.200.26.0', 'ELF')
    fake_host.mkdir('/usr/lib/x86_64-linux-gnu')
    import os
    os.symlink('libibverbs.so.1.14.44.0', fake_host.path('/usr/lib/x86_64-linux-gnu/libibverbs.so.1'))


def test_supported_host_returns_the_facts(module_runner):
    result = module_runner(guest_sysroot, {'packages': RUNTIME}, commands=commands())
    assert result['supported'] is True and result['reason'] == '' and result['changed'] is False
    assert (result['arch'], result['goarch'], result['triple'], result['glibc']) == (
        'amd64', 'amd64', 'x86_64-linux-gnu', '2.36')
    assert result['packages']['libibverbs1'] == '44.0-2' and result['packages']['libc6'] == '2.36-9+deb12u14'
    assert result['missing'] == [] and result['archive'] is None and len(result['key']) == 16


def test_missing_packages_are_not_supported_never_a_failure(module_runner):
    result = module_runner(guest_sysroot, {}, commands=commands(query='partial'))
    assert not result.get('failed') and result['supported'] is False
    assert result['missing'] == ['libibverbs-dev', 'libnl-3-dev', 'libnl-route-3-dev', 'libbpf-dev']
    assert 'libbpf-dev' in result['reason'] and 'project_build_where: host' in result['reason']


def test_no_dpkg(module_runner):
    result = module_runner(guest_sysroot, {}, commands=FakeCommands(), bins={'dpkg': None})
    assert result['supported'] is False and result['reason'].startswith('no dpkg on the host')


def test_arch_not_covered(module_runner):
    result = module_runner(guest_sysroot, {'packages': RUNTIME}, commands=commands(arch='armhf'))
    assert result['supported'] is False and result['goarch'] == ''
    assert 'armhf' in result['reason'] and 'amd64 and arm64' in result['reason']


def test_archive_written_once_per_key(module_runner, fake_host):
    host_files(fake_host)
    args = {'packages': RUNTIME, 'archive': '/var/cache/labkit/sysroot.tar.gz'}
    # check mode: reported, not written
    planned = module_runner(guest_sysroot, args, commands=commands(), check_mode=True, diff=True)
    assert planned['changed'] is True and not fake_host.exists('/var/cache/labkit/sysroot.tar.gz')
    assert planned['diff']['before'] == '' and '"glibc": "2.36"' in planned['diff']['after']
    written = module_runner(guest_sysroot, args, commands=commands())
    assert written['changed'] is True and written['files'] == 3
    with tarfile.open(fake_host.path('/var/cache/labkit/sysroot.tar.gz')) as tar:
        names = tar.getnames()
        assert names[0] == 'labkit-sysroot.json'
        manifest = json.loads(tar.extractfile(names[0]).read().decode())
        assert manifest['key'] == written['key'] and manifest['triple'] == 'x86_64-linux-gnu'
        link = tar.getmember('usr/lib/x86_64-linux-gnu/libibverbs.so.1')
        assert link.issym() and link.linkname == 'libibverbs.so.1.14.44.0'
        assert 'lib/x86_64-linux-gnu/libnl-3.so.200.26.0' in names
        assert not [n for n in names if n.startswith(('usr/share', 'etc'))]
    again_cmds = commands()
    again = module_runner(guest_sysroot, args, commands=again_cmds)
    assert again['changed'] is False and again_cmds.ran('/usr/bin/dpkg', '-L') == []


def test_dpkg_list_is_qualified_by_architecture(module_runner, fake_host):
    host_files(fake_host)
    cmds = commands()
    module_runner(guest_sysroot, {'packages': RUNTIME, 'archive': '/a.tar.gz'}, commands=cmds)
    (call,) = cmds.ran('/usr/bin/dpkg', '-L')
    assert 'libibverbs1:amd64' in call and 'libc6:amd64' in call


def test_dpkg_query_error_fails_with_the_fix(module_runner):
    cmds = FakeCommands()
    cmds.add(['/usr/bin/dpkg', '--print-architecture'], (0, 'amd64\n', ''))
    cmds.table.insert(0, (lambda argv: argv[:2] == ('/usr/bin/dpkg-query', '-W'), (2, '', 'dpkg-query: error: db locked')))
    result = module_runner(guest_sysroot, {}, commands=cmds)
    assert result['failed'] and 'dpkg --audit' in result['msg']
