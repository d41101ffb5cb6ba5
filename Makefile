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

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- setup
.PHONY: system-deps
system-deps: ## Install the Debian packages the project needs (as root).
	bash tests/support/install-system-deps.sh

$(VENV)/.installed: requirements-dev.txt collector/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet -e collector
	touch $@

.PHONY: setup
setup: $(VENV)/.installed ## Create the virtualenv with the pinned tools.

# ---------------------------------------------------------------- quality gates
.PHONY: lint
lint: setup ## ruff and ansible-lint (production profile).
	$(BIN)/ruff check collector tests
	$(BIN)/ruff format --check collector tests
	@if [ -d roles ] && ls roles/*/tasks/main.yml >/dev/null 2>&1; then \
		cd ansible && ../$(BIN)/ansible-lint --profile production ../ansible ../roles; fi

.PHONY: test-unit
test-unit: setup ## Unit tests.
	$(BIN)/pytest tests/unit

.PHONY: test-integration
test-integration: setup ## Integration tests: the real collector against the simulator.
	$(BIN)/pytest tests/integration

.PHONY: test
test: setup lint ## The whole suite: lint, unit, integration.
	$(BIN)/pytest tests/unit tests/integration

# ---------------------------------------------------------------- local runs
.PHONY: simulator
simulator: setup ## Run the Polymarket simulator on 127.0.0.1:$(SIM_PORT) (10 s windows).
	cd tests/support && ../../$(PY) -m polysim --port $(SIM_PORT) --window-seconds 10

.PHONY: demo
demo: setup ## Collect for $(DURATION) s from the simulator into .cache/demo, then verify.
	bash tests/support/demo.sh $(DURATION)
