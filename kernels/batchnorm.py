"""Batch normalization (Ioffe & Szegedy 2015), per feature of a flat input or per channel of
an image: x (B, C, S) with S = H·W (S = 1 for features).

Training: the statistics of the batch, μ_c = mean over (B, S) of x and σ²_c = mean of
(x − μ_c)² (biased), normalize; x̂ = (x − μ_c)/sqrt(σ²_c + ε); y = γ_c x̂ + β_c. The running
statistics move toward the batch's: r ← (1 − m) r + m · batch, with the unbiased variance
σ²_c · n/(n − 1), n = B·S (PyTorch's convention). Evaluation: the running statistics in place
of the batch's. A forward pass is channel_means (training only), centre, centred_variance
(training only) and normalize. The centred input x − μ is kept for the backward pass, which
gets σ² from it by centred_variance again rather than storing it.
"""
import numpy as np

from kernels.jit import kernel


@kernel
def channel_means(x, mean):
    """mean[c] = μ_c of x (B, C, S) over its B·S entries per channel."""
    b, c, s = x.shape
    n = x.dtype.type(b * s)
    for ch in range(c):
        total = x.dtype.type(0)
        for i in range(b):
            for t in range(s):
                total += x[i, ch, t]
        mean[ch] = total / n


@kernel
def centre(x, mean, xc):
    """xc = x − mean_c. x, xc: (B, C, S); mean: (C,)."""
    b, c, s = x.shape
    for ch in range(c):
        for i in range(b):
            for t in range(s):
                xc[i, ch, t] = x[i, ch, t] - mean[ch]


@kernel
def centred_variance(xc, var):
    """var[c] = σ²_c, the mean of xc² over (B, S), from the centred input xc (B, C, S)."""
    b, c, s = xc.shape
    n = xc.dtype.type(b * s)
    for ch in range(c):
        sq = xc.dtype.type(0)
        for i in range(b):
            for t in range(s):
                sq += xc[i, ch, t] * xc[i, ch, t]
        var[ch] = sq / n


@kernel
def normalize(xc, gamma, beta, var, eps, y):
    """y = γ_c xc / sqrt(var_c + ε) + β_c. xc, y: (B, C, S); gamma, beta, var: (C,); eps of
    xc's dtype."""
    b, c, s = xc.shape
    for ch in range(c):
        scale = gamma[ch] / np.sqrt(var[ch] + eps)
        for i in range(b):
            for t in range(s):
                y[i, ch, t] = scale * xc[i, ch, t] + beta[ch]


@kernel
def update_running(mean, var, count, momentum, running_mean, running_var):
    """running ← (1 − m) running + m · batch, with the variance made unbiased: var · n/(n − 1),
    n = count ≥ 2 (the entries per channel). All (C,) of one dtype."""
    one = mean.dtype.type(1)
    unbias = mean.dtype.type(count) / mean.dtype.type(count - 1)
    for ch in range(mean.shape[0]):
        running_mean[ch] = (one - momentum) * running_mean[ch] + momentum * mean[ch]
        running_var[ch] = (one - momentum) * running_var[ch] + momentum * var[ch] * unbias


@kernel
def batchnorm_backward(dy, xc, gamma, var, eps, batch, dx, dgamma, dbeta):
    """Gradients of y = γ x̂ + β with x̂ = xc / sqrt(var + ε).

    dgamma = Σ dy x̂ and dbeta = Σ dy over (B, S), (C,). batch=True: var is the batch's own
    variance, a function of x, so dx = γ/(n sqrt(var + ε)) (n dy − Σ dy − x̂ Σ dy x̂) (n = B·S);
    batch=False: var and the mean are constants, dx = γ dy / sqrt(var + ε). dy, xc: (B, C, S);
    dx: (B, C, S), or 0 rows to skip it."""
    b, c, s = dy.shape
    n = dy.dtype.type(b * s)
    for ch in range(c):
        inv = dy.dtype.type(1) / np.sqrt(var[ch] + eps)
        sum_dy = dy.dtype.type(0)
        sum_dy_xhat = dy.dtype.type(0)
        for i in range(b):
            for t in range(s):
                sum_dy += dy[i, ch, t]
                sum_dy_xhat += dy[i, ch, t] * xc[i, ch, t] * inv
        dgamma[ch] = sum_dy_xhat
        dbeta[ch] = sum_dy
        if dx.shape[0] == 0:
            continue
        scale = gamma[ch] * inv
        for i in range(b):
            for t in range(s):
                if batch:
                    dx[i, ch, t] = scale / n * (n * dy[i, ch, t] - sum_dy - xc[i, ch, t] * inv * sum_dy_xhat)
                else:
                    dx[i, ch, t] = scale * dy[i, ch, t]
