# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import ssh_access


def test_connection_files_keep_host_key_checking_on():
    conn = ssh_access.connection_vars('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    assert conn['ansible_port'] == 40022 and conn['ansible_host'] == '127.0.0.1'
    assert 'StrictHostKeyChecking=yes' in conn['ansible_ssh_common_args']
    assert 'UserKnownHostsFile=/s/known_hosts' in conn['ansible_ssh_common_args']
    assert '/dev/null' not in conn['ansible_ssh_common_args']
    cfg = ssh_access.ssh_config_text('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    assert 'Host devvm\n' in cfg and 'Port 40022' in cfg and 'StrictHostKeyChecking yes' in cfg
    assert 'HostKeyAlias labkit-devvm' in cfg
    assert ssh_access.known_hosts_line('devvm', 'ssh-ed25519 AAAAC3Nz labkit-devvm\n') == 'labkit-devvm ssh-ed25519 AAAAC3Nz\n'
    assert ssh_access.known_hosts_line('devvm', '') == ''


def test_inventory_text_is_yaml_with_the_vm_in_labkit_vms():
    yaml = pytest.importorskip('yaml')
    conn = ssh_access.connection_vars('devvm', 40022, '/s/id_ed25519', '/s/known_hosts')
    data = yaml.safe_load(ssh_access.inventory_text('devvm', conn))
    assert data['all']['children']['labkit_vms']['hosts']['devvm'] == conn


def test_ssh_settings_keep_host_key_checking_and_end_hung_sessions():
    args = ssh_access.ssh_common_args('devvm', '/state/devvm/known_hosts').split()
    assert 'UserKnownHostsFile=/state/devvm/known_hosts' in args
    assert 'StrictHostKeyChecking=yes' in args and 'StrictHostKeyChecking=no' not in args
    assert 'ServerAliveInterval=15' in args and 'ServerAliveCountMax=4' in args
    text = ssh_access.ssh_config_text('devvm', 2222, '/state/devvm/id_ed25519', '/state/devvm/known_hosts')
    assert '  StrictHostKeyChecking yes\n' in text and '  ServerAliveInterval 15\n' in text
    assert '  Port 2222\n' in text
