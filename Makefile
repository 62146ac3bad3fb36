# The README's two commands: `make demo` (the whole pipeline on built-in synthetic data) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: env test demo clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .    # the package itself, for the Python API (import vp3d)
	touch $@

test: env
	$(PY) -m pytest -q

clean:   # demo_run/ only when the demo made it (scripts/demo.sh marks its folder)
	rm -rf $(VENV) .pytest_cache
	if [ -f demo_run/.vp3d_demo ]; then rm -rf demo_run; fi

demo: env
	bash scripts/demo.sh $(PY) demo_run
