# orderbooks: every entry point a person or CI uses.
# Everything runs from the project's own virtualenv ($(VENV)), which `make setup`
# creates from requirements-dev.txt; targets that need it depend on it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

SIM_PORT ?= 8765
DURATION ?= 120
INVENTORY ?= .vps/inventory.ini

# The variables whose values `make help` shows in place of their names.
HELP_VARIABLES = DURATION INVENTORY SIM_PORT VENV VPS_NAME

.PHONY: help
help: ## List the targets (with the values of the variables they name).
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| sed $(foreach v,$(HELP_VARIABLES),-e 's|$$($(v))|$($(v))|g') \
		| awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- setup
.PHONY: system-deps
system-deps: ## Install the Debian packages the project needs (as root).
	bash tools/harness/install-system-deps.sh

.PHONY: system-deps-python
system-deps-python: ## Install only what the virtualenv needs (as root): no VPS packages.
	bash tools/harness/install-system-deps.sh python

$(VENV)/.installed: requirements-dev.txt collector/pyproject.toml gate/pyproject.toml tools/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet -e collector
	$(BIN)/pip install --quiet -e gate
	$(BIN)/pip install --quiet -e tools
	touch $@

.PHONY: setup
setup: $(VENV)/.installed ## Create the virtualenv with the pinned tools.

# ---------------------------------------------------------------- quality gates
.PHONY: lint
lint: setup ## ruff and ansible-lint (production profile).
	$(BIN)/ruff check collector gate tools tests
	$(BIN)/ruff format --check collector gate tools tests
	@if [ -d roles ] && ls roles/*/tasks/main.yml >/dev/null 2>&1; then \
		cd ansible && ../$(BIN)/ansible-lint --profile production ../ansible ../roles; fi

.PHONY: test-unit
test-unit: setup ## Unit tests.
	$(BIN)/pytest tests/unit gate/tests tools/tests

.PHONY: test-integration
test-integration: setup ## Integration tests: the real collector against the simulator.
	$(BIN)/pytest tests/integration

.PHONY: test
test: system-deps setup lint ## The whole suite: lint, unit, integration, host tests, the rehearsal with its self-test, the short redundant rehearsal, the 5-minute soak on a VPS.
	$(BIN)/pytest tests/unit gate/tests tools/tests tests/integration
	$(MAKE) --no-print-directory test-host
	REHEARSAL_SELFTEST=1 $(MAKE) --no-print-directory rehearsal
	$(MAKE) --no-print-directory rehearsal-redundant-ci
	$(MAKE) --no-print-directory soak-ci

# ---------------------------------------------------------------- local runs
.PHONY: simulator
simulator: setup ## Run the Polymarket simulator on 127.0.0.1:$(SIM_PORT) (10 s windows).
	$(PY) -m polysim --port $(SIM_PORT) --window-seconds 10

.PHONY: demo
demo: system-deps-python setup ## Collect for $(DURATION) s from the simulator into .cache/demo, then verify.
	bash tools/harness/demo.sh $(DURATION)

# ---------------------------------------------------------------- storage: kill campaign
.PHONY: kill-campaign
kill-campaign: N ?= 200
kill-campaign: setup ## SIGKILL `orderbooks collect` N times (default 200) at random moments, restart, verify (MEMBER_CYCLES=0: the one-file-per-hour layout).
	$(PY) tools/harness/kill_campaign.py --kills $(N) $(if $(MEMBER_CYCLES),--member-cycles $(MEMBER_CYCLES)) --report reports/kill-campaign-$(N).json

# ---------------------------------------------------------------- offload (upload/prune)
.PHONY: test-offload
test-offload: setup ## Upload/prune tests with the real rclone (local backend + webdav on loopback, faults).
	$(BIN)/pytest tests/unit/store/test_ledger.py tests/unit/offload tests/unit/commands/test_cli_upload.py \
		tests/integration/test_offload_local.py \
		tests/integration/test_offload_webdav.py tests/integration/test_offload_three_days.py

# ---------------------------------------------------------------- production gate and rehearsal
# `make rehearsal` is the README's first command: a fresh Debian 12 machine, as root.
REPORTS_DIR ?= reports
SOURCE ?= sim
GATE_INVENTORY = $(or $(filter-out .vps/inventory.ini,$(INVENTORY)),.vps/default/inventory.ini)

.PHONY: verify-host
verify-host: setup ## The production gate against INVENTORY (default .vps/default/inventory.ini): reports/<UTC>/report.md. LAYOUT_VARS: the -e layout values site.yml ran with.
	$(PY) -m gate.verify_host --inventory $(GATE_INVENTORY) \
		--reports-dir $(REPORTS_DIR) $(if $(LIMIT),--limit $(LIMIT)) $(if $(SOAK_REPORT),--soak-report $(SOAK_REPORT)) \
		$(foreach v,$(LAYOUT_VARS),--extra-vars '$(v)')

.PHONY: gate-selftest
gate-selftest: setup ## Mask the collector on INVENTORY's host: the gate must say FAIL and name the gate.
	GATE_SELFTEST_REPORTS=$(abspath $(REPORTS_DIR)) $(BIN)/pytest -p no:cacheprovider \
		--hosts=ansible://orderbooks --ansible-inventory=$(GATE_INVENTORY) \
		tests/host/test_gate_detects_broken_host.py

HOSTS ?= 1
REDUNDANT_SECONDS ?= 240
REDUNDANT_CUT_SECONDS ?= 60

.PHONY: rehearsal
rehearsal: ## Fresh machine -> disposable VPS + simulator -> site.yml -> verify-host (SOURCE=live: real APIs; HOSTS=2: the redundant one).
	SOURCE=$(SOURCE) REPORTS_DIR=$(REPORTS_DIR) REHEARSAL_HOSTS=$(HOSTS) \
		REDUNDANT_SECONDS=$(REDUNDANT_SECONDS) REDUNDANT_CUT_SECONDS=$(REDUNDANT_CUT_SECONDS) \
		bash tools/harness/rehearsal.sh

.PHONY: rehearsal-redundant
rehearsal-redundant: ## Two disposable VPS, one site.yml; each cut off the API for 60 s of 240 s; fetch, quality A B, merge, verify; verify-host of both (~9 min).
	$(MAKE) --no-print-directory rehearsal HOSTS=2

.PHONY: rehearsal-redundant-ci
rehearsal-redundant-ci: ## What CI runs: the redundant rehearsal with 25 s cuts of a 100 s window, without the gate (~3 min).
	REDUNDANT_GATE=0 $(MAKE) --no-print-directory rehearsal HOSTS=2 REDUNDANT_SECONDS=100 REDUNDANT_CUT_SECONDS=25

.PHONY: rehearsal-down
rehearsal-down: ## Tear down what `make rehearsal` started (VPS, simulator, stand-in remote; HOSTS=2: both VPS).
	REHEARSAL_HOSTS=$(HOSTS) bash tools/harness/rehearsal.sh down

# ---------------------------------------------------------------- hosting: disposable VPS, cutover, host tests
# Disposable Debian 12 VPS (systemd-nspawn, ssh on 127.0.0.1:VPS_PORT); several
# can run at once with different VPS_NAME/VPS_PORT.
VPS_NAME ?= default
VPS_PORT ?= 2222
VPS_HOSTS_ENTRY ?= 127.0.0.1 gamma.polysim.test clob.polysim.test
TEST_HOST_NAME ?= testhost
TEST_HOST_PORT ?= 2230
EXTRA ?=

.PHONY: vps-up
vps-up: ## Boot a disposable Debian 12 VPS (VPS_NAME, VPS_PORT); inventory .vps/$(VPS_NAME)/inventory.ini.
	python3 tools/harness/vps.py up --name $(VPS_NAME) --port $(VPS_PORT) --hosts-entry "$(VPS_HOSTS_ENTRY)"

.PHONY: vps-down
vps-down: ## Power off and remove the disposable VPS VPS_NAME.
	python3 tools/harness/vps.py down --name $(VPS_NAME)

.PHONY: vps-status
vps-status: ## Is the disposable VPS VPS_NAME up (pid, port, systemd state)?
	python3 tools/harness/vps.py status --name $(VPS_NAME)

.PHONY: cutover
cutover: setup ## ansible-playbook site.yml -i INVENTORY (EXTRA='-e @vault.yml --ask-vault-pass').
	@test -f "$(INVENTORY)" || { echo "cutover: INVENTORY=$(INVENTORY) not found (start from inventory.example)" >&2; exit 2; }
	ANSIBLE_CONFIG=$(abspath ansible/ansible.cfg) $(BIN)/ansible-playbook ansible/site.yml -i $(INVENTORY) $(EXTRA)

.PHONY: rollback
rollback: setup ## ansible-playbook rollback.yml -i INVENTORY: current back to the release before it (EXTRA='-e orderbooks_release=<UTC name>').
	@test -f "$(INVENTORY)" || { echo "rollback: INVENTORY=$(INVENTORY) not found (start from inventory.example)" >&2; exit 2; }
	ANSIBLE_CONFIG=$(abspath ansible/ansible.cfg) $(BIN)/ansible-playbook ansible/rollback.yml -i $(INVENTORY) $(EXTRA)

.PHONY: test-host
test-host: setup ## Fresh VPS: site.yml twice (2nd changed=0), --check, host tests, deploy/rollback; tears down.
	VPS_NAME=$(TEST_HOST_NAME) VPS_PORT=$(TEST_HOST_PORT) bash tools/harness/test_host.sh

# ---------------------------------------------------------------- data quality and benchmarks (issue 7)
BENCH_DIR ?= .cache/bench
DIR ?= /var/lib/orderbooks

.PHONY: quality
quality: setup ## Data quality of DIR=... (default /var/lib/orderbooks); PLOT=file.png draws the timeline.
	$(BIN)/orderbooks quality $(DIR) $(if $(PLOT),--plot $(PLOT))

.PHONY: bench
bench: setup ## Local benchmarks (about 4 min): write path, collector CPU/RSS, lateness, storage size and layout.
	$(PY) tools/bench/bench_write_path.py --dir $(BENCH_DIR)
	$(PY) tools/bench/bench_collector.py --data-dir $(BENCH_DIR)/collector
	$(PY) tools/bench/bench_lateness.py $(BENCH_DIR)/collector
	$(PY) tools/bench/bench_storage_size.py --from $(BENCH_DIR)/collector
	$(PY) tools/bench/bench_storage_size.py
	$(PY) tools/bench/bench_storage_layout.py

.PHONY: bench-merge
bench-merge: setup ## Peak RSS and time of `orderbooks merge` and `quality A B C` on 3 hosts' fabricated day (~10 min).
	$(PY) tools/bench/bench_merge.py --data-dir $(BENCH_DIR)/merge
	$(PY) tools/bench/bench_merge.py --data-dir $(BENCH_DIR)/merge --what quality

.PHONY: bench-restart-gap
bench-restart-gap: setup ## Restart gap (SIGKILL -> next row) under systemd on $(INVENTORY).
	$(PY) tools/bench/bench_restart_gap.py --inventory $(INVENTORY)

# ---------------------------------------------------------------- soak with faults (issue 7; docs/soak.md)
# Local mode (no INVENTORY on the command line): simulator + `orderbooks collect` here, faults on a
# schedule, then verify + quality; writes reports/soak-<UTC>/soak.json. Exit 0 only on PASS.
SOAK_DURATION = $(if $(filter file,$(origin DURATION)),1800,$(DURATION))
SOAK_INVENTORY = $(if $(filter command% environment%,$(origin INVENTORY)),$(INVENTORY))

.PHONY: soak
soak: setup ## Soak with faults for DURATION s (default 1800) [INVENTORY=...]: reports/soak-<UTC>/soak.json.
	$(PY) tools/harness/soak.py --duration $(SOAK_DURATION) --reports-dir $(REPORTS_DIR) \
		$(if $(SOAK_INVENTORY),--inventory $(SOAK_INVENTORY))

.PHONY: soak-ci
soak-ci: setup ## What CI runs: the 5-minute soak (every fault kind once) on a fresh disposable VPS.
	REPORTS_DIR=$(REPORTS_DIR) bash tools/harness/soak_vps.sh 300

# ---------------------------------------------------------------- soak on a disposable VPS (inventory mode; docs/soak.md)
.PHONY: soak-vps
soak-vps: setup ## Fresh disposable VPS "soak" -> site.yml -> soak DURATION s (default 1800) on its service; tears down.
	REPORTS_DIR=$(REPORTS_DIR) bash tools/harness/soak_vps.sh $(SOAK_DURATION)
