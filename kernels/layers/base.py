"""What a layer kind declares: its plan layout, and the contract of its kernels.

A layer kind is one module of kernels.layers with a ``KIND = LayerKind(...)`` that the
registry (kernels.layers.KINDS) lists. Its op code is its position there. The kind says:

- ``layout(spec, shape)``: from its spec (a frozen dataclass) and the input shape ((n,) or
  (C, H, W)), the output shape, the plan-table fields and float arguments of its row, its
  parameter blocks (laid out one after the other from COL_P_OFF, in order, with their
  initialisation), its non-trainable buffers (from COL_BUF_OFF) and its workspace needs;
- ``forward`` / ``backward``: the CPU kernels, Numba-compiled, with the signatures

      forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows,
              training, seed, step, layer)
      backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch,
               capacity, rows, training, first)

  row: the layer's plan row (N_COLS,) int64; arg: (N_ARGS,) float64; params, grads (P,);
  buffers (B,); x, y, dy, dx: the layer's (rows, width) blocks of the activation workspaces
  (dx has 0 rows when ``first``: nothing below needs it); cache, icache: the flat per-sample
  workspaces, the layer's part at ``capacity * row[COL_CACHE_OFF]`` (kernels.plan); scratch:
  per-run floats that do not outlive the call; training: batch statistics and dropout on;
  (seed, step, layer): the key of the step's random draws (kernels.random);
- ``device``: the name of the kernels.cuda module that holds its CUDA twins, ``layer_forward``
  and ``layer_backward``: the same signatures over flat 1-D blocks, without scratch (imported
  only by the CUDA walks, so the CPU never imports numba.cuda); a twin that needs the block's
  shared memory has its first blockDim float64 entries (kernels.cuda.split);
- ``parse(token, activation)``: its model-spec token (experiments.models) or None;
- ``cases(rng)``: its derivative checks (kernels.gradcheck.Case) for ``runner check``;
- ``models()``: small models (``Model``) that chain it with other kinds, which ``runner
  check`` differentiates whole through the engine (kernels.checks). Data, so that no layer
  module imports the engine built from the layers.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class Block:
    """A run of ``size`` parameters. init: "glorot" (U(±sqrt(6 / (fan_in + fan_out)))), "zeros"
    or "ones"; weight: an L1/L2 penalty acts on it always (else only with penalize_biases)."""

    size: int
    init: str = "zeros"
    fan_in: int = 0
    fan_out: int = 0
    weight: bool = False


@dataclass
class Layout:
    """One layer's place in a plan. fields: {COL_*: value} of its row; args: {ARG_*: value};
    params: its parameter blocks in order; buffers: (size, initial value) of its
    non-trainable buffers in order; cache, icache: floats and integers per sample kept from
    forward to backward; scratch: floats per run; differentiable: False when no gradient
    passes (threshold, sign)."""

    out_shape: tuple
    fields: dict = field(default_factory=dict)
    args: dict = field(default_factory=dict)
    params: list = field(default_factory=list)
    buffers: list = field(default_factory=list)
    cache: int = 0
    icache: int = 0
    scratch: int = 0
    differentiable: bool = True


class Model(NamedTuple):
    """A model for ``runner check``: its name, input shape ((n,) or (C, H, W), or an int),
    layer specs, and whether to differentiate it in training mode (batch statistics, dropout)."""

    name: str
    input_shape: object
    layers: list
    training: bool = False


@dataclass(frozen=True)
class LayerKind:
    """A layer kind (module docstring). activated: the model spec inserts the default activation
    after its token (dense, conv); tokens: its spec tokens with examples, for the message of a
    spec that cannot be read; activation: the name of the activation a spec of the kind applies
    (its COL_CODE: the activation's code, part of the plan's variant, kernels.specialize), or
    None; normalizes: in a model spec it sits between a layer and that layer's default
    activation (``dense64-bn`` is dense, bn, relu). ``forward`` and ``backward`` may be
    PerVariant."""

    name: str
    spec: type
    layout: Callable
    forward: Callable
    backward: Callable
    device: str
    parse: Callable
    cases: Callable
    tokens: str
    activated: bool = False
    activation: Callable | None = None
    normalizes: bool = False
    models: Callable = lambda: []


def check(condition: bool, message: str) -> None:
    """A layout's input check: ValueError with ``message``."""
    if not condition:
        raise ValueError(message)


def image(shape: tuple, what: str) -> tuple[int, int, int]:
    """shape as (C, H, W), or ValueError: ``what`` needs image input."""
    check(len(shape) == 3, f"{what} needs image input (C, H, W), not a flat vector")
    return shape


def width(shape: tuple) -> int:
    return int(np.prod(shape))
