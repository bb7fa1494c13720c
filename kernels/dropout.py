"""Inverted dropout (Magyar L700-751): training only, identity at evaluation.

Each entry is kept with probability 1 − δ and then scaled by 1/(1 − δ), so the expected output
equals the input and evaluation needs no rescaling. Draws use Numba's generator, seeded by
the engine once per run.
"""
import numpy as np

from kernels.jit import kernel


@kernel
def dropout_forward(rate, x, mask, y):
    """y = x ⊙ r with r = 0 (probability δ = rate) or 1/(1 − δ). x, mask, y: (B, n); the drawn
    r is kept in ``mask`` for the backward pass. rate in [0, 1), of x's dtype."""
    one = x.dtype.type(1)
    keep = one - rate
    scale = one / keep
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            r = scale if np.random.random() < keep else x.dtype.type(0)
            mask[i, j] = r
            y[i, j] = r * x[i, j]


@kernel
def dropout_backward(dy, mask, dx):
    """dx = dy ⊙ r. dy, mask, dx: (B, n)."""
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            dx[i, j] = dy[i, j] * mask[i, j]
