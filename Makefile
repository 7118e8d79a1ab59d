# Two commands on a fresh machine: `make demo` and `make test` (`make lint` for CI).
# Both install what is missing (system packages, .venv, the project) and are
# idempotent: a second run installs nothing.
SHELL := bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.descent-installed
# pip finds the CPU build of torch on the project's machines in /opt/wheels.
PIP_EXTRA := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: demo test lint install system-deps system-deps-test bench clean

demo: install
	$(BIN)/descent render

# Two workers; --dist loadgroup keeps each xdist_group (the wheel tests) on one worker.
test: install system-deps-test
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy trainer

install: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

system-deps-test:
	@bash scripts/install-system-deps.sh --test

# tests/test_wheel.py builds the wheel without build isolation (offline), so the venv needs a
# setuptools that builds wheels by itself (bdist_wheel is built in from 70.1); a fresh venv has 65.
$(STAMP): pyproject.toml setup.py Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(PIP_EXTRA) -e '.[test]' 'setuptools>=70.1' 2>&1 | { grep -v '^WARNING: Location' || true; }
	@touch $(STAMP)

bench: install
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) build *.egg-info
