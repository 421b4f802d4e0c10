#!/usr/bin/env bash
# The guest's dpkg lock held by another process (as apt-daily or another user's apt
# would) while the converge must install a package: expect the package task to wait
# for the lock (labkit_apt_lock_timeout) and the run to end ready, the package back.
# Uses the VM an earlier fault left running (qemu-killed).
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
guest() { ssh -F "$(vm_dir)/ssh_config" -o BatchMode=yes "$FAULT_VM" "$@"; }

[ -n "$(vm_qemu_pids)" ] || play "$L/dpkg-lock-start.log" dev-vm.yml --tags vm ||
  fail "could not start $FAULT_VM ($L/dpkg-lock-start.log)"
guest 'dpkg -r perftest >/dev/null' || fail "could not remove perftest in the guest"
# apt and dpkg take fcntl (POSIX) locks, so the holder must too (flock(1) would not block them).
guest 'nohup python3 -c "import fcntl, time
f = open(\"/var/lib/dpkg/lock-frontend\", \"w\"); fcntl.lockf(f, fcntl.LOCK_EX)
g = open(\"/var/lib/dpkg/lock\", \"w\"); fcntl.lockf(g, fcntl.LOCK_EX); time.sleep(60)" >/dev/null 2>&1 &' ||
  fail "could not hold the dpkg lock in the guest"
sleep 3
guest 'python3 -c "import fcntl, sys
f = open(\"/var/lib/dpkg/lock-frontend\", \"w\")
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
sys.exit(1)"' || fail "the dpkg lock is not held in the guest; the fault did not happen"

t0=$SECONDS
play "$L/dpkg-lock-converge.log" dev-vm.yml || fail "dev-vm.yml failed while the dpkg lock was held ($L/dpkg-lock-converge.log)"
recap_ok "$L/dpkg-lock-converge.log" || fail "the recap shows a failed host ($L/dpkg-lock-converge.log)"
# shellcheck disable=SC2016  # ${Status} is for dpkg-query in the guest
guest 'dpkg-query -W -f="\${Status}" perftest' | grep -q 'install ok installed' ||
  fail "perftest was not installed again ($L/dpkg-lock-converge.log)"
echo "converge with the dpkg lock held for 60 s: $((SECONDS - t0)) s"
