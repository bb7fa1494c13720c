"""Inverted dropout on the device: the same counter-based masks as the CPU target
(kernels.dropout: entry e of the batch keeps draw e of the stream ``key``)."""
from numba import cuda

from kernels.codes import ARG_RATE, COL_CACHE_OFF
from kernels.dropout import keep_scale
from kernels.random import stream_key


@cuda.jit(device=True)
def dropout_forward(rate, key, x, mask, y, count):
    """y = x ⊙ r, r = 0 or 1/(1 − δ) kept in mask. x, mask, y: (count,)."""
    one = x.dtype.type(1)
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        r = keep_scale(rate, key, idx, one)
        mask[idx] = r
        y[idx] = r * x[idx]


@cuda.jit(device=True)
def dropout_backward(dy, mask, dx, count):
    """dx = dy ⊙ r."""
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        dx[idx] = dy[idx] * mask[idx]


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    if training:
        at = capacity * row[COL_CACHE_OFF]
        dropout_forward(x.dtype.type(arg[ARG_RATE]), stream_key(seed, step, layer), x, cache[at : at + x.shape[0]], y,
                        x.shape[0])
    else:
        for idx in range(cuda.threadIdx.x, x.shape[0], cuda.blockDim.x):
            y[idx] = x[idx]


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    if training:
        at = capacity * row[COL_CACHE_OFF]
        dropout_backward(dy, cache[at : at + dy.shape[0]], dx, dy.shape[0])
    else:  # the forward pass was the identity and drew no mask
        for idx in range(cuda.threadIdx.x, dy.shape[0], cuda.blockDim.x):
            dx[idx] = dy[idx]
