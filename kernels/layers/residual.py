"""Residual block y = x + σ(x W₁ + b) W₂ with a hidden width h (Treister eqs. 22-23).
Parameters: W₁ (n, h), b (h,), W₂ (h, n). Per sample it caches z = x W₁ + b, σ(z) and the
gradient scratch ∂L/∂z.

Spec token ``res64``: 64 hidden units, with the model's default activation inside.
"""
import re
from dataclasses import dataclass

from kernels.activations import backward_for, forward_for
from kernels.codes import (
    ACTIVATIONS,
    ARG_BETA,
    ARG_GAMMA,
    COL_CACHE_OFF,
    COL_CODE,
    COL_HIDDEN,
    COL_IN_DIM,
    COL_P_OFF,
)
from kernels.dense import dense_backward, dense_forward
from kernels.gradcheck import Case
from kernels.jit import inline_kernel, kernel
from kernels.layers.base import Block, LayerKind, Layout, Model, check, width
from kernels.specialize import PerVariant, layers_only
from kernels.views import block, matrix, vector


@dataclass(frozen=True)
class Residual:
    """y = x + W₂ σ(W₁ x + b) with a hidden width (Treister eqs. 22-23)."""

    hidden: int
    activation: str = "relu"


def layout(layer: Residual, shape: tuple) -> Layout:
    check(layer.hidden >= 1, f"residual block needs a hidden width >= 1, got {layer.hidden}")
    check(layer.activation in ACTIVATIONS and ACTIVATIONS[layer.activation][3],
          f"residual block needs a differentiable activation, got {layer.activation!r}")
    code, beta, gamma, _ = ACTIVATIONS[layer.activation]
    n, h = width(shape), layer.hidden
    params = [Block(n * h, "glorot", n, h, weight=True), Block(h), Block(h * n, "glorot", h, n, weight=True)]
    return Layout(shape, {COL_CODE: code, COL_HIDDEN: h}, {ARG_BETA: beta, ARG_GAMMA: gamma}, params=params,
                  cache=3 * h)


@inline_kernel
def offsets(off, n, h):
    """(offset of W₁, of b, of W₂) in the flat parameter vector for a block at ``off``
    (COL_P_OFF) of width n and hidden width h. Scalars only: both targets call it."""
    return off, off + n * h, off + n * h + h


@inline_kernel
def _views(row, params):
    """w1 (n, h), b (h,), w2 (h, n)."""
    w1_at, b_at, w2_at = offsets(row[COL_P_OFF], row[COL_IN_DIM], row[COL_HIDDEN])
    n, h = row[COL_IN_DIM], row[COL_HIDDEN]
    return matrix(params, w1_at, n, h), vector(params, b_at, h), matrix(params, w2_at, h, n)


@inline_kernel
def _hidden(row, cache, capacity, rows, part):
    """Cached block ``part`` (0: z, 1: σ(z), 2: ∂L/∂z), (rows, h)."""
    h = row[COL_HIDDEN]
    return block(cache, capacity, row[COL_CACHE_OFF] + part * h, rows, h)


@PerVariant.template(kernel, key=layers_only)
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    w1, b, w2 = _views(row, params)
    z, a = _hidden(row, cache, capacity, rows, 0), _hidden(row, cache, capacity, rows, 1)
    dense_forward(x, w1, b, z)
    forward_for(row[COL_CODE], x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA]), z, a)
    dense_forward(a, w2, b[:0], y)
    y += x


@PerVariant.template(kernel, key=layers_only)
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    w1, _, w2 = _views(row, params)
    dw1, db, dw2 = _views(row, grads)
    z, a = _hidden(row, cache, capacity, rows, 0), _hidden(row, cache, capacity, rows, 1)
    dz = _hidden(row, cache, capacity, rows, 2)
    dense_backward(dy, a, w2, dz, dw2, db[:0])  # dz holds ∂L/∂σ(z) here
    backward_for(row[COL_CODE], x.dtype.type(arg[ARG_BETA]), x.dtype.type(arg[ARG_GAMMA]), dz, z, a, dz)
    dense_backward(dz, x, w1, dx, dw1, db)
    if not first:
        dx += dy


def parse(token: str, activation: str) -> Residual | None:
    m = re.fullmatch(r"res(\d+)", token)
    return Residual(int(m[1]), activation.split(":")[0]) if m else None


def cases(rng) -> list[Case]:
    """None of its own: the block is made of the dense and activation kernels (see models)."""
    return []


def models() -> list[Model]:
    from kernels.layers.dense import Dense

    return [Model("residual", 4, [Residual(6, "tanh"), Dense(3)])]


KIND = LayerKind("residual", Residual, layout, forward, backward, "kernels.cuda.residual", parse, cases,
                 tokens="res64: residual block with 64 hidden units and the default activation",
                 activation=lambda spec: spec.activation, models=models)
