# One entry point for people and CI. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := starlette,flask,crypto,postgres,async,dev

.PHONY: install test lint typecheck pytest coverage demo bench browser clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wxpay-mw needs Python 3.11 or newer: set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check wxpay_mw adapters tests examples bench
	$(BIN)/ruff format --check wxpay_mw adapters tests examples bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite under coverage, with the floor set in pyproject.toml.
coverage: install
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report

test: lint typecheck browser coverage

# The browser test drives Debian's Chromium (never a downloaded browser). As root with
# apt-get (CI, these machines) it is installed when missing; elsewhere the browser test
# says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium; the browser test will say so"; \
	  else echo "chromium not found: 'apt-get install chromium' to run the browser test"; fi; }

demo: install
	$(BIN)/python -m examples.demo

bench: install
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build *.egg-info
