# The two commands: `make demo` and `make test`. Both set up .venv from pinned versions first.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench lock clean browser postgres

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/govreg demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium for the tests that look at the UI (installs once; quiet afterwards).
browser:
	bash scripts/ensure-chromium.sh

# A private PostgreSQL cluster on 127.0.0.1:55432: the store tests run on it as well as on SQLite.
PG_URL := postgresql+psycopg://postgres@127.0.0.1:55432/postgres
postgres:
	bash scripts/ensure-postgres.sh

test: $(STAMP) browser postgres lint typecheck
	GOVREG_TEST_PG=$(PG_URL) $(BIN)/pytest -n 2 --dist loadscope -q

bench: $(STAMP)
	$(BIN)/python bench/declarations.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/lineage.py
	$(BIN)/python bench/graphql.py
	$(BIN)/python bench/cli.py

# Re-pin after changing dependencies: resolves in a throw-away venv and writes requirements.lock.
lock:
	rm -rf /tmp/govreg-lock && $(PYTHON) -m venv /tmp/govreg-lock
	/tmp/govreg-lock/bin/python -m pip install -q -e '.[dev]'
	/tmp/govreg-lock/bin/python -m pip freeze --exclude-editable | grep -v '^govreg' > requirements.lock

clean:
	rm -rf $(VENV) .govreg demo-out
