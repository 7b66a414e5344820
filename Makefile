# Two commands on a fresh machine:  make demo  and  make test
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
NP     ?= 3

.PHONY: demo test bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[mpich,scoop,analysis,test]"
	$(PY) -m compileall -q hpcpet  # bytecode, as a wheel install has (PYTHONDONTWRITEBYTECODE stops lazy writes)
	touch $@

## demo: create .venv, install hpcpet with the mpich wheel, run an exploration under mpiexec
demo: $(VENV)/.installed
	@mkdir -p out
	$(VENV)/bin/mpiexec -n $(NP) $(PY) -m hpcpet run examples/product.py -o out/demo.h5 --overwrite --progress log
	@$(PY) -m hpcpet info out/demo.h5
	@echo
	@echo "Results are in $(CURDIR)/out/demo.h5  (load with: import hpcpet; hpcpet.load('out/demo.h5'))"

## test: the full test suite (MPI and SCOOP tests included)
test: $(VENV)/.installed
	$(PY) -m pytest -q tests

## bench: every benchmark, side by side with its peers (pypet, mpi4py.futures)
bench: $(VENV)/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf out build *.egg-info .pytest_cache
