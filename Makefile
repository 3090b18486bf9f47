# One command to run, one to test; both set everything up on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt | sha256sum | cut -c1-12)
MAR := model_store/digits.mar
HOST ?= 127.0.0.1
PORT ?= 8000
CLASSIFIERS ?= 2
INTERFACES ?= 1

# Production settings for `check --deploy`: behind HTTPS, Redis, fresh random secrets.
PRODUCTION_ENV = DJANGO_SETTINGS_MODULE=inferapi.settings DEBUG=false HTTPS=true \
	REDIS_URL=redis://127.0.0.1:6379/0 ALLOWED_HOSTS=inferapi.example.com \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	JWT_SIGNING_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(40))')

.PHONY: venv model migrate run stack stack-down loadtest secrets test lint clean

venv: $(STAMP)

$(STAMP): requirements/web.txt requirements/model.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

model: $(MAR)

$(MAR): $(STAMP) torchserve/handler.py torchserve/train.py torchserve/archive.py torchserve/build.py
	$(PY) -m torchserve.build

migrate: $(STAMP)
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --no-input

run: $(MAR) migrate
	DEBUG=$${DEBUG:-true} $(PY) manage.py runserver $(HOST):$(PORT)

# The production topology on loopback (Nginx, gunicorn, Nginx, TorchServe) until Ctrl-C.
stack: $(STAMP) $(MAR)
	$(PY) -m stack up --classifiers $(CLASSIFIERS) --interfaces $(INTERFACES) \
		$(if $(DATABASE_URL),--database-url '$(DATABASE_URL)') \
		$(if $(REDIS_URL),--redis-url '$(REDIS_URL)') \
		$(if $(RATELIMIT_RATE),--ratelimit-rate '$(RATELIMIT_RATE)')

# Locust against three `make stack` topologies; writes docs/loadtest.md (a few minutes).
loadtest: $(STAMP) $(MAR)
	$(PY) -m bench.loadtest

stack-down: $(STAMP)
	$(PY) -m stack down

# Random secrets for docker compose, created once; never committed (.gitignore). The folder is
# private (0700); the files are readable (0644) because compose bind-mounts them into containers
# that run as non-root users.
SECRETS := secret_key jwt_signing_key postgres_password model_gateway_secret
secrets: $(addprefix secrets/,$(SECRETS))

secrets/%:
	@mkdir -p secrets
	@chmod 700 secrets && umask 022 && python3 -c 'import secrets; print(secrets.token_hex(32))' > $@
	@echo "wrote $@"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py makemigrations --check --dry-run
	$(PRODUCTION_ENV) $(PY) manage.py check --deploy --fail-level WARNING

test: $(MAR) lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) $(MAR) torchserve/build db.sqlite3
