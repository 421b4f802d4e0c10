#!/usr/bin/env bash
# dev-vm.yml interrupted with Ctrl-C (SIGINT to its process group) during a cold
# image build (a fresh cache of its own, a VM of its own), then dev-vm.yml again.
# The build runs as a background job in a session of its own, so Ctrl-C stops the
# playbook, not the build: expect the re-run to wait for the build's entry lock
# (a warning naming the holder) or find it finished, end ready, and boot a complete
# cache entry (one with its manifest.json), never a half-built one.
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
export FAULT_CACHE="$FAULT_ROOT/cache-playbook-interrupted"
FAULT_VM="$FAULT_VM-b"
play "$L/playbook-interrupted-0.log" vm-destroy.yml || fail "could not remove an earlier $FAULT_VM ($L/playbook-interrupted-0.log)"

set -m  # the playbook in its own process group, so SIGINT reaches it as Ctrl-C would
play "$L/playbook-interrupted-1.log" dev-vm.yml &
first=$!
set +m
wait_until 600 log_has "$L/playbook-interrupted-1.log" 'TASK [labkit.ebpf_rdma.local_vm : Wait for the image build' ||
  fail "the image build did not start in 10 min ($L/playbook-interrupted-1.log)"
sleep 30
kill -INT -- "-$first"
wait "$first" && fail "dev-vm.yml ended well although it was interrupted during the image build"

rerun_boots_a_complete_entry "$L/playbook-interrupted-2.log"
log_has "$L/playbook-interrupted-2.log" 'waiting up to' || log_has "$L/playbook-interrupted-2.log" 'Build the image' ||
  fail "the re-run neither waited for the build's lock nor built ($L/playbook-interrupted-2.log)"
