#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: rxe_link
short_description: Manage one soft-RoCE (rdma_rxe) link, now and at boot
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Creates or removes one soft-RoCE link (an RDMA device driven by C(rdma_rxe) on top of an Ethernet
    netdev) with C(rdma link add NAME type rxe netdev NETDEV) / C(rdma link delete NAME).
  - Reads the current links from C(rdma -j link show) (queried with jmespath) and each device's driver
    from C(/sys/class/infiniband/NAME); only rxe devices count as soft-RoCE links.
  - Validates before changing anything; the netdev must exist, be Ethernet (not C(lo), not a bridge) and
    have carrier, must not carry another soft-RoCE link already, and a link named O(name) must not exist
    on another netdev. Loads C(rdma_rxe) when it is missing (O(load_module)).
  - With O(persistent=true) the link (and the loading of C(rdma_rxe)) comes back after a reboot, through
    a systemd unit; see the notes.
options:
  name:
    description:
      - Name of the RDMA device, for example V(rxe0).
      - Letters, digits, C(_), C(.) and C(-), starting with a letter or digit, at most 63 characters.
    type: str
    required: true
  netdev:
    description:
      - The Ethernet netdev the link runs on.
      - Default with O(state=present) is the netdev of the existing link named O(name), else the device of the
        default route (from C(ip -j route show default), the lowest metric wins).
      - With O(state=absent), when given, the link is removed only if it is on this netdev (a safety check).
    type: str
  state:
    description:
      - V(present) makes sure the link exists on O(netdev); V(absent) removes the link and the persistence
        files this module wrote for it.
    type: str
    choices: [present, absent]
    default: present
  persistent:
    description:
      - With V(true), make the link (and the loading of C(rdma_rxe)) survive a reboot.
      - With V(false), remove the persistence files this module wrote for this link (the link itself stays).
      - Ignored with O(state=absent), which always removes this link's persistence.
    type: bool
    default: false
  load_module:
    description:
      - Load C(rdma_rxe) with C(modprobe) when it is not loaded (and, with O(persistent=true), list it in
        C(/etc/modules-load.d/labkit-rdma_rxe.conf)).
      - With V(false) a missing C(rdma_rxe) is an error.
    type: bool
    default: true
  require_carrier:
    description:
      - Refuse a netdev without carrier (its soft-RoCE port would stay DOWN). V(false) creates the link anyway,
        for a netdev that gets its carrier later.
    type: bool
    default: true
  wait_timeout:
    description:
      - After creating the link, wait up to this many seconds for its port to become ACTIVE. The module does
        not fail when it does not (it warns and returns the state); V(0) does not wait.
    type: int
    default: 10
notes:
  - "Why a systemd unit and not a udev rule for persistence: the link must be created after C(rdma_rxe) is
    loaded and after its netdev exists under its final name. systemd expresses both (C(After=) the modules-load
    service, C(BindsTo=)/C(After=) the netdev's C(sys-subsystem-net-devices-NETDEV.device), and
    C(network-online.target)), shows failures in C(systemctl status)/the journal, and the unit can be started by
    hand to re-create a link. A udev C(RUN+=) program runs in udev's sandbox with a short timeout, before or while
    the netdev is renamed and before modules-load, and its failures are easy to miss; rdma-core ships no
    persistence for soft-RoCE either way."
  - "Files written for O(persistent=true) (they are also the record of what this module created: on a shared host
    it removes only links and files it is asked to and only files that carry its name):
    C(/etc/labkit/rxe/NAME.conf) (the netdev, read by the unit as its EnvironmentFile),
    C(/etc/systemd/system/labkit-rxe@.service) (a template shared by all links, removed with the last link),
    C(/etc/systemd/system/labkit-rxe@NAME.service.d/10-labkit-netdev.conf) (orders the instance after its netdev),
    C(/etc/modules-load.d/labkit-rdma_rxe.conf) (removed with the last link); then
    C(systemctl enable labkit-rxe@NAME.service)."
  - "The unit is idempotent: C(ExecStart) does nothing when C(rdma link show NAME/1) already finds the link, so
    restarting it or running it after the module created the link does not fail. C(ExecStop) deletes the link."
  - "C(rdma link show NAME) (without C(/PORT)) exits 1 even when the link exists on some iproute2 releases (Debian 12
    and 13); this module reads C(rdma -j link show) and filters it."
  - "C(rdma link add) needs iproute2 5.1 or later (checked with C(rdma link help)); the old sysfs C(rdma_rxe)
    C(add) parameter was removed in kernel 5.17 and C(rxe_cfg) is gone from rdma-core, so neither is used."
  - "Cloud kernels may lack C(rdma_rxe) (Ubuntu ships it in C(linux-modules-extra-RELEASE)); the error names the
    package for the running kernel release."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows every persistence file written or removed.
  platform:
    platforms: linux
seealso:
  - module: labkit.ebpf_rdma.rdma_facts
'''

EXAMPLES = r'''
- name: Soft-RoCE link rxe0 on the default-route netdev, now and at boot
  labkit.ebpf_rdma.rxe_link:
    name: rxe0
    persistent: true
  become: true

- name: A second link on a dummy netdev
  labkit.ebpf_rdma.rxe_link:
    name: rxe1
    netdev: dummy0
    persistent: true
  become: true

- name: Remove rxe1 and its boot-time unit (only if it is on dummy0)
  labkit.ebpf_rdma.rxe_link:
    name: rxe1
    netdev: dummy0
    state: absent
  become: true
'''

RETURN = r'''
name:
  description: The link (RDMA device) name.
  returned: always
  type: str
  sample: rxe0
netdev:
  description: The netdev of the link (the one given, the default route's, or with O(state=absent) the one it was on); null when unknown.
  returned: always
  type: str
  sample: ens3
link:
  description:
    - The link as C(rdma -j link show) reports it after the run; null when it does not exist (or, in check mode,
      would be created).
  returned: always
  type: dict
  contains:
    port:
      description: Port number.
      type: int
      sample: 1
    state:
      description: Port state.
      type: str
      sample: ACTIVE
    physical_state:
      description: Physical port state.
      type: str
      sample: LINK_UP
    netdev:
      description: The netdev.
      type: str
      sample: ens3
persistent_files:
  description: The persistence files of this link after the run (in check mode, as they would be).
  returned: always
  type: list
  elements: str
  sample:
    - /etc/labkit/rxe/rxe0.conf
    - /etc/systemd/system/labkit-rxe@.service
    - /etc/systemd/system/labkit-rxe@rxe0.service.d/10-labkit-netdev.conf
    - /etc/modules-load.d/labkit-rdma_rxe.conf
unit:
  description: The systemd unit that re-creates the link at boot.
  returned: always
  type: str
  sample: labkit-rxe@rxe0.service
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample:
    - modprobe rdma_rxe
    - rdma link add rxe0 type rxe netdev ens3
diff:
  description: Before/after of every persistence file written or removed (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
'''

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action,
    apply_actions,
    file_change,
    file_removal,
    host_path,
    kernel_release,
    read_file_state,
    read_text,
    result_for,
    run_checked,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.netdev import (
    netdev_facts,
    netdev_problem,
    parse_default_route,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.rdma import (
    RXE_MODULE,
    find_links,
    link_help_supports_add,
    module_builtin,
    module_in_dep,
    parse_rdma_links,
    read_ib_device,
)

CONF_DIR = '/etc/labkit/rxe'
UNIT_DIR = '/etc/systemd/system'
TEMPLATE = UNIT_DIR + '/labkit-rxe@.service'
MODULES_LOAD = '/etc/modules-load.d/labkit-rdma_rxe.conf'
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')


class PlanError(Exception):
    """Bad input or a state the module must not touch; the message says what, why and the fix."""


def unit_name(name):
    return 'labkit-rxe@%s.service' % name


def conf_path(name):
    return '%s/%s.conf' % (CONF_DIR, name)


def dropin_dir(name):
    return '%s/%s.d' % (UNIT_DIR, unit_name(name))


def dropin_path(name):
    return dropin_dir(name) + '/10-labkit-netdev.conf'


def wants_path(name):
    return '%s/multi-user.target.wants/%s' % (UNIT_DIR, unit_name(name))


def systemd_escape(text):
    """systemd-escape for a netdev name (no '/' in netdev names)."""
    out = []
    for i, ch in enumerate(text):
        if ch.isalnum() and ord(ch) < 128 or ch in ':_' or (ch == '.' and i > 0):
            out.append(ch)
        else:
            out.append('\\x%02x' % ord(ch))
    return ''.join(out)


def device_unit(netdev):
    return 'sys-subsystem-net-devices-%s.device' % systemd_escape(netdev)


def render_conf(name, netdev):
    return ('# Managed by labkit.ebpf_rdma.rxe_link: soft-RoCE link %s on %s.\n'
            '# This file is the record that labkit created the link; rxe_link state=absent removes it.\n'
            'RXE_NAME=%s\nNETDEV=%s\n' % (name, netdev, name, netdev))


def render_template(rdma, modprobe):
    return '\n'.join([
        '# Managed by labkit.ebpf_rdma.rxe_link: one instance per soft-RoCE link.',
        '# labkit-rxe@NAME.service reads NETDEV from /etc/labkit/rxe/NAME.conf; a drop-in per',
        '# instance orders it after its netdev. Starting it when the link exists does nothing.',
        '[Unit]',
        'Description=labkit soft-RoCE link %i',
        'After=systemd-modules-load.service network-online.target',
        'Wants=network-online.target',
        'ConditionPathExists=/etc/labkit/rxe/%i.conf',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        'EnvironmentFile=/etc/labkit/rxe/%i.conf',
        'ExecStartPre=-{modprobe} {mod}'.format(modprobe=modprobe, mod=RXE_MODULE),
        ("ExecStart=/bin/sh -c 'if {rdma} link show \"$$1/1\" >/dev/null 2>&1; then echo \"$$1 is already present\"; "
         "else exec {rdma} link add \"$$1\" type rxe netdev \"$$2\"; fi' labkit-rxe %i ${{NETDEV}}").format(rdma=rdma),
        ("ExecStop=/bin/sh -c '! {rdma} link show \"$$1/1\" >/dev/null 2>&1 || exec {rdma} link delete \"$$1\"' "
         "labkit-rxe %i").format(rdma=rdma),
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
    ])


def render_dropin(name, netdev):
    dev = device_unit(netdev)
    return ('# Managed by labkit.ebpf_rdma.rxe_link: start %s once %s exists.\n'
            '[Unit]\nBindsTo=%s\nAfter=%s\n' % (unit_name(name), netdev, dev, dev))


def render_modules_load():
    return '# Managed by labkit.ebpf_rdma.rxe_link: soft-RoCE links need rdma_rxe at boot.\n%s\n' % RXE_MODULE


def _rxe_links(state, links):
    return [link for link in links if state['drivers'].get(link['name']) == 'rxe']


def plan(params, state):
    """Pure: (module params with the netdev resolved, current state) -> list of Action; raises PlanError."""
    name = params['name']
    netdev = params['netdev']
    links = state['links']
    rdma = state['rdma_path']
    systemctl = state['systemctl_path']
    existing = find_links(links, name=name)
    existing = existing[0] if existing else None
    actions = []

    if existing is not None and state['drivers'].get(name) != 'rxe':
        raise PlanError(
            'RDMA device %s exists and is not a soft-RoCE (rxe) link (driver %s); this module manages rxe links only. '
            'Pick another name' % (name, state['drivers'].get(name) or 'unknown'))
    if existing is not None and netdev and existing['netdev'] != netdev:
        if params['state'] == 'present':
            raise PlanError(
                'soft-RoCE link %s already exists on netdev %s, not on %s; it is not re-created silently. '
                'Remove it first (rxe_link name=%s state=absent) or pick another name for the link on %s'
                % (name, existing['netdev'], netdev, name, netdev))
        raise PlanError(
            'soft-RoCE link %s is on netdev %s, not on %s as given; nothing was removed. '
            'Give netdev=%s (or leave netdev out) to remove it' % (name, existing['netdev'], netdev, existing['netdev']))

    files = state['files']
    other_confs = [c for c in state['labkit_confs'] if c != name]

    if params['state'] == 'present':
        others = [link for link in _rxe_links(state, find_links(links, netdev=netdev)) if link['name'] != name]
        if existing is None and others:
            other = others[0]['name']
            raise PlanError(
                'netdev %s already has a soft-RoCE link named %s; a netdev carries at most one and a second is '
                'not created. Use name=%s, or remove %s first' % (netdev, other, other, other))
        if existing is None:
            problem = netdev_problem(state['netdev_facts'])
            if problem and not (not params['require_carrier'] and state['netdev_facts']['exists']
                                and problem.startswith('netdev %s has no carrier' % netdev)):
                raise PlanError('cannot create soft-RoCE link %s: %s. Choose an Ethernet netdev that is up with '
                                'netdev=..., for example the default-route device, a dummy or a veth device'
                                % (name, problem))
            if not state['supports_add']:
                raise PlanError(
                    'this iproute2 rdma tool (%s) has no "rdma link add" (its "rdma link help" lists no add; it '
                    'needs iproute2 5.1 or later). Upgrade iproute2' % rdma)
            if not state['module_loaded']:
                release = state['kernel_release']
                if not state['module_available']:
                    raise PlanError(
                        '%s is not in the modules of kernel %s (not in modules.dep nor modules.builtin of '
                        '/lib/modules/%s); install linux-modules-extra-%s (Ubuntu) or boot a kernel that ships it'
                        % (RXE_MODULE, release, release, release))
                if not params['load_module']:
                    raise PlanError('%s is not loaded and load_module is false; load it (modprobe %s) or set '
                                    'load_module: true' % (RXE_MODULE, RXE_MODULE))
                actions.append(Action('run', RXE_MODULE, 'modprobe %s' % RXE_MODULE,
                                      argv=[state['modprobe_path'], RXE_MODULE]))
            actions.append(Action('run', name, 'rdma link add %s type rxe netdev %s' % (name, netdev),
                                  argv=[rdma, 'link', 'add', name, 'type', 'rxe', 'netdev', netdev]))

        if params['persistent']:
            if not state['systemd']:
                raise PlanError('persistent: true needs systemd as the running init (no /run/systemd/system); '
                                'use persistent: false and re-create the link at boot another way')
            unit_changes = []
            wanted = [
                (conf_path(name), render_conf(name, netdev), False),
                (TEMPLATE, render_template(rdma, state['modprobe_path']), True),
                (dropin_path(name), render_dropin(name, netdev), True),
            ]
            if params['load_module'] and not state['module_builtin']:
                wanted.append((MODULES_LOAD, render_modules_load(), False))
            for path, content, is_unit in wanted:
                act = file_change(path, files[path], content)
                if act is not None:
                    actions.append(act)
                    if is_unit:
                        unit_changes.append(act)
            if unit_changes:
                actions.append(Action('run', 'systemd', 'systemctl daemon-reload', argv=[systemctl, 'daemon-reload']))
            if not state['enabled']:
                actions.append(Action('run', unit_name(name), 'systemctl enable %s' % unit_name(name),
                                      argv=[systemctl, 'enable', unit_name(name)]))
            return actions

    elif existing is not None:
        actions.append(Action('run', name, 'rdma link delete %s' % name, argv=[rdma, 'link', 'delete', name]))

    # absent, or present with persistent=false: remove this link's own persistence
    if state['enabled'] and systemctl:
        actions.append(Action('run', unit_name(name), 'systemctl disable --now %s' % unit_name(name),
                              argv=[systemctl, 'disable', '--now', unit_name(name)]))
    removals = [conf_path(name), dropin_path(name)]
    if not other_confs:
        removals += [TEMPLATE, MODULES_LOAD]
    unit_removed = False
    for path in removals:
        act = file_removal(path, files[path])
        if act is not None:
            actions.append(act)
            unit_removed = unit_removed or path in (TEMPLATE, dropin_path(name))
    if files[dropin_path(name)][0] is not None:
        actions.append(Action('remove_empty_dir', dropin_dir(name), 'remove directory %s' % dropin_dir(name)))
    if unit_removed and state['systemd'] and systemctl:
        actions.append(Action('run', 'systemd', 'systemctl daemon-reload', argv=[systemctl, 'daemon-reload']))
    return actions


def labkit_confs():
    try:
        names = os.listdir(host_path(CONF_DIR))
    except OSError:
        return []
    return sorted(n[:-len('.conf')] for n in names if n.endswith('.conf'))


def read_links(module, rdma):
    out, _err = run_checked(module, [rdma, '-j', 'link', 'show'], what='listing RDMA links (rdma -j link show)')
    return parse_rdma_links(out)


def read_state(module, rdma, params):
    """Everything the plan needs (reads only; the commands run here change nothing)."""
    links = read_links(module, rdma)
    drivers = {}
    for link in links:
        dev = read_ib_device(link['name'])
        drivers[link['name']] = dev['driver'] if dev else None
    release = kernel_release()
    moddir = '/lib/modules/%s' % release
    builtin = module_builtin(read_text(moddir + '/modules.builtin', ''), RXE_MODULE)
    name = params['name']
    paths = [conf_path(name), TEMPLATE, dropin_path(name), MODULES_LOAD]
    state = {
        'links': links,
        'drivers': drivers,
        'rdma_path': rdma,
        'systemctl_path': module.get_bin_path('systemctl'),
        'modprobe_path': module.get_bin_path('modprobe') or '/sbin/modprobe',
        'kernel_release': release,
        'module_builtin': builtin,
        'module_loaded': builtin or os.path.isdir(host_path('/sys/module/%s' % RXE_MODULE)),
        'module_available': builtin or module_in_dep(read_text(moddir + '/modules.dep', ''), RXE_MODULE),
        'systemd': os.path.isdir(host_path('/run/systemd/system')),
        'enabled': os.path.lexists(host_path(wants_path(name))),
        'files': dict((p, read_file_state(p)) for p in paths),
        'labkit_confs': labkit_confs(),
        'supports_add': True,
        'netdev_facts': None,
    }
    if params['state'] == 'present':
        if params['netdev'] is not None:
            state['netdev_facts'] = netdev_facts(params['netdev'])
        if not find_links(links, name=name):
            _rc, out, err = module.run_command([rdma, 'link', 'help'])
            state['supports_add'] = link_help_supports_add((out or '') + (err or ''))
    return state


def resolve_netdev(module, params):
    if params['netdev'] is not None or params['state'] != 'present':
        return params['netdev']
    ip = module.get_bin_path('ip')
    if ip is None:
        module.fail_json(msg='netdev is not given and "ip" (iproute2) is not installed to find the default route; '
                             'give netdev=... or install iproute2')
    out, _err = run_checked(module, [ip, '-j', 'route', 'show', 'default'],
                            what='finding the default route (ip -j route show default)')
    dev = parse_default_route(out)
    if dev is None:
        module.fail_json(msg='netdev is not given and this host has no default route to take it from; '
                             'give netdev=... (an Ethernet device that is up)')
    return dev


def wait_active(module, rdma, name, timeout):
    deadline = time.time() + timeout
    while True:
        found = find_links(read_links(module, rdma), name=name)
        link = found[0] if found else None
        if link is None or link['state'] == 'ACTIVE' or time.time() >= deadline:
            return link
        time.sleep(0.5)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            netdev=dict(type='str'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            persistent=dict(type='bool', default=False),
            load_module=dict(type='bool', default=True),
            require_carrier=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    name = params['name']
    if not NAME_RE.match(name):
        module.fail_json(msg='name %r is not a valid RDMA device name for this module: use letters, digits, "_", "." '
                             'and "-", starting with a letter or digit, at most 63 characters (e.g. rxe0)' % name)
    if params['netdev'] is not None and (not params['netdev'] or '/' in params['netdev'] or len(params['netdev']) > 15):
        module.fail_json(msg='netdev %r is not a valid network device name (1-15 characters, no "/")' % params['netdev'])
    if params['wait_timeout'] < 0:
        module.fail_json(msg='wait_timeout must be 0 or more seconds, not %d' % params['wait_timeout'])

    rdma = module.get_bin_path('rdma')
    if rdma is None:
        module.fail_json(msg='the "rdma" tool is not installed, so soft-RoCE links cannot be listed or created; '
                             'install iproute2 (5.1 or later)')
    state = read_state(module, rdma, params)
    if params['netdev'] is None and params['state'] == 'present':
        found = find_links(state['links'], name=name)
        # An existing link keeps its netdev when none is given; else the default route's.
        params['netdev'] = found[0]['netdev'] if found and found[0]['netdev'] else resolve_netdev(module, params)
    if params['state'] == 'present' and state['netdev_facts'] is None:
        state['netdev_facts'] = netdev_facts(params['netdev'])
    try:
        actions = plan(params, state)
    except PlanError as e:
        module.fail_json(msg=str(e), name=name, netdev=params['netdev'])

    def runner(action):
        if action.kind == 'remove_empty_dir':
            path = host_path(action.target)
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
        else:  # pragma: no cover - plan() makes no other kinds
            raise ValueError(action.kind)

    hint = None
    for action in actions:
        if action.kind == 'run' and action.argv[1:3] == ['link', 'add']:
            hint = 'check "dmesg" for rdma_rxe messages about netdev %s' % params['netdev']
    if not module.check_mode:
        for action in actions:
            if action.kind == 'run' and action.argv[0] == state['modprobe_path']:
                run_checked(module, action.argv, what='loading %s' % RXE_MODULE,
                            hint='install linux-modules-extra-%s (Ubuntu) or a kernel that ships %s'
                                 % (state['kernel_release'], RXE_MODULE))
            elif action.kind == 'run' and action.argv[1:3] == ['link', 'add']:
                run_checked(module, action.argv, what='creating soft-RoCE link %s' % name, hint=hint)
            else:
                apply_actions(module, [action], runner=runner)

    existing = find_links(state['links'], name=name)
    link = existing[0] if existing else None
    netdev = params['netdev'] or (link['netdev'] if link else None)
    if params['state'] == 'absent' and module.check_mode:
        link = None
    elif actions and not module.check_mode:
        created = any(a.kind == 'run' and a.argv[1:3] == ['link', 'add'] for a in actions)
        link = wait_active(module, rdma, name, params['wait_timeout'] if created else 0)
        if created and link is not None and link['state'] != 'ACTIVE':
            module.warn('soft-RoCE link %s on %s is %s/%s after %ds, not ACTIVE; check the carrier of %s'
                        % (name, netdev, link['state'], link['physical_state'], params['wait_timeout'], netdev))

    persistent_files = []
    if params['state'] == 'present' and params['persistent']:
        persistent_files = [conf_path(name), TEMPLATE, dropin_path(name)]
        if params['load_module'] and not state['module_builtin']:
            persistent_files.append(MODULES_LOAD)
    link_out = None
    if link is not None:
        link_out = dict((k, link[k]) for k in ('port', 'state', 'physical_state', 'netdev'))
    module.exit_json(**result_for(module, actions, name=name, netdev=netdev, link=link_out,
                                  persistent_files=persistent_files, unit=unit_name(name)))


if __name__ == '__main__':
    main()
