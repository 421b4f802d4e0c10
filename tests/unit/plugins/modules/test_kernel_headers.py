# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import kernel
from ansible_collections.labkit.ebpf_rdma.plugins.modules import kernel_headers

from conftest import FakeCommands, fixture_text

APT_CACHE = '/usr/bin/apt-cache'
APT_GET = '/usr/bin/apt-get'
LOCK = ('-o', 'DPkg::Lock::Timeout=300')
SEARCH = (APT_CACHE, 'search', '--names-only', '^linux-headers-')

POLICY_INSTALLED = fixture_text('kernel/apt-cache-policy-headers-installed.txt')
POLICY_CANDIDATE = fixture_text('kernel/apt-cache-policy-headers-cloud-not-installed.txt')
POLICY_UNKNOWN = fixture_text('kernel/apt-cache-policy-headers-unknown.txt')
SEARCH_OUT = fixture_text('kernel/apt-cache-search-linux-headers.txt')


class Host(object):
    """A fake host root: os-release, /lib/modules/<rel>/build links, /usr/src trees."""

    def __init__(self, root, monkeypatch, release, os_release='debian-12-bookworm'):
        self.root = root
        self.release = release
        monkeypatch.setattr(common, 'HOST_ROOT', str(root))
        monkeypatch.setattr(kernel, 'kernel_release', lambda: release)
        etc = root / 'etc'
        etc.mkdir()
        (etc / 'os-release').write_text(fixture_text('distro/os-release-' + os_release))
        self.add_kernel(release, headers=False)

    def add_kernel(self, release, headers=True):
        moddir = self.root / 'lib' / 'modules' / release
        moddir.mkdir(parents=True, exist_ok=True)
        (moddir / 'modules.dep').write_text('kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko: kernel/drivers/infiniband/core/ib_core.ko\n')
        if not os.path.lexists(str(moddir / 'build')):
            os.symlink('/usr/src/linux-headers-%s' % release, str(moddir / 'build'))
        if headers:
            self.install_headers(release)

    def install_headers(self, release=None):
        src = self.root / 'usr' / 'src' / ('linux-headers-%s' % (release or self.release))
        src.mkdir(parents=True, exist_ok=True)
        (src / 'Makefile').write_text('# kernel build Makefile\n')

    def remove_headers(self, release=None):
        src = self.root / 'usr' / 'src' / ('linux-headers-%s' % (release or self.release))
        (src / 'Makefile').unlink()
        src.rmdir()


def apt_commands(release, policy, search=SEARCH_OUT):
    pkg = 'linux-headers-%s' % release
    answers = {
        (APT_CACHE, 'policy', pkg): (0, policy, ''),
        SEARCH: (0, search, ''),
    }
    return FakeCommands(answers)


def mutating(commands):
    return [c for c in commands.calls if c[0] == APT_GET and '-s' not in c]


# ---------------------------------------------------------------- present

def test_present_already_installed_is_a_noop(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['changed'] is False
    assert result['actions'] == []
    assert result['installed'] is True
    assert result['build_dir_ok'] is True
    assert result['package'] == 'linux-headers-6.1.0-50-amd64'
    assert result['build_dir'] == '/lib/modules/6.1.0-50-amd64/build'
    assert result['build_dir_target'] == '/usr/src/linux-headers-6.1.0-50-amd64'
    assert result['available'] == ['linux-headers-6.1.0-50-amd64', 'linux-headers-6.1.0-47-amd64']
    assert result['distribution'] == {'name': 'Debian GNU/Linux 12 (bookworm)', 'family': 'debian'}
    assert mutating(commands) == []


def _install_answer(host, env_seen):
    def answer(argv, **kwargs):
        env_seen.append(kwargs.get('environ_update'))
        host.install_headers()
        return 0, 'Setting up %s ...\n' % argv[-1], ''
    return answer


def test_present_installs_the_running_kernels_package(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    env_seen = []
    install = (APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release)
    commands.add(install, _install_answer(host, env_seen))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['changed'] is True
    assert result['actions'] == ['apt-get install -y --no-install-recommends linux-headers-6.1.0-50-cloud-amd64']
    assert commands.ran(*install) == [install]
    assert env_seen == [{'DEBIAN_FRONTEND': 'noninteractive'}]
    assert result['installed'] is True
    assert result['build_dir_ok'] is True
    assert result['available'] == ['linux-headers-6.1.0-50-cloud-amd64', 'linux-headers-6.1.0-47-cloud-amd64']


def test_present_check_mode_reports_and_installs_nothing(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands, check_mode=True)
    assert result['changed'] is True
    assert result['actions'] == ['apt-get update',
                                 'apt-get install -y --no-install-recommends linux-headers-6.1.0-50-cloud-amd64']
    assert mutating(commands) == []
    assert result['installed'] is True  # as it would be
    assert result['build_dir_ok'] is False  # as it is now


def test_present_update_cache_runs_update_before_install(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    commands.add((APT_GET, *LOCK, 'update'), (0, 'Hit:1 http://mirror.example.invalid/debian bookworm InRelease\n', ''))
    commands.add((APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release),
                 _install_answer(host, []))
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands)
    assert result['changed'] is True
    apt_calls = [c[3] for c in mutating(commands)]
    assert apt_calls == ['update', 'install']


def test_present_update_cache_makes_an_unknown_package_known(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    state = {'updated': False}
    commands = apt_commands(release, POLICY_UNKNOWN)

    def policy(argv, **kwargs):
        return 0, POLICY_CANDIDATE if state['updated'] else POLICY_UNKNOWN, ''

    def update(argv, **kwargs):
        state['updated'] = True
        return 0, '', ''
    commands.add((APT_CACHE, 'policy', 'linux-headers-' + release), policy)
    commands.add((APT_GET, *LOCK, 'update'), update)
    commands.add((APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release),
                 _install_answer(host, []))
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands)
    assert result['changed'] is True
    assert result['actions'] == ['apt-get update',
                                 'apt-get install -y --no-install-recommends linux-headers-6.1.0-50-cloud-amd64']
    assert [c[3] for c in mutating(commands)] == ['update', 'install']


def test_present_update_cache_not_run_when_installed(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands)
    assert result['changed'] is False
    assert mutating(commands) == []


def test_present_reinstalls_when_build_dir_is_broken(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')  # link dangles: /usr/src tree missing
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    reinstall = (APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', '--reinstall', 'linux-headers-6.1.0-50-amd64')
    commands.add(reinstall, _install_answer(host, []))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['changed'] is True
    assert commands.ran(*reinstall) == [reinstall]
    assert result['build_dir_ok'] is True


def test_present_fails_when_install_leaves_no_build_dir(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    commands.add((APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release), (0, '', ''))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['failed'] is True
    assert result['changed'] is True
    assert 'still does not resolve to a directory with a Makefile' in result['msg']
    assert '/usr/src/linux-headers-6.1.0-50-cloud-amd64' in result['msg']


def test_present_install_failure_names_the_command_and_a_hint(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    commands.add((APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release),
                 (100, '', 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234'))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['failed'] is True
    assert 'apt-get install -y --no-install-recommends linux-headers-6.1.0-50-cloud-amd64 failed (exit 100)' in \
        result['msg']
    assert 'lock' in result['msg'] and 'run this again' in result['msg']


def test_present_custom_kernel_with_build_dir_and_no_package_is_left_alone(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_UNKNOWN)
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['changed'] is False
    assert result['installed'] is False
    assert result['build_dir_ok'] is True


# ---------------------------------------------------------------- no package

def test_unknown_package_newer_kernel_installed_says_reboot(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-45-amd64')
    host.add_kernel('6.1.0-50-amd64', headers=True)
    host.add_kernel('6.1.0-50-cloud-amd64', headers=True)  # other flavour: not a candidate
    commands = apt_commands('6.1.0-45-amd64', POLICY_UNKNOWN)
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['failed'] is True
    msg = result['msg']
    assert 'running kernel 6.1.0-45-amd64' in msg
    assert 'linux-headers-6.1.0-45-amd64 is not available from apt on Debian GNU/Linux 12 (bookworm)' in msg
    assert 'linux-headers-6.1.0-50-amd64, linux-headers-6.1.0-47-amd64' in msg
    assert 'reboot into 6.1.0-50-amd64' in msg and '/lib/modules/6.1.0-50-amd64/build' in msg
    assert 'update_cache: true' in msg
    assert result['newer_kernels'] == ['6.1.0-50-amd64']
    assert result['available'] == ['linux-headers-6.1.0-50-amd64', 'linux-headers-6.1.0-47-amd64']
    assert mutating(commands) == []


def test_archive_moved_on_reproduction(tmp_path, monkeypatch, module_runner):
    # What the own VM copy showed: running 6.1.0-50, its headers removed and no longer offered
    # (Candidate: (none)), 6.1.0-56 installed with headers, bookworm-security lists with 6.12 kernels.
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.add_kernel('6.1.0-56-amd64', headers=True)
    commands = apt_commands('6.1.0-50-amd64', fixture_text('kernel/apt-cache-policy-headers-pinned-away.txt'),
                            search=fixture_text('kernel/apt-cache-search-linux-headers-with-security.txt'))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['failed'] is True
    assert result['available'][:3] == ['linux-headers-6.1.0-56-amd64', 'linux-headers-6.1.0-55-amd64',
                                       'linux-headers-6.1.0-54-amd64']
    assert result['available'][6] == 'linux-headers-6.12.117+deb12-amd64'
    assert len(result['available']) == 11
    assert ('Headers packages that exist for flavour amd64 (the 6.1 series first, newest first): linux-headers-6.1.0-56-amd64, '
            'linux-headers-6.1.0-55-amd64, linux-headers-6.1.0-54-amd64, linux-headers-6.1.0-53-amd64, '
            'linux-headers-6.1.0-50-amd64 and 6 more.') in result['msg']
    assert 'Fix: reboot into 6.1.0-56-amd64' in result['msg']
    assert result['newer_kernels'] == ['6.1.0-56-amd64']


def test_unknown_package_newer_kernel_without_headers(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-45-amd64')
    host.add_kernel('6.1.0-50-amd64', headers=False)
    result = module_runner(kernel_headers, {}, commands=apt_commands('6.1.0-45-amd64', POLICY_UNKNOWN))
    assert result['failed'] is True
    assert 'reboot into 6.1.0-50-amd64' in result['msg']
    assert 'then run this again to install its headers' in result['msg']


def test_unknown_package_no_newer_kernel_suggests_meta_packages(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.1.0-45-amd64')
    result = module_runner(kernel_headers, {}, commands=apt_commands('6.1.0-45-amd64', POLICY_UNKNOWN))
    assert result['failed'] is True
    assert 'linux-image-amd64 linux-headers-amd64' in result['msg']
    assert result['newer_kernels'] == []


def test_unknown_flavour_lists_flavours_that_have_headers(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.1.0-50-custom')
    result = module_runner(kernel_headers, {'state': 'checked'},
                           commands=apt_commands('6.1.0-50-custom', POLICY_UNKNOWN))
    assert result['failed'] is True
    assert 'No headers package exists for flavour custom' in result['msg']
    assert 'amd64, cloud-amd64, rt-amd64' in result['msg']
    assert 'linux-image-amd64 linux-headers-amd64' in result['msg']
    assert result['available'] == []


def test_unknown_package_after_update_does_not_suggest_update(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.1.0-45-amd64')
    commands = apt_commands('6.1.0-45-amd64', POLICY_UNKNOWN)
    commands.add((APT_GET, *LOCK, 'update'), (0, '', ''))
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands)
    assert result['failed'] is True
    assert 'update_cache' not in result['msg']
    assert [c[3] for c in mutating(commands)] == ['update']


def test_unknown_package_check_mode_with_update_cache_says_lists_not_refreshed(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.1.0-45-amd64')
    commands = apt_commands('6.1.0-45-amd64', POLICY_UNKNOWN)
    result = module_runner(kernel_headers, {'update_cache': True}, commands=commands, check_mode=True)
    assert result['failed'] is True
    assert 'Check mode: the package lists were not refreshed' in result['msg']
    assert mutating(commands) == []


# ---------------------------------------------------------------- checked

def test_checked_ok(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    result = module_runner(kernel_headers, {'state': 'checked'}, commands=commands)
    assert result['changed'] is False
    assert result['build_dir_ok'] is True
    assert mutating(commands) == []


def test_checked_lists_the_installed_kernels_and_the_reboot_request(tmp_path, monkeypatch, module_runner):
    # what preflight reads to say whether a reboot is needed, in this one module run
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    host.add_kernel('6.1.0-52-amd64', headers=False)
    (tmp_path / 'lib' / 'modules' / '6.1.0-47-amd64').mkdir()  # left behind by a purge: no modules.dep
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    result = module_runner(kernel_headers, {'state': 'checked'}, commands=commands)
    assert result['kernels'] == [{'release': '6.1.0-50-amd64', 'headers': True},
                                 {'release': '6.1.0-52-amd64', 'headers': False}]
    assert result['reboot_required'] is False
    (tmp_path / 'var' / 'run').mkdir(parents=True)
    (tmp_path / 'var' / 'run' / 'reboot-required').write_text('*** System restart required ***\n')
    result = module_runner(kernel_headers, {'state': 'checked'}, commands=apt_commands('6.1.0-50-amd64', POLICY_INSTALLED))
    assert result['reboot_required'] is True
    assert result['changed'] is False


def test_the_kernel_list_is_read_after_an_install(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    install = (APT_GET, *LOCK, 'install', '-y', '--no-install-recommends', 'linux-headers-' + release)
    commands.add(install, _install_answer(host, []))
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['kernels'] == [{'release': release, 'headers': True}]


def test_checked_missing_but_installable_gives_the_command(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {'state': 'checked', 'update_cache': True}, commands=commands)
    assert result['failed'] is True
    assert 'The headers of the running kernel 6.1.0-50-cloud-amd64 are missing' in result['msg']
    assert 'apt-get install -y --no-install-recommends linux-headers-6.1.0-50-cloud-amd64' in result['msg']
    assert mutating(commands) == []


def test_checked_installed_but_dangling(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    result = module_runner(kernel_headers, {'state': 'checked'},
                           commands=apt_commands('6.1.0-50-amd64', POLICY_INSTALLED))
    assert result['failed'] is True
    assert 'points to /usr/src/linux-headers-6.1.0-50-amd64, which has no Makefile' in result['msg']
    assert 'reinstall' in result['msg']


# ---------------------------------------------------------------- absent

def test_absent_refuses_to_remove_dependents(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    commands.add((APT_GET, '-s', 'remove', 'linux-headers-6.1.0-50-amd64'),
                 (0, fixture_text('kernel/apt-get-s-remove-headers-with-meta.txt'), ''))
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands)
    assert result['failed'] is True
    assert 'would also remove linux-headers-amd64' in result['msg']
    assert result['would_also_remove'] == ['linux-headers-amd64']
    assert mutating(commands) == []


def test_absent_removes_exactly_the_package(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    commands.add((APT_GET, '-s', 'remove', 'linux-headers-6.1.0-50-amd64'),
                 (0, fixture_text('kernel/apt-get-s-remove-headers-alone.txt'), ''))
    env_seen = []

    def remove(argv, **kwargs):
        env_seen.append(kwargs.get('environ_update'))
        host.remove_headers()
        return 0, '', ''
    commands.add((APT_GET, *LOCK, 'remove', '-y', 'linux-headers-6.1.0-50-amd64'), remove)
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands)
    assert result['changed'] is True
    assert result['actions'] == ['apt-get remove -y linux-headers-6.1.0-50-amd64']
    assert result['installed'] is False
    assert result['build_dir_ok'] is False
    assert env_seen == [{'DEBIAN_FRONTEND': 'noninteractive'}]


def test_absent_check_mode(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    commands = apt_commands('6.1.0-50-amd64', POLICY_INSTALLED)
    commands.add((APT_GET, '-s', 'remove', 'linux-headers-6.1.0-50-amd64'),
                 (0, fixture_text('kernel/apt-get-s-remove-headers-alone.txt'), ''))
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands, check_mode=True)
    assert result['changed'] is True
    assert result['installed'] is False
    assert mutating(commands) == []
    assert (tmp_path / 'usr/src/linux-headers-6.1.0-50-amd64/Makefile').exists()


def test_absent_when_not_installed_is_a_noop(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands)
    assert result['changed'] is False
    assert result['installed'] is False
    assert mutating(commands) == []


# ---------------------------------------------------------------- other families / errors

def test_unsupported_distribution(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch, '6.9.1-arch1-1')
    (tmp_path / 'etc' / 'os-release').write_text('NAME="Arch Linux"\nID=arch\n')
    result = module_runner(kernel_headers, {}, commands=FakeCommands())
    assert result['failed'] is True
    assert 'unsupported distribution Arch Linux (ID=arch' in result['msg']
    assert '6.9.1-arch1-1' in result['msg']


def test_os_release_fallback_to_usr_lib(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, '6.1.0-50-amd64')
    host.install_headers()
    (tmp_path / 'etc' / 'os-release').unlink()
    (tmp_path / 'usr' / 'lib').mkdir(parents=True)
    (tmp_path / 'usr' / 'lib' / 'os-release').write_text(fixture_text('distro/os-release-debian-13-trixie'))
    result = module_runner(kernel_headers, {}, commands=apt_commands('6.1.0-50-amd64', POLICY_INSTALLED))
    assert result['distribution']['name'] == 'Debian GNU/Linux 13 (trixie)'


FEDORA_REL = '6.8.5-301.fc40.x86_64'
FEDORA_PKG = 'kernel-devel-' + FEDORA_REL


def fedora_host(tmp_path, monkeypatch):
    host = Host(tmp_path, monkeypatch, FEDORA_REL, os_release='fedora-40')
    return host


@pytest.mark.parametrize('check_mode', [False, True])
def test_dnf_install(tmp_path, monkeypatch, module_runner, check_mode):
    host = fedora_host(tmp_path, monkeypatch)

    def install(argv, **kwargs):
        host.install_headers()
        return 0, '', ''
    commands = FakeCommands({
        ('/usr/bin/rpm', '-q', FEDORA_PKG): (1, 'package %s is not installed\n' % FEDORA_PKG, ''),
        ('/usr/bin/dnf', 'list', '--available', FEDORA_PKG): (0, '', ''),
        ('/usr/bin/dnf', 'list', '--available', '--showduplicates', 'kernel-devel'): (
            0, 'kernel-devel.x86_64   6.8.5-301.fc40   fedora\n', ''),
        ('/usr/bin/dnf', 'install', '-y', FEDORA_PKG): install,
    })
    result = module_runner(kernel_headers, {}, commands=commands, check_mode=check_mode)
    assert result['changed'] is True
    assert result['actions'] == ['dnf install -y ' + FEDORA_PKG]
    assert result['available'] == [FEDORA_PKG]
    assert result['distribution']['family'] == 'redhat'
    assert len(commands.ran('/usr/bin/dnf', 'install')) == (0 if check_mode else 1)
    assert result['build_dir_ok'] is (not check_mode)


def test_dnf_unavailable_package(tmp_path, monkeypatch, module_runner):
    fedora_host(tmp_path, monkeypatch)
    commands = FakeCommands({
        ('/usr/bin/rpm', '-q', FEDORA_PKG): (1, '', ''),
        ('/usr/bin/dnf', 'list', '--available', FEDORA_PKG): (1, '', 'Error: No matching Packages to list'),
        ('/usr/bin/dnf', 'list', '--available', '--showduplicates', 'kernel-devel'): (
            0, 'kernel-devel.x86_64   6.11.4-201.fc40  updates\n', ''),
    })
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['failed'] is True
    assert 'not available from dnf on Fedora Linux 40 (Cloud Edition)' in result['msg']
    assert 'kernel-devel-6.11.4-201.fc40.x86_64' in result['msg']
    assert 'kernel kernel-devel' in result['msg']


def test_dnf_absent_uses_rpm_e(tmp_path, monkeypatch, module_runner):
    host = fedora_host(tmp_path, monkeypatch)
    host.install_headers()
    commands = FakeCommands({
        ('/usr/bin/rpm', '-q', FEDORA_PKG): (0, FEDORA_PKG + '\n', ''),
        ('/usr/bin/rpm', '-e', '--test', FEDORA_PKG): (0, '', ''),
        ('/usr/bin/rpm', '-e', FEDORA_PKG): (0, '', ''),
    })
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands)
    assert result['changed'] is True
    assert result['actions'] == ['rpm -e ' + FEDORA_PKG]
    assert commands.ran('/usr/bin/rpm', '-e', FEDORA_PKG) == [('/usr/bin/rpm', '-e', FEDORA_PKG)]


def test_dnf_absent_refuses_when_others_depend(tmp_path, monkeypatch, module_runner):
    host = fedora_host(tmp_path, monkeypatch)
    host.install_headers()
    commands = FakeCommands({
        ('/usr/bin/rpm', '-q', FEDORA_PKG): (0, FEDORA_PKG + '\n', ''),
        ('/usr/bin/rpm', '-e', '--test', FEDORA_PKG): (
            1, '', 'error: Failed dependencies:\n\tkernel-devel-uname-r = 6.8.5 is needed by akmods\n'),
    })
    result = module_runner(kernel_headers, {'state': 'absent'}, commands=commands)
    assert result['failed'] is True
    assert 'would break other packages' in result['msg'] and 'akmods' in result['msg']
    assert commands.ran('/usr/bin/rpm', '-e', FEDORA_PKG) == []


def test_dnf_missing_falls_back_to_yum_or_fails(tmp_path, monkeypatch, module_runner):
    fedora_host(tmp_path, monkeypatch)
    result = module_runner(kernel_headers, {}, commands=FakeCommands(), bins={'dnf': None, 'yum': None})
    assert result['failed'] is True
    assert 'neither dnf nor yum' in result['msg']


# ---------------------------------------------------------------- pure helpers

def test_resolve_host_link_relative_and_chain(tmp_path, monkeypatch):
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    (tmp_path / 'real').mkdir()
    os.symlink('real', str(tmp_path / 'rel'))
    os.symlink('/rel', str(tmp_path / 'abs'))
    assert kernel_headers.resolve_host_link('/abs') == ('/rel', str(tmp_path / 'real'))
    assert kernel_headers.resolve_host_link('/real') == (None, str(tmp_path / 'real'))
    os.symlink('loop', str(tmp_path / 'loop'))
    first, _final = kernel_headers.resolve_host_link('/loop')
    assert first == 'loop'
    assert kernel_headers.inspect_build_dir('nothing') == {
        'path': '/lib/modules/nothing/build', 'target': None, 'ok': False, 'exists': False}


def test_resolve_host_link_through_a_linked_parent(tmp_path, monkeypatch):
    # merged /usr (Debian 13 trixie, captured on the trixie-amd64 Molecule VM): /lib -> usr/lib and
    # /lib/modules/<release>/build -> ../../../src/linux-headers-<release> (relative to /usr/lib/modules/<release>)
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    release = '6.12.117+deb13-amd64'
    (tmp_path / 'usr/lib/modules' / release).mkdir(parents=True)
    (tmp_path / 'usr/src' / ('linux-headers-' + release)).mkdir(parents=True)
    (tmp_path / 'usr/src' / ('linux-headers-' + release) / 'Makefile').write_text(u'# kernel build Makefile\n')
    os.symlink('usr/lib', str(tmp_path / 'lib'))
    target = '../../../src/linux-headers-' + release
    os.symlink(target, str(tmp_path / 'usr/lib/modules' / release / 'build'))
    assert kernel_headers.resolve_host_link('/lib/modules/%s/build' % release) == (
        target, str(tmp_path / 'usr/src' / ('linux-headers-' + release)))
    assert kernel_headers.inspect_build_dir(release) == {
        'path': '/lib/modules/%s/build' % release, 'target': target, 'ok': True, 'exists': True}
    # the same link with an unmerged /lib would point at /src: not ok
    os.unlink(str(tmp_path / 'lib'))
    (tmp_path / 'lib/modules' / release).mkdir(parents=True)
    os.symlink(target, str(tmp_path / 'lib/modules' / release / 'build'))
    assert kernel_headers.inspect_build_dir(release)['ok'] is False


def test_trixie_merged_usr_headers_installed_is_a_noop(tmp_path, monkeypatch, module_runner):
    release = '6.12.117+deb13-amd64'
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    monkeypatch.setattr(kernel, 'kernel_release', lambda: release)
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc/os-release').write_text(fixture_text('distro/os-release-debian-13-trixie'))
    (tmp_path / 'usr/lib/modules' / release).mkdir(parents=True)
    os.symlink('usr/lib', str(tmp_path / 'lib'))
    os.symlink('../../../src/linux-headers-' + release, str(tmp_path / 'usr/lib/modules' / release / 'build'))
    src = tmp_path / 'usr/src' / ('linux-headers-' + release)
    src.mkdir(parents=True)
    (src / 'Makefile').write_text(u'# kernel build Makefile\n')
    policy = POLICY_INSTALLED.replace('6.1.0-50-amd64', release)
    commands = apt_commands(release, policy)
    result = module_runner(kernel_headers, {}, commands=commands)
    assert result['changed'] is False and result['actions'] == []
    assert result['installed'] is True and result['build_dir_ok'] is True
    assert mutating(commands) == []


# ---------------------------------------------------------------- dpkg lock

def test_apt_get_waits_for_the_dpkg_lock_with_the_bound_given(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    install = (APT_GET, '-o', 'DPkg::Lock::Timeout=17', 'install', '-y', '--no-install-recommends', 'linux-headers-' + release)
    commands.add(install, _install_answer(host, []))
    result = module_runner(kernel_headers, {'lock_timeout': 17}, commands=commands)
    assert result['changed'] is True, result
    assert mutating(commands) == [install]


def test_negative_lock_timeout_is_refused_before_anything_runs(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    Host(tmp_path, monkeypatch, release)
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {'lock_timeout': -5}, commands=commands)
    assert result['failed']
    assert 'lock_timeout=-5 is negative' in result['msg'] and 'set 0 (fail at once) or more' in result['msg']
    assert commands.calls == []


def test_missing_fix_names_reinstall_install_or_nothing():
    host = {'package': 'linux-headers-6.1.0-50-amd64',
            'os_release': {'ID': 'debian', 'VERSION_CODENAME': 'bookworm'}}
    build = {'path': '/lib/modules/6.1.0-50-amd64/build', 'exists': False, 'target': None}
    fix = kernel_headers.missing_fix(host, {'installed': True, 'candidate': None}, build)
    assert fix == ('linux-headers-6.1.0-50-amd64 is installed but /lib/modules/6.1.0-50-amd64/build does not exist; '
                   'reinstall it (state: present does)')
    broken = dict(build, exists=True, target='/usr/src/gone')
    assert 'points to /usr/src/gone, which has no Makefile' in kernel_headers.missing_fix(
        host, {'installed': True, 'candidate': None}, broken)
    fix = kernel_headers.missing_fix(host, {'installed': False, 'candidate': '6.1.158-1'}, build)
    assert fix.startswith('install linux-headers-6.1.0-50-amd64 (state: present, or ')
    assert kernel_headers.missing_fix(host, {'installed': False, 'candidate': None}, build) is None


# ---------------------------------------------------------------- an image whose kernel came from another suite

def test_present_installs_nothing_when_the_image_says_the_headers_cannot_be(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    (host.root / 'etc' / 'labkit').mkdir()
    (host.root / 'etc' / 'labkit' / 'kernel.json').write_text(json.dumps({
        'suite': 'bullseye', 'release': release, 'headers': {'installed': False, 'reason': 'gcc-10 is missing'}}))
    warnings = []
    monkeypatch.setattr(kernel_headers.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {}, commands=commands)
    assert not result.get('failed') and result['changed'] is False, result
    assert result['unavailable_reason'] == 'gcc-10 is missing' and result['installed'] is False
    assert mutating(commands) == []
    assert warnings and 'CO-RE' in warnings[0]


def test_a_marker_for_another_kernel_changes_nothing(tmp_path, monkeypatch, module_runner):
    release = '6.1.0-50-cloud-amd64'
    host = Host(tmp_path, monkeypatch, release)
    (host.root / 'etc' / 'labkit').mkdir()
    (host.root / 'etc' / 'labkit' / 'kernel.json').write_text(json.dumps({
        'release': '5.10.0-32-amd64', 'headers': {'installed': False, 'reason': 'gcc-10 is missing'}}))
    commands = apt_commands(release, POLICY_CANDIDATE)
    result = module_runner(kernel_headers, {}, commands=commands, check_mode=True)
    assert result['unavailable_reason'] == '' and result['changed'] is True
