"""Softmax cross-entropy fused with the softmax: L = −(1/B) Σ_i Σ_k t_ik log softmax(p_i)_k,
shifted by max_k p_ik so that no exponent overflows (Treister L239-272, Redfern B:321-329);
∂L/∂p = (1/B)(softmax(p) − t), for targets whose rows sum to 1 (one-hot or probabilities)."""
import math

import numpy as np

from kernels.jit import inline_kernel
from kernels.losses.base import LossKind


@inline_kernel
def row_loss(p, t):
    n = p.shape[0]
    zero = p.dtype.type(0)
    shift = p[0]
    for j in range(1, n):
        shift = max(shift, p[j])
    norm = zero
    for j in range(n):
        norm += math.exp(p[j] - shift)
    log_norm = math.log(norm)  # of the shifted logits: adding the shift back first would round
    total = zero               # log 3 + 1e4 to float32's spacing there (1e-3)
    for j in range(n):
        total += t[j] * (log_norm - (p[j] - shift))
    return total


@inline_kernel
def row_gradient(p, t, scale, dp):
    n = p.shape[0]
    shift = p[0]
    for j in range(1, n):
        shift = max(shift, p[j])
    norm = p.dtype.type(0)
    for j in range(n):
        e = math.exp(p[j] - shift)
        dp[j] = e
        norm += e
    for j in range(n):
        dp[j] = scale * (dp[j] / norm - t[j])


def sample(rng, shape):
    """One-hot targets."""
    target = np.eye(shape[1])[rng.integers(shape[1], size=shape[0])]
    return rng.standard_normal(shape), target


KIND = LossKind("softmax-ce", "−(1/B) Σ t · log softmax(p)", row_loss, row_gradient, sample, classifies=True)
