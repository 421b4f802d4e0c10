#!/usr/bin/env bash
# check() evaluates its second argument later, so the single quotes are meant:
# shellcheck disable=SC2016
# Integration test of ordinary Ansible habits against the default inventory's
# devvm, from the repository root, after a ready VM:
#   ansible-playbook playbooks/dev-vm.yml
#   tests/integration/habits/run.sh
# `make test-habits` does both with a scratch XDG_STATE_HOME (its own devvm,
# not yours) and destroys that VM afterwards.
# Each step is asserted on what a user sees, not on task results:
#   1. ad-hoc commands reach devvm with the default inventory (no -i into the
#      state directory): ping, and `rdma link show` as root;
#   2. the memlock limit seen through the SSH connection dev-vm.yml left open
#      (ControlPersist) is the configured one, and so is a new connection's;
#   3. with rxe0 deleted, preflight.yml fails naming devvm both without and
#      with `-l devvm`, and writes its report both times;
#   4. dev-vm.yml restores rxe0, and preflight with `-l devvm` then passes;
#   5. test.yml with default variables on a project without ./integration (a
#      copy of the fixture project without that tree) passes, saying that no
#      separate integration suite was found, and a misnamed suite fails before
#      the build naming the variable.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/collections
BIN=${VENV:-$PWD/.venv}/bin
HOST=devvm
OUT=${HABITS_OUT:-$PWD/tests/output/habits}
rm -rf "$OUT"; mkdir -p "$OUT"
failures=0; passes=0
check() {
  if eval "$2"; then echo "PASS  $1"; passes=$((passes + 1)); else echo "FAIL  $1"; failures=$((failures + 1)); fi
}
# run LOG CMD...: a command, its output in LOG; sets rc.
run() { local log=$1; shift; rc=0; "$@" > "$log" 2>&1 || rc=$?; echo "   $(basename "$log"): rc=$rc"; }
ready_is() { python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["hosts"][sys.argv[2]]["ready"] == (sys.argv[3] == "true") else 1)' "$@"; }
PREFLIGHT=(playbooks/preflight.yml -e "labkit_lab_hosts=labkit_vms")

echo "== 1. ad-hoc commands with the default inventory"
run "$OUT/ping.log" "$BIN/ansible" "$HOST" -m ansible.builtin.ping
check "ansible $HOST -m ping answers pong" '[ "$rc" = 0 ] && grep -qE "ping(\"?): (\"?)pong" "$OUT/ping.log"'
run "$OUT/rdma.log" "$BIN/ansible" "$HOST" -b -a 'rdma link show'
check "ansible $HOST -b -a 'rdma link show' lists rxe0" '[ "$rc" = 0 ] && grep -q "link rxe0/1" "$OUT/rdma.log"'

echo "== 2. memlock through the reused connection and a new one"
run "$OUT/ulimit-reused.log" "$BIN/ansible" "$HOST" -a "sh -lc 'ulimit -l'"
check "ulimit -l through the reused connection is unlimited" '[ "$rc" = 0 ] && grep -qx unlimited "$OUT/ulimit-reused.log"'
run "$OUT/ulimit-new.log" env ANSIBLE_SSH_ARGS="-o ControlMaster=no -o ControlPath=none" "$BIN/ansible" "$HOST" -a "sh -lc 'ulimit -l'"
check "ulimit -l through a new connection is unlimited" '[ "$rc" = 0 ] && grep -qx unlimited "$OUT/ulimit-new.log"'

echo "== 3. preflight on a host that is not ready, with and without --limit"
run "$OUT/rxe-delete.log" "$BIN/ansible" "$HOST" -b -a 'rdma link delete rxe0'
check "rxe0 deleted by hand" '[ "$rc" = 0 ]'
run "$OUT/preflight-all.log" "$BIN/ansible-playbook" "${PREFLIGHT[@]}" -e "labkit_report_dir=$OUT/all"
check "preflight without -l fails (rc=$rc)" '[ "$rc" -ne 0 ] && grep -q "$HOST" "$OUT/preflight-all.log"'
check "preflight without -l wrote a report saying not ready" 'ready_is "$OUT/all/preflight.json" "$HOST" false'
run "$OUT/preflight-limit.log" "$BIN/ansible-playbook" "${PREFLIGHT[@]}" -l "$HOST" -e "labkit_report_dir=$OUT/limit"
check "preflight with -l $HOST fails too (rc=$rc)" '[ "$rc" -ne 0 ] && grep -q "$HOST" "$OUT/preflight-limit.log"'
check "preflight with -l wrote a report saying not ready" 'ready_is "$OUT/limit/preflight.json" "$HOST" false'

echo "== 4. dev-vm.yml restores rxe0; preflight -l passes"
run "$OUT/dev-vm.log" "$BIN/ansible-playbook" playbooks/dev-vm.yml
check "dev-vm.yml re-run passed" '[ "$rc" = 0 ]'
check "dev-vm.yml printed no FAILED line" '! grep -q FAILED "$OUT/dev-vm.log"'
run "$OUT/preflight-ready.log" "$BIN/ansible-playbook" "${PREFLIGHT[@]}" -l "$HOST" -e "labkit_report_dir=$OUT/ready"
check "preflight with -l $HOST passes on the restored host (rc=$rc)" '[ "$rc" = 0 ] && ready_is "$OUT/ready/preflight.json" "$HOST" true'

echo "== 5. a project without ./integration, default variables"
# outside this repository: project_build ships what git would ship, and tests/output is ignored here
NOINT=$(mktemp -d "${TMPDIR:-/tmp}/labkit-habits-project.XXXXXX")
trap 'rm -rf "$NOINT"' EXIT
(cd tests/fixtures/rdma-ebpf-project && tar --exclude=./integration --exclude=./bin -cf - .) | (cd "$NOINT" && tar -xf -)
run "$OUT/test-nointegration.log" "$BIN/ansible-playbook" playbooks/test.yml -l "$HOST" \
  -e "project_build_src=$NOINT" -e project_build_name=habits-nointegration
check "test.yml passes on a project without ./integration (rc=$rc)" '[ "$rc" = 0 ]'
check "it says no separate integration suite was found" 'grep -q "no separate integration suite was found" "$OUT/test-nointegration.log"'
run "$OUT/test-badsuite.log" "$BIN/ansible-playbook" playbooks/test.yml -l "$HOST" \
  -e "project_build_src=$NOINT" -e project_build_name=habits-nointegration -e 'project_test_only=[integration]'
check "a suite the project lacks fails before the build, naming project_test_only (rc=$rc)" \
  '[ "$rc" -ne 0 ] && grep -q project_test_only "$OUT/test-badsuite.log" && ! grep -q "go generate" "$OUT/test-badsuite.log"'

echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
