"""Hinge loss (Berlyand & Jabin (7.11)): L = (1/B) Σ_i Σ_k max(0, 1 − t_ik p_ik), targets ±1;
∂L/∂p = −(1/B) t where t p < 1, else 0 (the branch at t p = 1 is 0). The λ||w||² of the
soft-margin SVM (7.12) is the L2 penalty with λ₂ = 2λ."""
from kernels.gradcheck import away_from_zero
from kernels.jit import inline_kernel
from kernels.losses.base import LossKind


@inline_kernel
def row_loss(p, t):
    one = p.dtype.type(1)
    zero = one - one
    total = zero
    for j in range(p.shape[0]):  # a NaN passes (NaN <= 0 is false; max(0, NaN) would drop it)
        margin = one - t[j] * p[j]
        total += zero if margin <= zero else margin
    return total


@inline_kernel
def row_gradient(p, t, scale, dp):
    one = p.dtype.type(1)
    for j in range(p.shape[0]):
        dp[j] = one - one if t[j] * p[j] >= one else -scale * t[j]


def sample(rng, shape):
    """±1 targets, and t·p kept away from the hinge at 1."""
    target = rng.choice([-1.0, 1.0], size=shape)
    return target * (1 + away_from_zero(rng.standard_normal(shape), 0.3)), target


KIND = LossKind("hinge", "(1/B) Σ max(0, 1 − t p)", row_loss, row_gradient, sample, classifies=True, negative=-1.0)
