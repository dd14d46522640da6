PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PORT ?= 8080
CENTRAL_PORT ?= 8090

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py --data $(DEMO_DIR) --port $(PORT) --central-port $(CENTRAL_PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/node_desk.py
	$(BIN)/python bench/sync_link.py
	$(BIN)/python bench/central_dashboard.py
	$(BIN)/python bench/node_lowspec.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache test-artifacts
