# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck format bench chaos deploy-check deploy-e2e report-screenshot schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[local,dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m local.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

schema: $(STAMP)
	$(BIN)/python -m common.migrations

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/webhook_load.py
	$(BIN)/python bench/cost_per_call.py
	$(BIN)/python bench/mcp_latency.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/connections.py
	$(BIN)/python bench/chaos.py

chaos: $(STAMP)
	$(BIN)/python bench/chaos.py

deploy-check: $(STAMP)
	$(BIN)/python -m local.deploy_check

# The deployment run for real in Docker (see local/deploy_e2e.py); installs docker.io if missing.
deploy-e2e: $(STAMP)
	$(BIN)/python -m local.deploy_e2e

report-screenshot: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/python -m local.report_screenshot

clean:
	rm -rf $(VENV) .data
