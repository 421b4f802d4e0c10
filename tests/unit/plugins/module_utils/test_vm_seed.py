# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import apt_sources
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_seed


# ---------------------------------------------------------------- NoCloud seed

PRIV = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n'


def _cloud_config(text):
    assert text.startswith('#cloud-config\n')
    doc = json.loads(text.split('\n', 1)[1])
    yaml = pytest.importorskip('yaml')
    assert yaml.safe_load(text) == doc  # what cloud-init reads (YAML) is the same document
    return doc


def test_seed_user_data_gives_root_the_vms_keys_and_the_apt_files():
    sources = apt_sources.guest_sources('bookworm', 'http://10.0.2.2:3142/debian', '')
    conf = apt_sources.guest_apt_conf('http://10.0.2.2:3142', False, ['APT::Install-Recommends "false";'])
    doc = _cloud_config(vm_seed.seed_user_data('devvm', 'ssh-ed25519 AAAAroot labkit-devvm\n', PRIV,
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
    doc = _cloud_config(vm_seed.seed_user_data('vm', 'ssh-ed25519 A k', PRIV, 'ssh-ed25519 B k'))
    assert 'write_files' not in doc


def test_seed_user_data_cannot_be_broken_by_its_values():
    doc = _cloud_config(vm_seed.seed_user_data('vm', 'ssh-ed25519 A k', PRIV, 'ssh-ed25519 B k', '',
                                               'X "a: b"\n- [c]\n#d\n'))
    assert doc['write_files'][0]['content'] == 'X "a: b"\n- [c]\n#d\n'


def test_seed_meta_data_and_instance_id():
    iid = vm_seed.seed_instance_id('devvm', 'U1')
    assert iid.startswith('labkit-devvm-') and iid == vm_seed.seed_instance_id('devvm', 'U1')
    assert iid != vm_seed.seed_instance_id('devvm', 'U2')
    assert json.loads(vm_seed.seed_meta_data(iid, 'devvm')) == {'instance-id': iid, 'local-hostname': 'devvm'}


def test_seed_argvs_for_each_tool():
    files = ['/s/seed/user-data', '/s/seed/meta-data']
    assert vm_seed.seed_argvs('xorriso', '/usr/bin/xorriso', '/s/o', files) == [
        ['/usr/bin/xorriso', '-as', 'mkisofs', '-quiet', '-output', '/s/o', '-volid', 'cidata', '-joliet', '-rock']
        + files]
    assert vm_seed.seed_argvs('genisoimage', '/usr/bin/genisoimage', '/s/o', files)[0][-6:] == [
        '-volid', 'cidata', '-joliet', '-rock'] + files
    assert vm_seed.seed_argvs('mkfs.vfat', '/sbin/mkfs.vfat', '/s/o', files, '/usr/bin/mcopy') == [
        ['/sbin/mkfs.vfat', '-n', 'CIDATA', '-C', '/s/o', '1024'],
        ['/usr/bin/mcopy', '-i', '/s/o', '/s/seed/user-data', '::user-data'],
        ['/usr/bin/mcopy', '-i', '/s/o', '/s/seed/meta-data', '::meta-data']]
    assert vm_seed.seed_argvs('hdiutil', '/usr/bin/hdiutil', '/s/o', files)[0][-3:] == ['-o', '/s/o', '/s/seed']
    with pytest.raises(ValueError):
        vm_seed.seed_argvs('dd', '/bin/dd', '/s/o', files)
