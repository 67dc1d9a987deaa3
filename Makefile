# cityhall — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint pytest bench browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

## demo: fresh SQLite, sample data, web + worker + clock on http://127.0.0.1:5000
demo: $(STAMP)
	$(BIN)/cityhall demo

## test: lint (ruff, mypy) and the whole suite (PostgreSQL too when TEST_DATABASE_URL is set)
test: $(STAMP) browser lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

## browser: Debian's Chromium + CJK fonts for the end-to-end tests (skipped if it cannot install)
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and fonts-noto-cjk for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
		|| echo "could not install chromium: browser tests will be skipped"; \
	fi

## bench: benchmarks with their figures (see README)
bench: $(STAMP)
	@failed=""; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "targets missed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) var/demo *.egg-info
