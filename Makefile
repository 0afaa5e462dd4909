# Two commands do everything on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo bench bench-redis bench-export clean spec-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check karbon_async tests benchmarks tools examples
	$(VENV)/bin/ruff format --check karbon_async tests benchmarks tools examples

typecheck: install
	$(VENV)/bin/mypy

pytest: install
	$(PY) -m pytest -W error -q

test: lint typecheck pytest

demo: install
	$(VENV)/bin/karbon-async demo

bench: install
	$(PY) benchmarks/limiter_bench.py

# Decode every example body of the spec and check that every operationId is declared.
SPEC ?= /work/shared/karbon-api/KarbonAPI.json
spec-check: install
	$(PY) tools/spec_check.py $(SPEC)

bench-redis: install
	$(PY) benchmarks/redis_budget_bench.py

# Many minutes: 200 accounts at the real limit, then overhead and memory (see benchmarks/EXPORT.md).
bench-export: install
	$(PY) benchmarks/export_accounts_bench.py --accounts 200 --windows 10
	$(PY) benchmarks/export_overhead_bench.py
	$(PY) benchmarks/export_memory_bench.py --records 1000000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
