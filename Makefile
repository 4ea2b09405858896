# AnzenPay. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/anzenpay
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck unit e2e bench messages worker beat check-services clean

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# S08: debug is off unless asked for. The demo asks: the server, the seed commands (which refuse to run
# without it: their passwords are published) and the developer inbox all need it.
run worker beat messages: export DJANGO_DEBUG := 1

# The demo runs the production engine: PostgreSQL (an embedded server in var/pgdata unless DATABASE_URL is set),
# a Celery worker and beat (broker: a folder in var/celery unless REDIS_URL is set), then runserver. scripts/demo.py
# starts them, prints the logins and URLs last, and stops every one of them when runserver stops (Ctrl-C).
run: export HOST := $(HOST)
run: export PORT := $(PORT)
run: $(STAMP)
	@$(PY) scripts/demo.py

# The whole suite on PostgreSQL and Redis: lint, type check, unit, integration, browser. The tests and mypy load
# tests/settings.py (the development settings); tests of production behaviour start their own DJANGO_DEBUG=0 process.
test: export DJANGO_DEBUG := 1
test: $(STAMP) check-services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_TASK_ALWAYS_EAGER=1 DJANGO_LANGUAGE_CODE=en \
		$(PY) -m pytest $(PYTEST_ARGS)

check-services: $(STAMP)
	@$(PY) scripts/check_services.py "$(TEST_DATABASE_URL)" "$(TEST_REDIS_URL)"

# Each benchmark ends with one `RESULT …` line; bench/common.py and bench/pgtools.py are their shared helpers.
BENCHES ?= bench/payments.py bench/risk.py bench/hunt.py bench/mass_reset.py bench/payouts.py

bench: $(STAMP) check-services
	@for b in $(BENCHES); do DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) $$b || exit 1; done

messages: $(STAMP)
	$(PY) manage.py makemessages -l ja -l en --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

# A worker or beat of their own, for a stack whose DATABASE_URL and REDIS_URL are set (`make run` starts both itself).
worker: $(STAMP)
	$(VENV)/bin/celery -A config worker -Q default,notifications,bulk,payouts -l INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat -l INFO

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
