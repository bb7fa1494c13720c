"""Checks at the door of the compiled engine: what a compiled entry point is given must fit
its plan, or compiled code would read and write out of bounds without a word.

Every public entry point of kernels.engine and kernels.cuda.engine calls one of these first;
each raises ValueError with a one-line reason and returns nothing.
"""
import numpy as np

from kernels.codes import (
    COL_BIAS,
    COL_C_IN,
    COL_C_OUT,
    COL_IN_DIM,
    COL_K,
    COL_OP,
    COL_OUT_DIM,
    COL_P_OFF,
    N_ARGS,
    N_COLS,
    N_HIST,
    N_HYPER,
    OP_CONV,
    OP_DENSE,
    OP_RESIDUAL,
)

FLOATS = (np.float32, np.float64)


def parameter_count(plan: np.ndarray) -> int:
    """The length of the flat parameter vector that the plan table lays out (kernels.plan)."""
    end = 0
    for row in plan:
        op, n_in, bias = row[COL_OP], row[COL_IN_DIM], row[COL_BIAS]
        if op == OP_DENSE:
            size = n_in * row[COL_OUT_DIM] + bias * row[COL_OUT_DIM]
        elif op == OP_CONV:
            size = row[COL_C_OUT] * row[COL_C_IN] * row[COL_K] ** 2 + bias * row[COL_C_OUT]
        elif op == OP_RESIDUAL:
            size = 2 * n_in * row[COL_C_OUT] + row[COL_C_OUT]
        else:
            continue
        end = max(end, int(row[COL_P_OFF] + size))
    return end


def _array(name: str, a, dtype, ndim: int) -> None:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype}; expected {np.dtype(dtype)}")
    if a.ndim != ndim:
        raise ValueError(f"{name} has shape {a.shape}; expected {ndim} dimensions")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous (np.ascontiguousarray makes it so)")


def check_plan(plan, args) -> None:
    """The plan table (L, N_COLS) int64 and its arguments (L, N_ARGS) float64."""
    _array("plan", plan, np.int64, 2)
    _array("args", args, np.float64, 2)
    if plan.shape[0] < 1 or plan.shape[1] != N_COLS:
        raise ValueError(f"plan has shape {plan.shape}; expected (layers >= 1, {N_COLS})")
    if args.shape != (plan.shape[0], N_ARGS):
        raise ValueError(f"args has shape {args.shape}; expected ({plan.shape[0]}, {N_ARGS})")


def check_params(plan, params, name: str = "params") -> None:
    """params: (P,) float32 or float64 with P = parameter_count(plan)."""
    if not isinstance(params, np.ndarray) or params.dtype not in FLOATS:
        raise ValueError(f"{name} must be a float32 or float64 array")
    _array(name, params, params.dtype, 1)
    expected = parameter_count(plan)
    if params.shape[0] != expected:
        raise ValueError(f"{name} has {params.shape[0]} entries; the plan lays out {expected}")


def check_data(plan, dtype, x, y, name: str, min_rows: int = 0) -> None:
    """x (N, n_in) and y (N, n_out) of ``dtype``, for the plan's first and last layers."""
    n_in, n_out = plan[0, COL_IN_DIM], plan[-1, COL_OUT_DIM]
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


def check_train(x, y, x_fit, y_fit, x_test, y_test, plan, args, hyper, mask, params, epochs, batch_size,
                eval_rows, history) -> None:
    """The arguments of kernels.engine.train (see there) for one run."""
    check_plan(plan, args)
    check_params(plan, params)
    dtype = params.dtype
    check_data(plan, dtype, x, y, "the training data", min_rows=1)
    check_data(plan, dtype, x_fit, y_fit, "the fit monitor set")
    check_data(plan, dtype, x_test, y_test, "the test monitor set")
    _array("hyper", hyper, dtype, 1)
    if hyper.shape[0] != N_HYPER:
        raise ValueError(f"hyper has {hyper.shape[0]} entries; expected {N_HYPER}")
    _array("mask", mask, dtype, 1)
    if mask.shape != params.shape:
        raise ValueError(f"mask has {mask.shape[0]} entries, params {params.shape[0]}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if not 1 <= batch_size <= x.shape[0]:
        raise ValueError(f"batch_size {batch_size} is not in 1 .. {x.shape[0]} (the training rows)")
    if eval_rows < 1:
        raise ValueError(f"eval_rows must be >= 1, got {eval_rows}")
    _array("history", history, np.float64, 2)
    if history.shape[0] < epochs + 1 or history.shape[1] != N_HIST:
        raise ValueError(f"history has shape {history.shape}; expected ({epochs + 1}, {N_HIST}) at least")
