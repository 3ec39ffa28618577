# The two commands of the README:  `make demo` (the main job) and `make test` (the test suite).
# Each creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-all bench venv ray clean

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

# Optional: Ray, for `python -m training.compare --executor ray` (the tests of it skip without it).
ray: $(VENV)/.ray-installed

$(VENV)/.ray-installed: requirements-ray.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-ray.txt
	@touch $@

demo: $(STAMP)
	$(PY) -m training.compare

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)
	$(PY) -m pytest -m ""

bench: $(STAMP)
	$(PY) -m training.bench

clean:
	rm -rf $(VENV) .pytest_cache
