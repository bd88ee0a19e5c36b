# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint models clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,conformance,deploy]'
	touch $@

demo: install
	$(PY) -m infer.demo

# The lint and type gate (rules in pyproject.toml), then every test.
lint: install
	$(VENV)/bin/ruff check infer cdk tests benchmarks models
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

models: install
	$(PY) models/build.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
