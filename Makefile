# ferry: two commands matter — `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLAYBOOK := $(BIN)/ansible-playbook
# What the controller needs before the venv can be built (libvirt-python compiles against
# libvirt-dev), and chromium (headless: the HTML plan test renders the page); the lab playbook
# installs the rest (qemu, libvirt daemons, sshd, rsync...).
SYSTEM_PACKAGES := python3-venv python3-apt python3-libvirt libvirt-dev pkg-config gcc qemu-utils openssh-client openssh-server rsync iproute2 zstd chromium

.PHONY: all system venv lab lab-down demo status test test-full unit integration faults mutants lint bench netlab-clean molecule molecule-all clean

all: demo

system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

venv: system $(VENV)/.stamp

lab: venv
	$(PLAYBOOK) playbooks/lab.yml

lab-down: venv
	$(PLAYBOOK) playbooks/lab_down.yml

status: venv
	$(PLAYBOOK) playbooks/status.yml

demo: lab
	bash scripts/demo.sh

unit: venv
	$(BIN)/pytest -q tests/unit

# ansible-lint with the production profile over the whole repository (what .ansible-lint excludes aside)
lint: venv
	$(BIN)/ruff check plugins library tests roles
	$(BIN)/ansible-lint --nocolor -q --profile production
	@for m in library/*.py; do n=$$(basename $$m .py); \
	  $(BIN)/ansible-doc -M library $$n >/dev/null || { echo "ansible-doc $$n failed"; exit 1; }; done
	@echo "ansible-doc renders every module"

integration: lab
	$(BIN)/pytest -q -m "not matrix" tests/integration tests/faults

# Unit tests, lint, the molecule scenario, the integration tests on the real lab; non-zero on any
# failure.  (pytest last, so the run closes on its summary line.)
test: lab
	$(BIN)/pytest -q tests/unit
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory molecule
	$(BIN)/pytest -q -m "not matrix" tests/integration tests/faults

# Everything `make test` leaves out (pytest marker `matrix`: the rest of the fault matrix, the
# variants of tests make test runs once, the second kill points...), with 20 concurrent moves, and
# every molecule scenario.  Run before resolving an issue; figures in the note.
test-full: lab
	FERRY_CONCURRENCY=20 $(BIN)/pytest -q -s -rA -m matrix tests/integration tests/faults
	$(MAKE) --no-print-directory molecule-all

# The full fault matrix and the 20-move concurrency run (make test runs the same fault tests with
# 8 concurrent moves): every fault point, its end state, peak commitment per host printed.
faults: lab
	FERRY_CONCURRENCY=20 $(BIN)/pytest -q -s -rA tests/faults

# Mutant check: each tests/faults/mutants/*.patch puts a fixed defect back in a scratch worktree;
# its regression test must fail there (the proof for fixes that landed before their tests).
mutants: lab
	bash tests/faults/mutants/run.sh

# Benchmarks print figures (not tests): the scheduler over 10,000 synthetic hosts, ferry's
# delta shipping vs the flatten-and-copy baseline on the lab, and ferry over emulated links
# (network namespaces, veth pairs shaped with tc tbf: tests/bench/netlab.py).
# bench_modes.py is the long one (ferry vs Nova's flatten and overlay transfers, 1/4/16 GiB bases,
# both links, base cached and not: JSON, Markdown and PNG in artifacts/bench/); BENCH_SIZES=1,4
# shortens it.  Its plot needs matplotlib (requirements-bench.txt, not needed by make test).
BENCH_SIZES ?= 1,4,16
bench: lab
	$(BIN)/pip install -q -r requirements-bench.txt
	$(BIN)/python tests/bench/bench_scheduler.py
	$(BIN)/python tests/bench/bench_ship.py
	$(BIN)/python tests/bench/bench_precopy.py
	$(BIN)/python tests/bench/bench_links.py
	$(BIN)/python tests/bench/bench_modes.py --sizes $(BENCH_SIZES)

# Leftovers of a killed emulated-links run: namespaces ferry-nl-*, their processes, the marked
# edits in the lab hosts' ~/.ssh/config and authorized_keys, /run/ferry-netlab.
netlab-clean: venv
	$(BIN)/python tests/bench/netlab.py --clean

# molecule scenarios on the shared lab (README "Tests"; common configuration in
# .config/molecule/config.yml): create = molecule/shared/create.yml (builds the lab unless it is
# up: the lab is built once), converge, idempotence, testinfra verify, cleanup deletes the
# scenario's guests.  `make molecule` (and so `make test`) runs default, real_guest and evacuate;
# `make molecule-all` runs every scenario.  Each prints its duration.
# test_sequence has no destroy: lab_down.yml would stop every guest on the lab and cost a rebuild.
# reset: forget molecule's "created" state so create checks the lab again on every run.
# --destroy=never: otherwise molecule runs destroy (lab_down.yml) after any failed step.
MOLECULE := PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule
MOLECULE_SCENARIOS := default real_guest evacuate
MOLECULE_ALL_SCENARIOS := default az_pinning revert evacuate real_guest
define molecule_run
	@set -e; for s in $(1); do \
	  $(MOLECULE) reset -s $$s; \
	  t0=$$(date +%s); \
	  $(MOLECULE) test -s $$s --destroy=never; \
	  echo "molecule scenario $$s passed in $$(( $$(date +%s) - t0 )) s"; \
	done
endef
molecule: venv
	$(call molecule_run,$(MOLECULE_SCENARIOS))

molecule-all: venv
	$(call molecule_run,$(MOLECULE_ALL_SCENARIOS))

clean: lab-down
	rm -rf $(VENV)
