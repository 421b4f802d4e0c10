# -*- coding: utf-8 -*-
# Copyright (c) 2026, labkit.ebpf_rdma contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure helpers for the local QEMU VM lifecycle (vm_image, qemu_vm).

Nothing here runs commands or touches the host except :func:`port_is_free`
and :func:`free_port` (they bind a loopback socket). Everything else is a
function of its arguments so it can be unit-tested against captured text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import socket

from ansible.module_utils.six.moves import shlex_quote

# Bump whenever the image recipe (debootstrap arguments, files written into
# the rootfs, mkfs/convert options) changes: it is part of the cache key, so
# a bump makes every cached image stale and the next run rebuilds.
RECIPE_VERSION = 1

# The same for cloud-image entries (fetch, checksum, conversion to qcow2):
# part of their cache key, independent of the debootstrap recipe.
CLOUD_RECIPE_VERSION = 1

STATE_ROOT_NAME = 'labkit-ebpf_rdma'

SUPPORTED_RELEASES = ('bookworm', 'trixie')
SUPPORTED_ARCHES = ('amd64', 'arm64')

# Installed by debootstrap --include in every image (the kernel is added per arch).
BASE_PACKAGES = (
    'systemd-sysv', 'udev', 'kmod', 'dbus', 'openssh-server', 'python3',
    'iproute2', 'sudo', 'ca-certificates', 'procps', 'e2fsprogs',
)

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

# Messages a kernel prints late in boot, after all initcalls: seeing one in
# the probe's serial log proves the accelerator runs a stock kernel.
PROBE_LATE_MESSAGES = (
    'VFS: Unable to mount root fs',
    'Run /init as init process',
    'Freeing unused kernel',
)

VM_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')


def debarch_for_machine(machine):
    """``uname -m`` -> Debian arch (``x86_64`` -> ``amd64``); None when unknown."""
    return MACHINE_TO_DEBARCH.get((machine or '').lower())


def valid_vm_name(name):
    return bool(name) and bool(VM_NAME_RE.match(name))


# ---------------------------------------------------------------- directories

def user_cache_root(environ):
    """``$XDG_CACHE_HOME/labkit-ebpf_rdma`` or ``~/.cache/labkit-ebpf_rdma``."""
    base = environ.get('XDG_CACHE_HOME') or os.path.join(environ.get('HOME') or '/', '.cache')
    return os.path.join(base, STATE_ROOT_NAME)


def user_state_root(environ):
    """``$XDG_STATE_HOME/labkit-ebpf_rdma`` or ``~/.local/state/labkit-ebpf_rdma``."""
    base = environ.get('XDG_STATE_HOME') or os.path.join(environ.get('HOME') or '/', '.local', 'state')
    return os.path.join(base, STATE_ROOT_NAME)


# ---------------------------------------------------------------- apt / mirror discovery

def parse_deb822_sources(text):
    """Parse a deb822 ``.sources`` file into a list of stanzas (dicts, keys lower-case).

    Values of ``URIs``, ``Suites``, ``Types`` and ``Components`` are lists.
    Comment lines are ignored, continuation lines are joined.
    """
    stanzas = []
    current = {}
    last_key = None
    for raw in (text or '').splitlines():
        if raw.startswith('#'):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, last_key = {}, None
            continue
        if raw[0] in ' \t' and last_key:
            current[last_key] = current[last_key] + ' ' + raw.strip()
            continue
        if ':' not in raw:
            continue
        key, value = raw.split(':', 1)
        last_key = key.strip().lower()
        current[last_key] = value.strip()
    if current:
        stanzas.append(current)
    result = []
    for st in stanzas:
        if st.get('enabled', 'yes').lower() == 'no':
            continue
        item = dict(st)
        for key in ('uris', 'suites', 'types', 'components'):
            item[key] = (st.get(key) or '').split()
        result.append(item)
    return result


def parse_sources_list(text):
    """Parse one-line-style ``sources.list`` into the same shape as deb822 stanzas."""
    result = []
    for raw in (text or '').splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] not in ('deb', 'deb-src'):
            continue
        parts = parts[1:]
        if parts and parts[0].startswith('['):
            while parts and not parts[0].endswith(']'):
                parts = parts[1:]
            parts = parts[1:]
        if len(parts) < 2:
            continue
        result.append({'types': [line.split()[0]], 'uris': [parts[0]], 'suites': [parts[1]],
                       'components': parts[2:]})
    return result


def discover_mirrors(entries):
    """From parsed source entries return ``(mirror, security_mirror)`` (either may be None).

    The mirror is the first ``deb`` URI whose suites are not ``*-security``;
    the security mirror the first whose suites are.
    """
    mirror = security = None
    for entry in entries:
        if 'deb' not in entry.get('types', ['deb']):
            continue
        suites = entry.get('suites') or []
        uris = [u for u in entry.get('uris') or [] if re.match(r'^(https?|ftp)://', u)]
        if not uris:
            continue
        is_security = any(s.endswith('-security') or s.endswith('/updates') for s in suites)
        if is_security and security is None:
            security = uris[0]
        elif not is_security and mirror is None:
            mirror = uris[0]
    return mirror, security


def parse_apt_config_dump(text):
    """Return the http proxy (or None) from ``apt-config dump`` output.

    ``Acquire::http::Proxy "http://host:3142";`` -> ``http://host:3142``;
    ``DIRECT`` and ``false`` mean no proxy.
    """
    for line in (text or '').splitlines():
        m = re.match(r'^\s*Acquire::http::Proxy\s+"([^"]*)";', line, re.IGNORECASE)
        if m:
            value = m.group(1).strip()
            if value and value.upper() != 'DIRECT' and value.lower() != 'false':
                return value
    return None


def proxy_from_environ(environ):
    for key in ('http_proxy', 'HTTP_PROXY'):
        if environ.get(key):
            return environ[key]
    return None


def guest_url(url):
    """Rewrite a loopback host in ``url`` to the QEMU user-net gateway ``10.0.2.2``.

    The controller's ``127.0.0.1:3142`` apt proxy is the guest's ``10.0.2.2:3142``.
    """
    if not url:
        return url
    return re.sub(r'^(\w+://(?:[^@/]*@)?)(localhost|127\.[0-9.]+|\[::1\])(?=[:/]|$)', r'\g<1>10.0.2.2', url)


def os_release_id(text):
    for line in (text or '').splitlines():
        if line.startswith('ID='):
            return line.split('=', 1)[1].strip().strip('"')
    return None


# ---------------------------------------------------------------- image contents

def guest_sources(release, mirror, security_mirror, components=('main',)):
    """The guest's ``/etc/apt/sources.list.d/debian.sources`` (deb822)."""
    comps = ' '.join(components)
    text = ('Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\n'
            'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n') % (mirror, release, release, comps)
    if security_mirror:
        text += ('\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\n'
                 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n') % (security_mirror, release, comps)
    return text


def guest_apt_conf(proxy, check_valid_until, extra_lines):
    """The guest's ``/etc/apt/apt.conf.d/90labkit``; '' when there is nothing to say."""
    lines = []
    if proxy:
        lines.append('Acquire::http::Proxy "%s";' % proxy)
    if not check_valid_until:
        # a dated-snapshot mirror serves Release files past their Valid-Until
        lines.append('Acquire::Check-Valid-Until "false";')
    lines.extend(extra_lines or [])
    return ''.join(line.rstrip() + '\n' for line in lines)


def normalise_packages(packages):
    return sorted(set(p.strip() for p in packages or [] if p and p.strip()))


def include_packages(arch, bake_packages):
    """debootstrap ``--include`` list: kernel + base + baked packages (sorted, unique)."""
    return [ARCH_INFO[arch]['kernel_package']] + sorted(set(BASE_PACKAGES) | set(normalise_packages(bake_packages)))


def debpaths_packages(text):
    """Package names in debootstrap's ``debootstrap/debpaths`` (``NAME PATH`` a line): what the first stage fetched."""
    return set(line.split()[0] for line in text.splitlines() if line.strip())


def slim_packages_index(text, names):
    """The stanzas of an apt ``Packages`` index whose ``Package`` is in ``names``, in their order.

    debootstrap's second stage re-reads the whole index (tens of MB) with perl
    and grep several times, once per pre-dependency; run under qemu-user that
    is minutes a read. Everything it resolves there is among the packages the
    first stage already fetched, so it needs no other stanza.
    """
    kept = []
    for stanza in text.split('\n\n'):
        body = stanza.strip('\n')
        for line in body.split('\n'):
            if line.startswith('Package:'):
                if line[len('Package:'):].strip() in names:
                    kept.append(body)
                break
    return ''.join(stanza + '\n\n' for stanza in kept)


def cache_key(inputs, recipe_version=None):
    """A stable short hash of the inputs that shape an image (a dict).

    ``recipe_version`` defaults to :data:`RECIPE_VERSION` (debootstrap images);
    cloud-image entries pass :data:`CLOUD_RECIPE_VERSION`.
    """
    payload = dict(inputs)
    payload['recipe_version'] = RECIPE_VERSION if recipe_version is None else recipe_version
    if 'packages' in payload:
        payload['packages'] = normalise_packages(payload['packages'])
    blob = json.dumps(payload, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


def image_entry_name(release, arch, key):
    return '%s-%s-%s' % (release, arch, key)


IMAGE_FILES = ('disk.qcow2', 'vmlinuz', 'initrd.img')
# a cloud image boots through firmware: its entry holds the disk only
CLOUD_IMAGE_FILES = ('disk.qcow2',)


def image_files(source):
    """The files a valid cache entry of ``source`` (debootstrap or cloud_image) holds."""
    return CLOUD_IMAGE_FILES if source == 'cloud_image' else IMAGE_FILES


def manifest_valid(manifest_text, expected_key, present_files, required=IMAGE_FILES):
    """True when ``manifest_text`` is a complete manifest for ``expected_key``.

    ``present_files`` maps file name -> size of the files really in the entry;
    an entry whose ``required`` files (:func:`image_files` of its source) are
    missing or have another size is not valid.
    """
    if not manifest_text:
        return False
    try:
        manifest = json.loads(manifest_text)
    except ValueError:
        return False
    if not isinstance(manifest, dict) or manifest.get('key') != expected_key:
        return False
    files = manifest.get('files') or {}
    for name in required:
        if name not in files or present_files.get(name) != files[name]:
            return False
    return True


def manifest_checksums(manifest_text, required=IMAGE_FILES):
    """``{name: sha256 hex}`` recorded in a manifest for every ``required`` file; None when it has none.

    Entries built before checksums were recorded have no ``sha256`` map (they
    are hashed once and the map added, see vm_image).
    """
    try:
        sums = json.loads(manifest_text or '').get('sha256')
    except (ValueError, AttributeError):
        return None
    if not isinstance(sums, dict) or any(not isinstance(sums.get(n), str) for n in required):
        return None
    return dict((n, sums[n]) for n in required)


def file_signature(st):
    """What must stay the same for a verified file to need no new hash: device, inode, size, mtime and ctime.

    ctime cannot be set back by a user (``touch -d`` changes it), so a write
    through the filesystem always changes the signature.
    """
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def stamp_text(signatures, sums):
    """The ``verified.json`` of an entry: the file signatures seen when these sha256 sums were checked."""
    return json.dumps({'files': signatures, 'sha256': sums}, indent=2, sort_keys=True) + '\n'


def stamp_fresh(stamp, signatures, sums):
    """True when ``stamp`` (verified.json text) vouches for ``sums`` with the very same ``signatures``."""
    try:
        data = json.loads(stamp or '')
    except ValueError:
        return False
    return isinstance(data, dict) and data.get('sha256') == sums and data.get('files') == signatures


# ---------------------------------------------------------------- image option checks

# Debian policy 5.6.7: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
PACKAGE_NAME_RE = re.compile(r'^[a-z0-9][a-z0-9+.-]+$')
SIZE_RE = re.compile(r'^([0-9]+)([KMGTPE](?:iB|B)?)?$')
SIZE_UNITS = {'K': 10, 'M': 20, 'G': 30, 'T': 40, 'P': 50, 'E': 60}


def size_bytes(text):
    """``'8G'`` -> bytes (``truncate -s`` syntax: K M G T P E, optionally KiB/KB); ValueError saying what is wrong."""
    m = SIZE_RE.match(text or '')
    if not m:
        raise ValueError('%r is not a size; give a positive number with an optional unit K, M, G or T, e.g. 8G' % text)
    unit = m.group(2) or ''
    power = 1 if not unit else (1000 ** (SIZE_UNITS[unit[0]] // 10) if unit.endswith('B') and not unit.endswith('iB')
                                else 1 << SIZE_UNITS[unit[0]])
    size = int(m.group(1)) * power
    if size <= 0:
        raise ValueError('%r is not a positive size; give e.g. 8G' % text)
    return size


def bad_package_name(name):
    """None for a valid Debian package name, else the reason (Debian policy: ``[a-z0-9][a-z0-9+.-]+``)."""
    if isinstance(name, str) and PACKAGE_NAME_RE.match(name):
        return None
    return ('%r is not a Debian package name (lower case letters, digits, "+", "-" and "."; at least two '
            'characters, starting with a letter or digit)' % (name,))


def bad_url(value, schemes=('http', 'https')):
    """None for a URL with one of ``schemes``, a host and no spaces/quotes; else the reason."""
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://([^/\s"]+)[^\s"]*$', value or '')
    if not m or m.group(1).lower() not in schemes:
        return '%r is not an %s URL' % (value, '/'.join(schemes))
    return None


# ---------------------------------------------------------------- accelerator

def probe_verdict(serial_text, rc, stderr, timed_out):
    """Judge a bounded accelerator probe boot.

    Returns ``(ok, reason)``. The probe boots the guest kernel with no root
    device, ``panic=-1`` and ``-no-reboot``: a working accelerator reaches
    the root-mount panic within seconds and QEMU exits 0.
    """
    text = serial_text or ''
    for msg in PROBE_LATE_MESSAGES:
        if msg in text:
            return True, 'the probe kernel booted to "%s"' % msg
    err = (stderr or '').strip().splitlines()
    if timed_out:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        last = lines[-1] if lines else '(no serial output)'
        return False, 'the probe kernel did not finish booting in time; last console line: %s' % last[-160:]
    if rc != 0:
        first = next((ln for ln in err if 'error' in ln.lower()), err[0] if err else 'no message')
        return False, 'QEMU exited with %s: %s' % (rc, first.strip()[:200])
    return False, 'QEMU exited before the kernel reached a late boot message'


def choose_accel(requested, system, host_arch, guest_arch, kvm_usable, kvm_reason, hvf_available):
    """Pick the accelerator. Returns ``(accel, reason)``.

    ``system`` is ``platform.system()`` (Linux/Darwin), ``host_arch`` and
    ``guest_arch`` Debian arch names; ``kvm_usable`` is the verdict of the
    probe (None when not probed), ``hvf_available`` the macOS
    ``kern.hv_support`` answer.
    """
    native = host_arch == guest_arch
    if requested == 'tcg':
        return 'tcg', 'tcg requested (local_vm_accel=tcg)'
    if requested == 'kvm':
        return 'kvm', 'kvm requested (local_vm_accel=kvm)'
    if requested == 'hvf':
        return 'hvf', 'hvf requested (local_vm_accel=hvf)'
    if not native:
        return 'tcg', ('%s guest on a %s host: hardware acceleration needs the same architecture, '
                       'using tcg (emulation)' % (guest_arch, host_arch))
    if system == 'Darwin':
        if hvf_available:
            return 'hvf', 'macOS with Hypervisor.framework (kern.hv_support=1)'
        return 'tcg', 'macOS without Hypervisor.framework support (kern.hv_support!=1), using tcg'
    if system == 'Linux':
        if kvm_usable:
            return 'kvm', 'KVM probe passed: %s' % kvm_reason
        if kvm_usable is None:
            return 'tcg', 'no usable /dev/kvm (%s), using tcg' % (kvm_reason or 'not present or not accessible')
        return 'tcg', 'KVM exists but failed the boot probe (%s), using tcg' % kvm_reason
    return 'tcg', 'unknown host system %s, using tcg' % system


def cpu_for(arch, accel):
    if accel in ('kvm', 'hvf'):
        return 'host'
    return ARCH_INFO[arch]['tcg_cpu']


def accel_args(arch, accel):
    if accel == 'tcg':
        return ['-accel', 'tcg,thread=multi']
    return ['-accel', accel]


def probe_argv(qemu, arch, kernel, serial_log):
    """argv of the bounded KVM probe (run under ``timeout``)."""
    argv = [qemu]
    if ARCH_INFO[arch]['machine']:
        argv += ['-M', ARCH_INFO[arch]['machine']]
    argv += ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1', '-nodefaults',
             '-kernel', kernel, '-append', ARCH_INFO[arch]['probe_append'], '-no-reboot',
             '-display', 'none', '-serial', 'file:' + serial_log, '-monitor', 'none']
    return argv


def probe_cache_key(hostname, kernel_release, qemu_version, arch):
    return '|'.join([hostname or '', kernel_release or '', qemu_version or '', arch])


def parse_qemu_version(text):
    """``QEMU emulator version 7.2.22 (Debian ...)`` -> ``7.2.22``."""
    m = re.search(r'version\s+([0-9][0-9.]*)', text or '')
    return m.group(1) if m else None


# ---------------------------------------------------------------- qemu argv

def qemu_opt(value):
    """``value`` inside a QEMU option list (``-drive file=``, ``-fw_cfg``, ``-qmp unix:``): commas doubled.

    QEMU splits these lists at ``,`` and reads ``,,`` as one literal comma, so a
    path such as ``/srv/a,b/disk.qcow2`` stays one value. (``-serial file:``,
    ``-kernel``, ``-initrd`` and ``-pidfile`` take their value literally.)
    """
    return str(value).replace(',', ',,')


def fw_cfg_args(entries):
    """``[(name, kind, value)]`` -> ``-fw_cfg`` args; kind is ``file`` or ``string``."""
    argv = []
    for name, kind, value in entries:
        argv += ['-fw_cfg', 'name=opt/labkit/%s,%s=%s' % (name, kind, qemu_opt(value))]
    return argv


def kernel_cmdline(arch, extra=''):
    line = 'root=/dev/vda rw console=%s' % ARCH_INFO[arch]['console']
    if extra:
        line += ' ' + extra.strip()
    return line


def vm_argv(qemu, spec):
    """Build the qemu-system argv for a VM from ``spec`` (a dict).

    Keys: name, arch, accel, cpus, memory_mb, overlay, kernel, initrd,
    ssh_port, serial_log, pidfile, qmp_socket, fw_cfg (list of tuples),
    cmdline_extra, extra_args (list).

    With a ``kernel`` the VM boots it directly (``-kernel/-initrd/-append``).
    Without one it boots its disk through firmware: ``pflash`` (a
    ``(code, vars)`` pair of UEFI firmware files, see :func:`find_firmware`)
    or, when absent, QEMU's default BIOS (SeaBIOS on amd64); ``seed`` is the
    cloud-init NoCloud seed attached as a second, read-only disk.
    """
    arch = spec['arch']
    accel = spec['accel']
    kernel = spec.get('kernel')
    argv = [qemu, '-name', 'labkit-%s' % spec['name']]
    if ARCH_INFO[arch]['machine']:
        argv += ['-M', ARCH_INFO[arch]['machine']]
    argv += accel_args(arch, accel)
    argv += ['-cpu', cpu_for(arch, accel),
             '-smp', str(spec['cpus']), '-m', '%dM' % int(spec['memory_mb'])]
    if kernel:
        argv += ['-kernel', kernel, '-initrd', spec['initrd'],
                 '-append', kernel_cmdline(arch, spec.get('cmdline_extra') or '')]
    elif spec.get('pflash'):
        code, efivars = spec['pflash']
        argv += ['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=%s' % qemu_opt(code),
                 '-drive', 'if=pflash,format=raw,unit=1,file=%s' % qemu_opt(efivars)]
    argv += ['-drive', 'file=%s,if=none,id=hd0,format=qcow2,discard=unmap' % qemu_opt(spec['overlay']),
             '-device', 'virtio-blk-pci,drive=hd0' + ('' if kernel else ',bootindex=0')]
    if not kernel and spec.get('seed'):
        argv += ['-drive', 'file=%s,if=none,id=cidata,format=raw,readonly=on' % qemu_opt(spec['seed']),
                 '-device', 'virtio-blk-pci,drive=cidata']
    argv += ['-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22' % int(spec['ssh_port']),
             '-device', 'virtio-net-pci,netdev=n0',
             '-device', 'virtio-rng-pci']
    argv += fw_cfg_args(spec.get('fw_cfg') or [])
    argv += ['-display', 'none', '-serial', 'file:%s' % spec['serial_log'], '-monitor', 'none',
             '-qmp', 'unix:%s,server=on,wait=off' % qemu_opt(spec['qmp_socket']),
             '-daemonize', '-pidfile', spec['pidfile']]
    argv += list(spec.get('extra_args') or [])
    return argv


# ---------------------------------------------------------------- firmware boot (cloud images)

# UEFI firmware as (code, vars template) pairs, where distributions put them.
# Debian/Ubuntu: ovmf (amd64), qemu-efi-aarch64 (arm64); Fedora: edk2-ovmf,
# edk2-aarch64. QEMU's own share dir (Homebrew: <prefix>/share/qemu) holds
# edk2-*-code.fd with the vars templates next to them.
UEFI_FIRMWARE = {
    'amd64': (('/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'),
              ('/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'),
              ('/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd')),
    'arm64': (('/usr/share/AAVMF/AAVMF_CODE.fd', '/usr/share/AAVMF/AAVMF_VARS.fd'),
              ('/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw', '/usr/share/edk2/aarch64/vars-template-pflash.raw')),
}
QEMU_SHARE_FIRMWARE = {
    'amd64': ('edk2-x86_64-code.fd', 'edk2-i386-vars.fd'),
    'arm64': ('edk2-aarch64-code.fd', 'edk2-arm-vars.fd'),
}
UEFI_PACKAGE = {'amd64': 'ovmf', 'arm64': 'qemu-efi-aarch64'}
HOMEBREW_QEMU_SHARE = ('/opt/homebrew/share/qemu', '/usr/local/share/qemu')


def qemu_share_dirs(qemu_path):
    """QEMU's data dirs: ``<prefix>/share/qemu`` of the binary (Homebrew, a source build), then Homebrew's."""
    dirs = []
    if qemu_path:
        dirs.append(os.path.join(os.path.dirname(os.path.dirname(qemu_path)), 'share', 'qemu'))
    for d in HOMEBREW_QEMU_SHARE:
        if d not in dirs:
            dirs.append(d)
    return dirs


def firmware_candidates(arch, share_dirs):
    """Every ``(code, vars)`` pair to look for, in order of preference."""
    pairs = list(UEFI_FIRMWARE[arch])
    code, efivars = QEMU_SHARE_FIRMWARE[arch]
    pairs += [(os.path.join(d, code), os.path.join(d, efivars)) for d in share_dirs]
    return pairs


def find_firmware(arch, share_dirs, exists):
    """The first ``(code, vars)`` pair whose files both exist (``exists`` is os.path.exists); None when none."""
    for code, efivars in firmware_candidates(arch, share_dirs):
        if exists(code) and exists(efivars):
            return code, efivars
    return None


def firmware_missing_message(arch, system, share_dirs):
    looked = ', '.join(c for c, _v in firmware_candidates(arch, share_dirs))
    if system == 'Darwin':
        fix = 'install QEMU with Homebrew (brew install qemu), which ships edk2-*-code.fd'
    else:
        fix = 'install it: apt-get install %s (Fedora: dnf install %s)' % (
            UEFI_PACKAGE[arch], 'edk2-ovmf' if arch == 'amd64' else 'edk2-aarch64')
    return ('booting the %s image through UEFI needs the UEFI firmware (code and vars template), found in none '
            'of: %s; %s' % (arch, looked, fix))


def choose_firmware(requested, arch):
    """``(firmware, error)`` for a firmware (kernel-less) boot: ``bios`` or ``uefi``.

    auto: SeaBIOS on amd64 (QEMU's default, hybrid cloud images boot with it),
    UEFI on arm64 (``-M virt`` has no BIOS).
    """
    if requested == 'auto':
        return ('uefi' if arch == 'arm64' else 'bios'), None
    if requested == 'bios' and arch == 'arm64':
        return None, 'an arm64 guest (-M virt) boots through UEFI only; set firmware to uefi or auto (local_vm_firmware)'
    return requested, None


# ---------------------------------------------------------------- cloud-init NoCloud seed

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


# ---------------------------------------------------------------- cloud image fetch

CHECKSUM_LENGTHS = {'sha256': 64, 'sha512': 128}


def parse_checksum(text):
    """``sha256:<hex>`` / ``sha512:<hex>`` -> ``(algorithm, hex)`` (lower case); ValueError saying what is wrong."""
    value = (text or '').strip()
    if ':' not in value:
        raise ValueError('%r is not <algorithm>:<hex>; give e.g. sha256:<64 hex digits> (sha256sum of the image) '
                         'or sha512:<128 hex digits>' % value)
    algo, digest = value.split(':', 1)
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if algo not in CHECKSUM_LENGTHS:
        raise ValueError('checksum algorithm %r is not supported; use sha256 or sha512' % algo)
    if len(digest) != CHECKSUM_LENGTHS[algo] or not re.match(r'^[0-9a-f]+$', digest):
        raise ValueError('%s checksum %r is not %d hex digits' % (algo, digest, CHECKSUM_LENGTHS[algo]))
    return algo, digest


def cloud_image_location(value):
    """``(kind, where)``: ``('url', 'https://...')`` or ``('path', '/abs/path')`` (a ``file://`` URL is a path)."""
    value = (value or '').strip()
    m = re.match(r'^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$', value)
    if not m:
        return 'path', value
    scheme = m.group(1).lower()
    if scheme == 'file':
        rest = m.group(2)
        if rest.startswith('localhost/'):
            rest = rest[len('localhost'):]
        return 'path', rest
    if scheme in ('http', 'https'):
        return 'url', value
    raise ValueError('cloud_image %r: scheme %s is not supported; give a path, a file:// URL or an http(s) URL'
                     % (value, scheme))


def cloud_entry_name(arch, key):
    return 'cloud-%s-%s' % (arch, key)


def parse_qemu_img_info(text):
    """``qemu-img info --output=json`` -> ``{'format', 'virtual_size', 'backing'}``; ValueError on bad JSON."""
    info = json.loads(text or '')
    if not isinstance(info, dict) or 'format' not in info:
        raise ValueError('qemu-img info gave no format')
    return {'format': info['format'], 'virtual_size': info.get('virtual-size'),
            'backing': info.get('full-backing-filename') or info.get('backing-filename')}


def cmdline_is_vm(argv, pidfile):
    """True when a process argv (from /proc/<pid>/cmdline) is the QEMU of the VM owning ``pidfile``."""
    if not argv:
        return False
    if not os.path.basename(argv[0]).startswith('qemu-system'):
        return False
    for i, arg in enumerate(argv[:-1]):
        if arg == '-pidfile' and argv[i + 1] == pidfile:
            return True
    return False


def record_names_vm(record, name, pidfile):
    """True when a VM directory's ``vm.json`` (``record``, a dict) is the marker of VM ``name``.

    A record names its VM (``name``, written since this check exists) or holds the
    QEMU argv of that VM (``-name labkit-<name>`` with its own pidfile: older records).
    """
    if not isinstance(record, dict):
        return False
    if record.get('name') is not None:
        return record.get('name') == name
    argv = record.get('argv') or []
    pairs = dict(zip(argv, argv[1:])) if isinstance(argv, list) else {}
    return pairs.get('-name') == 'labkit-%s' % name and pairs.get('-pidfile') == pidfile


def split_proc_cmdline(raw):
    """``/proc/<pid>/cmdline`` bytes/text -> argv list."""
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    return [a for a in (raw or '').split('\0') if a != ''] if raw else []


def parse_pidfile(text):
    try:
        pid = int((text or '').strip())
    except ValueError:
        return None
    return pid if pid > 0 else None


# ---------------------------------------------------------------- checking a VM's options

HOSTNAME_LABEL_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
DISK_SIZE_RE = re.compile(r'^[1-9][0-9]*(\.[0-9]+)?[KMGTP]?$')
CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')
# what ssh_config/ssh -o cannot hold in a path: '"' ends the quoted value, '%' starts a token
SSH_PATH_BAD = ('"', '%')
INT_BOUNDS = (
    # option, role variable, lowest, highest, what it is
    ('cpus', 'local_vm_cpus', 1, 1024, 'a number of vCPUs'),
    ('memory', 'local_vm_memory', 128, 16777216, 'a memory size in MiB'),
    ('ssh_port', 'local_vm_ssh_port', 0, 65535, 'a TCP port (0 picks a free one)'),
    ('probe_timeout', 'local_vm_probe_timeout', 1, 3600, 'seconds'),
    ('stop_timeout', 'local_vm_stop_timeout', 0, 3600, 'seconds'),
    ('lock_timeout', None, 0, 86400, 'seconds'),
)


def valid_hostname(name):
    """True for an RFC 1123 host name: dot-separated labels of letters, digits and inner '-', 253 at most."""
    if not name or len(name) > 253:
        return False
    return all(HOSTNAME_LABEL_RE.match(label) for label in name.split('.'))


def _int_problem(params, key, var, low, high, what):
    value = params.get(key)
    if value is None or low <= value <= high:
        return None
    via = ' (%s)' % var if var else ''
    return '%s=%s is not %s: give a whole number from %d to %d%s' % (key, value, what, low, high, via)


def _path_problem(key, path, for_ssh):
    if not path:
        return None
    if CONTROL_RE.search(path):
        return ('%s %r holds a control character (a newline or tab); QEMU and ssh cannot take it: '
                'use a plain path' % (key, path))
    if for_ssh:
        bad = [c for c in SSH_PATH_BAD if c in path]
        if bad:
            return ('state_dir %r holds %s, which ssh cannot take in IdentityFile/UserKnownHostsFile '
                    '(\'"\' ends a quoted value, \'%%\' starts a token): choose a state_dir '
                    '(local_vm_state_dir) without it' % (path, ' and '.join(repr(c) for c in bad)))
    return None


def vm_options_problem(params, state_dir, hostname, starting):
    """Pure: what is wrong with a qemu_vm task's options, or None. Checked before anything is written.

    ``hostname`` is the guest's effective host name (``hostname`` or the VM
    name); it is only checked when ``starting`` (an existing VM can always be
    stopped or removed). Paths holding commas are fine (:func:`qemu_opt`),
    blanks too (:func:`ssh_option`).
    """
    if not valid_vm_name(params.get('name')):
        return ('VM name %r is not valid: use letters, digits, ".", "_" and "-" (at most 63, '
                'starting with a letter or digit)' % params.get('name'))
    for bounds in INT_BOUNDS:
        problem = _int_problem(params, *bounds)
        if problem:
            return problem
    for key in ('disk', 'kernel', 'initrd', 'cache_dir'):
        problem = _path_problem(key, params.get(key), False)
        if problem:
            return problem
    problem = _path_problem('state_dir', state_dir, True)
    if problem:
        return problem
    if not starting:
        return None
    if not DISK_SIZE_RE.match(params.get('disk_size') or ''):
        return ('disk_size=%r is not a size: give a number with an optional K, M, G, T or P suffix, '
                'such as 20G (local_vm_disk_size)' % params.get('disk_size'))
    if CONTROL_RE.search(params.get('kernel_cmdline') or ''):
        return 'kernel_cmdline holds a control character (a newline or tab): give one line (local_vm_kernel_cmdline)'
    if not valid_hostname(hostname):
        given = 'hostname' if params.get('hostname') else 'the VM name (used as its hostname)'
        return ('%s %r is not a valid host name (RFC 1123: dot-separated labels of letters, digits and "-", '
                'each 1-63 long, not starting or ending with "-"; 253 at most): set hostname '
                '(local_vm_hostname) to one, such as %r' % (given, hostname, hostname_suggestion(hostname)))
    return None


def hostname_suggestion(name):
    """A valid host name close to ``name`` (for the error message)."""
    labels = [re.sub(r'[^A-Za-z0-9-]+', '-', label).strip('-')[:63].strip('-') for label in (name or '').split('.')]
    return '.'.join(label for label in labels if label)[:253].strip('.-') or 'devvm'


# ---------------------------------------------------------------- ports

def port_is_free(port, host='127.0.0.1'):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, int(port)))
    except (OSError, socket.error):
        return False
    finally:
        sock.close()
    return True


def free_port(host='127.0.0.1'):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def tcp_listeners(proc_net_tcp, port):
    """``/proc/net/tcp`` text -> ``[(address, uid, inode)]`` of the sockets listening on ``port``."""
    found = []
    for line in (proc_net_tcp or '').splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != '0A' or ':' not in fields[1]:
            continue
        addr_hex, port_hex = fields[1].split(':', 1)
        if int(port_hex, 16) != int(port) or len(addr_hex) != 8:
            continue
        address = '.'.join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
        found.append((address, int(fields[7]), fields[9]))
    return found


def hostfwd_failed(stderr, port):
    """True when QEMU's stderr says it could not bind the SSH forward on ``port``."""
    return "Could not set up host forwarding rule 'tcp:127.0.0.1:%d-" % int(port) in (stderr or '')


def port_taken_message(name, port, listeners, holders):
    """The error when QEMU could not bind ``port``: who holds it (``holders``: pid -> command) and the fix."""
    who = ''
    if holders:
        who = ' by %s' % ', '.join('pid %d (%s)' % (pid, cmd) for pid, cmd in sorted(holders.items()))
    elif listeners:
        who = ' by a process of uid %s (socket inode %s)' % (listeners[0][1], listeners[0][2])
    return ('QEMU could not forward 127.0.0.1:%d to the SSH port of %s: the port was taken%s after it was '
            'checked; nothing of the VM was lost. Choose another port (local_vm_ssh_port, 0 picks a free one) '
            'or stop the process holding it, then run again' % (int(port), name, who))


def choose_port(requested, saved, is_free, pick_free):
    """Choose the SSH forward port. Returns ``(port, reason)`` or ``(None, error)``.

    An explicit ``requested`` port must be free; otherwise the VM's ``saved``
    port is kept while free, else a new free port is picked.
    """
    if requested:
        if is_free(requested):
            return requested, 'port %d requested' % requested
        return None, ('port %d (local_vm_ssh_port) is in use on 127.0.0.1; free it or set '
                      'local_vm_ssh_port: 0 to pick a free port' % requested)
    if saved and is_free(saved):
        return saved, 'port %d kept from the previous start' % saved
    port = pick_free()
    if saved:
        return port, 'port %d from the previous start is in use, picked %d' % (saved, port)
    return port, 'picked free port %d' % port


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
