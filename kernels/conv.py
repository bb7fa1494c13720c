"""2-D convolution over batches and channels (NCHW), with zero padding and stride.

The book's convolution is a cross-correlation, with no kernel flip (Berlyand & Jabin (10.7)):
  y[r, o, i, j] = b[o] + Σ_{c, u, v} w[o, c, u, v] x[r, c, s i + u − p, s j + v − p]
with stride s, padding p (zeros outside x) and output size H_out = (H + 2p − k) // s + 1.
Weights are stored as PyTorch stores them, (C_out, C_in, k, k), and the bias per output
channel follows them in the flat vector.

Lowered to matrix products (Redfern B:295-300): ``im2col`` copies, per sample, every input
patch into a column of ``cols`` (C_in k k, H_out W_out), so y_r = W cols_r with W viewed as
(C_out, C_in k k). Backward is the product rule and then the split rule: dW = Σ_r dy_r cols_rᵀ,
dcols_r = Wᵀ dy_r, and ``col2im`` adds every column back to the patch it came from.

The products y_r = W cols_r and dW += dy_r cols_rᵀ go through BLAS, except for patches of at
most SMALL_PATCH entries (a first layer on one channel, 5×5: 25), where BLAS spends more on
packing than on arithmetic: there plain loops over the long H_out W_out axis, which the
compiler vectorizes, take half the time or less (float32, C_out 6, 24×24 outputs: 0.38 against
0.72 ms for 64 samples, and 0.31 against 0.85 ms for the weight gradient; with 150-entry
patches BLAS is the faster by 1.7×; benchmarks/bench_kernels.py has the whole-network effect).
"""
import numpy as np

from kernels.jit import inline_kernel, inner_kernel, kernel

SMALL_PATCH = 32  # patches (C_in k k) up to this size multiply by loops rather than BLAS


def output_size(size: int, k: int, stride: int, pad: int) -> int:
    """H_out (or W_out) of a k×k window moved by ``stride`` over ``size`` + 2·pad entries."""
    return (size + 2 * pad - k) // stride + 1


@inline_kernel
def _valid_columns(v, stride, pad, width, w_out):
    """The output columns j whose input column s j + v − p lies inside [0, width): j0 ≤ j < j1
    (rows likewise, with the row offset u for v)."""
    j0 = max(0, -((v - pad) // stride)) if v < pad else 0
    j1 = min(w_out, (width - 1 + pad - v) // stride + 1)
    return j0, max(j0, j1)


# The copies below index flat views with unsigned offsets and have no test inside: with signed
# indices Numba adds a negative-index wraparound test to every access, and with the padding
# tested per row the loops did not vectorize either (an im2col of one 28×28 image into 5×5
# patches took 9.6 µs so, 3 µs as written).


@inner_kernel
def im2col(x, k, stride, pad, cols):
    """cols[(c k + u) k + v, i W_out + j] = x[c, s i + u − p, s j + v − p] (0 outside).
    x: (C, H, W); cols: (C k k, H_out W_out); both C-contiguous. With padding, cols is zeroed
    first and the copy then skips the entries outside x."""
    n_c, h, w = x.shape
    w_out = (w + 2 * pad - k) // stride + 1
    h_out = cols.shape[1] // w_out
    xf, cf = x.ravel(), cols.ravel()
    if pad > 0:
        cf[:] = 0
    step = np.uint64(stride)
    for c in range(n_c):
        for u in range(k):
            i0, i1 = _valid_columns(u, stride, pad, h, h_out)  # the same bounds, vertically
            for v in range(k):
                row = (c * k + u) * k + v
                j0, j1 = _valid_columns(v, stride, pad, w, w_out)
                n = np.uint64(j1 - j0)
                for i in range(i0, i1):
                    src = np.uint64((c * h + stride * i + u - pad) * w + stride * j0 + v - pad)
                    dst = np.uint64((row * h_out + i) * w_out + j0)
                    if stride == 1:
                        for t in range(n):
                            cf[dst + t] = xf[src + t]
                    else:
                        for t in range(n):
                            cf[dst + t] = xf[src + step * t]


@inner_kernel
def col2im(cols, k, stride, pad, x):
    """The transpose of im2col: x[c, s i + u − p, s j + v − p] += cols[(c k + u) k + v, i W_out + j]
    (x is overwritten, not accumulated into). cols: (C k k, H_out W_out); x: (C, H, W); both
    C-contiguous."""
    n_c, h, w = x.shape
    w_out = (w + 2 * pad - k) // stride + 1
    h_out = cols.shape[1] // w_out
    xf, cf = x.ravel(), cols.ravel()
    xf[:] = 0
    step = np.uint64(stride)
    for c in range(n_c):
        for u in range(k):
            i0, i1 = _valid_columns(u, stride, pad, h, h_out)
            for v in range(k):
                row = (c * k + u) * k + v
                j0, j1 = _valid_columns(v, stride, pad, w, w_out)
                n = np.uint64(j1 - j0)
                for i in range(i0, i1):
                    src = np.uint64((row * h_out + i) * w_out + j0)
                    dst = np.uint64((c * h + stride * i + u - pad) * w + stride * j0 + v - pad)
                    if stride == 1:
                        for t in range(n):
                            xf[dst + t] += cf[src + t]
                    else:
                        for t in range(n):
                            xf[dst + step * t] += cf[src + t]


@inline_kernel
def _patch_product(w2, cols, b, y):
    """y = w2 cols + b (per row). w2: (C_out, P); cols: (P, N); b: (C_out,) or (0,); y: (C_out, N)."""
    n_out, n_patch = w2.shape
    if n_patch <= SMALL_PATCH:
        for o in range(n_out):
            bias = b[o] if b.shape[0] > 0 else y.dtype.type(0)
            for j in range(y.shape[1]):
                y[o, j] = bias
            for p in range(n_patch):
                wp = w2[o, p]
                for j in range(y.shape[1]):
                    y[o, j] += wp * cols[p, j]
    else:
        np.dot(w2, cols, y)
        if b.shape[0] > 0:  # a loop: y[o] += b[o] compiles NumPy's slice-assignment error formatting (3 s)
            for o in range(n_out):
                for j in range(y.shape[1]):
                    y[o, j] += b[o]


@inline_kernel
def _add_weight_gradient(dy_r, cols, scratch, dw2):
    """dw2 += dy_r colsᵀ. dy_r: (C_out, N); cols: (P, N); scratch, dw2: (C_out, P)."""
    n_out, n_patch = dw2.shape
    if n_patch <= SMALL_PATCH:
        for o in range(n_out):
            for p in range(n_patch):
                acc = dw2.dtype.type(0)
                for j in range(dy_r.shape[1]):
                    acc += dy_r[o, j] * cols[p, j]
                dw2[o, p] += acc
    else:
        np.dot(dy_r, cols.T, scratch)
        dw2 += scratch


@kernel
def conv2d_forward(x, w, b, stride, pad, cols, y):
    """y = w ⋆ x + b (module docstring).

    x: (B, C_in, H, W); w: (C_out, C_in, k, k); b: (C_out,) or (0,) without bias;
    cols: (B, C_in k k, H_out W_out), filled with the patches (kept for the backward pass);
    y: (B, C_out, H_out, W_out), overwritten.
    """
    n_batch, n_out = x.shape[0], w.shape[0]
    k = w.shape[2]
    w2 = w.reshape((n_out, cols.shape[1]))
    for r in range(n_batch):
        im2col(x[r], k, stride, pad, cols[r])
        _patch_product(w2, cols[r], b, y[r].reshape((n_out, cols.shape[2])))


@kernel
def conv2d_backward(dy, cols, w, stride, pad, dcols, dw_r, dx, dw, db):
    """Gradients of conv2d_forward.

    dy: (B, C_out, H_out, W_out); cols: the forward's patches (B, C_in k k, H_out W_out);
    w: (C_out, C_in, k, k). Workspaces: dcols (C_in k k, H_out W_out), dw_r (C_out, C_in k k).
    Outputs, overwritten: dx (B, C_in, H, W), or (0, C_in, H, W) to skip it (first layer);
    dw (C_out, C_in, k, k); db (C_out,), or (0,) without bias.
    """
    n_batch, n_out = dy.shape[0], dy.shape[1]
    k = w.shape[2]
    n_patch = cols.shape[2]
    w2 = w.reshape((n_out, cols.shape[1]))
    dw2 = dw.reshape((n_out, cols.shape[1]))
    dw2[:] = 0
    if db.shape[0] > 0:
        db[:] = 0
    for r in range(n_batch):
        dy_r = dy[r].reshape((n_out, n_patch))
        _add_weight_gradient(dy_r, cols[r], dw_r, dw2)
        if db.shape[0] > 0:
            for o in range(n_out):
                for j in range(n_patch):
                    db[o] += dy_r[o, j]
        if dx.shape[0] > 0:
            np.dot(w2.T, dy_r, dcols)
            col2im(dcols, k, stride, pad, dx[r])
