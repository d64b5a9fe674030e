# The two commands of the README are `make run` and `make test`; both set up what they need.
VENV ?= .venv
PYTEST_ARGS ?=
# Options for `ledgerline up`, for example ARGS="--set payment.step_timeout_s=300".
ARGS ?=

.PHONY: help bootstrap run top demo bench bench-scale bench-quick test test-fast lint clean

# The first target, so `make` alone lists the others; each says what it does after `## `.
help:  ## List these targets with what each does.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

bootstrap:  ## Install what the rest needs: the virtualenv with pinned dependencies, Java 17 and Maven, Prometheus.
	@scripts/bootstrap.sh

run: bootstrap  ## Run the whole platform on embedded infrastructure until Ctrl-C.
	@$(VENV)/bin/ledgerline up $(ARGS)

top: bootstrap  ## A live terminal dashboard of the running platform, read from its local Prometheus.
	@$(VENV)/bin/ledgerline top $(ARGS)

demo: bootstrap  ## Move money through a running platform (start `make run` first).
	@$(VENV)/bin/ledgerline demo

bench: bootstrap  ## pgbench, then every workload on a fresh local platform; results and picture in bench/results.
	@$(VENV)/bin/ledgerline bench $(ARGS)

bench-scale: bootstrap  ## The full bench, then transfers among 10k, 100k and 1M wallets (long: seeds a million wallets).
	@$(VENV)/bin/ledgerline bench --scale 10000,100000,1000000 $(ARGS)

bench-quick: bootstrap  ## The same in under a minute: checks the books, the figures mean little.
	@$(VENV)/bin/ledgerline bench --quick $(ARGS)

test: bootstrap lint  ## Lint, then the whole suite: unit, integration, end to end on both Kafka backends, Kubernetes.
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: bootstrap  ## Everything except the Apache Kafka backend.
	@$(VENV)/bin/python -m pytest -m "not apache" $(PYTEST_ARGS)

lint: bootstrap  ## ruff (lint and format) everywhere, mypy strict on the core, the domains and the operator.
	@$(VENV)/bin/ruff check --quiet services operator tests
	@$(VENV)/bin/ruff format --check --quiet services operator tests
	@$(VENV)/bin/mypy

clean:  ## Delete the data `make run` keeps in .ledgerline/.
	rm -rf .ledgerline
