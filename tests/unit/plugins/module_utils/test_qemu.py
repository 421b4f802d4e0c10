# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import qemu as q
from conftest import fixture_text

from conftest import fixture_text


# ---------------------------------------------------------------- mirror discovery

def test_deb822_sources_give_mirror_and_security_mirror():
    entries = q.parse_deb822_sources(fixture_text('qemu/debian.sources'))
    assert [e['uris'] for e in entries] == [
        ['http://mirror.example.invalid/debian'],
        ['http://mirror.example.invalid/debian-security'],
    ]
    assert entries[0]['suites'] == ['bookworm', 'bookworm-updates']
    assert q.discover_mirrors(entries) == ('http://mirror.example.invalid/debian',
                                           'http://mirror.example.invalid/debian-security')


def test_deb822_disabled_stanza_and_continuation_lines():
    text = ('Types: deb\nURIs: http://off.example.invalid/debian\nSuites: bookworm\nEnabled: no\n\n'
            'Types: deb deb-src\nURIs:\n http://on.example.invalid/debian\nSuites: bookworm\nComponents: main\n')
    entries = q.parse_deb822_sources(text)
    assert len(entries) == 1
    assert entries[0]['uris'] == ['http://on.example.invalid/debian']
    assert q.discover_mirrors(entries) == ('http://on.example.invalid/debian', None)


def test_one_line_sources_list_with_options_and_deb_src():
    entries = q.parse_sources_list(fixture_text('qemu/sources.list'))
    assert entries[0] == {'types': ['deb'], 'uris': ['http://ftp.example.invalid/debian'],
                          'suites': ['bullseye'], 'components': ['main', 'contrib']}
    assert entries[1]['types'] == ['deb-src']
    assert q.discover_mirrors(entries) == ('http://ftp.example.invalid/debian',
                                           'http://security.example.invalid/debian-security')


def test_no_usable_source_gives_none():
    assert q.discover_mirrors(q.parse_sources_list('deb cdrom:[Debian]/ bookworm main\n')) == (None, None)
    assert q.discover_mirrors([]) == (None, None)


def test_apt_proxy_from_real_apt_config_dump():
    assert q.parse_apt_config_dump(fixture_text('qemu/apt-config-dump-proxy.txt')) == 'http://proxy.example.invalid:3142'
    assert q.parse_apt_config_dump(fixture_text('qemu/apt-config-dump-noproxy.txt')) is None
    assert q.parse_apt_config_dump('Acquire::http::Proxy "DIRECT";\n') is None


def test_proxy_from_environment():
    assert q.proxy_from_environ({'http_proxy': 'http://p.example.invalid:8080'}) == 'http://p.example.invalid:8080'
    assert q.proxy_from_environ({'HTTP_PROXY': 'http://P.example.invalid'}) == 'http://P.example.invalid'
    assert q.proxy_from_environ({}) is None


@pytest.mark.parametrize('url,expected', [
    ('http://127.0.0.1:3142', 'http://10.0.2.2:3142'),
    ('http://localhost:3142/', 'http://10.0.2.2:3142/'),
    ('http://user@127.0.1.1/debian', 'http://user@10.0.2.2/debian'),
    ('http://mirror.example.invalid/debian', 'http://mirror.example.invalid/debian'),
    ('http://localhost.example.invalid/', 'http://localhost.example.invalid/'),
    ('', ''),
])
def test_guest_url_maps_loopback_to_the_slirp_gateway(url, expected):
    assert q.guest_url(url) == expected


def test_os_release_id():
    assert q.os_release_id('PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n') == 'debian'
    assert q.os_release_id('ID="ubuntu"\n') == 'ubuntu'
    assert q.os_release_id('') is None


# ---------------------------------------------------------------- image contents and key

def test_guest_sources_and_apt_conf():
    text = q.guest_sources('trixie', 'http://m.example.invalid/debian', 'http://m.example.invalid/debian-security')
    stanzas = q.parse_deb822_sources(text)
    assert stanzas[0]['suites'] == ['trixie', 'trixie-updates']
    assert stanzas[1]['suites'] == ['trixie-security']
    assert len(q.parse_deb822_sources(q.guest_sources('trixie', 'http://m.example.invalid/debian', ''))) == 1
    conf = q.guest_apt_conf('http://10.0.2.2:3142', False, ['APT::Install-Recommends "false";'])
    assert conf.splitlines() == ['Acquire::http::Proxy "http://10.0.2.2:3142";',
                                 'Acquire::Check-Valid-Until "false";', 'APT::Install-Recommends "false";']
    assert q.guest_apt_conf('', True, []) == ''


def test_include_packages_has_kernel_base_and_baked_sorted_unique():
    inc = q.include_packages('arm64', ['clang', ' clang', 'bpftool', ''])
    assert inc[0] == 'linux-image-arm64'
    assert 'openssh-server' in inc and 'bpftool' in inc
    assert inc[1:] == sorted(set(inc[1:]))
    assert q.include_packages('amd64', [])[0] == 'linux-image-amd64'


BASE_INPUTS = dict(release='bookworm', arch='amd64', packages=['clang', 'bpftool'],
                   mirror='http://m.example.invalid/debian', security_mirror='', apt_proxy='',
                   apt_check_valid_until=False, apt_conf=[], image_size='8G')


def test_cache_key_is_stable_and_ignores_package_order():
    k1 = q.cache_key(BASE_INPUTS)
    k2 = q.cache_key(dict(BASE_INPUTS, packages=['bpftool', 'clang', 'clang']))
    assert k1 == k2
    assert len(k1) == 16 and int(k1, 16) >= 0


@pytest.mark.parametrize('change', [
    {'release': 'trixie'}, {'arch': 'arm64'}, {'packages': ['clang']},
    {'mirror': 'http://other.example.invalid/debian'}, {'apt_check_valid_until': True}, {'image_size': '10G'},
])
def test_cache_key_changes_with_every_input(change):
    assert q.cache_key(dict(BASE_INPUTS, **change)) != q.cache_key(BASE_INPUTS)


def test_debootstrap_cache_key_is_the_one_cached_images_have():
    # computed with the code before cloud images existed: the same inputs must keep
    # the same key, or every cached image would be rebuilt
    assert q.cache_key(BASE_INPUTS) == '7ebcf9e3397e29a8'


def test_cloud_cache_key_follows_checksum_arch_and_cloud_recipe(monkeypatch):
    cloud = {'source': 'cloud_image', 'arch': 'amd64', 'checksum': 'sha256:' + 'a' * 64}
    k = q.cache_key(cloud, q.CLOUD_RECIPE_VERSION)
    assert k != q.cache_key(dict(cloud, checksum='sha256:' + 'b' * 64))
    assert k != q.cache_key(dict(cloud, arch='arm64'), q.CLOUD_RECIPE_VERSION)
    assert k != q.cache_key(cloud, q.CLOUD_RECIPE_VERSION + 1)
    monkeypatch.setattr(q, 'RECIPE_VERSION', q.RECIPE_VERSION + 1)  # the debootstrap recipe does not matter
    assert q.cache_key(cloud, q.CLOUD_RECIPE_VERSION) == k
    assert q.cloud_entry_name('amd64', k) == 'cloud-amd64-' + k


def test_cache_key_changes_with_the_recipe_version(monkeypatch):
    before = q.cache_key(BASE_INPUTS)
    monkeypatch.setattr(q, 'RECIPE_VERSION', q.RECIPE_VERSION + 1)
    assert q.cache_key(BASE_INPUTS) != before


def test_manifest_validity():
    files = {'disk.qcow2': 10, 'vmlinuz': 2, 'initrd.img': 3}
    manifest = json.dumps({'key': 'abc', 'files': files})
    assert q.manifest_valid(manifest, 'abc', files)
    assert not q.manifest_valid(None, 'abc', files)          # temp dir without manifest
    assert not q.manifest_valid('{"key": "ab', 'abc', files)  # truncated manifest
    assert not q.manifest_valid(manifest, 'other', files)
    assert not q.manifest_valid(manifest, 'abc', dict(files, vmlinuz=1))   # file changed/truncated
    assert not q.manifest_valid(manifest, 'abc', {'disk.qcow2': 10, 'vmlinuz': 2})  # file missing


def test_manifest_validity_follows_the_source():
    cloud = json.dumps({'key': 'abc', 'source': 'cloud_image', 'files': {'disk.qcow2': 10}})
    assert q.image_files('cloud_image') == ('disk.qcow2',)
    assert q.manifest_valid(cloud, 'abc', {'disk.qcow2': 10}, q.image_files('cloud_image'))
    assert not q.manifest_valid(cloud, 'abc', {'disk.qcow2': 9}, q.image_files('cloud_image'))
    # a disk-only entry is never a valid debootstrap entry (no kernel to boot)
    assert not q.manifest_valid(cloud, 'abc', {'disk.qcow2': 10}, q.image_files('debootstrap'))


@pytest.mark.parametrize('text,expected', [
    ('sha256:' + 'AB' * 32, ('sha256', 'ab' * 32)),
    (' sha512:' + 'c' * 128 + ' ', ('sha512', 'c' * 128)),
])
def test_parse_checksum(text, expected):
    assert q.parse_checksum(text) == expected


@pytest.mark.parametrize('text,says', [
    ('a' * 64, 'is not <algorithm>:<hex>'),
    ('md5:' + 'a' * 32, 'use sha256 or sha512'),
    ('sha256:' + 'a' * 63, 'is not 64 hex digits'),
    ('sha256:' + 'g' * 64, 'is not 64 hex digits'),
    ('', 'is not <algorithm>:<hex>'),
])
def test_parse_checksum_says_what_is_wrong(text, says):
    with pytest.raises(ValueError) as e:
        q.parse_checksum(text)
    assert says in str(e.value)


def test_cloud_image_location():
    assert q.cloud_image_location('/i/d.raw') == ('path', '/i/d.raw')
    assert q.cloud_image_location('~/d.qcow2') == ('path', '~/d.qcow2')
    assert q.cloud_image_location('file:///i/d.raw') == ('path', '/i/d.raw')
    assert q.cloud_image_location('file://localhost/i/d.raw') == ('path', '/i/d.raw')
    assert q.cloud_image_location('https://images.example.invalid/d.qcow2') == ('url', 'https://images.example.invalid/d.qcow2')
    with pytest.raises(ValueError) as e:
        q.cloud_image_location('ftp://images.example.invalid/d.qcow2')
    assert 'scheme ftp is not supported' in str(e.value)


def test_parse_qemu_img_info_from_real_output():
    assert q.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-raw.json')) == {
        'format': 'raw', 'virtual_size': 3221225472, 'backing': None}
    assert q.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-qcow2.json'))['format'] == 'qcow2'
    assert q.parse_qemu_img_info(fixture_text('qemu/qemu-img-info-backing.json'))['backing'] == '/images/base.qcow2'
    with pytest.raises(ValueError):
        q.parse_qemu_img_info('qemu-img: Could not open')


def test_cache_and_state_roots():
    assert q.user_cache_root({'HOME': '/home/u'}) == '/home/u/.cache/labkit-ebpf_rdma'
    assert q.user_cache_root({'HOME': '/home/u', 'XDG_CACHE_HOME': '/c'}) == '/c/labkit-ebpf_rdma'
    assert q.user_state_root({'HOME': '/home/u'}) == '/home/u/.local/state/labkit-ebpf_rdma'
    assert q.user_state_root({'XDG_STATE_HOME': '/s'}) == '/s/labkit-ebpf_rdma'


# ---------------------------------------------------------------- accelerator

def test_probe_kvm_cpu_host_aborts_on_pvm_kvm():
    ok, reason = q.probe_verdict(fixture_text('qemu/kvm-probe-cpu-host.serial'), 134,
                                 fixture_text('qemu/kvm-probe-cpu-host.stderr'), False)
    assert not ok
    assert 'failed to set MSR 0x10a' in reason and '134' in reason


def test_probe_kvm_default_cpu_hangs_after_edd():
    ok, reason = q.probe_verdict(fixture_text('qemu/kvm-probe-default-cpu.serial'), 137,
                                 fixture_text('qemu/kvm-probe-default-cpu.stderr'), True)
    assert not ok
    assert 'Probing EDD' in reason and 'did not finish' in reason


def test_probe_tcg_boot_reaches_the_root_mount_panic():
    ok, reason = q.probe_verdict(fixture_text('qemu/tcg-probe.serial'), 0, '', False)
    assert ok and 'VFS: Unable to mount root fs' in reason


def test_probe_empty_log_without_timeout():
    assert q.probe_verdict('', 0, '', False) == (False, 'QEMU exited before the kernel reached a late boot message')
    assert q.probe_verdict('', 137, '', True)[1].endswith('(no serial output)')


@pytest.mark.parametrize('args,accel,words', [
    (('auto', 'Linux', 'amd64', 'amd64', True, 'booted', False), 'kvm', 'probe passed'),
    (('auto', 'Linux', 'amd64', 'amd64', False, 'MSR', False), 'tcg', 'failed the boot probe (MSR)'),
    (('auto', 'Linux', 'amd64', 'amd64', None, '/dev/kvm does not exist', False), 'tcg', '/dev/kvm does not exist'),
    (('auto', 'Darwin', 'arm64', 'arm64', None, None, True), 'hvf', 'Hypervisor.framework'),
    (('auto', 'Darwin', 'arm64', 'arm64', None, None, False), 'tcg', 'kern.hv_support'),
    (('auto', 'Darwin', 'arm64', 'amd64', None, None, True), 'tcg', 'amd64 guest on a arm64 host'),
    (('auto', 'Linux', 'amd64', 'arm64', True, 'x', False), 'tcg', 'same architecture'),
    (('tcg', 'Linux', 'amd64', 'amd64', True, 'x', False), 'tcg', 'requested'),
    (('kvm', 'Linux', 'amd64', 'amd64', False, 'x', False), 'kvm', 'requested'),
    (('hvf', 'Darwin', 'arm64', 'arm64', None, None, False), 'hvf', 'requested'),
])
def test_choose_accel(args, accel, words):
    got, reason = q.choose_accel(*args)
    assert got == accel
    assert words in reason


def test_probe_argv_is_bounded_and_diskless():
    argv = q.probe_argv('qemu-system-x86_64', 'amd64', '/k', '/tmp/p.log')
    assert argv[:5] == ['qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host']
    assert '-no-reboot' in argv and '-initrd' not in argv and '-drive' not in argv
    assert 'panic=-1' in argv[argv.index('-append') + 1]
    arm = q.probe_argv('qemu-system-aarch64', 'arm64', '/k', '/tmp/p.log')
    assert arm[1:3] == ['-M', 'virt']
    assert 'console=ttyAMA0' in arm[arm.index('-append') + 1]


def test_parse_qemu_version_from_real_output():
    assert q.parse_qemu_version(fixture_text('qemu/qemu-version.txt')) == '7.2.22'
    assert q.parse_qemu_version('garbage') is None


# ---------------------------------------------------------------- qemu argv

SPEC = dict(name='devvm', arch='amd64', accel='tcg', cpus=2, memory_mb=2048, overlay='/s/disk.qcow2',
            kernel='/c/vmlinuz', initrd='/c/initrd.img', ssh_port=40022, serial_log='/s/serial.log',
            pidfile='/s/qemu.pid', qmp_socket='/s/qmp.sock',
            fw_cfg=[('authorized_keys', 'file', '/s/id_ed25519.pub'), ('hostname', 'string', 'devvm')])


def _opt(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_vm_argv_amd64_tcg():
    argv = q.vm_argv('/usr/bin/qemu-system-x86_64', SPEC)
    assert argv[0] == '/usr/bin/qemu-system-x86_64'
    assert '-M' not in argv
    assert _opt(argv, '-accel') == ['tcg,thread=multi']
    assert _opt(argv, '-cpu') == ['max']
    assert _opt(argv, '-smp') == ['2'] and _opt(argv, '-m') == ['2048M']
    assert _opt(argv, '-append') == ['root=/dev/vda rw console=ttyS0']
    assert _opt(argv, '-netdev') == ['user,id=n0,hostfwd=tcp:127.0.0.1:40022-:22']
    assert _opt(argv, '-fw_cfg') == ['name=opt/labkit/authorized_keys,file=/s/id_ed25519.pub',
                                     'name=opt/labkit/hostname,string=devvm']
    assert _opt(argv, '-pidfile') == ['/s/qemu.pid'] and '-daemonize' in argv
    assert _opt(argv, '-serial') == ['file:/s/serial.log']
    assert _opt(argv, '-drive') == ['file=/s/disk.qcow2,if=none,id=hd0,format=qcow2,discard=unmap']


def test_vm_argv_of_a_kernel_boot_is_the_one_running_vms_have():
    # the real command line of a devvm started before cloud images existed: the same
    # spec must give it byte for byte (else running VMs would be flagged restart_needed)
    real = q.split_proc_cmdline(fixture_text('qemu/proc-cmdline-qemu.bin').encode('utf-8'))
    img = '/root/.cache/labkit-ebpf_rdma/images/bookworm-amd64-d841029573415799/'
    st = '/root/.local/state/labkit-ebpf_rdma/vms/devvm/'
    spec = dict(name='devvm', arch='amd64', accel='tcg', cpus=2, memory_mb=2048, overlay=st + 'disk.qcow2',
                kernel=img + 'vmlinuz', initrd=img + 'initrd.img', ssh_port=48571, serial_log=st + 'serial.log',
                pidfile=st + 'qemu.pid', qmp_socket=st + 'qmp.sock', cmdline_extra='', extra_args=[],
                fw_cfg=[('authorized_keys', 'file', st + 'id_ed25519.pub'),
                        ('ssh_host_ed25519_key', 'file', st + 'ssh_host_ed25519_key'),
                        ('hostname', 'string', 'devvm')])
    assert q.vm_argv('/usr/bin/qemu-system-x86_64', spec) == real


FW_SPEC = dict(SPEC, kernel='', initrd='', fw_cfg=[], seed='/s/seed/cidata.img')


def test_vm_argv_bios_boot_has_no_kernel_and_attaches_the_seed():
    argv = q.vm_argv('/usr/bin/qemu-system-x86_64', FW_SPEC)
    for flag in ('-kernel', '-initrd', '-append', '-fw_cfg'):
        assert flag not in argv
    assert _opt(argv, '-drive') == ['file=/s/disk.qcow2,if=none,id=hd0,format=qcow2,discard=unmap',
                                    'file=/s/seed/cidata.img,if=none,id=cidata,format=raw,readonly=on']
    assert _opt(argv, '-device')[:2] == ['virtio-blk-pci,drive=hd0,bootindex=0', 'virtio-blk-pci,drive=cidata']


def test_vm_argv_uefi_boot_uses_the_firmware_and_the_vms_own_vars():
    argv = q.vm_argv('qemu-system-aarch64', dict(FW_SPEC, arch='arm64', pflash=('/fw/CODE.fd', '/s/efivars.fd')))
    assert _opt(argv, '-M') == ['virt']
    assert _opt(argv, '-drive')[:2] == ['if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
                                        'if=pflash,format=raw,unit=1,file=/s/efivars.fd']
    assert '-kernel' not in argv and '-bios' not in argv


# ---------------------------------------------------------------- firmware lookup

def test_find_firmware_prefers_the_distribution_then_qemus_share_dir():
    share = q.qemu_share_dirs('/opt/homebrew/Cellar/qemu/9.1.0/bin/qemu-system-aarch64')
    assert share[0] == '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu' and '/opt/homebrew/share/qemu' in share
    brew = {'/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-aarch64-code.fd',
            '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-arm-vars.fd'}
    assert q.find_firmware('arm64', share, brew.__contains__) == (
        '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-aarch64-code.fd',
        '/opt/homebrew/Cellar/qemu/9.1.0/share/qemu/edk2-arm-vars.fd')
    debian = {'/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd',
              '/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'}
    assert q.find_firmware('amd64', q.qemu_share_dirs('/usr/bin/qemu-system-x86_64'), debian.__contains__) == (
        '/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd')
    # code without its vars template is no use
    assert q.find_firmware('amd64', [], {'/usr/share/OVMF/OVMF_CODE_4M.fd'}.__contains__) is None


def test_missing_firmware_names_the_package():
    msg = q.firmware_missing_message('arm64', 'Linux', [])
    assert 'apt-get install qemu-efi-aarch64' in msg and '/usr/share/AAVMF/AAVMF_CODE.fd' in msg
    assert 'apt-get install ovmf' in q.firmware_missing_message('amd64', 'Linux', [])
    assert 'brew install qemu' in q.firmware_missing_message('amd64', 'Darwin', ['/opt/homebrew/share/qemu'])


def test_choose_firmware():
    assert q.choose_firmware('auto', 'amd64') == ('bios', None)
    assert q.choose_firmware('auto', 'arm64') == ('uefi', None)
    assert q.choose_firmware('uefi', 'amd64') == ('uefi', None)
    fw, err = q.choose_firmware('bios', 'arm64')
    assert fw is None and 'UEFI only' in err and 'local_vm_firmware' in err


# ---------------------------------------------------------------- NoCloud seed

PRIV = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'


def _cloud_config(text):
    assert text.startswith('#cloud-config\n')
    doc = json.loads(text.split('\n', 1)[1])
    yaml = pytest.importorskip('yaml')
    assert yaml.safe_load(text) == doc  # what cloud-init reads (YAML) is the same document
    return doc


def test_seed_user_data_gives_root_the_vms_keys_and_the_apt_files():
    sources = q.guest_sources('bookworm', 'http://10.0.2.2:3142/debian', '')
    conf = q.guest_apt_conf('http://10.0.2.2:3142', False, ['APT::Install-Recommends "false";'])
    doc = _cloud_config(q.seed_user_data('devvm', 'ssh-ed25519 AAAAroot labkit-devvm\n', PRIV,
                                         'ssh-ed25519 AAAAhost labkit-devvm\n', sources, conf))
    assert doc['hostname'] == 'devvm' and doc['preserve_hostname'] is False
    assert doc['disable_root'] is False and doc['users'] == [] and doc['ssh_pwauth'] is False
    assert doc['ssh_authorized_keys'] == ['ssh-ed25519 AAAAroot labkit-devvm']
    assert doc['ssh_keys'] == {'ed25519_private': PRIV, 'ed25519_public': 'ssh-ed25519 AAAAhost labkit-devvm'}
    assert doc['ssh_genkeytypes'] == [] and doc['ssh_deletekeys'] is True
    files = dict((f['path'], f['content']) for f in doc['write_files'])
    assert files['/etc/apt/sources.list.d/debian.sources'] == sources
    assert files['/etc/apt/sources.list'].startswith('# labkit')
    assert files['/etc/apt/apt.conf.d/90labkit'] == (
        'Acquire::http::Proxy "http://10.0.2.2:3142";\nAcquire::Check-Valid-Until "false";\n'
        'APT::Install-Recommends "false";\n')
    assert doc['apt'] == {'preserve_sources_list': True}


def test_seed_user_data_without_apt_settings_keeps_the_images_sources():
    doc = _cloud_config(q.seed_user_data('vm', 'ssh-ed25519 A k', PRIV, 'ssh-ed25519 B k'))
    assert 'write_files' not in doc


def test_seed_user_data_cannot_be_broken_by_its_values():
    doc = _cloud_config(q.seed_user_data('vm', 'ssh-ed25519 A k', PRIV, 'ssh-ed25519 B k', '',
                                         'X "a: b"\n- [c]\n#d\n'))
    assert doc['write_files'][0]['content'] == 'X "a: b"\n- [c]\n#d\n'


def test_seed_meta_data_and_instance_id():
    iid = q.seed_instance_id('devvm', 'U1')
    assert iid.startswith('labkit-devvm-') and iid == q.seed_instance_id('devvm', 'U1')
    assert iid != q.seed_instance_id('devvm', 'U2')
    assert json.loads(q.seed_meta_data(iid, 'devvm')) == {'instance-id': iid, 'local-hostname': 'devvm'}


def test_seed_argvs_for_each_tool():
    files = ['/s/seed/user-data', '/s/seed/meta-data']
    assert q.seed_argvs('xorriso', '/usr/bin/xorriso', '/s/o', files) == [
        ['/usr/bin/xorriso', '-as', 'mkisofs', '-quiet', '-output', '/s/o', '-volid', 'cidata', '-joliet', '-rock']
        + files]
    assert q.seed_argvs('genisoimage', '/usr/bin/genisoimage', '/s/o', files)[0][-6:] == [
        '-volid', 'cidata', '-joliet', '-rock'] + files
    assert q.seed_argvs('mkfs.vfat', '/sbin/mkfs.vfat', '/s/o', files, '/usr/bin/mcopy') == [
        ['/sbin/mkfs.vfat', '-n', 'CIDATA', '-C', '/s/o', '1024'],
        ['/usr/bin/mcopy', '-i', '/s/o', '/s/seed/user-data', '::user-data'],
        ['/usr/bin/mcopy', '-i', '/s/o', '/s/seed/meta-data', '::meta-data']]
    assert q.seed_argvs('hdiutil', '/usr/bin/hdiutil', '/s/o', files)[0][-3:] == ['-o', '/s/o', '/s/seed']
    with pytest.raises(ValueError):
        q.seed_argvs('dd', '/bin/dd', '/s/o', files)


def test_vm_argv_arm64_tcg_uses_virt_and_cheap_pauth():
    argv = q.vm_argv('qemu-system-aarch64', dict(SPEC, arch='arm64', cmdline_extra='quiet'))
    assert _opt(argv, '-M') == ['virt']
    assert _opt(argv, '-cpu') == ['max,pauth-impdef=on']
    assert _opt(argv, '-append') == ['root=/dev/vda rw console=ttyAMA0 quiet']


@pytest.mark.parametrize('arch,accel', [('amd64', 'kvm'), ('arm64', 'kvm'), ('arm64', 'hvf'), ('amd64', 'hvf')])
def test_vm_argv_hardware_accel_uses_host_cpu(arch, accel):
    argv = q.vm_argv('qemu', dict(SPEC, arch=arch, accel=accel, extra_args=['-device', 'x']))
    assert _opt(argv, '-accel') == [accel]
    assert _opt(argv, '-cpu') == ['host']
    assert argv[-2:] == ['-device', 'x']


# ---------------------------------------------------------------- pidfile verification

def test_cmdline_verification_with_a_real_cmdline():
    raw = fixture_text('qemu/proc-cmdline-qemu.bin')
    argv = q.split_proc_cmdline(raw.encode('utf-8'))
    pidfile = argv[argv.index('-pidfile') + 1]
    assert q.cmdline_is_vm(argv, pidfile)
    assert not q.cmdline_is_vm(argv, pidfile + '.other')
    assert not q.cmdline_is_vm(['/usr/bin/sleep', '-pidfile', pidfile], pidfile)
    assert not q.cmdline_is_vm([], pidfile)


def test_parse_pidfile():
    assert q.parse_pidfile('1234\n') == 1234
    assert q.parse_pidfile('') is None
    assert q.parse_pidfile('x') is None
    assert q.parse_pidfile('-1') is None


# ---------------------------------------------------------------- ports and files

def test_choose_port_keeps_saved_port_while_free():
    assert q.choose_port(0, 40022, lambda p: True, lambda: 1)[0] == 40022
    port, why = q.choose_port(0, 40022, lambda p: False, lambda: 40100)
    assert port == 40100 and 'in use' in why
    assert q.choose_port(0, 0, lambda p: True, lambda: 40101)[0] == 40101
    assert q.choose_port(2222, 40022, lambda p: True, lambda: 1)[0] == 2222
    port, why = q.choose_port(2222, 0, lambda p: False, lambda: 1)
    assert port is None and 'local_vm_ssh_port' in why


def test_free_port_really_is_free():
    port = q.free_port()
    assert q.port_is_free(port)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', port))
    s.listen(1)
    try:
        assert not q.port_is_free(port)
    finally:
        s.close()


def test_connection_files_keep_host_key_checking_on():
    conn = q.connection_vars('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    assert conn['ansible_port'] == 40022 and conn['ansible_host'] == '127.0.0.1'
    assert 'StrictHostKeyChecking=yes' in conn['ansible_ssh_common_args']
    assert 'UserKnownHostsFile=/s/known_hosts' in conn['ansible_ssh_common_args']
    assert '/dev/null' not in conn['ansible_ssh_common_args']
    cfg = q.ssh_config_text('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    assert 'Host devvm\n' in cfg and 'Port 40022' in cfg and 'StrictHostKeyChecking yes' in cfg
    assert 'HostKeyAlias labkit-devvm' in cfg
    assert q.known_hosts_line('devvm', 'ssh-ed25519 AAAAC3Nz labkit-devvm\n') == 'labkit-devvm ssh-ed25519 AAAAC3Nz\n'
    assert q.known_hosts_line('devvm', '') == ''


def test_inventory_text_is_yaml_with_the_vm_in_labkit_vms():
    yaml = pytest.importorskip('yaml')
    conn = q.connection_vars('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    data = yaml.safe_load(q.inventory_text('devvm', conn))
    assert data['all']['children']['labkit_vms']['hosts']['devvm'] == conn


@pytest.mark.parametrize('name,ok', [('devvm', True), ('vm-1.a_b', True), ('', False), ('-x', False),
                                     ('a/b', False), ('a b', False), ('x' * 64, False)])
def test_vm_names(name, ok):
    assert q.valid_vm_name(name) is ok


def test_debarch_for_machine():
    assert q.debarch_for_machine('x86_64') == 'amd64'
    assert q.debarch_for_machine('arm64') == 'arm64'
    assert q.debarch_for_machine('riscv64') is None


def test_probe_verdict_on_a_full_tcg_boot_log():
    text = fixture_text('qemu/tcg-boot-serial.log')
    ok, reason = q.probe_verdict(text, 0, '', False)
    assert ok and 'Run /init as init process' in reason
    assert 'labkit-fwcfg' in text  # the identity oneshot ran in that boot


def test_ssh_settings_keep_host_key_checking_and_end_hung_sessions():
    args = q.ssh_common_args('devvm', '/state/devvm/known_hosts').split()
    assert 'UserKnownHostsFile=/state/devvm/known_hosts' in args
    assert 'StrictHostKeyChecking=yes' in args and 'StrictHostKeyChecking=no' not in args
    assert 'ServerAliveInterval=15' in args and 'ServerAliveCountMax=4' in args
    text = q.ssh_config_text('devvm', 2222, '/state/devvm/id_ed25519', '/state/devvm/known_hosts')
    assert '  StrictHostKeyChecking yes\n' in text and '  ServerAliveInterval 15\n' in text
    assert '  Port 2222\n' in text


def test_second_stage_index_keeps_only_what_the_first_stage_fetched():
    names = q.debpaths_packages(fixture_text('qemu/trixie-arm64-debpaths') + '\n  \n')
    assert names == {'base-files', 'e2fsprogs', 'libcom-err2', 'libext2fs2t64', 'libss2', 'zlib1g'}
    full = fixture_text('qemu/trixie-arm64-Packages-excerpt')
    slim = q.slim_packages_index(full, names)
    kept = [line.split(':', 1)[1].strip() for line in slim.splitlines() if line.startswith('Package:')]
    assert kept == ['libcom-err2', 'libext2fs2t64', 'libss2', 'e2fsprogs', 'zlib1g']  # index order, no 0ad/zsh
    # each kept stanza whole and byte for byte, separated as apt writes them
    for stanza in slim.split('\n\n')[:-1]:
        assert stanza + '\n\n' in full
    assert slim.endswith('\n\n') and 'Pre-Depends: libblkid1' in slim and 'Package: zsh' not in slim
    assert q.slim_packages_index(full, set()) == ''


def test_tcp_listeners_finds_the_holder_of_a_port_in_proc_net_tcp():
    text = fixture_text('qemu/proc-net-tcp-47222-listening.txt')
    assert q.tcp_listeners(text, 47222) == [('127.0.0.1', 0, '25849')]
    assert q.tcp_listeners(text, 2024) == [('0.0.0.0', 0, '1173')]
    assert q.tcp_listeners(text, 32898) == []  # a TIME_WAIT connection is no listener


def test_hostfwd_failure_is_recognised_from_qemus_stderr():
    err = fixture_text('qemu/hostfwd-port-busy.stderr')
    assert q.hostfwd_failed(err, 47222) and not q.hostfwd_failed(err, 2222)


@pytest.mark.parametrize('name,ok', [
    ('devvm', True), ('dev-vm.lab.example', True), ('a' * 63, True), ('a' * 64, False), ('dev_vm', False),
    ('-dev', False), ('dev-', False), ('dev..vm', False), ('dev.', False), ('x,id=y', False), ('', False),
    ('.'.join(['a' * 63] * 4), False)])
def test_valid_hostname_is_rfc_1123(name, ok):
    assert q.valid_hostname(name) is ok


def test_record_names_vm_by_name_or_by_its_argv():
    assert q.record_names_vm({'name': 'devvm'}, 'devvm', '/s/qemu.pid')
    assert not q.record_names_vm({'name': 'other'}, 'devvm', '/s/qemu.pid')
    old = {'argv': ['qemu', '-name', 'labkit-devvm', '-pidfile', '/s/qemu.pid']}
    assert q.record_names_vm(old, 'devvm', '/s/qemu.pid')
    assert not q.record_names_vm(old, 'devvm', '/t/qemu.pid')
    assert not q.record_names_vm({}, 'devvm', '/s/qemu.pid') and not q.record_names_vm([], 'devvm', '/s/qemu.pid')


def test_size_bytes_takes_truncate_syntax_and_refuses_the_rest():
    assert q.size_bytes('8G') == 8 << 30 and q.size_bytes('512M') == 512 << 20 and q.size_bytes('10') == 10
    assert q.size_bytes('2GiB') == 2 << 30 and q.size_bytes('1KB') == 1000
    for bad in ('-5', '0', '', '8X', '+2G', '1.5G', '8 G'):
        with pytest.raises(ValueError):
            q.size_bytes(bad)


def test_package_names_follow_debian_policy():
    for good in ('clang', 'libbpf-dev', 'g++', 'linux-image-6.1.0-50-amd64', 'python3.11', '0ad'):
        assert q.bad_package_name(good) is None
    for bad in ('-o', '--no-check-gpg', 'Clang', 'x', 'clang llvm', 'clang,llvm', '', '+x'):
        assert 'is not a Debian package name' in q.bad_package_name(bad)


def test_urls_need_a_scheme_a_host_and_no_space():
    assert q.bad_url('http://mirror.example.invalid/debian') is None
    assert q.bad_url('https://m.example.invalid:8443/d') is None
    for bad in ('ftp://m/debian', 'mirror/debian', 'http://', 'http://m/de bian', 'http://m/d\nTypes: deb'):
        assert q.bad_url(bad)


def test_checksums_and_verified_stamp():
    manifest = json.dumps({'key': 'k', 'files': {'disk.qcow2': 1}, 'sha256': {'disk.qcow2': 'ab'}})
    assert q.manifest_checksums(manifest, ('disk.qcow2',)) == {'disk.qcow2': 'ab'}
    assert q.manifest_checksums(manifest) is None  # vmlinuz/initrd missing: not a full set
    assert q.manifest_checksums('{"key": "k"}', ('disk.qcow2',)) is None  # made before checksums
    sigs = {'disk.qcow2': [1, 2, 3, 4, 5]}
    stamp = q.stamp_text(sigs, {'disk.qcow2': 'ab'})
    assert q.stamp_fresh(stamp, sigs, {'disk.qcow2': 'ab'})
    assert not q.stamp_fresh(stamp, {'disk.qcow2': [1, 2, 3, 4, 6]}, {'disk.qcow2': 'ab'})  # ctime moved
    assert not q.stamp_fresh(stamp, sigs, {'disk.qcow2': 'cd'})  # another manifest
    assert not q.stamp_fresh('{', sigs, {'disk.qcow2': 'ab'})
