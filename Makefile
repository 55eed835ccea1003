# The desk's two commands: `make run` and `make test`. Everything else they need, they install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint bench browser-deps venv clean

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the desk needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.runtime: $(VENV)/.created requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.dev

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py rundesk --port $(PORT)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

# The browser tests drive Debian's Chromium (no browser download). Without root or the package they skip, saying why.
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
		|| echo "make: could not install chromium: the browser tests will be skipped"

test: lint browser-deps
	$(VENV)/bin/pytest

# Benchmarks, one JSON object per line, each against its baseline measured in the same run. Never part of test.
bench: $(VENV)/.dev
	$(PY) -m tests.bench.run

clean:
	rm -rf $(VENV) desk.sqlite3 desk.sqlite3-* staticfiles .pytest_cache
