# Two commands, each doing all set-up on a fresh machine (a venv in .venv, the package built from source):
#   make demo    the same model on every usable device
#   make test    the whole test suite
# and: make bench (adds PyTorch CPU to the venv), make conformance DEVICE=opencl
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

SOURCES := pyproject.toml CMakeLists.txt $(wildcard kernels/*.py kernels/*.h kernels/cpu/*) \
           $(wildcard examples/numpy_backend/pyproject.toml)

$(STAMP): $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[opencl,test,plot]"
	$(PY) -m pip install --quiet --no-deps ./examples/numpy_backend
	touch $@

.PHONY: install demo test bench conformance clean
install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tensorswitch.demo

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider --hypothesis-seed=0

bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) bench/bench.py

DEVICE ?= cpu
conformance: $(STAMP)
	$(PY) -m tensorswitch.conformance --device $(DEVICE)

clean:
	rm -rf $(VENV) build
