# The two commands of the README are `make run` and `make test`; both set up what they need.
VENV ?= .venv
PYTEST_ARGS ?=
# `make chaos`: how many seeds, or one seed to replay (SEED=n).
SEEDS ?= 5
SEED ?=
# Options for `ledgerline up`, for example ARGS="--set payment.step_timeout_s=300".
ARGS ?=

.PHONY: help bootstrap run status top demo verify report bench bench-scale bench-quick chaos test test-fast test-unit test-integration test-e2e lint clean

# The first target, so `make` alone lists the others; each says what it does after `## `.
help:  ## List these targets with what each does.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap:  ## Install what the rest needs: the virtualenv, Java 17 and Maven, Prometheus, nginx, Chromium.
	@scripts/bootstrap.sh

run: bootstrap  ## Run the whole platform on embedded infrastructure until Ctrl-C.
	@$(VENV)/bin/ledgerline up $(ARGS)

status: bootstrap  ## What `make run` runs: each process with its health, restarts and URL (ledgerline status).
	@$(VENV)/bin/ledgerline status $(ARGS)

top: bootstrap  ## A live terminal dashboard of the running platform, read from its local Prometheus.
	@$(VENV)/bin/ledgerline top $(ARGS)

demo: bootstrap  ## Move money through a running platform (start `make run` first).
	@$(VENV)/bin/ledgerline demo

verify: bootstrap  ## Check the books of the platform `make run` runs, read-only (ledgerline verify); exit 1 if wrong.
	@$(VENV)/bin/ledgerline verify $(ARGS)

report: bootstrap  ## PNG charts of the last ten minutes of `make run` into ledgerline-report/ (ledgerline report).
	@$(VENV)/bin/ledgerline report $(ARGS)

bench: bootstrap  ## pgbench, then every workload on a fresh local platform; results and picture in bench/results.
	@$(VENV)/bin/ledgerline bench $(ARGS)

bench-scale: bootstrap  ## The full bench, then transfers among 10k, 100k and 1M wallets (long: seeds a million wallets).
	@$(VENV)/bin/ledgerline bench --scale 10000,100000,1000000 $(ARGS)

bench-quick: bootstrap  ## The same in under a minute: checks the books, the figures mean little.
	@$(VENV)/bin/ledgerline bench --quick $(ARGS)

chaos: bootstrap  ## Fault-injection bank test on Apache Kafka: SEEDS=n seeds (5), or SEED=n to replay one.
	@$(VENV)/bin/ledgerline chaos $(if $(SEED),--seed $(SEED),--seeds $(SEEDS)) $(ARGS)

test: bootstrap lint  ## Lint, then the whole suite: unit, integration, end to end on both Kafka backends, Kubernetes.
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: bootstrap  ## Everything except the Apache Kafka backend.
	@$(VENV)/bin/python -m pytest -m "not apache" $(PYTEST_ARGS)

test-unit: bootstrap  ## Unit tier: domains and handlers on in-memory fakes, no servers; seconds, for every save.
	@$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: bootstrap  ## Integration tier: the core and the operator against real PostgreSQL, Redis and a broker.
	@$(VENV)/bin/python -m pytest tests/integration tests/operator $(PYTEST_ARGS)

test-e2e: bootstrap  ## End-to-end tier: every service as a process, over HTTP and Kafka (embedded broker).
	@$(VENV)/bin/python -m pytest tests/e2e -m "not apache" $(PYTEST_ARGS)

lint: bootstrap  ## ruff (lint and format) everywhere, mypy strict on every service and the operator, import boundaries.
	@$(VENV)/bin/ruff check --quiet services operator tests
	@$(VENV)/bin/ruff format --check --quiet services operator tests
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-logo --no-cache

clean:  ## Delete the data `make run` keeps in .ledgerline/.
	rm -rf .ledgerline
