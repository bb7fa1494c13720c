"""The CPU walks of a plan, forward and backward, generated from the layer registry
(kernels.layers): one branch per layer kind, calling the kind's kernel on the layer's blocks of
the activation workspaces, and an ``else`` that raises on an op code no kind handles.

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
from kernels.codes import COL_IN_DIM, COL_IN_OFF, COL_OP, COL_OUT_DIM, COL_OUT_OFF, COL_P_OFF  # noqa: F401
from kernels.jit import inline_kernel
from kernels.layers import KINDS, generate, switch
from kernels.views import block  # noqa: F401

_FORWARD = "\n".join([
    "def forward(table, args, params, buffers, act, cache, icache, scratch, capacity, rows, training, seed, step):",
    "    for layer in range(table.shape[0]):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        x = block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])",
    "        y = block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    *switch("{fn}(row, args[layer], params, buffers, x, y, cache, icache, scratch, capacity, rows, training, "
            "seed, step, layer)", " " * 8, "raise ValueError('the plan has an op code that no layer kind handles')"),
])

_BACKWARD = "\n".join([
    "def backward(table, args, params, grads, buffers, act, dact, cache, icache, scratch, capacity, rows, training):",
    "    for layer in range(table.shape[0] - 1, -1, -1):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        if layer == 0 and row[COL_P_OFF] < 0:",
    "            break  # nothing below to pass a gradient to",
    "        x = block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])",
    "        y = block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    "        dy = block(dact, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])",
    "        dx = block(dact, capacity, row[COL_IN_OFF], rows if layer > 0 else 0, row[COL_IN_DIM])",
    *switch("{fn}(row, args[layer], params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, "
            "training, layer == 0)", " " * 8,
            "raise ValueError('the plan has an op code that no layer kind handles')"),
])

forward = inline_kernel(generate(_FORWARD, {f"_fn{code}": kind.forward for code, kind in enumerate(KINDS)},
                                 globals(), "forward"))
backward = inline_kernel(generate(_BACKWARD, {f"_fn{code}": kind.backward for code, kind in enumerate(KINDS)},
                                  globals(), "backward"))
