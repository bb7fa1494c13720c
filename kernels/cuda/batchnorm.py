"""Batch normalization on the device: the CPU's channel kernels (kernels.batchnorm), one thread
per channel, each doing its channel's sums and entries in the CPU's order.

x, xc, y, dy, dx: (rows·C·S,) row-major (rows, C, S); parameters and buffers: (C,) blocks.
"""
from numba import cuda

from kernels import batchnorm
from kernels.codes import (
    ARG_EPS,
    ARG_MOMENTUM,
    COL_BUF_OFF,
    COL_C_IN,
    COL_CACHE_OFF,
    COL_H_IN,
    COL_P_OFF,
    COL_W_IN,
)
from kernels.cuda import shared
from kernels.layers.batchnorm import uses_batch

channel_forward = shared(batchnorm.channel_forward)
channel_backward = shared(batchnorm.channel_backward)


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    c, s, p, r = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF], row[COL_BUF_OFF]
    at = capacity * row[COL_CACHE_OFF]
    batch = uses_batch(training, rows, s)
    for ch in range(cuda.threadIdx.x, c, cuda.blockDim.x):
        channel_forward(x, params[p : p + c], params[p + c : p + 2 * c], buffers[r : r + c], buffers[r + c : r + 2 * c],
                        x.dtype.type(arg[ARG_EPS]), x.dtype.type(arg[ARG_MOMENTUM]), batch, cache[at : at + x.shape[0]],
                        y, ch, rows, c, s)


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    c, s, p, r = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF], row[COL_BUF_OFF]
    at = capacity * row[COL_CACHE_OFF]
    batch = uses_batch(training, rows, s)
    for ch in range(cuda.threadIdx.x, c, cuda.blockDim.x):
        channel_backward(dy, cache[at : at + dy.shape[0]], params[p : p + c], buffers[r + c : r + 2 * c],
                         x.dtype.type(arg[ARG_EPS]), batch, dx, grads[p : p + c], grads[p + c : p + 2 * c], ch, rows, c,
                         s)
