VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest

.PHONY: install test test-all lint bench drill-demo clean

install:            ## system packages + .venv with drkit and its test extras
	./scripts/install.sh

test:               ## the default suite (unit + integration against real servers); no slow tests
	$(PYTEST) -m "not slow" -q

test-all:           ## everything, big-data and slow tests included
	$(PYTEST) -q

lint:               ## ruff (lint and format, pinned in pyproject's test extra) and strict mypy
	$(VENV)/bin/ruff check drkit storage_backends tests bench
	$(VENV)/bin/ruff format --check drkit storage_backends tests bench scripts
	$(VENV)/bin/mypy

bench:              ## prints drkit's figures next to restic's, as ratios
	$(PY) bench/stdin.py

drill-demo:         ## a full restore drill on the embedded defaults (sample files, local repository)
	./scripts/drill-demo.sh

clean:
	rm -rf .pytest_cache build *.egg-info
