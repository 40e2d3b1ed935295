# Two entry points for a newcomer: `make run` and `make test`. Each creates the
# virtual environment it needs (.venv) on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/delivermon.toml

.PHONY: run check test lint bench bench-auth bench-ingest bounce-accuracy bench-bounces clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fast]'
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/delivermon run --config $(CONFIG)

check: $(VENV)/.installed
	$(VENV)/bin/delivermon check --config $(CONFIG)

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/dnsbl_sweep.py

bench-auth: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/auth_checks.py

bench-ingest: $(VENV)/.installed
	$(PY) bench/ingest.py

bench-bounces: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/bounce_parse.py

bounce-accuracy: $(VENV)/.installed
	$(PY) bench/bounce_accuracy.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
