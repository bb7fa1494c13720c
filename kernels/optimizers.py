"""Optimizers acting on the flat parameter vector in one call.

params, grads: (P,), the whole model's parameters and their gradients in the same layout.
"""
from kernels.jit import kernel


@kernel
def sgd_step(params, grads, lr):
    """Plain (stochastic) gradient descent, a ← a − τ ∇L (Berlyand & Jabin (8.3), (8.11)).

    params, grads: (P,); lr: the step τ, a scalar of the params' dtype. Updates params in place.
    """
    for p in range(params.shape[0]):
        params[p] -= lr * grads[p]
