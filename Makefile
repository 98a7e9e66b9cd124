# The two commands: `make demo` and `make test`. Both do all their set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast test-slow lint system-deps venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,wasm]'
	touch $(STAMP)

# The job part of the demo runs shell one-liners in a bubblewrap sandbox: install it if missing.
demo: venv
	@command -v bwrap >/dev/null || { echo "installing bubblewrap (the sandbox of the shell engine)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
	$(PY) scripts/demo.py

# System packages and services the integration tests need (Docker engine, nats-server, bubblewrap,
# clang for WASI). Idempotent: installs only what is missing, starts dockerd only if it is down.
system-deps:
	bash scripts/test-env.sh

lint: venv
	$(VENV)/bin/ruff check src tests bench scripts

# The default suite, then the slow suite in its own bounded step (CI runs both).
test: venv system-deps lint
	$(VENV)/bin/pytest -m "not slow" -q
	timeout 1800 $(VENV)/bin/pytest -m slow -q

test-fast: venv
	$(VENV)/bin/pytest -m "not slow and not docker and not nats" -q

# Dask (the noop baseline of latency.py) is installed for the benches only.
bench: venv
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/import.py
	$(PY) bench/latency.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
