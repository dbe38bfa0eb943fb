# Quick start: `make demo`, `make test`. `make test-all`: the suite under every CPython the package claims.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: demo test test-all lint pytest bench venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e '.[test,servers]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m gurumeditation demo

lint: $(STAMP)
	$(PY) -m ruff check src tests $(wildcard benchmarks)
	$(PY) -m mypy

pytest: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test: lint pytest

# Every CPython >= requires-python found (pyenv, python3.X on PATH), each in its own .venv-3.X;
# fails on any failure, one summary line per interpreter. TEST_ALL_ARGS: e.g. --skip-default,
# --only 3.9,3.13. PYTEST_ARGS reach every run.
test-all:
	$(PYTHON) .ci/test_all.py --default $(PYTHON) $(TEST_ALL_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-3.* build dist .pytest_cache .mypy_cache .ruff_cache
