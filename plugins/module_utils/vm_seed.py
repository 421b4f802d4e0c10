# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The cloud-init NoCloud seed of a VM (qemu_vm): its user-data and
meta-data, and the argv of the tool that packs them into a ``cidata`` disk.
Pure functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os


SEED_LABEL = 'cidata'


def seed_user_data(hostname, authorized_key, host_key_private, host_key_public, apt_sources='', apt_conf=''):
    """The NoCloud ``user-data`` (``#cloud-config``) giving the VM its identity and apt settings.

    root's authorized key is the VM's own key (``disable_root: false``, no
    default user); the ed25519 host key is the VM's own (``ssh_keys``, no
    other host key generated), so the controller's known_hosts matches.
    ``apt_sources`` (deb822 text for ``/etc/apt/sources.list.d/debian.sources``,
    which then replaces ``/etc/apt/sources.list``) and ``apt_conf`` (for
    ``/etc/apt/apt.conf.d/90labkit``) are the same files a debootstrap image
    carries; '' leaves the image's own. The document is JSON, which is YAML:
    no value can break its structure.
    """
    write_files = []
    if apt_sources:
        write_files += [
            {'path': '/etc/apt/sources.list.d/debian.sources', 'content': apt_sources, 'permissions': '0644'},
            {'path': '/etc/apt/sources.list', 'permissions': '0644',
             'content': '# labkit: the apt sources are in /etc/apt/sources.list.d/debian.sources\n'},
        ]
    if apt_conf:
        write_files.append({'path': '/etc/apt/apt.conf.d/90labkit', 'content': apt_conf, 'permissions': '0644'})
    config = {
        'hostname': hostname,
        'preserve_hostname': False,
        'manage_etc_hosts': True,
        'users': [],
        'disable_root': False,
        'ssh_pwauth': False,
        'ssh_authorized_keys': [authorized_key.strip()],
        'ssh_deletekeys': True,
        'ssh_genkeytypes': [],
        'ssh_keys': {'ed25519_private': host_key_private, 'ed25519_public': host_key_public.strip()},
        # the seed's files, not cloud-init's templates, say where apt goes
        'apt': {'preserve_sources_list': True},
    }
    if write_files:
        config['write_files'] = write_files
    return '#cloud-config\n' + json.dumps(config, indent=2, sort_keys=True) + '\n'


def seed_instance_id(name, user_data):
    """Stable while the seed's contents stay the same; a new one makes cloud-init apply a changed seed."""
    return 'labkit-%s-%s' % (name, hashlib.sha256(user_data.encode('utf-8')).hexdigest()[:12])


def seed_meta_data(instance_id, hostname):
    return json.dumps({'instance-id': instance_id, 'local-hostname': hostname}, indent=2, sort_keys=True) + '\n'


# program -> package, in order of preference
SEED_TOOLS = (('xorriso', 'xorriso'), ('genisoimage', 'genisoimage'), ('mkisofs', 'genisoimage'),
              ('mkfs.vfat', 'dosfstools'), ('hdiutil', None))


def seed_argvs(tool, tool_path, out, files, mcopy=None):
    """The commands that write the NoCloud seed ``out`` holding ``files`` (paths; their names are kept).

    ISO 9660 with the volume id ``cidata`` (xorriso, genisoimage, mkisofs,
    macOS hdiutil on the files' directory) or a FAT image labelled CIDATA
    filled with mtools' ``mcopy``: never a loop mount.
    """
    if tool == 'xorriso':
        return [[tool_path, '-as', 'mkisofs', '-quiet', '-output', out, '-volid', SEED_LABEL,
                 '-joliet', '-rock'] + list(files)]
    if tool in ('genisoimage', 'mkisofs'):
        return [[tool_path, '-quiet', '-output', out, '-volid', SEED_LABEL, '-joliet', '-rock'] + list(files)]
    if tool == 'mkfs.vfat':
        argvs = [[tool_path, '-n', SEED_LABEL.upper(), '-C', out, '1024']]
        for path in files:
            argvs.append([mcopy, '-i', out, path, '::' + os.path.basename(path)])
        return argvs
    if tool == 'hdiutil':
        return [[tool_path, 'makehybrid', '-quiet', '-iso', '-joliet', '-default-volume-name', SEED_LABEL,
                 '-o', out, os.path.dirname(files[0])]]
    raise ValueError('unknown seed tool %r' % tool)
