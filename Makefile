# werkbrug — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SERVICES := candidates vacancies matching aftercare reporting gateway
PACKAGES := -e libs/shared $(foreach s,$(SERVICES),-e services/$(s))

.PHONY: run test install lint unit integration clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "werkbrug needs Python 3.11 ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools==80.9.0 wheel

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt $(wildcard libs/shared/pyproject.toml services/*/pyproject.toml)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-build-isolation --no-deps $(PACKAGES)
	@touch $@

install: $(VENV)/.installed

## Run every service against RabbitMQ on localhost (SQLite files under var/ unless <SERVICE>_DATABASE_URL says otherwise).
run: install
	$(BIN)/werkbrug run

## Unit and integration tests (real RabbitMQ and PostgreSQL), plus lint.
test: install lint
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var test-artifacts
