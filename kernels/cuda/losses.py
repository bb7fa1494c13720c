"""Losses on the device, one thread per sample, with the CPU target's per-sample functions
(kernels.loss.row_loss / row_gradient / row_correct, generated from the loss kinds). pred,
target, dpred: (rows·n,)."""
from numba import cuda

from kernels import loss
from kernels.cuda import shared
from kernels.loss import loss_scale

row_correct = shared(loss.row_correct)
row_gradient = shared(loss.row_gradient)
row_loss = shared(loss.row_loss)


@cuda.jit(device=True)
def loss_backward(code, pred, target, dpred, rows, n):
    """dpred = ∂L/∂pred of the batch mean loss."""
    one = pred.dtype.type(1)
    scale = loss_scale(code, pred.dtype.type(rows), one)
    for i in range(cuda.threadIdx.x, rows, cuda.blockDim.x):
        row_gradient(code, pred[i * n : (i + 1) * n], target[i * n : (i + 1) * n], scale, dpred[i * n : (i + 1) * n])


@cuda.jit(device=True)
def loss_partials(code, pred, target, rows, n):
    """This thread's share of the batch: (Σ row losses, number classified right) over rows
    threadIdx.x, threadIdx.x + blockDim.x, ... (before the ½ of mse-half and the mean)."""
    total = pred.dtype.type(0)
    correct = 0
    for i in range(cuda.threadIdx.x, rows, cuda.blockDim.x):
        p, t = pred[i * n : (i + 1) * n], target[i * n : (i + 1) * n]
        total += row_loss(code, p, t)
        correct += row_correct(code, p, t)
    return total, correct
