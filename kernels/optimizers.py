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
import numpy as np

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
def optimizer_step(code, hyper, lr, t, params, grads, state):
    """One update of params (P,) in place by optimizer ``code`` (kernels.codes.OPT_*).

    hyper: the run's hyperparameters (kernels.codes.H_*), of the params' dtype; lr: τ for this
    step (dtype); t: step count from 1; grads: (P,); state: (2, P), updated in place.
    """
    if code == OPT_SGD:  # first and alone: the common case reads no state and no hyperparameter
        for p in range(params.shape[0]):
            params[p] -= lr * grads[p]
        return
    one = params.dtype.type(1)
    beta1, beta2, eps = hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS]
    m, s = state[0], state[1]
    if code == OPT_MOMENTUM:
        for p in range(params.shape[0]):
            m[p] = beta1 * m[p] + (one - beta1) * grads[p]
            params[p] -= lr * m[p]
    elif code == OPT_HEAVY_BALL:
        for p in range(params.shape[0]):
            m[p] = beta1 * m[p] + grads[p]
            params[p] -= lr * m[p]
    elif code == OPT_NESTEROV:
        for p in range(params.shape[0]):
            m[p] = beta1 * m[p] + grads[p]
            params[p] -= lr * (grads[p] + beta1 * m[p])
    elif code == OPT_RMSPROP:
        for p in range(params.shape[0]):
            s[p] = beta1 * s[p] + (one - beta1) * grads[p] * grads[p]
            params[p] -= lr * grads[p] / (np.sqrt(s[p]) + eps)
    elif code == OPT_ADAM:
        c1, c2 = one, one
        if hyper[H_BIAS_CORRECTION] != 0:
            steps = params.dtype.type(t)
            c1 = one - beta1**steps
            c2 = one - beta2**steps
        for p in range(params.shape[0]):
            g = grads[p]
            m[p] = beta1 * m[p] + (one - beta1) * g
            s[p] = beta2 * s[p] + (one - beta2) * g * g
            params[p] -= lr * (m[p] / c1) / (np.sqrt(s[p] / c2) + eps)
    elif code == OPT_ADAGRAD:
        for p in range(params.shape[0]):
            s[p] += grads[p] * grads[p]
            params[p] -= lr * grads[p] / (np.sqrt(s[p]) + eps)
    else:
        raise ValueError("unknown optimizer code")
