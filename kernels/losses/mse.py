"""Squared error without ½ (Berlyand & Jabin (8.14)): L = (1/B) Σ_i ||p_i − t_i||²,
∂L/∂p = (2/B)(p − t) ((8.16))."""
from kernels.jit import inline_kernel
from kernels.losses.base import LossKind


@inline_kernel
def row_loss(p, t):
    total = p.dtype.type(0)
    for j in range(p.shape[0]):
        r = p[j] - t[j]
        total += r * r
    return total


@inline_kernel
def row_gradient(p, t, scale, dp):
    for j in range(p.shape[0]):
        dp[j] = scale * (p[j] - t[j])


def sample(rng, shape):
    target = rng.standard_normal(shape)
    return rng.standard_normal(shape), target


KIND = LossKind("mse", "(1/B) Σ ||p − t||²", row_loss, row_gradient, sample, classifies=False, factor=2)
