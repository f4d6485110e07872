# werkbrug — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SERVICES := candidates vacancies matching aftercare reporting gateway
PACKAGES := -e libs/shared $(foreach s,$(SERVICES),-e services/$(s))

.PHONY: run test install lint unit integration clean board-vendor docs-vendor

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

## The board page's chart library is committed under static/board/vendor/ (so run, test and the image
## need no node); this refreshes it from the version pinned in package-lock.json (needs node and npm).
BOARD_UI := services/gateway/board-ui
BOARD_VENDOR := services/gateway/gateway/static/board/vendor
board-vendor:
	cd $(BOARD_UI) && npm ci --no-audit --no-fund
	cp $(BOARD_UI)/node_modules/chart.js/dist/chart.umd.min.js $(BOARD_VENDOR)/
	{ cat $(BOARD_UI)/node_modules/chart.js/LICENSE.md; \
	  printf '\n\nchart.umd.min.js bundles @kurkle/color %s:\n\n' \
	    "$$(node -p 'require("./$(BOARD_UI)/node_modules/@kurkle/color/package.json").version')"; \
	  cat $(BOARD_UI)/node_modules/@kurkle/color/LICENSE.md; } > $(BOARD_VENDOR)/chart.js.LICENSE.md

## The API documentation page (GET /v1/docs) renders /v1/openapi.json with Redoc, committed under
## static/docs/vendor/ like Chart.js; this refreshes it from docs-ui/package-lock.json (needs node and npm).
## Only the standalone bundle is copied: it carries its own React; no install script runs.
DOCS_UI := services/gateway/docs-ui
DOCS_VENDOR := services/gateway/gateway/static/docs/vendor
docs-vendor:
	cd $(DOCS_UI) && npm ci --no-audit --no-fund --ignore-scripts
	mkdir -p $(DOCS_VENDOR)
	cp $(DOCS_UI)/node_modules/redoc/bundles/redoc.standalone.js $(DOCS_VENDOR)/
	{ cat $(DOCS_UI)/node_modules/redoc/LICENSE; \
	  printf '\n\nredoc.standalone.js bundles these, each under its own licence:\n\n'; \
	  cat $(DOCS_UI)/node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt; } > $(DOCS_VENDOR)/redoc.standalone.js.LICENSE.txt

clean:
	rm -rf $(VENV) var test-artifacts
