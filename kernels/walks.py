"""The CPU walks of a plan, forward and backward, generated from the layer registry
(kernels.layers) for each plan variant (kernels.specialize): one branch per layer kind of its set,
calling the kind's kernel on the layer's blocks of the activation workspaces, and an ``else``
that raises on an op code the set does not hold. ``forward[variant]`` is the walk of one variant.
Each walk is a kernel of its own, not inlined into its callers: the training step and the
evaluation call one compiled forward walk, and runner.compile compiles the walks in the
processes of the engine's parts (kernels.engine.PARTS) while nothing else waits for them (one
call per walk and step; no change in the speed of a run, benchmarks/bench_compile.py).

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
from kernels.jit import kernel
from kernels.layers import KINDS, switch
from kernels.specialize import PerVariant, bound, generate, layers_only
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

    return PerVariant(make, function, kernel, key=layers_only)


forward = _walk(_FORWARD, "forward")
backward = _walk(_BACKWARD, "backward")
