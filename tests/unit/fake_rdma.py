# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fake soft-RoCE host for the rxe_link tests: rdma links, sysfs and systemd that act like the real ones.

:class:`FakeRdmaHost` keeps a link table (``rdma -j link show`` answers from it, ``rdma link add``
and ``rdma link delete`` change it and the sysfs tree under ``HOST_ROOT``) and systemd units with
their enabled and active states. As on a real host, stopping an active ``labkit-rxe@NAME.service``
(``systemctl stop``, ``systemctl disable --now``) runs its ``ExecStop``, which deletes link NAME;
``systemctl disable`` without ``--now`` leaves the unit running. :meth:`reboot` drops the links and
``/run``, then starts the enabled units (their ``ExecStart`` re-creates the link from
``/etc/labkit/rxe/NAME.conf``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil

from conftest import FIXTURES, FakeCommands, FakeHost, fixture_text

RDMA = '/usr/bin/rdma'
SYSTEMCTL = '/usr/bin/systemctl'
MODPROBE = '/usr/bin/modprobe'
REL = '6.1.0-50-amd64'
TREE = os.path.join(FIXTURES, 'rdma', 'sysfs-rxe0-rxe1')
WANTS = '/etc/systemd/system/multi-user.target.wants/'
# Commands that change the host (everything else the module runs only reads).
MUTATING = ('add', 'delete', 'daemon-reload', 'enable', 'disable', 'start', 'stop', 'rdma_rxe')


def unit_link(unit):
    """'labkit-rxe@rxe0.service' -> 'rxe0'; None for other units."""
    if unit.startswith('labkit-rxe@') and unit.endswith('.service'):
        return unit[len('labkit-rxe@'):-len('.service')]
    return None


class FakeRdmaHost(FakeHost):
    """The host tree (a copy of the captured sysfs, ``HOST_ROOT``) plus the fake tools."""

    def __init__(self, root, links=(('rxe0', 'ens3'), ('rxe1', 'dummy0'))):
        super(FakeRdmaHost, self).__init__(root)
        shutil.copytree(TREE, self.root)
        self.template = dict((e['ifname'], e) for e in json.loads(fixture_text('rdma/rdma-link-show-rxe0-rxe1.json')))
        self.table = []  # rdma -j link show entries, in creation order
        self.active = set()  # active units
        for name in os.listdir(self.path('/sys/class/infiniband')):
            shutil.rmtree(self.path('/sys/class/infiniband/' + name))
        for name, netdev in links:
            self.add_link(name, netdev)
        os.makedirs(self.path('/sys/module/rdma_rxe'))
        os.makedirs(self.path('/run/systemd/system'))
        self.write('/lib/modules/%s/modules.dep' % REL, fixture_text('rdma/modules.dep'))
        self.write('/lib/modules/%s/modules.builtin' % REL, fixture_text('rdma/modules.builtin'))
        self.help_text = fixture_text('rdma/rdma-link-help.txt')
        self.commands = FakeCommands({
            (RDMA, '-j', 'link', 'show'): lambda a, **kw: (0, json.dumps(self.table), ''),
            (RDMA, 'link', 'help'): lambda a, **kw: (0, self.help_text, ''),
            ('/usr/bin/ip', '-j', 'route', 'show', 'default'): (0, fixture_text('rdma/ip-route-default.json'), ''),
            lambda a: a[:3] == (RDMA, 'link', 'add'): self._rdma_add,
            lambda a: a[:3] == (RDMA, 'link', 'delete'): self._rdma_delete,
            lambda a: a[:1] == (SYSTEMCTL,): self._systemctl,
            (MODPROBE, 'rdma_rxe'): self._modprobe,
        })

    # ---- files (path, exists, read from FakeHost)
    def write(self, p, text):
        super(FakeRdmaHost, self).write(p, text)
        os.chmod(self.path(p), 0o644)

    def snapshot(self):
        """Every file (and symlink target) under /etc and /run/labkit, for "nothing was written" checks."""
        out = {}
        for top in ('/etc', '/run/labkit'):
            for d, _dirs, files in os.walk(self.path(top)):
                for f in files:
                    full = os.path.join(d, f)
                    out[full] = os.readlink(full) if os.path.islink(full) else open(full).read()
        return out

    # ---- links
    def links(self):
        return dict((e['ifname'], e['netdev']) for e in self.table)

    def add_link(self, name, netdev):
        entry = dict(self.template['rxe0'], ifname=name, netdev=netdev, ifindex=len(self.table))
        self.table.append(entry)
        dev = self.path('/sys/class/infiniband/' + name)
        shutil.copytree(os.path.join(TREE, 'sys/class/infiniband/rxe0'), dev)
        with open(os.path.join(dev, 'parent'), 'w') as f:
            f.write(netdev + '\n')

    def delete_link(self, name):
        self.table = [e for e in self.table if e['ifname'] != name]
        shutil.rmtree(self.path('/sys/class/infiniband/' + name))

    def _rdma_add(self, argv, **kw):
        name, netdev = argv[3], argv[7]
        if name in self.links() or netdev in self.links().values():
            return 1, '', 'error: File exists\n'
        self.add_link(name, netdev)
        return 0, '', ''

    def _rdma_delete(self, argv, **kw):
        if argv[3] not in self.links():
            return 1, '', 'error: No such device\n'
        self.delete_link(argv[3])
        return 0, '', ''

    def _modprobe(self, argv, **kw):
        if not os.path.isdir(self.path('/sys/module/rdma_rxe')):
            os.makedirs(self.path('/sys/module/rdma_rxe'))
        return 0, '', ''

    # ---- systemd
    def enabled(self, unit):
        return self.exists(WANTS + unit)

    def start(self, unit):
        name = unit_link(unit)
        if unit in self.active:
            return
        self.active.add(unit)
        conf = '/etc/labkit/rxe/%s.conf' % name
        if name and self.exists(conf) and name not in self.links():  # ExecStart
            netdev = [line.split('=', 1)[1] for line in self.read(conf).splitlines() if line.startswith('NETDEV=')]
            self.add_link(name, netdev[0])

    def stop(self, unit):
        name = unit_link(unit)
        if unit not in self.active:
            return
        self.active.discard(unit)
        if name and name in self.links():  # ExecStop: rdma link delete NAME
            self.delete_link(name)

    def _systemctl(self, argv, **kw):
        verb, rest = argv[1], list(argv[2:])
        now = '--now' in rest
        units = [u for u in rest if not u.startswith('-')]
        if verb == 'daemon-reload':
            return 0, '', ''
        for unit in units:
            if verb == 'enable':
                if not self.enabled(unit):
                    if not os.path.isdir(self.path(WANTS)):
                        os.makedirs(self.path(WANTS))
                    os.symlink('/etc/systemd/system/labkit-rxe@.service', self.path(WANTS + unit))
                if now:
                    self.start(unit)
            elif verb == 'disable':
                if self.enabled(unit):
                    os.unlink(self.path(WANTS + unit))
                if now:
                    self.stop(unit)
            elif verb == 'start':
                self.start(unit)
            elif verb == 'stop':
                self.stop(unit)
            else:
                raise AssertionError('fake systemctl does not know %r' % (argv,))
        return 0, '', ''

    def reboot(self):
        """Links and /run are gone; systemd starts the enabled units (ExecStart re-creates their links)."""
        for name in list(self.links()):
            self.delete_link(name)
        self.active = set()
        if self.exists('/run/labkit'):
            shutil.rmtree(self.path('/run/labkit'))
        wants = self.path(WANTS)
        for unit in sorted(os.listdir(wants)) if os.path.isdir(wants) else []:
            self.start(unit)

    # ---- what ran
    def mutations(self):
        return [c for c in self.commands.calls if any(m in c for m in MUTATING) and c[-1] != 'help']
