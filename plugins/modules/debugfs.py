#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: debugfs
short_description: Mount debugfs and tracefs, now and at boot
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Ensures that debugfs and tracefs (what kprobes, ftrace and C(bpftool) really need) are mounted,
    and optionally that they are mounted again after a reboot.
  - Reads the current mounts from C(/proc/self/mountinfo) and the kernel's filesystem types from
    C(/proc/filesystems); mounts with C(mount -t TYPE TYPE PATH) and unmounts with C(umount PATH).
  - tracefs lives at C(/sys/kernel/tracing) when that directory exists (kernel 4.1 and later),
    else at C(<debugfs_path>/tracing).
options:
  state:
    description:
      - V(mounted) mounts both now and, with O(persistent=true), makes sure they are mounted at boot.
      - V(present) only takes care of the boot-time mount (O(persistent)); nothing is mounted now.
      - V(unmounted) unmounts them now (tracefs and anything else beneath O(debugfs_path) first)
        and leaves the boot-time configuration alone.
    type: str
    choices: [mounted, present, unmounted]
    default: mounted
  persistent:
    description:
      - With V(true), make sure the filesystems are mounted at boot. Nothing is written when the boot
        already mounts them (see the notes); otherwise a line is added to C(/etc/fstab).
      - With V(false), remove the C(/etc/fstab) lines this module added (and only those).
      - Ignored with O(state=unmounted).
    type: bool
    default: true
  tracefs:
    description:
      - Also handle tracefs. With V(false) only debugfs is mounted, unmounted or persisted.
    type: bool
    default: true
  debugfs_path:
    description:
      - Where debugfs is mounted. An absolute path; C(.)/C(..) components and repeated or trailing C(/) are
        normalised. Refused (see the notes) are system directories, paths beneath system trees, a C(#) or control
        characters, and a path through a symlink.
    type: path
    default: /sys/kernel/debug
  tracefs_path:
    description:
      - Where tracefs is mounted. Default is C(/sys/kernel/tracing) when that directory exists,
        else C(<debugfs_path>/tracing). Checked like O(debugfs_path).
    type: path
notes:
  - "Why C(/etc/fstab) for persistence: it is read by systemd's fstab generator and by
    non-systemd init systems alike, and the change is a one-line diff to review; this is also what
    C(ansible.posix.mount) writes."
  - "No line is added when the boot already mounts the filesystem: when C(/etc/fstab) already has an
    entry for the mount point (reported as V(fstab-existing), even if the entry was not written by
    this module), or when systemd is the running init, ships its static unit
    (C(sys-kernel-debug.mount), C(sys-kernel-tracing.mount) under C(/lib/systemd/system) or
    C(/usr/lib/systemd/system)) and the unit is not masked (reported as V(systemd))."
  - "When systemd runs and the unit is masked (C(/etc/systemd/system/<unit> -> /dev/null)), an fstab line would not
    help: the generated unit has the same name and the mask hides it too (measured on Debian 12, systemd 252).
    Persistence is then reported as V(masked) and O(persistent=true) fails, naming C(systemctl unmask)."
  - "On a host booted with systemd, C(systemctl daemon-reload) follows a change of C(/etc/fstab) so that
    systemd's generated mount units match the file."
  - "Lines this module adds end with the comment C(# labkit.ebpf_rdma); O(persistent=false) removes only
    such lines. The rest of C(/etc/fstab) is kept byte for byte."
  - "Mount points refused, before anything is read or written: the system directories C(/), C(/bin), C(/boot), C(/dev),
    C(/etc), C(/home), C(/lib), C(/lib32), C(/lib64), C(/libx32), C(/media), C(/mnt), C(/opt), C(/proc), C(/root),
    C(/run), C(/sbin), C(/srv), C(/sys), C(/tmp), C(/usr), C(/var) themselves; anything beneath C(/bin), C(/boot),
    C(/dev), C(/etc), C(/lib*), C(/proc), C(/sbin), C(/sys) or C(/usr) except C(/sys/kernel/debug),
    C(/sys/kernel/tracing) and C(/sys/kernel/debug/tracing); a path with C(#) or a control character, which
    C(/etc/fstab) cannot hold (blanks and C(\\) are written as octal escapes such as C(\\040), as fstab does, and read
    back); a path through a symlink (the kernel mounts on its target, so the mount would never be found)."
  - "Kernel lockdown in C(confidentiality) mode (see C(/sys/kernel/security/lockdown), often enabled
    by Secure Boot) denies tracefs and debugfs; the module's error names it when a mount fails."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows C(/etc/fstab) before and after.
  platform:
    platforms: linux
'''

EXAMPLES = r'''
- name: Mount debugfs and tracefs now and at boot
  labkit.ebpf_rdma.debugfs:
  become: true

- name: Only make sure they are mounted after the next boot
  labkit.ebpf_rdma.debugfs:
    state: present
  become: true

- name: Mount now, and remove the fstab lines an earlier run added
  labkit.ebpf_rdma.debugfs:
    persistent: false
  become: true

- name: Unmount both (boot-time configuration is left alone)
  labkit.ebpf_rdma.debugfs:
    state: unmounted
  become: true

- name: Only debugfs, at a custom place
  labkit.ebpf_rdma.debugfs:
    tracefs: false
    debugfs_path: /mnt/debugfs
  become: true
'''

RETURN = r'''
debugfs_path:
  description: Where debugfs is (or would be) mounted.
  returned: always
  type: str
  sample: /sys/kernel/debug
tracefs_path:
  description: Where tracefs is (or would be) mounted; null with O(tracefs=false).
  returned: always
  type: str
  sample: /sys/kernel/tracing
mounted:
  description:
    - For each handled filesystem, whether it is mounted at its path after the run
      (in check mode, whether it would be).
  returned: always
  type: dict
  sample: {debugfs: true, tracefs: true}
persistence:
  description:
    - For each handled filesystem, how it gets mounted at boot after the run (in check mode, would get mounted).
    - V(systemd) (systemd's static mount unit), V(fstab-existing) (an fstab entry not written by this module),
      V(fstab) (the line this module manages), V(masked) (systemd's unit is masked, which also hides
      fstab entries), V(none) (not mounted at boot).
  returned: always
  type: dict
  sample: {debugfs: systemd, tracefs: systemd}
available_filter_functions_readable:
  description:
    - Whether C(<tracefs_path>/available_filter_functions) can be read (what kprobe attachment needs).
      In check mode, as the host is now. Always false with O(tracefs=false).
  returned: always
  type: bool
  sample: true
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample:
    - mount debugfs at /sys/kernel/debug
    - add to /etc/fstab so that tracefs is mounted at /sys/kernel/tracing at boot
diff:
  description: Before/after of C(/etc/fstab) when it changes (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
'''

import os
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action,
    apply_actions,
    host_path,
    read_text,
    result_for,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.mounts import (
    fstab_add_lines,
    fstab_entry_for,
    fstab_line,
    fstab_remove_ours,
    mount_at,
    mount_point_problem,
    mounts_beneath,
    normalize_path,
    parse_filesystems,
    parse_fstab,
    parse_mountinfo,
    systemd_mount_unit_name,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.kernel import kernel_release, parse_lockdown

FSTAB = '/etc/fstab'
UNIT_DIRS = ('/lib/systemd/system', '/usr/lib/systemd/system')
MASK_DIRS = ('/etc/systemd/system', '/run/systemd/system')
KCONFIG = {'debugfs': 'CONFIG_DEBUG_FS', 'tracefs': 'CONFIG_TRACING (which provides tracefs)'}


class PlanError(Exception):
    """Bad input or a state the module must not touch; the message says what, why and the fix."""


def current_euid():
    return os.geteuid()


def resolve_tracefs_path(tracefs_path, debugfs_path):
    if tracefs_path:
        return normalize_path(tracefs_path)
    if os.path.isdir(host_path('/sys/kernel/tracing')):
        return '/sys/kernel/tracing'
    return normalize_path(debugfs_path) + '/tracing'


def symlink_in(path):
    """The first component of ``path`` that is a symlink on the host and its target, or (None, None)."""
    prefix = ''
    for part in path.strip('/').split('/'):
        prefix += '/' + part
        if os.path.islink(host_path(prefix)):
            return prefix, os.readlink(host_path(prefix))
    return None, None


def path_problem(option, path, usual):
    """Why ``path`` cannot be a mount point (see mounts.mount_point_problem; plus symlinks on the host), or None."""
    problem = mount_point_problem(option, path, usual)
    if problem:
        return problem
    clean = normalize_path(path)
    link, target = symlink_in(clean)
    if link:
        return ('%s %s goes through the symlink %s -> %s: the kernel mounts on the target, so /proc/self/mountinfo '
                'would never show %s and every run would mount again; give the path without symlinks'
                % (option, clean, link, target, clean))
    return None


def unit_state(path):
    """Whether systemd ships a static mount unit for ``path``, and whether it is masked."""
    name = systemd_mount_unit_name(path)
    shipped = any(os.path.isfile(host_path(os.path.join(d, name))) for d in UNIT_DIRS)
    masked = False
    overridden = False
    for d in MASK_DIRS:
        p = host_path(os.path.join(d, name))
        if os.path.islink(p) and os.readlink(p) == '/dev/null':
            masked = True
        elif os.path.isfile(p):
            overridden = True
    return {'name': name, 'shipped': shipped or overridden, 'masked': masked}


def read_state(paths):
    """Everything the plan needs, read from the host (reads only)."""
    return {
        'filesystems': parse_filesystems(read_text('/proc/filesystems', '')),
        'mounts': parse_mountinfo(read_text('/proc/self/mountinfo', '')),
        'fstab': read_text(FSTAB),
        'systemd_booted': os.path.isdir(host_path('/run/systemd/system')),
        'units': dict((fs, unit_state(path)) for fs, path in paths.items()),
    }


def boot_persistence(fs, path, entries, state):
    """How ``fs`` at ``path`` is mounted at boot, given the fstab ``entries``.

    A masked unit wins over fstab: systemd-fstab-generator names its unit after the
    mount point too (``sys-kernel-debug.mount``), and the mask in /etc/systemd/system
    hides the generated unit as well (measured on systemd 252: not mounted after reboot).
    """
    unit = state['units'][fs]
    if state['systemd_booted'] and unit['masked']:
        return 'masked'
    entry = fstab_entry_for(entries, path)
    if entry is not None:
        return 'fstab' if entry['ours'] else 'fstab-existing'
    if state['systemd_booted'] and unit['shipped']:
        return 'systemd'
    return 'none'


def is_mounted(mounts, fs, path):
    top = mount_at(mounts, path)
    return top is not None and top['fstype'] == fs


def check_mountable(want, state, paths, release):
    """Raise :class:`PlanError` when a filesystem cannot be mounted where asked (kernel support, another mount)."""
    if want in ('mounted', 'present'):
        for fs in paths:
            if fs not in state['filesystems']:
                fix = 'boot a kernel built with %s' % KCONFIG[fs]
                if fs == 'tracefs':
                    fix += ', or set tracefs: false'
                raise PlanError('%s is not in /proc/filesystems of kernel %s: the kernel was built without %s, '
                                'so it cannot be mounted; %s' % (fs, release, KCONFIG[fs], fix))
    if want == 'mounted':
        for fs in paths:
            top = mount_at(state['mounts'], paths[fs])
            if top is not None and top['fstype'] != fs:
                raise PlanError('%s is already a mount point of a %s filesystem (source %s), not %s; this module '
                                'does not mount over it: unmount it or choose another %s_path'
                                % (paths[fs], top['fstype'], top['source'], fs, fs))


def plan_runtime(want, mounts, paths):
    """Runtime mounts: (actions, mounted) where ``mounted`` is the predicted state per filesystem."""
    actions = []
    mounted = dict((fs, is_mounted(mounts, fs, paths[fs])) for fs in paths)
    if want == 'mounted':
        for fs in paths:  # debugfs first: tracefs may live beneath it
            if not mounted[fs]:
                actions.append(Action('mount', paths[fs], 'mount %s at %s' % (fs, paths[fs]),
                                      argv=['mount', '-t', fs, fs, paths[fs]]))
                mounted[fs] = True
    elif want == 'unmounted':
        for target in unmount_order(mounts, paths, mounted):
            count = len([m for m in mounts if normalize_path(m['mount_point']) == target])
            for _i in range(max(count, 1)):
                actions.append(Action('umount', target, 'unmount %s' % target, argv=['umount', target]))
        for fs in paths:
            mounted[fs] = False
    return actions, mounted


def unmount_order(mounts, paths, mounted):
    """Mount points to unmount, deepest first (anything beneath debugfs, tracefs, then debugfs itself)."""
    targets = []
    if mounted.get('debugfs'):
        # Anything beneath debugfs (the tracefs automount at debug/tracing) keeps it busy.
        targets.extend(mounts_beneath(mounts, paths['debugfs']))
    if mounted.get('tracefs') and paths['tracefs'] not in targets:
        targets.append(paths['tracefs'])
    if mounted.get('debugfs'):
        targets.append(paths['debugfs'])
    # Deepest first: tracefs before debugfs when it is beneath it.
    return sorted(targets, key=lambda p: -normalize_path(p).count('/'))


def plan_boot(params, state, paths):
    """Boot-time mounts (/etc/fstab): (actions, persistence, warnings). Raises :class:`PlanError`."""
    want = params['state']
    entries = parse_fstab(state['fstab'] or '')
    persistence = dict((fs, boot_persistence(fs, paths[fs], entries, state)) for fs in paths)
    warnings = []
    for fs in paths:
        entry = fstab_entry_for(entries, paths[fs])
        if entry is not None and not entry['ours'] and 'noauto' in entry['options'].split(','):
            warnings.append('/etc/fstab has an entry for %s with noauto, so it is not mounted at boot; '
                            'this module does not change entries it did not write' % paths[fs])
    if want not in ('mounted', 'present'):
        return [], persistence, warnings
    if params['persistent']:
        new_fstab, descriptions = fstab_with_ours(state, paths, persistence)
    else:
        new_fstab, descriptions = fstab_without_ours(state, paths, entries, persistence)
    actions = []
    if new_fstab != (state['fstab'] or ''):
        actions.append(Action('write_file', FSTAB, '; '.join(descriptions),
                              before=state['fstab'] or '', after=new_fstab,
                              mode=None if state['fstab'] is not None else 0o644))
        if state['systemd_booted']:
            # Else systemd keeps its generated units from the old fstab until the next boot.
            actions.append(Action('run', 'systemctl', 'systemctl daemon-reload (systemd re-reads %s)' % FSTAB,
                                  argv=['systemctl', 'daemon-reload']))
    return actions, persistence, warnings


def fstab_with_ours(state, paths, persistence):
    """(new fstab, descriptions): our lines added for the filesystems not mounted at boot; updates ``persistence``."""
    for fs in paths:
        if persistence[fs] == 'masked':
            unit = state['units'][fs]['name']
            raise PlanError('%s is masked (/etc/systemd/system/%s -> /dev/null), which also hides the unit '
                            'systemd generates from /etc/fstab, so %s cannot be mounted at boot; run '
                            '"systemctl unmask %s" to let systemd mount it, or set persistent: false'
                            % (unit, unit, fs, unit))
    add = [fs for fs in paths if persistence[fs] == 'none']
    new_fstab = fstab_add_lines(state['fstab'] or '', [fstab_line(fs, paths[fs]) for fs in add])
    descriptions = []
    for fs in add:
        persistence[fs] = 'fstab'
        descriptions.append('add to %s so that %s is mounted at %s at boot' % (FSTAB, fs, paths[fs]))
    return new_fstab, descriptions


def fstab_without_ours(state, paths, entries, persistence):
    """(new fstab, descriptions): the lines this module added removed; updates ``persistence``."""
    drop = [fs for fs in paths if (fstab_entry_for(entries, paths[fs]) or {}).get('ours')]
    new_fstab = fstab_remove_ours(state['fstab'] or '', [paths[fs] for fs in drop])
    after = parse_fstab(new_fstab)
    descriptions = []
    for fs in drop:
        persistence[fs] = boot_persistence(fs, paths[fs], after, state)
        descriptions.append('remove the %s line for %s that labkit.ebpf_rdma added to %s' % (fs, paths[fs], FSTAB))
    return new_fstab, descriptions


def plan(state, params, paths, release='unknown'):
    """Pure: from the current ``state`` and the module ``params`` to (actions, report).

    ``paths`` maps each handled filesystem (``debugfs`` first) to its mount point.
    ``report`` holds the predicted ``mounted`` and ``persistence`` dicts and ``warnings``.
    Raises :class:`PlanError` for a request that cannot be met.
    """
    check_mountable(params['state'], state, paths, release)
    actions, mounted = plan_runtime(params['state'], state['mounts'], paths)
    boot_actions, persistence, warnings = plan_boot(params, state, paths)
    return actions + boot_actions, {'mounted': mounted, 'persistence': persistence, 'warnings': warnings}


def filter_functions_readable(tracefs_path):
    if not tracefs_path:
        return False
    try:
        with open(host_path(tracefs_path + '/available_filter_functions'), 'rb') as f:
            f.read(1)
        return True
    except (IOError, OSError):
        return False


def mount_points(params):
    """OrderedDict filesystem -> mount point, debugfs first (tracefs may be beneath it). Raises :class:`PlanError`."""
    usual = {'debugfs_path': '/sys/kernel/debug', 'tracefs_path': '/sys/kernel/tracing'}
    for name in ('debugfs_path', 'tracefs_path'):
        problem = path_problem(name, params[name], usual[name]) if params[name] is not None else None
        if problem:
            raise PlanError(problem)
    debugfs_path = normalize_path(params['debugfs_path'])
    paths = OrderedDict([('debugfs', debugfs_path)])
    if params['tracefs']:
        paths['tracefs'] = resolve_tracefs_path(params['tracefs_path'], debugfs_path)
        problem = path_problem('tracefs_path', paths['tracefs'], usual['tracefs_path'])
        if problem:
            raise PlanError(problem)
        if paths['tracefs'] == debugfs_path:
            raise PlanError('debugfs_path and tracefs_path are both %s; they need two different mount points: '
                            'leave tracefs_path out (the default: /sys/kernel/tracing, or DEBUGFS/tracing '
                            'on kernels without it) or give another directory' % debugfs_path)
    return paths


def command_failure(action, rc, out, err, lockdown):
    """The message for a failed mount/umount/systemctl: what failed, and the likely reason with its fix."""
    msg = '%s failed (exit %d): %s' % (action.description, rc, (err or out or '').strip())
    if lockdown == 'confidentiality':
        msg += ('. The kernel is locked down in confidentiality mode (/sys/kernel/security/lockdown), '
                'which denies debugfs and tracefs; boot with lockdown=integrity (or without Secure Boot '
                'lockdown) to use kprobes')
    elif action.kind == 'umount':
        msg += '. Something still uses %s (a tracer, bpftool, a shell cd there); stop it and retry' % action.target
    else:
        msg += '. See dmesg for the kernel\'s reason'
    return msg


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='mounted', choices=['mounted', 'present', 'unmounted']),
            persistent=dict(type='bool', default=True),
            tracefs=dict(type='bool', default=True),
            debugfs_path=dict(type='path', default='/sys/kernel/debug'),
            tracefs_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        ordered = mount_points(p)
    except PlanError as e:
        module.fail_json(msg=str(e))
    debugfs_path = ordered['debugfs']
    paths = dict(ordered)

    state = read_state(paths)
    release = kernel_release()
    try:
        actions, report = plan(state, p, ordered, release)
    except PlanError as e:
        module.fail_json(msg=str(e), debugfs_path=debugfs_path, tracefs_path=paths.get('tracefs'))

    for warning in report['warnings']:
        module.warn(warning)

    if actions and not module.check_mode and current_euid() != 0:
        module.fail_json(msg='debugfs needs root for: %s; run the task with become: true'
                         % '; '.join(a.description for a in actions),
                         actions=[a.description for a in actions])

    lockdown = (parse_lockdown(read_text('/sys/kernel/security/lockdown')) or {}).get('mode')

    def runner(action):
        argv = [module.get_bin_path(action.argv[0], required=True)] + action.argv[1:]
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg=command_failure(action, rc, out, err, lockdown), cmd=argv, rc=rc, stdout=out,
                             stderr=err)

    for action in actions:
        if action.kind == 'run' and not module.check_mode:
            action.argv = [module.get_bin_path(action.argv[0], required=True)] + action.argv[1:]
    apply_actions(module, actions, runner=runner)

    mounted = report['mounted']
    if actions and not module.check_mode:
        now = parse_mountinfo(read_text('/proc/self/mountinfo', ''))
        mounted = dict((fs, is_mounted(now, fs, path)) for fs, path in ordered.items())

    module.exit_json(**result_for(
        module, actions,
        debugfs_path=debugfs_path,
        tracefs_path=paths.get('tracefs'),
        mounted=mounted,
        persistence=report['persistence'],
        available_filter_functions_readable=filter_functions_readable(paths.get('tracefs')),
    ))


if __name__ == '__main__':
    main()
