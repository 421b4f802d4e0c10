#!/usr/bin/env bash
# QEMU killed mid-converge, then dev-vm.yml again: expect the re-run to recover
# (start the VM from its overlay) and end ready. Leaves the VM running for the
# faults after it.
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"

play "$L/qemu-killed-1.log" dev-vm.yml &
first=$!
wait_until 1800 log_has "$L/qemu-killed-1.log" 'PLAY [Converge the VMs' ||
  fail "the first dev-vm.yml did not reach the converge play in 30 min ($L/qemu-killed-1.log)"
sleep 20
pids=$(vm_qemu_pids)
[ -n "$pids" ] || fail "no QEMU of $FAULT_VM runs during the converge"
# shellcheck disable=SC2086  # one pid a word
kill -9 $pids
wait "$first" && fail "the first dev-vm.yml succeeded although its VM was killed mid-converge"
[ -z "$(vm_qemu_pids)" ] || fail "QEMU of $FAULT_VM still runs after kill -9"

play "$L/qemu-killed-2.log" dev-vm.yml || fail "the re-run of dev-vm.yml failed ($L/qemu-killed-2.log)"
recap_ok "$L/qemu-killed-2.log" || fail "the re-run's recap shows a failed host ($L/qemu-killed-2.log)"
[ "$(vm_qemu_pids | wc -l)" = 1 ] || fail "expected one QEMU of $FAULT_VM after the re-run, found: $(vm_qemu_pids | tr '\n' ' ')"
