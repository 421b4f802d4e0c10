# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading a failed Go toolchain command: findings in the user's code, or a tool failure.

``go vet``, ``go build`` (compile errors, cgo's C compiler) and ``go generate`` name the
place of a problem as ``file:line[:col]: message``; ``go`` prints ``# package`` headers
and ``vet:`` prefixes around them. A failure with such findings is the user's own code
(reported as findings, with the knob that skips the step); one without is a tool or
environment failure (reported with the output's tail).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

FINDING_RE = re.compile(r'^(?:vet: )?(?P<file>[^\s:#][^:\n]*\.(?:go|c|h|s|S|cc|cpp|mod|sum)):(?P<line>\d+)'
                        r'(?::(?P<col>\d+))?: (?P<msg>.+)$')

WHAT = {
    'vet': 'go vet reported problems in the code',
    'build': 'the code does not compile',
    'generate': 'go generate failed',
    'test': 'the tests do not compile',
}


def go_subcommand(argv):
    """``vet``, ``build``, ``generate``... when ``argv`` runs the go command, else None."""
    if len(argv) > 1 and os.path.basename(argv[0]).startswith('go'):
        return argv[1]
    return None


def findings(text):
    """The ``file:line[:col]: message`` lines of ``text`` as dicts, in order, without repeats."""
    found, seen = [], set()
    for line in (text or '').splitlines():
        m = FINDING_RE.match(line.rstrip())
        if not m:
            continue
        item = {'file': m.group('file'), 'line': int(m.group('line')),
                'col': int(m.group('col')) if m.group('col') else None, 'msg': m.group('msg').strip()}
        ident = (item['file'], item['line'], item['col'], item['msg'])
        if ident not in seen:
            seen.add(ident)
            found.append(item)
    return found


def format_finding(item):
    where = '%s:%d' % (item['file'], item['line'])
    if item['col'] is not None:
        where += ':%d' % item['col']
    return '%s: %s' % (where, item['msg'])


def tail(text, lines=20):
    """The last ``lines`` non-empty lines of ``text``."""
    kept = [line for line in (text or '').splitlines() if line.strip()]
    return '\n'.join(kept[-lines:])


def classify(argv, stdout, stderr):
    """``{'kind': 'code'|'tool', 'what': str, 'findings': [...]}`` for a failed command."""
    text = '\n'.join(t for t in (stderr, stdout) if t)
    items = findings(text)
    sub = go_subcommand(argv)
    if items:
        # go generate names only the //go:generate line; why the generator failed is in the lines around it
        context = [line.strip() for line in text.splitlines()
                   if line.strip() and not FINDING_RE.match(line.rstrip()) and not line.startswith('#')]
        return {'kind': 'code', 'what': WHAT.get(sub, '%s reported problems in the code' % ' '.join(argv[:2])),
                'findings': items, 'context': context[:3] if sub == 'generate' else []}
    return {'kind': 'tool', 'what': '%s failed' % ' '.join(argv[:2]), 'findings': [], 'context': []}


def failure_message(step, chdir, rc, failure, knob='', output='', shown=5):
    """One message for a failed step: what failed, where, the first findings (or the output's tail), the knob."""
    items = failure['findings']
    if failure['kind'] == 'code':
        more = len(items) - shown
        msg = '%s (step %s in %s, %d finding%s): %s%s.' % (
            failure['what'], step, chdir, len(items), '' if len(items) == 1 else 's',
            '; '.join(format_finding(i) for i in items[:shown]), ('; and %d more' % more) if more > 0 else '')
        if failure.get('context'):
            msg += ' Output: %s.' % ' | '.join(failure['context'])
        msg += ' Fix the code and run again'
    else:
        last = tail(output, 8).replace('\n', ' | ')
        msg = '%s (step %s in %s, exit %d): %s.' % (failure['what'], step, chdir, rc, last or 'no output')
        msg += ' This is not a finding in the code: check the toolchain and the environment of the step'
    if knob:
        msg += ', or skip this step with %s' % knob
    return msg + '.'
