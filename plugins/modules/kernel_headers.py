#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kernel_headers
short_description: Make the build headers of the running kernel available
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Makes sure the headers of the B(running) kernel (C(uname -r)) are installed, so that
    C(/lib/modules/<release>/build) resolves to a directory with a C(Makefile), which is what
    out-of-tree modules, BCC and C(bpftrace) need.
  - Picks the package from C(/etc/os-release) (C(ID), then C(ID_LIKE)). Debian, Ubuntu and derivatives
    use C(linux-headers-<release>) through C(apt-get) (with C(DEBIAN_FRONTEND=noninteractive));
    Fedora, RHEL, CentOS Stream, Rocky and Alma use C(kernel-devel-<release>) through C(dnf).
  - Checks that the package exists before installing it (C(apt-cache policy), C(dnf list --available)).
    When it does not (the kernel was upgraded but the machine not rebooted; a kernel flavour whose headers
    are not in the configured repositories) the module fails with a message that names the running
    kernel, the headers packages that do exist, and the fix (reboot into the newest installed kernel,
    install the flavour's meta-package, refresh the package lists).
options:
  state:
    description:
      - V(present) installs the package when it is missing (and reinstalls it when it is installed but the
        build directory is broken). When the build directory is already usable and no package provides the
        running kernel's headers (a custom kernel), nothing is done.
      - V(checked) installs nothing and fails, with the fix, when the headers are missing.
      - V(absent) removes exactly that package and nothing else; it fails instead when the package manager
        would also remove other packages (such as the C(linux-headers-<flavour>) meta-package that
        depends on it).
    type: str
    choices: [present, absent, checked]
    default: present
  update_cache:
    description:
      - Refresh the package lists (C(apt-get update), C(dnf makecache)) before installing. Only done when
        something has to be installed, so a run with nothing to do stays unchanged.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds C(apt-get) waits for the dpkg lock (C(-o DPkg::Lock::Timeout=N)) when another apt or dpkg
        process (apt-daily, unattended-upgrades, a user's install) holds it, before it fails. V(0) fails at once.
      - The roles pass C(labkit_apt_lock_timeout) (default 300). Ignored on the Red Hat family (dnf waits itself).
    type: int
    default: 300
notes:
  - "The module handles the running kernel only. After a kernel upgrade, reboot first; the error message
    says so when C(/lib/modules) holds a newer kernel of the same flavour."
  - "O(state=absent) on the Debian family simulates the removal (C(apt-get -s remove)) first; on the Red Hat
    family it uses C(rpm -e) (C(rpm -e --test) first), which never removes other packages."
  - "The Debian family's C(available) list comes from C(apt-cache search --names-only '^linux-headers-')
    at every run; on the Red Hat family it is only filled when the package is missing (listing costs a
    metadata download)."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the install or removal it would do. C(apt-get update) is not run in check mode, so
      availability is judged on the current package lists.
  diff_mode:
    support: none
  platform:
    platforms: linux
'''

EXAMPLES = r'''
- name: Install the headers of the running kernel
  labkit.ebpf_rdma.kernel_headers:
    update_cache: true
  become: true

- name: Fail early (with the fix) when the headers are missing, installing nothing
  labkit.ebpf_rdma.kernel_headers:
    state: checked

- name: Remove exactly the headers package of the running kernel
  labkit.ebpf_rdma.kernel_headers:
    state: absent
  become: true
'''

RETURN = r'''
kernel_release:
  description: The running kernel release (C(uname -r)).
  returned: always
  type: str
  sample: 6.1.0-50-amd64
package:
  description: The package that holds the running kernel's headers.
  returned: always
  type: str
  sample: linux-headers-6.1.0-50-amd64
build_dir:
  description: The build directory kernel builds use, C(/lib/modules/<release>/build).
  returned: always
  type: str
  sample: /lib/modules/6.1.0-50-amd64/build
build_dir_target:
  description: Where the C(build) symlink points; null when it does not exist or is not a symlink.
  returned: always
  type: str
  sample: /usr/src/linux-headers-6.1.0-50-amd64
build_dir_ok:
  description: Whether the build directory resolves to a directory that holds a C(Makefile) (after the
    change; in check mode, as it is now).
  returned: always
  type: bool
  sample: true
installed:
  description: Whether the package is installed (after the change; in check mode, as it would be).
  returned: always
  type: bool
  sample: true
available:
  description:
    - Headers packages for real kernel releases of the running kernel's flavour that the package manager
      knows, newest first (meta-packages and C(-common) packages left out).
    - Empty on the Red Hat family when the package is installed (see the notes).
  returned: always
  type: list
  elements: str
  sample: [linux-headers-6.1.0-50-amd64, linux-headers-6.1.0-47-amd64]
distribution:
  description: The distribution (C(PRETTY_NAME) of os-release) and its family.
  returned: always
  type: dict
  sample: {name: Debian GNU/Linux 12 (bookworm), family: debian}
unavailable_reason:
  description:
    - Why the headers cannot be installed, when the image says so (a kernel from another suite whose headers
      could not be installed, C(/etc/labkit/kernel.json) written by M(labkit.ebpf_rdma.vm_image)); then
      O(state=present) installs nothing, warns and does not fail, so that work needing no headers (CO-RE with
      the kernel's BTF) goes on. An empty string otherwise.
  returned: always
  type: str
  sample: 'the archive (bullseye) has no linux-headers-5.10.0-32-amd64'
kernels:
  description:
    - The kernels installed on the host (a C(/lib/modules/<release>) directory holding C(modules.dep)), sorted by
      name, each with whether its build directory resolves to headers (after the change; in check mode, as now).
    - With RV(reboot_required), what M(labkit.ebpf_rdma.kernel_headers) reads so that the role C(preflight) can say
      whether a reboot is needed without another module run.
  returned: always
  type: list
  elements: dict
  sample: [{release: 6.1.0-50-amd64, headers: true}, {release: 6.1.0-52-amd64, headers: false}]
  contains:
    release:
      description: The kernel release (C(uname -r) when it runs).
      type: str
    headers:
      description: Whether C(/lib/modules/<release>/build) resolves to a directory with a C(Makefile).
      type: bool
reboot_required:
  description: Whether the package manager asks for a reboot (C(/var/run/reboot-required) exists, Debian family).
  returned: always
  type: bool
  sample: false
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["apt-get install -y --no-install-recommends linux-headers-6.1.0-50-amd64"]
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import Action
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import distro
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import guest_kernel
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import kernel
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import pkg_mgr

APT_ENV = {'DEBIAN_FRONTEND': 'noninteractive'}
SHOW_AVAILABLE = 5
REBOOT_REQUIRED = '/var/run/reboot-required'


# --------------------------------------------------------------------------
# reads

def resolve_host_link(path, max_hops=40):
    """Follow the symlinks of host ``path`` inside common.HOST_ROOT, component by component.

    Returns ``(first_target, resolved_host_path)``: the text of the link at
    ``path`` itself (None when it is not a symlink) and the final path as seen
    through :func:`common.host_path` (absolute targets are re-rooted). Every
    component is resolved, not only the last one: on merged-/usr systems
    (Debian 13) ``/lib`` is a link to ``usr/lib`` and
    ``/lib/modules/<release>/build`` is the relative link
    ``../../../src/linux-headers-<release>``, which only lands in ``/usr/src``
    when ``..`` is taken from the real directory ``/usr/lib/modules/<release>``.
    """
    link = common.host_path(path)
    first = os.readlink(link) if os.path.islink(link) else None
    pending = [c for c in path.split('/') if c]
    done = '/'
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == '.':
            continue
        if part == '..':
            done = os.path.dirname(done)
            continue
        candidate = os.path.join(done, part)
        real = common.host_path(candidate)
        if os.path.islink(real):
            hops += 1
            if hops > max_hops:
                # a loop: report where it was given up
                return first, real
            target = os.readlink(real)
            if os.path.isabs(target):
                done = '/'
            pending = [c for c in target.split('/') if c] + pending
            continue
        done = candidate
    return first, common.host_path(done)


def inspect_build_dir(release):
    path = '/lib/modules/%s/build' % release
    target, resolved = resolve_host_link(path)
    ok = os.path.isdir(resolved) and os.path.isfile(os.path.join(resolved, 'Makefile'))
    return {'path': path, 'target': target, 'ok': ok,
            'exists': os.path.lexists(common.host_path(path))}


def installed_kernels():
    try:
        return sorted(os.listdir(common.host_path('/lib/modules')))
    except OSError:
        return []


def kernel_trees():
    """The installed kernels (a modules.dep under /lib/modules/<release>) and whether each has its headers."""
    return [{'release': rel, 'headers': inspect_build_dir(rel)['ok']} for rel in installed_kernels()
            if os.path.isfile(common.host_path('/lib/modules/%s/modules.dep' % rel))]


def reboot_required():
    return os.path.lexists(common.host_path(REBOOT_REQUIRED))


def read_os_release():
    text = common.read_text('/etc/os-release')
    if text is None:
        text = common.read_text('/usr/lib/os-release')
    return distro.parse_os_release(text or '')


class Apt(object):
    """Queries and commands for the Debian family."""

    family = 'debian'

    def __init__(self, module, lock_timeout=300):
        self.module = module
        self.apt_get = module.get_bin_path('apt-get', required=True)
        self.lock = ['-o', 'DPkg::Lock::Timeout=%d' % lock_timeout]
        self.lock_timeout = lock_timeout
        self.apt_cache = module.get_bin_path('apt-cache', required=True)
        self._packages = None
        self.running = kernel.kernel_release()

    def query(self, package):
        rc, out, err = self.module.run_command([self.apt_cache, 'policy', package], environ_update=APT_ENV)
        if rc != 0:
            self.module.fail_json(msg='apt-cache policy %s failed (exit %d): %s' % (package, rc, (err or out).strip()),
                                  rc=rc, stdout=out, stderr=err)
        policy = pkg_mgr.parse_apt_policy(out)
        return {'installed': policy['installed'] is not None, 'candidate': policy['candidate'] is not None}

    def _search(self, prefix):
        if self._packages is None:
            rc, out, err = self.module.run_command([self.apt_cache, 'search', '--names-only', '^%s' % prefix],
                                                   environ_update=APT_ENV)
            names = pkg_mgr.parse_apt_search_names(out) if rc == 0 else []
            self._packages = pkg_mgr.versioned_headers(names, prefix)
        return self._packages

    def available(self, prefix, flavour, installed):
        return pkg_mgr.newest_first(self._search(prefix), flavour=flavour, series_of=self.running)

    def all_flavours(self, prefix):
        return sorted(set(distro.kernel_flavour(r) for r in self._search(prefix).values()))

    def update_action(self):
        return Action('package', 'apt-get update', 'apt-get update', argv=[self.apt_get] + self.lock + ['update'])

    def install_action(self, package, reinstall=False):
        args = ['install', '-y', '--no-install-recommends'] + (['--reinstall'] if reinstall else []) + [package]
        return Action('package', package, ' '.join(['apt-get'] + args), argv=[self.apt_get] + self.lock + args)

    def remove_action(self, package):
        rc, out, err = self.module.run_command([self.apt_get, '-s', 'remove', package], environ_update=APT_ENV)
        if rc != 0:
            self.module.fail_json(msg='cannot remove %s: apt-get -s remove failed (exit %d): %s'
                                  % (package, rc, (err or out).strip()), rc=rc, stdout=out, stderr=err)
        extra = [p for p in pkg_mgr.parse_apt_simulated_removals(out) if p != package]
        if extra:
            self.module.fail_json(
                msg='removing %s would also remove %s (they depend on it); state=absent removes exactly one '
                    'package. Remove or keep those first (e.g. apt-get remove %s), then run this again'
                    % (package, ', '.join(extra), ' '.join(extra)),
                would_also_remove=extra)
        return Action('package', package, 'apt-get remove -y %s' % package,
                      argv=[self.apt_get] + self.lock + ['remove', '-y', package])

    def run(self, action):
        common.run_checked(self.module, action.argv, what=action.description, environ_update=APT_ENV,
                           hint='apt-get waited up to %d s for the dpkg lock (lock_timeout); if another apt/dpkg '
                                'process still holds it, wait for it to finish (or raise lock_timeout, the roles\' '
                                'labkit_apt_lock_timeout) and run this again' % self.lock_timeout)


class Dnf(object):
    """Queries and commands for the Red Hat family."""

    family = 'redhat'

    def __init__(self, module):
        self.module = module
        self.dnf = module.get_bin_path('dnf') or module.get_bin_path('yum')
        if not self.dnf:
            module.fail_json(msg='neither dnf nor yum was found on this Red Hat family host; install dnf')
        self.rpm = module.get_bin_path('rpm', required=True)
        self.name = os.path.basename(self.dnf)

    def query(self, package):
        rc, out, err = self.module.run_command([self.rpm, '-q', package])
        if rc == 0:
            return {'installed': True, 'candidate': True}
        rc, out, err = self.module.run_command([self.dnf, 'list', '--available', package])
        return {'installed': False, 'candidate': rc == 0}

    def available(self, prefix, flavour, installed):
        if installed:
            return []
        name = prefix.rstrip('-')
        rc, out, err = self.module.run_command([self.dnf, 'list', '--available', '--showduplicates', name])
        if rc != 0:
            return []
        return pkg_mgr.newest_first(pkg_mgr.parse_dnf_list(out, name))

    def all_flavours(self, prefix):
        return []

    def update_action(self):
        return Action('package', 'dnf makecache', '%s makecache' % self.name, argv=[self.dnf, 'makecache'])

    def install_action(self, package, reinstall=False):
        verb = 'reinstall' if reinstall else 'install'
        return Action('package', package, '%s %s -y %s' % (self.name, verb, package),
                      argv=[self.dnf, verb, '-y', package])

    def remove_action(self, package):
        rc, out, err = self.module.run_command([self.rpm, '-e', '--test', package])
        if rc != 0:
            self.module.fail_json(
                msg='removing %s would break other packages (rpm -e --test: %s); state=absent removes exactly one '
                    'package. Remove those first, then run this again' % (package, (err or out).strip()),
                rc=rc, stdout=out, stderr=err)
        return Action('package', package, 'rpm -e %s' % package, argv=[self.rpm, '-e', package])

    def run(self, action):
        common.run_checked(self.module, action.argv, what=action.description)


# --------------------------------------------------------------------------
# messages (pure)

def missing_package_message(release, package, distro_name, manager, flavour, available, newer, flavours,
                            image_meta, headers_meta, updated, check_mode_skipped_update=False):
    """The failure text when no package provides the running kernel's headers."""
    msg = ['The headers of the running kernel %s are missing and no package provides them: %s is not available '
           'from %s on %s.' % (release, package, manager, distro_name)]
    if available:
        shown = available[:SHOW_AVAILABLE]
        series = '.'.join(str(n) for n in kernel.release_sort_key(release)[0][:2])
        msg.append('Headers packages that exist for flavour %s (the %s series first, newest first): %s%s.'
                   % (flavour, series, ', '.join(shown), ' and %d more' % (len(available) - len(shown))
                      if len(available) > len(shown) else ''))
    elif flavours:
        msg.append('No headers package exists for flavour %s; flavours that have them: %s.'
                   % (flavour, ', '.join(flavours)))
    if newer:
        best = newer[0]
        if best['build_ok']:
            msg.append('Fix: reboot into %s, the newest installed kernel (its headers are already at '
                       '/lib/modules/%s/build): the running kernel was upgraded but not rebooted.'
                       % (best['release'], best['release']))
        else:
            msg.append('Fix: reboot into %s, the newest installed kernel (the running one was upgraded but not '
                       'rebooted), then run this again to install its headers.' % best['release'])
    elif available:
        newest_rel = available[0]
        msg.append('Fix: the running kernel is not the one the repositories carry (upgraded and removed, or the '
                   'archive moved on): install the current kernel and its headers with the meta-packages '
                   '(%s %s), then reboot into it.' % (image_meta or 'the kernel image', headers_meta or newest_rel))
    elif flavours:
        msg.append('Fix: install a kernel of a flavour with headers and its meta-packages (e.g. linux-image-%s '
                   'linux-headers-%s) and reboot into it, or add the repository that carries %s.'
                   % (flavours[0], flavours[0], package))
    else:
        msg.append('Fix: add the repository that carries %s, or install a kernel whose headers are packaged '
                   'and reboot into it.' % package)
    if check_mode_skipped_update:
        msg.append('(Check mode: the package lists were not refreshed; the package may appear after an update.)')
    elif not updated:
        msg.append('If the package lists are old, run with update_cache: true first.')
    return ' '.join(msg)


def plan(state, pkg_state, build, update_cache, manager):
    """Pure plan: returns ``(actions, failure_reason)``; reason is None, 'missing' or 'broken'."""
    actions = []
    if state == 'checked':
        return actions, (None if build['ok'] else 'missing')
    if state == 'absent':
        return actions, None
    if pkg_state['installed']:
        if build['ok']:
            return actions, None
        actions.append(manager.install_action(pkg_state['package'], reinstall=True))
        return actions, None
    if not pkg_state['candidate']:
        return actions, (None if build['ok'] else 'unavailable')
    if update_cache:
        actions.append(manager.update_action())
    actions.append(manager.install_action(pkg_state['package']))
    return actions, None


# --------------------------------------------------------------------------

def describe_host(module):
    """The running kernel, the distribution and its package manager: what the headers package is called and where.

    Fails when the distribution is neither of the Debian nor of the Red Hat family.
    """
    release = kernel.kernel_release()
    os_release = read_os_release()
    family = distro.distro_family(os_release)
    distro_name = distro.describe_distro(os_release)
    if family is None:
        module.fail_json(msg='unsupported distribution %s (ID=%s, ID_LIKE=%s): kernel_headers knows the Debian '
                             'family (apt) and the Red Hat family (dnf); install the headers of %s by hand'
                             % (distro_name, os_release.get('ID', '?'), os_release.get('ID_LIKE', ''), release))
    return dict(release=release, os_release=os_release, family=family, distro_name=distro_name,
                package=distro.headers_package(os_release, release),
                prefix=distro.headers_package_prefix(os_release),
                flavour=distro.kernel_flavour(release),
                manager=Apt(module, module.params['lock_timeout']) if family == 'debian' else Dnf(module),
                manager_name='apt' if family == 'debian' else 'dnf')


def query_package(module, host, build):
    """(pkg_state, done, updated): the headers package, after refreshing the package lists when that may help.

    Refreshing the lists is the one step that must happen before planning: whether the package exists depends
    on it. Only when something may need installing, and never in check mode (then it is planned, in ``done``).
    """
    manager, package = host['manager'], host['package']
    pkg_state = dict(manager.query(package), package=package)
    done = []
    updated = False
    if (module.params['state'] == 'present' and module.params['update_cache'] and not pkg_state['installed']
            and not pkg_state['candidate'] and not build['ok']):
        action = manager.update_action()
        if not module.check_mode:
            manager.run(action)
            updated = True
            pkg_state = dict(manager.query(package), package=package)
        done.append(action)
    return pkg_state, done, updated


def missing_fix(host, pkg_state, build):
    """The fix for headers that are missing although the package is installed or installable; None otherwise."""
    package = host['package']
    if pkg_state['installed']:
        return ('%s is installed but %s %s; reinstall it (state: present does)'
                % (package, build['path'], 'points to %s, which has no Makefile' % build['target']
                   if build['exists'] else 'does not exist'))
    if pkg_state['candidate']:
        return 'install %s (state: present, or %s)' % (
            package, ' '.join(distro.install_command(host['os_release'], [package])))
    return None


def fail_unavailable(module, host, available, done, updated, result_extra):
    """Fail saying that no headers package exists for the running kernel, with the kernels and flavours that have one."""
    release, os_release = host['release'], host['os_release']
    newer = [{'release': rel, 'build_ok': inspect_build_dir(rel)['ok']}
             for rel in kernel.same_flavour_newer(release, installed_kernels())]
    flavours = [] if available else host['manager'].all_flavours(host['prefix'])
    module.fail_json(
        msg=missing_package_message(release, host['package'], host['distro_name'], host['manager_name'],
                                    host['flavour'], available, newer, flavours,
                                    distro.image_meta_package(os_release, release),
                                    distro.headers_meta_package(os_release, release),
                                    updated or host['family'] != 'debian',
                                    check_mode_skipped_update=bool(done) and not updated),
        installed=False, build_dir_ok=False, newer_kernels=[n['release'] for n in newer], **result_extra)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent', 'checked']),
            update_cache=dict(type='bool', default=False),
            lock_timeout=dict(type='int', default=300),
        ),
        supports_check_mode=True,
    )
    state = module.params['state']
    if module.params['lock_timeout'] < 0:
        module.fail_json(msg='lock_timeout=%d is negative: it is the number of seconds apt-get waits for the dpkg '
                             'lock; set 0 (fail at once) or more (labkit_apt_lock_timeout in the roles, default 300)'
                             % module.params['lock_timeout'])

    host = describe_host(module)
    release, package, manager = host['release'], host['package'], host['manager']
    build = inspect_build_dir(release)
    pkg_state, done, updated = query_package(module, host, build)
    available = manager.available(host['prefix'], host['flavour'], pkg_state['installed'])

    actions, failure = plan(state, pkg_state, build, module.params['update_cache'] and not done, manager)
    if state == 'absent' and pkg_state['installed']:
        actions = [manager.remove_action(package)]

    # an image whose kernel came from another suite records when its headers could not be installed
    note = '' if build['ok'] else guest_kernel.marker_headers_note(
        common.read_text(guest_kernel.MARKER_PATH, ''), release)
    result_extra = dict(kernel_release=release, package=package, build_dir=build['path'],
                        build_dir_target=build['target'], available=available,
                        distribution=dict(name=host['distro_name'], family=host['family']), unavailable_reason=note,
                        kernels=kernel_trees(), reboot_required=reboot_required())
    if note and state == 'present' and not pkg_state['installed']:
        module.warn('The headers of the running kernel %s are not installed and cannot be: %s (%s). Work that '
                    'needs them (kernel modules, non-CO-RE BPF builds) will not run here; CO-RE with the '
                    "kernel's BTF does." % (release, note, guest_kernel.MARKER_PATH))
        module.exit_json(**common.result_for(module, done, installed=False, build_dir_ok=False, **result_extra))

    if failure == 'missing':
        fix = missing_fix(host, pkg_state, build)
        if fix:
            module.fail_json(msg='The headers of the running kernel %s are missing: %s does not resolve to a '
                                 'directory with a Makefile. Fix: %s.' % (release, build['path'], fix),
                             installed=pkg_state['installed'], build_dir_ok=False, **result_extra)
        failure = 'unavailable'
    if failure == 'unavailable':
        fail_unavailable(module, host, available, done, updated, result_extra)

    if not module.check_mode:
        common.apply_actions(module, actions, runner=manager.run)
    all_actions = done + actions

    installed = pkg_state['installed']
    build_ok = build['ok']
    if actions:
        installed = state != 'absent'
        if not module.check_mode:
            build = inspect_build_dir(release)
            build_ok = build['ok']
            result_extra['build_dir_target'] = build['target']
            result_extra['kernels'] = kernel_trees()
            result_extra['reboot_required'] = reboot_required()
            if state == 'present' and not build_ok:
                module.fail_json(msg='installed %s but %s still does not resolve to a directory with a Makefile '
                                     '(it points to %s); the package does not provide the build tree of %s: '
                                     'check the package contents (dpkg -L / rpm -ql %s)'
                                 % (package, build['path'], build['target'], release, package),
                                 installed=True, build_dir_ok=False, actions=common.describe(all_actions),
                                 changed=True, **result_extra)

    result = common.result_for(module, all_actions, installed=installed, build_dir_ok=build_ok, **result_extra)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
