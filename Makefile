# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo_out

.PHONY: install demo test test-all clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11+ is needed: set PYTHON=python3.x"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh $(DEMO_OUT)

test: $(STAMP)
	bash scripts/ensure_chromium.sh || true
	$(PY) -m pytest -q -m "not slow or ci" --timeout 600

test-all: $(STAMP)
	bash scripts/ensure_chromium.sh || true
	$(PY) -m pytest -q --timeout 1200

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
