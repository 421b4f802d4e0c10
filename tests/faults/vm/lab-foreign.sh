#!/usr/bin/env bash
# A lab host with things labkit did not make: a soft-RoCE link (rxefrgn on dummy9)
# and a /usr/local/bin/go of someone else's. Expect lab.yml to fail naming the go
# file and its fix with the file and the link untouched; then, with the file moved
# away by its owner, lab.yml to pass with the foreign link still there.
# Uses the VM an earlier fault left running (qemu-killed).
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
guest() { ssh -F "$(vm_dir)/ssh_config" -o BatchMode=yes "$FAULT_VM" "$@"; }
GROUPS_FILE="$FAULT_ROOT/lab-groups.yml"
cat >"$GROUPS_FILE" <<YAML
all:
  children:
    softroce:
      hosts:
        $FAULT_VM:
          soft_roce_links: [{name: rxe0, netdev: null}]
      vars:
        labkit_memlock_domains: ["@rdma", root]
        labkit_memlock_systemd_default: false
YAML
lab() {  # lab LOG: lab.yml against the scratch VM as a softroce lab host
  (cd "$REPO" && "$PLAYBOOK" -i "$(vm_dir)/inventory.yml" -i "$GROUPS_FILE" \
    -e "labkit_lab_hosts=$FAULT_VM" playbooks/lab.yml) >"$1" 2>&1
}

[ -n "$(vm_qemu_pids)" ] || play "$L/lab-foreign-start.log" dev-vm.yml --tags vm ||
  fail "could not start $FAULT_VM ($L/lab-foreign-start.log)"
guest 'ip link show dummy9 >/dev/null 2>&1 || { ip link add dummy9 type dummy && ip addr add 198.18.9.1/24 dev dummy9 && ip link set dummy9 up; }
       rdma link show rxefrgn/1 >/dev/null 2>&1 || { modprobe rdma_rxe && rdma link add rxefrgn type rxe netdev dummy9; }
       mv /usr/local/bin/go /usr/local/bin/go.labkit-fault 2>/dev/null || true
       printf "#!/bin/sh\necho someone elses go\n" > /usr/local/bin/go && chmod 755 /usr/local/bin/go' ||
  fail "could not make the foreign link and go in the guest"
before=$(guest 'sha256sum /usr/local/bin/go; rdma link show rxefrgn/1')

lab "$L/lab-foreign-1.log" && fail "lab.yml passed although /usr/local/bin/go is someone else's ($L/lab-foreign-1.log)"
log_has "$L/lab-foreign-1.log" '/usr/local/bin/go' || fail "lab.yml's failure does not name /usr/local/bin/go ($L/lab-foreign-1.log)"
log_has "$L/lab-foreign-1.log" 'ebpf_toolchain_replace_foreign' || fail "lab.yml's failure does not name the option that allows it ($L/lab-foreign-1.log)"
[ "$(guest 'sha256sum /usr/local/bin/go; rdma link show rxefrgn/1')" = "$before" ] ||
  fail "the foreign go or the foreign link changed"

guest 'rm /usr/local/bin/go; mv /usr/local/bin/go.labkit-fault /usr/local/bin/go 2>/dev/null || true'
lab "$L/lab-foreign-2.log" || fail "lab.yml failed with only the foreign link left ($L/lab-foreign-2.log)"
guest 'rdma link show rxefrgn/1' | grep -q dummy9 || fail "the foreign link rxefrgn is gone after lab.yml"
guest 'rdma link show rxe0/1' | grep -q ACTIVE || fail "rxe0 is not ACTIVE after lab.yml"
