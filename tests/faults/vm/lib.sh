# shellcheck shell=bash
# Shared by the VM-level fault scripts (sourced by ./run, never run alone).
# Everything lives under FAULT_ROOT (a scratch directory made by ./run): the VMs'
# state (XDG_STATE_HOME, so the readiness reports go there too) and the logs. The
# image cache is the user's (warm) unless a fault sets its own.

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
FAULT_VM=${FAULT_VM:-labkit-fault}
export XDG_STATE_HOME="$FAULT_ROOT/state"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$REPO/ansible.cfg}"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$REPO/collections}"
export ANSIBLE_NOCOLOR=1
USER_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/labkit-ebpf_rdma"
PLAYBOOK=ansible-playbook
if [ -x "${VENV:-$REPO/.venv}/bin/ansible-playbook" ]; then
  PLAYBOOK="${VENV:-$REPO/.venv}/bin/ansible-playbook"
fi

vm_dir() {  # the state dir of VM FAULT_VM
  printf '%s/labkit-ebpf_rdma/vms/%s\n' "$XDG_STATE_HOME" "$FAULT_VM"
}

# play LOG PLAYBOOK [ARGS...]: one run against the local inventory on the scratch VM, output to LOG
play() {
  local log=$1 book=$2
  shift 2
  (cd "$REPO" && "$PLAYBOOK" -i inventories/local "playbooks/$book" \
    -e "local_vm_name=$FAULT_VM" -e "local_vm_cache_dir=${FAULT_CACHE:-$USER_CACHE}" "$@") >"$log" 2>&1
}

fail() {  # the reason is the last line on stderr: ./run prints it
  echo "$*" >&2
  exit 1
}

# vm_qemu_pids: the pids of the QEMU processes whose -pidfile is FAULT_VM's
vm_qemu_pids() {
  local pidfile proc
  pidfile="$(vm_dir)/qemu.pid"
  for proc in /proc/[0-9]*; do
    if tr '\0' '\n' <"$proc/cmdline" 2>/dev/null | grep -qxF -- "$pidfile"; then
      if tr '\0' '\n' <"$proc/cmdline" 2>/dev/null | head -1 | grep -q qemu-system; then
        echo "${proc#/proc/}"
      fi
    fi
  done
}

# wait_until SECONDS COMMAND...: poll every 2 s; non-zero when the time ran out
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

log_has() {  # log_has LOG TEXT
  grep -qF -- "$2" "$1"
}

recap_ok() {  # the run ended with no failed or unreachable host
  grep -q 'failed=0' "$1" && ! grep -qE 'unreachable=[1-9]|failed=[1-9]' "$1"
}

# rerun_boots_a_complete_entry LOG: dev-vm.yml again after an interrupted build; it must end
# ready and boot an entry of the fault's own cache (FAULT_CACHE) that has its manifest.json
rerun_boots_a_complete_entry() {
  local log=$1 disk
  play "$log" dev-vm.yml || fail "the re-run of dev-vm.yml failed ($log)"
  recap_ok "$log" || fail "the re-run's recap shows a failed host ($log)"
  disk=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["disk"])' "$(vm_dir)/vm.json") ||
    fail "cannot read the disk of $FAULT_VM from $(vm_dir)/vm.json"
  case "$disk" in
    "$FAULT_CACHE"/*) ;;
    *) fail "$FAULT_VM boots $disk, not an entry of the fault's cache $FAULT_CACHE" ;;
  esac
  [ -f "$(dirname "$disk")/manifest.json" ] || fail "$FAULT_VM boots $disk, whose entry has no manifest.json (a half entry)"
}
