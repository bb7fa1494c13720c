"""Batch normalization (Ioffe & Szegedy 2015), per feature of a flat input or per channel of
an image: x (rows, C, S) with S = H·W (S = 1 for features), stored flat and row-major, entry
(i, ch, t) at (i·C + ch)·S + t.

Training: the statistics of the batch, μ_c = mean over (rows, S) of x and σ²_c = mean of
(x − μ_c)² (biased), normalize: x̂ = (x − μ_c)/sqrt(σ²_c + ε); y = γ_c x̂ + β_c. The running
statistics move toward the batch's: r ← (1 − m) r + m · batch, with the unbiased variance
σ²_c · n/(n − 1), n = rows·S (PyTorch's convention). Evaluation: the running statistics in
place of the batch's. The centred input x − μ is kept for the backward pass, which gets σ²
from it again rather than storing it.

Each function is one channel's work: the CPU layer (kernels.layers.batchnorm) calls it for
every channel, the device (kernels.cuda.batchnorm) for a thread's channels, so each formula is
written once for both targets.
"""
import math

from kernels.jit import inner_kernel, kernel


@inner_kernel
def centred_variance(xc, ch, rows, c, s):
    """σ²_c: the mean of xc² over channel ch's rows·s entries of the centred input xc."""
    sq = xc.dtype.type(0)
    for i in range(rows):
        for t in range(s):
            sq += xc[(i * c + ch) * s + t] * xc[(i * c + ch) * s + t]
    return sq / xc.dtype.type(rows * s)


@kernel
def channel_forward(x, gamma, beta, running_mean, running_var, eps, momentum, batch, xc, y, ch, rows, c, s):
    """Channel ch of y = γ x̂ + β into y, with xc = x − μ kept; batch: the batch's statistics
    (and the running ones updated), else the running ones. gamma, beta, running_*: (C,); x, xc,
    y: (rows·C·S,); eps, momentum of x's dtype."""
    one = x.dtype.type(1)
    n = rows * s
    if batch:
        total = x.dtype.type(0)
        for i in range(rows):
            for t in range(s):
                total += x[(i * c + ch) * s + t]
        mean = total / x.dtype.type(n)
    else:
        mean = running_mean[ch]
    for i in range(rows):
        for t in range(s):
            xc[(i * c + ch) * s + t] = x[(i * c + ch) * s + t] - mean
    if batch:
        var = centred_variance(xc, ch, rows, c, s)
        unbias = x.dtype.type(n) / x.dtype.type(n - 1)
        running_mean[ch] = (one - momentum) * running_mean[ch] + momentum * mean
        running_var[ch] = (one - momentum) * running_var[ch] + momentum * var * unbias
    else:
        var = running_var[ch]
    scale = gamma[ch] / math.sqrt(var + eps)
    for i in range(rows):
        for t in range(s):
            at = (i * c + ch) * s + t
            y[at] = scale * xc[at] + beta[ch]


@kernel
def channel_backward(dy, xc, gamma, running_var, eps, batch, dx, dgamma, dbeta, ch, rows, c, s):
    """Channel ch's gradients of y = γ x̂ + β with x̂ = xc / sqrt(var + ε): dgamma[ch] = Σ dy x̂
    and dbeta[ch] = Σ dy over (rows, S). batch: var is the batch's own variance (from xc), a
    function of x, so dx = γ/(n sqrt(var + ε)) (n dy − Σ dy − x̂ Σ dy x̂) (n = rows·S); else var
    and the mean are the running constants, dx = γ dy / sqrt(var + ε). dx may have 0 entries
    (nothing below needs it)."""
    n = dy.dtype.type(rows * s)
    var = centred_variance(xc, ch, rows, c, s) if batch else running_var[ch]
    inv = dy.dtype.type(1) / math.sqrt(var + eps)
    sum_dy = dy.dtype.type(0)
    sum_dy_xhat = dy.dtype.type(0)
    for i in range(rows):
        for t in range(s):
            at = (i * c + ch) * s + t
            sum_dy += dy[at]
            sum_dy_xhat += dy[at] * xc[at] * inv
    dgamma[ch] = sum_dy_xhat
    dbeta[ch] = sum_dy
    if dx.shape[0] == 0:
        return
    scale = gamma[ch] * inv
    for i in range(rows):
        for t in range(s):
            at = (i * c + ch) * s + t
            if batch:
                dx[at] = scale / n * (n * dy[at] - sum_dy - xc[at] * inv * sum_dy_xhat)
            else:
                dx[at] = scale * dy[at]
