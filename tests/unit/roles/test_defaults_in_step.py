# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Role defaults that must agree across roles (one role cannot read another's defaults)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from conftest import ROOT


def defaults(role):
    with open(os.path.join(ROOT, 'roles', role, 'defaults', 'main.yml')) as f:
        return yaml.safe_load(f)


def test_local_vm_bakes_the_go_that_ebpf_toolchain_installs():
    toolchain, vm = defaults('ebpf_toolchain'), defaults('local_vm')
    assert "default('%s')" % toolchain['ebpf_toolchain_go_version'] in vm['local_vm_bake_go']
    assert "default('%s')" % toolchain['ebpf_toolchain_go_root'] in vm['local_vm_bake_go_dest']
