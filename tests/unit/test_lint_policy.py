# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The production profile is met for real: no ignore it forbids, no warning that hides one, and make lint fails
when the required profile is not met."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def test_sanity_ignores_are_permitted_by_the_production_profile():
    sanity = pytest.importorskip('ansiblelint.rules.sanity')
    allowed = set(sanity.CheckSanityIgnoreFiles.allowed_ignores)
    bad = []
    for path in glob.glob(os.path.join(ROOT, 'tests', 'sanity', 'ignore-*.txt')):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                entry = line.split('#', 1)[0].split()
                if len(entry) == 2 and entry[0].split('/', 1)[0] in ('plugins', 'roles') and entry[1] not in allowed:
                    bad.append('%s:%d %s' % (os.path.basename(path), n, ' '.join(entry)))
    assert not bad, 'ignores the production profile does not permit: %s' % bad


def test_ansible_lint_config_hides_no_rule():
    with open(os.path.join(ROOT, '.ansible-lint')) as f:
        cfg = yaml.safe_load(f)
    assert cfg['profile'] == 'production'
    assert not cfg.get('warn_list') and not cfg.get('skip_list'), (cfg.get('warn_list'), cfg.get('skip_list'))


def test_make_lint_fails_below_the_required_profile():
    with open(os.path.join(ROOT, 'Makefile')) as f:
        target = re.search(r'^lint:\n((?:\t.*\n)+)', f.read(), re.M).group(1)
    assert '--strict' in target
    assert 'was required, but' in target and "Profile 'production' was required, and it passed" in target
