# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify a VM converged by playbooks/dev-vm.yml, from the outside, with testinfra.

Each test asserts an effect on the host (a mount, a limit a new login sees, a
link state, traffic that flows, a kprobe that fires), not a task's return
value. Run by Molecule's testinfra verifier, before and after a reboot.
"""

import base64
import json
import os
import re

import netaddr
import pytest

FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'files')
RXE = os.environ.get('LABKIT_VERIFY_RXE', 'rxe0')


def sh(host, script, timeout=300):
    """Run a POSIX shell script on the host, bounded; return the testinfra result."""
    return host.run('timeout %d sh -c %s' % (timeout, _quote(script)))


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def version_tuple(text):
    return tuple(int(x) for x in text.split('.'))


def ipv4_gid_index(host, dev=RXE, port=1):
    """Index of the first RoCE v2 GID that maps an IPv4 address (::ffff:a.b.c.d).

    One grep reads the whole GID table and its types: a shell loop spawning two
    cat per entry took a minute under TCG (the table has hundreds of entries).
    Unused entries make the type files fail with EINVAL, hence -s.
    """
    out = sh(host, 'cd /sys/class/infiniband/%s/ports/%d && grep -s -H . gids/* gid_attrs/types/*; true'
             % (dev, port), timeout=60).stdout
    gids, types = {}, {}
    for line in out.splitlines():
        path, _sep, value = line.partition(':')
        table = gids if path.startswith('gids/') else types
        table[int(path.rsplit('/', 1)[1])] = value.strip()
    for idx in sorted(gids):
        if 'v2' not in types.get(idx, ''):
            continue
        addr = netaddr.IPAddress(gids[idx], 6)
        if addr.is_ipv4_mapped():
            return idx
    return None


def test_debugfs_and_tracefs_mounted(host):
    mounts = host.file('/proc/self/mountinfo').content_string
    fstypes = {line.split(' - ')[1].split()[0]: line.split()[4] for line in mounts.splitlines() if ' - ' in line}
    assert fstypes.get('debugfs') == '/sys/kernel/debug'
    assert 'tracefs' in fstypes
    assert host.file(fstypes['tracefs'] + '/available_filter_functions').exists


def test_memlock_unlimited_for_login_shell(host):
    # A new login (through PAM, so limits.d applies) for root and for an ordinary user.
    for user in ('root', 'nobody'):
        res = sh(host, "su -l -s /bin/sh -c 'ulimit -l' %s" % user, timeout=30)
        assert res.rc == 0, res.stderr
        assert res.stdout.strip() == 'unlimited', (user, res.stdout)


def test_memlock_unlimited_for_systemd_service(host):
    res = sh(host, "systemd-run --quiet --wait --pipe sh -c 'ulimit -l'", timeout=60)
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == 'unlimited'


def test_headers_for_running_kernel(host):
    release = host.run('uname -r').stdout.strip()
    assert host.file('/lib/modules/%s/build/Makefile' % release).exists


def test_clang_and_go_versions(host):
    clang = re.search(r'clang version (\d+)\.', host.check_output('clang --version'))
    assert clang and int(clang.group(1)) >= 11
    go = re.search(r'go version go(\d+\.\d+)', sh(host, 'PATH=/usr/local/bin:$PATH go version').stdout)
    assert go and version_tuple(go.group(1)) >= (1, 23)
    assert sh(host, 'PATH=/usr/local/bin:$PATH bpf2go -h 2>&1 | head -1').stdout.startswith('Usage: bpf2go')


def test_rxe_link_active(host):
    links = json.loads(host.check_output('rdma -j link show'))
    mine = [link for link in links if link.get('ifname') == RXE]
    assert mine, links
    assert mine[0]['state'] == 'ACTIVE'
    assert mine[0]['physical_state'] == 'LINK_UP'


def test_ipv4_mapped_gid(host):
    assert ipv4_gid_index(host) is not None


def test_ud_pingpong(host):
    gid = ipv4_gid_index(host)
    res = sh(host, '''
        timeout 60 ibv_ud_pingpong -d {dev} -g {gid} -n 100 </dev/null >/tmp/labkit-ud-server.log 2>&1 & S=$!
        sleep 1
        timeout 60 ibv_ud_pingpong -d {dev} -g {gid} -n 100 127.0.0.1 </dev/null >/tmp/labkit-ud-client.log 2>&1; C=$?
        wait $S; echo "server=$? client=$C"; tail -2 /tmp/labkit-ud-client.log
    '''.format(dev=RXE, gid=gid), timeout=150)
    assert 'server=0 client=0' in res.stdout, res.stdout + res.stderr
    assert 'iters in' in res.stdout


def _upload(host, name, dest):
    with open(os.path.join(FILES, name), 'rb') as f:
        data = base64.b64encode(f.read()).decode('ascii')
    res = sh(host, 'echo %s | base64 -d > %s' % (data, dest), timeout=30)
    assert res.rc == 0, res.stderr


def test_kprobe_on_modify_qp_fires(host):
    """A CO-RE kprobe on ib_modify_qp_with_udata, built with clang in the VM, sees a UD QP go INIT->RTR->RTS."""
    # Built once per VM, in a directory that survives the reboot between the two verify runs;
    # rebuilt when the sources change.
    work = '/var/lib/labkit-verify/qp-kprobe'
    sh(host, 'mkdir -p %s' % work)
    for name in ('qp_kprobe.bpf.c', 'qp_kprobe.c'):
        _upload(host, name, '%s/%s.new' % (work, name))
    build = sh(host, '''
        set -e; cd {work}
        fresh=1
        for f in qp_kprobe.bpf.c qp_kprobe.c; do
            if cmp -s $f.new $f; then rm $f.new; else fresh=0; mv $f.new $f; fi
        done
        if [ $fresh = 1 ] && [ -x qp_kprobe ] && [ -s qp_kprobe.bpf.o ]; then echo reused; exit 0; fi
        case "$(uname -m)" in x86_64) A=x86;; aarch64) A=arm64;; *) A=$(uname -m);; esac
        bpftool btf dump file /sys/kernel/btf/ib_core format c > vmlinux.h
        clang -O2 -g -target bpf -D__TARGET_ARCH_$A -I. -c qp_kprobe.bpf.c -o qp_kprobe.bpf.o
        cc -O2 -Wall -o qp_kprobe qp_kprobe.c -lbpf
        echo built
    '''.format(work=work), timeout=300)
    assert build.rc == 0, build.stdout + build.stderr
    gid = ipv4_gid_index(host)
    run = sh(host, '''
        cd {work}
        ./qp_kprobe qp_kprobe.bpf.o 120 </dev/null >probe.log 2>&1 & P=$!
        for i in $(seq 1 100); do grep -q attached probe.log && break; sleep 0.2; done
        timeout 60 ibv_ud_pingpong -d {dev} -g {gid} -n 10 </dev/null >/dev/null 2>&1 & S=$!
        sleep 1
        timeout 60 ibv_ud_pingpong -d {dev} -g {gid} -n 10 127.0.0.1 </dev/null >/dev/null 2>&1
        wait $S
        kill -INT $P; wait $P; echo "probe=$?"; cat probe.log
    '''.format(work=work, dev=RXE, gid=gid), timeout=200)
    assert 'attached' in run.stdout, run.stdout + run.stderr
    counts = dict(re.findall(r'(\w+)=(\d+)', run.stdout.split('attached', 1)[1]))
    # Two UD QPs (server and client), each moved INIT -> RTR -> RTS.
    assert int(counts['init']) >= 2 and int(counts['rtr']) >= 2 and int(counts['rts']) >= 2, run.stdout


@pytest.mark.parametrize('path', ['/sys/kernel/btf/vmlinux', '/sys/kernel/btf/ib_core'])
def test_btf_present(host, path):
    assert host.file(path).exists
