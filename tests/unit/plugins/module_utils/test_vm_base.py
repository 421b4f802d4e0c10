# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_base


def test_cache_and_state_roots():
    assert vm_base.user_cache_root({'HOME': '/home/u'}) == '/home/u/.cache/labkit-ebpf_rdma'
    assert vm_base.user_cache_root({'HOME': '/home/u', 'XDG_CACHE_HOME': '/c'}) == '/c/labkit-ebpf_rdma'
    assert vm_base.user_state_root({'HOME': '/home/u'}) == '/home/u/.local/state/labkit-ebpf_rdma'
    assert vm_base.user_state_root({'XDG_STATE_HOME': '/s'}) == '/s/labkit-ebpf_rdma'


def test_debarch_for_machine():
    assert vm_base.debarch_for_machine('x86_64') == 'amd64'
    assert vm_base.debarch_for_machine('arm64') == 'arm64'
    assert vm_base.debarch_for_machine('riscv64') is None
