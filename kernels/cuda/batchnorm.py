"""Batch normalization on the device (kernels.batchnorm), cooperative over the block: one thread
per channel does that channel's sums and entries, in the CPU's order.

x, xc, y, dy, dx: (rows·C·S,) row-major (rows, C, S); gamma, beta, running_mean, running_var,
dgamma, dbeta: (C,).
"""
import math

from numba import cuda

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
from kernels.layers.batchnorm import uses_batch


@cuda.jit(device=True)
def _centred_variance(xc, ch, rows, c, s):
    """kernels.batchnorm.centred_variance of channel ch: the mean of xc² over its rows·s entries."""
    sq = xc.dtype.type(0)
    for i in range(rows):
        for t in range(s):
            sq += xc[(i * c + ch) * s + t] * xc[(i * c + ch) * s + t]
    return sq / xc.dtype.type(rows * s)


@cuda.jit(device=True)
def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps, momentum, batch, xc, y, rows, c, s):
    """batch: normalize with the batch's statistics and update the running ones; else with
    the running statistics. The CPU's sequence per channel: mean, centre, variance, normalize."""
    n = rows * s
    one = x.dtype.type(1)
    for ch in range(cuda.threadIdx.x, c, cuda.blockDim.x):
        if batch:
            total = x.dtype.type(0)
            for i in range(rows):
                for t in range(s):
                    total += x[(i * c + ch) * s + t]
            mean = total / x.dtype.type(n)
        else:
            mean = running_mean[ch]
        for i in range(rows):
            for t in range(s):
                xc[(i * c + ch) * s + t] = x[(i * c + ch) * s + t] - mean
        if batch:
            var = _centred_variance(xc, ch, rows, c, s)
            unbias = x.dtype.type(n) / x.dtype.type(n - 1)
            running_mean[ch] = (one - momentum) * running_mean[ch] + momentum * mean
            running_var[ch] = (one - momentum) * running_var[ch] + momentum * var * unbias
        else:
            var = running_var[ch]
        scale = gamma[ch] / math.sqrt(var + eps)
        for i in range(rows):
            for t in range(s):
                at = (i * c + ch) * s + t
                y[at] = scale * xc[at] + beta[ch]


@cuda.jit(device=True)
def batchnorm_backward(dy, xc, gamma, running_var, eps, batch, dx, dgamma, dbeta, rows, c, s):
    """kernels.batchnorm.batchnorm_backward, the batch variance recomputed from xc when batch."""
    n = rows * s
    zero = dy.dtype.type(0)
    for ch in range(cuda.threadIdx.x, c, cuda.blockDim.x):
        var = _centred_variance(xc, ch, rows, c, s) if batch else running_var[ch]
        inv = dy.dtype.type(1) / math.sqrt(var + eps)
        sum_dy = zero
        sum_dy_xhat = zero
        for i in range(rows):
            for t in range(s):
                at = (i * c + ch) * s + t
                sum_dy += dy[at]
                sum_dy_xhat += dy[at] * xc[at] * inv
        dgamma[ch] = sum_dy_xhat
        dbeta[ch] = sum_dy
        if dx.shape[0] > 0:
            scale = gamma[ch] * inv
            for i in range(rows):
                for t in range(s):
                    at = (i * c + ch) * s + t
                    if batch:
                        dx[at] = scale / dy.dtype.type(n) * (dy.dtype.type(n) * dy[at] - sum_dy - xc[at] * inv * sum_dy_xhat)
                    else:
                        dx[at] = scale * dy[at]


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    c, s, p, r = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF], row[COL_BUF_OFF]
    at = capacity * row[COL_CACHE_OFF]
    batchnorm_forward(x, params[p : p + c], params[p + c : p + 2 * c], buffers[r : r + c], buffers[r + c : r + 2 * c],
                      x.dtype.type(arg[ARG_EPS]), x.dtype.type(arg[ARG_MOMENTUM]), uses_batch(training, rows, s),
                      cache[at : at + x.shape[0]], y, rows, c, s)


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    c, s, p, r = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF], row[COL_BUF_OFF]
    at = capacity * row[COL_CACHE_OFF]
    batchnorm_backward(dy, cache[at : at + dy.shape[0]], params[p : p + c], buffers[r + c : r + 2 * c],
                       x.dtype.type(arg[ARG_EPS]), uses_batch(training, rows, s), dx, grads[p : p + c],
                       grads[p + c : p + 2 * c], rows, c, s)
