# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu as q
from ansible_collections.labkit.ebpf_rdma.plugins.modules import vm_image

from conftest import FakeCommands, fixture_text

MIRROR = 'http://mirror.example.invalid/debian'


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake controller: Debian with the example.invalid sources; root on Linux x86_64."""
    root = tmp_path / 'host'
    (root / 'etc/apt/sources.list.d').mkdir(parents=True)
    (root / 'etc/apt/sources.list.d/debian.sources').write_text(fixture_text('qemu/debian.sources'))
    (root / 'etc/os-release').write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    (root / 'proc/self').mkdir(parents=True)
    (root / 'proc/self/mounts').write_text('/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n')
    monkeypatch.setattr(common, 'HOST_ROOT', str(root))
    monkeypatch.setattr(vm_image.platform, 'system', lambda: 'Linux')
    monkeypatch.setattr(vm_image.platform, 'machine', lambda: 'x86_64')
    monkeypatch.setattr(vm_image.os, 'geteuid', os.getuid)
    monkeypatch.delenv('http_proxy', raising=False)
    monkeypatch.delenv('HTTP_PROXY', raising=False)
    return root


def args(tmp_path, **kw):
    a = dict(cache_dir=str(tmp_path / 'cache'), mirror=MIRROR, security_mirror='', apt_proxy='')
    a.update(kw)
    return a


def apt_config(proxy=True):
    name = 'qemu/apt-config-dump-proxy.txt' if proxy else 'qemu/apt-config-dump-noproxy.txt'
    return FakeCommands({('/usr/bin/apt-config', 'dump'): (0, fixture_text(name), '')})


def make_entry(path, key, manifest=True):
    os.makedirs(path)
    sizes = {}
    for i, name in enumerate(q.IMAGE_FILES):
        with open(os.path.join(path, name), 'wb') as f:
            f.write(b'x' * (i + 1))
        sizes[name] = i + 1
    if manifest:
        with open(os.path.join(path, 'manifest.json'), 'w') as f:
            json.dump({'key': key, 'files': sizes}, f)


def test_check_mode_plans_a_build_and_writes_nothing(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['changed'] is True and res['cached'] is False
    assert res['actions'] == ['build the bookworm amd64 image (0 baked packages) into %s' % res['path']]
    assert os.path.basename(res['path']) == 'bookworm-amd64-' + res['key']
    assert not (tmp_path / 'cache').exists()


def test_valid_cache_entry_is_reused_without_commands(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'])
    cmds = FakeCommands()
    res = module_runner(vm_image, args(tmp_path), commands=cmds)
    assert res['changed'] is False and res['cached'] is True and res['actions'] == []
    assert res['disk'] == os.path.join(first['path'], 'disk.qcow2')
    assert cmds.calls == []


def test_entry_without_manifest_is_not_valid(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'], manifest=False)
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['cached'] is False
    assert res['actions'][0].startswith('remove the invalid cache entry')
    assert os.path.exists(first['path'])  # check mode removes nothing


def test_mirror_security_and_proxy_come_from_the_controller(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path, mirror='auto', security_mirror='auto', apt_proxy='auto'),
                        commands=apt_config(proxy=True), check_mode=True)
    assert res['inputs']['mirror'] == MIRROR
    assert res['inputs']['security_mirror'] == 'http://mirror.example.invalid/debian-security'
    assert res['inputs']['apt_proxy'] == 'http://proxy.example.invalid:3142'
    explicit = module_runner(vm_image, args(tmp_path, security_mirror='http://mirror.example.invalid/debian-security',
                                            apt_proxy='http://proxy.example.invalid:3142'), check_mode=True)
    assert explicit['key'] == res['key']


def test_loopback_proxy_is_rewritten_for_the_guest(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:3142')
    res = module_runner(vm_image, args(tmp_path, apt_proxy='auto'), commands=apt_config(proxy=False), check_mode=True)
    assert res['inputs']['apt_proxy'] == 'http://10.0.2.2:3142'


def test_auto_mirror_on_a_non_debian_controller_fails(module_runner, host, tmp_path):
    (host / 'etc/os-release').write_text('ID=ubuntu\n')
    res = module_runner(vm_image, args(tmp_path, mirror='auto'), check_mode=True)
    assert res['failed'] and 'set it to a Debian mirror URI' in res['msg'] and 'ubuntu' in res['msg']


def test_cloud_image_is_not_supported_yet(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path, source='cloud_image', cloud_image='/x.qcow2'))
    assert res['failed'] and 'not supported yet' in res['msg']


def test_bad_package_name_fails_before_anything(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path, bake_packages=['clang,llvm']))
    assert res['failed'] and 'one package per list item' in res['msg']
    assert not (tmp_path / 'cache').exists()


def test_build_needs_root(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.os, 'geteuid', lambda: 1000)
    res = module_runner(vm_image, args(tmp_path))
    assert res['failed'] and 'needs root' in res['msg'] and 'become' in res['msg']


def test_foreign_arch_needs_binfmt(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.os, 'geteuid', lambda: 0)
    res = module_runner(vm_image, args(tmp_path, arch='arm64'))
    assert res['failed'] and 'update-binfmts --enable qemu-aarch64' in res['msg']


def test_image_building_needs_linux(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.platform, 'system', lambda: 'Darwin')
    res = module_runner(vm_image, args(tmp_path))
    assert res['failed'] and 'needs a Linux host' in res['msg'] and 'cloud' in res['msg']


class FakeBuild(object):
    """Answers the build commands by doing what they would do to the files."""

    def __init__(self, fail_debootstrap=False):
        self.fail_debootstrap = fail_debootstrap
        self.rootfs_seen = {}

    def debootstrap(self, argv, **kw):
        if self.fail_debootstrap:
            return 1, '', 'E: Couldn\'t find these debs: nosuchpkg'
        rootfs = argv[-2]
        for rel, data in (('boot/vmlinuz-6.1.0-9-amd64', 'old'), ('boot/vmlinuz-6.1.0-50-amd64', 'kernel'),
                          ('boot/initrd.img-6.1.0-50-amd64', 'initrd'), ('boot/initrd.img-6.1.0-9-amd64', 'old'),
                          ('etc/ssh/ssh_host_rsa_key', 'secret'), ('etc/apt/sources.list', 'deb x'),
                          ('var/cache/apt/archives/clang_14.deb', 'deb'), ('etc/resolv.conf', '')):
            path = os.path.join(rootfs, rel)
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path))
            with open(path, 'w') as f:
                f.write(data)
        return 0, 'I: Base system installed successfully.', ''

    def truncate(self, argv, **kw):
        open(argv[-1], 'w').close()
        return 0, '', ''

    def mkfs(self, argv, **kw):
        rootfs = argv[argv.index('-d') + 1]
        for dirpath, _d, files in os.walk(rootfs):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path) as f:
                    self.rootfs_seen['/' + os.path.relpath(path, rootfs)] = f.read()
        return 0, '', ''

    def convert(self, argv, **kw):
        with open(argv[-1], 'w') as f:
            f.write('qcow2')
        return 0, '', ''

    def commands(self):
        return FakeCommands({
            lambda a: a[0].endswith('debootstrap'): self.debootstrap,
            lambda a: a[0].endswith('truncate'): self.truncate,
            lambda a: a[0].endswith('mkfs.ext4'): self.mkfs,
            lambda a: a[0].endswith('qemu-img'): self.convert,
            lambda a: a[0].endswith('chroot'): (0, '', ''),
        })


def test_build_writes_an_atomic_valid_entry(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.os, 'geteuid', lambda: 0)
    fake = FakeBuild()
    cmds = fake.commands()
    res = module_runner(vm_image, args(tmp_path, bake_packages=['clang', 'bpftool'],
                                       security_mirror='http://mirror.example.invalid/debian-security',
                                       apt_proxy='http://127.0.0.1:3142'), commands=cmds)
    assert res['changed'] is True and res['cached'] is False
    deb = cmds.ran('/usr/bin/debootstrap')[0]
    assert deb[1:3] == ('--variant=minbase', '--arch=amd64')
    assert deb[3].startswith('--include=linux-image-amd64,') and 'bpftool' in deb[3] and 'openssh-server' in deb[3]
    assert deb[-3] == 'bookworm' and deb[-1] == MIRROR
    assert ('/usr/bin/chroot', deb[-2], 'systemctl', 'mask', 'apt-daily.timer', 'apt-daily-upgrade.timer') in cmds.calls
    # the entry: manifest last, only the image files, valid for its key
    entry = res['path']
    assert sorted(os.listdir(entry)) == ['disk.qcow2', 'initrd.img', 'manifest.json', 'vmlinuz']
    manifest = json.load(open(os.path.join(entry, 'manifest.json')))
    assert manifest['key'] == res['key'] and manifest['recipe_version'] == q.RECIPE_VERSION
    assert open(os.path.join(entry, 'vmlinuz')).read() == 'kernel'  # newest kernel, not 6.1.0-9
    assert [n for n in os.listdir(os.path.dirname(entry)) if n.startswith('.build')] == []
    # what went into the filesystem
    seen = fake.rootfs_seen
    assert '/etc/ssh/ssh_host_rsa_key' not in seen and '/etc/apt/sources.list' not in seen
    assert '/var/cache/apt/archives/clang_14.deb' not in seen
    assert seen['/etc/resolv.conf'] == 'nameserver 10.0.2.3\n'
    assert 'Name=en* eth*' in seen['/etc/systemd/network/20-wired.network']
    assert 'URIs: %s\n' % MIRROR in seen['/etc/apt/sources.list.d/debian.sources']
    assert 'Acquire::http::Proxy "http://10.0.2.2:3142";' in seen['/etc/apt/apt.conf.d/90labkit']
    assert 'Acquire::Check-Valid-Until "false";' in seen['/etc/apt/apt.conf.d/90labkit']
    assert 'opt/labkit' in seen['/usr/local/sbin/labkit-fwcfg']
    assert 'Before=ssh.service' in seen['/etc/systemd/system/labkit-fwcfg.service']
    assert seen['/etc/machine-id'] == ''
    # the build proxy is the controller's own (loopback) URL
    assert res['build_seconds']['debootstrap'] >= 0
    # second run: cached, nothing runs
    again = FakeCommands()
    res2 = module_runner(vm_image, args(tmp_path, bake_packages=['bpftool', 'clang'],
                                        security_mirror='http://mirror.example.invalid/debian-security',
                                        apt_proxy='http://127.0.0.1:3142'), commands=again)
    assert res2['changed'] is False and res2['cached'] is True and again.calls == []


def test_failed_build_leaves_no_entry_and_no_temp_dir(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.os, 'geteuid', lambda: 0)
    res = module_runner(vm_image, args(tmp_path, bake_packages=['nosuchpkg']), commands=FakeBuild(True).commands())
    assert res['failed'] and 'debootstrap of bookworm/amd64' in res['msg'] and 'nosuchpkg' in res['msg']
    assert 'local_vm_bake_packages' in res['msg']
    assert os.listdir(str(tmp_path / 'cache' / 'images')) == []


def test_stale_build_dir_of_a_dead_build_is_planned_for_removal(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    images = os.path.dirname(first['path'])
    stale = os.path.join(images, '.build-%s-999999999' % os.path.basename(first['path']))
    os.makedirs(os.path.join(stale, 'rootfs'))
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['actions'][0] == 'remove the interrupted build %s' % stale


def test_mounts_under_is_deepest_first():
    text = ('proc /b/.build-x/rootfs/proc proc rw 0 0\nsys /b/.build-x/rootfs/proc/sys/fs/binfmt_misc x rw 0 0\n'
            '/dev/vda / ext4 rw 0 0\nproc /b/.build-xy/rootfs/proc proc rw 0 0\n')
    assert vm_image.mounts_under('/b/.build-x', text) == ['/b/.build-x/rootfs/proc/sys/fs/binfmt_misc',
                                                          '/b/.build-x/rootfs/proc']


def make_tree(path):
    (path / 'bin').mkdir(parents=True)
    (path / 'bin/go').write_text('#!go')
    os.chmod(str(path / 'bin/go'), 0o755)
    (path / 'VERSION').write_text('go1.27.3\n')
    os.symlink('bin/go', str(path / 'go-link'))
    return path


def test_bake_trees_are_copied_and_keyed_by_content(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.os, 'geteuid', lambda: 0)
    tree = make_tree(tmp_path / 'go1.27.3.linux-amd64')
    bake = [{'src': str(tree), 'dest': '/usr/local/lib/labkit/go/go1.27.3'}]
    plain = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert 'trees' not in plain['inputs']  # images without trees keep their keys
    fake = FakeBuild()
    res = module_runner(vm_image, args(tmp_path, bake_trees=bake), commands=fake.commands())
    assert res['changed'] is True and res['key'] != plain['key']
    assert res['inputs']['trees'] == [{'dest': '/usr/local/lib/labkit/go/go1.27.3', 'sha256': vm_image.tree_digest(str(tree))}]
    assert 'build_trees' not in res['inputs']  # where the tree was read from does not shape the image
    assert fake.rootfs_seen['/usr/local/lib/labkit/go/go1.27.3/bin/go'] == '#!go'
    assert fake.rootfs_seen['/usr/local/lib/labkit/go/go1.27.3/VERSION'] == 'go1.27.3\n'
    assert res['build_seconds']['trees'] >= 0
    # the same content is the same image; changed content is another one
    assert module_runner(vm_image, args(tmp_path, bake_trees=bake), commands=FakeCommands())['cached'] is True
    (tree / 'VERSION').write_text('go1.27.4\n')
    changed = module_runner(vm_image, args(tmp_path, bake_trees=bake), check_mode=True)
    assert changed['cached'] is False and changed['key'] != res['key']


def test_tree_digest_sees_modes_and_links(tmp_path):
    tree = make_tree(tmp_path / 't')
    first = vm_image.tree_digest(str(tree))
    os.chmod(str(tree / 'bin/go'), 0o644)
    second = vm_image.tree_digest(str(tree))
    os.unlink(str(tree / 'go-link'))
    os.symlink('VERSION', str(tree / 'go-link'))
    assert len({first, second, vm_image.tree_digest(str(tree))}) == 3


@pytest.mark.parametrize('tree, word', [({'src': 'MISSING', 'dest': '/opt/go'}, 'is not a directory'),
                                        ({'src': 'TREE', 'dest': 'opt/go'}, 'absolute path'),
                                        ({'src': 'TREE', 'dest': '/opt/../etc'}, 'absolute path')])
def test_bad_bake_trees_fail_before_anything(module_runner, host, tmp_path, tree, word):
    make_tree(tmp_path / 'TREE')
    tree = dict(tree, src=str(tmp_path / tree['src']))
    cmds = FakeCommands()
    res = module_runner(vm_image, args(tmp_path, bake_trees=[tree]), commands=cmds)
    assert res['failed'] and word in res['msg'] and cmds.calls == []
