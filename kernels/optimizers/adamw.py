"""AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019, Alg 2), in
PyTorch's form: w ← w − τ λ w, then Adam's bias-corrected step (kernels.optimizers.adam) on
the decayed w. The decay is decoupled from the gradient: it is not the L2 penalty (``l2``),
which enters g and is rescaled by Adam's √ŝ.
"""
import math

from kernels.hyper import Hyperparameter, non_negative
from kernels.jit import inline_kernel
from kernels.optimizers.base import BETA1, BETA2, EPS, OptimizerKind

WEIGHT_DECAY = Hyperparameter("weight_decay", 0.01, "decoupled weight decay λ of AdamW and Lion (PyTorch's AdamW "
                              "default)", non_negative)


@inline_kernel
def constants(t, beta1, beta2, eps, weight_decay):
    one = t / t
    return beta1, one - beta1, beta2, one - beta2, eps, weight_decay, one - beta1**t, one - beta2**t


@inline_kernel
def update(lr, c, w, g, m, s):
    beta1, rest1, beta2, rest2, eps, weight_decay, c1, c2 = c
    w = w - lr * weight_decay * w
    m = beta1 * m + rest1 * g
    s = beta2 * s + rest2 * g * g
    return w - lr * (m / c1) / (math.sqrt(s / c2) + eps), m, s


KIND = OptimizerKind("adamw", "w ← w − τ λ w;  then Adam's bias-corrected step", (BETA1, BETA2, EPS, WEIGHT_DECAY), 2,
                     constants, update)
