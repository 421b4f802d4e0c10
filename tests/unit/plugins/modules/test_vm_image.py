# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import image as vm_img
from ansible_collections.labkit.ebpf_rdma.plugins.modules import vm_image

from conftest import FakeCommands, fixture_text, hold_lock
from fake_controller import OTHER_UID, debian_controller, tree_state
from fake_controller import root_for_user as as_root_for_user

MIRROR = 'http://mirror.example.invalid/debian'


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake controller: Debian with the example.invalid sources; root on Linux x86_64."""
    return debian_controller(tmp_path, monkeypatch)


def args(tmp_path, **kw):
    a = dict(cache_dir=str(tmp_path / 'cache'), mirror=MIRROR, security_mirror='', apt_proxy='')
    a.update(kw)
    return a


def apt_config(proxy=True):
    name = 'qemu/apt-config-dump-proxy.txt' if proxy else 'qemu/apt-config-dump-noproxy.txt'
    return FakeCommands({('/usr/bin/apt-config', 'dump'): (0, fixture_text(name), '')})


def entries(tmp_path):
    """What is in the cache's images/ besides the entries' lock files (which stay, empty, between runs)."""
    return sorted(n for n in os.listdir(str(tmp_path / 'cache' / 'images')) if not n.endswith('.lock'))


def make_entry(path, key, manifest=True, sums=True):
    """A cache entry as a build leaves it; ``sums=False``: as builds before checksums were kept left it."""
    os.makedirs(path)
    sizes, sha = {}, {}
    for i, name in enumerate(vm_img.IMAGE_FILES):
        with open(os.path.join(path, name), 'wb') as f:
            f.write(b'x' * (i + 1))
        sizes[name] = i + 1
        sha[name] = hashlib.sha256(b'x' * (i + 1)).hexdigest()
    if manifest:
        with open(os.path.join(path, 'manifest.json'), 'w') as f:
            json.dump(dict({'key': key, 'files': sizes}, **({'sha256': sha} if sums else {})), f)


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
    assert res['boot'] == 'kernel' and res['kernel'] == os.path.join(first['path'], 'vmlinuz')
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


# ---------------------------------------------------------------- source=cloud_image

IMAGE_BYTES = b'cloud-style disk bytes\n' * 1000
IMAGE_SHA256 = hashlib.sha256(IMAGE_BYTES).hexdigest()


def cloud_args(tmp_path, image=None, checksum=None, **kw):
    if image is None:
        image = tmp_path / 'img' / 'disk.raw'
        image.parent.mkdir(exist_ok=True)
        image.write_bytes(IMAGE_BYTES)
    return args(tmp_path, source='cloud_image', cloud_image=str(image),
                cloud_image_checksum=checksum or 'sha256:' + IMAGE_SHA256, **kw)


class FakeQemuImg(object):
    """qemu-img info answers from a real capture; convert writes the target."""

    def __init__(self, info='qemu/qemu-img-info-raw.json'):
        self.info = info

    def convert(self, argv, **kw):
        with open(argv[-1], 'wb') as f:
            f.write(b'QFI\xfb converted')
        return 0, '', ''

    def commands(self):
        return FakeCommands({
            lambda a: a[:3] == ('/usr/bin/qemu-img', 'info', '--output=json'): (0, fixture_text(self.info), ''),
            lambda a: a[:2] == ('/usr/bin/qemu-img', 'convert'): self.convert,
        })


def test_cloud_image_check_mode_plans_a_fetch_and_writes_nothing(module_runner, host, tmp_path):
    res = module_runner(vm_image, cloud_args(tmp_path), check_mode=True)
    assert res['changed'] is True and res['cached'] is False
    assert res['boot'] == 'firmware' and res['kernel'] == '' and res['initrd'] == ''
    assert os.path.basename(res['path']) == 'cloud-amd64-' + res['key']
    assert res['inputs'] == {'source': 'cloud_image', 'arch': 'amd64', 'checksum': 'sha256:' + IMAGE_SHA256}
    assert res['actions'] == ['fetch %s, verify sha256:%s... and store it as qcow2 in %s' % (
        tmp_path / 'img' / 'disk.raw', IMAGE_SHA256[:16], res['path'])]
    assert not (tmp_path / 'cache').exists()


def test_cloud_image_raw_is_verified_converted_and_cached_atomically(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 1000)  # no root needed
    cmds = FakeQemuImg().commands()
    res = module_runner(vm_image, cloud_args(tmp_path), commands=cmds)
    assert res['changed'] is True and res['cached'] is False and res['source'] == 'cloud_image'
    convert = cmds.ran('/usr/bin/qemu-img', 'convert')[0]
    assert convert[2:6] == ('-f', 'raw', '-O', 'qcow2') and convert[-1].endswith('/disk.qcow2')
    entry = res['path']
    assert sorted(os.listdir(entry)) == ['disk.qcow2', 'manifest.json', 'verified.json']
    manifest = json.load(open(os.path.join(entry, 'manifest.json')))
    assert manifest['source'] == 'cloud_image' and manifest['format'] == 'raw' and manifest['key'] == res['key']
    assert manifest['recipe_version'] == vm_img.CLOUD_RECIPE_VERSION and manifest['virtual_size'] == 3221225472
    assert [n for n in os.listdir(os.path.dirname(entry)) if n.startswith('.build')] == []
    # the controller's mirror goes to the seed (returned), not into the image
    assert 'URIs: %s\n' % MIRROR in res['guest_apt_sources']
    assert res['guest_apt_conf'] == 'Acquire::Check-Valid-Until "false";\n'
    again = FakeCommands()
    res2 = module_runner(vm_image, cloud_args(tmp_path), commands=again)
    assert res2['changed'] is False and res2['cached'] is True and again.calls == []
    assert res2['disk'] == os.path.join(entry, 'disk.qcow2') and res2['kernel'] == ''


def test_cloud_image_qcow2_from_a_file_url_is_kept_as_is(module_runner, host, tmp_path):
    image = tmp_path / 'img.qcow2'
    image.write_bytes(IMAGE_BYTES)
    cmds = FakeQemuImg('qemu/qemu-img-info-qcow2.json').commands()
    res = module_runner(vm_image, cloud_args(tmp_path, image='file://%s' % image), commands=cmds)
    assert res['changed'] is True and cmds.ran('/usr/bin/qemu-img', 'convert') == []
    with open(res['disk'], 'rb') as f:
        assert f.read() == IMAGE_BYTES


def test_cloud_image_from_a_url(module_runner, host, tmp_path, monkeypatch):
    import io
    opened = []

    def fake_open_url(url, **kw):
        opened.append((url, kw['timeout']))
        return io.BytesIO(IMAGE_BYTES)
    monkeypatch.setattr(vm_image, 'open_url', fake_open_url)
    url = 'https://images.example.invalid/debian-12-genericcloud-amd64.raw'
    res = module_runner(vm_image, cloud_args(tmp_path, image=url, download_timeout=30),
                        commands=FakeQemuImg().commands())
    assert opened == [(url, 30)] and res['changed'] is True and os.path.exists(res['disk'])


def test_cloud_image_checksum_mismatch_caches_nothing(module_runner, host, tmp_path):
    res = module_runner(vm_image, cloud_args(tmp_path, checksum='sha256:' + '0' * 64), commands=FakeQemuImg().commands())
    assert res['failed'] and 'not the expected sha256:' + '0' * 64 in res['msg'] and 'nothing was cached' in res['msg']
    assert IMAGE_SHA256 in res['msg']
    assert entries(tmp_path) == []


def test_cloud_image_with_a_backing_file_is_refused(module_runner, host, tmp_path):
    res = module_runner(vm_image, cloud_args(tmp_path), commands=FakeQemuImg('qemu/qemu-img-info-backing.json').commands())
    assert res['failed'] and 'overlay on /images/base.qcow2' in res['msg']
    assert entries(tmp_path) == []


def test_interrupted_cloud_fetch_is_not_valid_and_is_cleaned(module_runner, host, tmp_path):
    first = module_runner(vm_image, cloud_args(tmp_path), check_mode=True)
    images = os.path.dirname(first['path'])
    stale = os.path.join(images, '.build-%s-999999999' % os.path.basename(first['path']))
    os.makedirs(stale)
    with open(os.path.join(stale, 'download'), 'wb') as f:
        f.write(IMAGE_BYTES[:10])
    # an entry with a disk but no manifest (a crash between rename and manifest cannot happen, a hand copy can)
    os.makedirs(first['path'])
    open(os.path.join(first['path'], 'disk.qcow2'), 'w').close()
    res = module_runner(vm_image, cloud_args(tmp_path), commands=FakeQemuImg().commands())
    assert res['actions'][:2] == ['remove the interrupted build %s' % stale,
                                  'remove the invalid cache entry %s (no or bad manifest)' % first['path']]
    assert not os.path.exists(stale) and res['changed'] is True
    assert sorted(os.listdir(first['path'])) == ['disk.qcow2', 'manifest.json', 'verified.json']


@pytest.mark.parametrize('kw,says', [
    ({'cloud_image': ''}, 'needs cloud_image (local_vm_cloud_image)'),
    ({'cloud_image_checksum': ''}, 'needs cloud_image_checksum (local_vm_cloud_image_checksum)'),
    ({'cloud_image_checksum': 'sha1:abc'}, 'use sha256 or sha512'),
    ({'cloud_image': 'ftp://images.example.invalid/x.raw'}, 'scheme ftp is not supported'),
    ({'cloud_image': '/nonexistent/x.raw'}, 'does not exist (local_vm_cloud_image)'),
    ({'cloud_image': 'images/x.raw'}, 'is not an absolute path'),
])
def test_cloud_image_bad_inputs_say_what_is_wrong(module_runner, host, tmp_path, kw, says):
    a = cloud_args(tmp_path)
    a.update(kw)
    res = module_runner(vm_image, a, check_mode=True)
    assert res['failed'] and says in res['msg']


def test_cloud_image_on_a_controller_without_a_debian_mirror_keeps_the_images_sources(module_runner, host, tmp_path, monkeypatch):
    (host / 'etc/os-release').write_text('ID=macos\n')
    monkeypatch.setattr(vm_image.platform, 'system', lambda: 'Darwin')
    res = module_runner(vm_image, cloud_args(tmp_path, mirror='auto', apt_proxy='http://127.0.0.1:3142'), check_mode=True)
    assert not res.get('failed') and res['guest_apt_sources'] == ''
    assert 'Acquire::http::Proxy "http://10.0.2.2:3142";' in res['guest_apt_conf']


def test_cloud_image_key_does_not_follow_the_mirror(module_runner, host, tmp_path):
    a = module_runner(vm_image, cloud_args(tmp_path), check_mode=True)
    b = module_runner(vm_image, cloud_args(tmp_path, mirror='http://other.example.invalid/debian'), check_mode=True)
    assert a['key'] == b['key'] and a['guest_apt_sources'] != b['guest_apt_sources']


def test_bad_package_name_fails_before_anything(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path, bake_packages=['clang,llvm']))
    assert res['failed'] and "'clang,llvm' is not a Debian package name" in res['msg']
    assert 'one package name per list item' in res['msg']
    assert not (tmp_path / 'cache').exists()


def test_build_needs_root(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 1000)
    res = module_runner(vm_image, args(tmp_path))
    assert res['failed'] and 'needs root' in res['msg'] and 'become' in res['msg']


def test_foreign_arch_needs_binfmt(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    res = module_runner(vm_image, args(tmp_path, arch='arm64'))
    assert res['failed'] and 'update-binfmts --enable qemu-aarch64' in res['msg']


def test_amd64_guest_on_arm64_host_needs_binfmt(module_runner, host, tmp_path, monkeypatch):
    """The other direction (an Apple Silicon Linux VM or an arm64 server building an amd64 guest)."""
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    monkeypatch.setattr(vm_image.platform, 'machine', lambda: 'aarch64')
    res = module_runner(vm_image, args(tmp_path, arch='amd64'))
    assert res['failed'] and 'building an amd64 image on an arm64 host' in res['msg']
    assert 'update-binfmts --enable qemu-x86_64' in res['msg']


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
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
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
    assert sorted(os.listdir(entry)) == ['disk.qcow2', 'initrd.img', 'manifest.json', 'verified.json', 'vmlinuz']
    manifest = json.load(open(os.path.join(entry, 'manifest.json')))
    assert manifest['key'] == res['key'] and manifest['recipe_version'] == vm_img.RECIPE_VERSION
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


def test_foreign_second_stage_reads_a_slim_index(module_runner, host, tmp_path, monkeypatch):
    """arm64 on x86_64: the emulated second stage sees only the fetched packages' stanzas; the image gets all."""
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    (tmp_path / 'host/proc/sys/fs/binfmt_misc').mkdir(parents=True)
    (tmp_path / 'host/proc/sys/fs/binfmt_misc/qemu-aarch64').write_text('enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n')
    full = fixture_text('qemu/trixie-arm64-Packages-excerpt')
    index = 'var/lib/apt/lists/mirror.example.invalid_debian_dists_trixie_main_binary-arm64_Packages'
    fake = FakeBuild()
    first_stage = fake.debootstrap

    def debootstrap(argv, **kw):
        rc, out, err = first_stage(argv, **kw)
        rootfs = argv[-2]
        os.makedirs(os.path.join(rootfs, 'debootstrap'))
        os.makedirs(os.path.dirname(os.path.join(rootfs, index)))
        with open(os.path.join(rootfs, 'debootstrap/debpaths'), 'w') as f:
            f.write(fixture_text('qemu/trixie-arm64-debpaths'))
        with open(os.path.join(rootfs, index), 'w') as f:
            f.write(full)
        return rc, out, err

    second_stage_saw = []

    def second_stage(argv, **kw):
        with open(os.path.join(argv[1], index)) as f:
            second_stage_saw.append(f.read())
        return 0, '', ''

    fake.debootstrap = debootstrap
    cmds = fake.commands()
    cmds.table.insert(0, (lambda a: a[0].endswith('chroot') and a[2:] == ('/debootstrap/debootstrap', '--second-stage'),
                          second_stage))
    res = module_runner(vm_image, args(tmp_path, arch='arm64', release='trixie'), commands=cmds)
    assert res['changed'] is True, res
    assert '--foreign' in cmds.ran('/usr/bin/debootstrap')[0]
    assert len(second_stage_saw) == 1
    saw = [line for line in second_stage_saw[0].splitlines() if line.startswith('Package:')]
    assert saw == ['Package: libcom-err2', 'Package: libext2fs2t64', 'Package: libss2', 'Package: e2fsprogs',
                   'Package: zlib1g']
    assert fake.rootfs_seen['/' + index] == full  # the image keeps the whole index
    assert not [p for p in fake.rootfs_seen if 'package-indexes' in p]


def test_failed_build_leaves_no_entry_and_no_temp_dir(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    res = module_runner(vm_image, args(tmp_path, bake_packages=['nosuchpkg']), commands=FakeBuild(True).commands())
    assert res['failed'] and 'debootstrap of bookworm/amd64' in res['msg'] and 'nosuchpkg' in res['msg']
    assert 'local_vm_bake_packages' in res['msg']
    assert entries(tmp_path) == []


def test_stale_build_dir_of_a_dead_build_is_planned_for_removal(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    images = os.path.dirname(first['path'])
    stale = os.path.join(images, '.build-%s-999999999' % os.path.basename(first['path']))
    os.makedirs(os.path.join(stale, 'rootfs'))
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['actions'][0] == 'remove the interrupted build %s' % stale


def test_mounts_below_is_deepest_first(fake_host):
    fake_host.write('/proc/self/mountinfo', fixture_text('mounts/mountinfo-bookworm-boot.txt') + (
        '90 22 0:5 / /b/.build-x/rootfs/proc rw - proc proc rw\n'
        '91 90 0:6 / /b/.build-x/rootfs/proc/sys/fs/binfmt_misc rw - binfmt_misc x rw\n'
        '92 22 0:5 / /b/.build-xy/rootfs/proc rw - proc proc rw\n'))
    assert vm_image.mounts_below('/b/.build-x') == ['/b/.build-x/rootfs/proc/sys/fs/binfmt_misc',
                                                    '/b/.build-x/rootfs/proc']


def make_tree(path):
    (path / 'bin').mkdir(parents=True)
    (path / 'bin/go').write_text('#!go')
    os.chmod(str(path / 'bin/go'), 0o755)
    (path / 'VERSION').write_text('go1.27.3\n')
    os.symlink('bin/go', str(path / 'go-link'))
    return path


def test_bake_trees_are_copied_and_keyed_by_content(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
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


# ---------------------------------------------------------------- trust (issue 15): root builds for a user

@pytest.fixture
def root_for_user(host, tmp_path, monkeypatch):
    return as_root_for_user(tmp_path, monkeypatch)


def root_args(tmp_path, **kw):
    return args(tmp_path, build_dir=str(tmp_path / 'build'), **kw)


def test_root_builds_outside_the_users_cache_and_hands_over_by_fd(module_runner, host, tmp_path, root_for_user):
    """HIGH: the rootfs and the raw disk are made where the user cannot rename or replace them."""
    fake = FakeBuild()
    cmds = fake.commands()
    seen_in_cache = []

    def convert(argv, **kw):
        seen_in_cache.extend(os.listdir(str(tmp_path / 'cache' / 'images')))
        return fake.convert(argv, **kw)
    cmds.table.insert(0, (lambda a: a[0].endswith('qemu-img'), convert))
    res = module_runner(vm_image, root_args(tmp_path), commands=cmds)
    assert res['changed'] is True, res
    rootfs = cmds.ran('/usr/bin/debootstrap')[0][-2]
    assert rootfs.startswith(str(tmp_path / 'build') + '/labkit-vm_image-')
    assert not rootfs.startswith(str(tmp_path / 'cache'))
    assert [n for n in seen_in_cache if n.startswith('.build')] == []  # nothing of the build in the user's cache
    assert os.listdir(str(tmp_path / 'build')) == []  # the private work dir is gone
    entry = res['path']
    for name in ['', 'disk.qcow2', 'vmlinuz', 'initrd.img', 'manifest.json', 'verified.json']:
        assert os.lstat(os.path.join(entry, name)).st_uid == root_for_user
    assert os.stat(os.path.join(entry, 'disk.qcow2')).st_mode & 0o777 == 0o644


@pytest.mark.skipif(os.getuid() != 0, reason='seeing a chown of a root-owned file needs root')
def test_a_swapped_build_dir_cannot_make_root_chown_a_foreign_file(module_runner, host, tmp_path, root_for_user):
    """The attack of issue 15: the user swaps the build dir for one whose files link to /etc/shadow."""
    victim = tmp_path / 'shadow'
    victim.write_text('root:x:...\n')
    os.chown(str(victim), 0, 0)
    fake = FakeBuild()
    cmds = fake.commands()
    images = tmp_path / 'cache' / 'images'

    def convert(argv, **kw):
        rc = fake.convert(argv, **kw)
        for name in os.listdir(str(images)):  # the user's move, in every dir the user can write
            if name.startswith('.build'):
                os.rename(str(images / name), str(images / (name + '.moved')))
                os.mkdir(str(images / name))
                for f in vm_img.IMAGE_FILES:
                    os.symlink(str(victim), str(images / name / f))
                (images / name / 'disk.raw').write_text('')
        return rc
    cmds.table.insert(0, (lambda a: a[0].endswith('qemu-img'), convert))
    module_runner(vm_image, root_args(tmp_path), commands=cmds)
    assert os.stat(str(victim)).st_uid == 0 and victim.read_text() == 'root:x:...\n'


def test_build_dir_others_can_write_is_refused_before_anything(module_runner, host, tmp_path, root_for_user):
    os.chmod(str(tmp_path / 'build'), 0o777)  # world-writable and not sticky
    cmds = FakeCommands()
    res = module_runner(vm_image, root_args(tmp_path), commands=cmds, check_mode=True)
    build = str(tmp_path / 'build')
    assert res['failed'] and res['msg'].startswith('%s is writable by its group or by everyone and not sticky (mode 0777' % build)
    assert res['msg'].endswith('chmod go-w %s or choose another build_dir' % build)
    assert cmds.calls == []


def test_group_writable_cache_is_refused_in_check_mode_too(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image.fsafe, 'private_group', lambda gid, uid: False)  # a group shared with others
    cache = tmp_path / 'cache'
    (cache / 'images').mkdir(parents=True)
    os.chmod(str(cache), 0o775)
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['failed'] and res['msg'].startswith('%s is writable by its group or by everyone (mode 0775' % cache)
    assert 'chmod go-w %s or choose another cache_dir (local_vm_cache_dir)' % cache in res['msg']


@pytest.mark.skipif(os.getuid() != 0, reason='a cache owned by another uid needs root to make')
def test_cache_owned_by_another_user_is_refused(module_runner, host, tmp_path):
    cache = tmp_path / 'cache'
    (cache / 'images').mkdir(parents=True)
    os.chown(str(cache), OTHER_UID + 1, -1)
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['failed'] and '%s is owned by uid %d, not by' % (cache, OTHER_UID + 1) in res['msg']
    assert 'chown 0 %s or choose another cache_dir' % cache in res['msg']


# ---------------------------------------------------------------- entries: symlinks, checksums

def test_symlinked_entry_is_refused_with_a_message(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    elsewhere = str(tmp_path / 'elsewhere')
    make_entry(elsewhere, first['key'])
    os.makedirs(os.path.dirname(first['path']))
    os.symlink(elsewhere, first['path'])
    res = module_runner(vm_image, args(tmp_path))
    assert res['failed'] and res['msg'] == (
        'the cache entry %s is a symbolic link (to %s); labkit does not follow links in its cache: remove the '
        'link (rm %s) and run again, the image is then built anew' % (first['path'], elsewhere, first['path']))


def test_symlinked_file_in_an_entry_is_refused(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'])
    disk = os.path.join(first['path'], 'disk.qcow2')
    os.rename(disk, str(tmp_path / 'real-disk'))
    os.symlink(str(tmp_path / 'real-disk'), disk)
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['failed'] and res['msg'].startswith('%s is a symbolic link' % disk)
    assert 'remove it: rm -r %s' % first['path'] in res['msg']


def test_same_size_corruption_is_caught_and_the_entry_rebuilt(module_runner, host, tmp_path, monkeypatch):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'])
    disk = os.path.join(first['path'], 'disk.qcow2')
    before = os.stat(disk)
    with open(disk, 'r+b') as f:
        f.write(b'y')  # same size, other bytes
    os.utime(disk, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the mtime set back
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['cached'] is False
    assert res['actions'] == [
        'remove the invalid cache entry %s (disk.qcow2 has sha256 %s, its manifest says %s)' % (
            first['path'], hashlib.sha256(b'y').hexdigest(), hashlib.sha256(b'x').hexdigest()),
        'build the bookworm amd64 image (0 baked packages) into %s' % first['path']]


def test_a_verified_entry_is_not_hashed_again_until_a_file_changes(module_runner, host, tmp_path, monkeypatch):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'])  # no verified.json yet: hashed once, then the stamp is written
    hashed = []
    real = vm_image.sha256_fd
    monkeypatch.setattr(vm_image, 'sha256_fd', lambda fd: hashed.append(fd) or real(fd))
    assert module_runner(vm_image, args(tmp_path))['cached'] is True
    assert len(hashed) == 3 and os.path.exists(os.path.join(first['path'], 'verified.json'))
    del hashed[:]
    res = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert res['cached'] is True and res['changed'] is False and hashed == []
    os.utime(os.path.join(first['path'], 'vmlinuz'))  # any write changes ctime: verified again
    assert module_runner(vm_image, args(tmp_path), check_mode=True)['cached'] is True and len(hashed) == 3


def test_entry_from_before_checksums_is_hashed_once_and_kept(module_runner, host, tmp_path):
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'], sums=False)
    record = 'record the sha256 of the files of %s in its manifest (an entry made before checksums were kept; ' \
             'its sizes match)' % first['path']
    probe = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert probe['cached'] is False and probe['actions'] == [record]
    assert 'sha256' not in json.load(open(os.path.join(first['path'], 'manifest.json')))  # check mode wrote nothing
    cmds = FakeCommands()
    res = module_runner(vm_image, args(tmp_path), commands=cmds)
    assert res['cached'] is True and res['changed'] is True and res['actions'] == [record] and cmds.calls == []
    manifest = json.load(open(os.path.join(first['path'], 'manifest.json')))
    assert manifest['sha256']['vmlinuz'] == hashlib.sha256(b'xx').hexdigest() and manifest['key'] == first['key']
    again = module_runner(vm_image, args(tmp_path), check_mode=True)
    assert again['cached'] is True and again['changed'] is False


def test_a_build_records_checksums_and_its_stamp(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    res = module_runner(vm_image, args(tmp_path), commands=FakeBuild().commands())
    manifest = json.load(open(os.path.join(res['path'], 'manifest.json')))
    with open(res['disk'], 'rb') as f:
        assert manifest['sha256']['disk.qcow2'] == hashlib.sha256(f.read()).hexdigest()
    hashed = []
    monkeypatch.setattr(vm_image, 'sha256_fd', hashed.append)
    assert module_runner(vm_image, args(tmp_path), check_mode=True)['cached'] is True and hashed == []


# ---------------------------------------------------------------- lock, interrupted builds

def test_a_second_run_fails_naming_the_holder_and_writes_nothing(module_runner, host, tmp_path, monkeypatch):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    os.makedirs(os.path.dirname(first['path']))
    lock = first['path'] + '.lock'
    holder = hold_lock(lock, 30)
    try:
        before = tree_state(str(tmp_path / 'cache'))
        cmds = FakeBuild().commands()
        res = module_runner(vm_image, args(tmp_path, lock_timeout=0), commands=cmds)
        assert res['failed'] and res['msg'].startswith('%s.lock is locked by pid %d' % (os.path.basename(first['path']), holder.pid))
        assert res['msg'].endswith('Wait for it to finish, or stop it (kill %d) if it is stuck, then run again' % holder.pid)
        assert cmds.calls == [] and tree_state(str(tmp_path / 'cache')) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_second_run_waits_for_the_holder_with_a_warning(module_runner, host, tmp_path, monkeypatch):
    from ansible.module_utils import basic
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    first = module_runner(vm_image, args(tmp_path), check_mode=True)
    make_entry(first['path'], first['key'])
    holder = hold_lock(first['path'] + '.lock', 1)
    try:
        res = module_runner(vm_image, args(tmp_path, lock_timeout=30), commands=FakeCommands())
    finally:
        holder.wait()
    assert res['cached'] is True
    assert len(warnings) == 1 and warnings[0].startswith('waiting up to 30 s for %s.lock, locked by pid %d' % (
        os.path.basename(first['path']), holder.pid))


def test_an_interrupted_build_leaves_no_entry_and_no_leftover(module_runner, host, tmp_path, root_for_user):
    fake = FakeBuild()
    cmds = fake.commands()

    def sigint(argv, **kw):
        raise KeyboardInterrupt()
    cmds.table.insert(0, (lambda a: a[0].endswith('mkfs.ext4'), sigint))
    with pytest.raises(KeyboardInterrupt):
        module_runner(vm_image, root_args(tmp_path), commands=cmds)
    assert entries(tmp_path) == [] and os.listdir(str(tmp_path / 'build')) == []


def test_a_killed_builds_leftovers_are_never_trusted_and_are_cleaned(module_runner, host, tmp_path, root_for_user):
    """SIGKILL mid-build: a complete-looking staging dir and root's work dir stay; the next run removes both."""
    first = module_runner(vm_image, root_args(tmp_path), check_mode=True)
    entry = os.path.basename(first['path'])
    staging = os.path.join(os.path.dirname(first['path']), '.build-%s-999999999-0a0b0c0d' % entry)
    make_entry(staging, first['key'])
    build = vm_image.ImageBuilder.build_prefix(None, vm_image.Cache(None, str(tmp_path / 'cache'), 0), entry)
    work = tmp_path / 'build' / (build + 'x1y2z3')
    (work / 'rootfs/etc').mkdir(parents=True)
    probe = module_runner(vm_image, root_args(tmp_path), check_mode=True)
    assert probe['cached'] is False and probe['actions'] == [
        'remove the interrupted build %s' % staging, 'remove the interrupted build %s' % work,
        'build the bookworm amd64 image (0 baked packages) into %s' % first['path']]
    res = module_runner(vm_image, root_args(tmp_path), commands=FakeBuild().commands())
    assert res['changed'] is True and entries(tmp_path) == [entry] and os.listdir(str(tmp_path / 'build')) == []


@pytest.mark.skipif(os.getuid() != 0, reason='a file of another uid in the tree needs root to make')
def test_root_refuses_a_bake_tree_holding_files_of_someone_else(module_runner, host, tmp_path, root_for_user):
    tree = make_tree(tmp_path / 'go')
    for path in (tree, tree / 'bin', tree / 'bin/go', tree / 'VERSION'):
        os.lchown(str(path), root_for_user, -1)
    os.lchown(str(tree / 'go-link'), root_for_user, -1)
    secret = tree / 'bin' / 'root-secret'
    secret.write_text('secret')  # root's own file, in the user's tree
    cmds = FakeCommands()
    res = module_runner(vm_image, root_args(tmp_path, bake_trees=[{'src': str(tree), 'dest': '/opt/go'}]),
                        commands=cmds, check_mode=True)
    assert res['failed'] and res['msg'].startswith('bake_trees src %s holds %s, owned by root (uid 0), not by uid %d'
                                                   % (tree, secret, root_for_user))
    assert cmds.calls == []


# ---------------------------------------------------------------- kernel_suite: a kernel from another suite

def apt_for_kernels(headers=False):
    """The controller's apt reading a suite's index into a directory of its own (fixtures: real apt-cache output)."""
    cmds = apt_config(proxy=False)

    def is_(prog, last):
        return lambda argv: argv[0] == '/usr/bin/' + prog and argv[-1] == last

    cmds.table.insert(0, (is_('apt-get', 'update'), (0, 'Reading package lists...\n', '')))
    cmds.table.insert(0, (is_('apt-cache', 'linux-image-amd64'),
                          (0, fixture_text('apt/show-linux-image-amd64.3suites.txt'), '')))
    cmds.table.insert(0, (lambda argv: argv[0] == '/usr/bin/apt-cache' and argv[-1].startswith('linux-headers-'),
                          (0, 'Package: x\n', '') if headers else (100, '', fixture_text('apt/show-missing.err'))))
    return cmds


@pytest.fixture
def keyring(host):
    path = host / 'usr/share/keyrings'
    path.mkdir(parents=True)
    (path / 'debian-archive-keyring.gpg').write_bytes(b'')
    return path


def test_kernel_suite_check_mode_resolves_the_kernel_and_plans_base_then_derived(module_runner, host, keyring, tmp_path):
    cmds = apt_for_kernels()
    res = module_runner(vm_image, args(tmp_path, kernel_suite='trixie-backports', release='trixie'), commands=cmds,
                        check_mode=True)
    assert res['changed'] is True and not res.get('failed'), res
    gk = res['guest_kernel']
    assert (gk['suite'], gk['package'], gk['release'], gk['version']) == (
        'trixie-backports', 'linux-image-7.3.4+deb13-amd64', '7.3.4+deb13-amd64', '7.3.4-1~bpo13+1')
    assert gk['headers']['available'] is False and gk['headers']['package'] == 'linux-headers-7.3.4+deb13-amd64'
    assert os.path.basename(res['path']) == 'trixie-amd64-ktrixie-backports-' + res['key']
    assert res['inputs']['kernel_version'] == '7.3.4-1~bpo13+1' and res['inputs']['base'] == gk['base'].rsplit('-', 1)[1]
    assert [a.split(' ')[0] for a in res['actions']] == ['build', 'derive']
    # the index was read with an apt state of its own: never the controller's sources, lists or dpkg status
    update = [c for c in cmds.calls if c[-1] == 'update'][0]
    opts = dict(o.split('=', 1) for o in update[2:-1:2])
    assert opts['Dir::Etc::SourceList'] == '/dev/null' and opts['Dir::State::Status'] == '/dev/null'
    assert not opts['Dir::State::Lists'].startswith('/var/lib/apt')
    assert not (tmp_path / 'cache').exists()


def test_kernel_key_follows_the_resolved_version(module_runner, host, keyring, tmp_path):
    a = args(tmp_path, kernel_suite='trixie-backports', release='trixie')
    one = module_runner(vm_image, a, commands=apt_for_kernels(), check_mode=True)
    other = module_runner(vm_image, dict(a, kernel_headers=False), commands=apt_for_kernels(), check_mode=True)
    base = module_runner(vm_image, args(tmp_path, release='trixie'), commands=apt_config(proxy=False), check_mode=True)
    assert len(set([one['key'], other['key'], base['key']])) == 3
    assert one['guest_kernel']['base'] == os.path.basename(base['path'])


def test_the_releases_own_suite_is_the_base_image(module_runner, host, tmp_path):
    res = module_runner(vm_image, args(tmp_path, kernel_suite='bookworm'), commands=apt_config(proxy=False),
                        check_mode=True)
    assert res['guest_kernel'] == {} and os.path.basename(res['path']) == 'bookworm-amd64-' + res['key']


@pytest.mark.parametrize('kw, says', [
    (dict(kernel_suite='Bookworm Backports'), 'is not a Debian suite name'),
    (dict(kernel_suite='bookworm-backports', source='cloud_image', cloud_image='/x.qcow2',
          cloud_image_checksum='sha256:' + '0' * 64), 'needs source=debootstrap'),
])
def test_bad_kernel_suite_fails_before_anything(module_runner, host, tmp_path, kw, says):
    res = module_runner(vm_image, args(tmp_path, **kw), check_mode=True)
    assert res['failed'] and says in res['msg']


def test_a_suite_without_a_kernel_says_so(module_runner, host, keyring, tmp_path):
    cmds = apt_for_kernels()
    cmds.table.insert(0, (lambda argv: argv[-1] == 'linux-image-amd64',
                          (100, '', fixture_text('apt/show-missing.err'))))
    res = module_runner(vm_image, args(tmp_path, kernel_suite='bookworm-updates'), commands=cmds, check_mode=True)
    assert res['failed'] and 'has no kernel for amd64' in res['msg'] and 'local_vm_kernel' in res['msg']


class FakeDerive(FakeBuild):
    """FakeBuild plus what deriving an image with another kernel runs (unpack, chroot apt-get, mount)."""

    RELEASE = '7.3.4+deb13-amd64'

    def __init__(self, headers_rc=0):
        super(FakeDerive, self).__init__()
        self.headers_rc = headers_rc
        self.mounted = []

    def rdump(self, argv, **kw):
        if argv[1] == '-f':  # debugfs ls -p of every directory: sudo lost its setuid bit in the unpack
            return 0, 'debugfs: ls -p "/usr/bin"\n/20/040755/0/0/.//\n/21/104755/0/0/sudo/10/\n', ''
        rootfs = argv[2].split('"')[1]
        for rel, data in (('usr/bin/sudo', 'sudo'), ('boot/vmlinuz-6.12.117+deb13-amd64', 'own kernel'),
                          ('etc/os-release', 'trixie')):
            path = os.path.join(rootfs, rel)
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path))
            with open(path, 'w') as f:
                f.write(data)
        os.chmod(os.path.join(rootfs, 'usr/bin/sudo'), 0o755)
        return 0, '', ''

    def chroot(self, argv, **kw):
        rootfs = argv[1]
        if argv[2] != 'apt-get':
            return 0, '', ''
        if argv[-1] == 'linux-image-' + self.RELEASE:
            # the package split of 7.x: the kernel beside its modules, the initrd from initramfs-tools in /boot
            for rel, data in (('usr/lib/modules/%s/vmlinuz' % self.RELEASE, 'new kernel'),
                              ('boot/initrd.img-%s' % self.RELEASE, 'new initrd')):
                path = os.path.join(rootfs, rel)
                if not os.path.isdir(os.path.dirname(path)):
                    os.makedirs(os.path.dirname(path))
                with open(path, 'w') as f:
                    f.write(data)
        if argv[-1] == 'linux-headers-' + self.RELEASE and argv[-2] != '-y':
            return self.headers_rc, '', 'E: Unable to satisfy dependencies' if self.headers_rc else ''
        return 0, '', ''

    def mkfs(self, argv, **kw):
        sudo = os.path.join(argv[argv.index('-d') + 1], 'usr/bin/sudo')
        if os.path.exists(sudo):
            self.sudo_mode = os.stat(sudo).st_mode & 0o7777
        return super(FakeDerive, self).mkfs(argv, **kw)

    def mount(self, argv, **kw):
        self.mounted.append(argv[-1])
        return 0, '', ''

    def convert(self, argv, **kw):
        with open(argv[-1], 'w') as f:
            f.write('raw' if argv[3] == 'raw' else 'qcow2')
        return 0, '', ''

    def commands(self):
        cmds = super(FakeDerive, self).commands()
        cmds.table = [(k, v) for k, v in cmds.table if not (callable(k) and k(('/usr/bin/chroot',)))]
        cmds.table = [(lambda a: a[0].endswith('mkfs.ext4'), self.mkfs),
                      (lambda a: a[0].endswith('debugfs'), self.rdump),
                      (lambda a: a[0].endswith('chroot'), self.chroot),
                      (lambda a: a[0].endswith('/mount'), self.mount),
                      (lambda a: a[0].endswith('/umount'), (0, '', ''))] + cmds.table
        for k, v in apt_for_kernels(headers=True).table:
            cmds.table.append((k, v))
        return cmds


@pytest.mark.parametrize('headers_rc', [0, 100])
def test_derive_installs_the_kernel_into_the_unpacked_base_and_exports_it(
        module_runner, host, keyring, tmp_path, monkeypatch, headers_rc):
    monkeypatch.setattr(vm_image, 'effective_uid', lambda: 0)
    monkeypatch.setattr(vm_image.ImageBuilder, 'make_dev_nodes', staticmethod(lambda rootfs: None))
    fake = FakeDerive(headers_rc=headers_rc)
    cmds = fake.commands()
    res = module_runner(vm_image, args(tmp_path, release='trixie', kernel_suite='trixie-backports'), commands=cmds)
    assert res['changed'] is True and not res.get('failed'), res
    assert [a.split(' ')[0] for a in res['actions']] == ['build', 'derive']
    entry = res['path']
    assert sorted(os.listdir(entry)) == ['disk.qcow2', 'initrd.img', 'manifest.json', 'verified.json', 'vmlinuz']
    # the resolved kernel, from /usr/lib/modules/<release>/ (not the image's own /boot/vmlinuz-6.12)
    assert open(os.path.join(entry, 'vmlinuz')).read() == 'new kernel'
    assert open(os.path.join(entry, 'initrd.img')).read() == 'new initrd'
    install = [c for c in cmds.calls if c[0].endswith('chroot') and 'install' in c]
    assert install[0][-3:] == ('-t', 'trixie-backports', 'linux-image-' + FakeDerive.RELEASE)
    assert fake.sudo_mode == 0o4755  # the setuid bit the unpack lost, put back from debugfs ls -p
    opts = dict(o.split('=', 1) for o in install[0][3:] if '=' in o)
    assert opts['Dir::State::Status'] == '/var/lib/dpkg/status' and opts['Dir::Etc::SourceList'] == '/dev/null'
    assert fake.mounted and fake.mounted[0].endswith('/proc')
    seen = fake.rootfs_seen
    marker = json.loads(seen['/etc/labkit/kernel.json'])
    assert marker['release'] == FakeDerive.RELEASE and marker['suite'] == 'trixie-backports'
    assert marker['headers']['installed'] is (headers_rc == 0)
    if headers_rc:
        assert 'Unable to satisfy dependencies' in marker['headers']['reason']
        assert res['guest_kernel']['headers']['reason'] == marker['headers']['reason']
    assert 'Suites: trixie-backports\n' in seen['/etc/apt/sources.list.d/labkit-kernel.sources']
    assert 'Pin: release n=trixie-backports\nPin-Priority: 100' in seen['/etc/apt/preferences.d/labkit-kernel']
    assert not any(p.startswith('/var/lib/labkit-kernel-apt') for p in seen)
    manifest = json.load(open(os.path.join(entry, 'manifest.json')))
    assert manifest['kernel']['version'] == '7.3.4-1~bpo13+1' and manifest['key'] == res['key']
    # warm: both entries cached; only the archive is read again (the version may have moved on)
    again = apt_for_kernels(headers=True)
    res2 = module_runner(vm_image, args(tmp_path, release='trixie', kernel_suite='trixie-backports'), commands=again)
    assert res2['changed'] is False and res2['cached'] is True
    assert res2['guest_kernel']['headers']['installed'] is (headers_rc == 0)
    assert all(c[0] in ('/usr/bin/apt-get', '/usr/bin/apt-cache', '/usr/bin/apt-config') for c in again.calls)
