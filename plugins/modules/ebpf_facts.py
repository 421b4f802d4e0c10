#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ebpf_facts
short_description: Gather what an eBPF kprobe development box needs to know about its kernel
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Reads, without changing anything, the kernel facts that decide whether CO-RE kprobe programs can be
    built and attached here, and returns them under C(ansible_facts.labkit_ebpf).
  - Kernel release, version and architecture; BTF of vmlinux (C(/sys/kernel/btf/vmlinux)) and of named
    modules (C(/sys/kernel/btf/<module>), with whether the module is loaded, since module BTF only appears
    once it is); kernel config values (C(/proc/config.gz), C(/boot/config-<release>) or, with the package split of newer
    Debian kernels, C(/usr/lib/modules/<release>/config)); the BPF JIT
    (C(/proc/sys/net/core/bpf_jit_enable)); C(kernel.unprivileged_bpf_disabled); the lockdown mode;
    where tracefs is mounted (C(/proc/self/mountinfo)); the memlock limit of the module process and how the
    kernel accounts BPF memory (memcg from 5.11, RLIMIT_MEMLOCK before); whether each kprobe target is in
    tracefs C(available_filter_functions) and C(/proc/kallsyms), and in which module.
  - When C(bpftool) is installed, its version, the capabilities that version has, and a summary of
    C(bpftool -j feature probe kernel).
  - Also returns C(problems), human-readable strings that each name a problem and its fix.
options:
  btf_modules:
    description:
      - Kernel modules whose BTF (C(/sys/kernel/btf/<module>)) to report.
    type: list
    elements: str
    default: [ib_core]
  config_keys:
    description:
      - Kernel config options to report on top of C(BPF), C(BPF_SYSCALL), C(BPF_JIT), C(BPF_EVENTS),
        C(KPROBES), C(KPROBE_EVENTS), C(DEBUG_INFO_BTF) and C(DEBUG_INFO_BTF_MODULES). With or without the
        C(CONFIG_) prefix.
    type: list
    elements: str
    default: []
  kprobe_targets:
    description:
      - Kernel functions to look up in C(available_filter_functions) and C(/proc/kallsyms).
    type: list
    elements: str
    default: [ib_modify_qp_with_udata]
  bpftool_probe:
    description:
      - Run C(bpftool -j feature probe kernel) when bpftool is installed (about a second; needs root to
        probe program types).
    type: bool
    default: true
  tools:
    description:
      - eBPF toolchain programs to look for (on C(PATH), then in C(/usr/local/go/bin), C(/usr/local/bin) and the
        sbin directories) and report with their versions under C(tools).
      - C(bpf2go) has no version flag; its version is read from its install path (C(.../bpf2go-<version>/bpf2go),
        as the C(labkit.ebpf_rdma.ebpf_toolchain) role installs it) and is null otherwise.
    type: list
    elements: str
    choices: [clang, go, bpftool, bpf2go]
    default: []
  session_memlock:
    description:
      - Also report the locked-memory limit a new root session gets through PAM (C(runuser -u root -- sh -c
        'ulimit -l')), which is what a login or C(sudo) sees after C(limits.d) changes, unlike this module's own
        process. Needs root.
    type: bool
    default: false
  memlock_min:
    description:
      - With O(session_memlock), the smallest limit a new root session may get, V(unlimited) or a size
        (C(64M), C(65536K), bytes without a unit); a smaller one is a problem. Empty (the default) judges nothing.
    type: str
    default: ''
  rdma_devices:
    description:
      - RDMA devices that must exist with an ACTIVE port (e.g. V(rxe0)); each missing or inactive one, and
        C(rdma_rxe) not being loaded, is a problem, and C(rdma) is added to the facts. Read from sysfs only.
      - With this, O(session_memlock) and O(memlock_min), one run of this module answers whether a converged
        VM is ready (what the C(local_vm) role checks after a boot from a converged snapshot).
    type: list
    elements: str
    default: []
notes:
  - "C(/proc/kallsyms) and C(available_filter_functions) hold 100 000+ lines (a few MB): each is read
    whole, cut down to the lines that contain a requested name, and only those are parsed."
  - "Reading C(available_filter_functions) and symbol names in C(/proc/kallsyms) needs root on most
    kernels; run with C(become: true)."
  - "C(bpftool feature probe) loads and unloads small test programs; nothing stays behind."
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything; check mode gathers the same facts.
  diff_mode:
    support: none
  platform:
    platforms: linux
'''

EXAMPLES = r'''
- name: Gather eBPF facts
  labkit.ebpf_rdma.ebpf_facts:
  become: true
  register: ebpf

- name: Stop early when the box cannot run the kprobe
  ansible.builtin.assert:
    that: ebpf.problems | length == 0
    fail_msg: "{{ ebpf.problems | join('; ') }}"

- name: Look for RDMA kprobe targets and another module's BTF
  labkit.ebpf_rdma.ebpf_facts:
    kprobe_targets: [ib_modify_qp_with_udata, rxe_modify_qp]
    btf_modules: [ib_core, rdma_rxe]
    config_keys: [RDMA_RXE, INFINIBAND]
  become: true

- name: Use a fact
  ansible.builtin.debug:
    msg: "vmlinux BTF: {{ ansible_facts.labkit_ebpf.btf.vmlinux }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    labkit_ebpf:
      description: Everything gathered.
      returned: always
      type: dict
      contains:
        kernel_release:
          description: C(uname -r).
          type: str
          sample: 6.1.0-50-amd64
        kernel_version:
          description: The version part of the release.
          type: str
          sample: 6.1.0
        architecture:
          description: C(uname -m).
          type: str
          sample: x86_64
        btf:
          description: C(vmlinux) (bool), and per module in O(btf_modules) C(btf) (bool) and C(loaded) (bool).
          type: dict
          sample: {vmlinux: true, modules: {ib_core: {btf: false, loaded: false}}}
        config:
          description: C(source) (the file read, or null) and C(values) (option name without C(CONFIG_) ->
            C(y), C(m), C(n), a string, or null when unknown).
          type: dict
          sample: {source: /boot/config-6.1.0-50-amd64, values: {BPF: y, BPF_JIT: y}}
        jit:
          description: C(value) of C(net.core.bpf_jit_enable) (null when unreadable) and its C(meaning).
          type: dict
          sample: {value: 1, meaning: enabled}
        unprivileged_bpf_disabled:
          description: C(value) of C(kernel.unprivileged_bpf_disabled) (0, 1, 2 or null) and its C(meaning).
          type: dict
          sample: {value: 2, meaning: "unprivileged bpf() disabled; an admin may set it back to 0"}
        lockdown:
          description: C(mode) (none, integrity, confidentiality; null when the kernel has no lockdown LSM or
            securityfs is not mounted) and C(available) modes.
          type: dict
          sample: {mode: none, available: [none, integrity, confidentiality]}
        tracefs:
          description: C(path) where tracefs is usable (null when neither tracefs nor debugfs is mounted),
            C(mounted_as) (C(tracefs), or C(debugfs) when only debugfs is mounted and tracefs is reached
            through its automount) and C(filter_functions_readable).
          type: dict
          sample: {path: /sys/kernel/tracing, mounted_as: tracefs, filter_functions_readable: true}
        memlock:
          description: RLIMIT_MEMLOCK of the module process, C(soft) and C(hard), in bytes or C(unlimited).
          type: dict
          sample: {soft: 8388608, hard: 8388608}
        memlock_new_session:
          description:
            - With O(session_memlock), the C(ulimit -l) a new root session gets through PAM (KiB or
              C(unlimited)); null when it could not be read, with the reason in C(memlock_new_session_error).
          type: str
          returned: when O(session_memlock=true)
          sample: unlimited
        rdma:
          description:
            - With O(rdma_devices), C(rxe_loaded) (the rdma_rxe module is loaded) and C(devices), per name its
              C(exists) and the C(states) of its ports.
          type: dict
          returned: when O(rdma_devices) is not empty
          sample: {rxe_loaded: true, devices: {rxe0: {exists: true, states: [ACTIVE]}}}
        headers:
          description:
            - C(build_dir) (C(/lib/modules/<release>/build)) and C(present) (its C(Makefile) exists).
            - C(unavailable_reason) says why they are missing when the image says they could not be installed
              (a kernel from another suite, C(/etc/labkit/kernel.json) written by M(labkit.ebpf_rdma.vm_image));
              an empty string otherwise. Work that needs no headers (CO-RE with the kernel's BTF) is unaffected.
          type: dict
          sample: {build_dir: /lib/modules/6.1.0-50-amd64/build, present: true, unavailable_reason: ''}
        tools:
          description:
            - Per program in O(tools), null when it is not installed, else C(path), C(version) (null when it
              cannot be told) and C(line) (the first line of its version output).
          type: dict
          sample: {clang: {path: /usr/bin/clang, version: 14.0.6, line: "Debian clang version 14.0.6"}, go: null}
        bpf_memory_accounting:
          description: C(memcg) (kernel 5.11 and later) or C(rlimit) (older kernels count BPF memory against
            RLIMIT_MEMLOCK).
          type: str
          sample: memcg
        kprobe_targets:
          description:
            - Per name in O(kprobe_targets) C(filter_functions) (in C(available_filter_functions), so attachable by
              kprobe; null when that file could not be read), C(kallsyms) (in C(/proc/kallsyms); null when
              unreadable), C(modules) (where it lives; C(vmlinux) when built in), C(variants) (compiler clones
              such as C(name.isra.0)), C(attachable) (bool) and, for known targets, C(expected_module) and
              whether it is loaded.
          type: dict
          sample:
            ib_modify_qp_with_udata:
              filter_functions: true
              kallsyms: true
              modules: [ib_core]
              variants: []
              attachable: true
              expected_module: ib_core
              expected_module_loaded: true
        bpftool:
          description:
            - C(path) (null when not installed), C(version), C(libbpf_version), C(build_features) (from
              C(bpftool -j version)), C(features) (capabilities derived from the version, such as
              C(prog_loadall_autoattach), confirmed with C(bpftool prog help)), and C(probe) (summary of
              C(bpftool -j feature probe kernel), with counts of available program types, map types and helpers,
              and C(kprobe), C(ringbuf), C(tracing), C(bpf_syscall) booleans; null when not probed).
          type: dict
          sample:
            path: /usr/sbin/bpftool
            version: 7.1.0
            libbpf_version: '1.1'
            features: {prog_loadall_autoattach: false, gen_skeleton: true, gen_min_core_btf: true}
            probe: {program_types_available: 30, map_types_available: 31, helpers_available: 190,
                    kprobe: true, ringbuf: true}
problems:
  description: What stands in the way of building and attaching CO-RE kprobe programs here, each with its fix.
    Empty when nothing does.
  returned: always
  type: list
  elements: str
  sample: ["kprobe target ib_modify_qp_with_udata not found: it lives in module ib_core, which is not loaded;
    load it (modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core)"]
actions:
  description: Always empty; this module changes nothing.
  returned: always
  type: list
  elements: str
  sample: []
'''

import os
import platform
import resource

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import distro
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import guest_kernel
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import kernel
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import mounts
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import rdma

MEMCG_SINCE = (5, 11, 0)
RLIMIT_MEMLOCK_WARN = 64 * 1024 * 1024


# --------------------------------------------------------------------------
# reads (IO at the edges)

def read_bytes(path):
    try:
        with open(common.host_path(path), 'rb') as f:
            return f.read()
    except (IOError, OSError):
        return None


def read_config(release):
    # /usr/lib/modules/<release>/config: the package split of newer Debian kernels (trixie-backports 7.x)
    for path in ('/proc/config.gz', '/boot/config-%s' % release, '/usr/lib/modules/%s/config' % release):
        data = read_bytes(path)
        if data is not None:
            try:
                return path, kernel.parse_kernel_config(kernel.decode_config(data))
            except (IOError, OSError, EOFError, ValueError):
                continue
    return None, None


def scan_symbols(path, names, kind):
    """Look ``names`` up in ``path``; None when it cannot be read."""
    if not names:
        return {}
    data = read_bytes(path)
    if data is None:
        return None
    return kernel.find_symbols(kernel.lines_naming(data, names), names, kind)


def memlock_limits():
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)

    def show(value):
        return 'unlimited' if value == resource.RLIM_INFINITY else value
    return {'soft': show(soft), 'hard': show(hard)}


def module_loaded(name):
    return os.path.isdir(common.host_path('/sys/module/%s' % name))


def gather_bpftool(module, probe):
    path = module.get_bin_path('bpftool')
    info = {'path': path, 'version': None, 'libbpf_version': None, 'build_features': {}, 'features': {},
            'probe': None, 'probe_error': None}
    if not path:
        return info
    rc, out_json, err = module.run_command([path, '-j', 'version'])
    out_text = None
    if rc != 0 or not out_json.strip():
        rc2, out_text, err2 = module.run_command([path, 'version'])
    parsed = kernel.parse_bpftool_version(json_text=out_json if rc == 0 else None, text=out_text)
    if parsed:
        info.update(parsed)
    rc, out, err = module.run_command([path, 'prog', 'help'])
    info['features'] = kernel.bpftool_features(info['version'], prog_help=(out or '') + (err or ''))
    if probe:
        rc, out, err = module.run_command([path, '-j', 'feature', 'probe', 'kernel'])
        if rc != 0:
            info['probe_error'] = (err or out or 'exit %d' % rc).strip()
        else:
            try:
                info['probe'] = kernel.summarize_feature_probe(out)
            except ValueError as e:
                info['probe_error'] = 'unreadable JSON from bpftool feature probe: %s' % e
    return info


def gather(module, params):
    release = kernel.kernel_release()
    version = kernel.version_tuple(release)
    facts = {
        'kernel_release': release,
        'kernel_version': '.'.join(str(part) for part in version),
        'architecture': platform.machine() or os.uname()[4],
    }

    modules = {}
    for name in params['btf_modules']:
        modules[name] = {'btf': os.path.exists(common.host_path('/sys/kernel/btf/%s' % name)),
                         'loaded': module_loaded(name)}
    facts['btf'] = {'vmlinux': os.path.exists(common.host_path('/sys/kernel/btf/vmlinux')), 'modules': modules}

    source, config = read_config(release)
    keys = list(kernel.DEFAULT_CONFIG_KEYS) + [kernel.normalize_config_key(k) for k in params['config_keys']]
    facts['config'] = {'source': source, 'values': kernel.config_values(config, keys)}

    jit = kernel.parse_int(common.read_text('/proc/sys/net/core/bpf_jit_enable'))
    facts['jit'] = {'value': jit, 'meaning': kernel.JIT_MEANING.get(jit)}
    unpriv = kernel.parse_int(common.read_text('/proc/sys/kernel/unprivileged_bpf_disabled'))
    facts['unprivileged_bpf_disabled'] = {'value': unpriv, 'meaning': kernel.UNPRIVILEGED_BPF_MEANING.get(unpriv)}
    facts['lockdown'] = kernel.parse_lockdown(common.read_text('/sys/kernel/security/lockdown')) or {
        'mode': None, 'available': []}

    mount_list = mounts.parse_mountinfo(common.read_text('/proc/self/mountinfo', ''))
    trace_path, mounted_as = kernel.tracefs_location(mount_list)
    targets = params['kprobe_targets']
    filter_hits = None
    if trace_path:
        filter_hits = scan_symbols(trace_path + '/available_filter_functions', targets, 'filter_functions')
    facts['tracefs'] = {'path': trace_path, 'mounted_as': mounted_as,
                        'filter_functions_readable': filter_hits is not None}

    facts['memlock'] = memlock_limits()
    facts['bpf_memory_accounting'] = 'memcg' if version >= MEMCG_SINCE else 'rlimit'

    kallsyms_hits = scan_symbols('/proc/kallsyms', targets, 'kallsyms')
    facts['kprobe_targets'] = target_facts(targets, filter_hits, kallsyms_hits, module_loaded)

    facts['bpftool'] = gather_bpftool(module, params['bpftool_probe'])

    build_dir = '/lib/modules/%s/build' % release
    present = os.path.exists(common.host_path(build_dir + '/Makefile'))
    facts['headers'] = {'build_dir': build_dir, 'present': present,
                        'unavailable_reason': '' if present else guest_kernel.marker_headers_note(
                            common.read_text(guest_kernel.MARKER_PATH, ''), release)}
    if params['tools']:
        facts['tools'] = dict((name, gather_tool(module, name)) for name in params['tools'])
    if params['session_memlock']:
        facts['memlock_new_session'], facts['memlock_new_session_error'] = new_session_memlock(module)
    if params.get('rdma_devices'):
        facts['rdma'] = gather_rdma(params['rdma_devices'])
    return facts


def gather_rdma(names):
    """Whether rdma_rxe is loaded and, per device asked for, whether it exists and its ports' states (sysfs)."""
    devices = {}
    for name in names:
        dev = rdma.read_ib_device(name)
        devices[name] = {'exists': dev is not None,
                         'states': [port['state'] for port in dev['ports']] if dev else []}
    return {'rxe_loaded': os.path.isdir(common.host_path('/sys/module/%s' % rdma.RXE_MODULE)), 'devices': devices}


def gather_tool(module, name):
    """Path and version of one toolchain program; None when it is not installed."""
    path = module.get_bin_path(name, opt_dirs=kernel.TOOL_DIRS)
    if not path:
        return None
    args = kernel.TOOL_VERSION_ARGS[name]
    if args is None:
        real = os.path.realpath(path)
        return {'path': path, 'version': kernel.parse_tool_version(name, real), 'line': real}
    rc, out, err = module.run_command([path] + args)
    text = out if rc == 0 and out.strip() else (out or '') + (err or '')
    return {'path': path, 'version': kernel.parse_tool_version(name, text), 'line': kernel.first_line(text)}


def new_session_memlock(module):
    """``ulimit -l`` of a new root session through PAM: (value, error)."""
    runuser = module.get_bin_path('runuser', opt_dirs=['/usr/sbin', '/sbin'])
    if not runuser:
        return None, 'runuser (util-linux) is not installed'
    if os.geteuid() != 0:
        return None, 'reading the limit of a new root session needs root (become: true)'
    rc, out, err = module.run_command([runuser, '-u', 'root', '--', 'sh', '-c', 'ulimit -l'])
    if rc != 0:
        return None, 'runuser failed (exit %d): %s' % (rc, (err or out).strip())
    return out.strip(), None


# --------------------------------------------------------------------------
# pure: shaping and judging

def target_facts(targets, filter_hits, kallsyms_hits, is_loaded):
    """Merge the two symbol scans per target; ``is_loaded(module)`` answers for known targets."""
    result = {}
    for name in targets:
        f = filter_hits.get(name) if filter_hits is not None else None
        k = kallsyms_hits.get(name) if kallsyms_hits is not None else None
        modules = []
        variants = []
        for hit in (f, k):
            if hit:
                modules.extend(m for m in hit['modules'] if m not in modules)
                variants.extend(v for v in hit['variants'] if v not in variants)
        entry = {
            'filter_functions': f['found'] if f is not None else None,
            'kallsyms': k['found'] if k is not None else None,
            'modules': modules,
            'variants': variants,
            'attachable': bool(f and f['found']),
        }
        known = kernel.KNOWN_SYMBOL_MODULES.get(name)
        if known:
            entry['expected_module'] = known[0]
            entry['expected_module_loaded'] = is_loaded(known[0])
        result[name] = entry
    return result


def config_problems(facts):
    """Kernel options that BPF kprobe programs need but the running kernel lacks."""
    values = facts['config']['values']
    return ['CONFIG_%s is %s in kernel %s (%s): BPF kprobe programs need it; boot a kernel built '
            'with it (the distribution kernels of Debian, Ubuntu and Fedora are)'
            % (key, values.get(key), facts['kernel_release'], facts['config']['source'])
            for key in ('BPF_SYSCALL', 'BPF_EVENTS', 'KPROBES', 'KPROBE_EVENTS')
            if values.get(key) not in (None, 'y', 'm')]


def btf_problems(facts):
    """Missing BTF: for vmlinux (CO-RE) and for each module asked for, with why it is missing."""
    problems = []
    release = facts['kernel_release']
    values = facts['config']['values']
    if not facts['btf']['vmlinux']:
        if values.get('DEBUG_INFO_BTF') == 'y':
            problems.append('no BTF for vmlinux although CONFIG_DEBUG_INFO_BTF=y in kernel %s: '
                            '/sys/kernel/btf/vmlinux is missing; check that sysfs is mounted at /sys' % release)
        else:
            problems.append('no BTF for vmlinux: CONFIG_DEBUG_INFO_BTF is %s in kernel %s; CO-RE programs need '
                            'it: boot a kernel built with BTF (Debian 11+, Ubuntu 20.10+, Fedora 31+) or use an '
                            'external BTF file (BTFHub) with the loader'
                            % ('not set' if values.get('DEBUG_INFO_BTF') == 'n' else 'unknown', release))
    for name, mod in sorted(facts['btf']['modules'].items()):
        if mod['btf']:
            continue
        if not mod['loaded']:
            hint = 'modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core' if name == 'ib_core' \
                else 'modprobe %s' % name
            problems.append('no BTF for module %s: it is not loaded (module BTF appears in /sys/kernel/btf once '
                            'the module is loaded); load it: %s' % (name, hint))
        elif values.get('DEBUG_INFO_BTF_MODULES') not in (None, 'y', 'm'):
            problems.append('no BTF for module %s: CONFIG_DEBUG_INFO_BTF_MODULES is %s in kernel %s; use the '
                            'vmlinux BTF only, or a kernel built with module BTF'
                            % (name, values.get('DEBUG_INFO_BTF_MODULES'), release))
        else:
            problems.append('no BTF for loaded module %s although the kernel builds module BTF: the module may '
                            'come from outside the kernel build (DKMS, OFED); use a module built with the kernel'
                            % name)
    return problems


def runtime_problems(facts):
    """The running system's settings: JIT, lockdown, tracefs, and the memlock limit where BPF is charged to it."""
    problems = []
    if facts['jit']['value'] == 0 and facts['config']['values'].get('BPF_JIT_ALWAYS_ON') != 'y':
        problems.append('the BPF JIT is disabled (net.core.bpf_jit_enable=0): programs run in the slower '
                        'interpreter; enable it: sysctl -w net.core.bpf_jit_enable=1')
    if facts['lockdown'].get('mode') == 'confidentiality':
        problems.append('kernel lockdown is in confidentiality mode: tracefs, kprobes and BPF reads of kernel '
                        'memory are refused; boot with lockdown=none (or disable Secure Boot lockdown)')
    tracefs = facts['tracefs']
    if not tracefs['path']:
        problems.append('tracefs is not mounted: run labkit.ebpf_rdma.debugfs or '
                        '`mount -t tracefs tracefs /sys/kernel/tracing`')
    elif not tracefs['filter_functions_readable']:
        problems.append('cannot read %s/available_filter_functions: run this module as root (become: true)'
                        % tracefs['path'])
    if facts['bpf_memory_accounting'] == 'rlimit':
        soft = facts['memlock']['soft']
        if soft != 'unlimited' and soft < RLIMIT_MEMLOCK_WARN:
            problems.append('kernel %s charges BPF maps and programs to RLIMIT_MEMLOCK (before 5.11) and the '
                            'limit is %d KiB: raise it (labkit.ebpf_rdma.memlock, or ulimit -l unlimited / '
                            'LimitMEMLOCK=infinity for services)' % (facts['kernel_release'], soft // 1024))
    return problems


def kprobe_target_problem(name, target, release):
    """Why kprobe target ``name`` cannot be attached and what to do; None when it can (or tracefs is the reason)."""
    if target['attachable']:
        return None
    if target['filter_functions'] is None and target['kallsyms']:
        return None  # found; tracefs already reported
    if target['kallsyms']:
        return ('kprobe target %s is in /proc/kallsyms (%s) but not in available_filter_functions: '
                'ftrace cannot trace it (notrace or inlined); attach to a caller instead%s'
                % (name, ', '.join(target['modules']),
                   ' or to ' + ', '.join(target['variants']) if target['variants'] else ''))
    if target['variants']:
        return ('kprobe target %s not found under that name, only as %s (compiler clones): attach to '
                'the clone name' % (name, ', '.join(target['variants'])))
    known = kernel.KNOWN_SYMBOL_MODULES.get(name)
    if known and not target.get('expected_module_loaded'):
        return ('kprobe target %s not found: it lives in module %s, which is not loaded; load it (%s)'
                % (name, known[0], known[1]))
    if target['kallsyms'] is None and target['filter_functions'] is None:
        return ('cannot look up kprobe target %s: neither /proc/kallsyms nor available_filter_functions '
                'could be read; run as root (become: true)' % name)
    return ('kprobe target %s not found in kernel %s: check the name (it may be inlined or '
            'renamed in this version) or load the module that provides it' % (name, release))


def bpftool_problems(facts, os_release=None):
    """bpftool missing (with the package that has it), or what its feature probe found missing."""
    release = facts['kernel_release']
    bpftool = facts['bpftool']
    if not bpftool['path']:
        packages = distro.bpftool_packages(os_release or {}, release)
        return ['bpftool not found: it generates vmlinux.h and skeletons; install %s'
                % (' '.join(packages) if packages else 'bpftool')]
    problems = []
    if bpftool['probe_error']:
        problems.append('bpftool feature probe failed (%s): run this module as root (become: true)'
                        % bpftool['probe_error'])
    probe = bpftool['probe']
    if probe:
        if probe.get('kprobe') is False:
            problems.append('bpftool feature probe: kprobe programs cannot be loaded on kernel %s; check '
                            'CONFIG_BPF_EVENTS and CONFIG_KPROBES' % release)
        if probe.get('ringbuf') is False:
            problems.append('bpftool feature probe: no BPF ring buffer map on kernel %s (needs 5.8+): use a '
                            'perf event array in the programs or a newer kernel' % release)
    return problems


def memlock_kib(text):
    """A memlock size (``unlimited``, ``64M``, ``65536K``, bytes) in KiB; None for unlimited."""
    text = (text or '').strip()
    if text == 'unlimited':
        return None
    units = {'': 1, 'B': 1, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
    number = text.rstrip('KMGTBkmgtib')
    unit = text[len(number):].upper().replace('IB', '').replace('B', '') or ''
    if not number.isdigit() or unit not in units:
        raise ValueError('%r is not unlimited or a size (64M, 65536K, bytes)' % text)
    return int(number) * units[unit] // 1024


def readiness_problems(facts, memlock_min):
    """The checks of a converged host beyond problems_for: memlock of a new session, RDMA devices."""
    problems = []
    if memlock_min and 'memlock_new_session' in facts:
        have = facts['memlock_new_session']
        want = memlock_kib(memlock_min)
        if have is None:
            problems.append('cannot read the memlock limit of a new root session (%s)' % facts.get('memlock_new_session_error'))
        elif have != 'unlimited' and (want is None or int(have) < want):
            problems.append('memlock for a new session is %s KiB, less than %s: apply the ebpf_host role '
                            '(labkit.ebpf_rdma.memlock)' % (have, memlock_min))
    rdma_facts = facts.get('rdma')
    if rdma_facts:
        if not rdma_facts['rxe_loaded']:
            problems.append('rdma_rxe is not loaded: apply the soft_roce role (modprobe rdma_rxe)')
        for name, dev in sorted(rdma_facts['devices'].items()):
            if not dev['exists']:
                problems.append('RDMA device %s does not exist: apply the soft_roce role (labkit.ebpf_rdma.rxe_link)' % name)
            elif 'ACTIVE' not in dev['states']:
                problems.append('RDMA device %s has no ACTIVE port (%s): check its netdev' % (
                    name, ', '.join(str(s) for s in dev['states']) or 'no port'))
    return problems


def problems_for(facts, os_release=None):
    """Human-readable problems, each naming the fix, from gathered facts (pure)."""
    kprobes = [kprobe_target_problem(name, target, facts['kernel_release'])
               for name, target in sorted(facts['kprobe_targets'].items())]
    return (config_problems(facts) + btf_problems(facts) + runtime_problems(facts)
            + [p for p in kprobes if p is not None] + bpftool_problems(facts, os_release))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            btf_modules=dict(type='list', elements='str', default=['ib_core']),
            config_keys=dict(type='list', elements='str', default=[], no_log=False),
            kprobe_targets=dict(type='list', elements='str', default=['ib_modify_qp_with_udata']),
            bpftool_probe=dict(type='bool', default=True),
            tools=dict(type='list', elements='str', default=[], choices=sorted(kernel.TOOL_VERSION_ARGS)),
            session_memlock=dict(type='bool', default=False),
            memlock_min=dict(type='str', default=''),
            rdma_devices=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        if module.params['memlock_min']:
            memlock_kib(module.params['memlock_min'])
    except ValueError as e:
        module.fail_json(msg='memlock_min: %s' % e)
    for name in module.params['btf_modules'] + module.params['kprobe_targets'] + module.params['rdma_devices']:
        if not name or '/' in name or any(c.isspace() for c in name):
            module.fail_json(msg='invalid module or symbol name %r: names have no slashes or spaces' % name)

    facts = gather(module, module.params)
    os_release = distro.parse_os_release(common.read_text('/etc/os-release', ''))
    problems = problems_for(facts, os_release) + readiness_problems(facts, module.params['memlock_min'])
    module.exit_json(changed=False, actions=[], ansible_facts={'labkit_ebpf': facts}, problems=problems)


if __name__ == '__main__':
    main()
