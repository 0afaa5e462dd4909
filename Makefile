# Two commands do everything on a fresh machine: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo bench bench-redis bench-export clean spec-check \
	conformance docs test-fleet bench-fleet bench-curve lock test-latest layers dist mutation

# Every dev, test and docs dependency at the exact version (and hashes) of the committed lock
# file, so a fresh clone is green on any day; `make lock` refreshes it, `make test-latest` runs
# the suite on the newest versions pyproject.toml allows, to see drift before it is locked in.
LOCK := requirements-dev.lock

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

lock:
	$(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/python -m pip install --quiet uv
	.cache/lock-venv/bin/uv pip compile pyproject.toml --extra dev --extra docs --universal \
		--python-version 3.10 --generate-hashes --index-url https://pypi.org/simple \
		--custom-compile-command 'make lock' -o $(LOCK)

LATEST := .venv-latest
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet -e '.[dev]'
	$(LATEST)/bin/pip list --format=freeze
	$(LATEST)/bin/mypy
	$(LATEST)/bin/lint-imports --no-cache
	$(LATEST)/bin/python -m pytest -W error -q

# The sdist and wheel into dist/, built with the locked setuptools (no download), then checked
# as PyPI would (twine check --strict: metadata and the README's rendering).
dist: install
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

lint: install
	$(VENV)/bin/ruff check karbon_async tests benchmarks tools examples
	$(VENV)/bin/ruff format --check karbon_async tests benchmarks tools examples

typecheck: install
	$(VENV)/bin/mypy

# The import contracts of pyproject.toml [tool.importlinter]: the layers of the request path
# (docs/request-path.md), HTTP only through the transport, a fake that shares no client code.
layers: install
	$(VENV)/bin/lint-imports --cache-dir .cache/import-linter

# Two pytest processes at once: the tests that start real servers mostly wait, the others mostly
# compute (tools/pytest_two_lanes.py); `$(PY) -m pytest -W error -q` runs it all in one.
pytest: install
	$(PY) tools/pytest_two_lanes.py -W error -q

test: lint typecheck layers pytest

# Mutation testing of the core modules (mutmut), each with its own tests: a score per module,
# equivalent mutants listed in tests/MUTATION.md. Minutes per module; not part of `make test`
# or CI. `make mutation MODULES="_odata _retry"` runs some; SURVIVORS=1 reruns last misses.
MODULES ?=
mutation: install
	nice -n 10 $(PY) tests/mutation.py $(if $(SURVIVORS),--survivors) $(MODULES)

demo: install
	$(VENV)/bin/karbon-async demo

bench: install
	$(PY) benchmarks/limiter_bench.py

# Decode every example body of the spec and check that every operationId is declared.
SPEC ?= ../shared/karbon-api/KarbonAPI.json
spec-check: install
	$(PY) tools/spec_check.py $(SPEC)

# Every operation through the SDK against Stoplight Prism's mock of the spec (static, then
# dynamic under 5 seeds), then the schema property tests. Prism is installed from the lock file
# into .cache/prism/ (git-ignored) and reused.
PRISM_DIR := .cache/prism
PRISM := $(PRISM_DIR)/node_modules/.bin/prism
PRISM_STAMP := $(PRISM_DIR)/.installed

$(PRISM_STAMP): tools/conformance/package.json tools/conformance/package-lock.json
	mkdir -p $(PRISM_DIR)
	cp tools/conformance/package.json tools/conformance/package-lock.json $(PRISM_DIR)/
	cd $(PRISM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(PRISM_STAMP)

conformance: install $(PRISM_STAMP)
	MYPYPATH=tools $(VENV)/bin/mypy --strict -p conformance
	status=0; \
	PYTHONPATH=tools $(PY) -m conformance --spec $(SPEC) --prism $(PRISM) || status=1; \
	KARBON_SPEC=$(SPEC) $(PY) -m pytest -W error -q --tb=short tests/conformance || status=1; \
	exit $$status

# The PostgreSQL destination and the Celery fleet against real redis-server, PostgreSQL and
# worker processes (also part of `make test`; skipped there when the servers are missing).
test-fleet: install
	$(PY) -m pytest -W error -q tests/test_postgres_sink.py tests/test_fleet.py tests/test_fleet_chaos.py

bench-fleet: install
	$(PY) benchmarks/fleet_bench.py

bench-redis: install
	$(PY) benchmarks/redis_budget_bench.py

# Many minutes: 200 accounts at the real limit, then overhead and memory (see benchmarks/EXPORT.md).
bench-export: install
	$(PY) benchmarks/export_accounts_bench.py --accounts 200 --windows 10
	$(PY) benchmarks/export_overhead_bench.py
	$(PY) benchmarks/export_memory_bench.py --records 1000000

# Accounts -> sustained rate and client CPU, exporter and typed lists, one fresh process per
# point against a fast rate-limited page server (about 5 minutes; see benchmarks/README.md).
bench-curve: install
	$(PY) benchmarks/accounts_curve_bench.py --duration 30 --points exporter:500 exporter:1000 \
		exporter:1500 exporter:2000 typed:50 typed:200 typed:500

# The API reference (mkdocs-material + mkdocstrings) into the git-ignored site/; warnings fail.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) $(LATEST) .mypy_cache .ruff_cache .pytest_cache site dist build
