#!/usr/bin/env bash
# The prepared GPU session of issue 27, for the few minutes a GPU is lent: correctness of the
# CUDA engine on the real device first, then the three benchmarks of benchmarks/bench_cuda.py,
# each part under its own time limit (seconds, from the environment: CHECK, STEP, CNN, SWEEP), so
# that a part that runs long is cut off and the next one still runs. Each part's log goes to
# ${OUT:-out/device}/PART.log; the last lines of each are printed.
#
# Run from the repository root: bash benchmarks/device_session.sh
# Nothing is installed: the Python that runs it (PYTHON, default python3) needs numba,
# numba-cuda, numpy, pandas, pyarrow, typer, rich, pytest and torch; the repository is put on
# PYTHONPATH. The parts' defaults add up to 560 s, inside one 600 s command.
set -u
out=${OUT:-out/device}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-/tmp/numba-cache}
python=${PYTHON:-python3}

part() {  # part NAME LIMIT COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s)"
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    echo "== $name: exit $?, ${SECONDS} s since the start"
    tail -n 12 "$out/$name.log"
}

nvidia-smi -L
# The whole-run tests (packed launches, units of work, shared memory, split sums, tiles, checks
# within epochs) and a packed CLI sweep against the CPU, compiled for the GPU.
part check "${CHECK:-200}" "$python" -m pytest -q -x -p no:cacheprovider tests/test_cuda.py tests/test_launches.py \
    -k "packed or unit_of_work or tiles or split or training_runs or checks_within or sweep"
part step "${STEP:-60}" "$python" benchmarks/bench_cuda.py --only step
part cnn "${CNN:-120}" "$python" benchmarks/bench_cuda.py --only cnn
part sweep "${SWEEP:-180}" "$python" benchmarks/bench_cuda.py --only sweep
