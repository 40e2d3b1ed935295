# Two entry points for a newcomer: `make run` and `make test`. Each creates the
# virtual environment it needs (.venv) on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= examples/delivermon.toml

.PHONY: run check test lint bench bench-auth bench-ingest bench-dmarc bounce-accuracy bench-bounces clean fuzz load soak

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

# parsedmarc (the peer) lives in a venv of its own: it pulls in far more than we do.
PARSEDMARC_VENV ?= .venv-parsedmarc
$(PARSEDMARC_VENV)/.installed:
	python3 -m venv $(PARSEDMARC_VENV)
	$(PARSEDMARC_VENV)/bin/pip install --quiet 'parsedmarc==11.1.0'
	touch $@

bench-dmarc: $(VENV)/.installed $(PARSEDMARC_VENV)/.installed
	$(PY) bench/dmarc.py --parsedmarc-python $(PARSEDMARC_VENV)/bin/python

bench-bounces: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/bounce_parse.py

bounce-accuracy: $(VENV)/.installed
	$(PY) bench/bounce_accuracy.py

# Issue 12: reliability targets, not in CI; figures in docs/reliability.md.
# FUZZ_PARSERS: names from monitor/ingest/parsers.py (make fuzz FUZZ_PARSERS=dmarc_record).
FUZZ_SECONDS ?= 60
FUZZ_PARSERS ?= arf spf_record dmarc_aggregate
fuzz: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[fuzz]'
	for name in $(FUZZ_PARSERS); do \
		$(PY) bench/fuzz.py $$name -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

load: $(VENV)/.installed
	$(PY) bench/load.py

soak: $(VENV)/.installed
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
