"""2-D convolution (kernels.conv: NCHW cross-correlation by im2col, stride s, zero padding p).
Parameters: W (C_out, C_in, k, k), then b (C_out,). Each sample's patches (C_in k k, H_out W_out)
are cached for the backward pass, which uses a per-run scratch of those columns and the
reshaped weight gradient.

Spec token ``conv8x3``: 8 channels, 3×3 kernel; optional ``s2`` (stride) and ``p1`` (padding),
e.g. ``conv16x5s1p2``; followed by the default activation.
"""
import re
from dataclasses import dataclass

import numpy as np

from kernels.codes import (
    COL_BIAS,
    COL_C_IN,
    COL_C_OUT,
    COL_CACHE_OFF,
    COL_H_IN,
    COL_H_OUT,
    COL_K,
    COL_P_OFF,
    COL_PAD,
    COL_STRIDE,
    COL_W_IN,
    COL_W_OUT,
)
from kernels.conv import conv2d_backward, conv2d_forward, output_size
from kernels.gradcheck import Case, splitter
from kernels.jit import inline_kernel, kernel
from kernels.layers.base import Block, LayerKind, Layout, check, image
from kernels.views import block, images, matrix

_TOKEN = re.compile(r"conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?")


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution with ``channels`` output channels and a k×k kernel."""

    channels: int
    k: int
    stride: int = 1
    pad: int = 0
    bias: bool = True


def layout(layer: Conv, shape: tuple) -> Layout:
    c_in, h, w = image(shape, "a conv layer")
    check(layer.channels >= 1 and layer.k >= 1 and layer.stride >= 1 and layer.pad >= 0, f"bad conv layer {layer}")
    h_out, w_out = (output_size(s, layer.k, layer.stride, layer.pad) for s in (h, w))
    check(h_out >= 1 and w_out >= 1, f"conv {layer.k}x{layer.k} does not fit a {h}x{w} input")
    patch = c_in * layer.k * layer.k
    params = [Block(layer.channels * patch, "glorot", patch, layer.channels * layer.k * layer.k, weight=True)]
    if layer.bias:
        params.append(Block(layer.channels))
    fields = {COL_BIAS: int(layer.bias), COL_C_OUT: layer.channels, COL_H_OUT: h_out, COL_W_OUT: w_out,
              COL_K: layer.k, COL_STRIDE: layer.stride, COL_PAD: layer.pad}
    return Layout((layer.channels, h_out, w_out), fields, params=params, cache=patch * h_out * w_out,
                  scratch=patch * h_out * w_out + layer.channels * patch)


@inline_kernel
def offsets(off, c_in, c_out, k, bias):
    """(offset of W, offset of b, length of b: C_out or 0) in the flat parameter vector, for a
    layer at ``off`` (COL_P_OFF). Scalars only: both targets call it."""
    return off, off + c_out * c_in * k * k, c_out * bias


@inline_kernel
def _views(row, params):
    """w (C_out, C_in, k, k) and b (C_out,) or (0,)."""
    w_at, b_at, n_b = offsets(row[COL_P_OFF], row[COL_C_IN], row[COL_C_OUT], row[COL_K], row[COL_BIAS])
    w = params[w_at:b_at].reshape((row[COL_C_OUT], row[COL_C_IN], row[COL_K], row[COL_K]))
    return w, params[b_at : b_at + n_b]


@inline_kernel
def _cols(row, cache, capacity, rows):
    """The layer's saved patches, (rows, C_in k k, H_out W_out)."""
    patch = row[COL_C_IN] * row[COL_K] * row[COL_K]
    n_patch = row[COL_H_OUT] * row[COL_W_OUT]
    return block(cache, capacity, row[COL_CACHE_OFF], rows, patch * n_patch).reshape((rows, patch, n_patch))


@kernel
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    w, b = _views(row, params)
    conv2d_forward(images(x, row[COL_C_IN], row[COL_H_IN], row[COL_W_IN]), w, b, row[COL_STRIDE], row[COL_PAD],
                   _cols(row, cache, capacity, rows), images(y, row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT]))


@kernel
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    w, _ = _views(row, params)
    dw, db = _views(row, grads)
    c_in, c_out, h_out, w_out = row[COL_C_IN], row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT]
    patch = c_in * row[COL_K] * row[COL_K]
    dcols = matrix(scratch, 0, patch, h_out * w_out)
    dw_r = matrix(scratch, patch * h_out * w_out, c_out, patch)
    conv2d_backward(images(dy, c_out, h_out, w_out), _cols(row, cache, capacity, rows), w, row[COL_STRIDE],
                    row[COL_PAD], dcols, dw_r, images(dx, c_in, row[COL_H_IN], row[COL_W_IN]), dw, db)


def parse(token: str, activation: str) -> Conv | None:
    m = _TOKEN.fullmatch(token)
    return Conv(int(m[1]), int(m[2]), int(m[3] or 1), int(m[4] or 0)) if m else None


def _case(rng, batch=2, c_in=2, size=(6, 5), c_out=3, k=3, stride=2, pad=1) -> Case:
    h_out, w_out = (output_size(s, k, stride, pad) for s in size)
    split, n = splitter((batch, c_in, *size), (c_out, c_in, k, k), (c_out,))
    cols = np.empty((batch, c_in * k * k, h_out * w_out))

    def forward_(theta):
        x, w, b = split(theta)
        y = np.empty((batch, c_out, h_out, w_out))
        conv2d_forward(x, w, b, stride, pad, cols, y)
        return y.ravel()

    def vjp(theta, u):
        x, w, b = split(theta)
        forward_(theta)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        conv2d_backward(u.reshape(batch, c_out, h_out, w_out), cols, w, stride, pad,
                        np.empty(cols.shape[1:]), np.empty((c_out, c_in * k * k)), dx, dw, db)
        return np.concatenate([dx.ravel(), dw.ravel(), db])
    return Case(f"conv k={k} s={stride} p={pad}", rng.standard_normal(n), forward_, vjp)


def cases(rng) -> list[Case]:
    """Small patches (products by loops) and a large one (BLAS): kernels.conv.SMALL_PATCH."""
    return [_case(rng), _case(rng, k=2, stride=1, pad=0), _case(rng, batch=2, c_in=4, size=(5, 5), c_out=2, k=3,
                                                                 stride=1, pad=1)]


KIND = LayerKind("conv", Conv, layout, forward, backward, "kernels.cuda.conv", parse, cases,
                 tokens="conv8x3, conv16x5s1p2: 8 channels, 3×3 kernel; optional stride s and padding p",
                 activated=True)
