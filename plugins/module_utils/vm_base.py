# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What building an image and running a VM share: the guest architectures
(:data:`ARCH_INFO`, which QEMU binary, console and kernel package each uses)
and the per-user cache and state directories. Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


STATE_ROOT_NAME = 'labkit-ebpf_rdma'

SUPPORTED_ARCHES = ('amd64', 'arm64')

# host machine (uname -m) -> Debian architecture
MACHINE_TO_DEBARCH = {
    'x86_64': 'amd64', 'amd64': 'amd64',
    'aarch64': 'arm64', 'arm64': 'arm64',
}

ARCH_INFO = {
    'amd64': {
        'qemu': 'qemu-system-x86_64',
        'kernel_package': 'linux-image-amd64',
        'console': 'ttyS0',
        'machine': None,
        'tcg_cpu': 'max',
        'qemu_user': 'qemu-x86_64',
        'probe_append': 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1',
    },
    'arm64': {
        'qemu': 'qemu-system-aarch64',
        'kernel_package': 'linux-image-arm64',
        'console': 'ttyAMA0',
        'machine': 'virt',
        # QARMA5 pointer-auth emulation dominates boot time under TCG:
        # 42 s with pauth-impdef=on instead of 108 s with plain max.
        'tcg_cpu': 'max,pauth-impdef=on',
        'qemu_user': 'qemu-aarch64',
        'probe_append': 'console=ttyAMA0 panic=-1',
    },
}


def debarch_for_machine(machine):
    """``uname -m`` -> Debian arch (``x86_64`` -> ``amd64``); None when unknown."""
    return MACHINE_TO_DEBARCH.get((machine or '').lower())


# ---------------------------------------------------------------- directories

def user_cache_root(environ):
    """``$XDG_CACHE_HOME/labkit-ebpf_rdma`` or ``~/.cache/labkit-ebpf_rdma``."""
    base = environ.get('XDG_CACHE_HOME') or os.path.join(environ.get('HOME') or '/', '.cache')
    return os.path.join(base, STATE_ROOT_NAME)


def user_state_root(environ):
    """``$XDG_STATE_HOME/labkit-ebpf_rdma`` or ``~/.local/state/labkit-ebpf_rdma``."""
    base = environ.get('XDG_STATE_HOME') or os.path.join(environ.get('HOME') or '/', '.local', 'state')
    return os.path.join(base, STATE_ROOT_NAME)
