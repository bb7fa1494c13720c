"""Losses: a value and the gradient with respect to the prediction.

Convention: a loss is a mean over the B samples of the batch; ``*_forward`` returns it and
``*_backward`` writes ∂L/∂pred into a preallocated array of the prediction's shape.
"""
from kernels.jit import kernel


@kernel
def mse_forward(pred, target):
    """Mean square loss in the book's form (Berlyand & Jabin (8.14)).

    L = (1/B) Σ_i ||pred_i - target_i||²: summed over the outputs, averaged over the samples,
    no factor ½. pred, target: (B, n). Returns L in the arrays' dtype.
    """
    n_batch, n_out = pred.shape
    total = pred.dtype.type(0)
    for i in range(n_batch):
        for j in range(n_out):
            r = pred[i, j] - target[i, j]
            total += r * r
    return total / pred.dtype.type(n_batch)


@kernel
def mse_backward(pred, target, dpred):
    """∂L/∂pred = (2/B) (pred - target) (Berlyand & Jabin (8.16)). All arrays (B, n)."""
    n_batch, n_out = pred.shape
    scale = pred.dtype.type(2) / pred.dtype.type(n_batch)
    for i in range(n_batch):
        for j in range(n_out):
            dpred[i, j] = scale * (pred[i, j] - target[i, j])
