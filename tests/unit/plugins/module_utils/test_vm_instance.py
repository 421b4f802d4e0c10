# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_instance
from conftest import fixture_text


# ---------------------------------------------------------------- pidfile verification

def test_cmdline_verification_with_a_real_cmdline():
    raw = fixture_text('qemu/proc-cmdline-qemu.bin')
    argv = vm_instance.split_proc_cmdline(raw.encode('utf-8'))
    pidfile = argv[argv.index('-pidfile') + 1]
    assert vm_instance.cmdline_is_vm(argv, pidfile)
    assert not vm_instance.cmdline_is_vm(argv, pidfile + '.other')
    assert not vm_instance.cmdline_is_vm(['/usr/bin/sleep', '-pidfile', pidfile], pidfile)
    assert not vm_instance.cmdline_is_vm([], pidfile)


def test_parse_pidfile():
    assert vm_instance.parse_pidfile('1234\n') == 1234
    assert vm_instance.parse_pidfile('') is None
    assert vm_instance.parse_pidfile('x') is None
    assert vm_instance.parse_pidfile('-1') is None


# ---------------------------------------------------------------- ports and files

def test_choose_port_keeps_saved_port_while_free():
    assert vm_instance.choose_port(0, 40022, lambda p: True, lambda: 1)[0] == 40022
    port, why = vm_instance.choose_port(0, 40022, lambda p: False, lambda: 40100)
    assert port == 40100 and 'in use' in why
    assert vm_instance.choose_port(0, 0, lambda p: True, lambda: 40101)[0] == 40101
    assert vm_instance.choose_port(2222, 40022, lambda p: True, lambda: 1)[0] == 2222
    port, why = vm_instance.choose_port(2222, 0, lambda p: False, lambda: 1)
    assert port is None and 'local_vm_ssh_port' in why


def test_free_port_really_is_free():
    port = vm_instance.free_port()
    assert vm_instance.port_is_free(port)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', port))
    s.listen(1)
    try:
        assert not vm_instance.port_is_free(port)
    finally:
        s.close()


@pytest.mark.parametrize('name,ok', [('devvm', True), ('vm-1.a_b', True), ('', False), ('-x', False),
                                     ('a/b', False), ('a b', False), ('x' * 64, False)])
def test_vm_names(name, ok):
    assert vm_instance.valid_vm_name(name) is ok


def test_tcp_listeners_finds_the_holder_of_a_port_in_proc_net_tcp():
    text = fixture_text('qemu/proc-net-tcp-47222-listening.txt')
    assert vm_instance.tcp_listeners(text, 47222) == [('127.0.0.1', 0, '25849')]
    assert vm_instance.tcp_listeners(text, 2024) == [('0.0.0.0', 0, '1173')]
    assert vm_instance.tcp_listeners(text, 32898) == []  # a TIME_WAIT connection is no listener


def test_hostfwd_failure_is_recognised_from_qemus_stderr():
    err = fixture_text('qemu/hostfwd-port-busy.stderr')
    assert vm_instance.hostfwd_failed(err, 47222) and not vm_instance.hostfwd_failed(err, 2222)


@pytest.mark.parametrize('name,ok', [
    ('devvm', True), ('dev-vm.lab.example', True), ('a' * 63, True), ('a' * 64, False), ('dev_vm', False),
    ('-dev', False), ('dev-', False), ('dev..vm', False), ('dev.', False), ('x,id=y', False), ('', False),
    ('.'.join(['a' * 63] * 4), False)])
def test_valid_hostname_is_rfc_1123(name, ok):
    assert vm_instance.valid_hostname(name) is ok


def test_record_names_vm_by_name_or_by_its_argv():
    assert vm_instance.record_names_vm({'name': 'devvm'}, 'devvm', '/s/qemu.pid')
    assert not vm_instance.record_names_vm({'name': 'other'}, 'devvm', '/s/qemu.pid')
    old = {'argv': ['qemu', '-name', 'labkit-devvm', '-pidfile', '/s/qemu.pid']}
    assert vm_instance.record_names_vm(old, 'devvm', '/s/qemu.pid')
    assert not vm_instance.record_names_vm(old, 'devvm', '/t/qemu.pid')
    assert not vm_instance.record_names_vm({}, 'devvm', '/s/qemu.pid') and not vm_instance.record_names_vm([], 'devvm', '/s/qemu.pid')
