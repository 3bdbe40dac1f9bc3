# The two commands of the README: `make demo` (install what the demo needs, run the main job on the
# simulated markets and on the GOOGL series) and `make test` (set up, run every test). Both build the
# virtual environment .venv on first use.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
OUT ?= runs/demo

.PHONY: demo test setup check-install clean

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

# A plain `pip install .` (no extras) in a fresh virtual environment runs the main job.
check-install:
	rm -rf build/plain-venv build/plain-run
	python3 -m venv build/plain-venv
	build/plain-venv/bin/python -m pip install --quiet --upgrade pip
	build/plain-venv/bin/python -m pip install --quiet .
	cd build && plain-venv/bin/minidl onenow --quick --no-progress --out plain-run
	test -s build/plain-run/report.md

clean:
	rm -rf $(VENV) runs build .pytest_cache
