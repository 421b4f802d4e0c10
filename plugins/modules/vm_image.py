#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_image
short_description: Build (or find in the cache) a bootable Debian VM image for QEMU
version_added: 0.1.0
author: labkit.ebpf_rdma contributors (@labkit)
description:
  - Builds a Debian O(release) root filesystem with C(debootstrap --variant=minbase), configures it
    (hostname, fstab, systemd-networkd DHCP on C(en* eth*), resolver, apt sources, masked apt-daily
    timers, a C(labkit-fwcfg) oneshot that installs the per-VM SSH identity from QEMU fw_cfg), turns
    it into an ext4 disk with C(mkfs.ext4 -d) (no loop mount) and converts it to qcow2. The kernel
    and initrd are kept next to the disk for C(-kernel)/C(-initrd) boots.
  - Images are cached under O(cache_dir)C(/images/<release>-<arch>-<key>/) where the key hashes every
    input that shapes the image (release, arch, baked packages, mirrors, apt settings, image size and
    the recipe version). An entry is only valid once its C(manifest.json) is written; the entry appears
    by one rename when it is complete, so an interrupted build (SIGINT, a kill) never leaves an entry
    that looks valid, and its leftover directory is removed by the next run.
  - The manifest records the sha256 of every file of the entry. A file is hashed again only when its
    signature (device, inode, size, mtime, ctime) differs from the one recorded in the entry's
    C(verified.json) when it was last verified (a new build records it), so a warm start hashes nothing,
    while any write to a file (same-size corruption included) changes its ctime and makes the next run
    hash it; a mismatch makes the entry invalid and it is rebuilt. Hashing the disk (about 600 MB) takes
    well under a second to a few seconds. An entry made before checksums were kept is hashed once and
    its checksums recorded (its key, and so the image, stay the same); check mode reports it as not cached.
  - A symlinked entry, or a symlink among its files, is refused. The cache directory and its C(images)
    directory must belong to the user the module works for (the one who ran C(become), from C(SUDO_UID))
    and be writable by no one else, and their parents must belong to root or to that user (or be sticky
    like C(/tmp)); otherwise the module fails naming the directory, its owner and mode, and the fix.
  - One run at a time per entry. A run holds an C(fcntl.flock) lock on C(images/<entry>.lock) (the holder
    writes its pid into it) while it checks, builds or records the entry; another run waits up to
    O(lock_timeout) seconds with a warning naming the holder, then fails naming it.
  - Building needs root (debootstrap, chroot, reading the whole rootfs for mkfs) and a Linux host.
    Root never builds inside a directory the user owns (the user could swap it during the build); the
    image is built in a private directory under O(build_dir), and the finished files are chowned to the
    cache's user through their own file descriptors and moved (or copied) into the cache with
    descriptor-relative calls that follow no symlink. A user building in their own cache (a cloud image)
    works in a C(.build-*) directory of the cache.
  - O(source=cloud_image) takes a cloud image instead (O(cloud_image), a path or an http(s)/file URL,
    verified against O(cloud_image_checksum)); it is fetched into a temporary file next to the cache
    entry, its checksum verified, converted to qcow2 when it is not one already (the format is read with
    C(qemu-img info --output=json)), and the entry renamed into place with its manifest. The key hashes
    the checksum, the arch and the cloud recipe version. The entry holds only C(disk.qcow2), as the image
    boots through firmware (RV(boot)=firmware), its kernel and initrd are its own, and it gets its
    identity and apt settings from a cloud-init NoCloud seed that M(labkit.ebpf_rdma.qemu_vm) writes per
    VM from RV(guest_apt_sources) and RV(guest_apt_conf). This needs neither root nor Linux (qemu-img only).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: [linux, darwin]
    details: O(source=debootstrap) needs Linux and root; O(source=cloud_image) runs on macOS too.
options:
  release:
    description: Debian release of the guest.
    type: str
    choices: [bookworm, trixie]
    default: bookworm
  arch:
    description:
      - Debian architecture of the guest. A foreign architecture (arm64 on x86_64) is built with
        qemu-user-static through binfmt_misc (C(--foreign) then the second stage under emulation, with
        a small initramfs so that the emulated mkinitramfs stays short).
    type: str
    choices: [amd64, arm64]
    default: amd64
  source:
    description:
      - C(debootstrap) builds the image from the distribution's packages.
      - C(cloud_image) fetches O(cloud_image) (see the description).
    type: str
    choices: [debootstrap, cloud_image]
    default: debootstrap
  bake_packages:
    description:
      - Extra packages added to C(debootstrap --include) (installed natively at build time, not under
        emulation in the VM). An empty list gives the base image.
      - Each is a Debian package name (policy 5.6.7, C([a-z0-9][a-z0-9+.-]+)); anything else is refused
        before anything is done, in check mode too.
    type: list
    elements: str
    default: []
  bake_trees:
    description:
      - Directories of the controller copied into the image at build time (O(source=debootstrap)), such as a Go
        toolchain that the roles would otherwise copy into every new VM and unpack there under emulation.
      - The cache key covers each tree's content (names, modes, sizes and a sha256 of every file), so a
        changed tree gives a new image.
    type: list
    elements: dict
    default: []
    suboptions:
      src:
        description: Directory on the controller.
        type: path
        required: true
      dest:
        description: Absolute path of the copy in the guest (it must not exist in the image yet).
        type: str
        required: true
  mirror:
    description:
      - Debian mirror URI (http or https) used to build and written into the guest's apt sources.
      - V(auto) reads the controller's own apt sources (deb822 C(URIs:) in
        C(/etc/apt/sources.list.d/*.sources), then C(/etc/apt/sources.list)) when the controller runs Debian.
      - With O(source=cloud_image) the mirror goes into the VM's seed (RV(guest_apt_sources)), not into
        the cached image; V(auto) on a controller without a Debian mirror, or an empty string, keeps the
        image's own apt sources.
    type: str
    default: auto
  security_mirror:
    description:
      - URI for C(<release>-security) in the guest's sources. V(auto) takes the controller's
        C(*-security) entry; an empty string leaves security updates out.
    type: str
    default: auto
  apt_proxy:
    description:
      - HTTP proxy for debootstrap and the guest's apt. V(auto) reads C(Acquire::http::Proxy) from
        C(apt-config dump) on the controller, then C(http_proxy) from the environment. An empty string
        means no proxy. A loopback proxy host is rewritten to C(10.0.2.2) (the QEMU user-net gateway)
        for the guest.
    type: str
    default: auto
  apt_check_valid_until:
    description:
      - When false, the guest's apt gets C(Acquire::Check-Valid-Until "false"), needed with dated
        snapshot mirrors whose Release files are past their Valid-Until date, and with long-lived
        cached images.
    type: bool
    default: false
  apt_conf:
    description: Extra lines for the guest's C(/etc/apt/apt.conf.d/90labkit).
    type: list
    elements: str
    default: []
  image_size:
    description:
      - Size of the image's ext4 filesystem (C(truncate -s) syntax, a positive number with an optional unit
        K, M, G, T, P or E, e.g. V(8G)). VMs may grow it in their overlay.
    type: str
    default: 8G
  cache_dir:
    description:
      - Cache root. Empty means C($XDG_CACHE_HOME/labkit-ebpf_rdma) or C(~/.cache/labkit-ebpf_rdma)
        of the user running the module.
      - An absolute path without commas (the image paths go to QEMU's C(-drive) option); see the
        description for the owner and mode it must have.
    type: path
    default: ''
  build_dir:
    description:
      - Where root builds an image for another user's cache (the module runs with C(become)); the build
        runs in a private directory (mode 0700, made with mkdtemp) below it. It must belong to root and be
        writable by no one else unless it is sticky, like the default C(/var/tmp); each of its parents too.
        It needs room for the root filesystem and the disk (a few GB while an image builds).
      - Not used when the module runs as the cache's own user.
    type: path
    default: /var/tmp
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock of the same cache entry (it builds it or
        checks it) before failing with a message naming that run's pid; V(0) fails at once.
    type: int
    default: 1800
  cloud_image:
    description:
      - With O(source=cloud_image) (required then) the image, given as a path, a C(file://) URL or an C(http(s)://)
        URL (fetched with the environment's proxy settings). Raw or qcow2 (any format qemu-img reads);
        an image with a backing file is refused. A path must be absolute.
      - O(release) and O(arch) must say what the image is (the apt sources of the seed name the release).
    type: str
    default: ''
  cloud_image_checksum:
    description:
      - Checksum of O(cloud_image), C(sha256:<hex>) or C(sha512:<hex>) (what C(sha256sum) prints, e.g.
        from the vendor's C(SHA256SUMS)); required with O(source=cloud_image). The fetched bytes are
        verified before anything is cached.
    type: str
    default: ''
  download_timeout:
    description: Seconds an http(s) connection may stay silent while fetching O(cloud_image).
    type: int
    default: 60
  kernel_suite:
    description:
      - The guest's kernel as an input of its own (O(source=debootstrap)), a suite of the same archive
        (the resolved O(mirror)), such as V(bookworm-backports) in a bookworm image, V(bullseye) for 5.10 or
        V(trixie-backports) in a trixie image. An empty string, or O(release) itself, keeps the release's own kernel.
      - The kernel that C(linux-image-<arch>) of that suite installs is read from the archive at run time on the
        controller, with an apt state of its own (the controller's apt state is neither read nor written); its
        package and version are part of the cache key, so a new kernel in the archive gives a new entry.
      - The entry is derived from the cached image of the same inputs (built first when missing), without a
        loop mount and without booting it, the way images are built. The base disk is unpacked with
        C(debugfs rdump) (modes restored from C(debugfs ls -p); extended attributes such as file capabilities
        are not carried over), the kernel (and its headers, see O(kernel_headers)) is installed natively with
        C(chroot apt-get -t <suite>), and the tree becomes a new disk with C(mkfs.ext4 -d). The kernel and
        initrd of that version (from C(/boot) or from C(/usr/lib/modules/<release>/)) are exported next to the disk.
      - The guest gets the suite in C(/etc/apt/sources.list.d/labkit-kernel.sources), pinned to 100 in
        C(/etc/apt/preferences.d/labkit-kernel) (installable, never an upgrade source), and what was installed
        in C(/etc/labkit/kernel.json).
    type: str
    default: ''
  kernel_headers:
    description:
      - With O(kernel_suite), also install C(linux-headers-<release>) of that kernel when the archive has it. When
        it is missing or cannot be installed (an old kernel's headers may need a compiler the userland lacks),
        the entry is still made, C(headers) of RV(guest_kernel) and the guest's C(/etc/labkit/kernel.json) say why,
        and work that needs no headers (CO-RE with the kernel's BTF) is unaffected.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Base bookworm image, mirror and proxy from the controller's apt configuration
  labkit.ebpf_rdma.vm_image:
    release: bookworm
  register: image

- name: Bookworm image with a Go toolchain unpacked on the controller baked in
  labkit.ebpf_rdma.vm_image:
    release: bookworm
    bake_packages: [clang, llvm, libbpf-dev, bpftool]
    bake_trees:
      - src: /home/me/.cache/labkit-ebpf_rdma/go/go1.27.3.linux-amd64
        dest: /usr/local/lib/labkit/go/go1.27.3

- name: A cloud image from a URL, verified; the VM gets the controller's mirror through its seed
  labkit.ebpf_rdma.vm_image:
    source: cloud_image
    release: bookworm
    cloud_image: https://images.example.invalid/debian-12-genericcloud-amd64.qcow2
    cloud_image_checksum: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  register: image

- name: A bookworm image whose kernel comes from bookworm-backports (its version read from the archive)
  labkit.ebpf_rdma.vm_image:
    release: bookworm
    kernel_suite: bookworm-backports
  register: image

- name: Trixie image with the eBPF/RDMA tool chain baked in
  labkit.ebpf_rdma.vm_image:
    release: trixie
    bake_packages: [rdma-core, ibverbs-utils, clang, llvm, libbpf-dev, bpftool]
    mirror: http://mirror.example.invalid/debian
'''

RETURN = r'''
path:
  description: Directory of the cache entry.
  returned: always
  type: str
  sample: /root/.cache/labkit-ebpf_rdma/images/bookworm-amd64-0123456789abcdef
disk:
  description: The base qcow2 image (use it as the backing file of an overlay; never boot it directly).
  returned: always
  type: str
kernel:
  description: The guest kernel for C(-kernel); empty for a cloud image (it boots through firmware).
  returned: always
  type: str
initrd:
  description: The guest initrd for C(-initrd); empty for a cloud image.
  returned: always
  type: str
boot:
  description: How the image boots, C(kernel) (direct kernel boot) or C(firmware) (BIOS/UEFI, a cloud image).
  returned: always
  type: str
  sample: kernel
source:
  description: The image source, debootstrap or cloud_image.
  returned: always
  type: str
guest_apt_sources:
  description:
    - The guest's C(/etc/apt/sources.list.d/debian.sources) (deb822) for the resolved mirrors; empty when
      the image's own sources are kept. Baked into a debootstrap image; written by the seed of a cloud image.
  returned: always
  type: str
guest_apt_conf:
  description: The guest's C(/etc/apt/apt.conf.d/90labkit) (proxy, Check-Valid-Until, O(apt_conf)); empty when there is nothing to say.
  returned: always
  type: str
key:
  description: Cache key of the entry.
  returned: always
  type: str
  sample: 0123456789abcdef
cached:
  description:
    - True when a valid, verified entry was already in the cache (in check mode, an entry made before
      checksums were kept is reported false; the real run records its checksums without rebuilding it).
  returned: always
  type: bool
arch:
  description: Debian architecture of the image.
  returned: always
  type: str
release:
  description: Debian release of the image.
  returned: always
  type: str
inputs:
  description: The inputs that shaped the image (what the key hashes).
  returned: always
  type: dict
build_seconds:
  description: Wall time of the build (or of the fetch, checksum and conversion of a cloud image), per step.
  returned: when the image was built
  type: dict
guest_kernel:
  description:
    - With O(kernel_suite), the kernel of the derived entry, as resolved from the archive (C(suite), C(package),
      C(release) as C(uname -r) prints it, C(version)), C(base) (the entry it was derived from) and C(headers), with
      C(package), C(available) (the archive has it), C(installed) and C(reason) (why not; read from the entry's
      manifest when it is cached). Empty without O(kernel_suite).
  returned: always
  type: dict
  sample:
    suite: bookworm-backports
    package: linux-image-6.12.95+deb12-amd64
    release: 6.12.95+deb12-amd64
    version: 6.12.95-1~bpo12+1
    headers: {package: linux-headers-6.12.95+deb12-amd64, available: true, installed: true, reason: ''}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
'''

import binascii
import contextlib
import errno
import hashlib
import json
import os
import platform
import pwd
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.labkit.ebpf_rdma.plugins.module_utils.common import (
    Action, read_text, host_path, run_checked, result_for)
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import fsafe
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import mounts
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import apt_sources
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import image as vm_img
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import vm_base
from ansible_collections.labkit.ebpf_rdma.plugins.module_utils import guest_kernel as gk


FWCFG_SCRIPT = r'''#!/bin/sh
# labkit-fwcfg: install this VM's own identity, passed by QEMU with
# -fw_cfg name=opt/labkit/<item>,file=... (labkit.ebpf_rdma.qemu_vm), so
# that the shared cached image carries no keys. Runs before ssh.service.
set -u
D=/sys/firmware/qemu_fw_cfg/by_name/opt/labkit
modprobe qemu_fw_cfg 2>/dev/null || true
if [ -r "$D/authorized_keys/raw" ]; then
  install -d -m 700 /root/.ssh
  (umask 077; cat "$D/authorized_keys/raw" > /root/.ssh/authorized_keys.new) &&
    mv /root/.ssh/authorized_keys.new /root/.ssh/authorized_keys
  echo "labkit-fwcfg: installed /root/.ssh/authorized_keys"
fi
if [ -r "$D/ssh_host_ed25519_key/raw" ]; then
  (umask 077; cat "$D/ssh_host_ed25519_key/raw" > /etc/ssh/ssh_host_ed25519_key.new) &&
    mv /etc/ssh/ssh_host_ed25519_key.new /etc/ssh/ssh_host_ed25519_key &&
    ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
  echo "labkit-fwcfg: installed the ssh host key"
fi
if [ -r "$D/hostname/raw" ]; then
  # the host name is data: only RFC 1123 characters are taken, and it is never part of a command
  h=$(cat "$D/hostname/raw")
  case "$h" in
    ''|-*|*[!A-Za-z0-9.-]*) echo "labkit-fwcfg: ignored a hostname that is not an RFC 1123 host name" ;;
    *)
      printf '%s\n' "$h" > /etc/hostname
      printf '%s\n' "$h" > /proc/sys/kernel/hostname
      { grep -v '^127\.0\.1\.1[[:space:]]' /etc/hosts; printf '127.0.1.1 %s\n' "$h"; } > /etc/hosts.labkit &&
        mv /etc/hosts.labkit /etc/hosts ;;
  esac
fi
# no fw_cfg identity (booted by hand): make per-boot-unique host keys
ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A
# grow the root filesystem to the size of the VM's disk (no-op when it already fits)
resize2fs "$(findmnt -no SOURCE /)" >/dev/null 2>&1 || true
exit 0
'''

FWCFG_UNIT = '''[Unit]
Description=labkit: per-VM SSH identity and hostname from QEMU fw_cfg
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=ssh.service ssh.socket sshd.service systemd-networkd.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/labkit-fwcfg

[Install]
WantedBy=sysinit.target
'''

SSHD_DROPIN = '''# labkit: the per-VM host key comes from QEMU fw_cfg (labkit-fwcfg.service)
HostKey /etc/ssh/ssh_host_ed25519_key
'''


def rootfs_files(sources_text, apt_conf_text):
    """Files written into the rootfs: path -> (content, mode); the apt files come from :func:`guest_apt_texts`."""
    files = {
        '/etc/hostname': ('labkit\n', 0o644),
        '/etc/hosts': ('127.0.0.1 localhost\n127.0.1.1 labkit\n::1 localhost ip6-localhost ip6-loopback\n', 0o644),
        '/etc/fstab': ('/dev/vda / ext4 defaults,errors=remount-ro 0 1\n', 0o644),
        '/etc/systemd/network/20-wired.network': ('[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n', 0o644),
        # minbase has no systemd-resolved: the QEMU user-net DNS
        '/etc/resolv.conf': ('nameserver 10.0.2.3\n', 0o644),
        '/etc/apt/sources.list.d/debian.sources': (sources_text, 0o644),
        '/usr/local/sbin/labkit-fwcfg': (FWCFG_SCRIPT, 0o755),
        '/etc/systemd/system/labkit-fwcfg.service': (FWCFG_UNIT, 0o644),
        '/etc/ssh/sshd_config.d/50-labkit.conf': (SSHD_DROPIN, 0o644),
        # empty machine-id: each VM gets its own at first boot
        '/etc/machine-id': ('', 0o444),
    }
    if apt_conf_text:
        files['/etc/apt/apt.conf.d/90labkit'] = (apt_conf_text, 0o644)
    return files


def tree_digest(path):
    """sha256 over a directory tree: every entry's relative path, type, mode, and content or link target."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            digest.update(('%s\0%o\0' % (os.path.relpath(full, path), st.st_mode)).encode('utf-8', 'surrogateescape'))
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(full).encode('utf-8', 'surrogateescape'))
            elif stat.S_ISREG(st.st_mode):
                with open(full, 'rb') as f:
                    for block in iter(lambda: f.read(1 << 20), b''):
                        digest.update(block)
            digest.update(b'\n')
    return digest.hexdigest()


def foreign_tree_entry(src, uid):
    """The first path of the tree ``src`` (its top resolved) not owned by ``uid``, with its owner; None when all are.

    Root copies a bake tree into an image that the user then owns and boots:
    a tree holding (or a link resolving to) files of someone else would let
    the user read them through the image.
    """
    top = os.path.realpath(src)
    for dirpath, dirnames, filenames in os.walk(top):
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            owner = os.lstat(path).st_uid
            if owner != uid:
                return path, owner
    return None


def guest_apt_texts(inputs):
    """``(debian.sources, 90labkit)`` contents of the guest for resolved ``inputs``; '' where there is none.

    The one place that renders the guest's apt files: the debootstrap rootfs
    (:func:`rootfs_files`), the seed of a cloud image and the module's return
    values all take them from here.
    """
    sources = ''
    if inputs['mirror']:
        sources = apt_sources.guest_sources(inputs['release'], inputs['mirror'], inputs['security_mirror'])
    conf = apt_sources.guest_apt_conf(inputs['apt_proxy'], inputs['apt_check_valid_until'], inputs['apt_conf'])
    return sources, conf


def effective_uid():
    """The module's effective uid (a function of its own so that unit tests can play root)."""
    return os.geteuid()


def mounts_below(path):
    """Mount points at or below ``path``, deepest first (/proc/self/mountinfo, parsed by module_utils.mounts)."""
    table = mounts.parse_mountinfo(read_text('/proc/self/mountinfo', ''))
    found = mounts.mounts_beneath(table, path)
    if mounts.mount_at(table, path):
        found.append(mounts.normalize_path(path))
    return found


def sha256_fd(fd):
    """sha256 hex of an open file, read from its start (os.pread: the fd's offset is left alone)."""
    digest = hashlib.sha256()
    offset = 0
    while True:
        block = os.pread(fd, 1 << 20, offset)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)


CACHE_FIX = 'or choose another cache_dir (local_vm_cache_dir)'
BUILD_FIX = 'or choose another build_dir'
URL_OPTIONS = (('mirror', 'local_vm_mirror'), ('security_mirror', 'local_vm_security_mirror'),
               ('apt_proxy', 'local_vm_apt_proxy'))


def option_error(p):
    """The first bad option as a message (what, why, fix), checked before anything is read or written; else None."""
    try:
        vm_img.size_bytes(p['image_size'])
    except ValueError as e:
        return 'image_size (local_vm_image_size): %s' % e
    for pkg in p['bake_packages']:
        why = vm_img.bad_package_name(pkg)
        if why:
            return ('bake_packages (local_vm_bake_packages): %s; give one package name per list item, spelled as '
                    'apt-cache policy <name> knows it' % why)
    for key, var in URL_OPTIONS:
        value = p[key]
        if value == 'auto' or (value == '' and (key != 'mirror' or p['source'] == 'cloud_image')):
            continue
        why = vm_img.bad_url(value) if value else 'it is empty but a debootstrap image needs a Debian mirror'
        if why:
            return ('%s (%s): %s; give an http:// or https:// URL such as http://deb.example.invalid/debian%s, or auto'
                    % (key, var, why, '' if key == 'mirror' else ' (an empty string for none)'))
    for key, var in (('cache_dir', 'local_vm_cache_dir'), ('build_dir', 'build_dir')):
        value = p[key]
        if not value:
            continue
        if not os.path.isabs(value):
            return '%s (%s) %r is not an absolute path; give an absolute directory' % (key, var, value)
        bad = [c for c in ',\n\r\t' if c in value]
        if bad:
            return ('%s (%s) %r holds %r, which QEMU\'s -drive option syntax cannot carry (the image paths go to '
                    'qemu_vm); choose a directory without commas or control characters' % (key, var, value, bad[0]))
    for tree in p['bake_trees']:
        if not tree['dest'].startswith('/') or '..' in tree['dest'].split('/'):
            return 'bake_trees dest %r must be an absolute path without ".."' % tree['dest']
        if not os.path.isdir(tree['src']):
            return ('bake_trees src %s is not a directory on the controller; prepare it first (the local_vm role '
                    'unpacks the Go toolchain there)' % tree['src'])
    if p['kernel_suite']:
        why = gk.bad_suite(p['kernel_suite'])
        if why:
            return ('kernel_suite (local_vm_kernel): %s; give a suite of the archive, or an empty string for the '
                    'release\'s own kernel' % why)
        if p['source'] != 'debootstrap':
            return ('kernel_suite (local_vm_kernel) needs source=debootstrap: a cloud image boots its own kernel '
                    'through firmware; drop local_vm_kernel or build the image with debootstrap')
    if p['download_timeout'] <= 0:
        return 'download_timeout %d is not a positive number of seconds; give e.g. 60' % p['download_timeout']
    if p['lock_timeout'] < 0:
        return 'lock_timeout %d is negative; give the seconds to wait for another run (0: do not wait)' % p['lock_timeout']
    return None


class Cache(object):
    """One user's image cache: checked and opened without following links, then used through its fd only.

    A module run as root for the user who ran ``become`` never follows a name
    in the user's directory: entries are opened with ``O_NOFOLLOW`` relative
    to the fd of ``images/``, files are created with ``O_EXCL`` and chowned
    through their own fd (module_utils.fsafe).
    """

    def __init__(self, module, cache_dir, euid):
        self.module = module
        self.euid = euid
        self.uid = fsafe.intended_uid(os.environ, euid)
        try:
            self.gid = pwd.getpwuid(self.uid).pw_gid
        except KeyError:
            self.gid = os.getegid()
        self.owner = (self.uid, self.gid)
        self.root = os.path.abspath(cache_dir)
        self.path = os.path.join(self.root, 'images')
        self.fd = None

    def open(self, create):
        """Refuse a cache another user could change; open ``images/`` (made, for its user, when ``create``)."""
        trusted = set([0, self.uid])
        if not os.path.lexists(self.root):
            prefix, missing = fsafe.existing_prefix(self.root)
            fd = fsafe.open_dir(prefix, trusted, CACHE_FIX, check_last=True)
            try:
                if create:
                    self.fd = fsafe.mkdirs_at(fd, missing + ['images'], 0o755, self.owner)
            finally:
                os.close(fd)
            return
        fd = fsafe.open_dir(self.root, trusted, CACHE_FIX)
        try:
            fsafe.check_owned_dir(os.fstat(fd), self.root, self.uid, CACHE_FIX)
            try:
                sub = os.open('images', os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise fsafe.FsafeError('%s is a symbolic link or a file; labkit does not follow links in its '
                                           'cache: remove it (rm %s) %s' % (self.path, self.path, CACHE_FIX))
                if e.errno != errno.ENOENT:
                    raise
                if not create:
                    return
                sub = fsafe.mkdirs_at(fd, ['images'], 0o755, self.owner)
            self.fd = sub
            fsafe.check_owned_dir(os.fstat(sub), self.path, self.uid, CACHE_FIX)
        finally:
            os.close(fd)

    def lock(self, entry):
        """The entry's lock: exclusive for a real run (made when missing), shared in check mode (never made)."""
        if self.fd is None:
            return contextlib.nullcontext()
        check = self.module.check_mode
        return fsafe.lock('%s.lock' % entry, dir_fd=self.fd, timeout=self.module.params['lock_timeout'],
                          purpose='building or checking the image cache entry %s' % entry, shared=check,
                          create=not check, owner=self.owner,
                          on_wait=lambda msg, _holder: self.module.warn(msg))

    def read_at(self, fd, name, where):
        try:
            rfd = fsafe.open_regular_at(fd, name, os.path.join(where, name))
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        try:
            return os.read(rfd, 1 << 20).decode('utf-8', 'replace')
        finally:
            os.close(rfd)

    def open_files(self, efd, final, names):
        """``{name: fd}`` of the entry's files that exist (a symlinked file is refused)."""
        fds = {}
        try:
            for name in names:
                try:
                    fds[name] = fsafe.open_regular_at(efd, name, os.path.join(final, name))
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
        except fsafe.FsafeError as e:
            for fd in fds.values():
                os.close(fd)
            raise fsafe.FsafeError('%s; the cache entry %s is not used (remove it: rm -r %s)' % (e, final, final))
        return fds

    def inspect(self, entry, key, source):
        """``(state, reason, stamp)``: state is missing, valid, verified (hashed now), legacy or invalid.

        Schedule (justified in the module's docs): an entry is hashed in full
        only when one of its files' signature (device, inode, size, mtime, ctime)
        differs from its ``verified.json`` stamp; a new build writes the stamp,
        so a normal warm start hashes nothing, and any write through the
        filesystem (same-size corruption included) is caught. Hashing the
        ~600 MB disk is about 0.4 s on a warm page cache (sha256, SHA-NI).
        """
        final = os.path.join(self.path, entry)
        if self.fd is None:
            return 'missing', '', None
        try:
            st = os.lstat(entry, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return 'missing', '', None
            raise
        if stat.S_ISLNK(st.st_mode):
            raise fsafe.FsafeError('the cache entry %s is a symbolic link (to %s); labkit does not follow links in '
                                   'its cache: remove the link (rm %s) and run again, the image is then built anew'
                                   % (final, os.readlink(entry, dir_fd=self.fd), final))
        if not stat.S_ISDIR(st.st_mode):
            return 'invalid', 'not a directory', None
        names = vm_img.image_files(source)
        efd = os.open(entry, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=self.fd)
        try:
            manifest = self.read_at(efd, 'manifest.json', final)
            fds = self.open_files(efd, final, names)
            try:
                stats = dict((n, os.fstat(fd)) for n, fd in fds.items())
                if not vm_img.manifest_valid(manifest, key, dict((n, s.st_size) for n, s in stats.items()), names):
                    return 'invalid', 'no or bad manifest', None
                sums = vm_img.manifest_checksums(manifest, names)
                if sums is None:
                    return 'legacy', '', None
                signatures = dict((n, vm_img.file_signature(s)) for n, s in stats.items())
                if vm_img.stamp_fresh(self.read_at(efd, 'verified.json', final), signatures, sums):
                    return 'valid', '', None
                for name in names:
                    actual = sha256_fd(fds[name])
                    if actual != sums[name]:
                        return 'invalid', '%s has sha256 %s, its manifest says %s' % (name, actual, sums[name]), None
                return 'verified', '', vm_img.stamp_text(signatures, sums)
            finally:
                for fd in fds.values():
                    os.close(fd)
        finally:
            os.close(efd)

    def write_at_entry(self, entry, files):
        efd = os.open(entry, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=self.fd)
        try:
            for name, text in files:
                fsafe.write_file_at(efd, name, text.encode('utf-8'), 0o644, self.owner)
        finally:
            os.close(efd)

    def record_checksums(self, entry, source):
        """An entry made before checksums were kept (sizes match): hash its files once and record them."""
        final = os.path.join(self.path, entry)
        names = vm_img.image_files(source)
        efd = os.open(entry, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=self.fd)
        try:
            manifest = json.loads(self.read_at(efd, 'manifest.json', final))
            fds = self.open_files(efd, final, names)
            try:
                sums = dict((n, sha256_fd(fd)) for n, fd in fds.items())
                signatures = dict((n, vm_img.file_signature(os.fstat(fd))) for n, fd in fds.items())
            finally:
                for fd in fds.values():
                    os.close(fd)
        finally:
            os.close(efd)
        manifest['sha256'] = sums
        manifest['sha256_recorded'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        self.write_at_entry(entry, [('manifest.json', json.dumps(manifest, indent=2, sort_keys=True) + '\n'),
                                    ('verified.json', vm_img.stamp_text(signatures, sums))])

    def manifest(self, entry):
        """The parsed manifest of a valid entry ({} when it cannot be read)."""
        try:
            efd = os.open(entry, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=self.fd)
        except (OSError, TypeError):
            return {}
        try:
            return json.loads(self.read_at(efd, 'manifest.json', os.path.join(self.path, entry)) or '{}')
        except ValueError:
            return {}
        finally:
            os.close(efd)

    def leftovers(self, entry):
        """Names of interrupted builds of ``entry`` in ``images/`` (under the entry's lock, none is running)."""
        if self.fd is None:
            return []
        prefix = '.build-%s-' % entry
        return sorted(n for n in os.listdir(self.fd) if n.startswith(prefix))


class ImageBuilder(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.timings = {}

    def fail(self, msg, **kw):
        self.module.fail_json(msg=msg, **kw)

    # ------------------------------------------------------------ inputs
    def resolve_inputs(self):
        """The inputs of a debootstrap image (what its key hashes, plus build_* ways to reach them)."""
        p = self.p
        apt = self.resolve_apt(keep_image_sources=False)
        inputs = {
            'release': p['release'],
            'arch': p['arch'],
            'packages': vm_img.normalise_packages(p['bake_packages']),
            'build_mirror': apt['build_mirror'],
            'mirror': apt['mirror'],
            'security_mirror': apt['security_mirror'],
            'build_proxy': apt['build_proxy'],
            'apt_proxy': apt['apt_proxy'],
            'apt_check_valid_until': p['apt_check_valid_until'],
            'apt_conf': list(p['apt_conf']),
            'image_size': p['image_size'],
        }
        if p['bake_trees']:
            # only present when used, so that the keys of images without trees stay as they were
            inputs['trees'] = [{'dest': t['dest'], 'sha256': tree_digest(t['src'])} for t in p['bake_trees']]
            inputs['build_trees'] = [dict(t) for t in p['bake_trees']]
        return inputs

    def resolve_apt(self, keep_image_sources):
        """Mirror, security mirror and proxy: the module's options, V(auto) = the controller's configuration.

        ``keep_image_sources`` (cloud images): an auto mirror the controller does
        not have means "keep the image's own sources" instead of a failure.
        """
        p = self.p
        entries = []
        sources_dir = '/etc/apt/sources.list.d'
        if os.path.isdir(host_path(sources_dir)):
            for name in sorted(os.listdir(host_path(sources_dir))):
                text = read_text(os.path.join(sources_dir, name), '')
                if name.endswith('.sources'):
                    entries += apt_sources.parse_deb822_sources(text)
                elif name.endswith('.list'):
                    entries += apt_sources.parse_sources_list(text)
        entries += apt_sources.parse_sources_list(read_text('/etc/apt/sources.list', ''))
        found_mirror, found_security = apt_sources.discover_mirrors(entries)
        controller_os = apt_sources.os_release_id(read_text('/etc/os-release', ''))
        mirror = p['mirror']
        if mirror == 'auto' and keep_image_sources:
            mirror = found_mirror if controller_os == 'debian' and found_mirror else ''
        if mirror == 'auto':
            if controller_os != 'debian' or not found_mirror:
                self.fail('local_vm_mirror (mirror) is auto but the controller has no Debian mirror in its apt '
                          'sources (controller OS: %s); set it to a Debian mirror URI, e.g. '
                          'http://<your mirror>/debian' % (controller_os or 'unknown'))
            mirror = found_mirror
        security = p['security_mirror']
        if security == 'auto':
            security = found_security if controller_os == 'debian' else ''
            security = security or ''
        proxy = p['apt_proxy']
        if proxy == 'auto':
            proxy = None
            apt_config = self.module.get_bin_path('apt-config')
            if apt_config:
                rc, out, _err = self.module.run_command([apt_config, 'dump'])
                if rc == 0:
                    proxy = apt_sources.parse_apt_config_dump(out)
            proxy = proxy or apt_sources.proxy_from_environ(os.environ) or ''
        return {
            'build_mirror': mirror,
            'mirror': apt_sources.guest_url(mirror),
            'security_mirror': apt_sources.guest_url(security),
            'build_proxy': proxy,
            'apt_proxy': apt_sources.guest_url(proxy),
        }

    @staticmethod
    def key_inputs(inputs):
        # what shapes the image; build_* only say how to reach the same bytes
        return dict((k, v) for k, v in inputs.items() if not k.startswith('build_'))

    # ------------------------------------------------------------ where builds happen
    def build_prefix(self, cache, entry):
        tag = hashlib.sha256(os.path.realpath(cache.path).encode('utf-8', 'surrogateescape')).hexdigest()[:8]
        return 'labkit-vm_image-%s-%s-' % (tag, entry)

    def open_build_dir(self):
        """The directory where root builds for another user: root's own, no one else may swap what is in it."""
        try:
            return fsafe.open_dir(self.p['build_dir'], set([0, os.geteuid()]), BUILD_FIX, check_last=True)
        except OSError as e:
            self.fail('build_dir %s cannot be opened (%s); root builds images for another user there: create it '
                      '(owned by root, not writable by others unless sticky, like /var/tmp) %s'
                      % (self.p['build_dir'], e.strerror, BUILD_FIX))

    def build_leftovers(self, cache, entry):
        """Interrupted root builds of this entry in build_dir (root's own directories only)."""
        if cache.uid == cache.euid:
            return []
        real = os.path.realpath(self.p['build_dir'])
        prefix = self.build_prefix(cache, entry)
        found = []
        for name in sorted(os.listdir(real)) if os.path.isdir(real) else []:
            st = os.lstat(os.path.join(real, name))
            if name.startswith(prefix) and stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid():
                found.append(os.path.join(real, name))
        return found

    def remove_tree(self, parent_fd, parent, name):
        """Remove a build directory: unmount what debootstrap left mounted in it, then an fd-relative rmtree."""
        path = os.path.join(parent, name)
        umount = self.module.get_bin_path('umount')
        for mp in mounts_below(os.path.realpath(path)):
            if umount:
                self.module.run_command([umount, '-l', mp])
        left = mounts_below(os.path.realpath(path))
        if left:
            self.fail('%s still has mounts (%s) after an interrupted build; unmount them and remove the '
                      'directory by hand (it is not removed automatically to protect the host)'
                      % (path, ', '.join(left)))
        try:
            fsafe.rmtree_at(parent_fd, name)
        except (IOError, OSError) as e:
            if e.errno in (errno.EACCES, errno.EPERM):
                self.fail('removing %s needs root (it holds a root-owned rootfs of an earlier build); run with '
                          'become: true, or remove it by hand: sudo rm -r %s' % (path, path))
            raise

    def remove_path(self, path):
        fd = os.open(os.path.dirname(path), os.O_RDONLY | fsafe.O_DIRECTORY)
        try:
            self.remove_tree(fd, os.path.dirname(path), os.path.basename(path))
        finally:
            os.close(fd)

    def workspace(self, cache, entry):
        """``(work path, staging name)``: where the entry is made.

        The cache's own user builds in a ``.build-*`` directory of the cache,
        renamed into place (staging = that directory). Root building for
        another user builds in a private mkdtemp directory of build_dir, which
        that user cannot rename or replace, and publishes the finished files
        into a new staging directory of the cache (staging None).
        """
        if cache.uid == cache.euid:
            name = '.build-%s-%d-%s' % (entry, os.getpid(), binascii.hexlify(os.urandom(4)).decode('ascii'))
            os.mkdir(name, 0o700, dir_fd=cache.fd)
            return os.path.join(cache.path, name), name
        fd = self.open_build_dir()
        os.close(fd)
        return tempfile.mkdtemp(prefix=self.build_prefix(cache, entry), dir=os.path.realpath(self.p['build_dir'])), None

    def publish(self, cache, entry, work, staging, key, source, manifest):
        """Hash the files, write the manifest and the verified stamp, and rename the entry into place.

        From root's private work dir, each file is chowned through its fd there
        (where the user cannot reach) and only then moved (or copied, across
        filesystems) into a new staging directory of the cache.
        """
        names = vm_img.image_files(source)
        wfd = os.open(work, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
        try:
            if staging is None:
                staging = '.build-%s-%d-%s' % (entry, os.getpid(), binascii.hexlify(os.urandom(4)).decode('ascii'))
                sfd = fsafe.mkdirs_at(cache.fd, [staging], 0o700, cache.owner)
                for name in names:
                    fd = fsafe.open_regular_at(wfd, name, os.path.join(work, name))
                    try:
                        os.fchmod(fd, 0o644)
                        os.fchown(fd, cache.uid, cache.gid)
                    finally:
                        os.close(fd)
                    try:
                        os.rename(name, name, src_dir_fd=wfd, dst_dir_fd=sfd)
                    except OSError as e:
                        if e.errno != errno.EXDEV:
                            raise
                        fsafe.copy_file_at(wfd, name, sfd, name, 0o644, cache.owner)
            else:
                sfd = os.open(staging, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=cache.fd)
                for name in os.listdir(sfd):
                    if name not in names:
                        fsafe.rmtree_at(sfd, name)
        finally:
            os.close(wfd)
        try:
            sums, sizes, signatures = {}, {}, {}
            for name in names:
                fd = fsafe.open_regular_at(sfd, name, name)
                try:
                    os.fchmod(fd, 0o644)
                    sums[name] = sha256_fd(fd)
                    st = os.fstat(fd)
                    sizes[name], signatures[name] = st.st_size, vm_img.file_signature(st)
                finally:
                    os.close(fd)
            manifest = dict(manifest, key=key, source=source, files=sizes, sha256=sums,
                            created=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), build_seconds=self.timings)
            fsafe.write_file_at(sfd, 'manifest.json', json.dumps(manifest, indent=2, sort_keys=True).encode('utf-8'),
                                0o644, cache.owner)
            fsafe.write_file_at(sfd, 'verified.json', vm_img.stamp_text(signatures, sums).encode('utf-8'), 0o644, cache.owner)
            os.fchmod(sfd, 0o755)
        finally:
            os.close(sfd)
        try:
            os.rename(staging, entry, src_dir_fd=cache.fd, dst_dir_fd=cache.fd)
        except OSError as e:
            fsafe.rmtree_at(cache.fd, staging)
            self.fail('the new image could not be moved into place as %s (%s): something made that name while the '
                      'build ran; remove it and run again' % (os.path.join(cache.path, entry), e.strerror))

    def make_entry(self, cache, entry, key, source, make):
        """Run ``make(work)`` (the build or the fetch; returns manifest fields) and publish its result."""
        work, staging = self.workspace(cache, entry)
        try:
            extra = make(work)
            self.publish(cache, entry, work, staging, key, source, extra)
        except BaseException:
            # SIGINT (KeyboardInterrupt) included: nothing half-made stays, and nothing is renamed into place
            if os.path.lexists(work):
                self.remove_path(work)
            if staging is None:
                for name in cache.leftovers(entry):
                    self.remove_tree(cache.fd, cache.path, name)
            raise
        finally:
            if staging is None and os.path.lexists(work):
                self.remove_path(work)

    # ------------------------------------------------------------ build steps
    def timed(self, step, argv, what, hint=None, env=None):
        t0 = time.time()
        out = run_checked(self.module, argv, what=what, hint=hint, environ_update=env)
        self.timings[step] = round(time.time() - t0, 1)
        return out

    def preflight(self, inputs):
        if platform.system() != 'Linux':
            self.fail('building a VM image needs a Linux host (debootstrap, mkfs.ext4 -d); on %s use a cloud '
                      'image (source=cloud_image) or build the image on Linux' % platform.system())
        if effective_uid() != 0:
            self.fail('building a VM image needs root (debootstrap, chroot, reading the whole rootfs for '
                      'mkfs.ext4 -d); run the task with become: true')
        bins = {}
        for name, pkg in (('debootstrap', 'debootstrap'), ('mkfs.ext4', 'e2fsprogs'),
                          ('qemu-img', 'qemu-utils'), ('chroot', 'coreutils'), ('truncate', 'coreutils')):
            path = self.module.get_bin_path(name, opt_dirs=['/usr/sbin', '/sbin'])
            if not path:
                self.fail('%s is missing on the controller, it is needed to build the VM image; install it: '
                          'apt-get install %s' % (name, pkg))
            bins[name] = path
        host_arch = vm_base.debarch_for_machine(platform.machine())
        if host_arch != inputs['arch']:
            interp = vm_base.ARCH_INFO[inputs['arch']]['qemu_user']
            state = read_text('/proc/sys/fs/binfmt_misc/%s' % interp, '')
            if 'enabled' not in state.split('\n', 1)[0]:
                self.fail('building an %s image on an %s host runs its packages under emulation, but binfmt_misc '
                          'has no enabled %s entry; install qemu-user-static and binfmt-support, then: '
                          'mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable %s'
                          % (inputs['arch'], host_arch, interp, interp))
        return bins, host_arch != inputs['arch']

    def build(self, inputs, bins, foreign, tmp):
        """Build the image's files (disk.qcow2, vmlinuz, initrd.img) in ``tmp``; return the manifest fields."""
        rootfs = os.path.join(tmp, 'rootfs')
        os.makedirs(rootfs)
        env = {}
        if inputs['build_proxy']:
            env = {'http_proxy': inputs['build_proxy']}
        include = ','.join(vm_img.include_packages(inputs['arch'], inputs['packages']))
        argv = [bins['debootstrap'], '--variant=minbase', '--arch=%s' % inputs['arch'],
                '--include=%s' % include]
        if foreign:
            argv.append('--foreign')
        argv += [inputs['release'], rootfs, inputs['build_mirror']]
        self.timed('debootstrap', argv, 'debootstrap of %s/%s from %s' % (
            inputs['release'], inputs['arch'], inputs['build_mirror']),
            hint='check that the mirror serves %s for %s and that the package names exist '
                 '(local_vm_bake_packages)' % (inputs['release'], inputs['arch']), env=env)
        if foreign:
            # small initramfs: the emulated mkinitramfs with MODULES=most takes ~10 min per run
            self.write(rootfs, '/etc/initramfs-tools/conf.d/zz-labkit-vm', 'MODULES=list\n', 0o644)
            self.write(rootfs, '/usr/share/initramfs-tools/modules.d/labkit-vm.conf',
                       'virtio_pci\nvirtio_blk\nvirtio_net\next4\n', 0o644)
            slimmed = self.slim_package_indexes(rootfs, os.path.join(tmp, 'package-indexes'))
            self.timed('second_stage', [bins['chroot'], rootfs, '/debootstrap/debootstrap', '--second-stage'],
                       'debootstrap second stage under emulation', env=env)
            self.restore_package_indexes(slimmed)
        self.copy_trees(rootfs, inputs.get('build_trees') or [])
        self.configure(rootfs, inputs, bins)
        self.make_disk(rootfs, tmp, inputs, bins)
        self.remove_path(rootfs)
        return {'recipe_version': vm_img.RECIPE_VERSION, 'inputs': self.key_inputs(inputs)}

    @staticmethod
    def slim_package_indexes(rootfs, keep_dir):
        """Before an emulated second stage: cut the rootfs's apt Packages indexes down to what the first stage fetched.

        The originals wait in keep_dir (outside the rootfs) and go back after
        the second stage, so the image is the same as without this; only the
        emulated perl has less to read (trixie: 56 MB down to a few hundred KB,
        which took debootstrap's pre-dependency loop from minutes to seconds a
        round). Returns the (index, kept original) pairs.
        """
        debpaths = os.path.join(rootfs, 'debootstrap', 'debpaths')
        lists = os.path.join(rootfs, 'var', 'lib', 'apt', 'lists')
        if not os.path.isfile(debpaths) or not os.path.isdir(lists):
            return []
        with open(debpaths, encoding='utf-8', errors='surrogateescape') as f:
            names = vm_img.debpaths_packages(f.read())
        slimmed = []
        for name in sorted(os.listdir(lists)):
            index = os.path.join(lists, name)
            if not name.endswith('_Packages') or not os.path.isfile(index):
                continue
            if not os.path.isdir(keep_dir):
                os.makedirs(keep_dir)
            kept = os.path.join(keep_dir, name)
            shutil.move(index, kept)
            with open(kept, encoding='utf-8', errors='surrogateescape') as src:
                text = vm_img.slim_packages_index(src.read(), names)
            with open(index, 'w', encoding='utf-8', errors='surrogateescape') as dst:
                dst.write(text)
            shutil.copymode(kept, index)
            slimmed.append((index, kept))
        return slimmed

    @staticmethod
    def restore_package_indexes(slimmed):
        """Put the full indexes back where the second stage left the slim ones."""
        for index, kept in slimmed:
            if os.path.exists(index):
                shutil.move(kept, index)

    # ------------------------------------------------------------ cloud image
    def fetch_cloud(self, cloud, tmp):
        """Fetch, verify and convert the cloud image into ``tmp``/disk.qcow2; return the manifest fields."""
        qemu_img = self.module.get_bin_path('qemu-img', opt_dirs=['/opt/homebrew/bin', '/usr/local/bin'])
        if not qemu_img:
            self.fail('qemu-img is missing on the controller, it is needed to check and convert the cloud image; '
                      'install it: apt-get install qemu-utils (macOS: brew install qemu)')
        download = os.path.join(tmp, 'download')
        t0 = time.time()
        digest = self.copy_hashed(cloud, download)
        self.timings['fetch'] = round(time.time() - t0, 1)
        if digest != cloud['digest']:
            self.fail('the cloud image %s has %s:%s, not the expected %s:%s: the download is corrupt or '
                      'cloud_image_checksum (local_vm_cloud_image_checksum) is not the checksum of this image; '
                      'nothing was cached' % (cloud['where'], cloud['algo'], digest, cloud['algo'], cloud['digest']))
        out, _err = run_checked(self.module, [qemu_img, 'info', '--output=json', download],
                                what='qemu-img info of the cloud image %s' % cloud['where'])
        try:
            info = vm_img.parse_qemu_img_info(out)
        except ValueError as e:
            self.fail('qemu-img info of the cloud image %s gave no usable answer (%s): %s'
                      % (cloud['where'], e, out[:200]))
        if info['backing']:
            self.fail('the cloud image %s is a %s overlay on %s; give a self-contained image (qemu-img convert '
                      '-O qcow2 it first)' % (cloud['where'], info['format'], info['backing']))
        disk = os.path.join(tmp, 'disk.qcow2')
        t0 = time.time()
        if info['format'] == 'qcow2':
            os.rename(download, disk)
        else:
            run_checked(self.module, [qemu_img, 'convert', '-f', info['format'], '-O', 'qcow2', download, disk],
                        what='qemu-img convert of the cloud image (%s) to qcow2' % info['format'])
            os.unlink(download)
        self.timings['qcow2'] = round(time.time() - t0, 1)
        return {'recipe_version': vm_img.CLOUD_RECIPE_VERSION, 'inputs': cloud['key_inputs'],
                'fetched_from': cloud['where'], 'format': info['format'], 'virtual_size': info['virtual_size']}

    def copy_hashed(self, cloud, target):
        """Copy the image (path or URL) to ``target``; return the hex digest of the bytes."""
        h = hashlib.new(cloud['algo'])
        try:
            if cloud['kind'] == 'path':
                src = open(cloud['where'], 'rb')
            else:
                src = open_url(cloud['where'], timeout=self.p['download_timeout'], http_agent='labkit.ebpf_rdma.vm_image')
        except Exception as e:  # urllib/ssl raise many kinds; all mean "cannot read it"
            self.fail('cannot read the cloud image %s: %s; check the path or URL (local_vm_cloud_image) and, for a '
                      'URL, the proxy settings (http_proxy/https_proxy)' % (cloud['where'], e))
        try:
            with open(target, 'wb') as f:
                while True:
                    chunk = src.read(1024 * 1024)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
        finally:
            src.close()
        return h.hexdigest()

    @staticmethod
    def write(rootfs, path, content, mode):
        target = os.path.join(rootfs, path.lstrip('/'))
        d = os.path.dirname(target)
        if not os.path.isdir(d):
            os.makedirs(d, 0o755)
        if os.path.islink(target) or os.path.exists(target):
            os.unlink(target)
        with open(target, 'w') as f:
            f.write(content)
        os.chmod(target, mode)

    def copy_trees(self, rootfs, trees):
        t0 = time.time()
        for tree in trees:
            target = os.path.join(rootfs, tree['dest'].lstrip('/'))
            if os.path.lexists(target):
                self.fail('bake_trees: %s already exists in the image; choose another dest for %s'
                          % (tree['dest'], tree['src']))
            parent = os.path.dirname(target)
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o755)
            shutil.copytree(tree['src'], target, symlinks=True)
            if os.getuid() == 0:  # the guest's root owns it (builds run as root; unit tests may not)
                parent_fd = os.open(parent, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
                try:
                    fsafe.chown_tree_at(parent_fd, os.path.basename(target), 0, 0)
                finally:
                    os.close(parent_fd)
        if trees:
            self.timings['trees'] = round(time.time() - t0, 1)

    def configure(self, rootfs, inputs, bins):
        t0 = time.time()
        files = rootfs_files(*guest_apt_texts(inputs))
        for path, (content, mode) in sorted(files.items()):
            self.write(rootfs, path, content, mode)
        for stale in ('etc/apt/sources.list', 'var/lib/dbus/machine-id'):
            target = os.path.join(rootfs, stale)
            if os.path.lexists(target) and not os.path.isdir(target):
                os.unlink(target)
        # host keys made by openssh-server's postinst would be shared by every VM
        ssh_dir = os.path.join(rootfs, 'etc/ssh')
        for name in os.listdir(ssh_dir):
            if name.startswith('ssh_host_'):
                os.unlink(os.path.join(ssh_dir, name))
        archives = os.path.join(rootfs, 'var/cache/apt/archives')
        for name in os.listdir(archives) if os.path.isdir(archives) else []:
            if name.endswith('.deb'):
                os.unlink(os.path.join(archives, name))
        run_checked(self.module, [bins['chroot'], rootfs, 'systemctl', 'enable',
                                  'systemd-networkd.service', 'labkit-fwcfg.service'],
                    what='enabling systemd-networkd and labkit-fwcfg in the image')
        run_checked(self.module, [bins['chroot'], rootfs, 'systemctl', 'mask',
                                  'apt-daily.timer', 'apt-daily-upgrade.timer'],
                    what='masking the apt-daily timers in the image')
        self.timings['configure'] = round(time.time() - t0, 1)

    def make_disk(self, rootfs, tmp, inputs, bins, boot=None):
        """The disk from the tree, and the kernel and initrd next to it: ``boot`` maps vmlinuz/initrd.img to
        ``(dir fd, name)`` of a derived image's kernel; without it the newest ``/boot/vmlinuz-*``."""
        if boot is not None:
            tmp_fd = os.open(tmp, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
            try:
                for out, (dir_fd, name) in sorted(boot.items()):
                    fsafe.copy_file_at(dir_fd, name, tmp_fd, out, 0o644)
            finally:
                os.close(tmp_fd)
                for dir_fd, _name in boot.values():
                    os.close(dir_fd)
            return self.disk_from_tree(rootfs, tmp, inputs, bins)
        boot_fd = os.open(os.path.join(rootfs, 'boot'), os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
        tmp_fd = os.open(tmp, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
        try:
            for prefix, out in (('vmlinuz-', 'vmlinuz'), ('initrd.img-', 'initrd.img')):
                names = [n for n in os.listdir(boot_fd) if n.startswith(prefix)]
                if not names:
                    self.fail('the image has no /boot/%s* after debootstrap; the kernel package %s did not install'
                              % (prefix, vm_base.ARCH_INFO[inputs['arch']]['kernel_package']))
                names.sort(key=lambda n: [int(x) if x.isdigit() else x for x in n.replace('-', '.').split('.')])
                # never a link (a baked tree could plant one): only the kernel's own regular file is copied
                fsafe.copy_file_at(boot_fd, names[-1], tmp_fd, out, 0o644)
        finally:
            os.close(boot_fd)
            os.close(tmp_fd)
        self.disk_from_tree(rootfs, tmp, inputs, bins)

    def disk_from_tree(self, rootfs, tmp, inputs, bins):
        raw = os.path.join(tmp, 'disk.raw')
        run_checked(self.module, [bins['truncate'], '-s', inputs['image_size'], raw], what='creating the raw disk')
        self.timed('mkfs', [bins['mkfs.ext4'], '-q', '-F', '-L', 'rootfs', '-d', rootfs, raw],
                   'mkfs.ext4 -d of the rootfs',
                   hint='the rootfs may be larger than image_size (%s); raise local_vm_image_size' % inputs['image_size'])
        self.timed('qcow2', [bins['qemu-img'], 'convert', '-O', 'qcow2', raw, os.path.join(tmp, 'disk.qcow2')],
                   'qemu-img convert to qcow2')
        os.unlink(raw)

    # ------------------------------------------------------------ a kernel from another suite
    def resolve_kernel(self, inputs, suite):
        """``(kernel, headers_available)``: the kernel ``linux-image-<arch>`` of ``suite`` installs, read now.

        The controller's apt-get/apt-cache read the suite's index into a
        temporary directory of their own (sources, lists, cache, an empty dpkg
        status): the controller's apt state is neither read nor written.
        """
        bins = {}
        for name in ('apt-get', 'apt-cache'):
            bins[name] = self.module.get_bin_path(name)
            if not bins[name]:
                self.fail('kernel_suite (local_vm_kernel) %s: %s is missing on the controller; reading which kernel a '
                          'suite carries needs apt (a Debian or Ubuntu controller); drop local_vm_kernel to keep the '
                          "release's own kernel" % (suite, name))
        if not os.path.isfile(host_path(gk.KEYRING)):
            self.fail('kernel_suite (local_vm_kernel) %s: %s is missing on the controller, apt needs it to verify the '
                      'index of %s; install it: apt-get install debian-archive-keyring' % (suite, gk.KEYRING, suite))
        root = tempfile.mkdtemp(prefix='labkit-kernel-index-')
        try:
            for sub in ('sources', 'lists/partial', 'cache/archives/partial'):
                os.makedirs(os.path.join(root, sub))
            with open(os.path.join(root, 'sources', 'kernel.sources'), 'w') as f:
                f.write(gk.suite_sources(inputs['build_mirror'], [suite]))
            opts = gk.isolated_apt_options(root, inputs['build_proxy'])
            run_checked(self.module, [bins['apt-get']] + opts + ['update'],
                        what='reading the package index of %s from %s' % (suite, inputs['build_mirror']),
                        hint='check that the mirror carries the suite %s (local_vm_kernel), e.g. %s/dists/%s/Release'
                             % (suite, inputs['build_mirror'].rstrip('/'), suite))
            meta = 'linux-image-%s' % inputs['arch']
            rc, out, err = self.module.run_command([bins['apt-cache']] + opts + ['show', meta])
            try:
                if rc != 0:
                    raise ValueError((err or out).strip())
                kernel = gk.resolve_kernel(out, inputs['arch'])
            except ValueError as e:
                self.fail('the suite %s of %s has no kernel for %s (%s): %s is not there; choose a suite that carries '
                          'one (local_vm_kernel), e.g. %s-backports' % (suite, inputs['build_mirror'], inputs['arch'],
                                                                        e, meta, inputs['release']))
            rc, _out, _err = self.module.run_command([bins['apt-cache']] + opts + ['show', gk.headers_package(kernel['release'])])
            return kernel, rc == 0
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def restore_modes(self, rootfs, raw, bins, tmp):
        """Put back the modes ``debugfs rdump`` lost (its chown after chmod clears setuid/setgid bits)."""
        dirs = ['/']
        for dirpath, dirnames, _files in os.walk(rootfs):
            rel = os.path.relpath(dirpath, rootfs)
            dirs += [('/%s' % d if rel == '.' else '/%s/%s' % (rel, d)) for d in sorted(dirnames)
                     if not os.path.islink(os.path.join(dirpath, d))]
        cmds = os.path.join(tmp, 'debugfs-ls.cmds')
        with open(cmds, 'w', encoding='utf-8', errors='surrogateescape') as f:
            f.write(gk.debugfs_ls_commands(dirs))
        out, _err = run_checked(self.module, [bins['debugfs'], '-f', cmds, raw],
                                what='reading the modes of the base image with debugfs')
        os.unlink(cmds)
        fixed = 0
        for path, mode in gk.parse_debugfs_ls(out).items():
            target = os.path.join(rootfs, path.lstrip('/'))
            try:
                st = os.lstat(target)
            except OSError:
                continue  # device nodes, sockets and fifos are not unpacked
            if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode & 0o7777:
                continue
            os.chmod(target, mode & 0o7777)
            fixed += 1
        return fixed

    @staticmethod
    def make_dev_nodes(rootfs):
        """The character devices apt and maintainer scripts use in the chroot (rdump leaves device nodes out)."""
        dev = os.path.join(rootfs, 'dev')
        if not os.path.isdir(dev):
            os.makedirs(dev, 0o755)
        for name, major, minor in (('null', 1, 3), ('zero', 1, 5), ('full', 1, 7), ('random', 1, 8),
                                   ('urandom', 1, 9), ('tty', 5, 0)):
            path = os.path.join(dev, name)
            if not os.path.lexists(path):
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))

    def install_kernel(self, rootfs, inputs, kernel, suite, headers, bins):
        """Install the kernel (and its headers when ``headers['available']`` and wanted) into the tree, natively."""
        apt_root = '/var/lib/labkit-kernel-apt'
        host_root = os.path.join(rootfs, apt_root.lstrip('/'))
        for sub in ('sources', 'lists/partial', 'cache/archives/partial'):
            os.makedirs(os.path.join(host_root, sub))
        with open(os.path.join(host_root, 'sources', 'kernel.sources'), 'w') as f:
            f.write(gk.suite_sources(inputs['build_mirror'], [inputs['release'], suite]))
        opts = gk.isolated_apt_options(apt_root, inputs['build_proxy'], status='/var/lib/dpkg/status')
        env = {'DEBIAN_FRONTEND': 'noninteractive'}
        apt = [bins['chroot'], rootfs, 'apt-get'] + opts
        proc = os.path.join(rootfs, 'proc')
        run_checked(self.module, [bins['mount'], '-t', 'proc', 'proc', proc], what='mounting /proc in the image tree')
        try:
            self.timed('kernel_index', apt + ['update'], 'apt-get update of %s and %s in the image tree'
                       % (inputs['release'], suite), env=env)
            self.timed('kernel_install', apt + ['install', '-y', '--no-install-recommends', '-t', suite,
                                                kernel['package']],
                       'installing %s (%s) from %s into the image' % (kernel['package'], kernel['version'], suite),
                       hint='the kernel of %s may need packages the %s userland cannot give; choose another '
                            'suite (local_vm_kernel)' % (suite, inputs['release']), env=env)
            if headers['available'] and headers['wanted']:
                t0 = time.time()
                argv = apt + ['install', '-y', '--no-install-recommends', '-t', suite, headers['package']]
                rc, out, err = self.module.run_command(argv, environ_update=env)
                self.timings['headers_install'] = round(time.time() - t0, 1)
                if rc == 0:
                    headers['installed'] = True
                else:
                    lines = [line for line in (err or out or '').splitlines() if line.strip()]
                    headers['reason'] = ('apt-get install %s from %s failed in the %s userland: %s'
                                         % (headers['package'], suite, inputs['release'],
                                            ' / '.join(lines[-3:]) or 'exit %d' % rc))
                    # leave no half-configured package behind (best effort; the reason above is what counts)
                    self.module.run_command(apt + ['purge', '-y', headers['package']], environ_update=env)
            elif not headers['available']:
                headers['reason'] = 'the archive (%s) has no %s' % (suite, headers['package'])
            else:
                headers['reason'] = 'not requested (kernel_headers: false)'
        finally:
            self.module.run_command([bins['umount'], '-l', proc])
        self.remove_path(host_root)

    def find_boot(self, rootfs, release):
        """``{'vmlinuz': (dir fd, name), 'initrd.img': ...}`` of ``release`` in the tree (/boot or /usr/lib/modules)."""
        top = os.path.realpath(rootfs)
        found = {}
        for key, out in (('vmlinuz', 'vmlinuz'), ('initrd', 'initrd.img')):
            looked = []
            for d, name in gk.boot_file_candidates(release)[key]:
                path = os.path.join(rootfs, d)
                looked.append('/%s/%s' % (d, name))
                real = os.path.realpath(path)
                if not real.startswith(top + os.sep) or not os.path.isfile(os.path.join(real, name)):
                    continue
                found[out] = (os.open(real, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW), name)
                break
            if out not in found:
                for fd, _name in found.values():
                    os.close(fd)
                self.fail('the kernel %s was installed but its %s is in none of %s; the package may use a layout '
                          'labkit does not know yet, or no initramfs generator ran' % (release, key, ', '.join(looked)))
        return found

    def derive(self, cache, base_entry, inputs, kernel, suite, headers, bins, tmp):
        """Make a derived entry's files in ``tmp``: the base disk unpacked, the kernel installed, a new disk."""
        efd = os.open(base_entry, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW, dir_fd=cache.fd)
        tfd = os.open(tmp, os.O_RDONLY | fsafe.O_DIRECTORY | fsafe.O_NOFOLLOW)
        try:
            # a copy through the entry's fd: no name in the user's cache is followed by the commands below
            fsafe.copy_file_at(efd, 'disk.qcow2', tfd, 'base.qcow2', 0o600)
        finally:
            os.close(efd)
            os.close(tfd)
        base, raw, rootfs = (os.path.join(tmp, n) for n in ('base.qcow2', 'base.raw', 'rootfs'))
        self.timed('unpack_convert', [bins['qemu-img'], 'convert', '-O', 'raw', base, raw],
                   'qemu-img convert of the base image to raw')
        os.unlink(base)
        os.mkdir(rootfs, 0o755)
        self.timed('unpack_rdump', [bins['debugfs'], '-R', 'rdump / "%s"' % rootfs, raw],
                   'debugfs rdump of the base image into a tree')
        self.restore_modes(rootfs, raw, bins, tmp)
        os.unlink(raw)
        self.make_dev_nodes(rootfs)
        self.install_kernel(rootfs, inputs, kernel, suite, headers, bins)
        info = dict(kernel, suite=suite, base=base_entry, headers=headers)
        self.write(rootfs, gk.MARKER_PATH, gk.marker_text(suite, kernel, headers), 0o644)
        if inputs['mirror']:
            self.write(rootfs, gk.GUEST_SOURCES_PATH, gk.suite_sources(inputs['mirror'], [suite]), 0o644)
        self.write(rootfs, gk.GUEST_PREFERENCES_PATH, gk.guest_preferences(suite), 0o644)
        self.make_disk(rootfs, tmp, inputs, bins, boot=self.find_boot(rootfs, kernel['release']))
        self.remove_path(rootfs)
        return {'recipe_version': gk.KERNEL_RECIPE_VERSION, 'kernel': info}

    def derive_preflight(self, inputs):
        bins, foreign = self.preflight(inputs)
        for name, pkg in (('debugfs', 'e2fsprogs'), ('mount', 'mount'), ('umount', 'mount')):
            path = self.module.get_bin_path(name, opt_dirs=['/usr/sbin', '/sbin'])
            if not path:
                self.fail('%s is missing on the controller, it is needed to derive an image with another kernel; '
                          'install it: apt-get install %s' % (name, pkg))
            bins[name] = path
        if foreign:
            self.fail('kernel_suite (local_vm_kernel) on a foreign architecture (%s on this host) is not supported: '
                      'the kernel would be installed under emulation; derive it on a %s controller or drop '
                      'local_vm_kernel' % (inputs['arch'], inputs['arch']))
        return bins


def debootstrap_request(module, builder):
    """What a debootstrap image is: its entry, key, return values and how to make it."""
    inputs = builder.resolve_inputs()
    key_inputs = builder.key_inputs(inputs)
    key = vm_img.cache_key(key_inputs)
    sources, conf = guest_apt_texts(inputs)
    state = {}

    def preflight():
        state['bins'], state['foreign'] = builder.preflight(inputs)

    return dict(
        entry=vm_img.image_entry_name(inputs['release'], inputs['arch'], key), key=key, source='debootstrap',
        files={'disk': 'disk.qcow2', 'kernel': 'vmlinuz', 'initrd': 'initrd.img'},
        precheck=lambda: None, preflight=preflight,
        make=lambda work: builder.build(inputs, state['bins'], state['foreign'], work),
        describe='build the %s %s image (%d baked packages) into %%s' % (inputs['release'], inputs['arch'],
                                                                         len(inputs['packages'])),
        resolved=inputs,
        out=dict(boot='kernel', source='debootstrap', key=key, arch=inputs['arch'], release=inputs['release'],
                 inputs=key_inputs, guest_apt_sources=sources, guest_apt_conf=conf, guest_kernel={}))


def kernel_request(module, builder, cache, base):
    """A derived entry: the image of ``base`` (a debootstrap request) with the kernel of ``kernel_suite``."""
    p = module.params
    inputs, suite = base['resolved'], p['kernel_suite']
    kernel, available = builder.resolve_kernel(inputs, suite)
    headers = {'package': gk.headers_package(kernel['release']), 'available': available,
               'wanted': p['kernel_headers'], 'installed': False, 'reason': ''}
    key_inputs = gk.derived_key_inputs(base['key'], suite, kernel, p['kernel_headers'])
    key = vm_img.cache_key(key_inputs, gk.KERNEL_RECIPE_VERSION)
    state = {}

    def preflight():
        state['bins'] = builder.derive_preflight(inputs)

    info = dict(kernel, suite=suite, base=base['entry'], headers=headers)
    return dict(
        entry=gk.derived_entry_name(inputs['release'], inputs['arch'], suite, key), key=key, source='debootstrap',
        files=base['files'], precheck=lambda: None, preflight=preflight,
        make=lambda work: builder.derive(cache, base['entry'], inputs, kernel, suite, headers, state['bins'], work),
        describe='derive from %s an image whose kernel is %s %s from %s, into %%s' % (
            base['entry'], kernel['package'], kernel['version'], suite),
        out=dict(base['out'], key=key, inputs=key_inputs, guest_kernel=info))


def cloud_request(module, builder):
    """What a cloud-image entry is: its entry, key, return values and how to fetch it."""
    p = module.params
    if not p['cloud_image']:
        module.fail_json(msg='source=cloud_image needs cloud_image (local_vm_cloud_image): the path or the '
                             'http(s)/file URL of the image')
    if not p['cloud_image_checksum']:
        module.fail_json(msg='source=cloud_image needs cloud_image_checksum (local_vm_cloud_image_checksum): '
                             'sha256:<hex> of the image, from the vendor\'s SHA256SUMS or sha256sum <file>')
    try:
        algo, digest = vm_img.parse_checksum(p['cloud_image_checksum'])
        kind, where = vm_img.cloud_image_location(p['cloud_image'])
    except ValueError as e:
        module.fail_json(msg='cloud_image_checksum/cloud_image: %s' % e)
    if kind == 'path' and not os.path.isabs(where):
        module.fail_json(msg='cloud_image %r is not an absolute path; give the absolute path of the image file '
                             '(the local_vm role expands ~) or a URL' % where)
    guest = dict(builder.resolve_apt(keep_image_sources=True), release=p['release'],
                 apt_check_valid_until=p['apt_check_valid_until'], apt_conf=list(p['apt_conf']))
    sources, conf = guest_apt_texts(guest)
    key_inputs = {'source': 'cloud_image', 'arch': p['arch'], 'checksum': '%s:%s' % (algo, digest)}
    key = vm_img.cache_key(key_inputs, vm_img.CLOUD_RECIPE_VERSION)

    def precheck():
        if kind == 'path' and not os.path.isfile(where):
            module.fail_json(msg='the cloud image %s does not exist (local_vm_cloud_image); give the path of the '
                                 'image file or its URL' % where)

    cloud = dict(kind=kind, where=where, algo=algo, digest=digest, key=key, key_inputs=key_inputs)
    return dict(
        entry=vm_img.cloud_entry_name(p['arch'], key), key=key, source='cloud_image', files={'disk': 'disk.qcow2'},
        precheck=precheck, preflight=precheck, make=lambda work: builder.fetch_cloud(cloud, work),
        describe='fetch %s, verify %s:%s... and store it as qcow2 in %%s' % (where, algo, digest[:16]),
        out=dict(kernel='', initrd='', boot='firmware', source='cloud_image', key=key, arch=p['arch'],
                 release=p['release'], inputs=key_inputs, guest_apt_sources=sources, guest_apt_conf=conf,
                 guest_kernel={}))


def plan_and_apply(module, builder, cache, request):
    """Under the entry's lock: read (verify the entry), plan, apply; return (actions, cached)."""
    entry, key, source = request['entry'], request['key'], request['source']
    final = os.path.join(cache.path, entry)
    with cache.lock(entry):
        state, reason, stamp = cache.inspect(entry, key, source)
        if state == 'valid':
            return [], True
        if state == 'verified':
            # hashed now and right: remember it (bookkeeping, not a change); check mode writes nothing
            if not module.check_mode:
                cache.write_at_entry(entry, [('verified.json', stamp)])
            return [], True
        actions = [Action('remove_dir', os.path.join(cache.path, name), 'remove the interrupted build %s'
                          % os.path.join(cache.path, name)) for name in cache.leftovers(entry)]
        actions += [Action('remove_dir', path, 'remove the interrupted build %s' % path)
                    for path in builder.build_leftovers(cache, entry)]
        if state == 'legacy':
            actions.append(Action('record', final, 'record the sha256 of the files of %s in its manifest (an entry '
                                                   'made before checksums were kept; its sizes match)' % final))
        else:
            if state == 'invalid':
                actions.append(Action('remove_dir', final, 'remove the invalid cache entry %s (%s)' % (final, reason)))
            request['precheck']()
            actions.append(Action('build', final, request['describe'] % final))
        if module.check_mode:
            return actions, False
        if state != 'legacy':
            request['preflight']()
        for action in actions:
            if action.kind == 'remove_dir' and os.path.dirname(action.target) == cache.path:
                builder.remove_tree(cache.fd, cache.path, os.path.basename(action.target))
            elif action.kind == 'remove_dir':
                builder.remove_path(action.target)
            elif action.kind == 'record':
                cache.record_checksums(entry, source)
            elif action.kind == 'build':
                builder.make_entry(cache, entry, key, source, request['make'])
        return actions, state == 'legacy'


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    error = option_error(p)
    if error:
        module.fail_json(msg=error)
    builder = ImageBuilder(module)
    request = (cloud_request if p['source'] == 'cloud_image' else debootstrap_request)(module, builder)
    cache = Cache(module, p['cache_dir'] or vm_base.user_cache_root(os.environ), effective_uid())
    derived = None
    if p['source'] == 'debootstrap' and p['kernel_suite'] and p['kernel_suite'] != p['release']:
        derived = kernel_request(module, builder, cache, request)
    wanted = derived or request
    final = os.path.join(cache.path, wanted['entry'])
    out = dict(wanted['out'], path=final, **dict((k, os.path.join(final, v)) for k, v in wanted['files'].items()))
    try:
        cache.open(create=False)
        if cache.uid != cache.euid:
            os.close(builder.open_build_dir())  # refused early, in check mode too
            for tree in p['bake_trees']:
                foreign = foreign_tree_entry(tree['src'], cache.uid)
                if foreign:
                    module.fail_json(msg='bake_trees src %s holds %s, owned by %s, not by %s: root copies the tree '
                                         'into an image that %s then owns and can read; give a tree of your own '
                                         '(chown -R or copy it)' % (tree['src'], foreign[0], fsafe.user_name(foreign[1]),
                                                                    fsafe.user_name(cache.uid), fsafe.user_name(cache.uid)))
        if cache.fd is None and not module.check_mode:
            request['preflight']()
            cache.open(create=True)
        actions, cached = plan_and_apply(module, builder, cache, request)
        if derived:
            more, cached = plan_and_apply(module, builder, cache, derived)
            actions += more
            recorded = cache.manifest(derived['entry']).get('kernel') if cached else None
            if isinstance(recorded, dict) and isinstance(recorded.get('headers'), dict):
                out['guest_kernel'] = dict(out['guest_kernel'], headers=recorded['headers'])
    except fsafe.FsafeError as e:
        module.fail_json(msg=str(e))
    finally:
        if cache.fd is not None:
            os.close(cache.fd)
    if builder.timings:
        out['build_seconds'] = builder.timings
    module.exit_json(**result_for(module, actions, cached=cached, **out))


ARGUMENT_SPEC = dict(
    release=dict(type='str', default='bookworm', choices=list(vm_img.SUPPORTED_RELEASES)),
    arch=dict(type='str', default='amd64', choices=list(vm_base.SUPPORTED_ARCHES)),
    source=dict(type='str', default='debootstrap', choices=['debootstrap', 'cloud_image']),
    bake_packages=dict(type='list', elements='str', default=[]),
    bake_trees=dict(type='list', elements='dict', default=[], options=dict(
        src=dict(type='path', required=True),
        dest=dict(type='str', required=True),
    )),
    mirror=dict(type='str', default='auto'),
    security_mirror=dict(type='str', default='auto'),
    apt_proxy=dict(type='str', default='auto'),
    apt_check_valid_until=dict(type='bool', default=False),
    apt_conf=dict(type='list', elements='str', default=[]),
    image_size=dict(type='str', default='8G'),
    cache_dir=dict(type='path', default=''),
    build_dir=dict(type='path', default='/var/tmp'),
    lock_timeout=dict(type='int', default=1800),
    cloud_image=dict(type='str', default=''),
    cloud_image_checksum=dict(type='str', default=''),
    download_timeout=dict(type='int', default=60),
    kernel_suite=dict(type='str', default=''),
    kernel_headers=dict(type='bool', default=True),
)


if __name__ == '__main__':
    main()
