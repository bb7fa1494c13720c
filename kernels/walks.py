"""The CPU walks of a plan, forward and backward, generated from the layer registry
(kernels.layers) for each plan variant (kernels.specialize): one branch per layer kind of its set,
calling the kind's kernel on the layer's blocks of the activation workspaces, and an ``else``
that raises on an op code the set does not hold. ``forward[variant]`` is the walk of one variant.

    forward(table, args, params, buffers, act, cache, icache, scratch, capacity, rows, training, seed, step)
        runs every layer on the first ``rows`` samples of boundary 0 of ``act``; the prediction
        is left in the last boundary. training: batch statistics and dropout on, with the draws
        of step ``step`` of the run ``seed`` (kernels.random).
    backward(table, args, params, grads, buffers, act, dact, cache, icache, scratch, capacity, rows, training)
        backpropagates ∂L/∂prediction (the last boundary of ``dact``) into grads (P,); act and
        the caches hold the forward pass of the same rows and mode; dact (act's layout)
        receives ∂L/∂ of every boundary but the input, which is never needed.

table, args: the plan's (kernels.records.Net); act, dact, cache: float workspaces of
``capacity`` rows (kernels.plan), icache: int64; scratch: per-run floats; buffers: (B,) the
non-trainable state (batch norm's running statistics).
"""
import numpy as np

# The generated source reads these names from this module's globals.
from kernels.codes import (  # noqa: F401
    COL_IN_DIM,
    COL_IN_OFF,
    COL_OP,
    COL_OUT_DIM,
    COL_OUT_OFF,
    COL_P_OFF,
)
from kernels.fail import unknown_op  # noqa: F401
from kernels.jit import inline_kernel
from kernels.layers import KINDS, switch
from kernels.specialize import PerVariant, bound, generate
from kernels.views import block  # noqa: F401

_FORWARD = [
    "def {name}(table, args, params, buffers, act, cache, icache, scratch, capacity, rows, training, seed, step):",
    "    for layer in range(table.shape[0]):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        x = block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])",
    "        y = block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    ("{fn}(row, args[layer], params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, "
     "layer)"),
]

_BACKWARD = [
    "def {name}(table, args, params, grads, buffers, act, dact, cache, icache, scratch, capacity, rows, training):",
    "    for layer in range(table.shape[0] - 1, -1, -1):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        if layer == 0 and row[COL_P_OFF] < 0:",
    "            break  # nothing below to pass a gradient to",
    "        x = block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])",
    "        y = block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    "        dy = block(dact, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    "        dx = block(dact, capacity, row[COL_IN_OFF], rows if layer > 0 else 0, row[COL_IN_DIM])",
    ("{fn}(row, args[layer], params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training, "
     "layer == 0)"),
]


def _walk(lines: list[str], function: str) -> PerVariant:
    """The walk whose header and body are ``lines`` (the last: the call of a kind's kernel
    ``function``), per plan variant."""

    def make(variant, name):
        kinds = variant.kinds
        source = "\n".join([lines[0].format(name=name), *lines[1:-1],
                            *switch(lines[-1], " " * 8, "unknown_op()", kinds)])
        functions = {f"_fn{code}": bound(getattr(KINDS[code], function), variant) for code in kinds}
        return generate(source, functions, globals(), name)

    return PerVariant(make, function, inline_kernel)


forward = _walk(_FORWARD, "forward")
backward = _walk(_BACKWARD, "backward")


def layer_calls(variant, dtype, direction: str) -> list[tuple]:
    """[(kernel, argument types)] of every layer kind of ``variant`` in the walk ``direction``
    ("forward" or "backward") for parameters of ``dtype``, typed as the walk calls them (the
    calls above: views of the workspaces, the row of the table and of its arguments); compiled
    apart (kernels.engine.part_calls), they leave a walk its own code to compile."""
    from numba import typeof

    vector, matrix = np.zeros(0, dtype), np.zeros((0, 0), dtype)
    ints, count, flag = np.zeros(0, np.int64), 0, True
    if direction == "forward":  # row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training,
        # seed, step, layer
        values = (ints, np.zeros(0), vector, vector, matrix, matrix, vector, ints, vector, count, count, flag, count,
                  count, count)
    else:  # row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training, first
        values = (ints, np.zeros(0), vector, vector, vector, matrix, matrix, matrix, matrix, vector, ints, vector,
                  count, count, flag, flag)
    argument_types = tuple(typeof(value) for value in values)
    return [(bound(getattr(KINDS[code], direction), variant), argument_types) for code in variant.kinds]
