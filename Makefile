# labkit.ebpf_rdma — developer entry points.
#   make venv        create .venv with the pinned dependencies (requirements.txt)
#   make host-deps   install the controller packages the tests use (Debian/Ubuntu: shellcheck,
#                    QEMU, debootstrap...; the local_vm role installs the QEMU ones itself too)
#   make test        the whole test suite (what .ci/run runs): test-static, then test-vm
# Parts: test-static (unit, changelog-lint, docs, lint, sanity, build: minutes, no VM)
#        test-vm     (Molecule scenarios default, unbaked and trixie-amd64 on real QEMU VMs: tens of minutes)
#   make test-fabric the two-node soft-RoCE fabric (Molecule scenario fabric: two real QEMU VMs;
#                    not part of make test)
#   make fabric-faults against a running fabric (made by dev-vm.yml -i inventories/fabric): fabnode2's link
#                    down, then netem delay on it, then restored, each checked from fabric.json (docs/fabric.md)
#   make test-habits ad-hoc commands, reused connections and --limit against a real VM
#   make test-faults-vm  VM-level fault suite (tests/faults/vm/run) on scratch VMs: tens of minutes
#   make kernel-matrix  the fixture project on every kernel of inventories/kernel-matrix (5.10 to the newest
#                    backports kernel), one VM after the other; a table kernel x test (docs/kernels.md)
#   make test-matrix the guest matrix (release x arch) on real QEMU VMs, one scenario after the
#                    other: default (bookworm-amd64) trixie-amd64 bookworm-arm64 trixie-arm64;
#                    a cell of the other architecture is emulated (README "Verified where")

PYTHON ?= python3
VENV   ?= $(CURDIR)/.venv
BIN     = $(VENV)/bin
OUT     = $(CURDIR)/tests/output
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_NOCOLOR := 1
export PATH := $(BIN):$(PATH)

MODULES = $(sort $(basename $(notdir $(wildcard plugins/modules/*.py))))
ROLES   = $(sort $(notdir $(wildcard roles/*)))
INVENTORY_PLUGINS = $(sort $(basename $(notdir $(wildcard plugins/inventory/*.py))))

.PHONY: venv host-deps test test-static test-vm test-fabric fabric-faults test-matrix kernel-matrix test-habits test-faults-vm unit sanity lint docs build changelog-lint

venv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt

# qemu-system-arm, qemu-user-static and binfmt-support: the arm64 cells of test-matrix on an
# x86-64 controller (and the amd64 ones on an arm64 controller); the cloud_image integration
# run: its fixture image (dosfstools mtools fdisk systemd-boot-efi), the seed (xorriso), UEFI (ovmf)
HOST_PACKAGES = shellcheck qemu-system-x86 qemu-system-arm qemu-user-static binfmt-support \
		qemu-utils debootstrap e2fsprogs openssh-client \
		xorriso ovmf dosfstools mtools fdisk systemd-boot-efi

host-deps:
	@if command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	  fi; \
	else echo "host-deps: not a Debian/Ubuntu controller; install shellcheck and QEMU yourself"; fi

test: test-static test-vm
	@echo "make test: all parts passed"

test-static: unit changelog-lint docs lint sanity build

# Real QEMU VMs (see molecule/ and .config/molecule/config.yml): the scenarios CI runs. The
# other cells of the guest matrix are `make test-matrix`.
VM_SCENARIOS ?= default unbaked trixie-amd64

test-vm:
	@set -e; for s in $(VM_SCENARIOS); do $(BIN)/molecule test -s $$s; done

# Two VMs joined by a QEMU dgram segment, RDMA between them (molecule/fabric, docs/fabric.md);
# its own target, not in VM_SCENARIOS: two VMs at once are more than CI's time allows.
test-fabric:
	$(BIN)/molecule test -s fabric

# The faults of the fabric (molecule/fabric/faults.yml)
# against the running fabric of inventories/fabric; it ends with the fabric restored.
fabric-faults:
	$(BIN)/ansible-playbook -i inventories/fabric molecule/fabric/faults.yml

# The guest matrix, one VM at a time; every cell runs even when one fails, then a table of
# cell, result and wall time is printed and the target fails if any cell failed.
# MATRIX="trixie-amd64 bookworm-arm64" make test-matrix runs a subset.
MATRIX ?= default trixie-amd64 bookworm-arm64 trixie-arm64

test-matrix:
	@rm -f $(OUT)/matrix.txt; mkdir -p $(OUT); for s in $(MATRIX); do \
	  t0=$$(date +%s); $(BIN)/molecule test -s $$s; rc=$$?; \
	  printf '%-16s %-6s %6s s\n' $$s $$( [ $$rc = 0 ] && echo pass || echo FAIL ) $$(( $$(date +%s) - t0 )) >> $(OUT)/matrix.txt; \
	done; echo; printf '%-16s %-6s %8s\n' scenario result wall; cat $(OUT)/matrix.txt; ! grep -q FAIL $(OUT)/matrix.txt

# The kernel matrix (docs/kernels.md): one VM per kernel of inventories/kernel-matrix, one after the other,
# converged, the fixture project built and tested, the VM stopped; each kernel in an ansible-playbook run of
# its own (a VM that stops answering ends a run, never the matrix), logs in tests/output/kernel-matrix-<host>.log;
# then the table kernel x test is printed and written (text, JSON, JUnit) under
# ~/.local/state/labkit-ebpf_rdma/kernel-matrix/. Not part of `make test`.
# KERNELS="km-bookworm km-bullseye" make kernel-matrix runs a subset.
KERNEL_MATRIX_INVENTORY ?= inventories/kernel-matrix
KERNELS ?= $(shell $(BIN)/ansible-inventory -i $(KERNEL_MATRIX_INVENTORY) --graph kernel_matrix 2>/dev/null | sed -n 's/^ *|--//p')
kernel-matrix:
	@mkdir -p $(OUT); for k in $(KERNELS); do \
	  echo "kernel-matrix: $$k (log: $(OUT)/kernel-matrix-$$k.log)"; t0=$$(date +%s); \
	  $(BIN)/ansible-playbook -i $(KERNEL_MATRIX_INVENTORY) playbooks/kernel-matrix.yml -l $$k \
	    > $(OUT)/kernel-matrix-$$k.log 2>&1 || tail -5 $(OUT)/kernel-matrix-$$k.log; \
	  echo "kernel-matrix: $$k took $$(( $$(date +%s) - t0 )) s"; \
	done; limit=$$(echo $(KERNELS) | tr ' ' ','); \
	$(BIN)/ansible-playbook -i $(KERNEL_MATRIX_INVENTORY) playbooks/kernel-matrix.yml -l "$$limit" --tags table

# Ordinary Ansible habits against a real VM (tests/integration/habits/run.sh): ad-hoc commands
# with the default inventory, memlock through a reused connection, preflight with --limit.
# Its own devvm under a scratch XDG_STATE_HOME, destroyed afterwards whatever the result.
HABITS_STATE = $(OUT)/habits-state
test-habits:
	@mkdir -p $(HABITS_STATE); export XDG_STATE_HOME=$(HABITS_STATE); \
	  $(BIN)/ansible-playbook playbooks/dev-vm.yml > $(OUT)/habits-dev-vm.log 2>&1 \
	    && tests/integration/habits/run.sh; rc=$$?; \
	  [ $$rc = 0 ] || tail -20 $(OUT)/habits-dev-vm.log; \
	  $(BIN)/ansible-playbook playbooks/vm-destroy.yml > $(OUT)/habits-destroy.log 2>&1; exit $$rc
# VM-level faults (tests/faults/vm: QEMU killed mid-converge, a second dev-vm.yml, the SSH port
# taken, dev-vm.yml or the image build interrupted) on scratch VMs: one PASS/FAIL line each. The unit-level
# fault tests (tests/unit/faults) run in `make unit`.
test-faults-vm:
	VENV=$(VENV) tests/faults/vm/run

unit:
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

sanity:
	tests/sanity/run

# ansible-lint exits 0 when only warnings are left, even when they keep the project below the
# profile .ansible-lint requires ("Profile 'production' was required, but 'shared' profile passed"):
# --strict fails on warnings, and the summary must name the required profile as met.
lint:
	@$(BIN)/ansible-lint --nocolor --strict > $(OUT)/lint.txt 2>&1; rc=$$?; cat $(OUT)/lint.txt; \
	if grep -q "was required, but" $(OUT)/lint.txt; then echo "make lint: the required ansible-lint profile is not met"; exit 1; fi; \
	if [ $$rc = 0 ] && ! grep -q "Profile 'production' was required, and it passed" $(OUT)/lint.txt; then \
	  echo "make lint: ansible-lint did not say the production profile was met"; exit 1; fi; \
	exit $$rc

docs:
	@set -e; for m in $(MODULES); do \
	  $(BIN)/ansible-doc -t module labkit.ebpf_rdma.$$m > $(OUT)/doc-$$m.txt 2>$(OUT)/doc-$$m.err || { cat $(OUT)/doc-$$m.err; exit 1; }; \
	  if [ -s $(OUT)/doc-$$m.err ]; then echo "ansible-doc $$m warned:"; cat $(OUT)/doc-$$m.err; exit 1; fi; \
	  grep -q '^EXAMPLES:' $(OUT)/doc-$$m.txt && grep -q '^RETURN VALUES:' $(OUT)/doc-$$m.txt \
	    || { echo "ansible-doc $$m: EXAMPLES or RETURN missing"; exit 1; }; \
	  echo "ansible-doc labkit.ebpf_rdma.$$m: ok"; done
	@set -e; for r in $(ROLES); do \
	  $(BIN)/ansible-doc -t role labkit.ebpf_rdma.$$r > /dev/null; echo "ansible-doc -t role labkit.ebpf_rdma.$$r: ok"; done
	@set -e; for i in $(INVENTORY_PLUGINS); do \
	  $(BIN)/ansible-doc -t inventory labkit.ebpf_rdma.$$i > $(OUT)/doc-inv-$$i.txt 2>$(OUT)/doc-inv-$$i.err || { cat $(OUT)/doc-inv-$$i.err; exit 1; }; \
	  if [ -s $(OUT)/doc-inv-$$i.err ]; then echo "ansible-doc -t inventory $$i warned:"; cat $(OUT)/doc-inv-$$i.err; exit 1; fi; \
	  grep -q '^EXAMPLES:' $(OUT)/doc-inv-$$i.txt || { echo "ansible-doc -t inventory $$i: EXAMPLES missing"; exit 1; }; \
	  echo "ansible-doc -t inventory labkit.ebpf_rdma.$$i: ok"; done

# Build the collection tarball, install it into an empty collections path and
# check that the installed copy serves the same modules and roles.
build:
	rm -rf $(OUT)/build && mkdir -p $(OUT)/build/collections
	$(BIN)/ansible-galaxy collection build --force --output-path $(OUT)/build .
	$(BIN)/ansible-galaxy collection install --offline --force -p $(OUT)/build/collections $(OUT)/build/labkit-ebpf_rdma-*.tar.gz
	@set -e; for m in $(MODULES); do \
	  ANSIBLE_COLLECTIONS_PATH=$(OUT)/build/collections $(BIN)/ansible-doc -t module labkit.ebpf_rdma.$$m >/dev/null; done
	@set -e; for r in $(ROLES); do test -f $(OUT)/build/collections/ansible_collections/labkit/ebpf_rdma/roles/$$r/tasks/main.yml; done
	@! tar -tzf $(OUT)/build/labkit-ebpf_rdma-*.tar.gz | grep -E '(^|/)(\.venv|collections|tests/output)/' \
	  || { echo "the tarball carries files it must not"; exit 1; }
	@echo "build: tarball installs and serves $(words $(MODULES)) modules, $(words $(ROLES)) roles"

changelog-lint:
	$(BIN)/antsibull-changelog lint

$(OUT):
	mkdir -p $@
docs build lint: | $(OUT)
