PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PORT ?= 8080
# pytest-xdist workers: one more than the cores, because the end-to-end tests spend most of their time
# waiting on real sync cycles and processes (measured: 3 workers 66 s, 2 workers 74 s on 2 cores)
WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
CENTRAL_PORT ?= 8090

.PHONY: demo test check lint test-dates test-acceptance bench clean

# setuptools announces every editable install with a BuildBackendWarning ("Editable installation ...");
# it is a notice about editable mode itself, not about this package, so make filters exactly that message.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py --data $(DEMO_DIR) --port $(PORT) --central-port $(CENTRAL_PORT)

# Everything, as CI runs it (.ci/run). The crash test's stress level: MOTCUA_CRASH_KILLS (default 100).
# Central's tests and the end-to-end sync tests run on SQLite and on PostgreSQL (when installed; CI requires it):
# PYTEST_ARGS=--central-db=sqlite for SQLite only.
test: lint
	$(BIN)/python -m pytest -m "not acceptance" -n $(WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Lint: ruff (E, F, I, B, UP, SIM; pyproject [tool.ruff]) on the whole tree, mypy on domain/ and protocol/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The quick loop for developers: everything but the slow end-to-end crash and soak tests, on every core, each test file on one worker
# (pytest-xdist; PYTEST_ARGS=-n0 runs them in one process).
check: lint
	$(BIN)/python -m pytest -m "not slow and not acceptance" -n $(WORKERS) --dist loadfile --no-loadscope-reorder --central-db=sqlite $(PYTEST_ARGS)

# The date-sensitive tests at a pinned late-evening UTC moment (already tomorrow in Vietnam) and on the
# far side of the date line (needs Debian's faketime; .ci/run installs it).
test-dates: $(STAMP)
	TZ=UTC faketime '2026-12-03 22:30:00' $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser and not faketime_unsafe" --central-db=sqlite $(PYTEST_ARGS)
	TZ=Pacific/Kiritimati faketime '2026-12-03 12:00:00 UTC' $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser and not faketime_unsafe" --central-db=sqlite $(PYTEST_ARGS)
	TZ=Pacific/Kiritimati $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser" --central-db=sqlite $(PYTEST_ARGS)

# Issue acceptance scenarios too long for make test (the blob lane's: 30 scans, 300 events, a reset every
# 50 kB and 20 kills on an emulated field link, 10-15 minutes). CI runs this after make test.
test-acceptance: $(STAMP)
	$(BIN)/python -m pytest -m acceptance -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/node_desk.py
	$(BIN)/python bench/sync_link.py
	$(BIN)/python bench/central_dashboard.py
	$(BIN)/python bench/node_lowspec.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache test-artifacts
