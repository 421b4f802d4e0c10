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
      - With V(false), remove the persistence files this module wrote for this link; the link itself stays (the
        unit is disabled without C(--now), so its C(ExecStop), which deletes the link, does not run; see the notes).
      - Ignored with O(state=absent), which always removes this link's persistence.
    type: bool
    default: false
  force:
    description:
      - Let this module take over or delete a soft-RoCE link it did not create (one without its record, see the
        notes). With O(state=present) the link is adopted (the record is written, and with O(persistent=true) an
        enabled unit whose stop deletes the link); with O(state=absent) it is deleted.
      - With V(false) such a link is never adopted, changed or deleted; O(state=present) reports it
        (RV(foreign), a warning) and O(state=absent) fails, saying how to delete it.
    type: bool
    default: false
  use_foreign:
    description:
      - With O(state=present), when O(name) does not exist and the netdev already carries a soft-RoCE link that this
        module did not create, use that link as it is (RV(device) names it, RV(foreign) is true, a warning says so)
        instead of failing. Nothing is created, written or deleted for it.
      - With V(false) that case fails (a netdev carries at most one soft-RoCE link), naming the link.
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
  - "Dropping persistence (O(persistent=false) on a persistent link) runs C(systemctl disable UNIT) without C(--now),
    removes the unit files and runs C(systemctl daemon-reload). C(disable) alone only removes the C([Install])
    symlink; it does not stop the unit, so its C(ExecStop) (which deletes the link) does not run and the link stays.
    An instance started at boot stays C(active (exited)) in systemd's memory until shutdown; this module never
    stops it. O(state=absent) uses C(disable --now), after deleting the link."
  - "Ownership: a link is this module's when it has a record, C(/etc/labkit/rxe/NAME.conf) (persistent links) or
    C(/run/labkit/rxe/NAME.conf) (links created with O(persistent=false); gone at reboot, like the link). A soft-RoCE
    link without a record (made by hand, by another tool, or by an earlier release of this collection with
    O(persistent=false)) is foreign: it is reported, never adopted, made persistent or deleted unless O(force=true)."
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

- name: Use whatever soft-RoCE link a colleague already made on ens3, or create rxe0 there
  labkit.ebpf_rdma.rxe_link:
    name: rxe0
    netdev: ens3
    use_foreign: true
  become: true
  register: rxe

- name: Delete rxe9, which was made by hand (not by this module)
  labkit.ebpf_rdma.rxe_link:
    name: rxe9
    state: absent
    force: true
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
device:
  description:
    - The RDMA device that serves the request after the run; O(name), or with O(use_foreign=true) the foreign link
      already on the netdev. Null with O(state=absent).
  returned: always
  type: str
  sample: rxe0
foreign:
  description:
    - True when RV(device) is a soft-RoCE link this module did not create (no record) and was left as it is
      (not adopted, not made persistent); a warning says so.
  returned: always
  type: bool
  sample: false
persistent_files:
  description: The persistence files of this link after the run (in check mode, as they would be); empty for a foreign link.
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
    read_file_state,
    read_text,
    result_for,
    run_checked,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.kernel import kernel_release
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
RUN_DIR = '/run/labkit/rxe'
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


def run_record_path(name):
    return '%s/%s.conf' % (RUN_DIR, name)


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


def render_run_record(name, netdev):
    return ('# Managed by labkit.ebpf_rdma.rxe_link: soft-RoCE link %s on %s, not persistent.\n'
            '# This file is the record that labkit created the link; it goes at reboot, like the link.\n'
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


def foreign_text(name, netdev):
    return ('soft-RoCE link %s on %s was not created by labkit.ebpf_rdma (no record %s nor %s)'
            % (name, netdev, conf_path(name), run_record_path(name)))


def check_existing(params, state, existing):
    """Refuse a device NAME that is not rxe, or that is on another netdev than the one given."""
    name = params['name']
    netdev = params['netdev']
    if existing is None:
        return
    if state['drivers'].get(name) != 'rxe':
        raise PlanError(
            'RDMA device %s exists and is not a soft-RoCE (rxe) link (driver %s); this module manages rxe links only. '
            'Pick another name' % (name, state['drivers'].get(name) or 'unknown'))
    if not netdev or existing['netdev'] == netdev:
        return
    if params['state'] == 'absent':
        raise PlanError(
            'soft-RoCE link %s is on netdev %s, not on %s as given; nothing was removed. '
            'Give netdev=%s (or leave netdev out) to remove it' % (name, existing['netdev'], netdev, existing['netdev']))
    remove = 'rxe_link name=%s state=absent' % name
    if name not in state['owned']:
        remove = ('it was not created by labkit.ebpf_rdma: rdma link delete %s, or %s force=true'
                  % (name, remove))
    raise PlanError(
        'soft-RoCE link %s already exists on netdev %s, not on %s; it is not re-created silently. '
        'Remove it first (%s) or pick another name for the link on %s'
        % (name, existing['netdev'], netdev, remove, netdev))


def plan_create(params, state):
    """The actions that create link NAME on its netdev (modprobe first when needed)."""
    name = params['name']
    netdev = params['netdev']
    problem = netdev_problem(state['netdev_facts'])
    if problem and not (not params['require_carrier'] and state['netdev_facts']['exists']
                        and problem.startswith('netdev %s has no carrier' % netdev)):
        raise PlanError('cannot create soft-RoCE link %s: %s. Choose an Ethernet netdev that is up with '
                        'netdev=..., for example the default-route device, a dummy or a veth device'
                        % (name, problem))
    if not state['supports_add']:
        raise PlanError(
            'this iproute2 rdma tool (%s) has no "rdma link add" (its "rdma link help" lists no add; it '
            'needs iproute2 5.1 or later). Upgrade iproute2' % state['rdma_path'])
    actions = []
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
        actions.append(Action('modprobe', RXE_MODULE, 'modprobe %s' % RXE_MODULE,
                              argv=[state['modprobe_path'], RXE_MODULE]))
    actions.append(Action('link_add', name, 'rdma link add %s type rxe netdev %s' % (name, netdev),
                          argv=[state['rdma_path'], 'link', 'add', name, 'type', 'rxe', 'netdev', netdev]))
    return actions


def plan_persistence(params, state):
    """persistent=true: the record, the unit and its drop-in, modules-load, daemon-reload and enable."""
    name = params['name']
    netdev = params['netdev']
    systemctl = state['systemctl_path']
    if not state['systemd']:
        raise PlanError('persistent: true needs systemd as the running init (no /run/systemd/system); '
                        'use persistent: false and re-create the link at boot another way')
    wanted = [
        (conf_path(name), render_conf(name, netdev), False),
        (TEMPLATE, render_template(state['rdma_path'], state['modprobe_path']), True),
        (dropin_path(name), render_dropin(name, netdev), True),
    ]
    if params['load_module'] and not state['module_builtin']:
        wanted.append((MODULES_LOAD, render_modules_load(), False))
    actions = []
    unit_changed = False
    for path, content, is_unit in wanted:
        act = file_change(path, state['files'][path], content)
        if act is not None:
            actions.append(act)
            unit_changed = unit_changed or is_unit
    if unit_changed:
        actions.append(Action('run', 'systemd', 'systemctl daemon-reload', argv=[systemctl, 'daemon-reload']))
    if not state['enabled']:
        actions.append(Action('run', unit_name(name), 'systemctl enable %s' % unit_name(name),
                              argv=[systemctl, 'enable', unit_name(name)]))
    return actions


def plan_unpersist(params, state, stop):
    """Remove this link's persistence (its records too when ``stop``: state=absent).

    Without ``stop`` the unit is disabled without --now: its ExecStop deletes the link, and
    persistent=false keeps the link (the running instance stays active until shutdown).
    """
    name = params['name']
    files = state['files']
    systemctl = state['systemctl_path']
    actions = []
    if state['enabled'] and systemctl:
        argv = [systemctl, 'disable'] + (['--now'] if stop else []) + [unit_name(name)]
        actions.append(Action('run', unit_name(name), 'systemctl %s' % ' '.join(argv[1:]), argv=argv))
    removals = [conf_path(name), dropin_path(name)]
    if stop:
        removals.append(run_record_path(name))
    if not [c for c in state['labkit_confs'] if c != name]:
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


def plan_present(params, state, existing, report):
    name = params['name']
    netdev = params['netdev']
    if existing is not None and name not in state['owned'] and not params['force']:
        report.update(foreign=True)
        report['warnings'].append(
            '%s; it is used as it is: not adopted, %snever deleted by this module. To let labkit.ebpf_rdma manage '
            'it, set force: true (it then writes its record%s)'
            % (foreign_text(name, netdev), 'not made persistent (persistent: true is not applied to it), '
               if params['persistent'] else '', ' and an enabled unit whose stop deletes the link'
               if params['persistent'] else ''))
        return []
    actions = []
    if existing is None:
        others = [link for link in find_links(state['links'], netdev=netdev)
                  if state['drivers'].get(link['name']) == 'rxe' and link['name'] != name]
        if others:
            other = others[0]['name']
            if other not in state['owned'] and params['use_foreign']:
                report.update(device=other, foreign=True)
                report['warnings'].append(
                    '%s; it serves netdev %s and is used as it is (use_foreign: true): %s is not created, and %s is '
                    'not adopted, not made persistent, never deleted by this module'
                    % (foreign_text(other, netdev), netdev, name, other))
                return []
            fix = 'Use name=%s, or remove %s first' % (other, other)
            if other not in state['owned']:
                fix = ('%s is not a labkit link (no record %s): use it as it is with use_foreign: true or name=%s, '
                       'or delete it first (rdma link delete %s)' % (other, conf_path(other), other, other))
            raise PlanError('netdev %s already has a soft-RoCE link named %s; a netdev carries at most one and a '
                            'second is not created. %s' % (netdev, other, fix))
        actions += plan_create(params, state)
    if params['persistent']:
        return actions + plan_persistence(params, state)
    record = file_change(run_record_path(name), state['files'][run_record_path(name)],
                         render_run_record(name, netdev))
    return actions + ([record] if record else []) + plan_unpersist(params, state, stop=False)


def plan(params, state):
    """Pure: (module params with the netdev resolved, current state) -> (actions, report); raises PlanError.

    ``report``: ``device`` (the RDMA device that serves the request), ``foreign`` (it was left as it
    is, labkit did not create it) and ``warnings``.
    """
    name = params['name']
    found = find_links(state['links'], name=name)
    existing = found[0] if found else None
    report = {'device': name, 'foreign': False, 'warnings': []}
    check_existing(params, state, existing)
    if params['state'] == 'present':
        return plan_present(params, state, existing, report), report
    actions = []
    if existing is not None:
        if name not in state['owned'] and not params['force']:
            raise PlanError(
                '%s; it is not deleted, as this module deletes only links it created. Delete it by hand '
                '(rdma link delete %s), or set force: true to let this module delete it'
                % (foreign_text(name, existing['netdev']), name))
        actions.append(Action('link_delete', name, 'rdma link delete %s' % name,
                              argv=[state['rdma_path'], 'link', 'delete', name]))
    report['device'] = None
    return actions + plan_unpersist(params, state, stop=True), report


def record_names(directory):
    try:
        names = os.listdir(host_path(directory))
    except OSError:
        return []
    return sorted(n[:-len('.conf')] for n in names if n.endswith('.conf'))


def read_links(module, rdma):
    out, _err = run_checked(module, [rdma, '-j', 'link', 'show'], what='listing RDMA links (rdma -j link show)')
    return parse_rdma_links(out)


def read_state(module, rdma, params, links):
    """Everything the plan needs (reads only; the commands run here change nothing)."""
    drivers = {}
    for link in links:
        dev = read_ib_device(link['name'])
        drivers[link['name']] = dev['driver'] if dev else None
    release = kernel_release()
    moddir = '/lib/modules/%s' % release
    builtin = module_builtin(read_text(moddir + '/modules.builtin', ''), RXE_MODULE)
    name = params['name']
    paths = [conf_path(name), run_record_path(name), TEMPLATE, dropin_path(name), MODULES_LOAD]
    confs = record_names(CONF_DIR)
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
        'labkit_confs': confs,
        'owned': set(confs) | set(record_names(RUN_DIR)),
        'supports_add': True,
        'netdev_facts': None,
    }
    if params['state'] == 'present':
        state['netdev_facts'] = netdev_facts(params['netdev'])
        if not find_links(links, name=name):
            _rc, out, err = module.run_command([rdma, 'link', 'help'])
            state['supports_add'] = link_help_supports_add((out or '') + (err or ''))
    return state


def resolve_netdev(module, params, links):
    """The netdev of this run, decided once: the one given, else the existing link's, else the default route's."""
    if params['netdev'] is not None:
        return params['netdev']
    found = find_links(links, name=params['name'])
    if found and found[0]['netdev']:
        return found[0]['netdev']
    if params['state'] != 'present':
        return None
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


def param_problem(params):
    """What is wrong with the options (checked before anything is read), or None."""
    name = params['name']
    if not NAME_RE.match(name):
        return ('name %r is not a valid RDMA device name for this module: use letters, digits, "_", "." '
                'and "-", starting with a letter or digit, at most 63 characters (e.g. rxe0)' % name)
    netdev = params['netdev']
    if netdev is not None and (not netdev or '/' in netdev or len(netdev) > 15 or netdev in ('.', '..')
                               or any(ch.isspace() or ord(ch) < 32 for ch in netdev)):
        return ('netdev %r is not a valid network device name (1-15 characters, no "/", no whitespace, not "." '
                'or ".."); give the name "ip link" shows, e.g. ens3' % netdev)
    if params['wait_timeout'] < 0:
        return 'wait_timeout must be 0 or more seconds, not %d; use 0 not to wait' % params['wait_timeout']
    return None


def make_runner(module, state, params):
    """Carries out the actions common.apply_actions leaves to the module, each with its own hint."""
    name = params['name']

    def runner(action):
        if action.kind == 'modprobe':
            run_checked(module, action.argv, what='loading %s' % RXE_MODULE,
                        hint='install linux-modules-extra-%s (Ubuntu) or a kernel that ships %s'
                             % (state['kernel_release'], RXE_MODULE))
        elif action.kind == 'link_add':
            run_checked(module, action.argv, what='creating soft-RoCE link %s' % name,
                        hint='check "dmesg" for rdma_rxe messages about netdev %s' % params['netdev'])
        elif action.kind == 'link_delete':
            run_checked(module, action.argv, what='deleting soft-RoCE link %s' % name,
                        hint='check that no program still uses it (rdma resource show)')
        elif action.kind == 'remove_empty_dir':
            path = host_path(action.target)
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
        else:  # pragma: no cover - plan() makes no other kinds
            raise ValueError(action.kind)
    return runner


def wait_active(module, rdma, name, timeout):
    deadline = time.time() + timeout
    while True:
        found = find_links(read_links(module, rdma), name=name)
        link = found[0] if found else None
        if link is None or link['state'] == 'ACTIVE' or time.time() >= deadline:
            return link
        time.sleep(0.5)


def link_after(module, params, state, actions, device):
    """The link of ``device`` after the run (in check mode: as it is now, None when it would be created)."""
    if device is None:
        return None
    if module.check_mode or not actions:
        found = find_links(state['links'], name=device)
        return found[0] if found else None
    created = any(a.kind == 'link_add' for a in actions)
    link = wait_active(module, state['rdma_path'], device, params['wait_timeout'] if created else 0)
    if created and link is not None and link['state'] != 'ACTIVE':
        module.warn('soft-RoCE link %s on %s is %s/%s after %ds, not ACTIVE; check the carrier of %s'
                    % (device, params['netdev'], link['state'], link['physical_state'], params['wait_timeout'],
                       params['netdev']))
    return link


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
            force=dict(type='bool', default=False),
            use_foreign=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    name = params['name']
    problem = param_problem(params)
    if problem:
        module.fail_json(msg=problem)
    rdma = module.get_bin_path('rdma')
    if rdma is None:
        module.fail_json(msg='the "rdma" tool is not installed, so soft-RoCE links cannot be listed or created; '
                             'install iproute2 (5.1 or later)')
    links = read_links(module, rdma)
    params['netdev'] = resolve_netdev(module, params, links)
    state = read_state(module, rdma, params, links)
    try:
        actions, report = plan(params, state)
    except PlanError as e:
        module.fail_json(msg=str(e), name=name, netdev=params['netdev'])
    for warning in report['warnings']:
        module.warn(warning)
    apply_actions(module, actions, runner=make_runner(module, state, params))

    link = link_after(module, params, state, actions, report['device'])
    persistent_files = []
    if params['state'] == 'present' and params['persistent'] and not report['foreign']:
        persistent_files = [conf_path(name), TEMPLATE, dropin_path(name)]
        if params['load_module'] and not state['module_builtin']:
            persistent_files.append(MODULES_LOAD)
    link_out = None
    if link is not None:
        link_out = dict((k, link[k]) for k in ('port', 'state', 'physical_state', 'netdev'))
    module.exit_json(**result_for(module, actions, name=name, netdev=params['netdev'], link=link_out,
                                  device=report['device'], foreign=report['foreign'],
                                  persistent_files=persistent_files, unit=unit_name(name)))


if __name__ == '__main__':
    main()
