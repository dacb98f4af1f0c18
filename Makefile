# Two entry points (see README): `make evaluate` and `make test`. Both create ./.venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skemotion-installed
TORCH_VERSION ?= 2.13.0
# The CPU build, named by its local version "+cpu": pip's own search first (a wheel on the
# machine via --find-links / pip.conf, its dependencies from PyPI), the PyTorch CPU index only
# when no such wheel is at hand, so the CUDA build (several GB) is never pulled.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install evaluate test lint docs bench ravdess clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)+cpu" \
		|| $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)+cpu" \
			--index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple
	$(PY) -m pip install --quiet -e ".[test,video,face,embed,lint,docs]"
	touch $(STAMP)

install: $(STAMP)

evaluate: $(STAMP)
	$(VENV)/bin/skemotion evaluate --output skemotion-results --n-jobs -1

# The full check CI runs: lint, types, the docs site, then the test suite.
test: lint docs
	$(PY) -m pytest -q --durations=15

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
