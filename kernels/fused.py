"""The one-dense-layer model (linear, logistic or softmax regression) fused with its loss.

For p = x W + b the gradient of a per-sample loss is a sum over the batch of outer products,
∂L/∂W = Σ_i x_iᵀ ∂L/∂p_i, ∂L/∂b = Σ_i ∂L/∂p_i (Treister notes L561-599), so one pass over the
samples does forward, loss gradient and backward with one prediction row in cache: no batch
is copied and no (B, n_out) block is written or read back. The engine takes this path for a
plan of a single dense layer; it is the composition dense_forward, loss_backward,
dense_backward summed in another order. ``dense_loss_gradient_for[variant]`` holds the
variant's losses (kernels.loss), ``dense_loss_gradient`` every loss kind.
"""
from kernels.dense import row_product
from kernels.jit import inline_kernel
from kernels.loss import EVERY, loss_scale_for, row_gradient_for
from kernels.specialize import PerVariant, losses_only
from kernels.views import row


@PerVariant.template(inline_kernel, key=losses_only)
def dense_loss_gradient_for(code, x, y, index, start, rows, w, b, dw, db, scratch):
    """Gradient of the loss ``code`` (kernels.losses) of p = x W + b on the batch of samples
    index[start : start + rows] of (x, y), in the layer's layout (kernels.dense).

    x: (N, n_in), y: (N, n_out): the data; index: (N,) int; w: (n_in, n_out); b: (n_out,) or
    (0,) for a layer without bias. Outputs, overwritten: dw: (n_in, n_out); db: b's shape;
    scratch: (2, n_out), left holding the last sample's prediction and ∂L/∂p.
    """
    n_in, n_out = w.shape
    p, dp = row(scratch, 0), row(scratch, 1)
    scale = loss_scale_for(code, x.dtype.type(rows), x.dtype.type(1))
    for k in range(n_in):
        for j in range(n_out):
            dw[k, j] = 0
    for j in range(db.shape[0]):
        db[j] = 0
    for r in range(rows):
        i = index[start + r]
        x_row = row(x, i)
        row_product(x_row, w, b, p)
        row_gradient_for(code, p, row(y, i), scale, dp)
        for k in range(n_in):
            x_k = x_row[k]
            for j in range(n_out):
                dw[k, j] += x_k * dp[j]
        for j in range(db.shape[0]):
            db[j] += dp[j]


dense_loss_gradient = dense_loss_gradient_for.of(EVERY)
