# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify the two-node fabric from the outside, with testinfra, on both nodes.

The cross-node traffic is run by the verifier itself (ibv_ud_pingpong and
ibv_rc_pingpong over ssh), not by the collection's rdma_pingpong module.
"""

import json
import os

import pytest
import testinfra

STATE = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', ''), 'state', 'labkit-ebpf_rdma')
NODES = ('fabnode1', 'fabnode2')
SUBNET_PREFIX = '10.77.0.'
RXE = 'rxe1'


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


@pytest.fixture(scope='module')
def nodes():
    found = {}
    for name in NODES:
        cfg = os.path.join(STATE, 'vms', name, 'ssh_config')
        found[name] = testinfra.get_host('ssh://%s' % name, ssh_config=cfg)
    return found


@pytest.fixture(scope='module')
def report():
    with open(os.path.join(STATE, 'reports', 'fabric.json')) as f:
        return json.load(f)


def fabric_nic(host):
    """(name, [ipv4 cidr]) of the NIC holding a fabric address."""
    for dev in json.loads(host.check_output('ip -j addr show')):
        v4 = ['%s/%s' % (a['local'], a['prefixlen']) for a in dev.get('addr_info', []) if a.get('family') == 'inet']
        if any(a.startswith(SUBNET_PREFIX) for a in v4):
            return dev, v4
    return None, []


def ipv4_gid_index(host):
    """The index of rxe1's first IPv4-mapped RoCE v2 GID, read from sysfs."""
    base = '/sys/class/infiniband/%s/ports/1' % RXE
    for i in range(16):
        gid = host.run('cat %s/gids/%d' % (base, i)).stdout.strip()
        kind = host.run('cat %s/gid_attrs/types/%d' % (base, i)).stdout.strip()
        if gid.startswith('0000:0000:0000:0000:0000:ffff:') and kind == 'RoCE v2':
            return i
    return None


@pytest.mark.parametrize('index,name', list(enumerate(NODES, 1)))
def test_fabric_nic_has_its_address_and_is_up(nodes, index, name):
    dev, v4 = fabric_nic(nodes[name])
    assert dev is not None, '%s has no address in %s0/24' % (name, SUBNET_PREFIX)
    assert v4 == ['%s%d/24' % (SUBNET_PREFIX, index)]
    assert 'UP' in dev['flags'] and dev['address'].startswith('02:')


@pytest.mark.parametrize('name', NODES)
def test_the_subnet_is_pinned_off_the_management_nic(nodes, name):
    routes = json.loads(nodes[name].check_output('ip -j route show'))
    assert any(r.get('type') == 'unreachable' and r.get('dst') == SUBNET_PREFIX + '0/24' for r in routes)
    # a fabric address never resolves through the default route
    got = nodes[name].check_output('ip -j route get %s99' % SUBNET_PREFIX)
    assert json.loads(got)[0].get('dev') != json.loads(nodes[name].check_output('ip -j route show default'))[0]['dev']


@pytest.mark.parametrize('name', NODES)
def test_rxe1_is_active_on_the_fabric_nic(nodes, name):
    dev, _v4 = fabric_nic(nodes[name])
    links = json.loads(nodes[name].check_output('rdma -j link show'))
    mine = [link for link in links if link.get('ifname') == RXE]  # rdma -j: ifname is the device, port apart
    assert mine and mine[0]['netdev'] == dev['ifname'] and mine[0]['state'] == 'ACTIVE'
    assert ipv4_gid_index(nodes[name]) is not None


@pytest.mark.parametrize('program', ['ibv_ud_pingpong', 'ibv_rc_pingpong'])
def test_cross_node_pingpong_run_by_the_verifier(nodes, program):
    server, client = nodes['fabnode2'], nodes['fabnode1']
    port = 18790 if 'ud' in program else 18791
    s_gid, c_gid = ipv4_gid_index(server), ipv4_gid_index(client)
    out = '/tmp/labkit-verify-%s' % program
    # the server in the background, bounded, detached from the ssh session; its exit status in a file
    server.run('rm -f %s.rc; setsid sh -c %s </dev/null >/dev/null 2>&1 &' % (out, _quote(
        'timeout 90 %s -d %s -g %d -p %d -n 100 >%s.out 2>&1; echo $? >%s.rc'
        % (program, RXE, s_gid, port, out, out))))
    c = client.run('for i in $(seq 30); do timeout 60 %s -d %s -g %d -p %d -n 100 %s2 && exit 0; sleep 1; done; exit 1'
                   % (program, RXE, c_gid, port, SUBNET_PREFIX))
    rc = server.run('timeout 60 sh -c %s' % _quote('until [ -s %s.rc ]; do sleep 1; done; cat %s.rc' % (out, out)))
    assert c.rc == 0, c.stdout + c.stderr
    assert rc.stdout.strip() == '0', server.run('cat %s.out' % out).stdout
    assert '100 iters' in c.stdout


def test_the_fabric_table_on_the_controller(report):
    assert [n['node'] for n in report['nodes']] == list(NODES)
    assert all(n['state'] == 'ACTIVE' and n['gid_index'] is not None for n in report['nodes'])
    assert {(p['client'], p['server'], p['transport']) for p in report['pairs']} == {
        ('fabnode1', 'fabnode2', 'ud'), ('fabnode1', 'fabnode2', 'rc')}
    assert report['failing_pairs'] == [] and all(p['usec_per_iter'] for p in report['pairs'])
    assert os.path.exists(os.path.join(STATE, 'reports', 'fabric.txt'))
