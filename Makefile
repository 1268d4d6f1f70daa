# Two commands on a fresh machine: `make run` and `make test`.
# Without DATABASE_URL / REDIS_URL, devstack starts embedded PostgreSQL and Redis under var/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Stamp newer than pyproject.toml <=> the venv has the project's current dependencies.
INSTALLED := $(VENV)/.installed

PORT ?= 8000
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: help run test bench lint clean distclean install system-packages-run system-packages-test translations

help:
	@echo "make run    web + worker + beat on http://127.0.0.1:$(PORT) (PORT=... to change)"
	@echo "make test   lint and the whole test suite"
	@echo "make lint   ruff check"
	@echo "make bench  benchmarks, if any"
	@echo "make clean  remove var/ (embedded databases) and caches; distclean also removes .venv"

$(BIN)/pip:
	@# A failed venv (no python3-venv/ensurepip) must not look like a good one next time.
	python3 -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "Creating the venv failed; on Debian/Ubuntu: sudo apt-get install -y python3-venv" >&2; exit 1; }

$(INSTALLED): pyproject.toml | $(BIN)/pip
	$(BIN)/pip install -e '.[test]'
	touch $@

install: $(INSTALLED)

system-packages-run:
	@bash devstack/system-packages.sh run

system-packages-test:
	@bash devstack/system-packages.sh test

# Only when the catalogues exist: then a broken .po must fail the build, not be skipped.
translations: $(INSTALLED)
	@if [ -d web/translations ]; then $(BIN)/pybabel compile -d web/translations; fi

run: $(INSTALLED) system-packages-run translations
	@mkdir -p var/dev
	@# honcho gives the first Procfile entry (web) PORT=-p; without -p it would use $$PORT or 5000.
	PATH="$(CURDIR)/$(BIN):$$PATH" BASE_URL="$${BASE_URL:-http://127.0.0.1:$(PORT)}" \
	  $(PY) -m devstack run --profile dev -- \
	  sh -c 'buurtgezinnen migrate && buurtgezinnen seed-demo && exec honcho start -f Procfile -p $(PORT)'

test: $(INSTALLED) system-packages-test translations
	@# pytest exit 5 = nothing collected: a suite that silently vanished is a failure, not a pass.
	@status=0; \
	$(PY) -m devstack run --profile test -- \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; status=1; fi; \
	$(BIN)/ruff check . || status=1; \
	exit $$status

lint: $(INSTALLED)
	$(BIN)/ruff check .

bench: $(INSTALLED)
	@if [ -f bench/__init__.py ] || [ -f bench/__main__.py ]; then \
	  $(PY) -m devstack run --profile test -- $(PY) -m bench; \
	else echo "no benchmarks yet"; fi

clean:
	rm -rf var .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.mo' -type f -exec rm -f {} +

distclean: clean
	rm -rf $(VENV)
