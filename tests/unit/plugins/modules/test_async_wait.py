# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""async_wait (module side): one look at an async job - its result, or its stage while it runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.labkit.ebpf_rdma.plugins.modules import async_wait

from conftest import FIXTURES

JID = 'j123456789012.4242'


def job_file(tmp_path, data):
    d = tmp_path / 'async'
    d.mkdir(exist_ok=True)
    (d / JID).write_text(json.dumps(data))
    return str(d)


def test_finished_job_returns_its_result(module_runner, tmp_path):
    d = job_file(tmp_path, {'changed': True, 'path': '/cache/img.qcow2', 'cached': False})
    result = module_runner(async_wait, {'jid': JID, 'timeout': 60, 'async_dir': d})
    assert result['finished'] is True and result['stage'] == 'done'
    assert result['job'] == {'changed': True, 'path': '/cache/img.qcow2', 'cached': False}


def test_running_job_reports_the_console_line(module_runner, tmp_path, monkeypatch):
    monkeypatch.setattr(async_wait, 'read_processes', lambda: BUILD)  # the job's wrapper runs
    d = job_file(tmp_path, {'started': True, 'finished': False, 'ansible_job_id': JID})
    serial = os.path.join(FIXTURES, 'qemu', 'tcg-boot-serial.log')  # a real console capture (CRLF)
    result = module_runner(async_wait, {'jid': JID, 'timeout': 60, 'async_dir': d, 'stage_file': serial})
    assert result['finished'] is False
    assert result['stage'].endswith('Power state transitions not supported') and '\r' not in result['stage']
    assert result['elapsed'] >= 0


def procs(*rows):
    """{pid: (ppid, comm, argv)} from (pid, ppid, argv) rows."""
    return dict((pid, (ppid, os.path.basename(argv[0])[:15], argv)) for pid, ppid, argv in rows)


WRAPPER = ['/usr/bin/python3', '/root/.ansible/tmp/x/async_wrapper.py', 'j123456789012', '3600', 'mod', 'args']
BUILD = procs(
    (1, 0, ['/sbin/init']),
    (4240, 1, WRAPPER),
    (4243, 4240, WRAPPER),
    (4244, 4243, ['/usr/bin/python3', '/root/.ansible/tmp/x/AnsiballZ_vm_image.py']),
    (4300, 4244, ['/bin/sh', '/usr/sbin/debootstrap', '--variant=minbase', 'bookworm', '/tmp/rootfs']),
    (4400, 4300, ['/usr/bin/dpkg', '--force-depends', '--install', 'libc6.deb']),
    (5000, 1, ['/usr/sbin/mkfs.ext4', '-d', '/other']),  # another job's program: not this one
)


def test_stage_of_a_build_from_its_processes():
    assert async_wait.job_stage(BUILD, JID) == 'debootstrap: fetching and installing the base system (running dpkg)'


def test_stage_of_the_last_steps_and_of_an_unknown_job():
    rows = dict(BUILD)
    del rows[4300], rows[4400]
    rows[4500] = (4244, 'qemu-img', ['/usr/bin/qemu-img', 'convert', '-O', 'qcow2', 'raw', 'disk.qcow2'])
    assert async_wait.job_stage(rows, JID) == 'converting the disk image (qemu-img)'
    del rows[4500]
    assert async_wait.job_stage(rows, JID) == 'working'
    assert async_wait.job_stage(rows, 'j999.1') == ''


def test_last_line_strips_escapes(fake_host):
    fake_host.write('/var/log/serial.log', 'first\r\n\x1b[0;32m  OK  \x1b[0m] Reached target Multi-User System.\r\n\r\n')
    assert async_wait.last_line('/var/log/serial.log') == 'OK  ] Reached target Multi-User System.'
    assert async_wait.last_line('/var/log/none.log') == ''


def test_a_job_killed_without_a_result_fails_at_once(module_runner, tmp_path, monkeypatch):
    # Seen: the vm_image job killed with SIGINT left its file at "started"; the playbook
    # then printed "working" every 15 s until the build timeout (30 min).
    rows = dict((pid, row) for pid, row in BUILD.items() if pid in (1, 5000))  # no wrapper of this job
    monkeypatch.setattr(async_wait, 'read_processes', lambda: rows)
    d = job_file(tmp_path, {'started': True, 'finished': False, 'ansible_job_id': JID})
    result = module_runner(async_wait, {'jid': JID, 'timeout': 60, 'async_dir': d, 'label': 'devvm image build'})
    assert result['failed'] and result['finished'] is True
    assert 'async job %s (devvm image build) is no longer running and left no result' % JID in result['msg']
    assert 'Run the playbook again' in result['msg']


def test_a_job_that_wrote_its_result_as_it_ended_is_finished(module_runner, tmp_path, monkeypatch):
    d = job_file(tmp_path, {'started': True, 'finished': False, 'ansible_job_id': JID})

    def ended():  # the job writes its result and exits between the first read and the process scan
        (tmp_path / 'async' / JID).write_text(json.dumps({'changed': True}))
        return {}
    monkeypatch.setattr(async_wait, 'read_processes', ended)
    result = module_runner(async_wait, {'jid': JID, 'timeout': 60, 'async_dir': d})
    assert result['finished'] is True and result['job'] == {'changed': True}
