"""Layer normalization on the device: the CPU's row and feature kernels (kernels.layernorm),
one thread per row in the forward pass and for dx, one per feature for dγ and dβ.
x, y, dy, dx: (rows·D,) row-major; the cache holds (rows·(D + 1),)."""
from numba import cuda

from kernels import layernorm
from kernels.codes import ARG_EPS, COL_CACHE_OFF, COL_IN_DIM, COL_P_OFF
from kernels.cuda import shared

layernorm_row = shared(layernorm.layernorm_row)
layernorm_row_backward = shared(layernorm.layernorm_row_backward)
layernorm_feature_gradient = shared(layernorm.layernorm_feature_gradient)


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    d, p = row[COL_IN_DIM], row[COL_P_OFF]
    at = capacity * row[COL_CACHE_OFF]
    eps = x.dtype.type(arg[ARG_EPS])
    for r in range(cuda.threadIdx.x, rows, cuda.blockDim.x):
        layernorm_row(x[r * d : (r + 1) * d], params[p : p + d], params[p + d : p + 2 * d], eps,
                      cache[at + r * (d + 1) : at + (r + 1) * (d + 1)], y[r * d : (r + 1) * d])


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    d, p = row[COL_IN_DIM], row[COL_P_OFF]
    at = capacity * row[COL_CACHE_OFF]
    saved = cache[at : at + rows * (d + 1)]
    for j in range(cuda.threadIdx.x, d, cuda.blockDim.x):
        grads[p + j], grads[p + d + j] = layernorm_feature_gradient(dy, saved, j, rows)
    if dx.shape[0] > 0:
        for r in range(cuda.threadIdx.x, rows, cuda.blockDim.x):
            layernorm_row_backward(dy[r * d : (r + 1) * d], params[p : p + d], saved[r * (d + 1) : (r + 1) * (d + 1)],
                                   dx[r * d : (r + 1) * d])
