"""Elementwise activations on the device, with the CPU target's values and slopes
(kernels.activations). x, y, dy, dx: (count,) flat; dx may be dy."""
from numba import cuda

from kernels.activations import _slope, _value


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
