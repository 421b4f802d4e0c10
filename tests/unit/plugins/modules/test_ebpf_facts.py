# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import platform

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import kernel
from ansible_collections.labkit.ebpf_rdma.plugins.modules import ebpf_facts

from conftest import FakeCommands, fixture_bytes, fixture_text

RELEASE = '6.1.0-50-amd64'
BPFTOOL = '/usr/bin/bpftool'


class Host(object):
    """A fake host root built from the bookworm captures (state before `modprobe rdma_rxe`)."""

    def __init__(self, root, monkeypatch, release=RELEASE, memlock=(8388608, 8388608)):
        self.root = root
        monkeypatch.setattr(common, 'HOST_ROOT', str(root))
        monkeypatch.setattr(kernel, 'kernel_release', lambda: release)
        monkeypatch.setattr(ebpf_facts.resource, 'getrlimit', lambda which: memlock)
        self.write('/etc/os-release', fixture_text('distro/os-release-debian-12-bookworm'))
        self.write('/sys/kernel/btf/vmlinux', 'BTF')
        self.write('/boot/config-%s' % release, fixture_text('kernel/config-6.1.0-50-amd64'))
        self.write('/proc/sys/net/core/bpf_jit_enable', fixture_text('kernel/bpf_jit_enable.txt'))
        self.write('/proc/sys/kernel/unprivileged_bpf_disabled', fixture_text('kernel/unprivileged_bpf_disabled.txt'))
        self.write('/sys/kernel/security/lockdown', fixture_text('kernel/lockdown.txt'))
        self.write('/proc/self/mountinfo', fixture_text('kernel/mountinfo.txt'))
        self.write('/sys/kernel/tracing/available_filter_functions',
                   fixture_text('kernel/available_filter_functions-before-rdma_rxe.txt'))
        self.write('/proc/kallsyms', fixture_text('kernel/kallsyms-before-rdma_rxe.txt'))
        (root / 'sys' / 'module' / 'libata').mkdir(parents=True)

    def path(self, path):
        return self.root / path.lstrip('/')

    def write(self, path, content):
        p = self.path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)

    def remove(self, path):
        self.path(path).unlink()

    def modprobe_rdma_rxe(self, tracing='/sys/kernel/tracing'):
        for mod in ('ib_core', 'ib_uverbs', 'rdma_rxe'):
            (self.root / 'sys' / 'module' / mod).mkdir(parents=True)
            self.write('/sys/kernel/btf/%s' % mod, 'BTF')
        self.write(tracing + '/available_filter_functions',
                   fixture_text('kernel/available_filter_functions-after-rdma_rxe.txt'))
        self.write('/proc/kallsyms', fixture_text('kernel/kallsyms-after-rdma_rxe.txt'))


def bpftool_commands(probe_rc=0):
    return FakeCommands({
        (BPFTOOL, '-j', 'version'): (0, fixture_text('kernel/bpftool-7.1-version.json'), ''),
        (BPFTOOL, 'prog', 'help'): (0, '', fixture_text('kernel/bpftool-7.1-prog-help.txt')),
        (BPFTOOL, '-j', 'feature', 'probe', 'kernel'): (
            (0, fixture_text('kernel/bpftool-7.1-feature-probe-kernel.json'), '') if probe_rc == 0
            else (probe_rc, '', 'Error: bpf syscall: Operation not permitted')),
    })


def facts_of(result):
    assert result['changed'] is False
    assert result['actions'] == []
    assert list(result['ansible_facts']) == ['labkit_ebpf']
    return result['ansible_facts']['labkit_ebpf']


def test_bookworm_before_modprobe(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    commands = bpftool_commands()
    result = module_runner(ebpf_facts, {}, commands=commands)
    facts = facts_of(result)
    assert facts['kernel_release'] == RELEASE
    assert facts['kernel_version'] == '6.1.0'
    assert facts['architecture'] == platform.machine()
    assert facts['btf'] == {'vmlinux': True, 'modules': {'ib_core': {'btf': False, 'loaded': False}}}
    assert facts['config'] == {'source': '/boot/config-6.1.0-50-amd64', 'values': {
        'BPF': 'y', 'BPF_SYSCALL': 'y', 'BPF_JIT': 'y', 'BPF_EVENTS': 'y', 'KPROBES': 'y', 'KPROBE_EVENTS': 'y',
        'DEBUG_INFO_BTF': 'y', 'DEBUG_INFO_BTF_MODULES': 'y'}}
    assert facts['jit'] == {'value': 1, 'meaning': 'enabled'}
    assert facts['unprivileged_bpf_disabled']['value'] == 2
    assert facts['lockdown'] == {'mode': 'none', 'available': ['none', 'integrity', 'confidentiality']}
    assert facts['tracefs'] == {'path': '/sys/kernel/tracing', 'mounted_as': 'tracefs',
                                'filter_functions_readable': True}
    assert facts['memlock'] == {'soft': 8388608, 'hard': 8388608}
    assert facts['bpf_memory_accounting'] == 'memcg'
    assert facts['kprobe_targets'] == {'ib_modify_qp_with_udata': {
        'filter_functions': False, 'kallsyms': False, 'modules': [], 'variants': [], 'attachable': False,
        'expected_module': 'ib_core', 'expected_module_loaded': False}}
    bpftool = facts['bpftool']
    assert bpftool['path'] == BPFTOOL
    assert bpftool['version'] == '7.1.0'
    assert bpftool['libbpf_version'] == '1.1'
    assert bpftool['features']['prog_loadall_autoattach'] is False
    assert bpftool['probe']['program_types_available'] == 30
    assert bpftool['probe']['map_types_available'] == 31
    assert bpftool['probe']['helpers_available'] == 190
    assert bpftool['probe']['kprobe'] is True and bpftool['probe']['ringbuf'] is True
    assert bpftool['probe_error'] is None
    assert result['problems'] == [
        'no BTF for module ib_core: it is not loaded (module BTF appears in /sys/kernel/btf once the module is '
        'loaded); load it: modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core',
        'kprobe target ib_modify_qp_with_udata not found: it lives in module ib_core, which is not loaded; load it '
        '(modprobe rdma_rxe (pulls in ib_core) or modprobe ib_core)',
    ]


@pytest.mark.parametrize('check_mode', [False, True])
def test_after_modprobe_no_problems(tmp_path, monkeypatch, module_runner, check_mode):
    host = Host(tmp_path, monkeypatch)
    host.modprobe_rdma_rxe()
    result = module_runner(ebpf_facts, {'kprobe_targets': ['ib_modify_qp_with_udata', 'rxe_modify_qp'],
                                        'btf_modules': ['ib_core', 'rdma_rxe'],
                                        'config_keys': ['CONFIG_RDMA_RXE', 'infiniband']},
                           commands=bpftool_commands(), check_mode=check_mode)
    facts = facts_of(result)
    assert result['problems'] == []
    assert facts['btf']['modules'] == {'ib_core': {'btf': True, 'loaded': True},
                                       'rdma_rxe': {'btf': True, 'loaded': True}}
    assert facts['config']['values']['RDMA_RXE'] == 'm'
    assert facts['config']['values']['INFINIBAND'] == 'm'
    target = facts['kprobe_targets']['ib_modify_qp_with_udata']
    assert target == {'filter_functions': True, 'kallsyms': True, 'modules': ['ib_core'], 'variants': [],
                      'attachable': True, 'expected_module': 'ib_core', 'expected_module_loaded': True}
    assert facts['kprobe_targets']['rxe_modify_qp']['modules'] == ['rdma_rxe']


def test_config_gz_is_preferred(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.remove('/boot/config-%s' % RELEASE)
    host.write('/proc/config.gz', fixture_bytes('kernel/config-6.1.0-50-amd64.gz'))
    facts = facts_of(module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands()))
    assert facts['config']['source'] == '/proc/config.gz'
    assert facts['config']['values']['DEBUG_INFO_BTF'] == 'y'


def test_corrupt_config_gz_falls_back_to_boot(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.write('/proc/config.gz', fixture_bytes('kernel/config-6.1.0-50-amd64.gz')[:40])
    facts = facts_of(module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands()))
    assert facts['config']['source'] == '/boot/config-6.1.0-50-amd64'


def test_config_under_usr_lib_modules(tmp_path, monkeypatch, module_runner):
    # the package split of newer Debian kernels keeps config beside the modules, not in /boot
    host = Host(tmp_path, monkeypatch)
    host.remove('/boot/config-%s' % RELEASE)
    host.write('/usr/lib/modules/%s/config' % RELEASE, fixture_text('kernel/config-6.1.0-50-amd64'))
    facts = facts_of(module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands()))
    assert facts['config']['source'] == '/usr/lib/modules/%s/config' % RELEASE
    assert facts['config']['values']['DEBUG_INFO_BTF'] == 'y'


def test_no_config_and_no_btf(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.remove('/boot/config-%s' % RELEASE)
    host.remove('/sys/kernel/btf/vmlinux')
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['config']['source'] is None
    assert set(facts['config']['values'].values()) == {None}
    assert facts['btf']['vmlinux'] is False
    assert ('no BTF for vmlinux: CONFIG_DEBUG_INFO_BTF is unknown in kernel 6.1.0-50-amd64; CO-RE programs need it: '
            'boot a kernel built with BTF (Debian 11+, Ubuntu 20.10+, Fedora 31+) or use an external BTF file '
            '(BTFHub) with the loader') in result['problems']


def test_kernel_without_btf_and_kprobes(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    config = fixture_text('kernel/config-6.1.0-50-amd64')
    config = config.replace('CONFIG_DEBUG_INFO_BTF=y', '# CONFIG_DEBUG_INFO_BTF is not set')
    config = config.replace('CONFIG_KPROBE_EVENTS=y', '# CONFIG_KPROBE_EVENTS is not set')
    host.write('/boot/config-%s' % RELEASE, config)
    host.remove('/sys/kernel/btf/vmlinux')
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    problems = result['problems']
    assert any(p.startswith('no BTF for vmlinux: CONFIG_DEBUG_INFO_BTF is not set in kernel 6.1.0-50-amd64')
               for p in problems)
    assert any(p.startswith('CONFIG_KPROBE_EVENTS is n in kernel 6.1.0-50-amd64 (/boot/config-6.1.0-50-amd64)')
               for p in problems)


def test_btf_missing_although_configured(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.remove('/sys/kernel/btf/vmlinux')
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    assert any('although CONFIG_DEBUG_INFO_BTF=y' in p and 'sysfs' in p for p in result['problems'])


def test_loaded_module_without_btf(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    (tmp_path / 'sys' / 'module' / 'ib_core').mkdir()
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': []}, commands=bpftool_commands())
    assert result['problems'] == ['no BTF for loaded module ib_core although the kernel builds module BTF: the module '
                                  'may come from outside the kernel build (DKMS, OFED); use a module built with the '
                                  'kernel']
    config = fixture_text('kernel/config-6.1.0-50-amd64').replace(
        'CONFIG_DEBUG_INFO_BTF_MODULES=y', '# CONFIG_DEBUG_INFO_BTF_MODULES is not set')
    host.write('/boot/config-%s' % RELEASE, config)
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': []}, commands=bpftool_commands())
    assert result['problems'] == ['no BTF for module ib_core: CONFIG_DEBUG_INFO_BTF_MODULES is n in kernel '
                                  '6.1.0-50-amd64; use the vmlinux BTF only, or a kernel built with module BTF']


def test_tracefs_not_mounted(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.write('/proc/self/mountinfo', fixture_text('kernel/mountinfo-no-tracefs-no-debugfs.txt'))
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['tracefs'] == {'path': None, 'mounted_as': None, 'filter_functions_readable': False}
    assert facts['kprobe_targets']['ib_modify_qp_with_udata']['filter_functions'] is None
    assert ('tracefs is not mounted: run labkit.ebpf_rdma.debugfs or `mount -t tracefs tracefs /sys/kernel/tracing`'
            in result['problems'])


def test_tracefs_under_debugfs_is_read_there(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.write('/proc/self/mountinfo', fixture_text('kernel/mountinfo-tracefs-under-debugfs.txt'))
    host.remove('/sys/kernel/tracing/available_filter_functions')
    host.modprobe_rdma_rxe(tracing='/sys/kernel/debug/tracing')
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['tracefs']['path'] == '/sys/kernel/debug/tracing'
    assert facts['kprobe_targets']['ib_modify_qp_with_udata']['attachable'] is True
    assert result['problems'] == []


def test_filter_functions_unreadable(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.modprobe_rdma_rxe()
    host.remove('/sys/kernel/tracing/available_filter_functions')
    result = module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['tracefs']['filter_functions_readable'] is False
    target = facts['kprobe_targets']['ib_modify_qp_with_udata']
    assert target['filter_functions'] is None and target['kallsyms'] is True and target['attachable'] is False
    assert result['problems'] == ['cannot read /sys/kernel/tracing/available_filter_functions: run this module as '
                                  'root (become: true)']


def test_nothing_readable_about_symbols(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.remove('/sys/kernel/tracing/available_filter_functions')
    host.remove('/proc/kallsyms')
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': ['tcp_v4_connect'],
                                        'btf_modules': []}, commands=bpftool_commands())
    assert result['problems'][-1] == ('cannot look up kprobe target tcp_v4_connect: neither /proc/kallsyms nor '
                                      'available_filter_functions could be read; run as root (become: true)')


def test_target_in_kallsyms_only_and_clones_and_unknown(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.write('/sys/kernel/tracing/available_filter_functions',
               fixture_text('kernel/available_filter_functions-before-rdma_rxe.txt')
               + fixture_text('kernel/available_filter_functions-clones.txt'))
    targets = ['x86_bios_cpu_apicid', 'topa_alloc', 'no_such_function_xyz']
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': targets, 'btf_modules': []},
                           commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['kprobe_targets']['x86_bios_cpu_apicid']['kallsyms'] is True
    assert facts['kprobe_targets']['topa_alloc']['variants'] == ['topa_alloc.constprop.0']
    problems = result['problems']
    assert len(problems) == 3
    assert problems[0].startswith('kprobe target no_such_function_xyz not found in kernel 6.1.0-50-amd64')
    assert problems[1].startswith('kprobe target topa_alloc not found under that name, only as topa_alloc.constprop.0')
    assert problems[2].startswith('kprobe target x86_bios_cpu_apicid is in /proc/kallsyms (vmlinux) but not in '
                                  'available_filter_functions')


def test_lockdown_jit_and_old_kernel_memlock(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, release='5.10.0-30-amd64', memlock=(65536, 65536))
    host.write('/boot/config-5.10.0-30-amd64', fixture_text('kernel/config-6.1.0-50-amd64'))
    host.write('/sys/kernel/security/lockdown', 'none integrity [confidentiality]\n')
    host.write('/proc/sys/net/core/bpf_jit_enable', '0\n')
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': [], 'btf_modules': []},
                           commands=bpftool_commands())
    facts = facts_of(result)
    assert facts['bpf_memory_accounting'] == 'rlimit'
    assert facts['jit']['value'] == 0
    assert facts['lockdown']['mode'] == 'confidentiality'
    assert result['problems'] == [
        'the BPF JIT is disabled (net.core.bpf_jit_enable=0): programs run in the slower interpreter; enable it: '
        'sysctl -w net.core.bpf_jit_enable=1',
        'kernel lockdown is in confidentiality mode: tracefs, kprobes and BPF reads of kernel memory are refused; '
        'boot with lockdown=none (or disable Secure Boot lockdown)',
        'kernel 5.10.0-30-amd64 charges BPF maps and programs to RLIMIT_MEMLOCK (before 5.11) and the limit is 64 '
        'KiB: raise it (labkit.ebpf_rdma.memlock, or ulimit -l unlimited / LimitMEMLOCK=infinity for services)',
    ]


def test_old_kernel_unlimited_memlock_is_fine(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, release='5.10.0-30-amd64',
                memlock=(ebpf_facts.resource.RLIM_INFINITY, ebpf_facts.resource.RLIM_INFINITY))
    host.write('/boot/config-5.10.0-30-amd64', fixture_text('kernel/config-6.1.0-50-amd64'))
    result = module_runner(ebpf_facts, {'bpftool_probe': False, 'kprobe_targets': [], 'btf_modules': []},
                           commands=bpftool_commands())
    assert facts_of(result)['memlock'] == {'soft': 'unlimited', 'hard': 'unlimited'}
    assert result['problems'] == []


def test_missing_proc_files_are_unknown(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    host.remove('/sys/kernel/security/lockdown')
    host.remove('/proc/sys/net/core/bpf_jit_enable')
    host.remove('/proc/sys/kernel/unprivileged_bpf_disabled')
    facts = facts_of(module_runner(ebpf_facts, {'bpftool_probe': False}, commands=bpftool_commands()))
    assert facts['lockdown'] == {'mode': None, 'available': []}
    assert facts['jit'] == {'value': None, 'meaning': None}
    assert facts['unprivileged_bpf_disabled'] == {'value': None, 'meaning': None}


def test_bpftool_missing(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    commands = FakeCommands()
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': []}, commands=commands,
                           bins={'bpftool': None})
    facts = facts_of(result)
    assert facts['bpftool']['path'] is None
    assert facts['bpftool']['probe'] is None
    assert commands.calls == []
    assert result['problems'] == ['bpftool not found: it generates vmlinux.h and skeletons; install bpftool']


def test_bpftool_missing_on_ubuntu_names_linux_tools(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch, release='6.8.0-31-generic')
    host.write('/etc/os-release', fixture_text('distro/os-release-ubuntu-24.04'))
    host.write('/boot/config-6.8.0-31-generic', fixture_text('kernel/config-6.1.0-50-amd64'))
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': []}, commands=FakeCommands(),
                           bins={'bpftool': None})
    assert result['problems'] == ['bpftool not found: it generates vmlinux.h and skeletons; install '
                                  'linux-tools-common linux-tools-6.8.0-31-generic']


def test_bpftool_probe_failure_and_opt_out(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': []}, commands=bpftool_commands(1))
    facts = facts_of(result)
    assert facts['bpftool']['probe'] is None
    assert facts['bpftool']['probe_error'] == 'Error: bpf syscall: Operation not permitted'
    assert result['problems'] == ['bpftool feature probe failed (Error: bpf syscall: Operation not permitted): run '
                                  'this module as root (become: true)']
    commands = bpftool_commands()
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': [], 'bpftool_probe': False},
                           commands=commands)
    assert commands.ran(BPFTOOL, '-j', 'feature') == []
    assert facts_of(result)['bpftool']['probe'] is None
    assert result['problems'] == []


def test_trixie_bpftool_75_has_autoattach(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    commands = FakeCommands({
        (BPFTOOL, '-j', 'version'): (0, fixture_text('kernel/bpftool-7.5-version.json'), ''),
        # bpftool 7.5 prints its help on stderr, like 7.1 (captured: stdout empty, exit 0)
        (BPFTOOL, 'prog', 'help'): (0, '', fixture_text('kernel/bpftool-7.5-prog-help.txt')),
    })
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': [], 'bpftool_probe': False},
                           commands=commands)
    bpftool = facts_of(result)['bpftool']
    assert bpftool['version'] == '7.5.0'
    assert bpftool['libbpf_version'] == '1.5'
    assert bpftool['features']['prog_loadall_autoattach'] is True
    assert bpftool['features']['gen_min_core_btf'] is True


def test_bpftool_version_text_fallback_and_bad_probe_json(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    commands = FakeCommands({
        (BPFTOOL, '-j', 'version'): (255, '', 'Error: unknown option'),
        (BPFTOOL, 'version'): (0, fixture_text('kernel/bpftool-7.1-version.txt'), ''),
        (BPFTOOL, 'prog', 'help'): (0, '', fixture_text('kernel/bpftool-7.1-prog-help.txt')),
        (BPFTOOL, '-j', 'feature', 'probe', 'kernel'): (0, '{"program_types": ', ''),
    })
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': []}, commands=commands)
    facts = facts_of(result)
    assert facts['bpftool']['version'] == '7.1.0'
    assert facts['bpftool']['build_features'] == {'libbpf_strict': True}
    assert facts['bpftool']['probe_error'].startswith('unreadable JSON from bpftool feature probe')
    assert len(result['problems']) == 1


def test_probe_without_ringbuf_and_kprobe(tmp_path, monkeypatch, module_runner):
    import json
    Host(tmp_path, monkeypatch)
    raw = json.loads(fixture_text('kernel/bpftool-7.1-feature-probe-kernel.json'))
    raw['map_types']['have_ringbuf_map_type'] = False
    raw['program_types']['have_kprobe_prog_type'] = False
    commands = bpftool_commands()
    commands.add((BPFTOOL, '-j', 'feature', 'probe', 'kernel'), (0, json.dumps(raw), ''))
    result = module_runner(ebpf_facts, {'kprobe_targets': [], 'btf_modules': []}, commands=commands)
    assert result['problems'] == [
        'bpftool feature probe: kprobe programs cannot be loaded on kernel 6.1.0-50-amd64; check CONFIG_BPF_EVENTS '
        'and CONFIG_KPROBES',
        'bpftool feature probe: no BPF ring buffer map on kernel 6.1.0-50-amd64 (needs 5.8+): use a perf event array '
        'in the programs or a newer kernel',
    ]


@pytest.mark.parametrize('args', [
    {'kprobe_targets': ['bad name']},
    {'kprobe_targets': ['']},
    {'btf_modules': ['../vmlinux']},
])
def test_invalid_names_fail_before_reading(tmp_path, monkeypatch, module_runner, args):
    Host(tmp_path, monkeypatch)
    commands = FakeCommands()
    result = module_runner(ebpf_facts, args, commands=commands)
    assert result['failed'] is True
    assert 'invalid module or symbol name' in result['msg']
    assert commands.calls == []


# ---------------------------------------------------------------- tools and a new session's memlock

GO = '/usr/local/bin/go'
CLANG = '/usr/bin/clang'
BPF2GO = '/usr/local/bin/bpf2go'
RUNUSER = '/usr/sbin/runuser'


def tool_commands(go_rc=0):
    cmds = bpftool_commands()
    cmds.add((CLANG, '--version'), (0, fixture_text('kernel/clang-14-version.txt'), ''))
    cmds.add((GO, 'version'), (0, fixture_text('kernel/go-version.txt'), '') if go_rc == 0
             else (go_rc, '', 'go: cannot find GOROOT directory: /usr/local/lib/labkit/go/go1.24.4'))
    cmds.add((BPFTOOL, 'version'), (0, fixture_text('kernel/bpftool-7.1-version.txt'), ''))
    return cmds


def test_tools_report_paths_and_versions(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    real = tmp_path / 'usr/local/lib/labkit/go/bpf2go-v0.19.0/bpf2go'
    real.parent.mkdir(parents=True)
    real.write_text('')
    monkeypatch.setattr(ebpf_facts.os.path, 'realpath',
                        lambda p: str(real)[len(str(tmp_path)):] if p == BPF2GO else p)
    cmds = tool_commands()
    bins = {'go': GO, 'clang': CLANG, 'bpftool': BPFTOOL, 'bpf2go': BPF2GO}
    facts = facts_of(module_runner(ebpf_facts, {'tools': ['clang', 'go', 'bpftool', 'bpf2go']},
                                   commands=cmds, bins=bins))
    tools = facts['tools']
    assert tools['clang'] == {'path': CLANG, 'version': '14.0.6', 'line': 'Debian clang version 14.0.6'}
    assert tools['go']['version'] == fixture_text('kernel/go-version.txt').split()[2][2:]
    assert tools['go']['line'].startswith('go version go')
    assert tools['bpftool'] == {'path': BPFTOOL, 'version': '7.1.0', 'line': 'bpftool v7.1.0'}
    assert tools['bpf2go'] == {'path': BPF2GO, 'version': '0.19.0',
                               'line': '/usr/local/lib/labkit/go/bpf2go-v0.19.0/bpf2go'}
    assert not cmds.ran(BPF2GO)  # bpf2go has no version flag: never run
    assert 'memlock_new_session' not in facts


def test_missing_and_broken_tools(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    cmds = tool_commands(go_rc=2)
    facts = facts_of(module_runner(ebpf_facts, {'tools': ['go', 'clang', 'bpf2go']}, commands=cmds,
                                   bins={'go': GO, 'clang': None, 'bpf2go': BPF2GO}))
    assert facts['tools']['clang'] is None
    # a go that does not run is found but has no version; its error is the line shown
    assert facts['tools']['go'] == {'path': GO, 'version': None,
                                    'line': 'go: cannot find GOROOT directory: /usr/local/lib/labkit/go/go1.24.4'}
    # a bpf2go installed elsewhere (go install into ~/go/bin) has no version in its path
    assert facts['tools']['bpf2go'] == {'path': BPF2GO, 'version': None, 'line': BPF2GO}


def test_headers_presence(tmp_path, monkeypatch, module_runner):
    host = Host(tmp_path, monkeypatch)
    facts = facts_of(module_runner(ebpf_facts, {}, commands=bpftool_commands()))
    assert facts['headers'] == {'build_dir': '/lib/modules/%s/build' % RELEASE, 'present': False, 'unavailable_reason': ''}
    # an image whose kernel came from another suite says why its headers are not there
    host.write('/etc/labkit/kernel.json', '{"release": "%s", "headers": {"installed": false, "reason": "no gcc-10"}}'
               % RELEASE)
    facts = facts_of(module_runner(ebpf_facts, {}, commands=bpftool_commands()))
    assert facts['headers']['unavailable_reason'] == 'no gcc-10'
    host.write('/lib/modules/%s/build/Makefile' % RELEASE, 'include /usr/src/linux-headers-6.1.0-50-common/Makefile\n')
    facts = facts_of(module_runner(ebpf_facts, {}, commands=bpftool_commands()))
    assert facts['headers']['present'] is True and facts['headers']['unavailable_reason'] == ''


@pytest.mark.parametrize('euid, answer, want', [
    (0, (0, 'unlimited\n', ''), ('unlimited', None)),
    (0, (1, '', fixture_text('limits/runuser-nouser.txt')), (None, 'runuser failed (exit 1): ')),
    (1000, None, (None, 'reading the limit of a new root session needs root (become: true)')),
])
def test_session_memlock(tmp_path, monkeypatch, module_runner, euid, answer, want):
    Host(tmp_path, monkeypatch)
    monkeypatch.setattr(ebpf_facts.os, 'geteuid', lambda: euid)
    cmds = bpftool_commands()
    if answer:
        cmds.add((RUNUSER, '-u', 'root', '--', 'sh', '-c', 'ulimit -l'), answer)
    facts = facts_of(module_runner(ebpf_facts, {'session_memlock': True}, commands=cmds, bins={'runuser': RUNUSER}))
    assert facts['memlock_new_session'] == want[0]
    if want[1] is None:
        assert facts['memlock_new_session_error'] is None
    else:
        assert facts['memlock_new_session_error'].startswith(want[1])
    assert bool(cmds.ran(RUNUSER)) == (euid == 0)


def test_unknown_tool_is_refused(tmp_path, monkeypatch, module_runner):
    Host(tmp_path, monkeypatch)
    result = module_runner(ebpf_facts, {'tools': ['gcc']}, commands=bpftool_commands())
    assert result['failed'] and 'gcc' in result['msg']


def target(**kw):
    t = {'attachable': False, 'filter_functions': False, 'kallsyms': False, 'modules': [], 'variants': []}
    t.update(kw)
    return t


def test_kprobe_target_problem_names_each_case():
    problem = ebpf_facts.kprobe_target_problem
    assert problem('f', target(attachable=True), '6.1.0') is None
    assert problem('f', target(filter_functions=None, kallsyms=True), '6.1.0') is None  # tracefs is the reason
    assert 'ftrace cannot trace it' in problem('f', target(kallsyms=True, modules=['m']), '6.1.0')
    assert 'compiler clones' in problem('f', target(variants=['f.isra.0']), '6.1.0')
    assert 'neither /proc/kallsyms' in problem('f', target(kallsyms=None, filter_functions=None), '6.1.0')
    assert problem('f', target(), '6.1.0').startswith('kprobe target f not found in kernel 6.1.0')


def test_config_problems_only_for_options_set_off():
    values = {'BPF_SYSCALL': 'y', 'BPF_EVENTS': 'm', 'KPROBES': 'n'}
    facts = {'kernel_release': '6.1.0', 'config': {'source': '/boot/config-6.1.0', 'values': values}}
    assert [p.split(' ')[0] for p in ebpf_facts.config_problems(facts)] == ['CONFIG_KPROBES']


def test_bpftool_problems_for_missing_tool_and_probe():
    facts = {'kernel_release': '6.1.0', 'bpftool': {'path': None}}
    assert ebpf_facts.bpftool_problems(facts)[0].startswith('bpftool not found')
    facts['bpftool'] = {'path': '/usr/sbin/bpftool', 'probe_error': None, 'probe': {'kprobe': True, 'ringbuf': False}}
    assert [p.split(':')[1].strip()[:5] for p in ebpf_facts.bpftool_problems(facts)] == ['no BP']


# ---------------------------------------------------------------- readiness of a converged VM (one run)

def test_memlock_kib_reads_the_forms_labkit_memlock_takes():
    assert ebpf_facts.memlock_kib('unlimited') is None
    assert ebpf_facts.memlock_kib('64M') == 65536
    assert ebpf_facts.memlock_kib('65536K') == 65536
    assert ebpf_facts.memlock_kib('8MiB') == 8192
    assert ebpf_facts.memlock_kib('1048576') == 1024
    with pytest.raises(ValueError):
        ebpf_facts.memlock_kib('lots')


def test_readiness_problems_judge_the_new_session_memlock():
    assert ebpf_facts.readiness_problems({'memlock_new_session': 'unlimited'}, 'unlimited') == []
    got = ebpf_facts.readiness_problems({'memlock_new_session': '8192'}, 'unlimited')
    assert len(got) == 1 and 'memlock for a new session is 8192 KiB' in got[0]
    assert ebpf_facts.readiness_problems({'memlock_new_session': '65536'}, '64M') == []
    assert ebpf_facts.readiness_problems({'memlock_new_session': '8192'}, '') == []
    got = ebpf_facts.readiness_problems({'memlock_new_session': None, 'memlock_new_session_error': 'no runuser'}, '64M')
    assert 'no runuser' in got[0]


def test_gather_rdma_reads_the_captured_sysfs(rxe_tree):
    facts = ebpf_facts.gather_rdma(['rxe0', 'rxe9'])
    assert facts['devices']['rxe0'] == {'exists': True, 'states': ['ACTIVE']}
    assert facts['devices']['rxe9'] == {'exists': False, 'states': []}
    problems = ebpf_facts.readiness_problems({'rdma': facts}, '')
    assert any('RDMA device rxe9 does not exist' in p for p in problems)
    assert not any('rxe0' in p for p in problems)
    # the capture has no /sys/module: rdma_rxe counts as not loaded there
    assert facts['rxe_loaded'] is False and any('rdma_rxe is not loaded' in p for p in problems)


def test_readiness_problems_name_an_inactive_port():
    facts = {'rdma': {'rxe_loaded': True, 'devices': {'rxe0': {'exists': True, 'states': ['DOWN']}}}}
    assert ebpf_facts.readiness_problems(facts, '') == ['RDMA device rxe0 has no ACTIVE port (DOWN): check its netdev']
