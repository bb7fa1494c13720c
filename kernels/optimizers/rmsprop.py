"""RMSProp: s ← β s + (1 − β) g²;  w ← w − τ g / (√s + ε).

ε sits outside the square root as in PyTorch; the Magyar text puts it inside (√(s + ε), Alg 22).
"""
import math

from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, EPS, OptimizerKind


@inline_kernel
def constants(t, beta, eps):
    return beta, t / t - beta, eps


@inline_kernel
def update(lr, c, w, g, s):
    beta, rest, eps = c
    s = beta * s + rest * g * g
    return w - lr * g / (math.sqrt(s) + eps), s


KIND = OptimizerKind("rmsprop", "s ← β s + (1 − β) g²;  w ← w − τ g / (√s + ε)", (BETA1, EPS), 1, constants, update)
