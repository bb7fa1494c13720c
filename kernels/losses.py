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
import numpy as np

from kernels.codes import (
    LOSS_HINGE,
    LOSS_LOGISTIC,
    LOSS_MSE,
    LOSS_MSE_HALF,
    LOSS_SOFTMAX_CE,
)
from kernels.jit import inline_kernel, kernel


@inline_kernel
def loss_forward(code, pred, target):
    """The loss ``code`` (kernels.codes.LOSS_*) of pred against target, both (B, n), as a
    scalar of their dtype."""
    n_batch, n_out = pred.shape
    one = pred.dtype.type(1)
    total = pred.dtype.type(0)
    for i in range(n_batch):
        if code == LOSS_MSE or code == LOSS_MSE_HALF:
            for j in range(n_out):
                r = pred[i, j] - target[i, j]
                total += r * r
        elif code == LOSS_SOFTMAX_CE:
            shift = pred[i, 0]
            for j in range(1, n_out):
                shift = max(shift, pred[i, j])
            norm = pred.dtype.type(0)
            for j in range(n_out):
                norm += np.exp(pred[i, j] - shift)
            log_norm = np.log(norm) + shift
            for j in range(n_out):
                total += target[i, j] * (log_norm - pred[i, j])
        elif code == LOSS_LOGISTIC:
            for j in range(n_out):
                p = pred[i, j]
                total += max(p, one - one) + np.log1p(np.exp(-abs(p))) - target[i, j] * p
        elif code == LOSS_HINGE:
            for j in range(n_out):
                total += max(one - one, one - target[i, j] * pred[i, j])
        else:
            raise ValueError("unknown loss code")
    if code == LOSS_MSE_HALF:
        total /= one + one
    return total / pred.dtype.type(n_batch)


@inline_kernel
def loss_backward(code, pred, target, dpred):
    """∂L/∂pred of the loss ``code`` into dpred. pred, target, dpred: (B, n)."""
    n_batch, n_out = pred.shape
    one = pred.dtype.type(1)
    scale = one / pred.dtype.type(n_batch)
    if code == LOSS_MSE or code == LOSS_MSE_HALF:  # the branch outside the loops: one test per call
        if code == LOSS_MSE:
            scale += scale
        for i in range(n_batch):
            for j in range(n_out):
                dpred[i, j] = scale * (pred[i, j] - target[i, j])
    elif code == LOSS_SOFTMAX_CE:
        for i in range(n_batch):
            shift = pred[i, 0]
            for j in range(1, n_out):
                shift = max(shift, pred[i, j])
            norm = pred.dtype.type(0)
            for j in range(n_out):
                e = np.exp(pred[i, j] - shift)
                dpred[i, j] = e
                norm += e
            for j in range(n_out):
                dpred[i, j] = scale * (dpred[i, j] / norm - target[i, j])
    elif code == LOSS_LOGISTIC:
        for i in range(n_batch):
            for j in range(n_out):
                p = pred[i, j]
                if p >= 0:
                    s = one / (one + np.exp(-p))
                else:
                    e = np.exp(p)
                    s = e / (one + e)
                dpred[i, j] = scale * (s - target[i, j])
    elif code == LOSS_HINGE:
        for i in range(n_batch):
            for j in range(n_out):
                t = target[i, j]
                dpred[i, j] = -scale * t if t * pred[i, j] < one else one - one
    else:
        raise ValueError("unknown loss code")


@kernel
def n_correct(code, pred, target):
    """How many of the B rows are classified right, or -1 for a regression loss (mse).

    With several outputs the class is the argmax of the row (of the prediction and of the
    target: one-hot, 0/1 or ±1 one-vs-rest rows alike); with one output it is the side of 0
    (logistic: t > ½; hinge: t > 0; p = 0 counts as the negative class, as Magyar's Sign).
    """
    if code == LOSS_MSE or code == LOSS_MSE_HALF:
        return -1
    count = 0
    for i in range(pred.shape[0]):
        if pred.shape[1] > 1:
            best_p, best_t = 0, 0
            for j in range(1, pred.shape[1]):
                if pred[i, j] > pred[i, best_p]:
                    best_p = j
                if target[i, j] > target[i, best_t]:
                    best_t = j
            count += best_p == best_t
        else:
            threshold = 0.5 if code == LOSS_LOGISTIC else 0.0
            count += (pred[i, 0] > 0) == (target[i, 0] > threshold)
    return count
