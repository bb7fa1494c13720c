"""Losses: a value and the gradient with respect to the prediction, and the accuracy count.

Convention: a loss is a mean over the B samples of the batch and a sum over the outputs;
``loss_forward`` returns it and ``loss_backward`` writes ∂L/∂pred into a preallocated array of
the prediction's shape. pred, target, dpred: (B, n), one dtype; the target encodes the labels:
one-hot rows (softmax-ce), 0/1 (logistic), ±1 (hinge), values (mse).

- mse         L = (1/B) Σ_i ||p_i − t_i||²          (Berlyand & Jabin (8.14): no ½)
              ∂L/∂p = (2/B)(p − t)                  ((8.16))
- mse-half    L = (1/B) Σ_i ½||p_i − t_i||²         (Magyar (5), Redfern A:455)
              ∂L/∂p = (1/B)(p − t)
- softmax-ce  L = −(1/B) Σ_i Σ_k t_ik log softmax(p_i)_k, fused with the softmax and shifted
              by max_k p_ik so that no exponent overflows (Treister L239-272, Redfern B:321-329)
              ∂L/∂p = (1/B)(softmax(p) − t), for targets whose rows sum to 1 (one-hot or
              probabilities); each row of it then sums to 0
- logistic    L = (1/B) Σ_i Σ_k [log(1 + e^{p_ik}) − t_ik p_ik], binary cross-entropy on the
              logit p (Treister §2); ∂L/∂p = (1/B)(σ(p) − t)
- hinge       L = (1/B) Σ_i Σ_k max(0, 1 − t_ik p_ik)  (Berlyand & Jabin (7.11)); the λ||w||²
              of the soft-margin SVM (7.12) is the L2 regularizer with λ₂ = 2λ
              ∂L/∂p = −(1/B) t where t p < 1, else 0 (the branch at t p = 1 is 0)
"""
import math

from kernels.codes import (
    LOSS_HINGE,
    LOSS_LOGISTIC,
    LOSS_MSE,
    LOSS_MSE_HALF,
    LOSS_SOFTMAX_CE,
)
from kernels.jit import inline_kernel, kernel


@inline_kernel
def row_loss(code, p, t):
    """Σ_k of the loss ``code`` on one sample, before the ½ of mse-half and the mean over the
    batch: p, t: (n,) prediction and target rows. Shared by every target."""
    n = p.shape[0]
    one = p.dtype.type(1)
    zero = one - one
    total = zero
    if code == LOSS_MSE or code == LOSS_MSE_HALF:
        for j in range(n):
            r = p[j] - t[j]
            total += r * r
    elif code == LOSS_SOFTMAX_CE:
        shift = p[0]
        for j in range(1, n):
            shift = max(shift, p[j])
        norm = zero
        for j in range(n):
            norm += math.exp(p[j] - shift)
        log_norm = math.log(norm)  # of the shifted logits: adding the shift back first would round
        for j in range(n):         # log 3 + 1e4 to float32's spacing there (1e-3)
            total += t[j] * (log_norm - (p[j] - shift))
    elif code == LOSS_LOGISTIC:
        for j in range(n):
            total += max(p[j], zero) + math.log1p(math.exp(-abs(p[j]))) - t[j] * p[j]
    elif code == LOSS_HINGE:
        for j in range(n):  # a NaN passes (NaN <= 0 is false; max(0, NaN) would drop it)
            margin = one - t[j] * p[j]
            total += zero if margin <= zero else margin
    else:
        raise ValueError("unknown loss code")
    return total


@inline_kernel
def row_gradient(code, p, t, scale, dp):
    """dp = scale ⊙ ∂/∂p of the loss ``code`` on one sample (scale = 1/B: the mean over the
    batch; loss_scale gives it). p, t, dp: (n,). Shared by every target."""
    n = p.shape[0]
    one = p.dtype.type(1)
    if code == LOSS_MSE or code == LOSS_MSE_HALF:
        for j in range(n):
            dp[j] = scale * (p[j] - t[j])
    elif code == LOSS_SOFTMAX_CE:
        shift = p[0]
        for j in range(1, n):
            shift = max(shift, p[j])
        norm = one - one
        for j in range(n):
            e = math.exp(p[j] - shift)
            dp[j] = e
            norm += e
        for j in range(n):
            dp[j] = scale * (dp[j] / norm - t[j])
    elif code == LOSS_LOGISTIC:
        for j in range(n):
            if p[j] >= 0:
                s = one / (one + math.exp(-p[j]))
            else:
                e = math.exp(p[j])
                s = e / (one + e)
            dp[j] = scale * (s - t[j])
    elif code == LOSS_HINGE:
        for j in range(n):
            dp[j] = one - one if t[j] * p[j] >= one else -scale * t[j]
    else:
        raise ValueError("unknown loss code")


@inline_kernel
def loss_scale(code, n_batch, one):
    """The factor of row_gradient for a batch of B rows: 2/B for mse, else 1/B. n_batch (B)
    and one (1) of the data's dtype."""
    scale = one / n_batch
    return scale + scale if code == LOSS_MSE else scale


@inline_kernel
def row_correct(code, p, t):
    """1 if the sample is classified right, else 0 (kernels.losses.n_correct). p, t: (n,)."""
    n = p.shape[0]
    if n > 1:
        best_p, best_t = 0, 0
        for j in range(1, n):
            if p[j] > p[best_p]:
                best_p = j
            if t[j] > t[best_t]:
                best_t = j
        return 1 if best_p == best_t else 0
    threshold = 0.5 if code == LOSS_LOGISTIC else 0.0
    return 1 if (p[0] > 0) == (t[0] > threshold) else 0


@inline_kernel
def is_regression(code):
    """Whether the loss ``code`` is a regression loss (mse, mse-half): no accuracy."""
    return code == LOSS_MSE or code == LOSS_MSE_HALF


@inline_kernel
def batch_mean(code, total, n_batch):
    """The loss of a batch from the sum of its row_loss values: the ½ of mse-half, then the
    mean over the B rows. total and n_batch (B) of one dtype. Shared by every target."""
    return total / (n_batch + n_batch) if code == LOSS_MSE_HALF else total / n_batch


@kernel
def loss_forward(code, pred, target):
    """The loss ``code`` (kernels.codes.LOSS_*) of pred against target, both (B, n), as a
    scalar of their dtype."""
    total = pred.dtype.type(0)
    for i in range(pred.shape[0]):
        total += row_loss(code, pred[i], target[i])
    return batch_mean(code, total, pred.dtype.type(pred.shape[0]))


@kernel
def loss_backward(code, pred, target, dpred):
    """∂L/∂pred of the loss ``code`` into dpred. pred, target, dpred: (B, n)."""
    scale = loss_scale(code, pred.dtype.type(pred.shape[0]), pred.dtype.type(1))
    for i in range(pred.shape[0]):
        row_gradient(code, pred[i], target[i], scale, dpred[i])


@kernel
def n_correct(code, pred, target):
    """How many of the B rows are classified right, or -1 for a regression loss (mse).

    With several outputs the class is the argmax of the row (of the prediction and of the
    target: one-hot, 0/1 or ±1 one-vs-rest rows alike); with one output it is the side of 0
    (logistic: t > ½; hinge: t > 0; p = 0 counts as the negative class, as Magyar's Sign).
    """
    if is_regression(code):
        return -1
    count = 0
    for i in range(pred.shape[0]):
        count += row_correct(code, pred[i], target[i])
    return count
