# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""module_utils.background with the real launcher: detached, bounded, killed as a group, nothing left."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import time

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import background


class Module(object):
    """run_command as AnsibleModule runs it: waits for the process and for its output pipes to close."""

    def __init__(self):
        self.seconds = None

    def run_command(self, argv):
        assert isinstance(argv, list)
        t0 = time.time()
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=20, check=False)
        self.seconds = time.time() - t0
        return proc.returncode, proc.stdout, proc.stderr

    def fail_json(self, **kw):
        raise AssertionError(kw)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def gone_within(pgid, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if not group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


def test_output_and_exit_status(tmp_path):
    mod = Module()
    bg = background.start(mod, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'], str(tmp_path), 10)
    assert bg.wait(time.time() + 10) == 3
    assert bg.output() == ('out\n', 'err\n')


def test_returns_while_the_program_runs_then_kill_leaves_nothing(tmp_path):
    mod = Module()
    bg = background.start(mod, ['/bin/sleep', '30'], str(tmp_path), 60)
    assert mod.seconds < 5  # run_command did not wait for the program
    assert bg.poll() is None and group_alive(bg.pgid)
    bg.kill()
    assert gone_within(bg.pgid, 5), 'the supervisor or the program is still running'
    assert bg.poll() is None  # killed with its supervisor: no status written


def test_limit_kills_the_program(tmp_path):
    bg = background.start(Module(), ['/bin/sleep', '30'], str(tmp_path), 1)
    assert bg.wait(time.time() + 10) == 124
    assert gone_within(bg.pgid, 5)


def test_program_that_cannot_run(tmp_path):
    bg = background.start(Module(), [str(tmp_path / 'nothing-here')], str(tmp_path), 10)
    assert bg.wait(time.time() + 10) == 127
    assert 'cannot run' in bg.output()[1]


@pytest.mark.parametrize('rc, out', [(1, ''), (0, 'not a number\n')])
def test_launcher_failure_names_the_program(rc, out):
    class Broken(Module):
        def run_command(self, argv):
            return rc, out, 'boom'
    with pytest.raises(AssertionError) as err:
        background.start(Broken(), ['/usr/bin/ibv_ud_pingpong'], '/nonexistent', 10)
    assert 'could not start /usr/bin/ibv_ud_pingpong in the background' in str(err.value)
