#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: fabric_switch
short_description: A user-space Ethernet switch of unix datagram sockets on the controller, for a fabric of more than two VMs
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - A QEMU C(dgram) netdev sends every frame to one remote socket, so two VMs with crossed sockets make a segment of
    two. For more nodes this module runs a switch on the controller, a detached Python process (standard library
    only) that binds one unix datagram socket per port, C(<socket_dir>/port-<port name>.sock), and forwards
    Ethernet frames between the ports. Each VM's fabric NIC has its own socket as C(local) and its port as
    C(remote) (M(labkit.ebpf_rdma.qemu_vm) option C(fabric)).
  - The switch learns the source MAC of each frame per port, sends a frame for a learned MAC to that port only, and
    floods broadcast, multicast and unknown destinations to every other port; a frame never goes back to the port it
    came from. A port takes frames only from its O(ports[].node_socket) and sends to it; a node whose socket is
    absent (its VM not started) or full drops its frames without stopping the switch.
  - Nothing leaves the controller; no root, no bridge, no multicast and no network address is used.
  - The files live in O(socket_dir) (created with mode 0700 when missing); C(<name>.json) the ports the switch
    runs with, C(<name>.py) the switch's code (a copy of the collection's C(module_utils/fabric_switch.py), so the
    process does not depend on the module's temporary directory), C(<name>.pid) its pid (locked while it runs, so a
    pidfile left by a killed switch counts as not running), C(<name>.log) what it did (ports, learned MACs, dropped
    frames; C(kill -USR1 <pid>) adds its counters and MAC table).
  - Runs on the controller (C(delegate_to) C(localhost) for the VMs' hosts).
options:
  name:
    description:
      - The switch's name, the stem of its files in O(socket_dir). One switch per socket directory (the port sockets'
        names do not carry it).
    type: str
    required: true
  socket_dir:
    description:
      - Directory of the port sockets and the switch's files, usually the VMs' fabric socket directory.
      - A unix socket path holds 107 bytes at most; a longer port socket path is refused.
    type: path
    required: true
  ports:
    description:
      - The ports, one per VM. Required with O(state=started); with O(state=stopped) or O(state=absent) the running
        switch's own list is used.
      - With O(state=started), a running switch with the same ports (and the same code) is left alone; other ports
        restart it (RV(restarted), the reason in RV(actions)). The VMs' QEMU send to the port's path on every frame,
        so running VMs reach the new switch as soon as it is bound.
    type: list
    elements: dict
    suboptions:
      name:
        description: The port's name (the VM's name); its socket is C(<socket_dir>/port-<name>.sock).
        type: str
        required: true
      node_socket:
        description: Absolute path of the VM's own socket (its fabric NIC's C(local)), where the port sends.
        type: path
        required: true
  state:
    description:
      - V(started) starts the switch (or restarts it with new ports); V(stopped) stops it (SIGTERM, then SIGKILL after
        O(stop_timeout)) and keeps its files; V(absent) stops it and removes its files and port sockets.
    type: str
    choices: [started, stopped, absent]
    default: started
  stop_timeout:
    description: Seconds to wait for the switch to end after SIGTERM before it is killed.
    type: int
    default: 10
notes:
  - The switch runs under the Python interpreter that runs this module on the controller.
  - Under TCG each VM's QEMU already takes a core; the switch adds one process that sleeps between frames.
seealso:
  - module: labkit.ebpf_rdma.qemu_vm
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: the diff is the switch's port list (C(<name>.json)).
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: A switch for three VMs (each VM's fabric remote is its port, socket_dir/port-<vm>.sock)
  labkit.ebpf_rdma.fabric_switch:
    name: labkit_fabric
    socket_dir: "{{ labkit_fabric_socket_dir }}"
    ports:
      - {name: fabnode1, node_socket: "{{ labkit_fabric_socket_dir }}/fabnode1.sock"}
      - {name: fabnode2, node_socket: "{{ labkit_fabric_socket_dir }}/fabnode2.sock"}
      - {name: fabnode3, node_socket: "{{ labkit_fabric_socket_dir }}/fabnode3.sock"}
  delegate_to: localhost
  run_once: true

- name: Remove the switch and its files
  labkit.ebpf_rdma.fabric_switch:
    name: labkit_fabric
    socket_dir: "{{ labkit_fabric_socket_dir }}"
    state: absent
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
running:
  description: Whether the switch runs after the task (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
pid:
  description: The switch's process id; null when it does not run (and in check mode for a switch that would start).
  returned: always
  type: int
  sample: 41235
restarted:
  description: Whether a running switch was (or in check mode would be) restarted for other ports or newer code.
  returned: always
  type: bool
  sample: false
ports:
  description: The ports, each with C(name), C(socket) (the switch's socket, the VM's C(remote)) and C(node_socket).
  returned: always
  type: list
  elements: dict
  sample: [{name: fabnode1, socket: /home/u/.local/state/labkit-ebpf_rdma/fabric/port-fabnode1.sock,
            node_socket: /home/u/.local/state/labkit-ebpf_rdma/fabric/fabnode1.sock}]
pidfile:
  description: The switch's pidfile.
  returned: always
  type: str
  sample: /home/u/.local/state/labkit-ebpf_rdma/fabric/labkit_fabric.pid
log:
  description: The switch's log.
  returned: always
  type: str
  sample: /home/u/.local/state/labkit-ebpf_rdma/fabric/labkit_fabric.log
actions:
  description: What was done (or would be, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ['restart the switch labkit_fabric: its ports fabnode1, fabnode2 become fabnode1, fabnode2, fabnode3']
'''

import json
import os
import re
import signal
import stat
import sys
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fabric_switch as switch_utils
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, apply_actions, file_change, read_file_state, read_text, result_for)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.fabric import UNIX_PATH_MAX

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')


def switch_source():
    """The switch's code, to be written next to its sockets (from the module's payload, zipped or not)."""
    loader = getattr(switch_utils, '__loader__', None)
    source = None
    if loader is not None and hasattr(loader, 'get_source'):
        try:
            source = loader.get_source(switch_utils.__name__)
        except (ImportError, IOError, OSError):
            source = None
    if not source:
        path = switch_utils.__file__
        if path.endswith('.pyc'):
            path = path[:-1]
        source = read_text(path)
    return source


def files(p):
    base = os.path.join(p['socket_dir'], p['name'])
    return dict(config=base + '.json', script=base + '.py', pidfile=base + '.pid', log=base + '.log')


def want_ports(socket_dir, ports):
    return [dict(name=port['name'], socket=switch_utils.port_socket(socket_dir, port['name']),
                 node_socket=port['node_socket']) for port in ports]


def options_problem(p):
    """What is wrong with the options, or None."""
    if not NAME_RE.match(p['name']):
        return ('name=%r is not a switch name: letters, digits, "_", "." and "-", starting with a letter or digit'
                % p['name'])
    if not os.path.isabs(p['socket_dir']):
        return 'socket_dir=%r is not an absolute path (labkit_fabric_socket_dir)' % p['socket_dir']
    if p['state'] != 'started':
        return None
    ports = p['ports'] or []
    if len(ports) < 2:
        return ('the switch needs two ports or more (one per VM of the fabric), got %d; give ports as a list of '
                '{name, node_socket}' % len(ports))
    names, paths = set(), set()
    for port in want_ports(p['socket_dir'], ports):
        if not NAME_RE.match(port['name']):
            return ('port name %r is not usable in a socket name: letters, digits, "_", "." and "-", starting with a '
                    'letter or digit (the VM\'s name)' % port['name'])
        if port['name'] in names:
            return 'port %s is given twice; one port per VM' % port['name']
        names.add(port['name'])
        if not os.path.isabs(port['node_socket']):
            return ('port %s: node_socket=%r is not an absolute path; give the VM\'s own fabric socket (its '
                    'local_vm_fabric local)' % (port['name'], port['node_socket']))
        for path in (port['socket'], port['node_socket']):
            if len(path.encode('utf-8')) > UNIX_PATH_MAX:
                return ('port %s: the socket path %s is longer than a unix socket path can be (%d bytes); choose a '
                        'shorter socket directory (labkit_fabric_socket_dir)' % (port['name'], path, UNIX_PATH_MAX))
            if re.search(r'[\x00-\x1f\x7f]', path):
                return 'port %s: the socket path %r holds a control character; use a plain path' % (port['name'], path)
            if path in paths:
                return ('port %s: the socket %s is used twice (a node socket must not be another port\'s socket '
                        'nor another node\'s)' % (port['name'], path))
            paths.add(path)
    return None


def config_text(p, ports, paths):
    return json.dumps(dict(name=p['name'], pidfile=paths['pidfile'], log=paths['log'], ports=ports),
                      indent=2, sort_keys=True) + '\n'


def port_names(text):
    try:
        return ', '.join(port['name'] for port in json.loads(text)['ports'])
    except (ValueError, KeyError, TypeError):
        return 'unknown'


def plan(p, paths, pid, config_state, script_text, source):
    """The actions that bring the switch to ``p['state']`` (a pure function of what was read).

    ``pid``: the running switch's pid (0 when its pidfile is locked but holds no pid) or None;
    ``config_state``: read_file_state of its config; ``script_text``: its script's text or None.
    Returns ``(actions, restarted)``.
    """
    running = pid is not None
    actions = []
    if p['state'] == 'started':
        ports = want_ports(p['socket_dir'], p['ports'])
        write_config = file_change(paths['config'], config_state, config_text(p, ports, paths), 0o600,
                                   'write the ports of the switch %s (%s)' % (p['name'], paths['config']))
        write_script = None if script_text == source else Action(
            'write_script', paths['script'], 'write the switch\'s code %s' % paths['script'], after=source)
        restarted = running and bool(write_config or write_script)
        if restarted:
            why = ('its ports %s become %s' % (port_names(config_state[0] or ''), ', '.join(x['name'] for x in ports))
                   if write_config else 'its code changed (a newer collection)')
            actions.append(Action('stop', str(pid), 'restart the switch %s: %s' % (p['name'], why)))
        actions += [a for a in (write_config, write_script) if a]
        if not running or restarted:
            stale = ''
            if os.path.exists(paths['pidfile']) and not restarted:
                stale = ' (its pidfile %s is stale: pid %s does not hold it)' % (
                    paths['pidfile'], switch_utils.read_pid(paths['pidfile']))
            actions.append(Action('start', paths['script'], 'start the switch %s with ports %s%s' % (
                p['name'], ', '.join(x['name'] for x in ports), stale)))
        return actions, restarted
    if running:
        actions.append(Action('stop', str(pid), 'stop the switch %s (pid %s)' % (p['name'], pid)))
    if p['state'] == 'absent':
        for port in config_ports(config_state[0]):
            if os.path.lexists(port['socket']) or running:
                actions.append(Action('remove_socket', port['socket'], 'remove the port socket %s' % port['socket']))
        if config_state[0] is not None:
            actions.append(Action('remove_file', paths['config'], 'remove %s' % paths['config'],
                                  before=config_state[0], after=''))
        for path in (paths['script'], paths['pidfile'], paths['log'], paths['log'] + '.1'):
            if os.path.lexists(path) or (path == paths['pidfile'] and running):
                actions.append(Action('remove_path', path, 'remove %s' % path))
    return actions, False


def config_ports(text):
    try:
        ports = json.loads(text or '')['ports']
        return [dict(name=x['name'], socket=x['socket'], node_socket=x['node_socket']) for x in ports]
    except (ValueError, KeyError, TypeError):
        return []


class Runner(object):
    def __init__(self, module, paths):
        self.module = module
        self.paths = paths
        self.pid = None

    def __call__(self, action):
        if action.kind == 'mkdir':
            if not os.path.isdir(action.target):
                os.makedirs(action.target, 0o700)
        elif action.kind == 'write_script':
            fd = os.open(action.target + '.new', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(action.after)
            os.rename(action.target + '.new', action.target)
        elif action.kind == 'stop':
            self.stop(int(action.target))
        elif action.kind == 'start':
            self.start()
        elif action.kind == 'remove_socket':
            path = action.target
            if os.path.lexists(path) and stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        elif action.kind == 'remove_path':
            if os.path.lexists(action.target):
                os.unlink(action.target)
        else:
            raise ValueError('fabric_switch has no runner for action kind %r' % action.kind)

    def start(self):
        argv = [sys.executable, self.paths['script'], '--daemon', self.paths['config']]
        rc, out, err = self.module.run_command(argv)
        words = (out or '').split()
        if rc != 0 or len(words) != 2 or words[0] != 'started' or not words[1].isdigit():
            self.module.fail_json(
                msg='the fabric switch did not start: %s. Fix what it names (a path in the socket directory that is '
                    'not a socket, a port held by another process) and run again; its log is %s'
                    % ((err or out or 'no output').strip(), self.paths['log']),
                cmd=argv, rc=rc, stdout=out, stderr=err)
        self.pid = int(words[1])

    def stop(self, pid):
        pidfile = self.paths['pidfile']
        timeout = self.module.params['stop_timeout']
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if wait_released(pidfile, timeout):
            return
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not wait_released(pidfile, 5):
            self.module.fail_json(msg='the fabric switch (pid %s, pidfile %s) did not end after SIGTERM and SIGKILL; '
                                      'end it by hand (kill %s) and run again' % (pid, pidfile, pid))
        # killed: it could not remove its own sockets and pidfile
        for port in config_ports(read_text(self.paths['config'])):
            if os.path.lexists(port['socket']) and stat.S_ISSOCK(os.lstat(port['socket']).st_mode):
                os.unlink(port['socket'])
        if os.path.lexists(pidfile):
            os.unlink(pidfile)


def wait_released(pidfile, timeout, step=0.05):
    deadline = time.time() + timeout
    while switch_utils.pidfile_holder(pidfile) is not None:
        if time.time() >= deadline:
            return False
        time.sleep(step)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            socket_dir=dict(type='path', required=True),
            ports=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                node_socket=dict(type='path', required=True),
            )),
            state=dict(type='str', default='started', choices=['started', 'stopped', 'absent']),
            stop_timeout=dict(type='int', default=10),
        ),
        required_if=[('state', 'started', ['ports'])],
        supports_check_mode=True,
    )
    p = module.params
    problem = options_problem(p)
    if problem:
        module.fail_json(msg=problem)
    if not 0 <= p['stop_timeout'] <= 3600:
        module.fail_json(msg='stop_timeout=%d is not a number of seconds from 0 to 3600' % p['stop_timeout'])
    paths = files(p)
    if os.path.lexists(p['socket_dir']) and not os.path.isdir(p['socket_dir']):
        module.fail_json(msg='socket_dir %s exists and is not a directory; remove it or choose another socket '
                             'directory (labkit_fabric_socket_dir)' % p['socket_dir'])
    pid = switch_utils.pidfile_holder(paths['pidfile']) if os.path.isdir(p['socket_dir']) else None
    config_state = read_file_state(paths['config'])
    source = switch_source() if p['state'] == 'started' else None
    if p['state'] == 'started' and not source:
        module.fail_json(msg='cannot read the switch\'s code (module_utils/fabric_switch.py) from the module\'s '
                             'payload; reinstall the collection labkit.ebpf_rdma')
    actions, restarted = plan(p, paths, pid, config_state, read_text(paths['script']), source)
    if p['state'] == 'started' and not os.path.isdir(p['socket_dir']):
        actions.insert(0, Action('mkdir', p['socket_dir'], 'create the socket directory %s' % p['socket_dir']))
    runner = Runner(module, paths)
    apply_actions(module, actions, runner)
    will_run = p['state'] == 'started'
    if will_run:
        ports = want_ports(p['socket_dir'], p['ports'])
        new_pid = runner.pid if runner.pid is not None else (None if module.check_mode and actions else pid)
    else:
        ports = config_ports(config_state[0])
        new_pid = None
    if module.check_mode and not will_run:
        new_pid = None
    module.exit_json(**result_for(module, actions, running=will_run, pid=new_pid or None, restarted=restarted,
                                  ports=ports, pidfile=paths['pidfile'], log=paths['log']))


if __name__ == '__main__':
    main()
