# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad inputs for qemu_vm: each fails with a message that names the problem and the fix, before
anything is written (the scratch tree is byte-for-byte the same) or any command is run."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.modules import qemu_vm, vm_image

from conftest import FakeCommands


def snapshot(root):
    """Every path under ``root`` with its kind and content (files) or target (links)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                seen[path] = ('link', os.readlink(path))
            elif os.path.isdir(path):
                seen[path] = ('dir', None)
            else:
                with open(path, 'rb') as f:
                    seen[path] = ('file', f.read())
    return seen


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    image = tmp_path / 'cache' / 'images' / 'bookworm-amd64-k'
    image.mkdir(parents=True)
    for name in ('disk.qcow2', 'vmlinuz', 'initrd.img'):
        (image / name).write_text(name)
    monkeypatch.setattr(qemu_vm, 'pid_alive', lambda pid: False)
    monkeypatch.setattr(qemu_vm.vm_instance, 'port_is_free', lambda port, host='127.0.0.1': port != 2222)
    monkeypatch.setattr(qemu_vm.vm_instance, 'free_port', lambda host='127.0.0.1': 40022)
    return tmp_path


def args(tmp, **kw):
    image = tmp / 'cache' / 'images' / 'bookworm-amd64-k'
    a = dict(name='devvm', state_dir=str(tmp / 'state' / 'devvm'), cache_dir=str(tmp / 'cache'),
             disk=str(image / 'disk.qcow2'), kernel=str(image / 'vmlinuz'), initrd=str(image / 'initrd.img'),
             accel='tcg')
    a.update(kw)
    return a


PORT = 'a TCP port (0 picks a free one): give a whole number from 0 to 65535 (local_vm_ssh_port)'
HOSTNAME_RULE = ('is not a valid host name (RFC 1123: dot-separated labels of letters, digits and "-", each 1-63 '
                 'long, not starting or ending with "-"; 253 at most): set hostname (local_vm_hostname) to one, such as')

BAD_INPUTS = [
    ('port-too-high', dict(ssh_port=70000), 'ssh_port=70000 is not ' + PORT),
    ('port-negative', dict(ssh_port=-1), 'ssh_port=-1 is not ' + PORT),
    ('no-cpus', dict(cpus=0), 'cpus=0 is not a number of vCPUs: give a whole number from 1 to 1024 (local_vm_cpus)'),
    ('tiny-memory', dict(memory=16),
     'memory=16 is not a memory size in MiB: give a whole number from 128 to 16777216 (local_vm_memory)'),
    ('probe-timeout-zero', dict(probe_timeout=0),
     'probe_timeout=0 is not seconds: give a whole number from 1 to 3600 (local_vm_probe_timeout)'),
    ('stop-timeout-negative', dict(stop_timeout=-1),
     'stop_timeout=-1 is not seconds: give a whole number from 0 to 3600 (local_vm_stop_timeout)'),
    ('lock-timeout-negative', dict(lock_timeout=-5),
     'lock_timeout=-5 is not seconds: give a whole number from 0 to 86400'),
    ('hostname-underscore', dict(hostname='dev_vm'), "hostname 'dev_vm' %s 'dev-vm'" % HOSTNAME_RULE),
    ('hostname-qemu-option', dict(hostname='x,id=evil'), "hostname 'x,id=evil' %s 'x-id-evil'" % HOSTNAME_RULE),
    ('hostname-sed-command', dict(hostname='x/;e touch pwned;#'),
     "hostname 'x/;e touch pwned;#' %s 'x-e-touch-pwned'" % HOSTNAME_RULE),
    ('hostname-leading-dash', dict(hostname='-devvm'), "hostname '-devvm' %s 'devvm'" % HOSTNAME_RULE),
    ('hostname-label-too-long', dict(hostname='a' * 64), "hostname '%s' %s '%s'" % ('a' * 64, HOSTNAME_RULE, 'a' * 63)),
    ('name-not-a-hostname', dict(name='dev_vm'),
     "the VM name (used as its hostname) 'dev_vm' %s 'dev-vm'" % HOSTNAME_RULE),
    ('name-with-slash', dict(name='../etc'),
     "VM name '../etc' is not valid: use letters, digits, \".\", \"_\" and \"-\" (at most 63, starting with a "
     "letter or digit)"),
    ('disk-size-negative', dict(disk_size='-5'),
     "disk_size='-5' is not a size: give a number with an optional K, M, G, T or P suffix, such as 20G "
     "(local_vm_disk_size)"),
    ('disk-size-blank', dict(disk_size='20 G'),
     "disk_size='20 G' is not a size: give a number with an optional K, M, G, T or P suffix, such as 20G "
     "(local_vm_disk_size)"),
    ('kernel-cmdline-newline', dict(kernel_cmdline='quiet\ninit=/bin/sh'),
     'kernel_cmdline holds a control character (a newline or tab): give one line (local_vm_kernel_cmdline)'),
    ('disk-path-newline', dict(disk='/images/a\nb.qcow2'),
     "disk '/images/a\\nb.qcow2' holds a control character (a newline or tab); QEMU and ssh cannot take it: "
     "use a plain path"),
]


def state_dir_cases(tmp):
    return [
        ('state-dir-quote', str(tmp / 'st"ate'), '\'"\''),
        ('state-dir-percent', str(tmp / 'st%d'), "'%'"),
    ]


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
@pytest.mark.parametrize('case,extra,msg', BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_before_anything(module_runner, scratch, case, extra, msg, check_mode):
    before = snapshot(scratch)
    cmds = FakeCommands()
    res = module_runner(qemu_vm, args(scratch, **extra), commands=cmds, check_mode=check_mode)
    assert res.get('failed') and res['msg'] == msg
    assert cmds.calls == [] and snapshot(scratch) == before


@pytest.mark.parametrize('which', [0, 1], ids=['quote', 'percent'])
def test_state_dir_ssh_cannot_hold_fails_before_anything(module_runner, scratch, which):
    case, state_dir, shown = state_dir_cases(scratch)[which]
    before = snapshot(scratch)
    cmds = FakeCommands()
    res = module_runner(qemu_vm, args(scratch, state_dir=state_dir), commands=cmds)
    assert res['msg'] == ("state_dir %r holds %s, which ssh cannot take in IdentityFile/UserKnownHostsFile ('\"' "
                          "ends a quoted value, '%%' starts a token): choose a state_dir (local_vm_state_dir) "
                          "without it" % (state_dir, shown))
    assert cmds.calls == [] and snapshot(scratch) == before


def test_busy_explicit_port_fails_before_keys_or_overlay(module_runner, scratch):
    before = snapshot(scratch)
    cmds = FakeCommands()
    res = module_runner(qemu_vm, args(scratch, ssh_port=2222), commands=cmds)
    assert res['msg'] == ('port 2222 (local_vm_ssh_port) is in use on 127.0.0.1; free it or set '
                          'local_vm_ssh_port: 0 to pick a free port')
    assert cmds.calls == [] and snapshot(scratch) == before


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
def test_absent_on_a_foreign_directory_removes_nothing(module_runner, scratch, check_mode):
    foreign = scratch / 'home' / 'project'
    (foreign / 'src').mkdir(parents=True)
    (foreign / 'notes.txt').write_text('mine')
    (foreign / 'vm.json').write_text('{"name": "othervm"}')
    before = snapshot(scratch)
    cmds = FakeCommands()
    res = module_runner(qemu_vm, args(scratch, state='absent', state_dir=str(foreign)), commands=cmds,
                        check_mode=check_mode)
    assert res['msg'] == ('state_dir %s is not the directory of VM devvm: it has no vm.json naming devvm (it holds '
                          'notes.txt, src, vm.json); nothing was removed. Check state_dir (local_vm_state_dir); if it '
                          'is a VM directory you want gone, remove it by hand: rm -r -- %s' % (foreign, foreign))
    assert cmds.calls == [] and snapshot(scratch) == before


def test_absent_on_a_symlinked_state_dir_removes_nothing(module_runner, scratch):
    target = scratch / 'elsewhere'
    target.mkdir()
    (target / 'vm.json').write_text('{"name": "devvm"}')
    link = scratch / 'link'
    link.symlink_to(target)
    before = snapshot(scratch)
    res = module_runner(qemu_vm, args(scratch, state='absent', state_dir=str(link)), commands=FakeCommands())
    assert res['msg'] == ('state_dir %s is a symbolic link, not the directory of VM devvm; nothing was removed. '
                          'Check state_dir (local_vm_state_dir); remove it by hand if it is yours to remove: '
                          'rm -- %s' % (link, link))
    assert snapshot(scratch) == before


def _hostname_block(script, root):
    """The hostname part of the guest's labkit-fwcfg script, with its paths under ``root``."""
    start = script.index('if [ -r "$D/hostname/raw" ]')
    block = script[start:script.index('\nfi\n', start) + 4]
    block = block.replace('/proc/sys/kernel/hostname', '%s/kernel-hostname' % root).replace('/etc/', '%s/etc/' % root)
    return 'D=%s/fwcfg\n' % root + block


def test_guest_script_takes_a_crafted_hostname_as_data(tmp_path):
    """A host name that reaches the guest some other way (an old labkit, fw_cfg by hand) runs nothing."""
    root = tmp_path
    (root / 'etc').mkdir()
    (root / 'fwcfg' / 'hostname').mkdir(parents=True)
    hosts = '127.0.0.1 localhost\n127.0.1.1 labkit\n'
    (root / 'etc' / 'hosts').write_text(hosts)
    (root / 'fwcfg' / 'hostname' / 'raw').write_text('x/;e touch %s/pwned;#' % root)
    subprocess.check_call(['sh', '-c', _hostname_block(vm_image.FWCFG_SCRIPT, root)])
    assert not (root / 'pwned').exists()
    assert (root / 'etc' / 'hosts').read_text() == hosts
    (root / 'fwcfg' / 'hostname' / 'raw').write_text('devvm')
    subprocess.check_call(['sh', '-c', _hostname_block(vm_image.FWCFG_SCRIPT, root)])
    assert (root / 'etc' / 'hosts').read_text() == '127.0.0.1 localhost\n127.0.1.1 devvm\n'
    assert (root / 'etc' / 'hostname').read_text() == 'devvm\n'
