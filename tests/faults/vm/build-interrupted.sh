#!/usr/bin/env bash
# The image build interrupted with SIGINT (a fresh cache of its own, a VM of its
# own), then dev-vm.yml again: expect the re-run to recover and end ready, booting
# a complete cache entry (one with its manifest.json), never a half-built one.
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
export FAULT_CACHE="$FAULT_ROOT/cache"
FAULT_VM="$FAULT_VM-b"

set -m  # the playbook in its own process group, so SIGINT reaches it as Ctrl-C would
play "$L/build-interrupted-1.log" dev-vm.yml &
first=$!
set +m
wait_until 600 log_has "$L/build-interrupted-1.log" 'TASK [labkit.ebpf_rdma.local_vm : Wait for the image build' ||
  fail "the image build did not start in 10 min ($L/build-interrupted-1.log)"
sleep 30
kill -INT -- "-$first"
wait "$first" && fail "dev-vm.yml ended well although it was interrupted during the image build"

play "$L/build-interrupted-2.log" dev-vm.yml || fail "the re-run of dev-vm.yml failed ($L/build-interrupted-2.log)"
recap_ok "$L/build-interrupted-2.log" || fail "the re-run's recap shows a failed host ($L/build-interrupted-2.log)"
disk=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["disk"])' "$(vm_dir)/vm.json") ||
  fail "cannot read the disk of $FAULT_VM from $(vm_dir)/vm.json"
case "$disk" in
  "$FAULT_CACHE"/*) ;;
  *) fail "$FAULT_VM boots $disk, not an entry of the fault's cache $FAULT_CACHE" ;;
esac
[ -f "$(dirname "$disk")/manifest.json" ] || fail "$FAULT_VM boots $disk, whose entry has no manifest.json (a half entry)"
# The re-run built the image cold: its wait is progress, never a failure line (issue 22).
log_has "$L/build-interrupted-2.log" 'image build' || fail "the re-run shows no progress line of the image build"
! grep -q 'FAILED' "$L/build-interrupted-2.log" || fail "the cold re-run printed a FAILED line: $(grep -m1 FAILED "$L/build-interrupted-2.log")"
