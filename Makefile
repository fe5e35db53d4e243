# paperlake: every target creates .venv when it is missing (or when pyproject.toml or uv.lock changed).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs exactly what uv.lock pins (PyPI only), never a Python of its own. uv itself is pinned in the
# dev extra, so the sync keeps it; pip bootstraps that same version from the lock into a new .venv.
# --compile-bytecode: every module compiled once at install; where PYTHONDONTWRITEBYTECODE is set (many
# containers and CI images) each process would compile ~2,000 modules again (seconds per command).
UV_VERSION := $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' uv.lock)
SYNC := $(BIN)/uv sync --frozen --no-python-downloads --compile-bytecode --extra dev
export DAGSTER_HOME ?= $(CURDIR)/.dagster
CHROMIUM := /usr/bin/chromium
POSTGRES := /usr/lib/postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast ui lint fmt clean fuzz e2e bench eval sql

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(SYNC)
	touch $(STAMP)

run: $(STAMP)  ## the whole pipeline through Dagster on $PAPERLAKE_RAW_DIR (default data/raw)
	$(BIN)/paperlake run

sql: $(STAMP)  ## the duckdb shell on the published version (read-only; extensions loaded by path)
	$(BIN)/paperlake sql

$(CHROMIUM):  ## Debian's chromium for the UI screenshot test (never a browser download by playwright)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

$(POSTGRES):  ## Debian's PostgreSQL server, started by tests/postgres.py for the PostgreSQL instance and lake tests
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql

test: $(STAMP) $(CHROMIUM) $(POSTGRES)  ## unit, contract, Dagster, CLI, crash, fuzz, UI (Chromium), PostgreSQL tests
	$(BIN)/pytest

test-fast: $(STAMP)  ## the edit loop (< 60 s): unit, contract and direct-check tests; no Dagster run, no program started
	$(BIN)/pytest -m "not dagster and not subprocess and not slow"

e2e: $(STAMP) $(CHROMIUM)  ## only the UI test: webserver, GraphQL, lineage screenshot in tests/artifacts/
	$(BIN)/pytest tests/test_e2e_ui.py

ui: $(STAMP)  ## Dagster webserver + daemon on 127.0.0.1:3000 (sensor and schedule tick)
	$(BIN)/python -c "from pipelines.instance import ensure_dagster_home; ensure_dagster_home()"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: $(STAMP)  ## uv.lock up to date with pyproject.toml (make installs it --frozen), then ruff
	$(BIN)/uv lock --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf data/out .dagster

FUZZ_INPUTS ?= 100000
fuzz: $(STAMP)  ## long campaigns: property-based (FUZZ_EXAMPLES per property, default 5000), then differential (FUZZ_INPUTS damaged captures)
	HYPOTHESIS_PROFILE=campaign $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py --hypothesis-show-statistics
	mkdir -p tests/artifacts
	$(BIN)/python -m tests.damage --inputs $(FUZZ_INPUTS) --out tests/artifacts/damage_campaign.json

BENCH_FILES ?= 1000
BENCH_WORK ?= /tmp/paperlake-bench
BENCH_ARGS ?=
bench: $(STAMP)  ## scale benchmark beside its baselines (bench/results/bench_N*.{json,md}); BENCH_FILES=10000 for 1 GB; BENCH_ARGS="--popular 1.1" for the popular-papers corpus
	$(SYNC) --extra eval
	BENCH_WORK=$(BENCH_WORK) $(BIN)/python -m bench.run --files $(BENCH_FILES) $(BENCH_ARGS)
	PAPERLAKE_OUT_DIR=$(BENCH_WORK)/$(BENCH_FILES)/out $(BIN)/python bench/queries.py

eval: $(STAMP)  ## resolution / dates / links quality vs labels, side by side with Splink; 600k-sighting speed
	$(SYNC) --extra eval
	$(BIN)/python -m eval.run
