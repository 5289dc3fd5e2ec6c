# Two commands, each doing all set-up on a fresh machine (a venv in .venv, the package built from source):
#   make demo    the same model on every usable device
#   make test    the whole test suite
# and: make bench (adds PyTorch CPU, and Intel MKL on x86-64, to the venv), make conformance DEVICE=opencl
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := install
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# build/modules.txt changes when a module is added or removed: the editable install maps each module to its file, so
# that needs a reinstall (edits to existing modules do not).  The example plugin is installed as a copy.
MODULES := build/modules.txt
SOURCES := pyproject.toml CMakeLists.txt $(wildcard kernels/*.py kernels/*.h kernels/cpu/* kernels/opencl/*.cpp) \
           $(MODULES) \
           $(wildcard examples/numpy_backend/pyproject.toml examples/numpy_backend/src/*/*.py)

$(MODULES): FORCE
	@mkdir -p build
	@find dispatch backends kernels tensorswitch -name '*.py' | sort > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@

.PHONY: FORCE

$(STAMP): $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@echo "== building the C++ core (CMake, about a minute; its steps are shown) and installing tensorswitch[opencl,test,plot]"
	$(PY) -m pip install -v -e ".[opencl,test,plot]" 2>&1 | \
	  { grep --line-buffered -E '^ *\[ *[0-9]+%\]|^ *-- (Configuring|Generating|Build files)|^Successfully|^ERROR|error:' || true; }
	$(PY) -m pip install --quiet --no-deps ./examples/numpy_backend
	$(PY) tools/unlist_editable_finder.py
	touch $@

.PHONY: install demo test bench conformance clean
install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tensorswitch.demo

# the suite runs in TEST_WORKERS processes (pytest-xdist; most of its time is OpenCL kernel builds, one core each):
# TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --hypothesis-seed=0 -n $(TEST_WORKERS) --durations=15

bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 "mkl>=2024.1; platform_machine == 'x86_64'"
	$(PY) bench/bench.py

DEVICE ?= cpu
conformance: $(STAMP)
	$(PY) -m tensorswitch.conformance --device $(DEVICE)

clean:
	rm -rf $(VENV) build

# make gpu-check: the cuda backend on a machine with an NVIDIA GPU (tools/gpu_check.py): tests/test_cuda.py, the
# conformance suite on cuda and a few timings, reported in build/gpu-check/REPORT.md; CuPy's extra is installed if it
# is missing.  Without a GPU it stops at once, with one line and a non-zero status.  Without internet:
# make gpu-check WHEELS=folder, with the wheels downloaded beforehand (tools/gpu_check.py says which).
WHEELS ?=
.PHONY: gpu-check
gpu-check:
	@$(PYTHON) tools/gpu_check.py --probe
	$(if $(WHEELS),PIP_NO_INDEX=1 PIP_FIND_LINKS=$(abspath $(WHEELS)) )$(MAKE) --no-print-directory install
	$(PY) tools/gpu_check.py $(if $(WHEELS),--wheels $(abspath $(WHEELS)))
