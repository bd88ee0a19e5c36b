# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV := .tools/checkov
CHECKOV_VERSION := 3.3.30
# Tools the container, synth and rehearsal tests run, as "command:Debian package".
SYSTEM_TOOLS := podman:podman buildah:buildah mmdebstrap:mmdebstrap runc:runc newuidmap:uidmap \
	fuse-overlayfs:fuse-overlayfs update-ca-certificates:ca-certificates node:nodejs npm:npm

.PHONY: install demo test lint system tools models clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,conformance,deploy,sources]'
	touch $@

demo: install
	$(PY) -m infer.demo

# System packages: installed with apt-get when missing (as root), otherwise one line says what to run.
system:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing (apt-get)"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "the tests need:$$missing; install them with: sudo apt-get install$$missing" >&2; exit 2; \
		fi; \
	fi

# The CDK CLI, pinned in package-lock.json, in ./node_modules; checkov in a virtual environment of its own
# (it pins versions of packaging and boto3 that the project's other tools cannot share).
tools: system node_modules/.installed $(CHECKOV)/.installed-$(CHECKOV_VERSION)

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit --silent
	touch $@

# The stamp names the version: changing the pin reinstalls.
$(CHECKOV)/.installed-$(CHECKOV_VERSION):
	test -x $(CHECKOV)/bin/python || $(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	rm -f $(CHECKOV)/.installed*
	touch $@

# The lint and type gate (rules in pyproject.toml), then every test.
lint: install
	$(VENV)/bin/ruff check infer cdk tests benchmarks models
	$(VENV)/bin/mypy

test: lint tools
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" CHECKOV="$(CURDIR)/$(CHECKOV)/bin/checkov" \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(PY) -m pytest

models: install
	$(PY) models/build.py

clean:
	rm -rf $(VENV) .tools node_modules build *.egg-info .pytest_cache
