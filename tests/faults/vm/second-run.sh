#!/usr/bin/env bash
# A second dev-vm.yml while the first runs (the VM stopped, so both want to start
# it): expect the second to wait for the per-VM lock or fail naming the holder's
# pid, the first to end ready, and exactly one VM.
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"

play "$L/second-run-stop.log" vm-stop.yml || fail "vm-stop.yml failed ($L/second-run-stop.log)"
[ -z "$(vm_qemu_pids)" ] || fail "$FAULT_VM still runs after vm-stop.yml"

play "$L/second-run-A.log" dev-vm.yml &
a=$!
sleep 2
play "$L/second-run-B.log" dev-vm.yml &
b=$!
wait "$a"
rc_a=$?
wait "$b"
rc_b=$?

[ "$rc_a" = 0 ] || fail "the first dev-vm.yml failed (rc $rc_a, $L/second-run-A.log)"
if [ "$rc_b" != 0 ] && ! log_has "$L/second-run-B.log" 'holds the lock of VM'; then
  fail "the second dev-vm.yml failed without naming the lock holder (rc $rc_b, $L/second-run-B.log)"
fi
n=$(vm_qemu_pids | wc -l)
[ "$n" = 1 ] || fail "expected one QEMU of $FAULT_VM, found $n"
