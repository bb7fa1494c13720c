"""Checks at the door of the compiled engine: what a compiled entry point is given must fit
its plan, or compiled code would read and write out of bounds without a word.

Every public entry point of kernels.engine and kernels.cuda.engine calls one of these first;
each raises ValueError with a one-line reason and returns nothing.
"""
import numpy as np

from kernels import losses, optimizers, schedules
from kernels.codes import (
    COL_IN_DIM,
    COL_OP,
    COL_OUT_DIM,
    HIST_FIT_LOSS,
    HIST_TEST_LOSS,
    N_ARGS,
    N_COLS,
    N_HIST,
    N_SIZES,
    SIZE_BUFFERS,
    SIZE_PARAMS,
)
from kernels.layers import KINDS
from kernels.steps import N_HYPER

FLOATS = (np.float32, np.float64)


def _array(name: str, a, dtype, ndim: int) -> None:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype}; expected {np.dtype(dtype)}")
    if a.ndim != ndim:
        raise ValueError(f"{name} has shape {a.shape}; expected {ndim} dimensions")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous (np.ascontiguousarray makes it so)")


def check_net(net) -> None:
    """A plan's arrays (kernels.records.Net): table (L, N_COLS) int64 with known op codes,
    args (L, N_ARGS) float64, sizes (N_SIZES,) int64."""
    _array("the plan's table", net.table, np.int64, 2)
    _array("the plan's args", net.args, np.float64, 2)
    _array("the plan's sizes", net.sizes, np.int64, 1)
    table = net.table
    if table.shape[0] < 1 or table.shape[1] != N_COLS:
        raise ValueError(f"the plan's table has shape {table.shape}; expected (layers >= 1, {N_COLS})")
    if net.args.shape != (table.shape[0], N_ARGS):
        raise ValueError(f"the plan's args have shape {net.args.shape}; expected ({table.shape[0]}, {N_ARGS})")
    if net.sizes.shape != (N_SIZES,):
        raise ValueError(f"the plan's sizes have shape {net.sizes.shape}; expected ({N_SIZES},)")
    unknown = sorted(set(table[:, COL_OP].tolist()) - set(range(len(KINDS))))
    if unknown:
        raise ValueError(f"the plan has op codes {unknown} that no layer kind handles (kernels.layers)")


def check_params(net, params, buffers, name: str = "params") -> None:
    """params: (P,) float32 or float64 and buffers (B,) of its dtype, with P and B the plan's."""
    if not isinstance(params, np.ndarray) or params.dtype not in FLOATS:
        raise ValueError(f"{name} must be a float32 or float64 array")
    _array(name, params, params.dtype, 1)
    expected = int(net.sizes[SIZE_PARAMS])
    if params.shape[0] != expected:
        raise ValueError(f"{name} has {params.shape[0]} entries; the plan lays out {expected}")
    _array("buffers", buffers, params.dtype, 1)
    if buffers.shape[0] != net.sizes[SIZE_BUFFERS]:
        raise ValueError(f"buffers has {buffers.shape[0]} entries; the plan lays out {net.sizes[SIZE_BUFFERS]}")


def check_data(net, dtype, x, y, name: str, min_rows: int = 0) -> None:
    """x (N, n_in) and y (N, n_out) of ``dtype``, for the plan's first and last layers."""
    n_in, n_out = net.table[0, COL_IN_DIM], net.table[-1, COL_OUT_DIM]
    _array(f"x of {name}", x, dtype, 2)
    _array(f"y of {name}", y, dtype, 2)
    if x.shape[1] != n_in:
        raise ValueError(f"x of {name} has {x.shape[1]} columns; the model takes {n_in} inputs")
    if y.shape[1] != n_out:
        raise ValueError(f"y of {name} has {y.shape[1]} columns; the model has {n_out} outputs")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: x has {x.shape[0]} rows, y {y.shape[0]}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} has {x.shape[0]} rows; needs at least {min_rows}")


def check_code(what: str, code, count: int) -> None:
    """``code`` is one of the ``count`` codes of a kind list (``what``: loss, optimizer, schedule)."""
    if not 0 <= code < count:
        raise ValueError(f"{what} code {code} is not one of 0 .. {count - 1}")


def check_gradient(net, loss, params, buffers, x, y, grads) -> None:
    """The arguments of kernels.engine.loss_and_gradient and forward_differences (see there)."""
    check_net(net)
    check_params(net, params, buffers)
    check_params(net, grads, buffers, "grads")
    check_data(net, params.dtype, x, y, "the data", min_rows=1)
    check_code("loss", loss, len(losses.KINDS))


def check_train(data, net, method, settings, params, buffers, history) -> None:
    """The arguments of kernels.engine.train (see there) for one run."""
    check_net(net)
    check_params(net, params, buffers)
    dtype = params.dtype
    check_data(net, dtype, data.x, data.y, "the training data", min_rows=1)
    check_data(net, dtype, data.x_fit, data.y_fit, "the fit monitor set")
    check_data(net, dtype, data.x_test, data.y_test, "the test monitor set")
    for what, code, count in (("loss", method.loss, len(losses.KINDS)), ("optimizer", method.optimizer,
                              len(optimizers.KINDS)), ("schedule", method.schedule, len(schedules.KINDS))):
        check_code(what, code, count)
    _array("hyper", method.hyper, dtype, 1)
    if method.hyper.shape[0] != N_HYPER:
        raise ValueError(f"hyper has {method.hyper.shape[0]} entries; expected {N_HYPER}")
    _array("mask", method.mask, dtype, 1)
    if method.mask.shape != params.shape:
        raise ValueError(f"mask has {method.mask.shape[0]} entries, params {params.shape[0]}")
    if settings.epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {settings.epochs}")
    if not 1 <= settings.batch_size <= data.x.shape[0]:
        raise ValueError(f"batch_size {settings.batch_size} is not in 1 .. {data.x.shape[0]} (the training rows)")
    if settings.eval_rows < 1:
        raise ValueError(f"eval_rows must be >= 1, got {settings.eval_rows}")
    if not settings.stop_factor > 0 or settings.patience < 0 or not settings.min_delta >= 0:
        raise ValueError(f"stop_factor must be > 0, patience >= 0 and min_delta >= 0; got {settings.stop_factor}, "
                         f"{settings.patience} and {settings.min_delta}")
    if settings.check_every < 0:
        raise ValueError(f"check_every must be >= 0, got {settings.check_every}")
    if settings.monitor not in (HIST_FIT_LOSS, HIST_TEST_LOSS):
        raise ValueError(f"monitor must be the fit or test loss column, got {settings.monitor}")
    if settings.patience > 0 and settings.monitor == HIST_TEST_LOSS and data.x_test.shape[0] == 0:
        raise ValueError("patience on the test loss needs a test set")
    _array("history", history, np.float64, 2)
    if history.shape[0] < settings.epochs + 1 or history.shape[1] != N_HIST:
        raise ValueError(f"history has shape {history.shape}; expected ({settings.epochs + 1}, {N_HIST}) at least")
