# make demo: a full rebalance against the bundled simulated KIS account on an SQLite file.
# make test: lint, type check (statemachine/), the whole suite (SQLite and PostgreSQL; CI=true makes PostgreSQL mandatory).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-anytime lint install clean bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PYTHON)); set PYTHON=..."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	REBALANCE_BROKER=$${REBALANCE_BROKER:-kis-sim} REBALANCE_DATABASE_URL=$${REBALANCE_DATABASE_URL:-sqlite:///var/demo.db} $(PY) run_rebalance.py --log-level WARNING demo

test: $(STAMP)
	$(PY) -m ruff check statemachine adapters tests bench run_rebalance.py
	$(PY) -m mypy statemachine adapters
	$(PY) -m pytest -q -p no:cacheprovider

# the demo and the date/session-sensitive tests under faketime at closed-market instants (CI runs it)
test-anytime: $(STAMP)
	.ci/anytime

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
