"""Momentum in the exponential-average form of Magyar's Alg 20:
m ← β m + (1 − β) g;  w ← w − τ m."""
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, OptimizerKind


@inline_kernel
def constants(t, beta):
    return beta, t / t - beta


@inline_kernel
def update(lr, c, w, g, m):
    beta, rest = c
    m = beta * m + rest * g
    return w - lr * m, m


KIND = OptimizerKind("momentum", "m ← β m + (1 − β) g;  w ← w − τ m", (BETA1,), 1, constants, update)
