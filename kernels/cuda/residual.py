"""The residual block on the device (kernels.layers.residual): its two dense products and its
activation by the device's dense and activation kernels, with barriers between them."""
from numba import cuda

from kernels.codes import (
    ARG_BETA,
    ARG_GAMMA,
    COL_CACHE_OFF,
    COL_CODE,
    COL_HIDDEN,
    COL_IN_DIM,
    COL_P_OFF,
)
from kernels.cuda.activations import activation_backward, activation_forward
from kernels.cuda.dense import add_into, dense_backward, dense_forward
from kernels.layers.residual import offsets


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    n, h = row[COL_IN_DIM], row[COL_HIDDEN]
    w1_at, b_at, w2_at = offsets(row[COL_P_OFF], n, h)
    z_at = capacity * row[COL_CACHE_OFF]
    a_at = z_at + capacity * h
    z, a = cache[z_at : z_at + rows * h], cache[a_at : a_at + rows * h]
    dense_forward(x, params[w1_at:b_at], params[b_at:w2_at], z, rows, n, h)
    cuda.syncthreads()
    activation_forward(row[COL_CODE], x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA]), z, a, rows * h)
    cuda.syncthreads()
    dense_forward(a, params[w2_at : w2_at + h * n], params[0:0], y, rows, h, n)
    cuda.syncthreads()
    add_into(y, x, rows * n)


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    n, h = row[COL_IN_DIM], row[COL_HIDDEN]
    w1_at, b_at, w2_at = offsets(row[COL_P_OFF], n, h)
    z_at = capacity * row[COL_CACHE_OFF]
    a_at, dz_at = z_at + capacity * h, z_at + 2 * capacity * h
    z, a, dz = cache[z_at : z_at + rows * h], cache[a_at : a_at + rows * h], cache[dz_at : dz_at + rows * h]
    dense_backward(dy, a, params[w2_at : w2_at + h * n], dz, grads[w2_at : w2_at + h * n], grads[0:0], rows, h, n)
    cuda.syncthreads()
    activation_backward(row[COL_CODE], x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA]), dz, z, a, dz,
                        rows * h)
    cuda.syncthreads()
    dense_backward(dz, x, params[w1_at:b_at], dx, grads[w1_at:b_at], grads[b_at:w2_at], rows, n, h)
    cuda.syncthreads()
    add_into(dx, dy, dx.shape[0])
