# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import distro

from conftest import fixture_text


def osr(name):
    return distro.parse_os_release(fixture_text('distro/os-release-' + name))


BOOKWORM = 'debian-12-bookworm'
TRIXIE = 'debian-13-trixie'
JAMMY = 'ubuntu-22.04'
NOBLE = 'ubuntu-24.04'
FEDORA = 'fedora-40'
ROCKY = 'rocky-9'


def test_parse_os_release_bookworm_capture():
    data = osr(BOOKWORM)
    assert data['ID'] == 'debian'
    assert data['VERSION_ID'] == '12'
    assert data['PRETTY_NAME'] == 'Debian GNU/Linux 12 (bookworm)'
    assert 'ID_LIKE' not in data


def test_parse_os_release_quotes_comments_and_escapes():
    text = '# comment\n\nID="rocky"\nID_LIKE=\'rhel fedora\'\nNAME="A \\"quoted\\" \\$name"\nEMPTY=""\nBROKEN\n'
    data = distro.parse_os_release(text)
    assert data == {'ID': 'rocky', 'ID_LIKE': 'rhel fedora', 'NAME': 'A "quoted" $name', 'EMPTY': ''}


def test_parse_os_release_empty():
    assert distro.parse_os_release('') == {}
    assert distro.parse_os_release(None) == {}


@pytest.mark.parametrize('name, family', [
    (BOOKWORM, 'debian'), (TRIXIE, 'debian'), (JAMMY, 'debian'), (NOBLE, 'debian'),
    (FEDORA, 'redhat'), (ROCKY, 'redhat'),
])
def test_family_from_fixtures(name, family):
    assert distro.distro_family(osr(name)) == family


def test_family_from_id_like_only():
    assert distro.distro_family({'ID': 'mydistro', 'ID_LIKE': 'ubuntu debian'}) == 'debian'
    assert distro.distro_family({'ID': 'myel', 'ID_LIKE': 'rhel centos fedora'}) == 'redhat'
    assert distro.distro_family({'ID': 'arch'}) is None
    assert distro.distro_family({}) is None
    assert distro.package_manager({'ID': 'arch'}) is None


def test_ubuntu_like():
    assert distro.is_ubuntu_like(osr(NOBLE))
    assert distro.is_ubuntu_like({'ID': 'linuxmint', 'ID_LIKE': 'ubuntu debian'})
    assert not distro.is_ubuntu_like(osr(BOOKWORM))
    assert not distro.is_ubuntu_like(osr(FEDORA))


def test_describe_and_version():
    assert distro.describe_distro(osr(ROCKY)) == 'Rocky Linux 9.4 (Blue Onyx)'
    assert distro.describe_distro({'NAME': 'X', 'VERSION_ID': '3'}) == 'X 3'
    assert distro.describe_distro({}) == 'unknown distribution'
    assert distro.version_tuple('24.04') == (24, 4)
    assert distro.version_tuple('12') == (12,)
    assert distro.version_tuple('9.4') == (9, 4)
    assert distro.version_tuple('') == ()
    assert distro.version_tuple(None) == ()


@pytest.mark.parametrize('release, flavour', [
    ('6.1.0-50-amd64', 'amd64'),
    ('6.1.0-50-cloud-amd64', 'cloud-amd64'),
    ('6.1.0-50-rt-amd64', 'rt-amd64'),
    ('6.12.41+deb13-amd64', 'amd64'),
    ('6.12.41+deb13-cloud-arm64', 'cloud-arm64'),
    ('6.8.0-31-generic', 'generic'),
    ('6.8.0-1008-azure', 'azure'),
    ('5.15.0-91-lowlatency-64k', 'lowlatency-64k'),
    ('6.8.5-301.fc40.x86_64', None),
    ('5.14.0-427.13.1.el9_4.x86_64', None),
])
def test_kernel_flavour(release, flavour):
    assert distro.kernel_flavour(release) == flavour


@pytest.mark.parametrize('name, release, headers, meta, image', [
    (BOOKWORM, '6.1.0-50-amd64', 'linux-headers-6.1.0-50-amd64', 'linux-headers-amd64', 'linux-image-amd64'),
    (BOOKWORM, '6.1.0-50-cloud-amd64', 'linux-headers-6.1.0-50-cloud-amd64', 'linux-headers-cloud-amd64',
     'linux-image-cloud-amd64'),
    (TRIXIE, '6.12.41+deb13-amd64', 'linux-headers-6.12.41+deb13-amd64', 'linux-headers-amd64', 'linux-image-amd64'),
    (JAMMY, '5.15.0-1034-azure', 'linux-headers-5.15.0-1034-azure', 'linux-headers-azure', 'linux-image-azure'),
    (NOBLE, '6.8.0-31-generic', 'linux-headers-6.8.0-31-generic', 'linux-headers-generic', 'linux-image-generic'),
    (FEDORA, '6.8.5-301.fc40.x86_64', 'kernel-devel-6.8.5-301.fc40.x86_64', 'kernel-devel', 'kernel'),
    (ROCKY, '5.14.0-427.13.1.el9_4.x86_64', 'kernel-devel-5.14.0-427.13.1.el9_4.x86_64', 'kernel-devel', 'kernel'),
])
def test_headers_packages(name, release, headers, meta, image):
    data = osr(name)
    assert distro.headers_package(data, release) == headers
    assert distro.headers_meta_package(data, release) == meta
    assert distro.image_meta_package(data, release) == image


def test_headers_unknown_family():
    assert distro.headers_package({'ID': 'arch'}, '6.9.1-arch1-1') is None
    assert distro.headers_meta_package({'ID': 'arch'}, '6.9.1-arch1-1') is None
    assert distro.image_meta_package({'ID': 'arch'}, '6.9.1-arch1-1') is None
    assert distro.headers_package_prefix({'ID': 'arch'}) is None
    assert distro.install_command({'ID': 'arch'}, ['x']) is None
    assert distro.headers_meta_package(osr(BOOKWORM), '6.1.0') is None


def test_headers_prefix():
    assert distro.headers_package_prefix(osr(NOBLE)) == 'linux-headers-'
    assert distro.headers_package_prefix(osr(ROCKY)) == 'kernel-devel-'


def test_bpftool_packages():
    assert distro.bpftool_packages(osr(BOOKWORM), '6.1.0-50-amd64') == ['bpftool']
    assert distro.bpftool_packages(osr(TRIXIE), '6.12.41+deb13-amd64') == ['bpftool']
    assert distro.bpftool_packages(osr(FEDORA), '6.8.5-301.fc40.x86_64') == ['bpftool']
    assert distro.bpftool_packages(osr(JAMMY), '5.15.0-91-generic') == [
        'linux-tools-common', 'linux-tools-5.15.0-91-generic']
    assert distro.bpftool_packages(osr(NOBLE), '6.8.0-31-generic') == [
        'linux-tools-common', 'linux-tools-6.8.0-31-generic']
    plucky = dict(osr(NOBLE), VERSION_ID='25.04')
    assert distro.bpftool_packages(plucky, '6.14.0-15-generic') == ['bpftool']
    assert distro.bpftool_package(osr(JAMMY), '5.15.0-91-generic') == 'linux-tools-5.15.0-91-generic'
    assert distro.bpftool_package(osr(BOOKWORM), '6.1.0-50-amd64') == 'bpftool'
    assert distro.bpftool_packages({'ID': 'arch'}, 'x') == []
    assert distro.bpftool_package({'ID': 'arch'}, 'x') is None


def test_rdma_rxe_modules_package():
    assert distro.rdma_rxe_modules_package(osr(JAMMY), '5.15.0-1034-azure') == 'linux-modules-extra-5.15.0-1034-azure'
    assert distro.rdma_rxe_modules_package(osr(NOBLE), '6.8.0-31-generic') == 'linux-modules-extra-6.8.0-31-generic'
    assert distro.rdma_rxe_modules_package(osr(BOOKWORM), '6.1.0-50-amd64') is None
    assert distro.rdma_rxe_modules_package(osr(FEDORA), '6.8.5-301.fc40.x86_64') is None


def test_rdma_rxe_fix():
    assert 'linux-modules-extra-6.8.0-1008-azure' in distro.rdma_rxe_fix(osr(NOBLE), '6.8.0-1008-azure')
    fix = distro.rdma_rxe_fix(osr(BOOKWORM), '6.1.0-50-cloud-amd64')
    assert 'does not build rdma_rxe' in fix and 'linux-image-amd64' in fix
    assert 'CONFIG_RDMA_RXE' in distro.rdma_rxe_fix(osr(BOOKWORM), '6.1.0-50-amd64')


def test_install_command():
    assert distro.install_command(osr(BOOKWORM), ['linux-headers-6.1.0-50-amd64']) == [
        'apt-get', 'install', '-y', '--no-install-recommends', 'linux-headers-6.1.0-50-amd64']
    assert distro.install_command(osr(FEDORA), ['kernel-devel']) == ['dnf', 'install', '-y', 'kernel-devel']
