# The two commands of the README:  `make demo` (the main job) and `make test` (the test suite).
# Each creates the local virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-all bench venv ray clean report-screenshots tutorials tutorials-html

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

# The project's CI keeps an offline copy of Tiny Shakespeare beside the checkout and passes it; elsewhere the
# folder is absent and TFDS downloads the corpus once (offline: `make demo CORPUS_DIR=<folder with input.txt>`).
CORPUS_DIR ?= $(patsubst %/input.txt,%,$(wildcard ../shared/corpora/tiny_shakespeare/input.txt))

demo: $(STAMP)
	$(PY) -m training.compare $(if $(CORPUS_DIR),--corpus-dir $(CORPUS_DIR))

# Look at a report as a reader would: rebuild it and write headless-Chromium screenshots of its top and of
# each section to <sweep>/report/screens/. SWEEP defaults to the newest sweep under saved_models/.
SWEEP ?= $(lastword $(sort $(wildcard saved_models/compare-*)))
report-screenshots: $(STAMP)
	@test -n "$(SWEEP)" || { echo "no sweep: run 'make demo' first or pass SWEEP=<sweep folder>"; exit 2; }
	$(PY) -m training.report $(SWEEP) --screenshots

# One pytest worker process per CPU (pytest-xdist), each test file on one worker so that its module
# fixtures are built once: on the 2-core machine the suite took 7 min 38 s instead of 17 min 48 s (commit
# f0d4046, `pytest -n 2 --dist loadfile` against `pytest`, one after the other on the idle machine).
# The tutorials (tests/test_tutorials.py) therefore run one after the other on one worker. `--dist
# loadgroup` (one group per tutorial) does not work with pytest 9.2 and pytest-xdist 3.8: xdist writes the
# group into `item._nodeid`, which pytest 9 no longer reads, so every group is ignored.
test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadfile

# The slow tests include speed ratios and a whole quick sweep: they run one at a time.
test-all: $(STAMP)
	$(PY) -m pytest -m ""

# The tutorials in Jupyter Lab (installed into .venv on first use), on the kernel `rnn-zoo` of .venv.
tutorials: $(STAMP) $(VENV)/.jupyterlab-installed
	$(PY) -m ipykernel install --sys-prefix --name rnn-zoo --display-name "rnn-zoo (.venv)"
	$(PY) -m training.tutorials ipynb
	$(VENV)/bin/jupyter lab docs/tutorials

$(VENV)/.jupyterlab-installed: $(STAMP)
	$(PY) -m pip install --quiet "jupyterlab>=4.2,<5"
	@touch $@

# Execute every tutorial and write docs/tutorials/rendered/NN_name.html (figures and outputs included).
tutorials-html: $(STAMP)
	$(PY) -m training.tutorials html

bench: $(STAMP)
	$(PY) -m training.bench

clean:
	rm -rf $(VENV) .pytest_cache
