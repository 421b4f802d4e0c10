# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify the fixture project's build and test run (the side effect), from the reports on the controller.

The project scenario's side effect (molecule/shared/project.yml) runs playbooks/test.yml in
the VM; project_test fetches the go test -json stream and JUnit XML of each
suite to $XDG_STATE_HOME/labkit-ebpf_rdma/test-reports/<host>/ (Molecule's
ephemeral directory). These tests read those files: the eBPF + soft-RoCE
integration test must have run and passed (a skip is a failure here), with
the kprobe having seen the QP go INIT -> RTR -> RTS on the soft-RoCE device.

The other scenarios share this test directory but never run that side effect:
there the tests skip, saying so. Once the side effect has started (it writes
side-effect-started first), missing reports are failures.
"""

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

EPHEMERAL = os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '')
REPORTS = os.path.join(os.environ.get('XDG_STATE_HOME', ''), 'labkit-ebpf_rdma', 'test-reports',
                       os.environ.get('LABKIT_VERIFY_HOST', 'labkit-molecule'))
INTEGRATION_PKG = 'example.invalid/rdmaebpf/integration'
INTEGRATION_TEST = 'TestKprobeSeesUDQPTransitions'
RXE = os.environ.get('LABKIT_VERIFY_RXE', 'rxe0')


@pytest.fixture(scope='module')
def reports():
    if not EPHEMERAL or not os.environ.get('XDG_STATE_HOME'):
        pytest.fail('MOLECULE_EPHEMERAL_DIRECTORY and XDG_STATE_HOME must be set (run through Molecule)')
    if not os.path.exists(os.path.join(EPHEMERAL, 'side-effect-started')):
        pytest.skip('the build + test of the fixture project has not run in this scenario (it is the project scenario\'s side effect)')
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
    assert integ['passed'] >= 1 and integ['skipped'] == 0 and integ['failed'] == 0, integ
