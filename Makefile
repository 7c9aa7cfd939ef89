# The commands of the README: `make demo`, `make test` and `make lint` (CI runs lint, then test). All set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean browser-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hallnet up --simulate

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's chromium (no browser download) and need a CJK font for the screens' Chinese.
# Installed here when missing and we may (root with apt-get); otherwise the tests say what to install.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and fonts-noto-cjk for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "browser tests need: sudo apt-get install chromium fonts-noto-cjk"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check shared services hallnet tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.queue_bench

clean:
	rm -rf $(VENV) .hallnet
