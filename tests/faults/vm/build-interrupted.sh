#!/usr/bin/env bash
# The image build itself interrupted with SIGINT (the vm_image job, in a fresh cache
# of its own, for a VM of its own), then dev-vm.yml again: expect the first run to
# fail saying the build failed, no entry (complete or half) left in the cache, and
# the re-run to remove the build's leftover work directory and build cold, showing progress lines and no FAILED line, end ready and
# boot a complete entry (one with its manifest.json).
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
export FAULT_CACHE="$FAULT_ROOT/cache-build-interrupted"
FAULT_VM="$FAULT_VM-b"
play "$L/build-interrupted-0.log" vm-destroy.yml || fail "could not remove an earlier $FAULT_VM ($L/build-interrupted-0.log)"

# build_jobs: the vm_image processes of this fault's runs (their environment names
# this fault's state directory), never another run's build
build_jobs() {
  local proc
  for proc in /proc/[0-9]*; do
    tr '\0' '\n' <"$proc/cmdline" 2>/dev/null | grep -q 'vm_image' || continue
    tr '\0' '\n' <"$proc/environ" 2>/dev/null | grep -qxF "XDG_STATE_HOME=$XDG_STATE_HOME" || continue
    echo "${proc#/proc/}"
  done
}
no_build_jobs() { [ -z "$(build_jobs)" ]; }

play "$L/build-interrupted-1.log" dev-vm.yml &
first=$!
wait_until 600 log_has "$L/build-interrupted-1.log" 'TASK [labkit.ebpf_rdma.local_vm : Wait for the image build' ||
  fail "the image build did not start in 10 min ($L/build-interrupted-1.log)"
sleep 30
jobs=$(build_jobs)
[ -n "$jobs" ] || fail "no vm_image build of this fault runs 30 s into the build"
# shellcheck disable=SC2086  # one pid a word
kill -INT $jobs
wait "$first" && fail "dev-vm.yml ended well although its image build was interrupted"
wait_until 120 no_build_jobs ||
  fail "the interrupted build still runs 2 min after SIGINT: $(build_jobs | tr '\n' ' ')"
# No entry: at most the build's own work directory (.build-*), which no run trusts and the next removes.
left=$(find "$FAULT_CACHE/images" -mindepth 1 -maxdepth 1 ! -name '*.lock' ! -name '.build-*' 2>/dev/null)
[ -z "$left" ] || fail "the interrupted build left an entry in the cache: $left"

rerun_boots_a_complete_entry "$L/build-interrupted-2.log"
left=$(find "$FAULT_CACHE/images" -mindepth 1 -maxdepth 1 -name '.build-*' 2>/dev/null)
[ -z "$left" ] || fail "the re-run left the interrupted build's work directory: $left"
# The re-run built the image cold: its wait is progress, never a failure line (issue 22).
grep -q 'image build (.*): running for' "$L/build-interrupted-2.log" ||
  fail "the cold re-run shows no progress line of the image build ($L/build-interrupted-2.log)"
! grep -q 'FAILED' "$L/build-interrupted-2.log" ||
  fail "the cold re-run printed a FAILED line: $(grep -m1 FAILED "$L/build-interrupted-2.log")"
