"""Nesterov momentum in PyTorch's form: v ← β v + g;  w ← w − τ (g + β v)."""
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, OptimizerKind
from kernels.optimizers.heavy_ball import constants  # the same state and β


@inline_kernel
def update(lr, c, w, g, v):
    (beta,) = c
    v = beta * v + g
    return w - lr * (g + beta * v), v


KIND = OptimizerKind("nesterov", "v ← β v + g;  w ← w − τ (g + β v)", (BETA1,), 1, constants, update)
