# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import background, rdma
from ansible_collections.labkit.ebpf_rdma.plugins.modules import rdma_pingpong

from conftest import FakeCommands, fixture_text

UD = '/usr/bin/ibv_ud_pingpong'
RC = '/usr/bin/ibv_rc_pingpong'


def capture(case, side):
    """(rc, stdout, stderr) of one side of a ping-pong captured in the VM (rdma/capture-pingpong.sh)."""
    base = 'rdma/pingpong/%s.%s.' % (case, side)
    return int(fixture_text(base + 'rc')), fixture_text(base + 'out'), fixture_text(base + 'err')


class FakeServer(object):
    """Stands in for the server started in the background (module_utils.background's launcher run).

    Run as the launcher command, it writes what the real supervisor writes in the work directory:
    the server's output, and its exit status once the server ended - at once when it gives up
    (early=True), after a client run that succeeded (finishes=True), or never (it hangs).
    """

    started = []
    PGID = 4242

    def __init__(self, answer, finishes=True, early=False):
        self.rc, self.out, self.err = answer
        self.finishes = finishes
        self.early = early
        self.killed = []
        self.work = None

    def __call__(self, argv, **kwargs):
        assert argv[1:3] == ('-c', background.LAUNCHER)
        self.work, limit, cmd = argv[3], int(argv[4]), list(argv[5:])
        assert limit > 0
        FakeServer.started.append(cmd)
        for name, text in (('stdout', self.out), ('stderr', self.err)):
            with open(os.path.join(self.work, name), 'w') as f:
                f.write(text)
        if self.early:
            self.end()
        return 0, '%d\n' % self.PGID, ''

    def end(self):
        with open(os.path.join(self.work, 'rc'), 'w') as f:
            f.write('%d\n' % self.rc)

    def killpg(self, pgid, sig):
        self.killed.append((pgid, sig))


CURRENT = []  # the FakeServer of the running test


@pytest.fixture
def server(monkeypatch):
    FakeServer.started = []
    installed = CURRENT
    del installed[:]

    def install(answer, finishes=True, early=False):
        fake = FakeServer(answer, finishes, early)
        monkeypatch.setattr(background, 'KILLPG', fake.killpg)
        installed.append(fake)
        return fake
    yield install
    for fake in installed:  # the module removed its work directory
        assert fake.work is None or not os.path.exists(fake.work)


def is_launcher(argv):
    return len(argv) > 2 and argv[1] == '-c' and argv[2] == background.LAUNCHER


def client_cmds(*answers):
    """run_command answers for successive client runs (wrapped in timeout)."""
    queue = list(answers)
    calls = []

    def answer(argv, **kwargs):
        calls.append(argv)
        out = queue.pop(0) if len(queue) > 1 else queue[0]
        if out[0] == 0 and CURRENT and CURRENT[-1].finishes:
            CURRENT[-1].end()  # the server ends with its client
        return out

    def launch(argv, **kwargs):
        return CURRENT[-1](argv, **kwargs)

    cmds = FakeCommands({lambda argv: argv[0] == 'timeout': answer,
                         is_launcher: launch})
    return cmds, calls


def test_ud_pingpong_over_the_ipv4_gid(module_runner, rxe_tree, server):
    server(capture('ud-ok', 'server'))
    cmds, calls = client_cmds(capture('ud-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=cmds)
    assert not result.get('failed'), result
    assert result['changed'] is False
    # rxe0's GID table (captured sysfs): [1] is ::ffff:10.0.2.15
    assert (result['gid_index'], result['gid']) == (1, '10.0.2.15')
    assert FakeServer.started == [[UD, '-d', 'rxe0', '-i', '1', '-g', '1', '-p', '18515', '-n', '1000']]
    assert calls[0][2:] == (UD, '-d', 'rxe0', '-i', '1', '-g', '1', '-p', '18515', '-n', '1000', '127.0.0.1')
    assert result['attempts'] == 1
    client = result['client']
    assert client['rc'] == 0 and client['mbit_per_sec'] > 0 and client['iterations'] == 1000
    assert client['bytes'] > 0 and client['usec_per_iter'] > 0
    assert client['local']['gid'] == client['remote']['gid'] == '::ffff:10.0.2.15'
    assert result['server']['rc'] == 0 and result['server']['iterations'] == 1000


def test_rc_transport_and_explicit_gid_port(module_runner, rxe_tree, server):
    server(capture('rc-ok', 'server'))
    cmds, calls = client_cmds(capture('rc-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'transport': 'rc', 'gid_index': 0, 'tcp_port': 18600,
                                           'iterations': 500, 'size': 1024}, commands=cmds)
    assert not result.get('failed'), result
    assert result['program'] == 'ibv_rc_pingpong' and result['gid_index'] == 0
    assert FakeServer.started[0] == [RC, '-d', 'rxe0', '-i', '1', '-g', '0', '-p', '18600', '-n', '500', '-s', '1024']
    assert result['client']['mbit_per_sec'] > 0


def test_client_retried_until_the_server_listens(module_runner, rxe_tree, server, monkeypatch):
    monkeypatch.setattr(rdma_pingpong.time, 'sleep', lambda s: None)
    server(capture('ud-ok', 'server'))
    cmds, calls = client_cmds(capture('ud-noserver', 'client'), capture('ud-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=cmds)
    assert not result.get('failed'), result
    assert result['attempts'] == 2 and len(calls) == 2


def test_server_that_never_finishes_is_killed_and_reported(module_runner, rxe_tree, server):
    fake = server((0, '', ''), finishes=False)
    cmds, calls = client_cmds(capture('ud-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'timeout': 2}, commands=cmds)
    assert result['failed'] and fake.killed == [(FakeServer.PGID, signal.SIGKILL)]
    assert 'the server timed out after 2 s' in result['msg']


def test_client_failure_names_the_fix(module_runner, rxe_tree, server, monkeypatch):
    # the server gave up (exited 1) while the client could not connect: no endless retry
    server((1,) + capture('ud-noserver', 'client')[1:], early=True)
    cmds, calls = client_cmds(capture('ud-noserver', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=cmds)
    assert result['failed'] and len(calls) == 1
    assert "the client exited 1 (Couldn't connect to 127.0.0.1:18517)" in result['msg']
    assert 'rendezvous port' in result['msg']


def test_server_killed_when_the_client_fails(module_runner, rxe_tree, server, monkeypatch):
    """A client that fails for good does not leave the server waiting: it is killed after a short grace."""
    monkeypatch.setattr(rdma_pingpong, 'SERVER_GRACE', 0)
    fake = server((0, '', ''), finishes=False)
    cmds, calls = client_cmds(capture('ud-nodevice', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'timeout': 60}, commands=cmds)
    assert result['failed'] and result['seconds'] < 10 and len(calls) == 1
    assert fake.killed == [(FakeServer.PGID, signal.SIGKILL)]
    assert 'the client exited' in result['msg'] and result['server']['rc'] == 124


def test_server_started_detached_through_run_command(module_runner, rxe_tree, server):
    """No subprocess of the module's own: the server's launcher is one run_command argument list."""
    server(capture('ud-ok', 'server'))
    cmds, calls = client_cmds(capture('ud-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'timeout': 45}, commands=cmds)
    assert not result.get('failed'), result
    launches = [c for c in cmds.calls if is_launcher(c)]
    assert len(launches) == 1 and launches[0][4] == '45' and list(launches[0][5:]) == result['server_cmd']
    assert not hasattr(rdma_pingpong, 'subprocess')


def test_missing_device_fails_before_starting_anything(module_runner, rxe_tree, server):
    server(capture('ud-ok', 'server'))
    cmds = FakeCommands()
    result = module_runner(rdma_pingpong, {'device': 'rxe9'}, commands=cmds)
    assert result['failed'] and 'there is no RDMA device rxe9' in result['msg'] and 'rxe_link' in result['msg']
    assert FakeServer.started == [] and cmds.calls == []


def test_gid_not_in_table(module_runner, rxe_tree, server):
    server(capture('ud-ok', 'server'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'gid_index': 7}, commands=FakeCommands())
    assert result['failed'] and 'GID index 7 is not in the GID table of rxe0 port 1' in result['msg']
    assert '[1] RoCE v2 10.0.2.15' in result['msg'] and FakeServer.started == []


def test_port_without_ipv4_gid(module_runner, rxe_tree, server):
    for i in (1, 2):  # leave only the link-local GID
        (rxe_tree / ('sys/class/infiniband/rxe0/ports/1/gids/%d' % i)).write_text('0000:0000:0000:0000:0000:0000:0000:0000\n')
    server(capture('ud-ok', 'server'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=FakeCommands())
    assert result['failed'] and 'no IPv4-mapped RoCE v2 GID' in result['msg']


def test_program_not_installed(module_runner, rxe_tree, server):
    server(capture('ud-ok', 'server'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=FakeCommands(), bins={'ibv_ud_pingpong': None})
    assert result['failed'] and 'apt-get install ibverbs-utils' in result['msg']


@pytest.mark.parametrize('args, word', [({'tcp_port': 0}, 'tcp_port'), ({'tcp_port': 70000}, 'tcp_port'),
                                        ({'iterations': 0}, 'iterations'), ({'transport': 'xrc'}, 'transport')])
def test_bad_arguments(module_runner, rxe_tree, server, args, word):
    server(capture('ud-ok', 'server'))
    result = module_runner(rdma_pingpong, dict(device='rxe0', **args), commands=FakeCommands())
    assert result['failed'] and word in result['msg'] and FakeServer.started == []


def test_runs_in_check_mode(module_runner, rxe_tree, server):
    server(capture('ud-ok', 'server'))
    cmds, calls = client_cmds(capture('ud-ok', 'client'))
    result = module_runner(rdma_pingpong, {'device': 'rxe0'}, commands=cmds, check_mode=True)
    assert not result.get('failed') and result['changed'] is False and len(calls) == 1


# ---------------------------------------------------------------- pure helpers

def test_parse_pingpong_of_both_captures():
    for case in ('ud-ok', 'rc-ok'):
        for side in ('server', 'client'):
            figures = rdma.parse_pingpong(capture(case, side)[1])
            assert figures['iterations'] == 1000 and figures['mbit_per_sec'] > 0, (case, side, figures)
            assert figures['local']['qpn'].startswith('0x') and figures['remote']['gid']


def test_parse_pingpong_of_nothing():
    assert rdma.parse_pingpong('') == dict(bytes=None, seconds=None, mbit_per_sec=None, iterations=None,
                                           usec_per_iter=None, local=None, remote=None)


@pytest.mark.parametrize('case, words', [('ud-noserver', 'rendezvous port'), ('ud-nodevice', 'rxe_link')])
def test_hints_from_captured_errors(case, words):
    assert words in rdma.pingpong_hint(capture(case, 'client')[2], 'rxe9', 1)


# ---------------------------------------------------------------- across nodes (side=server / client)

def test_server_side_runs_the_server_bounded_in_the_foreground(module_runner, rxe_tree, monkeypatch):
    monkeypatch.setattr(rdma_pingpong, 'proc_argvs', lambda: {})
    cmds = FakeCommands({lambda a: a[0] == 'timeout': capture('ud-ok', 'server')})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'server', 'timeout': 60}, commands=cmds)
    assert not result.get('failed'), result
    assert cmds.calls == [('timeout', '60', UD, '-d', 'rxe0', '-i', '1', '-g', '1', '-p', '18515', '-n', '1000')]
    assert result['server']['iterations'] == 1000 and 'client' not in result and result['attempts'] == 0
    assert result['stale_servers'] == []


def test_client_side_runs_only_the_client_against_the_peer(module_runner, rxe_tree, monkeypatch):
    monkeypatch.setattr(rdma_pingpong.time, 'sleep', lambda s: None)
    answers = [capture('ud-noserver', 'client'), capture('ud-ok', 'client')]
    cmds = FakeCommands({lambda a: a[0] == 'timeout': lambda a, **kw: answers.pop(0)})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'client', 'address': '10.77.0.2'}, commands=cmds)
    assert not result.get('failed'), result
    assert result['attempts'] == 2 and cmds.calls[-1][-1] == '10.77.0.2'
    assert 'server' not in result and 'stale_servers' not in result and result['client']['usec_per_iter'] > 0


def test_a_failing_client_names_the_peer(module_runner, rxe_tree):
    cmds = FakeCommands({lambda a: a[0] == 'timeout': capture('ud-nodevice', 'client')})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'client', 'address': '10.77.0.2'}, commands=cmds)
    assert result['failed'] and 'the client (against 10.77.0.2)' in result['msg']


def test_a_stale_server_on_the_port_is_stopped_first(module_runner, rxe_tree, monkeypatch):
    procs = {77: [UD, '-d', 'rxe0', '-i', '1', '-g', '0', '-p', '18515', '-n', '1000'],
             78: [UD, '-d', 'rxe0', '-i', '1', '-g', '1', '-p', '18515', '-n', '1000', '10.77.0.2'],
             79: [RC, '-d', 'rxe0', '-p', '18600']}
    killed = []
    monkeypatch.setattr(rdma_pingpong, 'proc_argvs', lambda: procs)
    monkeypatch.setattr(rdma_pingpong.os, 'kill', lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(rdma_pingpong.time, 'sleep', lambda s: None)
    cmds = FakeCommands({lambda a: a[0] == 'timeout': capture('ud-ok', 'server')})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'server'}, commands=cmds)
    assert result['stale_servers'] == [77] and killed == [(77, signal.SIGTERM)]


def test_stale_servers_are_servers_of_the_port_only():
    procs = {1: ['/usr/bin/ibv_rc_pingpong', '-p', '18515'], 2: ['ibv_rc_pingpong', '-p', '18515', '10.0.0.1'],
             3: ['sleep', '-p', '18515'], 4: ['ibv_ud_pingpong', '-p', '1'], 5: []}
    assert rdma.stale_pingpong_servers(procs, 18515) == [1]


@pytest.fixture(autouse=True)
def no_processes(monkeypatch):
    """The controller's own processes are never looked at (nor signalled) by these tests."""
    monkeypatch.setattr(rdma_pingpong, 'proc_argvs', lambda: {})


# ---------------------------------------------------------------- a peer off the fabric; stopping a server

class Clock(object):
    """time.time and time.sleep of the module: sleeping advances the clock, so does each client run."""

    def __init__(self, monkeypatch, per_run=3.0):
        self.now = 1000.0
        self.per_run = per_run
        monkeypatch.setattr(rdma_pingpong.time, 'time', lambda: self.now)
        monkeypatch.setattr(rdma_pingpong.time, 'sleep', self.sleep)

    def sleep(self, seconds):
        self.now += seconds

    def client_run(self, answer):
        def run(argv, **kw):
            self.now += self.per_run  # an unreachable peer: connect() fails once ARP gives up
            return answer
        return run


def test_connect_timeout_ends_the_retries_of_a_client_whose_server_never_answers(module_runner, rxe_tree, monkeypatch):
    clock = Clock(monkeypatch)
    cmds = FakeCommands({lambda a: a[0] == 'timeout': clock.client_run(capture('ud-noserver', 'client'))})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'client', 'address': '10.77.0.2',
                                           'tcp_port': 18620, 'timeout': 120, 'connect_timeout': 30}, commands=cmds)
    assert result['failed'] and 30 <= result['seconds'] < 35 and len(cmds.calls) == result['attempts'] < 10
    assert 'no ping-pong server answered on 10.77.0.2 port 18620' in result['msg']
    assert 'attempts in' in result['msg']


def test_without_connect_timeout_the_client_retries_within_the_whole_timeout(module_runner, rxe_tree, monkeypatch):
    clock = Clock(monkeypatch)
    cmds = FakeCommands({lambda a: a[0] == 'timeout': clock.client_run(capture('ud-noserver', 'client'))})
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'client', 'address': '10.77.0.2',
                                           'timeout': 60}, commands=cmds)
    assert result['failed'] and 58 <= result['seconds'] <= 64


def test_stop_side_stops_the_servers_of_the_port_only(module_runner, monkeypatch):
    procs = {77: [UD, '-d', 'rxe1', '-i', '1', '-g', '1', '-p', '18620', '-n', '200'],
             78: [UD, '-d', 'rxe1', '-i', '1', '-g', '1', '-p', '18620', '-n', '200', '10.77.0.2'],
             79: [RC, '-d', 'rxe1', '-p', '18600']}
    killed = []
    monkeypatch.setattr(rdma_pingpong, 'proc_argvs', lambda: procs)
    monkeypatch.setattr(rdma_pingpong.os, 'kill', lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(rdma_pingpong.time, 'sleep', lambda s: None)
    cmds = FakeCommands()
    result = module_runner(rdma_pingpong, {'device': 'rxe1', 'side': 'stop', 'tcp_port': 18620}, commands=cmds)
    assert result['stopped'] == [77] and killed == [(77, signal.SIGTERM)] and result['changed'] is True
    assert cmds.calls == []


def test_stop_side_in_check_mode_stops_nothing(module_runner, monkeypatch):
    procs = {77: [UD, '-d', 'rxe1', '-p', '18620']}
    killed = []
    monkeypatch.setattr(rdma_pingpong, 'proc_argvs', lambda: procs)
    monkeypatch.setattr(rdma_pingpong.os, 'kill', lambda pid, sig: killed.append((pid, sig)))
    result = module_runner(rdma_pingpong, {'device': 'rxe1', 'side': 'stop', 'tcp_port': 18620}, check_mode=True)
    assert result['stopped'] == [77] and killed == []


def test_stop_side_with_no_server_changes_nothing(module_runner):
    result = module_runner(rdma_pingpong, {'device': 'rxe1', 'side': 'stop', 'tcp_port': 18620})
    assert result['stopped'] == [] and result['changed'] is False


def test_negative_connect_timeout_is_refused(module_runner, rxe_tree):
    result = module_runner(rdma_pingpong, {'device': 'rxe0', 'side': 'client', 'connect_timeout': -1})
    assert result['failed'] and 'connect_timeout must be at least 0' in result['msg']
