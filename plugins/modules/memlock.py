#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: memlock
short_description: Set the locked-memory limit (RLIMIT_MEMLOCK) for logins and systemd services
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Writes the locked-memory limit that BPF programs and maps (on kernels before 5.11) and RDMA
    memory registration need, in the two places that set it on a systemd host.
  - For PAM sessions (console and ssh logins, C(su), C(runuser)) a file in C(/etc/security/limits.d/),
    read by C(pam_limits).
  - For systemd services, a drop-in C(/etc/systemd/system.conf.d/<dropin_name>) with
    C(DefaultLimitMEMLOCK=), and optionally per-service drop-ins
    C(/etc/systemd/system/<unit>.d/<dropin_name>) with C(LimitMEMLOCK=).
    C(systemctl daemon-reload) follows a change (on systemd 252, measured, it re-reads the manager
    defaults too; no C(daemon-reexec) needed).
  - Every file written starts with a comment saying it is managed by C(labkit.ebpf_rdma.memlock);
    the module refuses to overwrite or remove a file without that comment.
  - Reports the limit a new PAM session gets (by running C(runuser -u USER -- cat /proc/self/limits),
    which goes through the C(runuser) PAM service and its C(pam_limits), without opening a logind session;
    not in check mode, which opens no session and reports in RV(login_limit_check) what it would verify),
    the services' default as systemd reports it, and the running services that keep their old limit
    until restarted.
options:
  value:
    description:
      - The limit. V(unlimited) (or V(infinity)), V(0), or a whole number with a binary unit
        C(K)/C(KiB), C(M)/C(MiB), C(G)/C(GiB), C(T)/C(TiB) (all powers of 1024), for example V(64K), V(512M), V(8GiB).
      - A bare number other than V(0) is refused, because C(limits.conf) reads it as KiB and systemd as bytes.
        Decimal units (V(8GB)), fractions (V(1.5G)), signs, hex and lower-case units are refused too.
      - Written to C(limits.d) in KiB and to systemd in bytes (or V(unlimited)/V(infinity)).
      - Required with O(state=present).
    type: str
  state:
    description:
      - V(present) writes the files; V(absent) removes them (only files carrying this module's header;
        the then empty C(.d) directories are left in place).
    type: str
    choices: [present, absent]
    default: present
  domains:
    description:
      - The C(limits.conf) domains the login limit applies to, one line each; V(*) (every user B(except root), as
        C(pam_limits) never applies wildcards to root), a user name, V(@group) or V(%group).
      - The default covers every user and root, who is the one running most eBPF and RDMA tests.
    type: list
    elements: str
    default: ['*', root]
    aliases: [domain]
  limit_type:
    description:
      - Which C(limits.conf) limit to set. V(both) (written as C(-)) sets soft and hard.
      - systemd drop-ins always set both (C(LimitMEMLOCK=) with one value).
    type: str
    choices: [soft, hard, both, '-']
    default: both
  limits_file:
    description:
      - The C(pam_limits) file. In C(/etc/security/limits.d/) it must end in C(.conf), else C(pam_limits) ignores it.
    type: path
    default: /etc/security/limits.d/90-labkit-memlock.conf
  systemd:
    description:
      - Also write (or with O(state=absent) remove) the systemd manager drop-in with C(DefaultLimitMEMLOCK=).
      - Needs a host running systemd; set V(false) elsewhere.
    type: bool
    default: true
  units:
    description:
      - Services that get their own drop-in with C(LimitMEMLOCK=) (a name without C(.service) gets it appended).
      - With O(state=absent) their drop-ins are removed.
    type: list
    elements: str
    default: []
  dropin_name:
    description:
      - File name of the systemd drop-ins.
    type: str
    default: 90-labkit-memlock.conf
  login_user:
    description:
      - The user whose new-session limit is reported in RV(login_limit). By default it follows the first of O(domains),
        that user, the first member of that group, or C(nobody) for V(*).
    type: str
notes:
  - Kernels 5.11 and later charge BPF memory to the memory cgroup instead of RLIMIT_MEMLOCK (see
    RV(bpf_memory_accounting)); RDMA memory registration and older libbpf/bpftool still need the limit.
  - In check mode RV(service_limit) is the one before the change and RV(restart_needed) a prediction; RV(login_limit) is
    null (no PAM session is opened, as C(runuser) runs the session modules of its PAM service) and RV(login_limit_check)
    says what a real run would verify.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: linux
'''

EXAMPLES = r'''
- name: Unlimited locked memory for logins and services
  labkit.ebpf_rdma.memlock:
    value: unlimited
  become: true

- name: 512 MiB for the users of group rdma, and for one service
  labkit.ebpf_rdma.memlock:
    value: 512M
    domain: '@rdma'
    units: [my-rdma-daemon.service]
  become: true

- name: Login sessions only (no systemd)
  labkit.ebpf_rdma.memlock:
    value: 64MiB
    systemd: false
  become: true

- name: Remove what this module wrote
  labkit.ebpf_rdma.memlock:
    state: absent
    units: [my-rdma-daemon.service]
  become: true
'''

RETURN = r'''
limits_file:
  description: The C(pam_limits) file.
  returned: always
  type: str
  sample: /etc/security/limits.d/90-labkit-memlock.conf
systemd_files:
  description: The systemd drop-ins handled (manager drop-in first, then one per unit).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system.conf.d/90-labkit-memlock.conf]
limit:
  description: The value as written; null with O(state=absent).
  returned: always
  type: dict
  contains:
    bytes:
      description: Bytes, or V(unlimited).
      type: raw
    limits_conf:
      description: What C(limits.d) holds (KiB or V(unlimited)).
      type: str
    systemd:
      description: What the systemd drop-ins hold (bytes or V(infinity)).
      type: str
  sample: {bytes: 67108864, limits_conf: '65536', systemd: '67108864'}
login_limit:
  description:
    - The locked-memory limit of a new PAM session of RV(login_limit.user) after the run, read from
      C(/proc/self/limits) under C(runuser -u USER); soft and hard in bytes or V(unlimited).
    - Null when it cannot be determined; RV(login_limit_reason) says why.
  returned: always
  type: dict
  contains:
    user:
      description: The user whose new session was measured.
      type: str
    soft:
      description: Soft limit, bytes or V(unlimited).
      type: raw
    hard:
      description: Hard limit, bytes or V(unlimited).
      type: raw
  sample: {user: nobody, soft: unlimited, hard: unlimited}
login_limit_reason:
  description: Why RV(login_limit) is null.
  returned: when login_limit is null
  type: str
login_limit_check:
  description: In check mode, what a real run would verify instead of RV(login_limit).
  returned: in check mode, when the user to measure is known
  type: dict
  contains:
    user:
      description: The user whose new session a real run measures.
      type: str
    command:
      description: The command a real run uses to measure it.
      type: list
      elements: str
    expected:
      description:
        - The soft and hard limit (bytes or V(unlimited)) the limits file of this run sets; null for one it does not
          set (O(limit_type)) and with O(state=absent). Another file of C(limits.d) read later may still override it.
      type: dict
  sample: {user: nobody, command: [runuser, -u, nobody, --, cat, /proc/self/limits],
           expected: {soft: unlimited, hard: unlimited}}
service_limit:
  description:
    - C(DefaultLimitMEMLOCKSoft)/C(DefaultLimitMEMLOCK) as C(systemctl show) reports them after the run,
      in bytes or V(unlimited); null on a host without systemd.
  returned: always
  type: dict
  contains:
    soft:
      description: C(DefaultLimitMEMLOCKSoft), bytes or V(unlimited).
      type: raw
    hard:
      description: C(DefaultLimitMEMLOCK), bytes or V(unlimited).
      type: raw
  sample: {soft: unlimited, hard: unlimited}
restart_needed:
  description:
    - Running services whose configured limit differs from the limit their main process has, so they get
      it only when restarted. In check mode, a prediction of services whose drop-in would change and, when the
      manager default would change, services running with the current default (with O(state=absent) the default
      systemd falls back to is not known before the drop-in is gone, so only per-unit drop-ins are predicted).
  returned: always
  type: list
  elements: str
  sample: [ssh.service]
bpf_memory_accounting:
  description: V(memcg) when the running kernel is 5.11 or later (BPF memory is charged to the memory cgroup), else V(rlimit).
  returned: always
  type: str
  sample: memcg
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [write /etc/security/limits.d/90-labkit-memlock.conf, systemctl daemon-reload]
diff:
  description: Before/after of every file written or removed (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
ansible_facts:
  description: Facts added to ansible_facts for the roles and tasks that follow.
  returned: always
  type: dict
  contains:
    labkit_memlock_applied:
      description:
        - The settings this task put in place (in check mode, would put in place), as the task asked for them.
          A later task that would set the very same limit can compare its own settings with this and skip
          (role C(labkit.ebpf_rdma.soft_roce) does after role C(labkit.ebpf_rdma.ebpf_host)).
        - It describes the last M(labkit.ebpf_rdma.memlock) task run on the host; each run replaces it.
      type: dict
      contains:
        state:
          description: O(state).
          type: str
        value:
          description: O(value) as given (null with O(state=absent) when not given).
          type: str
        bytes:
          description: The limit in bytes, or V(unlimited); null with O(state=absent).
          type: raw
        domains:
          description: O(domains).
          type: list
          elements: str
        limit_type:
          description: O(limit_type).
          type: str
        limits_file:
          description: O(limits_file).
          type: str
        systemd:
          description: O(systemd).
          type: bool
        units:
          description: O(units) as given.
          type: list
          elements: str
        dropin_name:
          description: O(dropin_name).
          type: str
  sample:
    labkit_memlock_applied: {state: present, value: unlimited, bytes: unlimited, domains: ['*', root], limit_type: both,
                             limits_file: /etc/security/limits.d/90-labkit-memlock.conf, systemd: true, units: [],
                             dropin_name: 90-labkit-memlock.conf}
'''

import os
import posixpath

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action,
    apply_actions,
    host_path,
    plan_file,
    plan_remove_file,
    read_text,
    result_for,
)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.kernel import kernel_release, version_tuple
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.limits import (
    UNLIMITED,
    LimitError,
    first_group_member,
    is_managed,
    limits_conf_value,
    normalize_unit,
    parse_proc_limits,
    parse_running_services,
    parse_size,
    parse_systemctl_show,
    render_limits_file,
    render_manager_dropin,
    render_unit_dropin,
    systemd_value,
    validate_dropin_name,
    validate_domain,
)

LIMITS_D = '/etc/security/limits.d'
MANAGER_DIR = '/etc/systemd/system.conf.d'
UNIT_DIR = '/etc/systemd/system'


def current_euid():
    return os.geteuid()


def systemd_booted():
    return os.path.isdir(host_path('/run/systemd/system'))


def validate(params, booted):
    """Check the input before anything is read or changed; return (size, units). Raise LimitError."""
    size = None
    if params['state'] == 'present':
        size = parse_size(params['value'])
    elif params['value'] is not None:
        parse_size(params['value'])
    if not params['domains']:
        raise LimitError('domains is empty: name at least one limits.conf domain, e.g. "*" or root')
    for domain in params['domains']:
        validate_domain(domain)
    validate_dropin_name(params['dropin_name'])
    units = []
    for name in params['units']:
        unit = normalize_unit(name)
        if unit not in units:
            units.append(unit)
    limits_file = params['limits_file']
    if not limits_file.startswith('/'):
        raise LimitError('limits_file must be an absolute path, got %r; give the full path, e.g. %s/'
                         '90-labkit-memlock.conf' % (limits_file, LIMITS_D))
    if posixpath.dirname(posixpath.normpath(limits_file)) == LIMITS_D and not limits_file.endswith('.conf'):
        raise LimitError('limits_file %s does not end in .conf, so pam_limits would ignore it; name it e.g. %s/'
                         '90-labkit-memlock.conf' % (limits_file, LIMITS_D))
    if params['state'] == 'present' and (params['systemd'] or units) and not booted:
        raise LimitError('this host is not running systemd (/run/systemd/system is missing), so there is no '
                         'service manager to configure; set systemd: false and units: [] (the limits.d file '
                         'still covers PAM logins)')
    return size, units


def targets(params, units):
    """(path, renderer) of every file the module handles, limits file first."""
    files = [(params['limits_file'], lambda s: render_limits_file(params['domains'], params['limit_type'], s))]
    if params['systemd']:
        files.append((posixpath.join(MANAGER_DIR, params['dropin_name']), render_manager_dropin))
    for unit in units:
        files.append((posixpath.join(UNIT_DIR, unit + '.d', params['dropin_name']), render_unit_dropin))
    return files


def plan(params, size, units, booted):
    """From the files on the host and the wanted state to a list of actions (reads files only)."""
    actions = []
    systemd_changed = False
    for path, render in targets(params, units):
        current = read_text(path)
        # An empty file holds nothing of anyone's (what a crash mid-write leaves): it is rewritten.
        if current is not None and current.strip() and not is_managed(current):
            raise LimitError('%s exists and was not written by labkit.ebpf_rdma.memlock (no "Managed by" header); '
                             'it is left alone: merge it by hand, or choose another %s'
                             % (path, 'limits_file' if path == params['limits_file'] else 'dropin_name'))
        if params['state'] == 'present':
            action = plan_file(path, render(size), mode=0o644)
        else:
            action = plan_remove_file(path)
        if action is not None:
            actions.append(action)
            if path != params['limits_file']:
                systemd_changed = True
    if systemd_changed and booted:
        actions.append(Action('run', 'systemctl', 'systemctl daemon-reload', argv=['systemctl', 'daemon-reload']))
    return actions


def systemctl_show_values(block, soft_key, hard_key):
    def value(text):
        text = (text or '').strip()
        if text == 'infinity':
            return UNLIMITED
        return int(text) if text.isdigit() else None
    return {'soft': value(block.get(soft_key)), 'hard': value(block.get(hard_key))}


def read_service_limit(module, systemctl):
    rc, out, err = module.run_command([systemctl, 'show', '-p', 'DefaultLimitMEMLOCK', '-p', 'DefaultLimitMEMLOCKSoft'])
    if rc != 0:
        return None
    blocks = parse_systemctl_show(out)
    if not blocks:
        return None
    return systemctl_show_values(blocks[0], 'DefaultLimitMEMLOCKSoft', 'DefaultLimitMEMLOCK')


def restart_needed(module, systemctl, predicted_units, predicted_default, old_default):
    """Running services whose configured limit differs from their main process's limit.

    ``predicted_units`` (check mode) are units whose drop-in would change; ``predicted_default``
    the new manager default that services now running with ``old_default`` would get.
    """
    rc, out, err = module.run_command([systemctl, 'list-units', '--type=service', '--state=running',
                                       '--plain', '--no-legend'])
    running = parse_running_services(out) if rc == 0 else []
    if not running:
        return []
    rc, out, err = module.run_command([systemctl, 'show', '-p', 'Id', '-p', 'MainPID', '-p', 'LimitMEMLOCK',
                                       '-p', 'LimitMEMLOCKSoft'] + running)
    if rc != 0:
        return []
    stale = []
    for block in parse_systemctl_show(out):
        unit = block.get('Id')
        configured = systemctl_show_values(block, 'LimitMEMLOCKSoft', 'LimitMEMLOCK')
        pid = (block.get('MainPID') or '0').strip()
        actual = parse_proc_limits(read_text('/proc/%s/limits' % pid)) if pid.isdigit() and pid != '0' else None
        if unit in predicted_units:
            stale.append(unit)
        elif predicted_default is not None and configured == old_default and configured != predicted_default:
            stale.append(unit)
        elif actual is not None and actual != configured:
            stale.append(unit)
    return sorted(set(stale))


def probe_user(params):
    if params['login_user']:
        return params['login_user'], None
    domain = params['domains'][0]
    if domain == '*':
        return 'nobody', None
    if domain[:1] in ('@', '%'):
        group = domain[1:]
        user = first_group_member(read_text('/etc/group'), read_text('/etc/passwd'), group)
        if user is None:
            return None, ('no member of group %s found in /etc/group or /etc/passwd; set login_user to a member '
                          'to see the limit of a new session' % group)
        return user, None
    return domain, None


def login_check(params, user, size):
    """What a real run would verify, reported in check mode instead of opening a PAM session."""
    sets = {'soft': params['limit_type'] in ('soft', 'both', '-'), 'hard': params['limit_type'] in ('hard', 'both', '-')}
    expected = dict((k, size if sets[k] and size is not None else None) for k in ('soft', 'hard'))
    return {'user': user, 'command': ['runuser', '-u', user, '--', 'cat', '/proc/self/limits'], 'expected': expected}


def read_login_limit(module, params, size=None):
    """(limits, reason, check): the limit of a new PAM session of the probe user.

    In check mode nothing is run (runuser opens a PAM session: pam_limits, pam_systemd and
    the session modules of the runuser service act on the host); ``check`` says what a real
    run would verify.
    """
    user, reason = probe_user(params)
    if user is None:
        return None, reason, None
    if module.check_mode:
        return None, ('check mode: no PAM session is opened (runuser -u %s would run the session modules of the '
                      'runuser PAM service); a real run measures it, see login_limit_check' % user), \
            login_check(params, user, size)
    if current_euid() != 0:
        return None, 'measuring a new session runs runuser, which needs root; run with become: true', None
    runuser = module.get_bin_path('runuser')
    cat = module.get_bin_path('cat')
    if not runuser or not cat:
        return None, 'runuser (util-linux) is not installed, so a new PAM session cannot be opened to measure it', None
    rc, out, err = module.run_command([runuser, '-u', user, '--', cat, '/proc/self/limits'])
    if rc != 0:
        return None, 'runuser -u %s failed (exit %d): %s' % (user, rc, (err or out).strip()), None
    limits = parse_proc_limits(out)
    if limits is None:
        return None, 'no "Max locked memory" line in /proc/self/limits of the new session', None
    limits['user'] = user
    return limits, None, None


def applied_fact(params, size):
    """``ansible_facts.labkit_memlock_applied``: the settings of this run, as the task asked for them."""
    keys = ('state', 'value', 'domains', 'limit_type', 'limits_file', 'systemd', 'units', 'dropin_name')
    fact = dict((k, params[k]) for k in keys)
    fact['bytes'] = size
    return fact


def main():
    module = AnsibleModule(
        argument_spec=dict(
            value=dict(type='str'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            domains=dict(type='list', elements='str', default=['*', 'root'], aliases=['domain']),
            limit_type=dict(type='str', default='both', choices=['soft', 'hard', 'both', '-']),
            limits_file=dict(type='path', default='/etc/security/limits.d/90-labkit-memlock.conf'),
            systemd=dict(type='bool', default=True),
            units=dict(type='list', elements='str', default=[]),
            dropin_name=dict(type='str', default='90-labkit-memlock.conf'),
            login_user=dict(type='str'),
        ),
        required_if=[('state', 'present', ['value'])],
        supports_check_mode=True,
    )
    p = module.params
    booted = systemd_booted()
    try:
        size, units = validate(p, booted)
        actions = plan(p, size, units, booted)
    except LimitError as e:
        module.fail_json(msg=str(e))

    if actions and not module.check_mode and current_euid() != 0:
        module.fail_json(msg='memlock needs root to write %s; run the task with become: true'
                         % ', '.join(a.target for a in actions if a.kind != 'run'),
                         actions=[a.description for a in actions])

    systemctl = module.get_bin_path('systemctl') if booted else None
    old_default = read_service_limit(module, systemctl) if systemctl else None

    for action in actions:
        if action.kind == 'run' and not module.check_mode:
            action.argv = [module.get_bin_path(action.argv[0], required=True)] + action.argv[1:]
    apply_actions(module, actions)

    service_limit = read_service_limit(module, systemctl) if systemctl else None
    stale = []
    if systemctl:
        predicted_units = []
        predicted_default = None
        if module.check_mode:
            changed = set(a.target for a in actions)
            predicted_units = [u for u in units
                               if posixpath.join(UNIT_DIR, u + '.d', p['dropin_name']) in changed]
            if p['systemd'] and posixpath.join(MANAGER_DIR, p['dropin_name']) in changed and size is not None:
                predicted_default = {'soft': size, 'hard': size}
        stale = restart_needed(module, systemctl, predicted_units, predicted_default, old_default)

    login_limit, reason, check = read_login_limit(module, p, size)
    release = kernel_release()
    extra = dict(
        limits_file=p['limits_file'],
        systemd_files=[path for path, _r in targets(p, units)[1:]],
        limit=None if size is None else dict(bytes=size, limits_conf=limits_conf_value(size),
                                             systemd=systemd_value(size)),
        login_limit=login_limit,
        service_limit=service_limit,
        restart_needed=stale,
        bpf_memory_accounting='memcg' if version_tuple(release) >= (5, 11, 0) else 'rlimit',
        ansible_facts={'labkit_memlock_applied': applied_fact(p, size)},
    )
    if login_limit is None:
        extra['login_limit_reason'] = reason
    if check is not None:
        extra['login_limit_check'] = check
    module.exit_json(**result_for(module, actions, **extra))


if __name__ == '__main__':
    main()
