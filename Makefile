# The two set-up commands of the README: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint i18n bench clean

$(BIN)/keyrelay: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

## Install and run the demo store on the embedded SQLite database (http://127.0.0.1:8000).
demo: $(BIN)/keyrelay
	$(BIN)/keyrelay serve --demo

## Install the test dependencies, start the services the tests need, run lint + type checks + the whole suite.
test:
	scripts/test

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

i18n:
	scripts/i18n.sh

bench: $(BIN)/keyrelay
	$(BIN)/python bench/import_keys.py --n 1000000 --backend both

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
