# needlescreen: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PY311 := $(shell scripts/find-python 3.11 || command -v python3)
PY313 := $(shell scripts/find-python 3.13)
VENV := .venv
VENV313 := .venv313
# make demo installs the package as a user would (a wheel, not editable, no dev tools) in a venv of its own,
# with the server extra, so `needlescreen serve` works there as the README says.
VENV_DEMO := .venv-demo
DEMO_SOURCES := pyproject.toml README.md $(shell find src rules -type f -not -name '*.pyc' 2>/dev/null)
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: demo test test-313 lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[dev,server,web,web-test,fhir,charts]'
	touch $@

$(VENV313)/.installed: pyproject.toml
	@if [ -z "$(PY313)" ]; then echo "Python 3.13 not found (needed to test the plain-Python engine path)"; exit 1; fi
	$(PY313) -m venv $(VENV313)
	$(VENV313)/bin/pip install $(PIP_FLAGS) -e '.[dev,server,web,web-test,fhir,charts]'
	touch $@

$(VENV_DEMO)/.installed: $(DEMO_SOURCES)
	[ -x $(VENV_DEMO)/bin/python ] || $(PY311) -m venv $(VENV_DEMO)
	$(VENV_DEMO)/bin/pip install $(PIP_FLAGS) '.[server,web,fhir]'
	touch $@

## Screen the bundled example patient and print the verdict with its reasons.
demo: $(VENV_DEMO)/.installed
	@$(VENV_DEMO)/bin/needlescreen check examples/cipn-electrical.json; s=$$?; \
	  if [ $$s -eq 0 ] || [ $$s -eq 10 ] || [ $$s -eq 20 ]; then exit 0; else exit $$s; fi

## Lint, type-check and run the whole suite on Python 3.11 (durable_rules) and 3.13 (plain evaluator).
## The suite on every core (pytest-xdist): Python 3.11 with durable_rules, then the browser tests on their own
## (the Playwright driver keeps an event loop in its process's main thread), then Python 3.13 with the plain
## evaluator, without the slow integration checks (services, processes, benchmarks) the 3.11 run has made.
test: lint $(VENV)/.installed $(VENV313)/.installed
	$(VENV)/bin/python -m pytest -n auto --dist worksteal --ignore=tests/web
	$(VENV)/bin/python -m pytest tests/web
	$(VENV313)/bin/python -m pytest -n auto --dist worksteal --ignore=tests/web -m "not slow"

## Benchmarks: latency per engine, batch throughput, cold start, memory (prints a table, writes JSON).
bench: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.run

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(VENV313) $(VENV_DEMO) build .pytest_cache .mypy_cache .ruff_cache
