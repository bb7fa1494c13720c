"""The GPU against all of its host's CPU cores (issue 27), reported, never asserted. Needs a GPU.

Side by side in one script, each a ratio of wall times on the same host:

1. The batch-size study with ``--seeds S`` (13 × S runs, 200 epochs), as whole commands from
   start to exit with a warm cache: ``runner sweep batch-size --seeds S --target cuda --workers 1``
   (the runs packed into launches) against ``runner sweep batch-size --seeds S --workers CORES``;
   and the two tables' final L̄ compared run by run. Goal: at least 5×.
2. A LeNet-like CNN (28×28, batch 64, float32), R runs × N samples, one epoch each: R runs in
   one launch (kernels.cuda.engine.train) against the R runs on a process pool of every core,
   one thread each, each run the CPU engine's (the host's best for many small runs).
   Goal: at least 20×.
3. One SGD step of the batch-size model (4 → 64, no bias, mse) at b = 1: the seconds in updates
   over the steps, one run alone in a launch and 132 runs in one, with the parameters and the
   step's workspaces in shared memory (the default where they fit), the parameters alone, and
   neither. Goal: at most 2 µs.

Run: ``python benchmarks/bench_cuda.py [--seeds 100] [--cnn-runs 64] [--samples 6400]``, or
``make bench-cuda``. Without a GPU it stops at once and says so.
"""
import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bench_kernels import LENET  # noqa: E402  (run as a script: benchmarks/ is on sys.path)

from experiments.batch_size import excess_loss_set, features, make_data  # noqa: E402
from experiments.models import parse_model  # noqa: E402
from experiments.training import EVAL_ROWS  # noqa: E402
from kernels import codes, engine, losses, optimizers, records, schedules, steps  # noqa: E402
from kernels.plan import Dense, build_plan  # noqa: E402

CORES = os.cpu_count() or 1


def _sweep(out: Path, *options: str) -> float:
    """Seconds of one whole ``runner sweep batch-size`` command."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", "sweep", "batch-size", "--out", str(out), *options],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_sweep(seeds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for target in ("cpu", "cuda"):  # warm the caches: the figures are the runs', not the compile
            _sweep(tmp / f"warm-{target}", "--grid", "epochs=1", "--grid", "batch_size=64", "--target", target,
                   "--workers", "1")
        gpu = _sweep(tmp / "gpu", "--seeds", str(seeds), "--target", "cuda", "--workers", "1")
        cpu = _sweep(tmp / "cpu", "--seeds", str(seeds), "--workers", str(CORES))
        runs = pd.concat([pd.read_parquet(tmp / "gpu" / "runs"), pd.read_parquet(tmp / "cpu" / "runs")])
    by = runs.pivot_table(index=["batch_size", "seed"], columns="target", values="final_rel_loss")
    rel = float(np.max(np.abs(by["cuda"] - by["cpu"]) / np.abs(by["cpu"])))
    print(f"batch-size study, --seeds {seeds} ({len(by)} runs x 200 epochs, float64), whole commands:")
    print(f"  CPU, {CORES} workers: {cpu:.1f} s; GPU, packed: {gpu:.1f} s -> {cpu / gpu:.1f}x (goal 5x); "
          f"final L-bar differs by {rel:.1e} at most")


def _cnn(samples: int, dtype):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(10, size=samples)]
    plan = build_plan((1, 28, 28), parse_model(LENET) + [Dense(10)])
    method = records.method(losses.CODES["softmax-ce"], optimizers.CODES["sgd"], schedules.CODES["constant"],
                            steps.vector(dtype, lr=0.01), plan.penalty_mask(False, dtype))
    data = records.Data(x, y, x[:64], y[:64], x[:0], y[:0])  # a small monitor set: the time is the updates'
    return plan, method, data


def _cpu_cnn_run(job) -> None:
    samples, seed = job
    plan, method, data = _cnn(samples, np.float32)
    params = plan.init_params(np.random.default_rng(seed), np.float32)
    engine.train(data, plan.net, method, records.settings(1, 64, True, seed, EVAL_ROWS), params,
                 plan.init_buffers(np.float32), np.full((2, codes.N_HIST), np.nan))


def bench_cnn(runs: int, samples: int) -> None:
    from kernels.cuda import engine as cuda_engine

    plan, method, data = _cnn(samples, np.float32)
    settings = records.settings(1, 64, True, 0, EVAL_ROWS)

    def launch(count: int) -> float:
        params = np.stack([plan.init_params(np.random.default_rng(s), np.float32) for s in range(count)])
        buffers = np.tile(plan.init_buffers(np.float32), (count, 1))
        jobs = [cuda_engine.Run(0, plan.net, method, settings._replace(seed=np.int64(s))) for s in range(count)]
        t0 = time.perf_counter()
        cuda_engine.train([data], jobs, params, buffers, np.full((count, 2, codes.N_HIST), np.nan))
        return time.perf_counter() - t0

    launch(1)  # compile
    gpu = launch(runs)
    with multiprocessing.get_context("spawn").Pool(CORES) as pool:
        pool.map(_cpu_cnn_run, [(64, s) for s in range(CORES)])  # compile (or load) in every worker
        t0 = time.perf_counter()
        pool.map(_cpu_cnn_run, [(samples, s) for s in range(runs)], chunksize=1)
        cpu = time.perf_counter() - t0
    print(f"LeNet-like CNN, 28x28, batch 64, float32, {runs} runs x {samples} samples, one epoch:")
    print(f"  CPU, {CORES} processes: {cpu:.1f} s; GPU, one launch: {gpu:.1f} s -> {cpu / gpu:.1f}x (goal 20x)")


def bench_step(runs: int = 132) -> None:
    from kernels.cuda import engine as cuda_engine

    x1, y = make_data(2**13, 64, 0.1, 0)
    x = features(x1, 3)
    data = records.Data(x, y, *excess_loss_set(x, y), x[:0], y[:0])
    plan = build_plan(4, [Dense(64, bias=False)])
    method = records.method(losses.CODES["mse"], optimizers.CODES["sgd"], schedules.CODES["constant"],
                            steps.vector(np.float64, lr=0.25), plan.penalty_mask(False, np.float64))
    print(f"one SGD step of the batch-size model at b = 1 (block of {cuda_engine.threads_for(plan.net, 1)} threads):")
    placements = {"parameters and step in shared memory": (True, True),
                  "parameters in shared memory": (True, False), "all in global memory": (False, False)}
    for count in (1, runs):
        jobs = [cuda_engine.Run(0, plan.net, method, records.settings(1, 1, True, s, EVAL_ROWS)) for s in range(count)]
        for where, shared in placements.items():
            history = np.full((count, 2, codes.N_HIST), np.nan)
            params = np.tile(plan.init_params(np.random.default_rng(1), np.float64), (count, 1))
            cuda_engine.train([data], jobs, params, np.zeros((count, 0)), history, shared=shared)
            per_step = np.median(history[:, 1, codes.HIST_TRAIN_TIME]) / 2**13
            print(f"  {count:4d} run(s) in one launch, {where}: {per_step * 1e6:.2f} us per step (goal 2 us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the batch-size sweep (13 runs each)")
    parser.add_argument("--cnn-runs", type=int, default=64)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--only", choices=("sweep", "cnn", "step"), help="run one of the three")
    args = parser.parse_args()
    from kernels.cuda import unavailable

    if (reason := unavailable()) or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit(f"bench_cuda needs a GPU: {reason or 'the simulator is not one'}")
    from numba import cuda

    name = cuda.get_current_device().name
    print(f"GPU: {name.decode() if isinstance(name, bytes) else name}; CPU: {CORES} cores")
    if args.only in (None, "step"):
        bench_step()
    if args.only in (None, "cnn"):
        bench_cnn(args.cnn_runs, args.samples)
    if args.only in (None, "sweep"):
        bench_sweep(args.seeds)


if __name__ == "__main__":
    main()
