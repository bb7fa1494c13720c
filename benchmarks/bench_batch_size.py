"""Benchmark: the whole default batch-size study, and the same SGD in PyTorch (CPU, eager).

1. Runs ``runner sweep batch-size`` (13 runs: b = 1 ... 2048 and GD, 200 epochs each) once to
   warm the compile cache, then REPEATS more times with --force, and reports the wall time of
   the whole command, from start to exit (process start, workers, compile-cache loads and
   Parquet writes included), and the compiled engine's own seconds. Its output goes to a file,
   as in a batch job: through a pipe, the reader would also wait the ~0.3 s in which the
   workers' fork server winds down after the command has exited.
2. Times the same training in PyTorch on the same data, model, initialization and learning
   rate (one thread, like each of our workers) for a few epochs per batch size, reports seconds
   per epoch against ours and extrapolates to the full study, and checks that 10 epochs of
   deterministic GD give the same loss in both.

Run with ``make bench`` (installs the ``bench`` extra: torch==2.13.0). Nothing is asserted.
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import get_study
from experiments.batch_size import features, make_data
from experiments.training import fit
from kernels.codes import HIST_FIT_LOSS
from kernels.plan import Dense, build_plan

RUNNER = Path(sys.executable).with_name("runner")


def bench_study(repeats: int, workers: int | None) -> pd.DataFrame:
    out = Path(tempfile.mkdtemp()) / "bench"
    args = [RUNNER, "sweep", "batch-size", "--out", out] + (["--workers", str(workers)] if workers else [])
    walls = []
    with tempfile.TemporaryFile() as log:
        subprocess.run(args, check=True, stdout=log, stderr=log)  # warm the compile cache
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(args + ["--force"], check=True, stdout=log, stderr=log)
            walls.append(time.perf_counter() - t0)
    runs = pd.read_parquet(out / "runs")
    shutil.rmtree(out.parent)
    engine = (runs["train_time_s"] + runs["eval_time_s"]).sum()
    print(f"whole default study (13 runs x 200 epochs), `runner sweep`, {workers or 'default'} workers, "
          f"warm cache: median {statistics.median(walls):.2f} s over {repeats} "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); engine time summed over runs {engine:.2f} s")
    return runs


def torch_sgd(xhat, y, w0, lr, epochs, batch_size, seed):
    """The study's SGD in PyTorch: L = mean_i ||x̂_i W − y_i||², batches without replacement."""
    import torch

    x_t, y_t = torch.from_numpy(xhat), torch.from_numpy(y)
    w = torch.from_numpy(w0.copy()).requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(xhat)
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen) if batch_size < n else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = ((x_t[idx] @ w - y_t[idx]) ** 2).sum(dim=1).mean()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        final = float(((x_t @ w - y_t) ** 2).sum(dim=1).mean())
    return seconds, final


def bench_torch(runs: pd.DataFrame) -> None:
    import torch

    torch.set_num_threads(1)
    study = get_study("batch-size")
    cfg = study.defaults()
    x, y = make_data(cfg["n_samples"], cfg["n_outputs"], cfg["noise"], seed=0)
    xhat = features(x, cfg["degree"])
    plan = build_plan(xhat.shape[1], [Dense(cfg["n_outputs"], bias=False)])
    w0 = plan.init_params(np.random.default_rng([0, 1]), np.float64).reshape(xhat.shape[1], -1)

    ours = runs.groupby("batch_size")["train_time_s"].median() / cfg["epochs"]
    print(f"\nPyTorch {torch.__version__} eager CPU, 1 thread, against the compiled engine (1 thread per worker):")
    print(f"{'b':>6} {'torch s/epoch':>14} {'ours s/epoch':>13} {'speed-up':>9}")
    torch_total = 0.0
    for b in sorted(ours.index):
        epochs = 1 if b <= 4 else 3 if b <= 64 else 20
        seconds, _ = torch_sgd(xhat, y, w0, cfg["lr"], epochs, b, seed=0)
        per_epoch = seconds / epochs
        torch_total += per_epoch * cfg["epochs"]
        print(f"{b:>6} {per_epoch:>14.5f} {ours[b]:>13.5f} {per_epoch / ours[b]:>8.0f}x")
    print(f"training time of the 13 runs x 200 epochs: PyTorch ≈ {torch_total:.0f} s (extrapolated), "
          f"ours {runs['train_time_s'].sum():.2f} s ({torch_total / runs['train_time_s'].sum():.0f}x)")

    gd_epochs = 10
    _, torch_loss = torch_sgd(xhat, y, w0, cfg["lr"], gd_epochs, len(xhat), seed=0)
    ours_fit = fit(xhat, y, plan, w0.ravel().copy(), loss="mse", optimizer="sgd", hyper=dict(lr=cfg["lr"]),
                   epochs=gd_epochs, batch_size=len(xhat), seed=0)
    ours_loss = ours_fit.column(HIST_FIT_LOSS)[-1]
    print(f"same math: loss after {gd_epochs} GD epochs, PyTorch {torch_loss:.12f}, ours {ours_loss:.12f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    runs = bench_study(args.repeats, args.workers)
    if not args.no_torch:
        bench_torch(runs)


if __name__ == "__main__":
    main()
