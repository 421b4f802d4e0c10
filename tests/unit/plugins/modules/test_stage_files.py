# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""stage_files: the action (controller side) and the module (host side) end to end, the host being a
temporary directory: what is sent, in how many module runs, what the host ends with."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
from unittest.mock import MagicMock

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.action import stage_files as action
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import stage
from ansible_collections.labkit.ebpf_rdma.plugins.modules import stage_files

from conftest import run_module

TREE = {'go.mod': 'module example.com/p\n', 'agent/agent.go': 'package agent\n', 'bin/agent': '\x7fELF agent',
        'qptrace/qptrace_bpfel.o': '\x7fELF bpf'}


@pytest.fixture
def world(tmp_path, monkeypatch):
    """The controller's source, the host's dest, and an action whose module runs are real module runs."""
    src, host = tmp_path / 'src', tmp_path / 'host'
    for rel, text in TREE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    os.chmod(str(src / 'bin/agent'), 0o755)
    w = type('World', (), {})()
    w.src, w.host, w.tmp = src, host, tmp_path
    w.args = {'src': str(src), 'paths': sorted(TREE), 'dest': str(host / 'src'),
              'manifest': str(host / '.labkit/staged.json'), 'record': str(tmp_path / 'record.json'),
              'keep': ['bin/*']}
    w.runs, w.bundles = [], []

    def make(args=None, check_mode=False, diff=False):
        task = MagicMock()
        task.args = dict(w.args if args is None else args)
        task.check_mode = check_mode
        task.async_val = 0
        connection = MagicMock()
        connection._shell.tmpdir = None
        connection._shell.join_path = os.path.join
        act = action.ActionModule(task, connection, MagicMock(), MagicMock(), MagicMock(), MagicMock())

        def make_tmp():
            d = tmp_path / ('remote-tmp-%d' % len(w.runs))
            d.mkdir(exist_ok=True)
            connection._shell.tmpdir = str(d)
        act._make_tmp_path = make_tmp
        act._transfer_file = shutil.copy
        act._fixup_perms2 = lambda paths: None
        act._remove_tmp_path = lambda path: shutil.rmtree(path, ignore_errors=True) if path else None

        def execute(module_name, module_args, task_vars):
            assert module_name == 'labkit.ebpf_rdma.stage_files'
            w.runs.append(dict(module_args))
            if module_args.get('bundle'):
                w.bundles.append(sorted(stage.bundle_members(module_args['bundle'])))
            return run_module(stage_files, module_args, check_mode=check_mode, diff=diff, monkeypatch=monkeypatch)
        act._execute_module = execute
        return act
    w.make = make
    return w


def host_text(w, rel):
    return (w.host / 'src' / rel).read_text()


def test_first_run_asks_then_sends_everything_and_keeps_a_record(world):
    result = world.make().run(task_vars={})
    assert not result.get('failed') and result['changed'] is True
    assert result['written'] == sorted(TREE) and result['removed'] == []
    assert result['sent'] == {'files': 4, 'bytes': result['sent']['bytes'], 'runs': 2}
    assert world.runs[0].get('bundle', '') == '' and world.bundles == [sorted(TREE)]
    assert all(host_text(world, rel) == text for rel, text in TREE.items())
    assert os.stat(str(world.host / 'src/bin/agent')).st_mode & 0o777 == 0o755
    assert os.stat(str(world.host / 'src/go.mod')).st_mode & 0o777 == 0o644
    record = json.loads((world.tmp / 'record.json').read_text())
    assert record == dict((rel, stage.sha256_file(str(world.src / rel))) for rel in TREE)


def test_nothing_changed_is_one_module_run_sending_nothing(world):
    world.make().run(task_vars={})
    world.runs[:] = []
    result = world.make().run(task_vars={})
    assert result['changed'] is False and result['written'] == [] and result['sent'] == {
        'files': 0, 'bytes': 0, 'runs': 1}
    assert len(world.runs) == 1 and world.runs[0].get('bundle', '') == ''


def test_one_edited_file_is_the_only_one_sent(world):
    world.make().run(task_vars={})
    (world.src / 'agent/agent.go').write_text('package agent // edited\n')
    world.bundles[:] = []
    result = world.make().run(task_vars={})
    assert result['changed'] is True and result['written'] == ['agent/agent.go']
    assert world.bundles == [['agent/agent.go']] and result['sent']['runs'] == 1
    assert host_text(world, 'agent/agent.go') == 'package agent // edited\n'


def test_a_new_host_behind_an_old_record_gets_everything_in_a_second_run(world):
    world.make().run(task_vars={})
    shutil.rmtree(str(world.host))  # the VM was recreated; the controller's record still says it has the files
    world.bundles[:] = []
    result = world.make().run(task_vars={})
    assert result['changed'] is True and result['written'] == sorted(TREE) and result['sent']['runs'] == 2
    assert world.bundles == [sorted(TREE)]
    assert all(host_text(world, rel) == text for rel, text in TREE.items())


def test_a_file_edited_on_the_host_is_sent_again(world):
    world.make().run(task_vars={})
    (world.host / 'src/go.mod').write_text('module changed.on/host\n')
    result = world.make().run(task_vars={})
    assert result['written'] == ['go.mod'] and host_text(world, 'go.mod') == TREE['go.mod']


def test_a_file_that_left_the_tree_is_removed_unless_kept(world):
    world.make().run(task_vars={})
    (world.host / 'src/bin/hostbuilt').parent.mkdir(exist_ok=True)
    (world.host / 'src/bin/hostbuilt').write_text('never staged')
    args = dict(world.args, paths=['go.mod', 'agent/agent.go'])
    result = world.make(args).run(task_vars={})
    assert result['removed'] == ['qptrace/qptrace_bpfel.o'] and result['changed'] is True
    assert not (world.host / 'src/qptrace/qptrace_bpfel.o').exists()
    assert (world.host / 'src/bin/agent').exists(), 'bin/* is kept'
    assert (world.host / 'src/bin/hostbuilt').read_text() == 'never staged', 'never staged: left alone'


def test_check_mode_sends_and_writes_nothing_and_says_what_would_change(world):
    result = world.make(check_mode=True, diff=True).run(task_vars={})
    assert result['changed'] is True and result['written'] == sorted(TREE)
    assert not world.host.exists() and world.bundles == [] and not (world.tmp / 'record.json').exists()
    assert 'go.mod absent' in result['diff']['before'] and 'go.mod ' in result['diff']['after']


def test_a_missing_source_file_fails_with_the_fix(world):
    args = dict(world.args, paths=['go.mod', 'nope.go'])
    result = world.make(args).run(task_vars={})
    assert result['failed'] and 'nope.go is not a file on the controller' in result['msg']
    assert 'build it first or leave it out of paths' in result['msg'] and world.runs == []


@pytest.mark.parametrize('rel', ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', './a'])
def test_paths_that_could_leave_dest_are_refused(world, rel):
    result = world.make(dict(world.args, paths=[rel])).run(task_vars={})
    assert result['failed'] and 'stage_files:' in result['msg'] and world.runs == []


def test_the_module_alone_refuses_files_the_bundle_lacks(world, monkeypatch):
    args = {'src': str(world.src), 'paths': ['go.mod'], 'dest': str(world.host / 'src'),
            'manifest': str(world.host / 'm.json'), 'files': {'go.mod': {'sha256': '0' * 64, 'mode': 0o644}}}
    result = run_module(stage_files, args, monkeypatch=monkeypatch)
    assert result['failed'] and 'not in the bundle (go.mod)' in result['msg'] and 'through its action' in result['msg']


def test_the_module_refuses_a_symlinked_dest(world, monkeypatch):
    os.makedirs(str(world.tmp / 'elsewhere'))
    world.host.mkdir()
    os.symlink(str(world.tmp / 'elsewhere'), str(world.host / 'src'))
    result = world.make().run(task_vars={})
    assert result['failed'] and 'is a symlink or not a directory' in result['msg']


def test_a_bundle_whose_file_differs_from_its_hash_is_refused(world, monkeypatch):
    world.make().run(task_vars={})
    tar = world.tmp / 'evil.tar'
    (world.tmp / 'evil').mkdir()
    (world.tmp / 'evil/go.mod').write_text('module evil\n')
    wanted = {'go.mod': {'sha256': stage.sha256_file(str(world.src / 'agent/agent.go')), 'mode': 0o644}}
    with open(str(tar), 'wb') as out:
        stage.pack(str(world.tmp / 'evil'), ['go.mod'], wanted, out)
    args = {'src': str(world.src), 'paths': ['go.mod'], 'dest': str(world.host / 'src'),
            'manifest': world.args['manifest'], 'files': wanted, 'bundle': str(tar)}
    result = run_module(stage_files, args, monkeypatch=monkeypatch)
    assert result['failed'] and 'arrived with SHA-256' in result['msg']
    assert host_text(world, 'go.mod') == TREE['go.mod'], 'the old file is left in place'


def test_kept_globs():
    assert stage.kept('bin/agent', ['bin/*']) and stage.kept('x/y_bpfel.o', ['*_bpfel.o'])
    assert not stage.kept('src/bin/agent', ['bin/*']) and not stage.kept('agent.go', ['bin/*'])


def test_kept_files_left_out_stay_staged_so_a_later_stage_does_not_send_them_again(world):
    world.make().run(task_vars={})
    world.make(dict(world.args, paths=['go.mod', 'agent/agent.go', 'qptrace/qptrace_bpfel.o'])).run(task_vars={})
    world.bundles[:] = []
    result = world.make().run(task_vars={})
    assert result['written'] == [] and world.bundles == [], 'bin/agent was kept and is still as staged'
    (world.host / 'src/bin/agent').write_text('rebuilt on the host')
    result = world.make().run(task_vars={})
    assert result['written'] == ['bin/agent'] and host_text(world, 'bin/agent') == TREE['bin/agent']


def test_no_directory_is_made_through_a_symlink_out_of_dest(tmp_path):
    dest = tmp_path / 'dest'
    outside = tmp_path / 'outside'
    dest.mkdir()
    outside.mkdir()
    os.symlink(str(outside), str(dest / 'link'))
    with pytest.raises(stage.StageError, match='leads out of'):
        stage._make_dirs(str(dest), 'link/new/deeper/file')
    assert os.listdir(str(outside)) == []
    assert stage._make_dirs(str(dest), 'a/b/file') == str(dest / 'a' / 'b')
    assert stage._make_dirs(str(dest), 'top') == str(dest)
