# Two entry points (see README): `make evaluate` and `make test`. Both create ./.venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skemotion-installed
TORCH_VERSION ?= 2.13.0
# The CPU build of torch, named by its local version "+cpu", from pip's own configuration
# (a wheel on the machine via --find-links / pip.conf, its dependencies from the default
# index). Elsewhere, point TORCH_CPU_INDEX at the PyTorch CPU wheel index to get it from
# there (pip's --extra-index-url: only that index is added); with neither, the plain
# torch release is installed, which on Linux is the much larger CUDA build (it runs on
# the CPU too).
TORCH_CPU_INDEX ?=

.PHONY: install evaluate test lint docs bench ravdess clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)+cpu" \
		|| { test -n "$(TORCH_CPU_INDEX)" && $(PY) -m pip install --quiet \
			"torch==$(TORCH_VERSION)+cpu" --extra-index-url "$(TORCH_CPU_INDEX)"; } \
		|| $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[test,video,face,embed,lint,docs]"
	touch $(STAMP)

install: $(STAMP)

evaluate: $(STAMP)
	$(VENV)/bin/skemotion evaluate --output skemotion-results --n-jobs -1

# The full check CI runs: lint, types, the docs site, then the test suite.
# Two pytest-xdist workers, a whole test file each (module fixtures built once); the
# session corpora are generated once for both (conftest.py).
test: lint docs
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check skemotion benchmarks examples conftest.py
	$(VENV)/bin/ruff format --check skemotion benchmarks examples conftest.py
	$(VENV)/bin/mypy skemotion

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/run_all.py --output benchmarks-results.json

# The paper's speech-only protocol on the real RAVDESS clips (../shared/data/ravdess).
ravdess: $(STAMP)
	$(PY) benchmarks/ravdess_speech_protocol.py --output runs/ravdess_speech

clean:
	rm -rf $(VENV) site skemotion-results
