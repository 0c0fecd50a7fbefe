# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint sandbox migrate bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Runs the bot on Telegram when TELEGRAM_BOT_TOKEN is set (.env), else the local sandbox.
run: $(VENV)/.installed
	$(PY) -m bot

# Lint, type check, then the tests on SQLite and on a private PostgreSQL cluster, in
# parallel (pytest-xdist, one worker per core; plain `pytest -q` runs them one by one).
test: $(VENV)/.installed
	$(MAKE) lint
	scripts/with-postgres.sh $(PY) -m pytest -q -n auto

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

sandbox: $(VENV)/.installed
	$(PY) -m bot sandbox --demo

migrate: $(VENV)/.installed
	$(PY) -m bot migrate

bench: $(VENV)/.installed
	$(PY) bench/dialog_load.py --quick
	$(PY) bench/speech.py
	$(PY) bench/pictos.py
	$(PY) bench/agenda.py
	$(PY) bench/chat_shape.py
	$(PY) bench/processes.py --clients 20

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
