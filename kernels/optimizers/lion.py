"""Lion (Chen et al., "Symbolic discovery of optimization algorithms", 2023, Program 1):
u = sign(β₁ m + (1 − β₁) g);  w ← w − τ (u + λ w);  m ← β₂ m + (1 − β₂) g.

The paper's defaults are β₁ = 0.9, β₂ = 0.99; here β₂ is the one ``beta2`` every kind reads
(default 0.999, Adam's): pass beta2=0.99 for the paper's. sign(0) = 0, as torch.sign.
"""
from kernels.jit import inline_kernel
from kernels.optimizers.adamw import WEIGHT_DECAY
from kernels.optimizers.base import BETA1, BETA2, OptimizerKind


@inline_kernel
def constants(t, beta1, beta2, weight_decay):
    one = t / t
    return beta1, one - beta1, beta2, one - beta2, weight_decay, one


@inline_kernel
def update(lr, c, w, g, m):
    beta1, rest1, beta2, rest2, weight_decay, one = c
    mix = beta1 * m + rest1 * g
    u = one if mix > 0 else (-one if mix < 0 else one - one)
    w = w - lr * (u + weight_decay * w)
    return w, beta2 * m + rest2 * g


KIND = OptimizerKind("lion", "u = sign(β₁ m + (1 − β₁) g);  w ← w − τ (u + λ w);  m ← β₂ m + (1 − β₂) g",
                     (BETA1, BETA2, WEIGHT_DECAY), 1, constants, update)
