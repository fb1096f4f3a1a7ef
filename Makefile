# Herald's two entry points: `make run` and `make test`. Both use the venv at .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test lint typecheck unit install clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Herald needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

## make run: install Herald into .venv and run the quickstart on the embedded bus
run: $(VENV)/.installed
	$(BIN)/herald validate examples/
	@echo
	@echo "Herald is starting the quickstart (examples/quickstart). In another terminal, try:"
	@echo
	@echo "  curl -s -X POST localhost:12000/orders -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"id\": \"A-1001\", \"status\": \"paid\", \"total\": 250, \"customer\": {\"email\": \"ada@example.com\"}}'"
	@echo
	@echo "GitHub deliveries go to localhost:12000/github (secret: examples/quickstart/secrets)."
	@echo "Stop with Ctrl-C. State (the durable bus) is kept in .herald/."
	@echo
	$(BIN)/herald run examples/quickstart --secrets-dir examples/quickstart/secrets

## make test: install test dependencies, lint, type-check, check layers, run the suite
test: $(VENV)/.test-installed lint typecheck unit

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

unit: $(VENV)/.test-installed
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache
