#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: guest_sysroot
short_description: Describe (and pack) a Debian host's headers and libraries as a sysroot for building on the controller
version_added: 0.2.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Runs on the target host (a dev VM) and reads, with C(dpkg-query), which of O(packages) are installed there for the
    host's own dpkg architecture, with their versions. Returns the architecture as Go and zig know it (RV(goarch),
    RV(triple)), the glibc version (RV(glibc), from C(libc6)) and a RV(key) (architecture + sorted name=version), so a
    controller can cross-build for exactly this host (M(labkit.ebpf_rdma.cross_toolchain), role
    labkit.ebpf_rdma.project_build with C(project_build_where=controller)).
  - With O(archive), also writes a tar.gz of the packages' headers and libraries (the files C(dpkg -L) lists under
    C(/usr/include), C(/usr/lib) and C(/lib); symlinks kept) there. Its first member, C(labkit-sysroot.json), holds
    the key; an archive with the same key is left alone.
  - A host without dpkg, of an architecture the controller build does not cover, or without some of the packages
    returns RV(supported=false) with RV(reason), never a failure, so a caller can fall back to building on the host.
options:
  packages:
    description:
      - The Debian packages whose files make the sysroot. The default is what a cgo build against libibverbs and a
        bpf2go build read (C library, kernel UAPI headers, libibverbs with libnl, libbpf headers).
    type: list
    elements: str
    default: [libc6-dev, linux-libc-dev, libibverbs-dev, libibverbs1, libnl-3-200, libnl-route-3-200, libnl-3-dev,
              libnl-route-3-dev, libbpf-dev]
  archive:
    description:
      - Path on the host of a tar.gz of the sysroot to write (written atomically). V('') writes nothing.
      - Not written when RV(supported) is false.
    type: path
    default: ''
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads as usual; reports whether the archive would be written and writes nothing.
  diff_mode:
    support: full
    details: The diff is the archive's C(labkit-sysroot.json) member (architecture, glibc, packages and key) before
      and after.
  platform:
    platforms: debian
notes:
  - The archive holds only files the packages own; a file a package lists that is not on disk (removed by hand) is
    left out.
'''

EXAMPLES = r'''
- name: What the guest offers as a sysroot
  labkit.ebpf_rdma.guest_sysroot:
  register: sysroot

- name: Pack it once per key and bring it to the controller
  labkit.ebpf_rdma.guest_sysroot:
    archive: "/var/cache/labkit-project/sysroot-{{ sysroot.key }}.tar.gz"
  when: sysroot.supported
'''

RETURN = r'''
supported:
  description: Whether the controller can build for this host with this sysroot (dpkg host, amd64 or arm64, every
    package installed).
  returned: always
  type: bool
  sample: true
reason:
  description: Why not, with the fix, when RV(supported) is false; V('') otherwise.
  returned: always
  type: str
  sample: "packages not installed on the host: libbpf-dev; install them (role labkit.ebpf_rdma.ebpf_toolchain) or
    build on the host (project_build_where: host)"
key:
  description: Hex id of the sysroot (dpkg architecture and the sorted name=version of the installed packages);
    V('') without dpkg.
  returned: always
  type: str
  sample: 3f2a9c0d1b7e4a55
arch:
  description: The host's dpkg architecture.
  returned: always
  type: str
  sample: amd64
goarch:
  description: GOARCH of the host (V('') when the architecture is not covered).
  returned: always
  type: str
  sample: amd64
triple:
  description: The GNU multiarch triple (library and header subdirectory).
  returned: always
  type: str
  sample: x86_64-linux-gnu
glibc:
  description: The glibc version (major.minor) of C(libc6); the cross compiler targets it.
  returned: always
  type: str
  sample: "2.36"
packages:
  description: The installed packages among O(packages) (plus C(libc6)), name -> version.
  returned: always
  type: dict
  sample: {libc6: 2.36-9+deb12u14, libibverbs-dev: "44.0-2"}
missing:
  description: The packages of O(packages) that are not installed for the host's architecture.
  returned: always
  type: list
  elements: str
  sample: []
archive:
  description: The archive's path when O(archive) is set and RV(supported), else null.
  returned: always
  type: str
  sample: /var/cache/labkit-project/sysroot-3f2a9c0d1b7e4a55.tar.gz
files:
  description: How many files and symlinks the archive holds when it is (or in check mode would be) written; 0 when
    it was up to date or not asked for.
  returned: always
  type: int
  sample: 1450
'''

import io
import json
import os
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import common
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import cross


def read_archive_manifest(path):
    """The JSON of the archive's first member (None when absent or not ours)."""
    try:
        with tarfile.open(common.host_path(path), 'r:gz') as tar:
            member = tar.next()
            if member is None or member.name != cross.MANIFEST_NAME or not member.isfile():
                return None
            return json.loads(tar.extractfile(member).read().decode('utf-8'))
    except (IOError, OSError, tarfile.TarError, ValueError, EOFError):
        return None


def write_archive(module, path, manifest_text, files):
    """Write the tar.gz atomically: the manifest first, then the files (relative names, symlinks as links)."""
    path = common.host_path(path)
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.labkit-sysroot-', suffix='.tar.gz', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as raw:
            with tarfile.open(fileobj=raw, mode='w:gz') as tar:
                data = manifest_text.encode('utf-8')
                info = tarfile.TarInfo(cross.MANIFEST_NAME)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                for f in files:
                    tar.add(common.host_path(f), arcname=f.lstrip('/'), recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
        os.chmod(path, 0o644)
        common.sync_directory(directory)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def present_files(paths):
    """Regular files and symlinks among ``paths`` (dpkg lists directories too; a removed file is left out)."""
    keep = []
    for p in paths:
        hp = common.host_path(p)
        if os.path.islink(hp) or os.path.isfile(hp):
            keep.append(p)
    return keep


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', default=list(cross.DEFAULT_PACKAGES)),
            archive=dict(type='path', default=''),
        ),
        supports_check_mode=True,
    )
    wanted = list(module.params['packages'])
    archive = module.params['archive']
    result = dict(changed=False, supported=False, reason='', key='', arch='', goarch='', triple='', glibc='',
                  packages={}, missing=[], archive=None, files=0)

    dpkg = module.get_bin_path('dpkg')
    query = module.get_bin_path('dpkg-query')
    if not dpkg or not query:
        result['reason'] = ('no dpkg on the host: the controller build takes its sysroot from the Debian packages the '
                            'host has; build on the host (project_build_where: host)')
        module.exit_json(**result)

    out, err = common.run_checked(module, [dpkg, '--print-architecture'], what='dpkg --print-architecture')
    arch = out.strip()
    result['arch'] = arch
    facts = cross.arch_facts(arch)
    if facts:
        result['goarch'], result['triple'] = facts[0], facts[1]

    names = ['libc6'] + [p for p in wanted if p != 'libc6']
    # dpkg-query exits 1 when a name is unknown; the rows it printed still count.
    rc, out, err = module.run_command([query] + cross.dpkg_query_argv(names)[1:])
    if rc not in (0, 1):
        module.fail_json(msg='dpkg-query failed (exit %d): %s; check the dpkg database of the host (dpkg --audit)'
                         % (rc, (err or out).strip()), rc=rc, stdout=out, stderr=err)
    installed, missing = cross.parse_dpkg_query(out, err, names, arch)
    result['packages'] = dict((n, v[0]) for n, v in installed.items())
    result['missing'] = [m for m in missing if m in wanted]
    result['key'] = cross.sysroot_key(arch, result['packages'])
    if 'libc6' in installed:
        result['glibc'] = cross.upstream_version(installed['libc6'][0]) or ''

    if not facts:
        result['reason'] = cross.unsupported_arch_reason(arch)
        module.exit_json(**result)
    if result['missing']:
        result['reason'] = ('packages not installed on the host for %s: %s; install them (role '
                            'labkit.ebpf_rdma.ebpf_toolchain installs the development packages) or build on the host '
                            '(project_build_where: host)' % (arch, ', '.join(result['missing'])))
        module.exit_json(**result)
    if not result['glibc']:
        result['reason'] = ('the glibc version of libc6 %s cannot be read; build on the host (project_build_where: '
                            'host)' % installed.get('libc6', ('(not installed)',))[0])
        module.exit_json(**result)
    result['supported'] = True

    if archive:
        result['archive'] = archive
        m = cross.manifest(result['key'], arch, result['packages'], result['glibc'], result['triple'])
        before = read_archive_manifest(archive)
        if before != m:
            result['changed'] = True
            if module._diff:
                result['diff'] = {'before_header': archive if before is not None else '/dev/null',
                                  'after_header': archive,
                                  'before': cross.manifest_text(before) if before is not None else '',
                                  'after': cross.manifest_text(m)}
            # dpkg -L of the rows found, qualified by their architecture (a Multi-Arch package may be
            # installed for two; dpkg -L wants one).
            qualified = ['%s:%s' % (n, installed[n][1]) for n in sorted(installed)]
            out, err = common.run_checked(module, [dpkg, '-L'] + qualified, what='dpkg -L')
            files = present_files(cross.parse_dpkg_list(out))
            result['files'] = len(files)
            if not module.check_mode:
                write_archive(module, archive, cross.manifest_text(m), files)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
