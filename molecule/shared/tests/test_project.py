# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify the fixture project's build and test run (the side effect), from the reports and the VM.

The side effect of the default scenario (molecule/shared/side_effect.yml) and of the
guest-matrix cells (molecule/shared/fixture.yml) runs playbooks/test.yml in the VM;
project_test fetches the go test -json stream and JUnit XML of each suite to
$XDG_STATE_HOME/labkit-ebpf_rdma/test-reports/<host>/ (Molecule's ephemeral
directory). These tests read those files: the eBPF + soft-RoCE integration test
must have run and passed (a skip is a failure here; only the cross-node test may
skip, as it does on a single VM, saying "single node"), with the kprobe having seen
the QP go INIT -> RTR -> RTS on the soft-RoCE device; and, in the VM, the project's
binary and the bpf2go object must be built for the guest's own architecture.

Scenarios without that side effect (unbaked), and the verify before it, share this
test directory: there the tests skip, saying so. Once the side effect has started
(it writes side-effect-started first), missing reports are failures.
"""

import json
import os
import re
import struct
import xml.etree.ElementTree as ET

import pytest

EPHEMERAL = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '')
REPORTS = os.path.join(os.environ.get('XDG_STATE_HOME', ''), 'labkit-ebpf_rdma', 'test-reports',
                       os.environ.get('LABKIT_VERIFY_HOST', 'labkit-molecule'))
INTEGRATION_PKG = 'example.invalid/rdmaebpf/integration'
INTEGRATION_TEST = 'TestKprobeSeesUDQPTransitions'
CROSS_NODE_TEST = 'TestCrossNodeUDSeenByReceiverKprobe'
RXE = os.environ.get('LABKIT_VERIFY_RXE', 'rxe0')
# Where project_build leaves the fixture on the host (project_build_root/name/src).
PROJECT_SRC = '/var/lib/labkit-project/rdma-ebpf-project/src'
# uname -m -> (ELF e_machine of its binaries, GOARCH)
ARCHES = {'x86_64': (62, 'amd64'), 'aarch64': (183, 'arm64')}
EM_BPF = 247


@pytest.fixture(scope='module')
def reports():
    if not EPHEMERAL or not os.environ.get('XDG_STATE_HOME'):
        pytest.fail('MOLECULE_EPHEMERAL_DIRECTORY and XDG_STATE_HOME must be set (run through Molecule)')
    if not os.path.exists(os.path.join(EPHEMERAL, 'side-effect-started')):
        pytest.skip('the build + test of the fixture project has not run in this scenario (yet): it is the side '
                    'effect of the default scenario and of the guest-matrix cells (molecule/shared/fixture.yml)')
    return REPORTS


def junit_cases(path):
    root = ET.parse(path).getroot()
    return {(tc.get('classname'), tc.get('name')): tc for tc in root.iter('testcase')}


def test_integration_test_passed_with_kprobe_observed(reports):
    cases = junit_cases(os.path.join(reports, 'integration.junit.xml'))
    tc = cases.get((INTEGRATION_PKG, INTEGRATION_TEST))
    assert tc is not None, 'no %s %s in the integration JUnit XML: %s' % (INTEGRATION_PKG, INTEGRATION_TEST, sorted(cases))
    assert tc.find('failure') is None, tc.find('failure').text
    skipped = tc.find('skipped')
    assert skipped is None, 'the hardware test was skipped: %s' % skipped.get('message')
    out = tc.findtext('system-out') or ''
    assert re.search(r'device %s, UD QP 0x[0-9a-f]+' % re.escape(RXE), out), out
    assert re.search(r'seen: QP 0x[0-9a-f]+: INIT -> RTR -> RTS', out), out
    assert re.search(r'--- PASS: %s' % INTEGRATION_TEST, out), out


def test_no_suite_failed_and_unit_tests_ran(reports):
    with open(os.path.join(reports, 'summary.json'), encoding='utf-8') as fh:
        summary = json.load(fh)
    assert summary['failed'] == 0, summary['table']
    assert set(summary['suites']) == {'unit', 'integration'}, summary['suites'].keys()
    for name, suite in summary['suites'].items():
        assert suite['rc'] == 0, (name, suite)
    unit_passed = sum(p['passed'] for p in summary['suites']['unit']['packages'].values())
    assert unit_passed > 0, summary['table']
    integ = summary['suites']['integration']['packages'][INTEGRATION_PKG]
    # the one skip allowed: the fixture's cross-node test, which needs a fabric and says so on a single VM
    skips = summary['suites']['integration']['skips']
    for skip in skips:
        assert skip['test'] == CROSS_NODE_TEST and 'single node: ' in skip['reason'], skip
    assert integ['passed'] >= 1 and integ['skipped'] == len(skips) and integ['failed'] == 0, integ


def elf_machine(host, path):
    """e_machine of an ELF file on the host (little-endian: every target here is)."""
    head = host.file(path).content[:20]
    assert head[:4] == b'\x7fELF', '%s is not an ELF file: %r' % (path, head[:4])
    assert head[5] == 1, '%s is not little-endian (EI_DATA %d)' % (path, head[5])
    return struct.unpack_from('<H', head, 18)[0]


def test_objects_built_for_the_guest_architecture(host, reports):
    """The binary and the eBPF object for the guest's own architecture were built (not only the controller's)."""
    machine = host.system_info.arch
    assert machine in ARCHES, 'no expectation for a %s guest' % machine
    e_machine, goarch = ARCHES[machine]
    assert elf_machine(host, PROJECT_SRC + '/bin/qpwatch') == e_machine
    # bpf2go writes one <stem>_<target>_bpfel.go per -target, whose //go:build line names its GOARCHes
    out = host.check_output('grep -H "^//go:build" %s/qpmon/*_bpfel.go' % PROJECT_SRC)
    mine = [line.split(':', 1)[0] for line in out.splitlines()
            if re.search(r'\b%s\b' % goarch, line.split(':', 1)[1])]
    assert len(mine) == 1, 'bpf2go made no (or more than one) object for %s: %s' % (goarch, out)
    obj = mine[0][:-len('.go')] + '.o'
    assert elf_machine(host, obj) == EM_BPF, obj
