"""Inverted dropout (Magyar L700-751): training only, identity at evaluation.

Each entry is kept with probability 1 − δ and then scaled by 1/(1 − δ), so the expected output
equals the input and evaluation needs no rescaling. Entry (i, j) of the batch is kept when
draw i n + j of the stream ``key`` (kernels.random) is below 1 − δ: the CPU and CUDA targets
drop the same entries.
"""
from kernels.jit import inline_kernel, kernel
from kernels.random import uniform


@inline_kernel
def keep_scale(rate, key, counter, one):
    """The factor r of one entry: 1/(1 − δ) if draw ``counter`` of ``key`` keeps it, else 0.
    rate: δ, one: 1, both of the data's dtype."""
    keep = one - rate
    return one / keep if uniform(key, counter) < keep else one - one


@kernel
def dropout_forward(rate, key, x, mask, y):
    """y = x ⊙ r with r = 0 (probability δ = rate) or 1/(1 − δ). x, mask, y: (B, n); the drawn
    r is kept in ``mask`` for the backward pass. rate in [0, 1), of x's dtype; key: int64 (kernels.random)."""
    one = x.dtype.type(1)
    n = x.shape[1]
    for i in range(x.shape[0]):
        for j in range(n):
            r = keep_scale(rate, key, i * n + j, one)
            mask[i, j] = r
            y[i, j] = r * x[i, j]


@kernel
def dropout_backward(dy, mask, dx):
    """dx = dy ⊙ r. dy, mask, dx: (B, n)."""
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            dx[i, j] = dy[i, j] * mask[i, j]
