"""Layer normalization (Ba, Kiros & Hinton 2016), per sample over its D features, with an
elementwise affine map: the formulas of both targets, one row (or one feature) per call.

For a row x (D,): μ = mean(x), σ² = mean((x − μ)²) (biased), r = 1/sqrt(σ² + ε),
x̂ = (x − μ) r, y = γ ⊙ x̂ + β (torch.nn.LayerNorm(D), or LayerNorm((C, H, W)) of an image
row). The same in training and evaluation: no running statistics. Backward, with g = dy ⊙ γ:
dx = r (g − mean(g) − x̂ mean(g ⊙ x̂)); dγ = Σ_rows dy ⊙ x̂, dβ = Σ_rows dy.

A row's ``saved`` (D + 1,) keeps x̂ and r from the forward pass for the backward one. The
kernels take 1-D rows, so the CPU layer calls them on rows of its blocks and the device layer
(kernels.cuda.layernorm) on slices of its flat blocks, one thread per row or feature: each
formula is written here once.
"""
import math

from kernels.jit import inner_kernel


@inner_kernel
def layernorm_row(x, gamma, beta, eps, saved, y):
    """y (D,) = γ ⊙ x̂ + β for one row x (D,); saved (D + 1,) receives x̂ and r; eps of x's dtype."""
    d = x.shape[0]
    n = x.dtype.type(d)
    total = x.dtype.type(0)
    for j in range(d):
        total += x[j]
    mean = total / n
    sq = x.dtype.type(0)
    for j in range(d):
        sq += (x[j] - mean) * (x[j] - mean)
    r = x.dtype.type(1) / math.sqrt(sq / n + eps)
    for j in range(d):
        xhat = (x[j] - mean) * r
        saved[j] = xhat
        y[j] = gamma[j] * xhat + beta[j]
    saved[d] = r


@inner_kernel
def layernorm_row_backward(dy, gamma, saved, dx):
    """dx (D,) of one row from its dy (D,) and the forward pass's saved (D + 1,)."""
    d = dy.shape[0]
    n = dy.dtype.type(d)
    mean_g = dy.dtype.type(0)
    mean_gx = dy.dtype.type(0)
    for j in range(d):
        g = dy[j] * gamma[j]
        mean_g += g
        mean_gx += g * saved[j]
    mean_g /= n
    mean_gx /= n
    r = saved[d]
    for j in range(d):
        dx[j] = r * (dy[j] * gamma[j] - mean_g - saved[j] * mean_gx)


@inner_kernel
def layernorm_feature_gradient(dy, saved, j, rows):
    """(dγ_j, dβ_j) = (Σ_r dy[r, j] x̂[r, j], Σ_r dy[r, j]) over the rows of dy (rows·D,) and
    saved (rows·(D + 1),), both flat, row-major."""
    d = dy.shape[0] // rows
    dgamma = dy.dtype.type(0)
    dbeta = dy.dtype.type(0)
    for r in range(rows):
        g = dy[r * d + j]
        dgamma += g * saved[r * (d + 1) + j]
        dbeta += g
    return dgamma, dbeta
