"""Inverted dropout on the device: the same counter-based masks as the CPU target
(kernels.dropout: entry e of the batch keeps draw e of the stream ``key``)."""
from numba import cuda

from kernels.dropout import keep_scale


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
