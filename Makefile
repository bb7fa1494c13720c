# Set-up is `make run` and `make test`; both create .venv and install the package into it.
# `make run` installs only what running needs; the test extras (PyTorch, pytest, Dask, the
# CUDA simulator) come with `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/batch-size

.PHONY: run test test-numba-floor bench bench-cuda clean

$(BIN)/runner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-extras: $(BIN)/runner
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/runner
	$(BIN)/runner sweep batch-size --out $(OUT)
	$(BIN)/runner report $(OUT)

test: $(VENV)/.test-extras
	$(BIN)/python -m pytest -q

# The engine's tests on the lowest Numba that pyproject.toml admits (kernels/views.py uses its
# internals), in a venv of their own.
NUMBA_FLOOR := 0.61.2
test-numba-floor:
	$(PYTHON) -m venv .venv-numba-floor
	.venv-numba-floor/bin/pip install --quiet -e . 'numba==$(NUMBA_FLOOR)' pytest
	.venv-numba-floor/bin/python -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_checks.py \
		tests/test_fused.py

bench: $(BIN)/runner
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_batch_size.py
	$(BIN)/python benchmarks/bench_kernels.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_compile.py

bench-cuda: $(BIN)/runner  # needs an NVIDIA GPU
	$(BIN)/pip install --quiet -e '.[cuda]'
	$(BIN)/python benchmarks/bench_cuda.py

clean:
	rm -rf $(VENV) .venv-numba-floor out .pytest_cache
