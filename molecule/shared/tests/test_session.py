# SPDX-License-Identifier: GPL-3.0-or-later
"""The locked-memory limit seen through the SSH connection the converge used.

A login session reads its limits (pam_limits) only when it starts, and Ansible
keeps one SSH session open per host (ControlMaster/ControlPersist) for every
task of a run and for ad-hoc commands after it. The roles reset that connection
when they change the limit; without it, this connection still answers the
limit of the session opened before the change (the issue: 251516 KiB instead of
unlimited). The test finds the control master the converge (and the runs after
it) left, runs an ad-hoc `ansible` command through it, and checks that the same
master served it.

Needs the provisioner's ssh_args to keep the master alive until verify
(ControlPersist in .config/molecule/config.yml).
"""

import configparser
import glob
import hashlib
import os
import re
import subprocess
import sys

import pytest
import yaml

EPHEMERAL = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '')
WANT = os.environ.get('LABKIT_VERIFY_MEMLOCK', 'unlimited')


def vm_inventory():
    paths = glob.glob(os.path.join(EPHEMERAL, 'state', 'labkit-ebpf_rdma', 'vms', '*', 'inventory.yml'))
    if len(paths) != 1:
        pytest.fail('expected one VM inventory under %s/state/labkit-ebpf_rdma/vms, found %s' % (EPHEMERAL, paths))
    with open(paths[0]) as f:
        hosts = yaml.safe_load(f)['all']['children']['labkit_vms']['hosts']
    (name, conn), = hosts.items()
    return paths[0], name, conn


def control_path(conn):
    """The ControlPath Ansible's ssh connection gives ssh (which expands any %h %p %r %C left in it)."""
    cfg = configparser.RawConfigParser()
    if os.environ.get('ANSIBLE_CONFIG'):
        cfg.read(os.environ['ANSIBLE_CONFIG'])
    section = dict(cfg.items('ssh_connection')) if cfg.has_section('ssh_connection') else {}
    # unset: ansible-core names it after a hash of host-port-user (ssh.py _create_control_path)
    digest = hashlib.sha1(('%s-%s-%s' % (conn['ansible_host'], conn['ansible_port'], conn['ansible_user']))
                          .encode()).hexdigest()[:10]
    template = os.environ.get('ANSIBLE_SSH_CONTROL_PATH') or section.get('control_path') or '%(directory)s/' + digest
    directory = (os.environ.get('ANSIBLE_SSH_CONTROL_PATH_DIR') or section.get('control_path_dir')
                 or '~/.ansible/cp')
    return template % {'directory': os.path.expanduser(directory)}


def master_pid(conn, path):
    res = subprocess.run(['ssh', '-O', 'check', '-o', 'ControlPath=%s' % path, '-p', str(conn['ansible_port']),
                          '-l', conn['ansible_user'], conn['ansible_host']],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=30, check=False)
    m = re.search(r'Master running \(pid=(\d+)\)', res.stderr)
    return int(m.group(1)) if res.returncode == 0 and m else None


def test_memlock_through_the_reused_connection():
    inventory, name, conn = vm_inventory()
    path = control_path(conn)
    before = master_pid(conn, path)
    assert before, ('no SSH control master of the converge is left at %s (ControlPath of the provisioner): run '
                    'verify in the scenario sequence, right after converge/idempotence/side_effect, with the '
                    'ControlPersist of .config/molecule/config.yml' % path)
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    res = subprocess.run([ansible if os.path.exists(ansible) else 'ansible', name, '-i', inventory, '-o',
                          '-m', 'ansible.builtin.command', '-a', "sh -c 'ulimit -l'"],
                         # Molecule forces colour for its own output; the answer is read as plain text
                         env=dict(os.environ, ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1'),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r'\(stdout\) ([^\s\x1b]+)', res.stdout)
    assert m, res.stdout
    after = master_pid(conn, path)
    assert after == before, ('the ad-hoc command did not go through the converge\'s control master %s (pid %s, '
                             'now %s): the test proves nothing' % (path, before, after))
    assert m.group(1) == WANT, ('ulimit -l through the connection the converge used is %s, not %s: the session was '
                                'opened before the limit was written and never reset' % (m.group(1), WANT))
