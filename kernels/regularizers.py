"""Weight penalties on the flat parameter vector (Magyar §3.3, (24)-(29)).

R(w) = λ₁ Σ m_p |w_p| + (λ₂/2) Σ m_p w_p², with gradient λ₁ m ⊙ sign(w) + λ₂ m ⊙ w (sign(0) = 0,
Magyar (27)). The mask m (P,) of the params' dtype is 1 on penalized entries: the weights of
every layer, and the biases too where a model asks for it (kernels.plan.Plan.penalty_mask).
The soft-margin SVM's λ||w||² (Berlyand & Jabin (7.12)) is λ₂ = 2λ. The penalty is added to
the gradient once per step of a mean loss, so λ does not scale with the batch size.
"""
import numpy as np

from kernels.jit import kernel


@kernel
def penalty(params, mask, l1, l2):
    """R(w) as a scalar of the params' dtype. params, mask: (P,); l1, l2: λ₁, λ₂ (dtype)."""
    total = params.dtype.type(0)
    half_l2 = l2 / params.dtype.type(2)
    for p in range(params.shape[0]):
        w = params[p]
        total += mask[p] * (l1 * abs(w) + half_l2 * w * w)
    return total


@kernel
def penalty_gradient(params, mask, l1, l2, grads):
    """grads += ∇R(w). params, mask, grads: (P,); l1, l2: λ₁, λ₂ (dtype)."""
    for p in range(params.shape[0]):
        w = params[p]
        grads[p] += mask[p] * (l1 * np.sign(w) + l2 * w)
