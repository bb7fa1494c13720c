"""Batch normalization (kernels.batchnorm): per feature after a dense layer (``bn``) or per
channel after a convolution (``bn2d``), with learnable γ (initialised to 1) and β (to 0), and
running mean and variance (initialised to 0 and 1) as non-trainable buffers that no optimizer
or penalty touches. Training uses the batch's statistics and updates the running ones;
evaluation uses the running ones.

A batch with one entry per feature (a dense layer at batch size 1; a 1×1 image) has no
variance to normalize by: the layer then uses the running statistics, as in evaluation, and
leaves them unchanged (PyTorch raises an error there instead).

Parameters γ (C,), then β (C,); γ and β are penalized only with penalize_biases. Spec tokens
``bn`` and ``bn2d``, with an optional momentum and ε after colons (``bn:0.01:0.001``); defaults
momentum 0.1 and ε = 1e-5 (PyTorch's).
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.batchnorm import channel_backward, channel_forward
from kernels.codes import (
    ARG_EPS,
    ARG_MOMENTUM,
    COL_BUF_OFF,
    COL_C_IN,
    COL_CACHE_OFF,
    COL_H_IN,
    COL_IN_DIM,
    COL_P_OFF,
    COL_W_IN,
)
from kernels.gradcheck import Case, splitter
from kernels.jit import inline_kernel, kernel
from kernels.layers.base import Block, LayerKind, Layout, Model, check, image
from kernels.views import block, vector

_TOKEN = re.compile(r"bn(2d)?((?::[^:]*){0,2})")


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization per feature (spatial=False) or per channel (spatial=True)."""

    momentum: float = 0.1
    eps: float = 1e-5
    spatial: bool = False


def layout(layer: BatchNorm, shape: tuple) -> Layout:
    check(0 <= layer.momentum <= 1, f"batch norm momentum must be in [0, 1], got {layer.momentum}")
    check(0 < layer.eps < np.inf, f"batch norm ε must be > 0 and finite, got {layer.eps}")
    if layer.spatial:
        c, h, w = image(shape, "bn2d (batch norm per channel)")
    else:
        check(len(shape) == 1, "bn normalizes the features of a flat input; after a conv layer use bn2d")
        c, h, w = shape[0], 1, 1
    return Layout(shape, {COL_C_IN: c, COL_H_IN: h, COL_W_IN: w},
                  {ARG_MOMENTUM: layer.momentum, ARG_EPS: layer.eps},
                  params=[Block(c, "ones"), Block(c)], buffers=[(c, 0.0), (c, 1.0)],
                  cache=c * h * w)


@inline_kernel
def uses_batch(training, rows, s):
    """True when the batch's statistics normalize: training, and more than one entry per channel
    (rows · s, s = H·W). Scalars only: both targets call it."""
    return training and rows * s > 1


@kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    c, s, p, r = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF], row[COL_BUF_OFF]
    n = rows * c * s
    xc = block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM]).reshape(n)
    gamma, beta = vector(params, p, c), vector(params, p + c, c)
    running_mean, running_var = vector(buffers, r, c), vector(buffers, r + c, c)
    eps, momentum = x.dtype.type(arg[ARG_EPS]), x.dtype.type(arg[ARG_MOMENTUM])
    batch = uses_batch(training, rows, s)
    for ch in range(c):
        channel_forward(x.reshape(n), gamma, beta, running_mean, running_var, eps, momentum, batch, xc, y.reshape(n),
                        ch, rows, c, s)


@kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    c, s, p = row[COL_C_IN], row[COL_H_IN] * row[COL_W_IN], row[COL_P_OFF]
    n = rows * c * s
    xc = block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM]).reshape(n)
    gamma, running_var = vector(params, p, c), vector(buffers, row[COL_BUF_OFF] + c, c)
    dgamma, dbeta = vector(grads, p, c), vector(grads, p + c, c)
    eps, batch = x.dtype.type(arg[ARG_EPS]), uses_batch(training, rows, s)
    for ch in range(c):
        channel_backward(dy.reshape(n), xc, gamma, running_var, eps, batch, dx.reshape(dx.shape[0] * c * s), dgamma,
                         dbeta, ch, rows, c, s)


def parse(token: str, activation: str) -> BatchNorm | None:
    m = _TOKEN.fullmatch(token)
    if not m:
        return None
    try:
        values = [float(v) for v in m[2].split(":")[1:]]
    except ValueError:
        raise ValueError(f"batch norm {token!r}: momentum and ε must be numbers") from None
    return BatchNorm(*values, spatial=bool(m[1]))


def _case(rng, training: bool, shape=(4, 3, 2)) -> Case:
    """θ = (x, γ, β) ↦ y; in training the statistics are the batch's (and depend on x)."""
    b, c, s = shape
    split, n = splitter(shape, (c,), (c,))
    running_mean, running_var = rng.standard_normal(c), 0.5 + rng.random(c)
    eps = 1e-5

    def normalized(theta):
        """(y, xc) of the forward pass, every channel, the running statistics left as they were."""
        x, gamma, beta = split(theta)
        xc, y = np.empty(b * c * s), np.empty(b * c * s)
        for ch in range(c):
            channel_forward(x.ravel(), gamma, beta, running_mean.copy(), running_var.copy(), eps, 0.1, training, xc, y,
                            ch, b, c, s)
        return y, xc

    def vjp(theta, u):
        _, xc = normalized(theta)
        dx, dgamma, dbeta = np.empty(b * c * s), np.empty(c), np.empty(c)
        for ch in range(c):
            channel_backward(u, xc, split(theta)[1], running_var, eps, training, dx, dgamma, dbeta, ch, b, c, s)
        return np.concatenate([dx, dgamma, dbeta])
    theta = np.concatenate([rng.standard_normal(b * c * s), 1 + 0.3 * rng.standard_normal(c), rng.standard_normal(c)])
    return Case(f"batchnorm {'training' if training else 'evaluation'}", theta, lambda t: normalized(t)[0], vjp)


def cases(rng) -> list[Case]:
    return [_case(rng, True), _case(rng, False)]


def models() -> list[Model]:
    from kernels.layers.activation import Activation
    from kernels.layers.conv import Conv
    from kernels.layers.dense import Dense

    return [Model("dense-bn-tanh", 4, [Dense(6), BatchNorm(), Activation("tanh"), Dense(3)], training=True),
            Model("conv-bn2d-tanh", (2, 5, 5), [Conv(3, 3), BatchNorm(spatial=True), Activation("tanh"), Dense(2)],
                  training=True)]


KIND = LayerKind("batchnorm", BatchNorm, layout, forward, backward, "kernels.cuda.batchnorm", parse, cases,
                 tokens="bn, bn2d, bn:0.01:0.001: batch norm per feature / per channel; optional momentum and ε",
                 normalizes=True, models=models)
