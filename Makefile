# The two commands of the README are `make run` and `make test`; both set up what they need.
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: bootstrap run demo test test-fast lint clean

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap  ## Run the whole platform on embedded infrastructure until Ctrl-C.
	@$(VENV)/bin/ledgerline up

demo: bootstrap  ## Move money through a running platform (start `make run` first).
	@$(VENV)/bin/ledgerline demo

test: bootstrap  ## The whole suite: unit, integration, end to end on both Kafka backends, Kubernetes.
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: bootstrap  ## Everything except the Apache Kafka backend.
	@$(VENV)/bin/python -m pytest -m "not apache" $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check services tests
	@$(VENV)/bin/ruff format --check services tests
	@$(VENV)/bin/mypy

clean:
	rm -rf .ledgerline
