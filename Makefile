# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test models clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,conformance,deploy]'
	touch $@

demo: install
	$(PY) -m infer.demo

test: install
	$(PY) -m pytest

models: install
	$(PY) models/build.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
