"""Inverted dropout of a fraction δ of the entries in training, identity in evaluation
(kernels.dropout). Each sample's drawn factors are cached for the backward pass; the draws are
keyed by (seed, step, layer) (kernels.random), so both targets drop the same entries.

Spec token ``dropout0.5``.
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.codes import ARG_RATE, COL_CACHE_OFF, COL_IN_DIM
from kernels.dropout import dropout_backward, dropout_forward
from kernels.gradcheck import Case
from kernels.jit import kernel
from kernels.layers.base import LayerKind, Layout, check, width
from kernels.random import stream_key
from kernels.views import block, copy

_TOKEN = re.compile(r"dropout(\d+(?:\.\d*)?(?:e-?\d+)?)")


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout of a fraction ``rate`` in [0, 1) of the entries, in training only."""

    rate: float


def layout(layer: Dropout, shape: tuple) -> Layout:
    check(0 <= layer.rate < 1, f"dropout rate must be in [0, 1), got {layer.rate}")
    return Layout(shape, args={ARG_RATE: layer.rate}, cache=width(shape))


@kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    if training:
        mask = block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM])
        dropout_forward(x.dtype.type(arg[ARG_RATE]), stream_key(seed, step, layer), x, mask, y)
    else:
        copy(x, y)


@kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    if training:
        dropout_backward(dy, block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM]), dx)
    else:  # the forward pass was the identity and drew no mask
        copy(dy, dx)


def parse(token: str, activation: str) -> Dropout | None:
    m = _TOKEN.fullmatch(token)
    return Dropout(float(m[1])) if m else None


def cases(rng, rate=0.3, shape=(4, 6)) -> list[Case]:
    key = 11  # the same mask on every call

    def forward_(theta):
        y, mask = np.empty(shape), np.empty(shape)
        dropout_forward(rate, key, theta.reshape(shape), mask, y)
        return y.ravel()

    def vjp(theta, u):
        y, mask, dx = np.empty(shape), np.empty(shape), np.empty(shape)
        dropout_forward(rate, key, theta.reshape(shape), mask, y)
        dropout_backward(u.reshape(shape), mask, dx)
        return dx.ravel()
    return [Case(f"dropout {rate}", rng.standard_normal(np.prod(shape)), forward_, vjp)]


KIND = LayerKind("dropout", Dropout, layout, forward, backward, "kernels.cuda.dropout", parse, cases,
                 tokens="dropout0.5: drop half the entries (training only)")
