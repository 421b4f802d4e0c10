# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common


class FakeModule(object):
    check_mode = False
    _diff = True

    def __init__(self):
        self.ran = []

    def atomic_move(self, src, dest):
        os.rename(src, dest)
        os.chmod(dest, 0o644)  # like AnsibleModule.atomic_move on a new file

    def run_command(self, argv, **kwargs):
        self.ran.append(list(argv))
        return 0, 'out', ''

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(common, 'HOST_ROOT', str(tmp_path))
    return tmp_path


def test_plan_file_new_same_and_mode_change(root):
    action = common.plan_file('/etc/x.conf', 'a\n', mode=0o600)
    assert action.kind == 'write_file' and action.before == '' and action.after == 'a\n'
    mod = FakeModule()
    common.apply_actions(mod, [action])
    assert (root / 'etc/x.conf').read_text() == 'a\n'
    assert os.stat(str(root / 'etc/x.conf')).st_mode & 0o777 == 0o600
    assert common.plan_file('/etc/x.conf', 'a\n', mode=0o600) is None
    assert common.plan_file('/etc/x.conf', 'a\n', mode=0o644).after == 'a\n'


def test_check_mode_applies_nothing(root):
    mod = FakeModule()
    mod.check_mode = True
    common.apply_actions(mod, [common.plan_file('/etc/y', 'b'), common.plan_run(['true'])])
    assert not (root / 'etc/y').exists() and mod.ran == []


def test_remove_and_diff(root):
    (root / 'etc').mkdir()
    (root / 'etc/z').write_text('old\n')
    action = common.plan_remove_file('/etc/z')
    assert common.diffs_for([action]) == [{'before_header': '/etc/z', 'after_header': '/dev/null',
                                           'before': 'old\n', 'after': ''}]
    common.apply_actions(FakeModule(), [action])
    assert not (root / 'etc/z').exists()
    assert common.plan_remove_file('/etc/z') is None


def test_plan_run_refuses_strings():
    with pytest.raises(TypeError):
        common.plan_run('rm -rf /')


def test_result_for_and_run(root):
    mod = FakeModule()
    common.apply_actions(mod, [common.plan_run(['modprobe', 'rdma_rxe'], 'load rdma_rxe')])
    assert mod.ran == [['modprobe', 'rdma_rxe']]
    res = common.result_for(mod, [common.plan_file('/etc/w', 'x')], extra=1)
    assert res['changed'] and res['actions'] == ['write /etc/w'] and res['extra'] == 1 and len(res['diff']) == 1


def test_file_change_and_removal_are_pure():
    assert common.file_change('/etc/a', ('x', 0o644), 'x') is None
    assert common.file_change('/etc/a', ('x', 0o600), 'x').mode == 0o644
    new = common.file_change('/etc/a', (None, None), 'y', mode=0o600, description='write a')
    assert (new.before, new.after, new.description) == ('', 'y', 'write a')
    assert common.file_removal('/etc/a', (None, None)) is None
    assert common.file_removal('/etc/a', ('x', 0o644)).before == 'x'


def test_read_file_state(root):
    assert common.read_file_state('/etc/none') == (None, None)
    (root / 'etc').mkdir()
    (root / 'etc/b').write_text('b')
    os.chmod(str(root / 'etc/b'), 0o640)
    assert common.read_file_state('/etc/b') == ('b', 0o640)
