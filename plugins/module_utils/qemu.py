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

# Bump whenever the image recipe (debootstrap arguments, files written into
# the rootfs, mkfs/convert options) changes: it is part of the cache key, so
# a bump makes every cached image stale and the next run rebuilds.
RECIPE_VERSION = 1

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


def cache_key(inputs):
    """A stable short hash of the inputs that shape an image (a dict)."""
    payload = dict(inputs)
    payload['recipe_version'] = RECIPE_VERSION
    if 'packages' in payload:
        payload['packages'] = normalise_packages(payload['packages'])
    blob = json.dumps(payload, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


def image_entry_name(release, arch, key):
    return '%s-%s-%s' % (release, arch, key)


IMAGE_FILES = ('disk.qcow2', 'vmlinuz', 'initrd.img')


def manifest_valid(manifest_text, expected_key, present_files):
    """True when ``manifest_text`` is a complete manifest for ``expected_key``.

    ``present_files`` maps file name -> size of the files really in the entry;
    an entry whose files are missing or have another size is not valid.
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
    for name in IMAGE_FILES:
        if name not in files or present_files.get(name) != files[name]:
            return False
    return True


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

def fw_cfg_args(entries):
    """``[(name, kind, value)]`` -> ``-fw_cfg`` args; kind is ``file`` or ``string``."""
    argv = []
    for name, kind, value in entries:
        argv += ['-fw_cfg', 'name=opt/labkit/%s,%s=%s' % (name, kind, value)]
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
    """
    arch = spec['arch']
    accel = spec['accel']
    argv = [qemu, '-name', 'labkit-%s' % spec['name']]
    if ARCH_INFO[arch]['machine']:
        argv += ['-M', ARCH_INFO[arch]['machine']]
    argv += accel_args(arch, accel)
    argv += ['-cpu', cpu_for(arch, accel),
             '-smp', str(spec['cpus']), '-m', '%dM' % int(spec['memory_mb']),
             '-kernel', spec['kernel'], '-initrd', spec['initrd'],
             '-append', kernel_cmdline(arch, spec.get('cmdline_extra') or ''),
             '-drive', 'file=%s,if=none,id=hd0,format=qcow2,discard=unmap' % spec['overlay'],
             '-device', 'virtio-blk-pci,drive=hd0',
             '-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:22' % int(spec['ssh_port']),
             '-device', 'virtio-net-pci,netdev=n0',
             '-device', 'virtio-rng-pci']
    argv += fw_cfg_args(spec.get('fw_cfg') or [])
    argv += ['-display', 'none', '-serial', 'file:%s' % spec['serial_log'], '-monitor', 'none',
             '-qmp', 'unix:%s,server=on,wait=off' % spec['qmp_socket'],
             '-daemonize', '-pidfile', spec['pidfile']]
    argv += list(spec.get('extra_args') or [])
    return argv


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


def ssh_common_args(name, known_hosts):
    # ServerAlive*: a session whose guest stops answering (a reboot under a
    # loaded TCG host; QEMU's user networking keeps the host side open) ends
    # after a minute instead of hanging the play.
    return ('-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o HostKeyAlias=%s '
            '-o IdentitiesOnly=yes -o ServerAliveInterval=15 -o ServerAliveCountMax=4'
            % (known_hosts, host_key_alias(name)))


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
            '  ServerAliveCountMax 4\n') % (name, name, int(port), private_key, known_hosts, host_key_alias(name))


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
