"""Binary cross-entropy on the logit p (Treister §2): L = (1/B) Σ_i Σ_k [log(1 + e^{p_ik}) −
t_ik p_ik], targets 0/1; ∂L/∂p = (1/B)(σ(p) − t), σ computed without overflow."""
import math

from kernels.jit import inline_kernel
from kernels.losses.base import LossKind


@inline_kernel
def row_loss(p, t):
    zero = p.dtype.type(0)
    total = zero
    for j in range(p.shape[0]):
        total += max(p[j], zero) + math.log1p(math.exp(-abs(p[j]))) - t[j] * p[j]
    return total


@inline_kernel
def row_gradient(p, t, scale, dp):
    one = p.dtype.type(1)
    for j in range(p.shape[0]):
        if p[j] >= 0:
            s = one / (one + math.exp(-p[j]))
        else:
            e = math.exp(p[j])
            s = e / (one + e)
        dp[j] = scale * (s - t[j])


def sample(rng, shape):
    """0/1 targets."""
    target = rng.integers(2, size=shape).astype(float)
    return rng.standard_normal(shape), target


KIND = LossKind("logistic", "(1/B) Σ log(1 + eᵖ) − t p", row_loss, row_gradient, sample, classifies=True,
                positive=0.5)
