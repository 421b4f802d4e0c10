# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.modules import rxe_link

from conftest import FIXTURES, FakeCommands, fixture_text

REL = '6.1.0-50-amd64'
TREE = os.path.join(FIXTURES, 'rdma', 'sysfs-rxe0-rxe1')
EMPTY = fixture_text('rdma/rdma-link-show-empty.json')
RXE0 = fixture_text('rdma/rdma-link-show-rxe0.json')
BOTH = fixture_text('rdma/rdma-link-show-rxe0-rxe1.json')
RDMA = '/usr/bin/rdma'
SYSTEMCTL = '/usr/bin/systemctl'
CONF0 = '/etc/labkit/rxe/rxe0.conf'
CONF1 = '/etc/labkit/rxe/rxe1.conf'
TEMPLATE = '/etc/systemd/system/labkit-rxe@.service'
DROPIN0 = '/etc/systemd/system/labkit-rxe@rxe0.service.d/10-labkit-netdev.conf'
DROPIN1 = '/etc/systemd/system/labkit-rxe@rxe1.service.d/10-labkit-netdev.conf'
WANTS0 = '/etc/systemd/system/multi-user.target.wants/labkit-rxe@rxe0.service'
WANTS1 = '/etc/systemd/system/multi-user.target.wants/labkit-rxe@rxe1.service'
MODLOAD = '/etc/modules-load.d/labkit-rdma_rxe.conf'


def captured(name):
    """A captured command output file ending with an 'rc=N' line -> (rc, text)."""
    lines = fixture_text(name).splitlines(True)
    return int(lines[-1].strip().split('=', 1)[1]), ''.join(lines[:-1])


class Host(object):
    def __init__(self, root):
        self.root = str(root)

    def path(self, p):
        return os.path.join(self.root, p.lstrip('/'))

    def exists(self, p):
        return os.path.lexists(self.path(p))

    def read(self, p):
        with open(self.path(p)) as f:
            return f.read()

    def write(self, p, text):
        full = self.path(p)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        with open(full, 'w') as f:
            f.write(text)
        os.chmod(full, 0o644)

    def remove_tree(self, p):
        shutil.rmtree(self.path(p))

    def symlink(self, target, p):
        full = self.path(p)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        os.symlink(target, full)

    def snapshot(self):
        out = {}
        for d, _dirs, files in os.walk(self.path('/etc')):
            for f in files:
                full = os.path.join(d, f)
                out[full] = os.readlink(full) if os.path.islink(full) else open(full).read()
        return out


@pytest.fixture
def host(tmp_path, monkeypatch):
    root = tmp_path / 'host'
    shutil.copytree(TREE, str(root))
    monkeypatch.setattr(common, 'HOST_ROOT', str(root))
    monkeypatch.setattr(rxe_link, 'kernel_release', lambda: REL)
    h = Host(root)
    os.makedirs(h.path('/sys/module/rdma_rxe'))
    os.makedirs(h.path('/run/systemd/system'))
    h.write('/lib/modules/%s/modules.dep' % REL, fixture_text('rdma/modules.dep'))
    h.write('/lib/modules/%s/modules.builtin' % REL, fixture_text('rdma/modules.builtin'))
    return h


def links_sequence(*outputs):
    """``rdma -j link show`` answers: each call the next output (the last repeats)."""
    state = {'i': 0}

    def answer(argv, **kwargs):
        out = outputs[min(state['i'], len(outputs) - 1)]
        state['i'] += 1
        return 0, out, ''
    return answer


def commands(host, links, extra=None):
    """The usual host: ``links`` is a list of rdma -j link show outputs in call order."""
    def enable(argv, **kw):
        host.symlink(TEMPLATE, '/etc/systemd/system/multi-user.target.wants/' + argv[-1])
        return 0, '', ''

    def disable(argv, **kw):
        os.unlink(host.path('/etc/systemd/system/multi-user.target.wants/' + argv[-1]))
        return 0, '', ''

    fake = FakeCommands({
        (RDMA, '-j', 'link', 'show'): links_sequence(*links),
        (RDMA, 'link', 'help'): (0, fixture_text('rdma/rdma-link-help.txt'), ''),
        ('/usr/bin/ip', '-j', 'route', 'show', 'default'): (0, fixture_text('rdma/ip-route-default.json'), ''),
        (SYSTEMCTL, 'daemon-reload'): (0, '', ''),
        lambda a: a[:2] == (SYSTEMCTL, 'enable'): enable,
        lambda a: a[:3] == (SYSTEMCTL, 'disable', '--now'): disable,
        lambda a: a[:3] == (RDMA, 'link', 'add'): (0, '', ''),
        lambda a: a[:3] == (RDMA, 'link', 'delete'): (0, '', ''),
        ('/usr/bin/modprobe', 'rdma_rxe'): (0, '', ''),
    })
    for argv, answer in (extra or {}).items():
        fake.add(argv, answer)
    return fake


MUTATING = ('add', 'delete', 'daemon-reload', 'enable', 'disable', 'rdma_rxe')


def mutations(fake):
    return [c for c in fake.calls if any(m in c for m in MUTATING) and c[-1] != 'help']


def only_rxe0(host):
    host.remove_tree('/sys/class/infiniband/rxe1')


def no_links(host):
    host.remove_tree('/sys/class/infiniband/rxe1')
    host.remove_tree('/sys/class/infiniband/rxe0')


# --------------------------------------------------------------------------
# create, idempotence, check mode, diff

def test_create_persistent(module_runner, host):
    no_links(host)
    fake = commands(host, [EMPTY, RXE0])
    result = module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=fake)
    assert result['changed'] is True, result
    assert result['actions'] == [
        'rdma link add rxe0 type rxe netdev ens3',
        'write ' + CONF0, 'write ' + TEMPLATE, 'write ' + DROPIN0, 'write ' + MODLOAD,
        'systemctl daemon-reload', 'systemctl enable labkit-rxe@rxe0.service']
    assert mutations(fake) == [
        (RDMA, 'link', 'add', 'rxe0', 'type', 'rxe', 'netdev', 'ens3'),
        (SYSTEMCTL, 'daemon-reload'), (SYSTEMCTL, 'enable', 'labkit-rxe@rxe0.service')]
    assert result['netdev'] == 'ens3'  # from ip -j route show default
    assert result['link'] == {'port': 1, 'state': 'ACTIVE', 'physical_state': 'LINK_UP', 'netdev': 'ens3'}
    assert 'NETDEV=ens3\n' in host.read(CONF0)
    assert 'BindsTo=sys-subsystem-net-devices-ens3.device' in host.read(DROPIN0)
    assert host.read(MODLOAD).endswith('\nrdma_rxe\n')
    unit = host.read(TEMPLATE)
    assert 'EnvironmentFile=/etc/labkit/rxe/%i.conf' in unit
    assert 'link show "$$1/1"' in unit  # idempotent ExecStart
    assert 'ExecStartPre=-/usr/bin/modprobe rdma_rxe' in unit
    assert result['persistent_files'] == [CONF0, TEMPLATE, DROPIN0, MODLOAD]
    assert host.exists(WANTS0)

    # second run: nothing to do
    fake2 = commands(host, [RXE0])
    host_tree_before = host.snapshot()
    # the link now exists in sysfs too
    shutil.copytree(os.path.join(TREE, 'sys/class/infiniband/rxe0'), host.path('/sys/class/infiniband/rxe0'))
    again = module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=fake2)
    assert again['changed'] is False, again
    assert again['actions'] == []
    assert mutations(fake2) == []
    assert host.snapshot() == host_tree_before
    assert again['link']['state'] == 'ACTIVE'


def test_check_mode_changes_nothing(module_runner, host):
    no_links(host)
    fake = commands(host, [EMPTY])
    before = host.snapshot()
    result = module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=fake, check_mode=True)
    assert result['changed'] is True
    assert 'rdma link add rxe0 type rxe netdev ens3' in result['actions']
    assert mutations(fake) == []
    assert host.snapshot() == before
    assert result['link'] is None


def test_diff_shows_every_file(module_runner, host):
    no_links(host)
    result = module_runner(rxe_link, {'name': 'rxe0', 'netdev': 'ens3', 'persistent': True},
                           commands=commands(host, [EMPTY]), check_mode=True, diff=True)
    diffs = dict((d['after_header'], d) for d in result['diff'])
    assert sorted(diffs) == sorted([CONF0, TEMPLATE, DROPIN0, MODLOAD])
    assert diffs[CONF0]['before'] == '' and diffs[CONF0]['before_header'] == '/dev/null'
    assert 'RXE_NAME=rxe0\nNETDEV=ens3\n' in diffs[CONF0]['after']


def test_not_persistent_writes_no_file(module_runner, host):
    no_links(host)
    fake = commands(host, [EMPTY, RXE0])
    result = module_runner(rxe_link, {'name': 'rxe0'}, commands=fake)
    assert result['actions'] == ['rdma link add rxe0 type rxe netdev ens3']
    assert result['persistent_files'] == []
    assert not host.exists('/etc/labkit')


def test_existing_link_adopted_without_netdev(module_runner, host):
    """rxe1 exists on dummy0 (not the default route): without netdev it keeps its netdev."""
    fake = commands(host, [BOTH])
    result = module_runner(rxe_link, {'name': 'rxe1'}, commands=fake)
    assert result['changed'] is False and result['netdev'] == 'dummy0'
    assert not fake.ran('/usr/bin/ip')


def test_loads_module_when_missing(module_runner, host):
    no_links(host)
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    fake = commands(host, [EMPTY, RXE0])
    result = module_runner(rxe_link, {'name': 'rxe0', 'netdev': 'ens3'}, commands=fake)
    assert result['actions'][:2] == ['modprobe rdma_rxe', 'rdma link add rxe0 type rxe netdev ens3']
    assert mutations(fake)[0] == ('/usr/bin/modprobe', 'rdma_rxe')


def test_wait_until_active(module_runner, host, monkeypatch):
    no_links(host)
    down = RXE0.replace('"ACTIVE"', '"DOWN"').replace('LINK_UP', 'DISABLED')
    monkeypatch.setattr(rxe_link.time, 'sleep', lambda s: None)
    fake = commands(host, [EMPTY, down, down, RXE0])
    result = module_runner(rxe_link, {'name': 'rxe0', 'netdev': 'ens3'}, commands=fake)
    assert result['link']['state'] == 'ACTIVE'
    assert len(fake.ran(RDMA, '-j', 'link', 'show')) == 4


# --------------------------------------------------------------------------
# refusals (each: nothing run, nothing written)

def refused(module_runner, host, args, links, extra=None, **kwargs):
    fake = commands(host, links, extra)
    before = host.snapshot()
    result = module_runner(rxe_link, args, commands=fake, **kwargs)
    assert result.get('failed'), result
    assert mutations(fake) == []
    assert host.snapshot() == before
    return result['msg']


@pytest.mark.parametrize('netdev,words', [
    ('nope0', 'netdev nope0 does not exist'),
    ('lo', 'netdev lo is the loopback device'),
    ('br0', 'netdev br0 is a bridge'),
    ('dummy1', 'netdev dummy1 has no carrier'),
])
def test_bad_netdev(module_runner, host, netdev, words):
    no_links(host)
    msg = refused(module_runner, host, {'name': 'rxe5', 'netdev': netdev, 'persistent': True}, [EMPTY])
    assert msg.startswith('cannot create soft-RoCE link rxe5: ' + words)
    assert 'netdev=' in msg  # the fix


def test_no_carrier_allowed_when_asked(module_runner, host):
    no_links(host)
    fake = commands(host, [EMPTY, EMPTY])
    result = module_runner(rxe_link, {'name': 'rxe5', 'netdev': 'dummy1', 'require_carrier': False}, commands=fake)
    assert result['actions'] == ['rdma link add rxe5 type rxe netdev dummy1']


def test_name_on_other_netdev(module_runner, host):
    msg = refused(module_runner, host, {'name': 'rxe0', 'netdev': 'dummy0'}, [RXE0])
    assert msg == ('soft-RoCE link rxe0 already exists on netdev ens3, not on dummy0; it is not re-created silently. '
                   'Remove it first (rxe_link name=rxe0 state=absent) or pick another name for the link on dummy0')


def test_netdev_already_has_link(module_runner, host):
    msg = refused(module_runner, host, {'name': 'rxe7', 'netdev': 'dummy0', 'persistent': True}, [BOTH])
    assert msg.startswith('netdev dummy0 already has a soft-RoCE link named rxe1;')
    assert 'Use name=rxe1' in msg


def test_name_taken_by_hardware(module_runner, host):
    only_rxe0(host)
    base = host.path('/sys/class/infiniband/rxe0')
    os.unlink(os.path.join(base, 'parent'))
    os.makedirs(host.path('/sys/bus/pci/drivers/mlx5_core'))
    os.makedirs(os.path.join(base, 'device'))
    os.symlink('../../../../bus/pci/drivers/mlx5_core', os.path.join(base, 'device', 'driver'))
    msg = refused(module_runner, host, {'name': 'rxe0', 'state': 'absent'}, [RXE0])
    assert 'is not a soft-RoCE (rxe) link (driver mlx5_core)' in msg


def test_old_iproute2(module_runner, host):
    no_links(host)
    extra = {(RDMA, 'link', 'help'): (0, fixture_text('rdma/rdma-link-help-iproute2-before-5.1.txt'), '')}
    msg = refused(module_runner, host, {'name': 'rxe0'}, [EMPTY], extra)
    assert 'has no "rdma link add"' in msg and 'iproute2 5.1 or later' in msg


def test_module_not_in_kernel(module_runner, host):
    no_links(host)
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    host.write('/lib/modules/%s/modules.dep' % REL, fixture_text('rdma/modules.dep-without-rxe'))
    msg = refused(module_runner, host, {'name': 'rxe0'}, [EMPTY])
    assert msg == ('rdma_rxe is not in the modules of kernel 6.1.0-50-amd64 (not in modules.dep nor modules.builtin '
                   'of /lib/modules/6.1.0-50-amd64); install linux-modules-extra-6.1.0-50-amd64 (Ubuntu) or boot a '
                   'kernel that ships it')


def test_module_not_loaded_and_not_allowed(module_runner, host):
    no_links(host)
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    msg = refused(module_runner, host, {'name': 'rxe0', 'load_module': False}, [EMPTY])
    assert 'rdma_rxe is not loaded and load_module is false' in msg


def test_no_default_route(module_runner, host):
    no_links(host)
    extra = {('/usr/bin/ip', '-j', 'route', 'show', 'default'): (0, fixture_text('rdma/ip-route-default-none.json'), '')}
    msg = refused(module_runner, host, {'name': 'rxe0'}, [EMPTY], extra)
    assert 'no default route' in msg and 'give netdev=' in msg


def test_rdma_missing(module_runner, host):
    msg = refused(module_runner, host, {'name': 'rxe0'}, [EMPTY], bins={'rdma': None})
    assert 'install iproute2' in msg


@pytest.mark.parametrize('name', ['rxe 0', '-rxe', 'a/b', 'x' * 64, ''])
def test_bad_name(module_runner, host, name):
    assert 'not a valid RDMA device name' in refused(module_runner, host, {'name': name}, [EMPTY])


def test_persistent_without_systemd(module_runner, host):
    no_links(host)
    os.rmdir(host.path('/run/systemd/system'))
    msg = refused(module_runner, host, {'name': 'rxe0', 'persistent': True}, [EMPTY])
    assert 'persistent: true needs systemd' in msg


def test_link_add_fails(module_runner, host):
    """The kernel refuses (a race: another rxe appeared on the netdev): its error is reported."""
    no_links(host)
    rc, out = captured('rdma/rdma-link-add-file-exists.txt')
    extra = {(RDMA, 'link', 'add', 'rxe0', 'type', 'rxe', 'netdev', 'ens3'): (rc, '', out)}
    result = module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=commands(host, [EMPTY], extra))
    assert result['failed']
    assert result['msg'].startswith('creating soft-RoCE link rxe0 failed (exit 1): error: File exists')
    assert not host.exists(CONF0)  # the link comes first, persistence only after it exists


def test_modprobe_fails(module_runner, host):
    no_links(host)
    os.rmdir(host.path('/sys/module/rdma_rxe'))
    rc, out = captured('rdma/modprobe-missing.txt')
    extra = {('/usr/bin/modprobe', 'rdma_rxe'): (rc, '', out)}
    result = module_runner(rxe_link, {'name': 'rxe0'}, commands=commands(host, [EMPTY], extra))
    assert result['failed']
    assert 'modprobe: FATAL: Module rdma_rxe not found' in result['msg']
    assert 'install linux-modules-extra-6.1.0-50-amd64' in result['msg']


# --------------------------------------------------------------------------
# absent: only what was asked

def persist_both(host, module_runner):
    """rxe0 (ens3) and rxe1 (dummy0) both created persistent by this module."""
    for name, netdev in (('rxe0', 'ens3'), ('rxe1', 'dummy0')):
        result = module_runner(rxe_link, {'name': name, 'netdev': netdev, 'persistent': True},
                               commands=commands(host, [BOTH]))
        assert result['changed'] and not result.get('failed'), result


def test_absent_removes_only_its_own(module_runner, host):
    persist_both(host, module_runner)
    fake = commands(host, [BOTH, RXE0])
    result = module_runner(rxe_link, {'name': 'rxe1', 'state': 'absent'}, commands=fake, diff=True)
    assert result['actions'] == [
        'rdma link delete rxe1', 'systemctl disable --now labkit-rxe@rxe1.service',
        'remove ' + CONF1, 'remove ' + DROPIN1,
        'remove directory /etc/systemd/system/labkit-rxe@rxe1.service.d', 'systemctl daemon-reload']
    assert mutations(fake) == [(RDMA, 'link', 'delete', 'rxe1'),
                               (SYSTEMCTL, 'disable', '--now', 'labkit-rxe@rxe1.service'),
                               (SYSTEMCTL, 'daemon-reload')]
    # rxe0's link and files are untouched; the shared template and modules-load stay for it
    for path in (CONF0, DROPIN0, WANTS0, TEMPLATE, MODLOAD):
        assert host.exists(path), path
    for path in (CONF1, DROPIN1, WANTS1, '/etc/systemd/system/labkit-rxe@rxe1.service.d'):
        assert not host.exists(path), path
    assert [d['before_header'] for d in result['diff']] == [CONF1, DROPIN1]
    assert result['link'] is None


def test_absent_last_link_removes_shared_files(module_runner, host):
    only_rxe0(host)
    module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=commands(host, [RXE0]))
    fake = commands(host, [RXE0, EMPTY])
    result = module_runner(rxe_link, {'name': 'rxe0', 'state': 'absent'}, commands=fake)
    assert 'remove ' + TEMPLATE in result['actions'] and 'remove ' + MODLOAD in result['actions']
    assert not host.exists('/etc/labkit/rxe/rxe0.conf') and not host.exists(TEMPLATE)
    again = module_runner(rxe_link, {'name': 'rxe0', 'state': 'absent'}, commands=commands(host, [EMPTY]))
    assert again['changed'] is False and again['actions'] == []


def test_absent_foreign_link_on_other_netdev_untouched(module_runner, host):
    """state=absent for a name that does not exist: the foreign rxe0 on ens3 stays."""
    only_rxe0(host)
    fake = commands(host, [RXE0])
    result = module_runner(rxe_link, {'name': 'rxe9', 'state': 'absent'}, commands=fake)
    assert result['changed'] is False
    assert mutations(fake) == []


def test_absent_netdev_mismatch(module_runner, host):
    msg = refused(module_runner, host, {'name': 'rxe1', 'netdev': 'ens3', 'state': 'absent'}, [BOTH])
    assert msg.startswith('soft-RoCE link rxe1 is on netdev dummy0, not on ens3 as given; nothing was removed.')


def test_absent_check_mode(module_runner, host):
    persist_both(host, module_runner)
    fake = commands(host, [BOTH])
    before = host.snapshot()
    result = module_runner(rxe_link, {'name': 'rxe1', 'state': 'absent'}, commands=fake, check_mode=True)
    assert result['changed'] and 'rdma link delete rxe1' in result['actions']
    assert mutations(fake) == [] and host.snapshot() == before


def test_persistent_false_drops_own_persistence(module_runner, host):
    persist_both(host, module_runner)
    fake = commands(host, [BOTH])
    result = module_runner(rxe_link, {'name': 'rxe1', 'netdev': 'dummy0', 'persistent': False}, commands=fake)
    assert 'rdma link delete rxe1' not in result['actions']
    assert not host.exists(CONF1) and host.exists(CONF0)


def test_netdev_change_rewrites_conf_when_link_absent(module_runner, host):
    """The conf records ens3 but the link is gone: re-creating it on dummy0 rewrites the record (diff shows it)."""
    only_rxe0(host)
    module_runner(rxe_link, {'name': 'rxe0', 'persistent': True}, commands=commands(host, [RXE0]))
    host.remove_tree('/sys/class/infiniband/rxe0')
    fake = commands(host, [EMPTY, EMPTY])
    result = module_runner(rxe_link, {'name': 'rxe0', 'netdev': 'dummy0', 'persistent': True}, commands=fake, diff=True)
    d = dict((x['after_header'], x) for x in result['diff'])
    assert 'NETDEV=ens3' in d[CONF0]['before'] and 'NETDEV=dummy0' in d[CONF0]['after']
    assert 'sys-subsystem-net-devices-dummy0.device' in host.read(DROPIN0)


def test_systemd_escape():
    assert rxe_link.device_unit('ens3') == 'sys-subsystem-net-devices-ens3.device'
    assert rxe_link.device_unit('br-lan') == 'sys-subsystem-net-devices-br\\x2dlan.device'
    assert rxe_link.device_unit('eth0.100') == 'sys-subsystem-net-devices-eth0.100.device'
