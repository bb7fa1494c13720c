"""Plain gradient descent: w ← w − τ g (Berlyand & Jabin (8.3))."""
from kernels.jit import inline_kernel
from kernels.optimizers.base import OptimizerKind


@inline_kernel
def constants(t):
    return ()


@inline_kernel
def update(lr, c, w, g):
    return w - lr * g


KIND = OptimizerKind("sgd", "w ← w − τ g", (), 0, constants, update)
