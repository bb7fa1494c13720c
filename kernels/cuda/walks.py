"""The device walks of a plan, forward and backward, generated from the layer registry
(kernels.layers) as kernels.walks is for the CPU: one branch per layer kind, calling the kind's
device twin (LayerKind.device names its module) on the layer's flat blocks, with a block-wide barrier after each
layer. A device function cannot raise, so the ``else`` of an op code no kind handles sets
fault[0] = 1, which kernels.cuda.engine.train turns into an exception.

    forward(table, args, params, buffers, act, cache, icache, capacity, rows, training, seed, step, fault)
    backward(table, args, params, grads, buffers, act, dact, cache, icache, capacity, rows, training, fault)

Arguments as in kernels.walks, the workspaces flat: act, dact, cache (capacity·width,) of the
params' dtype; icache int64; fault: int64 (1,).
"""
import importlib

from numba import cuda

# The generated source reads these names from this module's globals.
from kernels.codes import (  # noqa: F401
    COL_IN_DIM,
    COL_IN_OFF,
    COL_OP,
    COL_OUT_DIM,
    COL_OUT_OFF,
    COL_P_OFF,
)
from kernels.layers import KINDS, switch
from kernels.specialize import generate

_FORWARD = "\n".join([
    "def forward(table, args, params, buffers, act, cache, icache, capacity, rows, training, seed, step, fault):",
    "    for layer in range(table.shape[0]):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        x_at, y_at = capacity * row[COL_IN_OFF], capacity * row[COL_OUT_OFF]",
    "        x = act[x_at : x_at + rows * row[COL_IN_DIM]]",
    "        y = act[y_at : y_at + rows * row[COL_OUT_DIM]]",
    *switch("{fn}(row, args[layer], params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, "
            "layer)", " " * 8, "fault[0] = 1"),
    "        cuda.syncthreads()",
])

_BACKWARD = "\n".join([
    "def backward(table, args, params, grads, buffers, act, dact, cache, icache, capacity, rows, training, fault):",
    "    for layer in range(table.shape[0] - 1, -1, -1):",
    "        row = table[layer]",
    "        op = row[COL_OP]",
    "        if layer == 0 and row[COL_P_OFF] < 0:",
    "            break  # nothing below to pass a gradient to",
    "        x_at, y_at = capacity * row[COL_IN_OFF], capacity * row[COL_OUT_OFF]",
    "        n_in, n_out = row[COL_IN_DIM], row[COL_OUT_DIM]",
    "        x, y = act[x_at : x_at + rows * n_in], act[y_at : y_at + rows * n_out]",
    "        dy = dact[y_at : y_at + rows * n_out]",
    "        dx = dact[x_at : x_at + (rows * n_in if layer > 0 else 0)]  # empty: no gradient below layer 0",
    *switch("{fn}(row, args[layer], params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, "
            "layer == 0)", " " * 8, "fault[0] = 1"),
    "        cuda.syncthreads()",
])

_TWINS = [importlib.import_module(kind.device) for kind in KINDS]
forward = cuda.jit(device=True)(generate(
    _FORWARD, {f"_fn{code}": twin.layer_forward for code, twin in enumerate(_TWINS)}, globals(), "forward"))
backward = cuda.jit(device=True)(generate(
    _BACKWARD, {f"_fn{code}": twin.layer_backward for code, twin in enumerate(_TWINS)}, globals(), "backward"))
