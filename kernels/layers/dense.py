"""Fully connected layer y = x W + b (kernels.dense). Parameters: W (n_in, n_out), then b (n_out,).

Spec token ``dense64``: 64 outputs, followed by the default activation.
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.codes import COL_BIAS, COL_IN_DIM, COL_OUT_DIM, COL_P_OFF
from kernels.dense import dense_backward, dense_forward
from kernels.gradcheck import Case, splitter
from kernels.jit import inline_kernel
from kernels.layers.base import Block, LayerKind, Layout, check, width
from kernels.views import matrix, vector


@dataclass(frozen=True)
class Dense:
    """A fully connected layer with ``n_out`` outputs, with or without bias."""

    n_out: int
    bias: bool = True


def layout(layer: Dense, shape: tuple) -> Layout:
    check(layer.n_out >= 1, f"dense layer needs at least 1 output, got {layer.n_out}")
    n_in = width(shape)
    params = [Block(n_in * layer.n_out, "glorot", n_in, layer.n_out, weight=True)]
    if layer.bias:
        params.append(Block(layer.n_out))
    return Layout((layer.n_out,), {COL_BIAS: int(layer.bias)}, params=params)


@inline_kernel
def offsets(off, n_in, n_out, bias):
    """(offset of W, offset of b, length of b: n_out or 0) in the flat parameter vector, for a
    layer at ``off`` (COL_P_OFF) with n_in inputs, n_out outputs and bias 0 or 1. Scalars only:
    both targets call it (the simulator passes no arrays to compiled CPU functions)."""
    return off, off + n_in * n_out, n_out * bias


@inline_kernel
def views(row, params):
    """(W, b) of the dense layer of plan row ``row`` as views of params (or of grads)."""
    w_at, b_at, n_b = offsets(row[COL_P_OFF], row[COL_IN_DIM], row[COL_OUT_DIM], row[COL_BIAS])
    return matrix(params, w_at, row[COL_IN_DIM], row[COL_OUT_DIM]), vector(params, b_at, n_b)


@inline_kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    w, b = views(row, params)
    dense_forward(x, w, b, y)


@inline_kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    w, _ = views(row, params)
    dw, db = views(row, grads)
    dense_backward(dy, x, w, dx, dw, db)


def parse(token: str, activation: str):
    m = re.fullmatch(r"dense(\d+)", token)
    return Dense(int(m[1])) if m else None


def cases(rng, batch=3, n_in=5, n_out=4) -> list[Case]:
    split, n = splitter((batch, n_in), (n_in, n_out), (n_out,))

    def forward_(theta):
        x, w, b = split(theta)
        y = np.empty((batch, n_out))
        dense_forward(x, w, b, y)
        return y.ravel()

    def vjp(theta, u):
        x, w, b = split(theta)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        dense_backward(u.reshape(batch, n_out), x, w, dx, dw, db)
        return np.concatenate([dx.ravel(), dw.ravel(), db])
    return [Case("dense", rng.standard_normal(n), forward_, vjp)]


KIND = LayerKind("dense", Dense, layout, forward, backward, "kernels.cuda.dense", parse, cases,
                 tokens="dense64: fully connected, 64 outputs", activated=True)
