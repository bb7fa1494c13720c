"""Dense (fully connected) layer: ``y = x W + b``.

Parameter layout (one convention everywhere): ``W`` is stored as ``(n_in, n_out)`` row-major,
the transpose of the book's ``A`` (Berlyand & Jabin (4.6), ``g(x) = A x + b``), so that the
innermost loops run over contiguous memory; the bias follows ``W`` in the flat vector.
Small products use hand loops (a BLAS call costs about a microsecond, too much at batch size 1);
large ones call BLAS through ``np.dot``.
"""
import numpy as np

from kernels.jit import inline_kernel, kernel
from kernels.views import row

# Products with at least this many multiply-adds (B * n_in * n_out) go to BLAS: the crossover
# measured for 4 -> 64 and 16 -> 16 layers against single-threaded OpenBLAS.
BLAS_MIN_WORK = 1 << 13


@inline_kernel
def row_product(x_row, w, b, y_row):
    """y_row = x_row @ w + b for one sample. x_row: (n_in,); w: (n_in, n_out); b: (n_out,) or
    (0,); y_row: (n_out,), overwritten."""
    n_in, n_out = w.shape
    if b.shape[0] > 0:
        for j in range(n_out):
            y_row[j] = b[j]
    else:
        for j in range(n_out):
            y_row[j] = 0
    # Four input features per pass over the output row: a quarter of the loads/stores.
    k = 0
    while k + 4 <= n_in:
        x0, x1, x2, x3 = x_row[k], x_row[k + 1], x_row[k + 2], x_row[k + 3]
        for j in range(n_out):
            y_row[j] += x0 * w[k, j] + x1 * w[k + 1, j] + x2 * w[k + 2, j] + x3 * w[k + 3, j]
        k += 4
    for k in range(k, n_in):
        x_k = x_row[k]
        for j in range(n_out):
            y_row[j] += x_k * w[k, j]


@kernel
def dense_forward(x, w, b, y):
    """y = x @ w + b.

    x: (B, n_in); w: (n_in, n_out); b: (n_out,), or (0,) for a layer without bias;
    y: (B, n_out), overwritten.
    """
    n_batch, n_in = x.shape
    n_out = w.shape[1]
    if n_batch * n_in * n_out < BLAS_MIN_WORK:
        for i in range(n_batch):
            row_product(row(x, i), w, b, row(y, i))
        return
    np.dot(x, w, y)
    if b.shape[0] > 0:
        for i in range(n_batch):
            for j in range(n_out):
                y[i, j] += b[j]


@kernel
def dense_backward(dy, x, w, dx, dw, db):
    """Gradients of y = x @ w + b (Treister notes L561-599, batched: dW = xᵀ dy).

    dy: (B, n_out) = ∂L/∂y; x: (B, n_in) the forward input; w: (n_in, n_out).
    Outputs, overwritten: dx: (B, n_in) = dy wᵀ, or (0, n_in) to skip it (first layer);
    dw: (n_in, n_out) = xᵀ dy; db: (n_out,) = Σ_i dy_i, or (0,) for a layer without bias.
    """
    n_batch, n_in = x.shape
    n_out = w.shape[1]
    large = n_batch * n_in * n_out >= BLAS_MIN_WORK
    if large:
        np.dot(x.T, dy, dw)
    else:
        # The first pass writes dW from the n_batch % 4 leftover samples (zero if none), so that
        # batch size 1 takes a single pass; then four samples per pass accumulate.
        rem = n_batch % 4
        for k in range(n_in):
            if rem == 0:
                for j in range(n_out):
                    dw[k, j] = 0
            elif rem == 1:
                x0 = x[0, k]
                for j in range(n_out):
                    dw[k, j] = x0 * dy[0, j]
            elif rem == 2:
                x0, x1 = x[0, k], x[1, k]
                for j in range(n_out):
                    dw[k, j] = x0 * dy[0, j] + x1 * dy[1, j]
            else:
                x0, x1, x2 = x[0, k], x[1, k], x[2, k]
                for j in range(n_out):
                    dw[k, j] = x0 * dy[0, j] + x1 * dy[1, j] + x2 * dy[2, j]
        for i in range(rem, n_batch, 4):
            for k in range(n_in):
                x0, x1, x2, x3 = x[i, k], x[i + 1, k], x[i + 2, k], x[i + 3, k]
                for j in range(n_out):
                    dw[k, j] += x0 * dy[i, j] + x1 * dy[i + 1, j] + x2 * dy[i + 2, j] + x3 * dy[i + 3, j]
    if db.shape[0] > 0:
        for j in range(n_out):
            db[j] = dy[0, j]
        for i in range(1, n_batch):
            for j in range(n_out):
                db[j] += dy[i, j]
    if dx.shape[0] > 0:
        if large:
            np.dot(dy, w.T, dx)
        else:
            for i in range(n_batch):
                for k in range(n_in):
                    acc = dy[i, 0] * w[k, 0]
                    for j in range(1, n_out):
                        acc += dy[i, j] * w[k, j]
                    dx[i, k] = acc
