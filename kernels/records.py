"""The named records that cross from Python into the compiled engines.

Each is a namedtuple (Numba passes one as a struct of its fields, as pynndescent passes its
trees), so an engine call names what it passes and two integers cannot trade places unnoticed:
``engine.train(data, net, method, settings, params, buffers, history)``. The constructors
of Method and Settings fix their scalars' types, so every call compiles to the same signature.
"""
from collections import namedtuple

import numpy as np

from kernels.codes import HIST_FIT_LOSS

Net = namedtuple("Net", "table args sizes")
Net.__doc__ = """A model as the engines read it (kernels.plan.Plan.net): table (L, N_COLS) int64,
one row per layer (kernels.codes.COL_*); args (L, N_ARGS) float64, its float arguments
(ARG_*); sizes (N_SIZES,) int64, the workspace widths and vector lengths (SIZE_*)."""

Data = namedtuple("Data", "x y x_fit y_fit x_test y_test")
Data.__doc__ = """The training set x (N, n_in), y (N, n_out) and two monitor sets evaluated after every
epoch: the fit set (whose loss is the history's fit loss; usually the training set itself)
and the test set (may have 0 rows). All of the parameters' dtype."""

Method = namedtuple("Method", "loss optimizer schedule hyper mask")
Method.__doc__ = """How to train: loss code (kernels.codes), optimizer and schedule codes (positions in
kernels.optimizers.KINDS and kernels.schedules.KINDS), hyper (N_HYPER,) of the parameters' dtype
(laid out by kernels.steps: rate, penalties and the kinds' hyperparameters) and the penalty
mask (P,)."""

Settings = namedtuple("Settings", "epochs batch_size shuffle seed eval_rows stop_factor patience min_delta monitor "
                      "check_every check_level")
Settings.__doc__ = """One run's settings: epochs; batch size (1..N); shuffle (a fresh batch order each
epoch; False: fixed order); seed (batch order and dropout draws); eval_rows (chunk size of
the monitor evaluation); when to stop early (kernels.stopping): stop_factor (stop once the fit
loss exceeds stop_factor × its initial value; inf: only when it is not finite), patience
(epochs without an improvement of more than min_delta of the monitored loss; 0: off) and
monitor (the history column watched: kernels.codes.HIST_FIT_LOSS or HIST_TEST_LOSS); checks of
the fit loss within epochs: check_every (steps between checks; 0: none) and
check_level (the fit loss whose first reach a check records, kernels.engine.train)."""


def method(loss: int, optimizer: int, schedule: int, hyper: np.ndarray, mask: np.ndarray) -> Method:
    """A Method with int64 codes, hyper (N_HYPER,) and mask (P,)."""
    return Method(np.int64(loss), np.int64(optimizer), np.int64(schedule), hyper, mask)


def settings(epochs: int, batch_size, shuffle, seed, eval_rows: int, stop_factor: float = np.inf,
             patience: int = 0, min_delta: float = 0.0, monitor: int = HIST_FIT_LOSS, check_every: int = 0,
             check_level: float = 0.0) -> Settings:
    """One run's Settings, its scalars typed as every compiled call expects. By default a run
    stops early only when its fit loss is not finite, and makes no checks within epochs."""
    return Settings(np.int64(epochs), np.int64(batch_size), bool(shuffle), np.int64(seed), np.int64(eval_rows),
                    np.float64(stop_factor), np.int64(patience), np.float64(min_delta), np.int64(monitor),
                    np.int64(check_every), np.float64(check_level))
