"""Run the compiled engine once from Python: allocate curves, time the compile, call ``train``."""
import time
from dataclasses import dataclass

import numpy as np

from kernels import engine
from kernels.plan import LOSSES, OPTIMIZERS, Plan

EVAL_ROWS = 1024  # chunk size of the full-data evaluation at the end of each epoch


@dataclass
class Fit:
    """A finished training run. Curves are (epochs_done + 1,), entry 0 before training."""

    params: np.ndarray
    losses: np.ndarray
    train_times: np.ndarray
    wall_times: np.ndarray
    epochs_done: int
    compile_time_s: float

    @property
    def diverged(self) -> bool:
        return not np.isfinite(self.losses[-1])


def _compile(plan: Plan, dtype) -> float:
    """Compile (or load from the on-disk cache) ``train`` for this dtype; return the seconds."""
    t0 = time.perf_counter()
    x = np.zeros((1, plan.n_in), dtype)
    y = np.zeros((1, plan.n_out), dtype)
    curves = np.zeros(1)
    engine.train(x, y, plan.table, 0, 0, np.zeros(1, dtype), plan.init_params(np.random.default_rng(0), dtype),
                 0, 1, False, 0, 1, curves, curves.copy(), curves.copy())
    return time.perf_counter() - t0


def fit(x, y, plan: Plan, params, *, loss: str, optimizer: str, lr: float, epochs: int,
        batch_size: int, seed: int) -> Fit:
    """Train ``params`` (P,) on x (N, n_in), y (N, n_out), all of one dtype, in one compiled call.

    batch_size = N gives deterministic full-batch gradient descent (no shuffling).
    """
    dtype = params.dtype
    compile_time = _compile(plan, dtype)
    losses = np.full(epochs + 1, np.nan)
    train_times = np.zeros(epochs + 1)
    wall_times = np.zeros(epochs + 1)
    done = engine.train(x, y, plan.table, LOSSES[loss], OPTIMIZERS[optimizer],
                        np.array([lr], dtype), params, epochs, batch_size, batch_size < len(x),
                        seed, EVAL_ROWS, losses, train_times, wall_times)
    n = done + 1
    return Fit(params, losses[:n], train_times[:n], wall_times[:n], done, compile_time)
