#!/usr/bin/env bash
# The host's SSH port taken by another listener before dev-vm.yml: expect a
# failure naming the port, the VM's disk and keys untouched, no QEMU started; then
# with the port free again the VM starts and ends ready.
set -u
# shellcheck source=tests/faults/vm/lib.sh
. "$(dirname "$0")/lib.sh"
L="$FAULT_ROOT/logs"
dir=$(vm_dir)

play "$L/port-taken-stop.log" vm-stop.yml || fail "vm-stop.yml failed ($L/port-taken-stop.log)"
[ -f "$dir/disk.qcow2" ] || fail "no VM to test with: run the qemu-killed fault first (it makes $FAULT_VM)"
before=$(stat -c '%s %Y' "$dir/disk.qcow2" "$dir/id_ed25519" "$dir/ssh_host_ed25519_key")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" >"$L/port-taken-http.log" 2>&1 &
listener=$!
trap 'kill "$listener" 2>/dev/null' EXIT
wait_until 30 python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" ||
  fail "the listener on 127.0.0.1:$port did not come up"

play "$L/port-taken-1.log" dev-vm.yml -e "local_vm_ssh_port=$port" &&
  fail "dev-vm.yml succeeded although 127.0.0.1:$port was taken"
log_has "$L/port-taken-1.log" "port $port" || fail "the failure does not name port $port ($L/port-taken-1.log)"
[ -z "$(vm_qemu_pids)" ] || fail "a QEMU of $FAULT_VM runs although its port was taken"
after=$(stat -c '%s %Y' "$dir/disk.qcow2" "$dir/id_ed25519" "$dir/ssh_host_ed25519_key")
[ "$before" = "$after" ] || fail "the VM's disk or keys changed: $before -> $after"

kill "$listener"
wait "$listener" 2>/dev/null
trap - EXIT
play "$L/port-taken-2.log" dev-vm.yml -e "local_vm_ssh_port=$port" ||
  fail "with the port free again dev-vm.yml failed ($L/port-taken-2.log)"
