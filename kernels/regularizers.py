"""Weight penalties on the flat parameter vector (Magyar §3.3, (24)-(29)).

R(w) = λ₁ Σ m_p |w_p| + (λ₂/2) Σ m_p w_p², with gradient λ₁ m ⊙ sign(w) + λ₂ m ⊙ w (sign(0) = 0,
Magyar (27)). The mask m (P,) of the params' dtype is 1 on penalized entries: the weights of
every layer, and the biases too where a model asks for it (kernels.plan.Plan.penalty_mask).
The soft-margin SVM's λ||w||² (Berlyand & Jabin (7.12)) is λ₂ = 2λ. The penalty is added to
the gradient once per step of a mean loss, so λ does not scale with the batch size.
"""
from kernels.jit import inline_kernel, kernel


@inline_kernel
def penalty_slope(w, m, l1, l2, one):
    """∂R/∂w of one entry with mask m: m (λ₁ sign(w) + λ₂ w), sign(0) = 0; all of one dtype,
    one = 1. Shared by every target."""
    sign = one if w > 0 else (-one if w < 0 else one - one)
    return m * (l1 * sign + l2 * w)


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
    one = params.dtype.type(1)
    for p in range(params.shape[0]):
        grads[p] += penalty_slope(params[p], mask[p], l1, l2, one)
