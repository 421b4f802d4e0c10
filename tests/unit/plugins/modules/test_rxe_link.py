# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""rxe_link against :class:`fake_rdma.FakeRdmaHost`: a link table, sysfs and systemd that act like the real ones
(stopping an active labkit-rxe@NAME unit runs its ExecStop, which deletes the link)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible.module_utils import basic

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.modules import rxe_link

from conftest import fixture_text
from fake_rdma import MODPROBE, RDMA, REL, SYSTEMCTL, FakeRdmaHost

CONF0 = '/etc/labkit/rxe/rxe0.conf'
CONF1 = '/etc/labkit/rxe/rxe1.conf'
RUN0 = '/run/labkit/rxe/rxe0.conf'
RUN1 = '/run/labkit/rxe/rxe1.conf'
TEMPLATE = '/etc/systemd/system/labkit-rxe@.service'
DROPIN0 = '/etc/systemd/system/labkit-rxe@rxe0.service.d/10-labkit-netdev.conf'
DROPIN1 = '/etc/systemd/system/labkit-rxe@rxe1.service.d/10-labkit-netdev.conf'
WANTS0 = '/etc/systemd/system/multi-user.target.wants/labkit-rxe@rxe0.service'
WANTS1 = '/etc/systemd/system/multi-user.target.wants/labkit-rxe@rxe1.service'
MODLOAD = '/etc/modules-load.d/labkit-rdma_rxe.conf'
UNIT1 = 'labkit-rxe@rxe1.service'


def captured(name):
    """A captured command output file ending with an 'rc=N' line -> (rc, text)."""
    lines = fixture_text(name).splitlines(True)
    return int(lines[-1].strip().split('=', 1)[1]), ''.join(lines[:-1])


@pytest.fixture
def make_host(tmp_path, monkeypatch):
    """``make_host(links=[(name, netdev)...])``: a fake host whose links exist (made by hand: no labkit record)."""
    monkeypatch.setattr(rxe_link, 'kernel_release', lambda: REL)
    monkeypatch.setattr(rxe_link.time, 'sleep', lambda s: None)

    def make(links=()):
        h = FakeRdmaHost(tmp_path / 'host', links)
        monkeypatch.setattr(common, 'HOST_ROOT', h.root)
        return h
    return make


@pytest.fixture
def run(module_runner, monkeypatch):
    """``run(host, args, **kw)``: one module run on ``host``; ``host.commands.calls`` holds only this run's."""
    def _run(host, args, warnings=None, **kwargs):
        del host.commands.calls[:]
        if warnings is not None:
            monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, w: warnings.append(w))
        return module_runner(rxe_link, args, commands=host.commands, **kwargs)
    return _run


def ok(result):
    assert not result.get('failed'), result
    return result


# --------------------------------------------------------------------------
# create, idempotence, check mode, diff

def test_create_persistent(make_host, run):
    host = make_host()
    result = ok(run(host, {'name': 'rxe0', 'persistent': True}))
    assert result['changed'] is True, result
    assert result['actions'] == [
        'rdma link add rxe0 type rxe netdev ens3',
        'write ' + CONF0, 'write ' + TEMPLATE, 'write ' + DROPIN0, 'write ' + MODLOAD,
        'systemctl daemon-reload', 'systemctl enable labkit-rxe@rxe0.service']
    assert host.mutations() == [
        (RDMA, 'link', 'add', 'rxe0', 'type', 'rxe', 'netdev', 'ens3'),
        (SYSTEMCTL, 'daemon-reload'), (SYSTEMCTL, 'enable', 'labkit-rxe@rxe0.service')]
    assert result['netdev'] == 'ens3'  # from ip -j route show default
    assert result['link'] == {'port': 1, 'state': 'ACTIVE', 'physical_state': 'LINK_UP', 'netdev': 'ens3'}
    assert result['device'] == 'rxe0' and result['foreign'] is False
    assert 'NETDEV=ens3\n' in host.read(CONF0)
    assert 'BindsTo=sys-subsystem-net-devices-ens3.device' in host.read(DROPIN0)
    assert host.read(MODLOAD).endswith('\nrdma_rxe\n')
    unit = host.read(TEMPLATE)
    assert 'EnvironmentFile=/etc/labkit/rxe/%i.conf' in unit
    assert 'link show "$$1/1"' in unit  # idempotent ExecStart
    assert 'ExecStartPre=-/usr/bin/modprobe rdma_rxe' in unit
    assert result['persistent_files'] == [CONF0, TEMPLATE, DROPIN0, MODLOAD]
    assert host.exists(WANTS0)

    before = host.snapshot()
    again = ok(run(host, {'name': 'rxe0', 'persistent': True}))
    assert again['changed'] is False and again['actions'] == [], again
    assert host.mutations() == [] and host.snapshot() == before
    assert again['link']['state'] == 'ACTIVE' and again['foreign'] is False

    # after a reboot the unit re-created it: still ours, still nothing to do
    host.reboot()
    assert host.links() == {'rxe0': 'ens3'}
    assert ok(run(host, {'name': 'rxe0', 'persistent': True}))['changed'] is False


def test_check_mode_changes_nothing(make_host, run):
    host = make_host()
    before = host.snapshot()
    result = ok(run(host, {'name': 'rxe0', 'persistent': True}, check_mode=True))
    assert result['changed'] is True
    assert 'rdma link add rxe0 type rxe netdev ens3' in result['actions']
    assert host.mutations() == [] and host.snapshot() == before and host.links() == {}
    assert result['link'] is None


def test_diff_shows_every_file(make_host, run):
    host = make_host()
    result = ok(run(host, {'name': 'rxe0', 'netdev': 'ens3', 'persistent': True}, check_mode=True, diff=True))
    diffs = dict((d['after_header'], d) for d in result['diff'])
    assert sorted(diffs) == sorted([CONF0, TEMPLATE, DROPIN0, MODLOAD])
    assert diffs[CONF0]['before'] == '' and diffs[CONF0]['before_header'] == '/dev/null'
    assert 'RXE_NAME=rxe0\nNETDEV=ens3\n' in diffs[CONF0]['after']


def test_not_persistent_writes_only_the_runtime_record(make_host, run):
    host = make_host()
    result = ok(run(host, {'name': 'rxe0'}))
    assert result['actions'] == ['rdma link add rxe0 type rxe netdev ens3', 'write ' + RUN0]
    assert result['persistent_files'] == []
    assert not host.exists('/etc/labkit')
    assert 'NETDEV=ens3' in host.read(RUN0)
    assert ok(run(host, {'name': 'rxe0'}))['changed'] is False
    # it is ours: state=absent deletes it without force
    gone = ok(run(host, {'name': 'rxe0', 'state': 'absent'}))
    assert gone['actions'] == ['rdma link delete rxe0', 'remove ' + RUN0]
    assert host.links() == {}


def test_loads_module_when_missing(make_host, run):
    host = make_host()
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    result = ok(run(host, {'name': 'rxe0', 'netdev': 'ens3'}))
    assert result['actions'][:2] == ['modprobe rdma_rxe', 'rdma link add rxe0 type rxe netdev ens3']
    assert host.mutations()[0] == (MODPROBE, 'rdma_rxe')


def test_wait_until_active(make_host, run):
    host = make_host()
    states = iter(['DOWN', 'DOWN', 'ACTIVE'])
    real_show = host.commands.table[0][1]

    def show(argv, **kw):
        for entry in host.table:
            entry['state'] = next(states, 'ACTIVE')
        return real_show(argv, **kw)
    host.commands.add((RDMA, '-j', 'link', 'show'), show)
    result = ok(run(host, {'name': 'rxe0', 'netdev': 'ens3'}))
    assert result['link']['state'] == 'ACTIVE'
    assert len(host.commands.ran(RDMA, '-j', 'link', 'show')) == 4


# --------------------------------------------------------------------------
# issue 15: dropping persistence never deletes the live link

def test_persistent_false_keeps_the_link_of_a_started_unit(make_host, run):
    """After a reboot labkit-rxe@rxe1 is active; persistent=false must not stop it (its ExecStop deletes rxe1)."""
    host = make_host()
    ok(run(host, {'name': 'rxe0', 'netdev': 'ens3', 'persistent': True}))
    ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0', 'persistent': True}))
    host.reboot()
    assert UNIT1 in host.active and host.links() == {'rxe0': 'ens3', 'rxe1': 'dummy0'}
    result = ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0', 'persistent': False}))
    assert host.links() == {'rxe0': 'ens3', 'rxe1': 'dummy0'}, 'dropping persistence deleted the link'
    assert (SYSTEMCTL, 'disable', UNIT1) in host.mutations()
    assert not [c for c in host.mutations() if c[1:2] == ('stop',) or '--now' in c]
    assert result['actions'] == [
        'write ' + RUN1, 'systemctl disable ' + UNIT1, 'remove ' + CONF1, 'remove ' + DROPIN1,
        'remove directory /etc/systemd/system/labkit-rxe@rxe1.service.d', 'systemctl daemon-reload']
    assert result['link']['netdev'] == 'dummy0' and result['persistent_files'] == []
    # still ours (the runtime record), so a later state=absent deletes it; rxe0 keeps its files
    for path in (CONF0, DROPIN0, WANTS0, TEMPLATE, MODLOAD, RUN1):
        assert host.exists(path), path
    assert not host.exists(WANTS1) and not host.exists(CONF1)
    assert ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0'}))['changed'] is False
    ok(run(host, {'name': 'rxe1', 'state': 'absent'}))
    assert host.links() == {'rxe0': 'ens3'}


def test_fake_systemd_runs_exec_stop(tmp_path):
    """The fake is only a regression guard if stopping an active unit deletes its link, as systemd does."""
    host = FakeRdmaHost(tmp_path / 'host', [('rxe1', 'dummy0')])
    host.write(CONF1, 'NETDEV=dummy0\n')
    host.commands((SYSTEMCTL, 'enable', '--now', UNIT1))
    assert UNIT1 in host.active
    host.commands((SYSTEMCTL, 'disable', UNIT1))
    assert host.links() == {'rxe1': 'dummy0'} and UNIT1 in host.active
    host.commands((SYSTEMCTL, 'enable', UNIT1))
    host.commands((SYSTEMCTL, 'disable', '--now', UNIT1))
    assert host.links() == {} and UNIT1 not in host.active


# --------------------------------------------------------------------------
# issue 15: foreign links (no labkit record) are reported, never adopted or deleted

def test_foreign_link_reported_not_adopted(make_host, run):
    host = make_host([('rxe0', 'ens3')])
    before = host.snapshot()
    warnings = []
    result = ok(run(host, {'name': 'rxe0', 'persistent': True}, warnings=warnings))
    assert result['changed'] is False and result['actions'] == []
    assert result['foreign'] is True and result['device'] == 'rxe0' and result['netdev'] == 'ens3'
    assert result['persistent_files'] == [] and result['link']['state'] == 'ACTIVE'
    assert host.mutations() == [] and host.snapshot() == before
    assert not host.exists(CONF0) and not host.exists(WANTS0)
    assert warnings == [
        'soft-RoCE link rxe0 on ens3 was not created by labkit.ebpf_rdma (no record /etc/labkit/rxe/rxe0.conf nor '
        '/run/labkit/rxe/rxe0.conf); it is used as it is: not adopted, not made persistent (persistent: true is not '
        'applied to it), never deleted by this module. To let labkit.ebpf_rdma manage it, set force: true (it then '
        'writes its record and an enabled unit whose stop deletes the link)']
    # without netdev: the foreign link keeps its netdev, the default route is not asked
    assert not host.commands.ran('/usr/bin/ip')


def test_foreign_link_absent_refused(make_host, run):
    host = make_host([('rxe0', 'ens3')])
    before = host.snapshot()
    result = run(host, {'name': 'rxe0', 'state': 'absent'})
    assert result['failed']
    assert result['msg'] == (
        'soft-RoCE link rxe0 on ens3 was not created by labkit.ebpf_rdma (no record /etc/labkit/rxe/rxe0.conf nor '
        '/run/labkit/rxe/rxe0.conf); it is not deleted, as this module deletes only links it created. Delete it by '
        'hand (rdma link delete rxe0), or set force: true to let this module delete it')
    assert host.mutations() == [] and host.snapshot() == before and host.links() == {'rxe0': 'ens3'}


def test_foreign_link_absent_with_force(make_host, run):
    host = make_host([('rxe0', 'ens3')])
    result = ok(run(host, {'name': 'rxe0', 'state': 'absent', 'force': True}))
    assert result['actions'] == ['rdma link delete rxe0'] and host.links() == {}


def test_foreign_link_adopted_with_force(make_host, run):
    host = make_host([('rxe0', 'ens3')])
    result = ok(run(host, {'name': 'rxe0', 'persistent': True, 'force': True}))
    assert result['foreign'] is False and 'write ' + CONF0 in result['actions']
    assert host.exists(WANTS0)
    # now ours: no force needed any more
    assert ok(run(host, {'name': 'rxe0', 'persistent': True}))['changed'] is False
    ok(run(host, {'name': 'rxe0', 'state': 'absent'}))
    assert host.links() == {} and not host.exists(CONF0)


def test_foreign_link_serving_the_netdev_is_refused_by_default(make_host, run):
    host = make_host([('rxefrgn', 'ens3')])
    result = run(host, {'name': 'rxe0', 'netdev': 'ens3', 'persistent': True})
    assert result['failed']
    assert result['msg'] == (
        'netdev ens3 already has a soft-RoCE link named rxefrgn; a netdev carries at most one and a second is not '
        'created. rxefrgn is not a labkit link (no record /etc/labkit/rxe/rxefrgn.conf): use it as it is with '
        'use_foreign: true or name=rxefrgn, or delete it first (rdma link delete rxefrgn)')
    assert host.mutations() == []


def test_foreign_link_serving_the_netdev_used_with_use_foreign(make_host, run):
    host = make_host([('rxefrgn', 'ens3')])
    before = host.snapshot()
    warnings = []
    result = ok(run(host, {'name': 'rxe0', 'persistent': True, 'use_foreign': True}, warnings=warnings))
    assert result['changed'] is False and result['device'] == 'rxefrgn' and result['foreign'] is True
    assert result['link']['netdev'] == 'ens3' and result['persistent_files'] == []
    assert host.mutations() == [] and host.snapshot() == before
    assert 'it serves netdev ens3 and is used as it is (use_foreign: true): rxe0 is not created' in warnings[0]


def test_use_foreign_does_not_hide_a_labkit_link_of_another_name(make_host, run):
    host = make_host()
    ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0'}))
    result = run(host, {'name': 'rxe7', 'netdev': 'dummy0', 'use_foreign': True})
    assert result['msg'].startswith('netdev dummy0 already has a soft-RoCE link named rxe1;')
    assert result['msg'].endswith('Use name=rxe1, or remove rxe1 first')


# --------------------------------------------------------------------------
# refusals (each: nothing run, nothing written)

def refused(run, host, args, **kwargs):
    before = host.snapshot()
    links = host.links()
    result = run(host, args, **kwargs)
    assert result.get('failed'), result
    assert host.mutations() == []
    assert host.snapshot() == before and host.links() == links
    return result['msg']


@pytest.mark.parametrize('netdev,words', [
    ('nope0', 'netdev nope0 does not exist'),
    ('lo', 'netdev lo is the loopback device'),
    ('br0', 'netdev br0 is a bridge'),
    ('dummy1', 'netdev dummy1 has no carrier'),
])
def test_bad_netdev(make_host, run, netdev, words):
    msg = refused(run, make_host(), {'name': 'rxe5', 'netdev': netdev, 'persistent': True})
    assert msg.startswith('cannot create soft-RoCE link rxe5: ' + words)
    assert 'netdev=' in msg  # the fix


def test_no_carrier_allowed_when_asked(make_host, run):
    host = make_host()
    result = ok(run(host, {'name': 'rxe5', 'netdev': 'dummy1', 'require_carrier': False}))
    assert result['actions'] == ['rdma link add rxe5 type rxe netdev dummy1', 'write /run/labkit/rxe/rxe5.conf']


def test_name_on_other_netdev(make_host, run):
    host = make_host()
    ok(run(host, {'name': 'rxe0', 'netdev': 'ens3'}))
    msg = refused(run, host, {'name': 'rxe0', 'netdev': 'dummy0'})
    assert msg == ('soft-RoCE link rxe0 already exists on netdev ens3, not on dummy0; it is not re-created silently. '
                   'Remove it first (rxe_link name=rxe0 state=absent) or pick another name for the link on dummy0')


def test_foreign_name_on_other_netdev(make_host, run):
    msg = refused(run, make_host([('rxe0', 'ens3')]), {'name': 'rxe0', 'netdev': 'dummy0'})
    assert 'Remove it first (it was not created by labkit.ebpf_rdma: rdma link delete rxe0, or rxe_link name=rxe0 ' \
           'state=absent force=true)' in msg


def test_netdev_already_has_labkit_link(make_host, run):
    host = make_host()
    ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0', 'persistent': True}))
    msg = refused(run, host, {'name': 'rxe7', 'netdev': 'dummy0', 'persistent': True})
    assert msg.startswith('netdev dummy0 already has a soft-RoCE link named rxe1;')
    assert 'Use name=rxe1' in msg


def test_name_taken_by_hardware(make_host, run):
    host = make_host([('rxe0', 'ens3')])
    base = host.path('/sys/class/infiniband/rxe0')
    os.unlink(os.path.join(base, 'parent'))
    os.makedirs(host.path('/sys/bus/pci/drivers/mlx5_core'))
    os.makedirs(os.path.join(base, 'device'))
    os.symlink('../../../../bus/pci/drivers/mlx5_core', os.path.join(base, 'device', 'driver'))
    msg = refused(run, host, {'name': 'rxe0', 'state': 'absent', 'force': True})
    assert 'is not a soft-RoCE (rxe) link (driver mlx5_core)' in msg


def test_old_iproute2(make_host, run):
    host = make_host()
    host.help_text = fixture_text('rdma/rdma-link-help-iproute2-before-5.1.txt')
    msg = refused(run, host, {'name': 'rxe0'})
    assert 'has no "rdma link add"' in msg and 'iproute2 5.1 or later' in msg


def test_module_not_in_kernel(make_host, run):
    host = make_host()
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    host.write('/lib/modules/%s/modules.dep' % REL, fixture_text('rdma/modules.dep-without-rxe'))
    msg = refused(run, host, {'name': 'rxe0'})
    assert msg == ('rdma_rxe is not in the modules of kernel 6.1.0-50-amd64 (not in modules.dep nor modules.builtin '
                   'of /lib/modules/6.1.0-50-amd64); install linux-modules-extra-6.1.0-50-amd64 (Ubuntu) or boot a '
                   'kernel that ships it')


def test_module_not_loaded_and_not_allowed(make_host, run):
    host = make_host()
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    assert 'rdma_rxe is not loaded and load_module is false' in refused(run, host, {'name': 'rxe0',
                                                                                    'load_module': False})


def test_no_default_route(make_host, run):
    host = make_host()
    host.commands.add(('/usr/bin/ip', '-j', 'route', 'show', 'default'),
                      (0, fixture_text('rdma/ip-route-default-none.json'), ''))
    msg = refused(run, host, {'name': 'rxe0'})
    assert 'no default route' in msg and 'give netdev=' in msg


def test_rdma_missing(make_host, run):
    assert 'install iproute2' in refused(run, make_host(), {'name': 'rxe0'}, bins={'rdma': None})


@pytest.mark.parametrize('name', ['rxe 0', '-rxe', 'a/b', 'x' * 64, ''])
def test_bad_name(make_host, run, name):
    assert 'not a valid RDMA device name' in refused(run, make_host(), {'name': name})


def test_persistent_without_systemd(make_host, run):
    host = make_host()
    os.rmdir(host.path('/run/systemd/system'))
    assert 'persistent: true needs systemd' in refused(run, host, {'name': 'rxe0', 'persistent': True})


def test_link_add_fails(make_host, run):
    """The kernel refuses (a race: another rxe appeared on the netdev): its error is reported."""
    host = make_host()
    rc, out = captured('rdma/rdma-link-add-file-exists.txt')
    host.commands.add((RDMA, 'link', 'add', 'rxe0', 'type', 'rxe', 'netdev', 'ens3'), (rc, '', out))
    result = run(host, {'name': 'rxe0', 'persistent': True})
    assert result['failed']
    assert result['msg'].startswith('creating soft-RoCE link rxe0 failed (exit 1): error: File exists')
    assert not host.exists(CONF0)  # the link comes first, persistence only after it exists


def test_modprobe_fails(make_host, run):
    host = make_host()
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    rc, out = captured('rdma/modprobe-missing.txt')
    host.commands.add((MODPROBE, 'rdma_rxe'), (rc, '', out))
    result = run(host, {'name': 'rxe0'})
    assert result['failed']
    assert 'modprobe: FATAL: Module rdma_rxe not found' in result['msg']
    assert 'install linux-modules-extra-6.1.0-50-amd64' in result['msg']


# --------------------------------------------------------------------------
# absent: only what was asked

def persist_both(host, run):
    """rxe0 (ens3) and rxe1 (dummy0) both created persistent by this module."""
    for name, netdev in (('rxe0', 'ens3'), ('rxe1', 'dummy0')):
        result = run(host, {'name': name, 'netdev': netdev, 'persistent': True})
        assert result['changed'] and not result.get('failed'), result


def test_absent_removes_only_its_own(make_host, run):
    host = make_host()
    persist_both(host, run)
    host.reboot()
    result = ok(run(host, {'name': 'rxe1', 'state': 'absent'}, diff=True))
    assert result['actions'] == [
        'rdma link delete rxe1', 'systemctl disable --now labkit-rxe@rxe1.service',
        'remove ' + CONF1, 'remove ' + DROPIN1,
        'remove directory /etc/systemd/system/labkit-rxe@rxe1.service.d', 'systemctl daemon-reload']
    assert host.mutations() == [(RDMA, 'link', 'delete', 'rxe1'),
                                (SYSTEMCTL, 'disable', '--now', 'labkit-rxe@rxe1.service'),
                                (SYSTEMCTL, 'daemon-reload')]
    # rxe0's link and files are untouched; the shared template and modules-load stay for it
    assert host.links() == {'rxe0': 'ens3'} and UNIT1 not in host.active
    for path in (CONF0, DROPIN0, WANTS0, TEMPLATE, MODLOAD):
        assert host.exists(path), path
    for path in (CONF1, DROPIN1, WANTS1, '/etc/systemd/system/labkit-rxe@rxe1.service.d'):
        assert not host.exists(path), path
    assert [d['before_header'] for d in result['diff']] == [CONF1, DROPIN1]
    assert result['link'] is None and result['device'] is None


def test_absent_last_link_removes_shared_files(make_host, run):
    host = make_host()
    ok(run(host, {'name': 'rxe0', 'persistent': True}))
    result = ok(run(host, {'name': 'rxe0', 'state': 'absent'}))
    assert 'remove ' + TEMPLATE in result['actions'] and 'remove ' + MODLOAD in result['actions']
    assert not host.exists(CONF0) and not host.exists(TEMPLATE)
    again = ok(run(host, {'name': 'rxe0', 'state': 'absent'}))
    assert again['changed'] is False and again['actions'] == []


def test_absent_foreign_link_on_other_netdev_untouched(make_host, run):
    """state=absent for a name that does not exist: the foreign rxe0 on ens3 stays."""
    host = make_host([('rxe0', 'ens3')])
    result = ok(run(host, {'name': 'rxe9', 'state': 'absent'}))
    assert result['changed'] is False and host.mutations() == []


def test_absent_netdev_mismatch(make_host, run):
    host = make_host()
    ok(run(host, {'name': 'rxe1', 'netdev': 'dummy0'}))
    msg = refused(run, host, {'name': 'rxe1', 'netdev': 'ens3', 'state': 'absent'})
    assert msg.startswith('soft-RoCE link rxe1 is on netdev dummy0, not on ens3 as given; nothing was removed.')


def test_absent_check_mode(make_host, run):
    host = make_host()
    persist_both(host, run)
    before = host.snapshot()
    result = ok(run(host, {'name': 'rxe1', 'state': 'absent'}, check_mode=True))
    assert result['changed'] and 'rdma link delete rxe1' in result['actions']
    assert host.mutations() == [] and host.snapshot() == before


def test_netdev_change_rewrites_conf_when_link_absent(make_host, run):
    """The conf records ens3 but the link is gone: re-creating it on dummy0 rewrites the record (diff shows it)."""
    host = make_host()
    ok(run(host, {'name': 'rxe0', 'persistent': True}))
    host.delete_link('rxe0')
    result = ok(run(host, {'name': 'rxe0', 'netdev': 'dummy0', 'persistent': True}, diff=True))
    d = dict((x['after_header'], x) for x in result['diff'])
    assert 'NETDEV=ens3' in d[CONF0]['before'] and 'NETDEV=dummy0' in d[CONF0]['after']
    assert 'sys-subsystem-net-devices-dummy0.device' in host.read(DROPIN0)


def test_netdev_resolved_once(make_host, run, monkeypatch):
    calls = []
    real = rxe_link.resolve_netdev
    monkeypatch.setattr(rxe_link, 'resolve_netdev', lambda *a: calls.append(a) or real(*a))
    ok(run(make_host(), {'name': 'rxe0'}))
    assert len(calls) == 1


def test_actions_have_kinds():
    state = {'links': [], 'drivers': {}, 'rdma_path': RDMA, 'modprobe_path': MODPROBE, 'systemctl_path': SYSTEMCTL,
             'module_loaded': False, 'module_available': True, 'module_builtin': False, 'kernel_release': REL,
             'supports_add': True, 'owned': set(), 'labkit_confs': [], 'systemd': True, 'enabled': False,
             'netdev_facts': {'name': 'ens3', 'exists': True, 'loopback': False, 'bridge': False, 'ethernet': True,
                              'carrier': True},
             'files': dict((p, (None, None)) for p in (CONF0, RUN0, TEMPLATE, DROPIN0, MODLOAD))}
    params = {'name': 'rxe0', 'netdev': 'ens3', 'state': 'present', 'persistent': False, 'load_module': True,
              'require_carrier': True, 'force': False, 'use_foreign': False}
    actions, report = rxe_link.plan(params, state)
    assert [a.kind for a in actions] == ['modprobe', 'link_add', 'write_file']
    assert report == {'device': 'rxe0', 'foreign': False, 'warnings': []}


def test_systemd_escape():
    assert rxe_link.device_unit('ens3') == 'sys-subsystem-net-devices-ens3.device'
    assert rxe_link.device_unit('br-lan') == 'sys-subsystem-net-devices-br\\x2dlan.device'
    assert rxe_link.device_unit('eth0.100') == 'sys-subsystem-net-devices-eth0.100.device'
