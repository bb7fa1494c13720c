"""Max and average pooling over k×k windows, stride s (default k), no padding (kernels.pool).
Max pooling keeps each window's argmax per sample in the integer cache.

Spec tokens ``pool2`` / ``maxpool2`` and ``avgpool2``, optional ``s1`` (stride).
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.codes import (
    COL_C_IN,
    COL_C_OUT,
    COL_CODE,
    COL_H_IN,
    COL_H_OUT,
    COL_ICACHE_OFF,
    COL_K,
    COL_OUT_DIM,
    COL_STRIDE,
    COL_W_IN,
    COL_W_OUT,
    POOL_AVG,
    POOL_MAX,
)
from kernels.conv import output_size
from kernels.gradcheck import Case
from kernels.jit import kernel
from kernels.layers.base import LayerKind, Layout, check, image
from kernels.pool import (
    avgpool_backward,
    avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from kernels.views import block, images

_TOKEN = re.compile(r"(max|avg)?pool(\d+)(?:s(\d+))?")


@dataclass(frozen=True)
class Pool:
    """Max (``kind="max"``) or average pooling over k×k windows; stride defaults to k."""

    k: int
    stride: int | None = None
    kind: str = "max"


def layout(layer: Pool, shape: tuple) -> Layout:
    c, h, w = image(shape, "a pooling layer")
    check(layer.kind in ("max", "avg"), f"unknown pooling {layer.kind!r}")
    stride = layer.k if layer.stride is None else layer.stride
    check(layer.k >= 1 and stride >= 1, f"pooling needs a window and a stride >= 1, got {layer.k} and {stride}")
    h_out, w_out = (output_size(s, layer.k, stride, 0) for s in (h, w))
    check(h_out >= 1 and w_out >= 1, f"pool {layer.k}x{layer.k} does not fit a {h}x{w} input")
    fields = {COL_CODE: POOL_MAX if layer.kind == "max" else POOL_AVG, COL_K: layer.k, COL_STRIDE: stride,
              COL_C_OUT: c, COL_H_OUT: h_out, COL_W_OUT: w_out}
    return Layout((c, h_out, w_out), fields, icache=c * h_out * w_out if layer.kind == "max" else 0)


@kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    c = row[COL_C_IN]
    x4, y4 = images(x, c, row[COL_H_IN], row[COL_W_IN]), images(y, c, row[COL_H_OUT], row[COL_W_OUT])
    if row[COL_CODE] == POOL_MAX:
        argmax = images(block(icache, capacity, row[COL_ICACHE_OFF], rows, row[COL_OUT_DIM]),
                        c, row[COL_H_OUT], row[COL_W_OUT])
        maxpool_forward(row[COL_K], row[COL_STRIDE], x4, y4, argmax)
    else:
        avgpool_forward(row[COL_K], row[COL_STRIDE], x4, y4)


@kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    c = row[COL_C_IN]
    dy4, dx4 = images(dy, c, row[COL_H_OUT], row[COL_W_OUT]), images(dx, c, row[COL_H_IN], row[COL_W_IN])
    if row[COL_CODE] == POOL_MAX:
        argmax = images(block(icache, capacity, row[COL_ICACHE_OFF], rows, row[COL_OUT_DIM]),
                        c, row[COL_H_OUT], row[COL_W_OUT])
        maxpool_backward(dy4, argmax, dx4)
    else:
        avgpool_backward(row[COL_K], row[COL_STRIDE], dy4, dx4)


def parse(token: str, activation: str) -> Pool | None:
    m = _TOKEN.fullmatch(token)
    return Pool(int(m[2]), int(m[3]) if m[3] else None, m[1] or "max") if m else None


def _case(rng, kind, k=2, stride=2, shape=(2, 2, 5, 4)) -> Case:
    out = (*shape[:2], (shape[2] - k) // stride + 1, (shape[3] - k) // stride + 1)
    theta = rng.permutation(np.prod(shape)).astype(float) / 10  # distinct: no ties

    def forward_(t):
        y = np.empty(out)
        if kind == "max":
            maxpool_forward(k, stride, t.reshape(shape), y, np.empty(out, np.int64))
        else:
            avgpool_forward(k, stride, t.reshape(shape), y)
        return y.ravel()

    def vjp(t, u):
        dx = np.empty(shape)
        if kind == "max":
            argmax = np.empty(out, np.int64)
            maxpool_forward(k, stride, t.reshape(shape), np.empty(out), argmax)
            maxpool_backward(u.reshape(out), argmax, dx)
        else:
            avgpool_backward(k, stride, u.reshape(out), dx)
        return dx.ravel()
    return Case(f"{kind}pool k={k} s={stride}", theta, forward_, vjp)


def cases(rng) -> list[Case]:
    return [_case(rng, "max"), _case(rng, "avg"), _case(rng, "max", k=3, stride=2)]


KIND = LayerKind("pool", Pool, layout, forward, backward, "kernels.cuda.pool", parse, cases,
                 tokens="pool2, maxpool2, avgpool2, pool3s2: pooling over 2×2 windows; optional stride s")
