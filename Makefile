# The two commands of the README: `make demo` (install what the demo needs, run the main job on the
# simulated markets and on the GOOGL series) and `make test` (set up, run every test). Both build the
# virtual environment .venv on first use.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
OUT ?= runs/demo

.PHONY: demo test setup clean

setup: $(VENV)/.installed

$(VENV)/.demo: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[markets]'
	touch $@

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test,cluster]'
	$(PYTHON) -m pip install --quiet torch==2.13.0
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/minidl onenow --out $(OUT)/onenow
	$(VENV)/bin/minidl onenow --prices googl --seeds 5 --out $(OUT)/googl

test: setup
	$(PYTHON) -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
