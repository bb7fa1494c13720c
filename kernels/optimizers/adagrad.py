"""AdaGrad: s ← s + g²;  w ← w − τ g / (√s + ε) (ε outside the root, as in PyTorch)."""
import math

from kernels.jit import inline_kernel
from kernels.optimizers.base import EPS, OptimizerKind


@inline_kernel
def constants(t, eps):
    return (eps,)


@inline_kernel
def update(lr, c, w, g, s):
    (eps,) = c
    s = s + g * g
    return w - lr * g / (math.sqrt(s) + eps), s


KIND = OptimizerKind("adagrad", "s ← s + g²;  w ← w − τ g / (√s + ε)", (EPS,), 1, constants, update)
