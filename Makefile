# churnmesh: `make demo` sets up and runs the pipeline on the embedded DuckDB; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export SQLMESH__DISABLE_ANONYMIZED_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: setup demo test lint clean serve dashboard bench mutants

setup: $(STAMP)

# The environment is rebuilt whenever the dependencies or their pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/churnmesh demo

# A Prefect server on http://127.0.0.1:4200 and the deployments; Ctrl-C stops both.
serve: setup
	$(BIN)/churnmesh serve --port 4200

# Test files run in TEST_WORKERS processes (pytest-xdist), each file whole in one of them: a
# file's module fixtures (a built warehouse, a reference run) are built once.
TEST_WORKERS ?= 2
test: setup
	$(BIN)/ruff check .
	$(BIN)/sqlmesh test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The dashboard on http://127.0.0.1:8501 (reads what the last run published); Ctrl-C stops it.
dashboard: setup
	$(BIN)/churnmesh dashboard --port 8501

# Benchmarks at SCALE=S, M (default) or L: bench/results/<scale>.json and .md (data cached in bench/.cache).
SCALE ?= M
bench: setup
	$(BIN)/python -m bench.run --scale $(SCALE)

# Mutation testing, before a release (not part of `make test`: hours on two cores). mutmut mutates the
# core modules ([tool.mutmut] in pyproject.toml) and writes mutation/results.md; then the curated
# SQL mutations of mutation/sql.py run against the model tests. MUTANTS="churnmesh.parameters*"
# runs the mutants of one module only; results are kept in mutants/ and a rerun resumes.
MUTANTS ?=
mutants: setup
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python -m mutation.report --out mutation/results.md
	$(BIN)/python -m mutation.sql

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) data mutants .pytest_cache .ruff_cache
