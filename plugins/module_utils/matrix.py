# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The kernel matrix (module kernel_matrix): per kernel, what an eBPF + RDMA
developer needs to see - BTF for vmlinux and the modules, each kprobe target
attachable, rdma_rxe, an ACTIVE rxe link - and the project's test results,
as cells (pass / fail / skip with a reason) of a kernel x test table,
rendered as text, JSON and JUnit XML (one testsuite per kernel). A kernel
that could not run is a row whose cells are skipped with its reason. Pure
functions over the facts of ebpf_facts/rdma_facts and project_test's
``summary.json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from xml.sax.saxutils import escape, quoteattr

PASS, FAIL, SKIP = 'pass', 'fail', 'skip'


def cell(status, reason=''):
    return {'status': status, 'reason': reason}


def _get(data, *path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def readiness_cells(ebpf, rdma, kprobe_targets, btf_modules):
    """``[(test, cell)]`` for the kernel checks, from the ``labkit_ebpf`` and ``labkit_rdma`` facts."""
    out = []
    if not ebpf:
        reason = 'ebpf_facts were not gathered'
        out.append(('btf vmlinux', cell(SKIP, reason)))
        out += [('btf %s' % m, cell(SKIP, reason)) for m in btf_modules]
        out += [('kprobe %s' % t, cell(SKIP, reason)) for t in kprobe_targets]
    else:
        vmlinux = _get(ebpf, 'btf', 'vmlinux')
        out.append(('btf vmlinux', cell(PASS) if vmlinux else cell(
            FAIL, 'no /sys/kernel/btf/vmlinux (kernel built without CONFIG_DEBUG_INFO_BTF)')))
        btf_mods = _get(ebpf, 'config', 'values', 'DEBUG_INFO_BTF_MODULES')
        for mod in btf_modules:
            info = _get(ebpf, 'btf', 'modules', mod) or {}
            if info.get('btf'):
                out.append(('btf %s' % mod, cell(PASS)))
            elif btf_mods == 'n' or (btf_mods is None and info.get('loaded')):
                out.append(('btf %s' % mod, cell(FAIL, 'no /sys/kernel/btf/%s although %s is loaded: the kernel is '
                                                       'built without CONFIG_DEBUG_INFO_BTF_MODULES (CO-RE against '
                                                       '%s types has no target BTF)' % (mod, mod, mod))))
            elif not info.get('loaded'):
                out.append(('btf %s' % mod, cell(FAIL, 'module %s is not loaded, so its BTF cannot be seen' % mod)))
            else:
                out.append(('btf %s' % mod, cell(FAIL, 'no /sys/kernel/btf/%s' % mod)))
        for target in kprobe_targets:
            info = _get(ebpf, 'kprobe_targets', target)
            if not isinstance(info, dict):
                out.append(('kprobe %s' % target, cell(SKIP, 'not among the targets ebpf_facts looked for')))
            elif info.get('attachable'):
                out.append(('kprobe %s' % target, cell(PASS)))
            elif info.get('kallsyms') is False:
                out.append(('kprobe %s' % target, cell(FAIL, '%s is not in /proc/kallsyms on this kernel' % target)))
            elif info.get('filter_functions') is False:
                out.append(('kprobe %s' % target, cell(FAIL, '%s exists but is not in available_filter_functions '
                                                             '(inlined or notrace): a kprobe cannot attach'
                                                             % target)))
            else:
                out.append(('kprobe %s' % target, cell(FAIL, 'not attachable (%s)' % ', '.join(
                    '%s=%s' % (k, info.get(k)) for k in ('kallsyms', 'filter_functions')))))
    if not rdma:
        out.append(('rdma_rxe', cell(SKIP, 'rdma_facts were not gathered')))
        out.append(('rxe ACTIVE', cell(SKIP, 'rdma_facts were not gathered')))
        return out
    out.append(('rdma_rxe', cell(PASS) if rdma.get('rxe_loaded') else cell(
        FAIL, 'the rdma_rxe module is not loaded (missing from this kernel, or modprobe failed)')))
    ports = []
    for dev in (rdma.get('devices') or {}).values():
        if isinstance(dev, dict) and dev.get('driver') == 'rxe':
            ports += [(dev.get('name'), p) for p in dev.get('ports') or [] if isinstance(p, dict)]
    active = [name for name, p in ports if p.get('state') == 'ACTIVE']
    if active:
        out.append(('rxe ACTIVE', cell(PASS)))
    elif ports:
        out.append(('rxe ACTIVE', cell(FAIL, 'rxe port state %s' % ', '.join(
            '%s/%s %s' % (n, p.get('port'), p.get('state')) for n, p in ports))))
    else:
        out.append(('rxe ACTIVE', cell(FAIL, 'no rxe device')))
    return out


def test_cells(summary):
    """``[(test, cell)]`` per ``<suite> <package>`` of project_test's ``summary.json`` (a dict)."""
    out = []
    module = (summary or {}).get('module') or ''

    def short(pkg):
        if module and pkg.startswith(module):
            return pkg[len(module):].lstrip('/') or '.'
        return pkg

    for suite, s in sorted(((summary or {}).get('suites') or {}).items()):
        failures = s.get('failures') or []
        skips = s.get('skips') or []
        packages = s.get('packages') or {}
        for pkg, r in sorted(packages.items()):
            name = '%s %s' % (suite, short(pkg))
            if r.get('failed'):
                tests = [f.get('test') for f in failures if f.get('package') == pkg]
                out.append((name, cell(FAIL, '%d failed: %s' % (r['failed'], ', '.join(t for t in tests if t)))))
            elif r.get('passed'):
                reason = '%d passed' % r['passed'] + (', %d skipped' % r['skipped'] if r.get('skipped') else '')
                out.append((name, cell(PASS, reason)))
            elif r.get('skipped'):
                reasons = [sk.get('reason') for sk in skips if sk.get('package') == pkg and sk.get('reason')]
                out.append((name, cell(SKIP, '; '.join(reasons[:2]) or 'all tests skipped')))
            elif r.get('result') == 'fail':
                out.append((name, cell(FAIL, 'the package failed without a test result (build error?)')))
            else:
                out.append((name, cell(SKIP, 'no test files')))
        if not packages and s.get('rc') not in (0, None):
            out.append(('%s (suite)' % suite, cell(FAIL, 'go test exited %s without results' % s.get('rc'))))
    return out


def build_rows(kernels, kprobe_targets, btf_modules):
    """Each input kernel -> ``{'name', 'host', 'kernel_release', 'suite', 'error', 'status', 'cells'}``."""
    rows = []
    for k in kernels:
        error = k.get('error') or ''
        cells = readiness_cells(k.get('ebpf') or {}, k.get('rdma') or {}, kprobe_targets, btf_modules)
        summary = k.get('summary')
        if summary:
            cells += test_cells(summary)
        else:
            cells.append(('tests', cell(SKIP, 'the tests did not run' + (': %s' % error if error else ''))))
        if error and not k.get('ebpf'):
            cells = [(name, c if c['status'] != SKIP else cell(SKIP, error)) for name, c in cells]
        release = k.get('kernel_release') or _get(k.get('ebpf'), 'kernel_release') or ''
        failed = [name for name, c in cells if c['status'] == FAIL]
        status = 'error' if error else (FAIL if failed else PASS)
        if status == PASS and not (summary and k.get('ebpf')):
            # nothing failed, but not everything ran: never a pass
            status = 'error'
            error = 'the tests did not run' if not summary else 'the kernel facts were not gathered'
        rows.append({'name': k['name'], 'host': k.get('host') or '', 'suite': k.get('suite') or '',
                     'kernel_release': release, 'error': error, 'status': status,
                     'cells': dict(cells), 'order': [name for name, _c in cells]})
    return rows


def columns(rows):
    """Every test name, in first-seen order over the rows (readiness checks first)."""
    seen = []
    for row in rows:
        for name in row['order']:
            if name not in seen:
                seen.append(name)
    return seen


def render_text(rows):
    """The table: one line per test, one column per kernel; reasons numbered below it."""
    tests = columns(rows)
    notes = []

    def mark(c):
        if c is None:
            return '-'
        text = {'pass': 'pass', 'fail': 'FAIL', 'skip': 'skip'}[c['status']]
        if c['status'] != PASS and c['reason']:
            if c['reason'] not in notes:
                notes.append(c['reason'])
            text += ' [%d]' % (notes.index(c['reason']) + 1)
        return text

    heads = [r['name'] for r in rows]
    body = [['kernel'] + [r['kernel_release'] or '?' for r in rows],
            ['result'] + [r['status'].upper() if r['status'] != PASS else 'pass' for r in rows]]
    for test in tests:
        body.append([test] + [mark(r['cells'].get(test)) for r in rows])
    table = [[''] + heads] + body
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ['  '.join(v.ljust(widths[i]) for i, v in enumerate(line)).rstrip() for line in table]
    for r in rows:
        if r['error']:
            if r['error'] not in notes:
                notes.append(r['error'])
    if notes:
        lines.append('')
        lines += ['[%d] %s' % (i + 1, n) for i, n in enumerate(notes)]
    return '\n'.join(lines) + '\n'


def render_json(rows):
    data = {'kernels': [dict((k, v) for k, v in r.items() if k != 'order') for r in rows],
            'tests': columns(rows)}
    return json.dumps(data, indent=2, sort_keys=True) + '\n'


def render_junit(rows):
    """JUnit XML: one testsuite per kernel, one testcase per test (failure / skipped with the reason)."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    total = dict(tests=0, failures=0, skipped=0)
    suites = []
    for r in rows:
        cases = []
        counts = dict(tests=0, failures=0, skipped=0)
        for test in r['order']:
            c = r['cells'][test]
            counts['tests'] += 1
            attrs = 'classname=%s name=%s' % (quoteattr('kernel.%s' % r['name']), quoteattr(test))
            if c['status'] == PASS:
                cases.append('    <testcase %s/>' % attrs)
            elif c['status'] == FAIL:
                counts['failures'] += 1
                cases.append('    <testcase %s><failure message=%s>%s</failure></testcase>'
                             % (attrs, quoteattr(c['reason']), escape(c['reason'])))
            else:
                counts['skipped'] += 1
                cases.append('    <testcase %s><skipped message=%s/></testcase>' % (attrs, quoteattr(c['reason'])))
        for k in total:
            total[k] += counts[k]
        props = ''.join('      <property name=%s value=%s/>\n' % (quoteattr(k), quoteattr(r[k] or ''))
                        for k in ('kernel_release', 'suite', 'host', 'error'))
        suites.append('  <testsuite name=%s tests="%d" failures="%d" errors="%d" skipped="%d">\n'
                      '    <properties>\n%s    </properties>\n%s\n  </testsuite>'
                      % (quoteattr('kernel %s' % r['name']), counts['tests'], counts['failures'],
                         1 if r['error'] else 0, counts['skipped'], props,
                         '\n'.join(cases)))
    out.append('<testsuites name="kernel-matrix" tests="%d" failures="%d" skipped="%d">'
               % (total['tests'], total['failures'], total['skipped']))
    out += suites
    out.append('</testsuites>')
    return '\n'.join(out) + '\n'
