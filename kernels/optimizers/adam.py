"""Adam (Kingma & Ba): m ← β₁ m + (1 − β₁) g;  s ← β₂ s + (1 − β₂) g²;  w ← w − τ m̂ / (√ŝ + ε),
with m̂ = m / (1 − β₁ᵗ), ŝ = s / (1 − β₂ᵗ) when bias-corrected, else m̂ = m, ŝ = s: the
Magyar text's Alg 23 as intended (as printed it mixes up m and w, see the notes; the form here
is the one its Algs 20 and 22 imply). ε outside the square root, as in PyTorch.
"""
import math

from kernels.hyper import Hyperparameter
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, BETA2, EPS, OptimizerKind

BIAS_CORRECTION = Hyperparameter("bias_correction", True, "Adam's bias correction (false: the Magyar text's form)")


@inline_kernel
def constants(t, beta1, beta2, eps, bias_correction):
    """(β₁, 1 − β₁, β₂, 1 − β₂, ε, 1 − β₁ᵗ, 1 − β₂ᵗ), or 1 for both factors without bias
    correction; t is of the dtype, so ``one`` is."""
    one = t / t
    if bias_correction != 0:
        return beta1, one - beta1, beta2, one - beta2, eps, one - beta1**t, one - beta2**t
    return beta1, one - beta1, beta2, one - beta2, eps, one, one


@inline_kernel
def update(lr, c, w, g, m, s):
    beta1, rest1, beta2, rest2, eps, c1, c2 = c
    m = beta1 * m + rest1 * g
    s = beta2 * s + rest2 * g * g
    return w - lr * (m / c1) / (math.sqrt(s / c2) + eps), m, s


KIND = OptimizerKind("adam", "m ← β₁ m + (1 − β₁) g;  s ← β₂ s + (1 − β₂) g²;  w ← w − τ m̂ / (√ŝ + ε)",
                     (BETA1, BETA2, EPS, BIAS_CORRECTION), 2, constants, update)
