"""Optimizers acting on the flat parameter vector in one call per step.

params, grads: (P,), the whole model's parameters and gradients in the same layout; state:
(2, P), zero at the start of a run; t: the 1-based step count; lr: this step's τ. g = grads.

- sgd          w ← w − τ g                                   (Berlyand & Jabin (8.3))
- momentum     m ← β m + (1 − β) g;  w ← w − τ m              the EMA form of Magyar Alg 20
- heavy-ball   v ← β v + g;  w ← w − τ v                       Polyak; PyTorch's SGD momentum
- nesterov     v ← β v + g;  w ← w − τ (g + β v)              PyTorch's Nesterov form
- rmsprop      s ← β s + (1 − β) g²;  w ← w − τ g / (√s + ε)
- adam         m ← β₁ m + (1 − β₁) g;  s ← β₂ s + (1 − β₂) g²;
               m̂ = m / (1 − β₁ᵗ), ŝ = s / (1 − β₂ᵗ) with bias correction (Kingma & Ba), else
               m̂ = m, ŝ = s (the Magyar text's Alg 23 as intended);  w ← w − τ m̂ / (√ŝ + ε)
- adagrad      s ← s + g²;  w ← w − τ g / (√s + ε)

ε sits outside the square root as in PyTorch and Kingma & Ba; the Magyar text puts it inside
(√(s + ε), Alg 22). Its Alg 23 as printed mixes up m and w (see the notes); the form above is
the one its Algs 20 and 22 imply.
"""
import math

from kernels.codes import (
    H_BETA1,
    H_BETA2,
    H_BIAS_CORRECTION,
    H_EPS,
    OPT_ADAGRAD,
    OPT_ADAM,
    OPT_HEAVY_BALL,
    OPT_MOMENTUM,
    OPT_NESTEROV,
    OPT_RMSPROP,
    OPT_SGD,
)
from kernels.jit import inline_kernel


@inline_kernel
def bias_factors(code, hyper, t):
    """(1 − β₁ᵗ, 1 − β₂ᵗ) for bias-corrected Adam at step t, else (1, 1), of hyper's dtype."""
    one = hyper.dtype.type(1)
    if code == OPT_ADAM and hyper[H_BIAS_CORRECTION] != 0:
        steps = hyper.dtype.type(t)
        return one - hyper[H_BETA1] ** steps, one - hyper[H_BETA2] ** steps
    return one, one


@inline_kernel
def update(code, lr, beta1, beta2, eps, c1, c2, w, g, m, s):
    """One entry's step of optimizer ``code``: returns the new (w, m, s) from the parameter w,
    its gradient g and state m, s (module docstring); β₁, β₂, ε from hyper, c1, c2 from
    bias_factors; all scalars of one dtype. Shared by every target."""
    one = c1 / c1
    if code == OPT_SGD:
        return w - lr * g, m, s
    if code == OPT_MOMENTUM:
        m = beta1 * m + (one - beta1) * g
        return w - lr * m, m, s
    if code == OPT_HEAVY_BALL:
        m = beta1 * m + g
        return w - lr * m, m, s
    if code == OPT_NESTEROV:
        m = beta1 * m + g
        return w - lr * (g + beta1 * m), m, s
    if code == OPT_RMSPROP:
        s = beta1 * s + (one - beta1) * g * g
        return w - lr * g / (math.sqrt(s) + eps), m, s
    if code == OPT_ADAM:
        m = beta1 * m + (one - beta1) * g
        s = beta2 * s + (one - beta2) * g * g
        return w - lr * (m / c1) / (math.sqrt(s / c2) + eps), m, s
    if code == OPT_ADAGRAD:
        s = s + g * g
        return w - lr * g / (math.sqrt(s) + eps), m, s
    raise ValueError("unknown optimizer code")


@inline_kernel
def optimizer_step(code, hyper, lr, t, params, grads, state):
    """One update of params (P,) in place by optimizer ``code`` (kernels.codes.OPT_*).

    hyper: the run's hyperparameters (kernels.codes.H_*), of the params' dtype; lr: τ for this
    step (dtype); t: step count from 1; grads: (P,); state: (2, P), updated in place.
    """
    if code == OPT_SGD:  # first and alone: the common case reads no state and no hyperparameter
        for p in range(params.shape[0]):
            params[p] -= lr * grads[p]
        return
    c1, c2 = bias_factors(code, hyper, t)
    beta1, beta2, eps = hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS]
    m, s = state[0], state[1]
    for p in range(params.shape[0]):
        params[p], m[p], s[p] = update(code, lr, beta1, beta2, eps, c1, c2, params[p], grads[p], m[p], s[p])
