"""Max and average pooling over k×k windows moved by a stride, per channel (NCHW).

Output size H_out = (H − k) // s + 1 (no padding; a partial window at the edge is dropped, as
in PyTorch). Berlyand & Jabin define max pooling on non-overlapping blocks (Defs 10.4.1-10.4.2,
per channel (10.41)); windows and strides generalize it. Max pooling sends each output's
gradient to the input that won the forward pass, saved as its argmax (the first maximum in
row-major order on ties; a window's last NaN wins, as in PyTorch, so that a NaN propagates
and divergence is seen); average pooling spreads it evenly, g / k² (Redfern A:254-258).
"""
from kernels.jit import kernel


@kernel
def maxpool_forward(k, stride, x, y, argmax):
    """y[r, c, i, j] = max of the window at (s i, s j); argmax (int64) = its row-major index
    u W + v in the channel. x: (B, C, H, W); y, argmax: (B, C, H_out, W_out)."""
    n_batch, n_c, _, w = x.shape
    h_out, w_out = y.shape[2], y.shape[3]
    for r in range(n_batch):
        for c in range(n_c):
            for i in range(h_out):
                for j in range(w_out):
                    best_u, best_v = stride * i, stride * j
                    best = x[r, c, best_u, best_v]
                    for u in range(stride * i, stride * i + k):
                        for v in range(stride * j, stride * j + k):
                            value = x[r, c, u, v]
                            if value > best or value != value:  # a NaN wins (the last, as in PyTorch)
                                best, best_u, best_v = value, u, v
                    y[r, c, i, j] = best
                    argmax[r, c, i, j] = best_u * w + best_v


@kernel
def maxpool_backward(dy, argmax, dx):
    """dx[r, c] at argmax[r, c, i, j] += dy[r, c, i, j]; zero elsewhere.
    dy, argmax: (B, C, H_out, W_out); dx: (B, C, H, W), overwritten."""
    n_batch, n_c, h_out, w_out = dy.shape
    w = dx.shape[3]
    dx[:] = 0
    for r in range(n_batch):
        for c in range(n_c):
            for i in range(h_out):
                for j in range(w_out):
                    at = argmax[r, c, i, j]
                    dx[r, c, at // w, at % w] += dy[r, c, i, j]


@kernel
def avgpool_forward(k, stride, x, y):
    """y[r, c, i, j] = mean of the window at (s i, s j). x: (B, C, H, W); y: (B, C, H_out, W_out)."""
    n_batch, n_c = x.shape[0], x.shape[1]
    h_out, w_out = y.shape[2], y.shape[3]
    scale = x.dtype.type(1) / x.dtype.type(k * k)
    for r in range(n_batch):
        for c in range(n_c):
            for i in range(h_out):
                for j in range(w_out):
                    total = x.dtype.type(0)
                    for u in range(stride * i, stride * i + k):
                        for v in range(stride * j, stride * j + k):
                            total += x[r, c, u, v]
                    y[r, c, i, j] = total * scale


@kernel
def avgpool_backward(k, stride, dy, dx):
    """dx += dy / k² over each window. dy: (B, C, H_out, W_out); dx: (B, C, H, W), overwritten."""
    n_batch, n_c, h_out, w_out = dy.shape
    scale = dy.dtype.type(1) / dy.dtype.type(k * k)
    dx[:] = 0
    for r in range(n_batch):
        for c in range(n_c):
            for i in range(h_out):
                for j in range(w_out):
                    g = dy[r, c, i, j] * scale
                    for u in range(stride * i, stride * i + k):
                        for v in range(stride * j, stride * j + k):
                            dx[r, c, u, v] += g
