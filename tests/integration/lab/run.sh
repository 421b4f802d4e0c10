#!/usr/bin/env bash
# check() evaluates its second argument later, so the single quotes are meant:
# shellcheck disable=SC2016
# Integration test of the shared-lab playbooks against one QEMU VM acting as a
# lab host (group softroce). Make the VM first, from the cached baked image
# (its packages are already installed, so this does not test package installs):
#   XDG_STATE_HOME=/tmp/lab-state ansible-playbook -i <inv with labkit-lab> playbooks/dev-vm.yml --tags vm
# then, from the repository root:
#   XDG_STATE_HOME=/tmp/lab-state tests/integration/lab/run.sh
# Steps, each asserted on the VM itself, not on task results:
#   0. the baked image has python3-apt, real lab hosts often do not: it is
#      removed (dpkg -r, which refuses if anything depends on it) so that the
#      no-python3-apt path below always runs;
#   1. preflight on the fresh VM fails, naming it, with the expected problems;
#   2. a foreign soft-RoCE link (rxefrgn on dummy9) is made by hand;
#   3. lab.yml refuses kernel.unprivileged_bpf_disabled=1; without python3-apt its
#      --check stops early; with it, --check --diff changes nothing (sha256 of
#      /etc, rdma links, mounts);
#   4. lab.yml for real: rxefrgn survives, rxe0 exists, the memlock limit is
#      for @rdma and root only (groups.yml follows inventories/lab); a second
#      real run changes nothing;
#   5. preflight reports the VM ready (exit 0).
set -euo pipefail
cd "$(dirname "$0")/../../.."
HOST=${LAB_HOST:-labkit-lab}
STATE=${XDG_STATE_HOME:-$HOME/.local/state}
VMDIR=${LAB_VM_DIR:-$STATE/labkit-ebpf_rdma/vms/$HOST}
OUT=${LAB_OUT:-$PWD/tests/output/lab}
export ANSIBLE_CONFIG=$PWD/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$PWD/collections
PLAYBOOK=${ANSIBLE_PLAYBOOK:-$PWD/.venv/bin/ansible-playbook}
INV=(-i "$VMDIR/inventory.yml" -i tests/integration/lab/groups.yml -e "labkit_lab_hosts=$HOST")
mkdir -p "$OUT"
failures=0
vm() { ssh -F "$VMDIR/ssh_config" "$HOST" "$@"; }
check() { if eval "$2"; then echo "PASS  $1"; else echo "FAIL  $1"; failures=$((failures + 1)); fi; }
changed() { grep -E "^$HOST +:" "$1" | sed -E 's/.*changed=([0-9]+).*/\1/'; }
# changed_tasks LOG: the names of the tasks that reported changed, in order.
changed_tasks() { awk '/^TASK \[/ { t = $0; sub(/ \*+$/, "", t) } /^changed: / { print t }' "$1"; }
snapshot() {
  vm 'find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum;
      rdma -j link show; echo; findmnt -rn -o TARGET,FSTYPE | sort' > "$1"
}
has_problem() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["hosts"][sys.argv[2]]; sys.exit(0 if any(sys.argv[3] in p for p in r["problems"]) else 1)' "$@"; }
# play LOG ARGS...: one ansible-playbook run against the VM, its output in LOG; sets rc, prints the time.
play() {
  local log=$1 t0=$SECONDS; shift
  rc=0; "$PLAYBOOK" "${INV[@]}" "$@" > "$log" 2>&1 || rc=$?
  echo "   $(basename "$log"): $((SECONDS - t0)) s, rc=$rc"
}
# ready_is FILE HOST true|false: the JSON report exists and says so.
ready_is() { python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["hosts"][sys.argv[2]]["ready"] == (sys.argv[3] == "true") else 1)' "$@"; }

echo "== 0. a lab host without python3-apt"
# Decided on the VM in one ssh call, so a failed connection stops the script
# (set -e) instead of reading as "python3-apt absent".
vm 'if python3 -c "import apt" 2>/dev/null; then
      echo "   python3-apt is installed (the baked image has it); removing it: dpkg -r python3-apt";
      dpkg -r python3-apt >/dev/null;
    else echo "   python3-apt is not installed"; fi'
# Passes only when python3 ran on the VM and could not import apt (not when ssh fails).
# ssh joins its arguments into one remote command line, so the remote command is one
# quoted word; its output is kept, and the exit status of python3 (1) is not a failure.
vm 'python3 -c "import apt"' > "$OUT/import-apt.txt" 2>&1 || true
check "python3-apt is not importable on the VM" 'grep -q ModuleNotFoundError "$OUT/import-apt.txt"'

echo "== 1. preflight on the fresh VM"
play "$OUT/preflight-fresh.log" playbooks/preflight.yml -e "labkit_report_dir=$OUT/fresh"
check "preflight exits non-zero on the fresh VM (rc=$rc)" '[ "$rc" -ne 0 ]'
check "the failure names the host" 'grep -q "Not ready: $HOST" "$OUT/preflight-fresh.log"'
check "JSON says not ready" 'ready_is "$OUT/fresh/preflight.json" "$HOST" false'
check "problem: no rxe link" 'has_problem "$OUT/fresh/preflight.json" "$HOST" "soft-RoCE link rxe0 does not exist"'
check "problem: memlock not set" 'has_problem "$OUT/fresh/preflight.json" "$HOST" "memlock for a new session is"'
# on the VM: its report files are written on the controller (changed: [host -> localhost])
check "preflight changed nothing on the VM" '! grep -qE "^changed: \[$HOST\]" "$OUT/preflight-fresh.log"'

echo "== 2. a foreign soft-RoCE link, made by hand"
vm 'ip link show dummy9 >/dev/null 2>&1 || { ip link add dummy9 type dummy && ip addr add 198.18.9.1/24 dev dummy9 && ip link set dummy9 up; };
    rdma link show rxefrgn/1 >/dev/null 2>&1 || { modprobe rdma_rxe && rdma link add rxefrgn type rxe netdev dummy9; }'
check "rxefrgn exists" 'vm rdma link show rxefrgn/1 | grep -q dummy9'

echo "== 3a. lab.yml refuses a variable asking for kernel.unprivileged_bpf_disabled=1"
play "$OUT/lab-guard.log" playbooks/lab.yml --check -e '{"labkit_sysctl": {"kernel.unprivileged_bpf_disabled": 1}}'
check "refused (rc=$rc) naming the variable" '[ "$rc" -ne 0 ] && grep -q "variables checked: .*labkit_sysctl" "$OUT/lab-guard.log"'

echo "== 3. lab.yml --check --diff changes nothing"
# Ansible's apt module cannot plan installs without python3-apt: lab.yml must stop early, changing nothing.
check "preflight names the missing python3-apt" 'has_problem "$OUT/fresh/preflight.json" "$HOST" "python3-apt is not installed"'
snapshot "$OUT/before-check0.txt"
play "$OUT/lab-check0.log" playbooks/lab.yml --check --diff
snapshot "$OUT/after-check0.txt"
check "check mode without python3-apt stops early naming the host (rc=$rc)" '[ "$rc" -ne 0 ] && grep -q "$HOST has no python3-apt" "$OUT/lab-check0.log"'
check "... and changed nothing" 'diff "$OUT/before-check0.txt" "$OUT/after-check0.txt"'
echo "   the operator's fix from the message: apt-get install python3-apt"
vm 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-apt >/dev/null'
snapshot "$OUT/before-check.txt"
play "$OUT/lab-check.log" playbooks/lab.yml --check --diff
snapshot "$OUT/after-check.txt"
check "check-mode run succeeded (rc=$rc)" '[ "$rc" -eq 0 ]'
check "/etc, rdma links and mounts unchanged by check mode" 'diff "$OUT/before-check.txt" "$OUT/after-check.txt"'
check_changed=$(changed "$OUT/lab-check.log")
echo "check mode: changed=$check_changed"

echo "== 4. lab.yml for real"
play "$OUT/lab-real.log" playbooks/lab.yml --diff
real_changed=$(changed "$OUT/lab-real.log")
echo "real run: changed=$real_changed"
check "real run succeeded (rc=$rc)" '[ "$rc" -eq 0 ]'
changed_tasks "$OUT/lab-check.log" > "$OUT/changed-check.txt"
changed_tasks "$OUT/lab-real.log" > "$OUT/changed-real.txt"
check "check mode announced the tasks the real run changed (check $check_changed, real $real_changed)" \
  'diff "$OUT/changed-check.txt" "$OUT/changed-real.txt"'
check "rxefrgn survived on dummy9" 'vm rdma link show rxefrgn/1 | grep -q dummy9'
check "rxe0 exists and is ACTIVE" 'vm rdma link show rxe0/1 | grep -q "state ACTIVE"'
check "no persistence record for rxefrgn (not ours)" '! vm test -e /etc/labkit/rxe/rxefrgn.conf'
# groups.yml follows inventories/lab: the memlock limit for @rdma and root, never for every login.
vm cat /etc/security/limits.d/90-labkit-memlock.conf > "$OUT/limits-after.txt"
check "memlock limits.d names @rdma and root" 'grep -q "^@rdma[[:space:]]" "$OUT/limits-after.txt" && grep -q "^root[[:space:]]" "$OUT/limits-after.txt"'
check "memlock limits.d has no line for every user (*)" '! grep -q "^[*][[:space:]]" "$OUT/limits-after.txt"'
# Every sysctl file the host reads, fetched and searched here (a pattern sent through ssh
# would be split and globbed by the remote shell).
vm 'for f in /etc/sysctl.conf /etc/sysctl.d/*.conf; do [ -f "$f" ] && { echo "## $f"; cat "$f"; }; done' > "$OUT/sysctl-after.txt"
check "sysctl files were read from the VM" 'grep -q "^## /etc/sysctl" "$OUT/sysctl-after.txt"'
check "never wrote unprivileged_bpf_disabled=1" '! grep -Eq "^[[:space:]]*kernel\.unprivileged_bpf_disabled[[:space:]]*=[[:space:]]*1" "$OUT/sysctl-after.txt"'

echo "== 4b. lab.yml for real, a second time"
play "$OUT/lab-real2.log" playbooks/lab.yml --diff
real2_changed=$(changed "$OUT/lab-real2.log")
echo "second real run: changed=$real2_changed"
check "second real run succeeded (rc=$rc)" '[ "$rc" -eq 0 ]'
check "second real run changed nothing (changed=$real2_changed)" '[ "$real2_changed" = 0 ]'
check "rxefrgn still on dummy9" 'vm rdma link show rxefrgn/1 | grep -q dummy9'

echo "== 5. preflight on the provisioned VM"
play "$OUT/preflight-provisioned.log" playbooks/preflight.yml -e "labkit_report_dir=$OUT/provisioned"
check "preflight exits 0 after lab.yml (rc=$rc)" '[ "$rc" -eq 0 ]'
check "JSON says ready" 'ready_is "$OUT/provisioned/preflight.json" "$HOST" true'

echo "check-mode changed=$check_changed, real changed=$real_changed, second real changed=$real2_changed"
echo "tables: $OUT/fresh/preflight.txt $OUT/provisioned/preflight.txt"
if [ "$failures" -eq 0 ]; then echo "ALL PASSED"; else echo "$failures FAILED"; exit 1; fi
