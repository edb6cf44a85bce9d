# fraudstream: `make demo` and `make test` are all a fresh machine needs (Python 3.11+, Java 17).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin

.PHONY: help install browser demo test test-unit test-faults lint format bench lock clean synth

# Target names in colour only on a terminal: piped or in CI, plain text.
help: ## Show this help
	@if [ -t 1 ]; then on=$$'\033[36m'; off=$$'\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-14s%s %s\n", on, $$1, off, $$2}'

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --all-extras --compile-bytecode
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the locked dependencies (all extras + dev tools)

# The report test renders the demo's HTML report in headless Chromium: Debian's package, so a fresh
# Debian CI machine gets it from the distribution's registry. sudo only when not already root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: ## Install Debian's chromium (for the HTML report test) unless /usr/bin/chromium exists
	@test -x /usr/bin/chromium || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

demo: install ## Run the pipeline end to end on the embedded AWS emulator
	$(BIN)/fraudstream demo

test: install browser ## Run the whole test suite (unit, functional, integration)
	$(BIN)/pytest

test-unit: install ## Run only the fast unit tests
	$(BIN)/pytest tests/unit

FAULT_TESTS := tests/functional/faults tests/integration/processor/test_crash_recovery.py \
	tests/integration/processor/test_endpoint_outage.py \
	"tests/integration/processor/test_kinesis_source.py::test_a_shard_split_and_merge_during_a_run_lose_and_duplicate_nothing_and_keep_per_key_order"

test-faults: install ## Run only the fault suite (also part of `test`): throttling, fuzzing, SIGKILL, outage, resharding
	$(BIN)/pytest $(FAULT_TESTS)

lint: install ## ruff (lint + format check), mypy --strict, lockfile check, then `synth` (cfn-lint, checkov)
	$(UV) lock --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(MAKE) --no-print-directory synth

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Extra options, e.g. make bench BENCH_ARGS="--quick" or BENCH_ARGS="--only producer --only endpoint".
BENCH_ARGS ?=

bench: install ## Run every benchmark side by side in one run: bench/results.json and results.md (the README's table)
	$(BIN)/fraudstream bench $(BENCH_ARGS)

lock: ## Re-resolve uv.lock after editing pyproject.toml
	$(UV) lock

# The CDK app synthesizes with the model it deploys: model/ when `fraudstream train` wrote one there,
# else a tiny untrained stand-in that is good for checking the templates and nothing else.
CDK_MODEL ?= $(if $(wildcard model/model.tar.gz),model,.cdk-model)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.cdk-model/model.tar.gz: | install
	$(BIN)/python tests/infrastructure/tiny_model.py .cdk-model

# checkov runs in its own throwaway environment (uv's tool runner), at a pinned version, not from uv.lock:
# its pins (packaging<24, cachetools<6, networkx<2.7, schema<=0.7.5) made `uv lock` downgrade locked
# dependencies of the product (urllib3 2 -> 1.26 with them). It reads acknowledged findings from each
# resource's Metadata.checkov.skip.
# (Files, not folders: given two -d folders, checkov 3.2 scans only the first.)
CHECKOV_VERSION := 3.3.30

synth: install node_modules/.installed $(CDK_MODEL)/model.tar.gz ## cdk synth (AWS and LocalStack stacks, cdk-nag), cfn-lint, checkov
	npx cdk synth -q -c model_dir=$(CDK_MODEL)
	npx cdk synth -q -c local=true -o cdk.out.local
	$(BIN)/cfn-lint cdk.out/*.template.json cdk.out.local/*.template.json
	$(UV) tool run --from checkov==$(CHECKOV_VERSION) checkov --quiet --compact --skip-download \
		--framework cloudformation -f cdk.out/*.template.json cdk.out.local/*.template.json

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
