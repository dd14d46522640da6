PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PORT ?= 8080
CENTRAL_PORT ?= 8090

.PHONY: demo test check lint test-dates bench clean

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
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Lint: ruff (E, F, I, B, UP, SIM; pyproject [tool.ruff]) on the whole tree, mypy on domain/ and protocol/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The quick loop for developers: everything but the slow end-to-end crash and soak tests, on every core, each test file on one worker
# (pytest-xdist; PYTEST_ARGS=-n0 runs them in one process).
check: lint
	$(BIN)/python -m pytest -m "not slow" -n auto --dist loadfile --no-loadscope-reorder --central-db=sqlite $(PYTEST_ARGS)

# The date-sensitive tests at a pinned late-evening UTC moment (already tomorrow in Vietnam) and on the
# far side of the date line (needs Debian's faketime; .ci/run installs it).
test-dates: $(STAMP)
	TZ=UTC faketime '2026-12-03 22:30:00' $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser and not faketime_unsafe" --central-db=sqlite $(PYTEST_ARGS)
	TZ=Pacific/Kiritimati faketime '2026-12-03 12:00:00 UTC' $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser and not faketime_unsafe" --central-db=sqlite $(PYTEST_ARGS)
	TZ=Pacific/Kiritimati $(BIN)/python -m pytest -p no:cacheprovider -m "dates and not browser" --central-db=sqlite $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/node_desk.py
	$(BIN)/python bench/sync_link.py
	$(BIN)/python bench/central_dashboard.py
	$(BIN)/python bench/node_lowspec.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache test-artifacts
