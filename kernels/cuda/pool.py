"""Max and average pooling on the device (kernels.pool: k×k windows, stride s, no padding;
argmax = the first maximum's row-major index u W + v in its channel). Backward gathers: one
thread per input entry sums the gradients of the windows that chose it (max) or contain it
(avg), so overlapping windows need no atomics.

x, dx: (rows·C·H·W,); y, dy, argmax: (rows·C·H_out·W_out,).
"""
from numba import cuda

from kernels.codes import (
    COL_C_IN,
    COL_CODE,
    COL_H_IN,
    COL_H_OUT,
    COL_ICACHE_OFF,
    COL_K,
    COL_OUT_DIM,
    COL_STRIDE,
    COL_W_IN,
    COL_W_OUT,
    POOL_MAX,
)


@cuda.jit(device=True)
def maxpool_forward(k, stride, x, y, argmax, planes, h, wd, h_out, w_out):
    """y = the window maxima, argmax their positions; planes = rows·C."""
    for idx in range(cuda.threadIdx.x, planes * h_out * w_out, cuda.blockDim.x):
        j = idx % w_out
        i = idx // w_out % h_out
        base = idx // (w_out * h_out) * h * wd
        best_at = stride * i * wd + stride * j
        best = x[base + best_at]
        for u in range(stride * i, stride * i + k):
            for v in range(stride * j, stride * j + k):
                value = x[base + u * wd + v]
                if value > best or value != value:  # a NaN wins (kernels.pool)
                    best, best_at = value, u * wd + v
        y[idx] = best
        argmax[idx] = best_at


@cuda.jit(device=True)
def _windows(a, k, stride, n_out):
    """The output indices i whose window s i .. s i + k − 1 contains input index a: lo ≤ i < hi."""
    lo = max(0, (a - k) // stride + 1)
    hi = min(n_out, a // stride + 1)
    return lo, hi


@cuda.jit(device=True)
def maxpool_backward(k, stride, dy, argmax, dx, planes, h, wd, h_out, w_out):
    """dx[at] = Σ dy over the windows whose argmax is ``at``."""
    for idx in range(cuda.threadIdx.x, planes * h * wd, cuda.blockDim.x):
        e = idx % wd
        a = idx // wd % h
        plane = idx // (wd * h)
        at = a * wd + e
        acc = dx.dtype.type(0)
        i0, i1 = _windows(a, k, stride, h_out)
        j0, j1 = _windows(e, k, stride, w_out)
        for i in range(i0, i1):
            for j in range(j0, j1):
                out = (plane * h_out + i) * w_out + j
                if argmax[out] == at:
                    acc += dy[out]
        dx[idx] = acc


@cuda.jit(device=True)
def avgpool_forward(k, stride, x, y, planes, h, wd, h_out, w_out):
    """y = the window means."""
    scale = x.dtype.type(1) / x.dtype.type(k * k)
    for idx in range(cuda.threadIdx.x, planes * h_out * w_out, cuda.blockDim.x):
        j = idx % w_out
        i = idx // w_out % h_out
        base = idx // (w_out * h_out) * h * wd
        total = x.dtype.type(0)
        for u in range(stride * i, stride * i + k):
            for v in range(stride * j, stride * j + k):
                total += x[base + u * wd + v]
        y[idx] = total * scale


@cuda.jit(device=True)
def avgpool_backward(k, stride, dy, dx, planes, h, wd, h_out, w_out):
    """dx = Σ dy / k² over the windows that contain the entry."""
    scale = dy.dtype.type(1) / dy.dtype.type(k * k)
    for idx in range(cuda.threadIdx.x, planes * h * wd, cuda.blockDim.x):
        e = idx % wd
        a = idx // wd % h
        plane = idx // (wd * h)
        acc = dx.dtype.type(0)
        i0, i1 = _windows(a, k, stride, h_out)
        j0, j1 = _windows(e, k, stride, w_out)
        for i in range(i0, i1):
            for j in range(j0, j1):
                acc += dy[(plane * h_out + i) * w_out + j] * scale
        dx[idx] = acc


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    planes = rows * row[COL_C_IN]
    if row[COL_CODE] == POOL_MAX:
        at = capacity * row[COL_ICACHE_OFF]
        maxpool_forward(row[COL_K], row[COL_STRIDE], x, y, icache[at : at + rows * row[COL_OUT_DIM]], planes,
                        row[COL_H_IN], row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
    else:
        avgpool_forward(row[COL_K], row[COL_STRIDE], x, y, planes, row[COL_H_IN], row[COL_W_IN], row[COL_H_OUT],
                        row[COL_W_OUT])


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    planes = rows * row[COL_C_IN]
    if row[COL_CODE] == POOL_MAX:
        at = capacity * row[COL_ICACHE_OFF]
        maxpool_backward(row[COL_K], row[COL_STRIDE], dy, icache[at : at + rows * row[COL_OUT_DIM]], dx, planes,
                         row[COL_H_IN], row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
    else:
        avgpool_backward(row[COL_K], row[COL_STRIDE], dy, dx, planes, row[COL_H_IN], row[COL_W_IN],
                         row[COL_H_OUT], row[COL_W_OUT])
