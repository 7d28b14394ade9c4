# Family Data Hub: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export DAGSTER_HOME := $(CURDIR)
export FAMILYHUB_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: demo ui test bench lint venv clean parse

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing pinned dependencies (about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --progress-bar off -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

demo: venv  ## generate synthetic feeds and materialise every asset into data/warehouse.duckdb
	@mkdir -p .dagster
	$(BIN)/familyhub demo

ui: venv  ## the Dagster UI on http://127.0.0.1:3000
	@mkdir -p .dagster
	$(BIN)/python -m orchestration.devserver 3000

parse: venv  ## re-read the dbt project after editing it (Dagster's dbt assets come from its manifest)
	$(BIN)/python -c "from orchestration.defs.dbt.project import prepare; print(prepare())"

# Two pytest-xdist workers (CI has two cores), each file on one worker: a file's module fixtures and its
# stateful tests stay together; the shared pipeline fixture is built once per worker.
test: TEST_WORKERS ?= 2
test: venv  ## the test suite (real DuckDB, dbt, Dagster, on small synthetic data)
	@mkdir -p .dagster
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: venv  ## benchmarks: one JSON line each
	$(BIN)/python bench/landing.py
	$(BIN)/python bench/gates.py
	$(BIN)/python bench/linkage.py
	$(BIN)/python bench/linkage_incremental.py
	$(BIN)/python bench/pipeline.py

lint: venv  ## sqlfluff over the dbt models (dbt templater; the same check runs in the tests)
	cd dbt_project && FAMILYHUB_WAREHOUSE=$(FAMILYHUB_DATA_DIR)/warehouse.duckdb ../$(BIN)/sqlfluff lint models --processes 1

clean:
	rm -rf data .dagster dbt_project/target dbt_project/logs
