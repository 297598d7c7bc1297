# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
IDP_MODULES := tests/idp/node_modules/.package-lock.json
AXE_MODULES := tests/e2e/node_modules/.package-lock.json
# What `make e2e` and CI's second run point the suite at.
SERVICES_ENV := DATABASE_URL=postgres://postgres@127.0.0.1:5432/sso_console \
	CACHE_URL=redis://127.0.0.1:6379/1 CELERY_BROKER_URL=redis://127.0.0.1:6379/0

.PHONY: run demo test e2e lint typecheck migrations-check check install clean worker bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

# The real OpenID Provider the tests sign in against (oidc-provider from npm).
$(IDP_MODULES): tests/idp/package.json tests/idp/package-lock.json
	npm ci --prefix tests/idp --no-audit --no-fund --loglevel=error
	touch $@

# axe-core, injected into each page of the end-to-end journeys.
$(AXE_MODULES): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
	touch $@

.env:
	printf 'DEBUG=True\nSITE_URL=http://127.0.0.1:8000\nDEFAULT_FROM_EMAIL=SSO console <sso-console@example.com>\n' > .env

install: $(VENV)/.run-installed

run: $(VENV)/.run-installed .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# The console with the tests' local OpenID Provider and DNS server, on
# loopback, and a seeded organization: the whole journey without an Okta
# account. Needs Node.js 20 (the IdP); Ctrl-C stops everything.
demo: $(VENV)/.test-installed $(IDP_MODULES)
	$(BIN)/python -m demo

test: $(VENV)/.test-installed $(IDP_MODULES) $(AXE_MODULES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The journeys in a real browser; needs chromium, PostgreSQL and Redis here.
e2e: $(VENV)/.test-installed $(IDP_MODULES) $(AXE_MODULES)
	$(SERVICES_ENV) E2E_REQUIRED=1 $(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Sign-in speed and scale next to stock mozilla-django-oidc; needs PostgreSQL,
# Redis and Node here. Writes docs/performance.md.
bench: $(VENV)/.test-installed $(IDP_MODULES)
	$(BIN)/python -m bench.run

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with django-stubs; pyproject.toml says which modules are held to --strict.
typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

# Fails when a model changed without a migration. Needs no .env (DEBUG gives
# the development defaults) and touches no database of yours.
migrations-check: $(VENV)/.run-installed
	DJANGO_SETTINGS_MODULE=config.settings DEBUG=True DATABASE_URL=sqlite://:memory: \
		$(BIN)/python manage.py makemigrations --check --dry-run

# All three, as CI (.ci/run) runs them before the tests.
check: lint typecheck migrations-check

worker: $(VENV)/.run-installed
	$(BIN)/celery -A config worker --loglevel=INFO

clean:
	rm -rf $(VENV) tests/idp/node_modules tests/e2e/node_modules staticfiles
