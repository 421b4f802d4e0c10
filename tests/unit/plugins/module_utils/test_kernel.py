# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json

import pytest

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import kernel
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import mounts

from conftest import fixture_bytes, fixture_text


# ---------------------------------------------------------------- releases

def test_release_sort_key_orders_debian_ubuntu_fedora():
    releases = ['6.1.0-47-amd64', '6.1.0-50-amd64', '5.10.0-30-amd64', '6.12.41+deb13-amd64', '6.1.0-9-amd64']
    ordered = sorted(releases, key=kernel.release_sort_key, reverse=True)
    assert ordered == ['6.12.41+deb13-amd64', '6.1.0-50-amd64', '6.1.0-47-amd64', '6.1.0-9-amd64', '5.10.0-30-amd64']
    assert kernel.release_sort_key('6.8.5-301.fc40.x86_64')[:2] == ((6, 8, 5), 301)
    assert kernel.release_sort_key('6.8')[:2] == ((6, 8, 0), -1)


@pytest.mark.parametrize('release,expected', [
    ('6.1.0-50-amd64', (6, 1, 0)), ('6.12.117+deb13-amd64', (6, 12, 117)), ('5.15.0-91-generic', (5, 15, 0)),
    ('6.8', (6, 8, 0)), ('4.19.0rc1', (4, 19, 0)),
])
def test_version_tuple_of_kernel_releases(release, expected):
    assert kernel.version_tuple(release) == expected


def test_same_flavour_newer():
    installed = ['6.1.0-47-amd64', '6.1.0-50-amd64', '6.1.0-52-amd64', '6.1.0-52-cloud-amd64', '6.1.0-51-amd64']
    assert kernel.same_flavour_newer('6.1.0-50-amd64', installed) == ['6.1.0-52-amd64', '6.1.0-51-amd64']
    assert kernel.same_flavour_newer('6.1.0-52-amd64', installed) == []
    assert kernel.same_flavour_newer('6.1.0-50-cloud-amd64', installed) == ['6.1.0-52-cloud-amd64']


# ---------------------------------------------------------------- config

def test_parse_kernel_config_capture():
    config = kernel.parse_kernel_config(fixture_text('kernel/config-6.1.0-50-amd64'))
    assert config['BPF'] == 'y'
    assert config['BPF_SYSCALL'] == 'y'
    assert config['DEBUG_INFO_BTF'] == 'y'
    assert config['BPF_JIT_ALWAYS_ON'] == 'n'
    assert config['INFINIBAND'] == 'm'
    assert config['RDMA_RXE'] == 'm'
    assert config['CC_VERSION_TEXT'] == 'gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0'
    assert config['GCC_VERSION'] == '120200'


def test_decode_config_gzip_equals_plain():
    plain = kernel.decode_config(fixture_bytes('kernel/config-6.1.0-50-amd64'))
    gz = kernel.decode_config(fixture_bytes('kernel/config-6.1.0-50-amd64.gz'))
    assert gz == plain
    assert 'CONFIG_BPF=y' in gz
    assert kernel.decode_config(None) is None


def test_config_values_unknown_and_normalized():
    config = kernel.parse_kernel_config(fixture_text('kernel/config-6.1.0-50-amd64'))
    values = kernel.config_values(config, list(kernel.DEFAULT_CONFIG_KEYS) + ['CONFIG_RDMA_RXE', 'bpf_jit_always_on',
                                                                              'NO_SUCH_OPTION'])
    assert values == {
        'BPF': 'y', 'BPF_SYSCALL': 'y', 'BPF_JIT': 'y', 'BPF_EVENTS': 'y', 'KPROBES': 'y', 'KPROBE_EVENTS': 'y',
        'DEBUG_INFO_BTF': 'y', 'DEBUG_INFO_BTF_MODULES': 'y', 'RDMA_RXE': 'm', 'BPF_JIT_ALWAYS_ON': 'n',
        'NO_SUCH_OPTION': None,
    }
    assert kernel.config_values(None, ['BPF']) == {'BPF': None}


# ---------------------------------------------------------------- small files

def test_parse_int_and_meanings():
    assert kernel.parse_int(fixture_text('kernel/bpf_jit_enable.txt')) == 1
    assert kernel.parse_int(fixture_text('kernel/unprivileged_bpf_disabled.txt')) == 2
    assert kernel.parse_int(None) is None
    assert kernel.parse_int('') is None
    assert kernel.parse_int('x') is None
    assert kernel.JIT_MEANING[1] == 'enabled'
    assert 'until reboot' in kernel.UNPRIVILEGED_BPF_MEANING[1]


def test_parse_lockdown():
    assert kernel.parse_lockdown(fixture_text('kernel/lockdown.txt')) == {
        'mode': 'none', 'available': ['none', 'integrity', 'confidentiality']}
    assert kernel.parse_lockdown('none integrity [confidentiality]\n')['mode'] == 'confidentiality'
    assert kernel.parse_lockdown(None) is None
    assert kernel.parse_lockdown(fixture_text('mounts/lockdown-none.txt'))['mode'] == 'none'


@pytest.mark.parametrize('name, expected', [
    ('kernel/mountinfo.txt', ('/sys/kernel/tracing', 'tracefs')),
    ('kernel/mountinfo-tracefs-under-debugfs.txt', ('/sys/kernel/debug/tracing', 'tracefs')),
    ('kernel/mountinfo-no-tracefs-no-debugfs.txt', (None, None)),
])
def test_tracefs_location(name, expected):
    assert kernel.tracefs_location(mounts.parse_mountinfo(fixture_text(name))) == expected


def test_tracefs_location_debugfs_only():
    # Drop the tracefs automount line from the capture: only debugfs is left.
    text = '\n'.join(line for line in fixture_text('kernel/mountinfo-tracefs-under-debugfs.txt').splitlines()
                     if ' - tracefs ' not in line)
    assert kernel.tracefs_location(mounts.parse_mountinfo(text)) == ('/sys/kernel/debug/tracing', 'debugfs')


# ---------------------------------------------------------------- symbols

TARGETS = ['ib_modify_qp_with_udata', 'tcp_v4_connect', 'rxe_modify_qp', 'no_such_function']


def test_find_symbols_kallsyms_before_and_after_modprobe():
    before = kernel.find_symbols(io.StringIO(fixture_text('kernel/kallsyms-before-rdma_rxe.txt')), TARGETS)
    assert before['ib_modify_qp_with_udata']['found'] is False
    assert before['tcp_v4_connect'] == {'found': True, 'modules': ['vmlinux'], 'types': ['T'], 'variants': []}
    after = kernel.find_symbols(io.StringIO(fixture_text('kernel/kallsyms-after-rdma_rxe.txt')), TARGETS)
    assert after['ib_modify_qp_with_udata'] == {'found': True, 'modules': ['ib_core'], 'types': ['T'], 'variants': []}
    assert after['rxe_modify_qp']['modules'] == ['rdma_rxe']
    assert after['rxe_modify_qp']['types'] == ['t']
    assert after['no_such_function']['found'] is False


def test_find_symbols_filter_functions_before_and_after_modprobe():
    kind = 'filter_functions'
    before = kernel.find_symbols(fixture_text('kernel/available_filter_functions-before-rdma_rxe.txt').splitlines(),
                                 TARGETS, kind)
    assert before['ib_modify_qp_with_udata']['found'] is False
    assert before['tcp_v4_connect']['modules'] == ['vmlinux']
    assert before['tcp_v4_connect']['types'] == []
    after = kernel.find_symbols(fixture_text('kernel/available_filter_functions-after-rdma_rxe.txt').splitlines(),
                                TARGETS, kind)
    assert after['ib_modify_qp_with_udata']['found'] is True
    assert after['ib_modify_qp_with_udata']['modules'] == ['ib_core']
    assert after['rxe_modify_qp']['modules'] == ['rdma_rxe']


def test_find_symbols_does_not_confuse_prefixes():
    # _ib_modify_qp and ib_modify_qp_is_ok are in the capture; neither is ib_modify_qp.
    after = kernel.find_symbols(fixture_text('kernel/available_filter_functions-after-rdma_rxe.txt').splitlines(),
                                ['ib_modify_qp', 'ib_modify_qp_is'], 'filter_functions')
    assert after['ib_modify_qp']['found'] is True
    assert after['ib_modify_qp_is'] == {'found': False, 'modules': [], 'types': [], 'variants': []}


def test_find_symbols_clones_and_bytes():
    lines = [line.encode() for line in fixture_text('kernel/available_filter_functions-clones.txt').splitlines()]
    hits = kernel.find_symbols(lines, ['rxe_icrc_hdr', 'get_sigframe', 'topa_alloc'], 'filter_functions')
    assert hits['rxe_icrc_hdr'] == {'found': False, 'modules': [], 'types': [], 'variants': ['rxe_icrc_hdr.isra.0']}
    assert hits['get_sigframe']['variants'] == ['get_sigframe.constprop.0.isra.0']
    assert hits['topa_alloc']['variants'] == ['topa_alloc.constprop.0']


def test_find_symbols_empty_and_blank_lines():
    assert kernel.find_symbols(['', '   ', 'short line'], ['x']) == {
        'x': {'found': False, 'modules': [], 'types': [], 'variants': []}}
    assert kernel.find_symbols([], []) == {}


@pytest.mark.parametrize('name,kind', [
    ('kernel/kallsyms-before-rdma_rxe.txt', 'kallsyms'),
    ('kernel/kallsyms-after-rdma_rxe.txt', 'kallsyms'),
    ('kernel/available_filter_functions-before-rdma_rxe.txt', 'filter_functions'),
    ('kernel/available_filter_functions-after-rdma_rxe.txt', 'filter_functions'),
    ('kernel/available_filter_functions-clones.txt', 'filter_functions'),
])
def test_lines_naming_prefilter_gives_the_answer_of_a_full_scan(name, kind):
    data = fixture_text(name).encode()
    names = TARGETS + ['ib_modify_qp', 'ib_modify_qp_is', 'rxe_icrc_hdr', 'get_sigframe', 'topa_alloc']
    full = kernel.find_symbols(data.splitlines(), names, kind)
    kept = kernel.lines_naming(data, names)
    assert len(kept) < len(data.splitlines())
    assert kernel.find_symbols(kept, names, kind) == full
    assert any(hit['found'] or hit['variants'] for hit in full.values())


def test_lines_naming_edges():
    data = b'ffff t foo_bar\nffff T foo [m]\nffff T foo.isra.0\nffff T foo'
    # every line holding the name once, in file order, also the last one without a newline
    assert kernel.lines_naming(data, ['foo']) == [b'ffff t foo_bar', b'ffff T foo [m]', b'ffff T foo.isra.0',
                                                  b'ffff T foo']
    # two names on one line give it once
    assert kernel.lines_naming(b'a foo_bar b\n', ['foo', 'bar']) == [b'a foo_bar b']
    assert kernel.lines_naming(data, ['nothere', '']) == []
    assert kernel.lines_naming(b'', ['foo']) == []


# ---------------------------------------------------------------- bpftool

def test_parse_bpftool_version_json_and_text_agree():
    from_json = kernel.parse_bpftool_version(json_text=fixture_text('kernel/bpftool-7.1-version.json'))
    assert from_json == {'version': '7.1.0', 'libbpf_version': '1.1',
                         'build_features': {'libbfd': False, 'libbpf_strict': True, 'skeletons': False}}
    from_text = kernel.parse_bpftool_version(text=fixture_text('kernel/bpftool-7.1-version.txt'))
    assert from_text == {'version': '7.1.0', 'libbpf_version': '1.1', 'build_features': {'libbpf_strict': True}}
    # bad JSON falls back to the text
    assert kernel.parse_bpftool_version(json_text='{', text=fixture_text('kernel/bpftool-7.1-version.txt'))[
        'version'] == '7.1.0'
    assert kernel.parse_bpftool_version(json_text='null') is None
    assert kernel.parse_bpftool_version() is None


def test_bpftool_features_by_version():
    assert kernel.version_tuple('v7.1.0') == (7, 1, 0)
    assert kernel.version_tuple('7.5') == (7, 5, 0)
    assert kernel.version_tuple('x') is None
    assert kernel.bpftool_features('7.1.0') == {
        'gen_skeleton': True, 'btf_dump_c': True, 'gen_min_core_btf': True, 'prog_loadall_autoattach': False}
    assert kernel.bpftool_features('7.5.0')['prog_loadall_autoattach'] is True
    assert kernel.bpftool_features('5.10.0') == {
        'gen_skeleton': True, 'btf_dump_c': True, 'gen_min_core_btf': False, 'prog_loadall_autoattach': False}
    assert set(kernel.bpftool_features(None).values()) == {False}


def test_parse_bpftool_75_captures():
    # Debian 13 trixie (bpftool 7.5.0, libbpf 1.5), captured on a real VM
    from_json = kernel.parse_bpftool_version(json_text=fixture_text('kernel/bpftool-7.5-version.json'))
    assert from_json == {'version': '7.5.0', 'libbpf_version': '1.5', 'build_features': {
        'libbfd': False, 'llvm': False, 'skeletons': False, 'bootstrap': False}}
    from_text = kernel.parse_bpftool_version(text=fixture_text('kernel/bpftool-7.5-version.txt'))
    assert from_text['version'] == '7.5.0' and from_text['libbpf_version'] == '1.5'


def test_bpftool_features_prog_help_is_the_authority():
    help_71 = fixture_text('kernel/bpftool-7.1-prog-help.txt')
    help_75 = fixture_text('kernel/bpftool-7.5-prog-help.txt')
    assert kernel.bpftool_features('7.1.0', prog_help=help_71)['prog_loadall_autoattach'] is False
    assert kernel.bpftool_features('7.5.0', prog_help=help_75)['prog_loadall_autoattach'] is True
    # version says yes, the binary's help says no: trust the binary
    assert kernel.bpftool_features('7.5.0', prog_help=help_71)['prog_loadall_autoattach'] is False
    # and the other way round (a 7.1 with a backported autoattach)
    assert kernel.bpftool_features('7.1.0', prog_help=help_75)['prog_loadall_autoattach'] is True
    # unrelated text (an error) does not override
    assert kernel.bpftool_features('7.5.0', prog_help='Error: bad')['prog_loadall_autoattach'] is True


def test_summarize_feature_probe_capture():
    summary = kernel.summarize_feature_probe(fixture_text('kernel/bpftool-7.1-feature-probe-kernel.json'))
    raw = json.loads(fixture_text('kernel/bpftool-7.1-feature-probe-kernel.json'))
    assert summary['program_types_total'] == len(raw['program_types']) == 31
    assert summary['program_types_available'] == 30
    assert summary['unavailable_program_types'] == ['lirc_mode2']
    assert summary['map_types_available'] == summary['map_types_total'] == 31
    assert summary['unavailable_map_types'] == []
    assert summary['helpers_available'] == len(set(h for v in raw['helpers'].values() for h in v)) == 190
    assert summary['kprobe_helpers_available'] == 74
    assert summary['kprobe'] is True
    assert summary['ringbuf'] is True
    assert summary['tracing'] is True
    assert summary['bpf_syscall'] is True
    assert summary['probe_read_kernel'] is True


def test_summarize_feature_probe_missing_ringbuf_and_bad_input():
    raw = json.loads(fixture_text('kernel/bpftool-7.1-feature-probe-kernel.json'))
    raw['map_types']['have_ringbuf_map_type'] = False
    summary = kernel.summarize_feature_probe(json.dumps(raw))
    assert summary['ringbuf'] is False
    assert summary['unavailable_map_types'] == ['ringbuf']
    with pytest.raises(ValueError):
        kernel.summarize_feature_probe('not json')
    with pytest.raises(ValueError):
        kernel.summarize_feature_probe('[]')
