# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""fabric_switch: the plan, and the real switch process it starts and stops (run_command runs the
switch's own command for real: the switch is plain Python on the controller, no VM involved)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import select
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import FakeCommands

from ansible_collections.labkit.ebpf_rdma.plugins.modules import fabric_switch as mod
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric_switch as fs


@pytest.fixture
def sockdir():
    path = tempfile.mkdtemp(prefix='fsm', dir='/tmp')
    yield os.path.join(path, 'fabric')
    pid = fs.pidfile_holder(os.path.join(path, 'fabric', 'fab.pid'))
    if pid:
        os.kill(pid, 9)
    shutil.rmtree(path, ignore_errors=True)


def real_commands():
    """run_command answered by running the command (the switch's --daemon start)."""
    def run(argv, **kwargs):
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    return FakeCommands({(lambda argv: True): run})


def args(sockdir, nodes=('n1', 'n2', 'n3'), **extra):
    a = dict(name='fab', socket_dir=sockdir,
             ports=[dict(name=n, node_socket=os.path.join(sockdir, n + '.sock')) for n in nodes])
    a.update(extra)
    return a


def test_check_mode_plans_and_writes_nothing(module_runner, sockdir):
    commands = FakeCommands()
    r = module_runner(mod, args(sockdir), commands=commands, check_mode=True, diff=True)
    assert r['changed'] and not r.get('failed')
    assert r['actions'][0] == 'create the socket directory %s' % sockdir
    assert r['actions'][-1] == 'start the switch fab with ports n1, n2, n3'
    assert r['running'] is True and r['pid'] is None and r['restarted'] is False
    assert [p['socket'] for p in r['ports']] == [os.path.join(sockdir, 'port-n%d.sock' % i) for i in (1, 2, 3)]
    assert '"node_socket": "%s/n3.sock"' % sockdir in r['diff'][0]['after']
    assert not os.path.exists(sockdir) and commands.calls == []


def test_lifecycle_with_the_real_switch(module_runner, sockdir):
    r = module_runner(mod, args(sockdir), commands=real_commands())
    assert r['changed'] and r['running'] and r['pid'], r
    pid = r['pid']
    assert oct(os.stat(sockdir).st_mode & 0o777) == oct(0o700)
    assert fs.pidfile_holder(r['pidfile']) == pid
    for port in r['ports']:
        assert os.path.exists(port['socket'])
    with open(os.path.join(sockdir, 'fab.py')) as f:
        assert f.read() == mod.switch_source()

    # frames flow between two of the nodes through the started process
    nodes = {}
    for n in ('n1', 'n2'):
        nodes[n] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        nodes[n].bind(os.path.join(sockdir, n + '.sock'))
    frame = b'\xff' * 6 + b'\x02\x00\x00\x00\x00\x01' + b'\x08\x00' + b'z' * 1500
    nodes['n1'].sendto(frame, os.path.join(sockdir, 'port-n1.sock'))
    assert select.select([nodes['n2']], [], [], 5)[0] and nodes['n2'].recv(70000) == frame

    # same ports: unchanged, in check mode too
    for check in (True, False):
        again = module_runner(mod, args(sockdir), commands=FakeCommands(), check_mode=check)
        assert not again['changed'] and again['pid'] == pid and again['actions'] == []

    # other ports: a restart, said so
    planned = module_runner(mod, args(sockdir, nodes=('n1', 'n2')), commands=FakeCommands(), check_mode=True)
    assert planned['changed'] and planned['restarted']
    assert planned['actions'][0] == 'restart the switch fab: its ports n1, n2, n3 become n1, n2'
    assert fs.pidfile_holder(r['pidfile']) == pid
    moved = module_runner(mod, args(sockdir, nodes=('n1', 'n2')), commands=real_commands())
    assert moved['restarted'] and moved['pid'] != pid
    assert not os.path.exists(os.path.join(sockdir, 'port-n3.sock'))
    pid = moved['pid']

    # newer code of the switch: a restart too
    with open(os.path.join(sockdir, 'fab.py'), 'a') as f:
        f.write('# older\n')
    newer = module_runner(mod, args(sockdir, nodes=('n1', 'n2')), commands=real_commands())
    assert newer['restarted'] and 'its code changed' in newer['actions'][0]
    pid = newer['pid']

    # a killed switch leaves a stale pidfile and stale sockets: a start
    os.kill(pid, 9)
    assert mod.wait_released(r['pidfile'], 5)
    assert os.path.exists(r['pidfile'])
    back = module_runner(mod, args(sockdir, nodes=('n1', 'n2')), commands=real_commands())
    assert back['changed'] and not back['restarted'] and back['pid'] != pid
    assert 'is stale: pid %d does not hold it' % pid in back['actions'][-1]
    nodes['n2'].sendto(frame, os.path.join(sockdir, 'port-n2.sock'))
    assert select.select([nodes['n1']], [], [], 5)[0] and nodes['n1'].recv(70000) == frame

    # stopped: keeps the files; the process removes its sockets and pidfile
    stopped = module_runner(mod, dict(name='fab', socket_dir=sockdir, state='stopped'), commands=FakeCommands())
    assert stopped['changed'] and not stopped['running'] and stopped['pid'] is None
    assert [p['name'] for p in stopped['ports']] == ['n1', 'n2']
    assert fs.pidfile_holder(r['pidfile']) is None
    assert not os.path.exists(os.path.join(sockdir, 'port-n1.sock'))
    assert os.path.exists(os.path.join(sockdir, 'fab.json'))
    assert not module_runner(mod, dict(name='fab', socket_dir=sockdir, state='stopped'))['changed']

    # absent: its files go, the nodes' sockets stay
    gone = module_runner(mod, dict(name='fab', socket_dir=sockdir, state='absent'), diff=True)
    assert gone['changed'] and gone['diff'][0]['after'] == ''
    assert sorted(os.listdir(sockdir)) == ['n1.sock', 'n2.sock']
    assert not module_runner(mod, dict(name='fab', socket_dir=sockdir, state='absent'))['changed']
    for s in nodes.values():
        s.close()


def test_absent_stops_a_running_switch(module_runner, sockdir):
    r = module_runner(mod, args(sockdir), commands=real_commands())
    planned = module_runner(mod, dict(name='fab', socket_dir=sockdir, state='absent'), check_mode=True)
    assert planned['actions'][0] == 'stop the switch fab (pid %d)' % r['pid']
    assert fs.pidfile_holder(r['pidfile']) == r['pid']
    gone = module_runner(mod, dict(name='fab', socket_dir=sockdir, state='absent'))
    assert gone['changed'] and fs.pidfile_holder(r['pidfile']) is None
    assert os.listdir(sockdir) == []


def test_a_port_that_cannot_be_bound_fails_naming_it(module_runner, sockdir):
    os.makedirs(os.path.join(sockdir, 'port-n2.sock'))
    r = module_runner(mod, args(sockdir), commands=real_commands())
    assert r['failed']
    assert 'the fabric switch did not start' in r['msg'] and 'port-n2.sock exists and is not a socket' in r['msg']
    assert fs.pidfile_holder(os.path.join(sockdir, 'fab.pid')) is None


@pytest.mark.parametrize('change, message', [
    (dict(ports=[dict(name='n1', node_socket='/x/n1.sock')]), 'needs two ports or more'),
    (dict(ports=[dict(name='n1', node_socket='/x/a.sock'), dict(name='n1', node_socket='/x/b.sock')]),
     'port n1 is given twice'),
    (dict(ports=[dict(name='n1', node_socket='rel.sock'), dict(name='n2', node_socket='/x/b.sock')]),
     'is not an absolute path'),
    (dict(ports=[dict(name='n/1', node_socket='/x/a.sock'), dict(name='n2', node_socket='/x/b.sock')]),
     'is not usable in a socket name'),
    (dict(ports=[dict(name='n1', node_socket='/x/a.sock'), dict(name='n2', node_socket='/x/a.sock')]),
     'is used twice'),
    (dict(ports=[dict(name='n1', node_socket='/x/port-n2.sock'), dict(name='n2', node_socket='/x/b.sock')]),
     'is used twice'),
    (dict(socket_dir='/x/' + 'd' * 100), 'longer than a unix socket path can be'),
    (dict(name='../fab'), 'is not a switch name'),
    (dict(stop_timeout=-1), 'stop_timeout=-1'),
])
def test_options_are_checked(module_runner, change, message):
    a = dict(name='fab', socket_dir='/x', ports=[dict(name='n1', node_socket='/x/n1.sock'),
                                                 dict(name='n2', node_socket='/x/n2.sock')])
    a.update(change)
    r = module_runner(mod, a, commands=FakeCommands(), check_mode=True)
    assert r['failed'] and message in r['msg'], r['msg']


def test_started_needs_ports(module_runner):
    r = module_runner(mod, dict(name='fab', socket_dir='/x'), check_mode=True)
    assert r['failed'] and 'ports' in r['msg']


def test_a_file_as_socket_dir_is_refused(module_runner, tmp_path):
    f = tmp_path / 'file'
    f.write_text('x')
    r = module_runner(mod, args(str(f)), check_mode=True)
    assert r['failed'] and 'is not a directory' in r['msg']
