# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How a user and Ansible reach a VM over SSH (qemu_vm, the local_vms
inventory): its ``known_hosts`` line, ``ssh_config``, connection variables
and YAML inventory. Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six.moves import shlex_quote


# ---------------------------------------------------------------- files written for the user

def host_key_alias(name):
    return 'labkit-%s' % name


def known_hosts_line(name, host_pubkey):
    parts = (host_pubkey or '').split()
    return '%s %s %s\n' % (host_key_alias(name), parts[0], parts[1]) if len(parts) >= 2 else ''


def ssh_option(key, value):
    """One ``-o Key=value`` of ``ansible_ssh_common_args``, quoted for both readers.

    Ansible splits the string like a shell (so the option is shell-quoted) and ssh
    reads the option like a config line, where a path with blanks must be in
    double quotes (UserKnownHostsFile would otherwise take ``/a b/k`` as two files).
    """
    value = str(value)
    if not re.search(r'\s', value):
        return '-o %s=%s' % (key, value)
    return '-o ' + shlex_quote('%s="%s"' % (key, value))


def ssh_config_value(value):
    """A value of an ssh_config line: double-quoted when it holds blanks."""
    value = str(value)
    return '"%s"' % value if re.search(r'\s', value) else value


def ssh_common_args(name, known_hosts):
    # ServerAlive*: a session whose guest stops answering (a reboot under a
    # loaded TCG host; QEMU's user networking keeps the host side open) ends
    # after a minute instead of hanging the play.
    return ' '.join([ssh_option('UserKnownHostsFile', known_hosts), '-o StrictHostKeyChecking=yes',
                     '-o HostKeyAlias=%s' % host_key_alias(name), '-o IdentitiesOnly=yes',
                     '-o ServerAliveInterval=15', '-o ServerAliveCountMax=4'])


def connection_vars(name, port, private_key, known_hosts):
    return {
        'ansible_host': '127.0.0.1',
        'ansible_port': int(port),
        'ansible_user': 'root',
        'ansible_ssh_private_key_file': private_key,
        'ansible_ssh_common_args': ssh_common_args(name, known_hosts),
        'ansible_python_interpreter': '/usr/bin/python3',
    }


def ssh_config_text(name, port, private_key, known_hosts):
    return ('# Written by labkit.ebpf_rdma.qemu_vm: ssh -F <this file> %s\n'
            'Host %s\n'
            '  HostName 127.0.0.1\n'
            '  Port %d\n'
            '  User root\n'
            '  IdentityFile %s\n'
            '  IdentitiesOnly yes\n'
            '  UserKnownHostsFile %s\n'
            '  StrictHostKeyChecking yes\n'
            '  HostKeyAlias %s\n'
            '  ServerAliveInterval 15\n'
            '  ServerAliveCountMax 4\n') % (name, name, int(port), ssh_config_value(private_key),
                                            ssh_config_value(known_hosts), host_key_alias(name))


def inventory_text(name, conn):
    """A YAML inventory with the VM under group ``labkit_vms`` (keys sorted, values quoted)."""
    lines = ['# Written by labkit.ebpf_rdma.qemu_vm: ansible-playbook -i <this file> ...',
             'all:', '  children:', '    labkit_vms:', '      hosts:', '        %s:' % name]
    for key in sorted(conn):
        value = conn[key]
        if isinstance(value, int):
            lines.append('          %s: %d' % (key, value))
        else:
            lines.append('          %s: %s' % (key, json.dumps(value)))
    return '\n'.join(lines) + '\n'
