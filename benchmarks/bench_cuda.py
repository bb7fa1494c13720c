"""CPU against GPU for the CUDA target (issue 7), reported, never asserted. Needs a GPU.

1. The batch-size study's default grid (12 batch sizes + GD, 200 epochs, N = 8192, float64):
   the CPU engine one run after another on one thread, against all 13 runs in one launch of
   the CUDA engine (one thread block per run).
2. A LeNet-like CNN on MNIST-sized inputs (28x28, batch 64, float32 and float64): one epoch of
   one run on each target, and R runs (different seeds) in one launch, which fills the GPU.

Run: ``python benchmarks/bench_cuda.py [--epochs 200] [--samples 6400] [--runs 132]``.
"""
import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from bench_kernels import LENET  # noqa: E402  (run as a script: benchmarks/ is on sys.path)

from experiments.batch_size import excess_loss_set, features, make_data  # noqa: E402
from experiments.models import parse_model  # noqa: E402
from experiments.training import EVAL_ROWS  # noqa: E402
from kernels import codes, engine, losses, optimizers, records, schedules, steps  # noqa: E402
from kernels.cuda import engine as cuda_engine  # noqa: E402
from kernels.plan import Dense, build_plan  # noqa: E402

BATCH_SIZES = [2**k for k in range(12)] + [2**13]


def _cpu(x, y, fit_x, fit_y, plan, loss, optimizer, hyper, mask, p0, epochs, batch, seed):
    """One CPU run: (seconds in updates, history)."""
    h = np.full((epochs + 1, codes.N_HIST), np.nan)
    method = records.method(loss, optimizer, schedules.CODES["constant"], hyper, mask)
    engine.train(records.Data(x, y, fit_x, fit_y, x[:0], y[:0]), plan.net, method,
                 records.settings(epochs, batch, batch < len(x), seed, EVAL_ROWS), p0.copy(),
                 plan.init_buffers(p0.dtype), h)
    return h[-1, codes.HIST_TRAIN_TIME], h


def _gpu(x, y, fit_x, fit_y, plan, loss, optimizer, hyper, mask, p0, epochs, batches, seeds):
    """Runs in one CUDA launch, a block each: (wall seconds of the launch, histories)."""
    runs = len(batches)
    h = np.full((runs, epochs + 1, codes.N_HIST), np.nan)
    params = np.tile(p0, (runs, 1))
    method = records.method(loss, optimizer, schedules.CODES["constant"], np.tile(hyper, (runs, 1)), mask)
    settings = records.settings(epochs, batches, [b < len(x) for b in batches], seeds, EVAL_ROWS)
    t0 = time.perf_counter()
    cuda_engine.train(records.Data(x, y, fit_x, fit_y, x[:0], y[:0]), plan.net, method, settings, params,
                      np.tile(plan.init_buffers(p0.dtype), (runs, 1)), h)
    return time.perf_counter() - t0, h


def bench_batch_size(epochs):
    x1, y = make_data(2**13, 64, 0.1, 0)
    x = features(x1, 3)
    fit_x, fit_y = excess_loss_set(x, y)
    plan = build_plan(4, [Dense(64, bias=False)])
    p0 = plan.init_params(np.random.default_rng(1), np.float64)
    hyper, mask = steps.vector(np.float64, lr=0.25), plan.penalty_mask(False, np.float64)
    args = (x, y, fit_x, fit_y, plan, losses.CODES["mse"], optimizers.CODES["sgd"], hyper, mask, p0, epochs)
    _gpu(*args[:-1], 1, [4], [0])  # compile
    gpu_time, gpu_h = _gpu(*args, BATCH_SIZES, [0] * len(BATCH_SIZES))
    _cpu(*args[:-1], 1, 4, 0)
    print(f"batch-size study, {len(BATCH_SIZES)} runs x {epochs} epochs, float64:")
    cpu_total = 0.0
    for b, h_gpu in zip(BATCH_SIZES, gpu_h):
        cpu_time, h_cpu = _cpu(*args, b, 0)
        cpu_total += cpu_time
        rel = abs(h_gpu[-1, 0] - h_cpu[-1, 0]) / abs(h_cpu[-1, 0])
        print(f"  b={b:5d}: CPU {cpu_time:6.2f} s, GPU block {h_gpu[-1, codes.HIST_WALL_TIME]:6.2f} s "
              f"(train {h_gpu[-1, codes.HIST_TRAIN_TIME]:6.2f} s, "
              f"{h_gpu[-1, codes.HIST_TRAIN_TIME] / (epochs * -(-2**13 // b)) * 1e6:7.2f} us/step); "
              f"final L-Lmin differs by {rel:.1e}")
    print(f"  all 13: CPU one thread, one after another {cpu_total:.2f} s (updates); GPU one launch {gpu_time:.2f} s "
          f"-> {cpu_total / gpu_time:.2f}x")


def bench_cnn(samples, runs, dtype):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(10, size=samples)]
    plan = build_plan((1, 28, 28), parse_model(LENET) + [Dense(10)])
    p0 = plan.init_params(rng, dtype)
    hyper, mask = steps.vector(dtype, lr=0.01), plan.penalty_mask(False, dtype)
    monitor = (x[:64], y[:64])  # a small monitor set: the epoch's time is the updates'
    args = (x, y, *monitor, plan, losses.CODES["softmax-ce"], optimizers.CODES["sgd"], hyper, mask, p0, 1)
    _cpu(*monitor, *args[2:], 64, 0)
    cpu_time, _ = _cpu(*args, 64, 0)
    _gpu(*monitor, *args[2:], [64], [0])
    one_time, one_h = _gpu(*args, [64], [0])
    many_time, _ = _gpu(*args, [64] * runs, list(range(runs)))
    print(f"LeNet-like CNN, 28x28, batch 64, {samples} samples, {np.dtype(dtype).name}: one epoch on the CPU "
          f"(1 thread) {cpu_time:.2f} s; GPU, one run {one_time:.2f} s "
          f"(train {one_h[0, -1, codes.HIST_TRAIN_TIME]:.2f} s); GPU, {runs} runs in one launch {many_time:.2f} s "
          f"= {many_time / runs * 1e3:.1f} ms per run-epoch -> {cpu_time * runs / many_time:.1f}x the CPU thread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=6400)
    parser.add_argument("--runs", type=int, default=132, help="CNN runs in one launch (132 = the H100's SMs)")
    parser.add_argument("--skip-batch-size", action="store_true")
    args = parser.parse_args()
    from numba import cuda

    print(f"GPU: {cuda.get_current_device().name}")
    if not args.skip_batch_size:
        bench_batch_size(args.epochs)
    for dtype in (np.float32, np.float64):
        bench_cnn(args.samples, args.runs, dtype)


if __name__ == "__main__":
    main()
