"""Polyak's heavy ball, PyTorch's SGD with momentum: v ← β v + g;  w ← w − τ v."""
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, OptimizerKind


@inline_kernel
def constants(t, beta):
    return (beta,)


@inline_kernel
def update(lr, c, w, g, v):
    (beta,) = c
    v = beta * v + g
    return w - lr * v, v


KIND = OptimizerKind("heavy-ball", "v ← β v + g;  w ← w − τ v", (BETA1,), 1, constants, update)
