# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import image as vm_img
from conftest import fixture_text


def test_include_packages_has_kernel_base_and_baked_sorted_unique():
    inc = vm_img.include_packages('arm64', ['clang', ' clang', 'bpftool', ''])
    assert inc[0] == 'linux-image-arm64'
    assert 'openssh-server' in inc and 'bpftool' in inc
    assert inc[1:] == sorted(set(inc[1:]))
    assert vm_img.include_packages('amd64', [])[0] == 'linux-image-amd64'


BASE_INPUTS = dict(release='bookworm', arch='amd64', packages=['clang', 'bpftool'],
                   mirror='http://m.example.invalid/debian', security_mirror='', apt_proxy='',
                   apt_check_valid_until=False, apt_conf=[], image_size='8G')


def test_cache_key_is_stable_and_ignores_package_order():
    k1 = vm_img.cache_key(BASE_INPUTS)
    k2 = vm_img.cache_key(dict(BASE_INPUTS, packages=['bpftool', 'clang', 'clang']))
    assert k1 == k2
    assert len(k1) == 16 and int(k1, 16) >= 0


@pytest.mark.parametrize('change', [
    {'release': 'trixie'}, {'arch': 'arm64'}, {'packages': ['clang']},
    {'mirror': 'http://other.example.invalid/debian'}, {'apt_check_valid_until': True}, {'image_size': '10G'},
])
def test_cache_key_changes_with_every_input(change):
    assert vm_img.cache_key(dict(BASE_INPUTS, **change)) != vm_img.cache_key(BASE_INPUTS)


def test_debootstrap_cache_key_is_the_one_cached_images_have():
    # computed with the code before cloud images existed: the same inputs must keep
    # the same key, or every cached image would be rebuilt
    assert vm_img.cache_key(BASE_INPUTS) == '7ebcf9e3397e29a8'


def test_cloud_cache_key_follows_checksum_arch_and_cloud_recipe(monkeypatch):
    cloud = {'source': 'cloud_image', 'arch': 'amd64', 'checksum': 'sha256:' + 'a' * 64}
    k = vm_img.cache_key(cloud, vm_img.CLOUD_RECIPE_VERSION)
    assert k != vm_img.cache_key(dict(cloud, checksum='sha256:' + 'b' * 64))
    assert k != vm_img.cache_key(dict(cloud, arch='arm64'), vm_img.CLOUD_RECIPE_VERSION)
    assert k != vm_img.cache_key(cloud, vm_img.CLOUD_RECIPE_VERSION + 1)
    monkeypatch.setattr(vm_img, 'RECIPE_VERSION', vm_img.RECIPE_VERSION + 1)  # the debootstrap recipe does not matter
    assert vm_img.cache_key(cloud, vm_img.CLOUD_RECIPE_VERSION) == k
    assert vm_img.cloud_entry_name('amd64', k) == 'cloud-amd64-' + k


def test_cache_key_changes_with_the_recipe_version(monkeypatch):
    before = vm_img.cache_key(BASE_INPUTS)
    monkeypatch.setattr(vm_img, 'RECIPE_VERSION', vm_img.RECIPE_VERSION + 1)
    assert vm_img.cache_key(BASE_INPUTS) != before


def test_manifest_validity():
    files = {'disk.qcow2': 10, 'vmlinuz': 2, 'initrd.img': 3}
    manifest = json.dumps({'key': 'abc', 'files': files})
    assert vm_img.manifest_valid(manifest, 'abc', files)
    assert not vm_img.manifest_valid(None, 'abc', files)          # temp dir without manifest
    assert not vm_img.manifest_valid('{"key": "ab', 'abc', files)  # truncated manifest
    assert not vm_img.manifest_valid(manifest, 'other', files)
    assert not vm_img.manifest_valid(manifest, 'abc', dict(files, vmlinuz=1))   # file changed/truncated
    assert not vm_img.manifest_valid(manifest, 'abc', {'disk.qcow2': 10, 'vmlinuz': 2})  # file missing


def test_manifest_validity_follows_the_source():
    cloud = json.dumps({'key': 'abc', 'source': 'cloud_image', 'files': {'disk.qcow2': 10}})
    assert vm_img.image_files('cloud_image') == ('disk.qcow2',)
    assert vm_img.manifest_valid(cloud, 'abc', {'disk.qcow2': 10}, vm_img.image_files('cloud_image'))
    assert not vm_img.manifest_valid(cloud, 'abc', {'disk.qcow2': 9}, vm_img.image_files('cloud_image'))
    # a disk-only entry is never a valid debootstrap entry (no kernel to boot)
    assert not vm_img.manifest_valid(cloud, 'abc', {'disk.qcow2': 10}, vm_img.image_files('debootstrap'))


@pytest.mark.parametrize('text,expected', [
    ('sha256:' + 'AB' * 32, ('sha256', 'ab' * 32)),
    (' sha512:' + 'c' * 128 + ' ', ('sha512', 'c' * 128)),
])
def test_parse_checksum(text, expected):
    assert vm_img.parse_checksum(text) == expected


@pytest.mark.parametrize('text,says', [
    ('a' * 64, 'is not <algorithm>:<hex>'),
    ('md5:' + 'a' * 32, 'use sha256 or sha512'),
    ('sha256:' + 'a' * 63, 'is not 64 hex digits'),
    ('sha256:' + 'g' * 64, 'is not 64 hex digits'),
    ('', 'is not <algorithm>:<hex>'),
])
def test_parse_checksum_says_what_is_wrong(text, says):
    with pytest.raises(ValueError) as e:
        vm_img.parse_checksum(text)
    assert says in str(e.value)


def test_cloud_image_location():
    assert vm_img.cloud_image_location('/i/d.raw') == ('path', '/i/d.raw')
    assert vm_img.cloud_image_location('~/d.qcow2') == ('path', '~/d.qcow2')
    assert vm_img.cloud_image_location('file:///i/d.raw') == ('path', '/i/d.raw')
    assert vm_img.cloud_image_location('file://localhost/i/d.raw') == ('path', '/i/d.raw')
    assert vm_img.cloud_image_location('https://images.example.invalid/d.qcow2') == ('url', 'https://images.example.invalid/d.qcow2')
    with pytest.raises(ValueError) as e:
        vm_img.cloud_image_location('ftp://images.example.invalid/d.qcow2')
    assert 'scheme ftp is not supported' in str(e.value)


def test_parse_qemu_img_info_from_real_output():
    assert vm_img.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-raw.json')) == {
        'format': 'raw', 'virtual_size': 3221225472, 'backing': None}
    assert vm_img.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-qcow2.json'))['format'] == 'qcow2'
    assert vm_img.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-backing.json'))['backing'] == '/images/base.qcow2'
    with pytest.raises(ValueError):
        vm_img.parse_qemu_img_info('qemu-img: Could not open')


def test_second_stage_index_keeps_only_what_the_first_stage_fetched():
    names = vm_img.debpaths_packages(fixture_text('qemu/trixie-arm64-debpaths') + '\n  \n')
    assert names == {'base-files', 'e2fsprogs', 'libcom-err2', 'libext2fs2t64', 'libss2', 'zlib1g'}
    full = fixture_text('qemu/trixie-arm64-Packages-excerpt')
    slim = vm_img.slim_packages_index(full, names)
    kept = [line.split(':', 1)[1].strip() for line in slim.splitlines() if line.startswith('Package:')]
    assert kept == ['libcom-err2', 'libext2fs2t64', 'libss2', 'e2fsprogs', 'zlib1g']  # index order, no 0ad/zsh
    # each kept stanza whole and byte for byte, separated as apt writes them
    for stanza in slim.split('\n\n')[:-1]:
        assert stanza + '\n\n' in full
    assert slim.endswith('\n\n') and 'Pre-Depends: libblkid1' in slim and 'Package: zsh' not in slim
    assert vm_img.slim_packages_index(full, set()) == ''


def test_size_bytes_takes_truncate_syntax_and_refuses_the_rest():
    assert vm_img.size_bytes('8G') == 8 << 30 and vm_img.size_bytes('512M') == 512 << 20 and vm_img.size_bytes('10') == 10
    assert vm_img.size_bytes('2GiB') == 2 << 30 and vm_img.size_bytes('1KB') == 1000
    for bad in ('-5', '0', '', '8X', '+2G', '1.5G', '8 G'):
        with pytest.raises(ValueError):
            vm_img.size_bytes(bad)


def test_package_names_follow_debian_policy():
    for good in ('clang', 'libbpf-dev', 'g++', 'linux-image-6.1.0-50-amd64', 'python3.11', '0ad'):
        assert vm_img.bad_package_name(good) is None
    for bad in ('-o', '--no-check-gpg', 'Clang', 'x', 'clang llvm', 'clang,llvm', '', '+x'):
        assert 'is not a Debian package name' in vm_img.bad_package_name(bad)


def test_urls_need_a_scheme_a_host_and_no_space():
    assert vm_img.bad_url('http://mirror.example.invalid/debian') is None
    assert vm_img.bad_url('https://m.example.invalid:8443/d') is None
    for bad in ('ftp://m/debian', 'mirror/debian', 'http://', 'http://m/de bian', 'http://m/d\nTypes: deb'):
        assert vm_img.bad_url(bad)


def test_checksums_and_verified_stamp():
    manifest = json.dumps({'key': 'k', 'files': {'disk.qcow2': 1}, 'sha256': {'disk.qcow2': 'ab'}})
    assert vm_img.manifest_checksums(manifest, ('disk.qcow2',)) == {'disk.qcow2': 'ab'}
    assert vm_img.manifest_checksums(manifest) is None  # vmlinuz/initrd missing: not a full set
    assert vm_img.manifest_checksums('{"key": "k"}', ('disk.qcow2',)) is None  # made before checksums
    sigs = {'disk.qcow2': [1, 2, 3, 4, 5]}
    stamp = vm_img.stamp_text(sigs, {'disk.qcow2': 'ab'})
    assert vm_img.stamp_fresh(stamp, sigs, {'disk.qcow2': 'ab'})
    assert not vm_img.stamp_fresh(stamp, {'disk.qcow2': [1, 2, 3, 4, 6]}, {'disk.qcow2': 'ab'})  # ctime moved
    assert not vm_img.stamp_fresh(stamp, sigs, {'disk.qcow2': 'cd'})  # another manifest
    assert not vm_img.stamp_fresh('{', sigs, {'disk.qcow2': 'ab'})
