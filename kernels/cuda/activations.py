"""Elementwise activations on the device, with the CPU target's values and slopes
(kernels.activations). x, y, dy, dx: (count,) flat; dx may be dy."""
from numba import cuda

from kernels.activations import _slope, _value
from kernels.codes import ARG_BETA, ARG_GAMMA, COL_CODE


@cuda.jit(device=True)
def activation_forward(code, beta, gamma, x, y, count):
    """y = f(x) for the first ``count`` entries."""
    one = x.dtype.type(1)
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        y[idx] = _value(code, x[idx], beta, gamma, one)


@cuda.jit(device=True)
def activation_backward(code, beta, gamma, dy, x, y, dx, count):
    """dx = f'(x) ⊙ dy, given the forward input x and output y."""
    one = x.dtype.type(1)
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        dx[idx] = _slope(code, x[idx], y[idx], beta, gamma, one) * dy[idx]


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    beta, gamma = x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA])
    activation_forward(row[COL_CODE], beta, gamma, x, y, x.shape[0])


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    beta, gamma = x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA])
    activation_backward(row[COL_CODE], beta, gamma, dy, x, y, dx, x.shape[0])
