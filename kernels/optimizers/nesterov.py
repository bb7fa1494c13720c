"""Nesterov momentum in PyTorch's form: v ← β v + g;  w ← w − τ (g + β v)."""
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, OptimizerKind


@inline_kernel
def constants(t, beta):
    return (beta,)


@inline_kernel
def update(lr, c, w, g, v):
    (beta,) = c
    v = beta * v + g
    return w - lr * (g + beta * v), v


KIND = OptimizerKind("nesterov", "v ← β v + g;  w ← w − τ (g + β v)", (BETA1,), 1, constants, update)
