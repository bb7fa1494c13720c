"""Layer normalization (kernels.layernorm): each sample normalized over all its features, then
γ ⊙ x̂ + β with γ (initialised to 1) and β (to 0) of the input's width; torch.nn.LayerNorm
over a flat row, or over (C, H, W) after a convolution. No running statistics: training and
evaluation agree. γ and β are penalized only with penalize_biases.

Spec token ``ln``, with an optional ε after a colon (``ln:0.001``); default ε = 1e-5 (PyTorch's).
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.codes import ARG_EPS, COL_CACHE_OFF, COL_IN_DIM, COL_P_OFF
from kernels.gradcheck import Case, splitter
from kernels.jit import kernel
from kernels.layernorm import (
    layernorm_feature_gradient,
    layernorm_row,
    layernorm_row_backward,
)
from kernels.layers.base import Block, LayerKind, Layout, Model, check, width
from kernels.views import block, vector

_TOKEN = re.compile(r"ln(?::([^:]*))?")


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalization over each sample's features, ε added to the variance."""

    eps: float = 1e-5


def layout(layer: LayerNorm, shape: tuple) -> Layout:
    check(0 < layer.eps < np.inf, f"layer norm ε must be > 0 and finite, got {layer.eps}")
    d = width(shape)
    return Layout(shape, args={ARG_EPS: layer.eps}, params=[Block(d, "ones"), Block(d)], cache=d + 1)


@kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    d, p = row[COL_IN_DIM], row[COL_P_OFF]
    gamma, beta = vector(params, p, d), vector(params, p + d, d)
    saved = block(cache, capacity, row[COL_CACHE_OFF], rows, d + 1)
    eps = x.dtype.type(arg[ARG_EPS])
    for r in range(rows):
        layernorm_row(x[r], gamma, beta, eps, saved[r], y[r])


@kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    d, p = row[COL_IN_DIM], row[COL_P_OFF]
    saved = block(cache, capacity, row[COL_CACHE_OFF], rows, d + 1)
    dgamma, dbeta = vector(grads, p, d), vector(grads, p + d, d)
    flat_dy, flat_saved = dy.reshape(rows * d), saved.reshape(rows * (d + 1))
    for j in range(d):
        dgamma[j], dbeta[j] = layernorm_feature_gradient(flat_dy, flat_saved, j, rows)
    gamma = vector(params, p, d)
    for r in range(dx.shape[0]):
        layernorm_row_backward(dy[r], gamma, saved[r], dx[r])


def parse(token: str, activation: str) -> LayerNorm | None:
    m = _TOKEN.fullmatch(token)
    if not m:
        return None
    if m[1] is None:
        return LayerNorm()
    try:
        return LayerNorm(float(m[1]))
    except ValueError:
        raise ValueError(f"layer norm {token!r}: ε must be a number") from None


def _case(rng, shape=(3, 5)) -> Case:
    """θ = (x, γ, β) ↦ y, every row normalized by its own statistics."""
    rows, d = shape
    split, _ = splitter(shape, (d,), (d,))
    eps = 1e-5

    def normalized(theta):
        x, gamma, beta = split(theta)
        y, saved = np.empty(shape), np.empty((rows, d + 1))
        for r in range(rows):
            layernorm_row(x[r], gamma, beta, eps, saved[r], y[r])
        return y, saved

    def vjp(theta, u):
        _, saved = normalized(theta)
        gamma = split(theta)[1]
        u = u.reshape(shape)
        dx = np.empty(shape)
        for r in range(rows):
            layernorm_row_backward(u[r], gamma, saved[r], dx[r])
        parts = [layernorm_feature_gradient(u.ravel(), saved.ravel(), j, rows) for j in range(d)]
        return np.concatenate([dx.ravel(), [g for g, _ in parts], [b for _, b in parts]])
    theta = np.concatenate([rng.standard_normal(rows * d), 1 + 0.3 * rng.standard_normal(d), rng.standard_normal(d)])
    return Case("layernorm", theta, lambda t: normalized(t)[0].ravel(), vjp)


def cases(rng) -> list[Case]:
    return [_case(rng)]


def models() -> list[Model]:
    from kernels.layers.activation import Activation
    from kernels.layers.conv import Conv
    from kernels.layers.dense import Dense

    return [Model("dense-ln-tanh", 4, [Dense(6), LayerNorm(), Activation("tanh"), Dense(3)]),
            Model("conv-ln-tanh", (2, 4, 4), [Conv(2, 3), LayerNorm(), Activation("tanh"), Dense(2)])]


KIND = LayerKind("layernorm", LayerNorm, layout, forward, backward, "kernels.cuda.layernorm", parse, cases,
                 tokens="ln, ln:0.001: layer norm over each sample's features; optional ε", normalizes=True,
                 models=models)
