"""A model as a *plan*: a small int64 table that the compiled engine walks.

One row per layer (columns in :mod:`kernels.codes`), plus a float64 row of its arguments
(activation β, γ; dropout rate). Activations of every layer boundary live in one flat
workspace of ``capacity`` rows: boundary ``l`` of per-sample width ``w_l`` occupies
``capacity * off_l`` up to ``capacity * (off_l + w_l)``, stored (rows, w_l) row-major, where
``off_l`` is the offset kept in the plan, so the plan does not depend on the batch size. An
image is one row of C·H·W entries in NCHW order, so flattening costs nothing. Per-sample caches
(conv patches, dropout masks, residual pre-activations; max-pool argmax in an integer cache)
use the same scheme. Parameters and gradients share one flat layout, layer after layer:

- dense     W (n_in, n_out), then b (n_out,)            (kernels.dense)
- conv      W (C_out, C_in, k, k), then b (C_out,)      (kernels.conv)
- residual  W₁ (n, h), b (h,), W₂ (h, n)               (y = x + σ(x W₁ + b) W₂, Treister (22))

Adding a layer kind is a new op code, its two kernels, a layer class here and one branch in
each walk of :mod:`kernels.engine`.
"""
from dataclasses import dataclass

import numpy as np

from kernels.codes import (
    ACTIVATIONS,
    ARG_BETA,
    ARG_GAMMA,
    COL_BIAS,
    COL_C_IN,
    COL_C_OUT,
    COL_CACHE_OFF,
    COL_CODE,
    COL_H_IN,
    COL_H_OUT,
    COL_ICACHE_OFF,
    COL_IN_DIM,
    COL_IN_OFF,
    COL_K,
    COL_OP,
    COL_OUT_DIM,
    COL_OUT_OFF,
    COL_P_OFF,
    COL_PAD,
    COL_STRIDE,
    COL_W_IN,
    COL_W_OUT,
    N_ARGS,
    N_COLS,
    OP_ACTIVATION,
    OP_AVGPOOL,
    OP_CONV,
    OP_DENSE,
    OP_DROPOUT,
    OP_MAXPOOL,
    OP_RESIDUAL,
)
from kernels.conv import output_size


@dataclass(frozen=True)
class Dense:
    """A fully connected layer with ``n_out`` outputs, with or without bias."""

    n_out: int
    bias: bool = True


@dataclass(frozen=True)
class Activation:
    """An elementwise activation by name (kernels.codes.ACTIVATIONS); β, γ default to the
    Magyar text's."""

    name: str
    beta: float | None = None
    gamma: float | None = None


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution with ``channels`` output channels and a k×k kernel."""

    channels: int
    k: int
    stride: int = 1
    pad: int = 0
    bias: bool = True


@dataclass(frozen=True)
class Pool:
    """Max (``kind="max"``) or average pooling over k×k windows; stride defaults to k."""

    k: int
    stride: int | None = None
    kind: str = "max"


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout of a fraction ``rate`` in [0, 1) of the entries, in training only."""

    rate: float


@dataclass(frozen=True)
class Residual:
    """y = x + W₂ σ(W₁ x + b) with a hidden width (Treister eqs. 22-23)."""

    hidden: int
    activation: str = "relu"


@dataclass(frozen=True)
class Plan:
    """The compiled engine's view of a model.

    table: (L, N_COLS) int64; args: (L, N_ARGS) float64; n_params: length of the flat vector;
    n_in, n_out: per-sample input and output widths; width: per-sample width of the activation
    workspace (the engine sizes the caches from the table); has_gradient: False when a layer (threshold, sign) cannot be trained through.
    """

    table: np.ndarray
    args: np.ndarray
    n_params: int
    n_in: int
    n_out: int
    width: int
    has_gradient: bool

    def _weight_blocks(self):
        """(offset, size, fan_in, fan_out) of every weight matrix, and (offset, size) of biases."""
        weights, biases = [], []
        for row in self.table:
            op, off = row[COL_OP], row[COL_P_OFF]
            n_in, n_out = row[COL_IN_DIM], row[COL_OUT_DIM]
            if op == OP_DENSE:
                weights.append((off, n_in * n_out, n_in, n_out))
                if row[COL_BIAS]:
                    biases.append((off + n_in * n_out, n_out))
            elif op == OP_CONV:
                c_in, c_out, k = row[COL_C_IN], row[COL_C_OUT], row[COL_K]
                size = c_out * c_in * k * k
                weights.append((off, size, c_in * k * k, c_out * k * k))
                if row[COL_BIAS]:
                    biases.append((off + size, c_out))
            elif op == OP_RESIDUAL:
                h = row[COL_C_OUT]
                weights.append((off, n_in * h, n_in, h))
                biases.append((off + n_in * h, h))
                weights.append((off + n_in * h + h, h * n_in, h, n_in))
        return weights, biases

    def init_params(self, rng: np.random.Generator, dtype) -> np.ndarray:
        """Glorot-uniform weights, U(±sqrt(6 / (fan_in + fan_out))), and zero biases. (P,)."""
        params = np.zeros(self.n_params, dtype=dtype)
        for off, size, fan_in, fan_out in self._weight_blocks()[0]:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            params[off : off + size] = rng.uniform(-limit, limit, size)
        return params

    def penalty_mask(self, biases: bool, dtype) -> np.ndarray:
        """1 on the entries an L1/L2 penalty acts on: the weights, and the biases if asked. (P,)."""
        mask = np.zeros(self.n_params, dtype=dtype)
        weights, bias_blocks = self._weight_blocks()
        for off, size, *_ in weights:
            mask[off : off + size] = 1
        if biases:
            for off, size in bias_blocks:
                mask[off : off + size] = 1
        return mask


def build_plan(input_shape: int | tuple[int, int, int], layers: list) -> Plan:
    """Lay out ``layers`` (applied in order) for inputs of width n or of shape (C, H, W)."""
    if not layers:
        raise ValueError("a model needs at least one layer")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    n_in = int(np.prod(shape))
    rows, args = [], []
    p_off = off = cache = icache = 0
    has_gradient = True
    for layer in layers:
        width = int(np.prod(shape))
        row = np.zeros(N_COLS, np.int64)
        row[COL_IN_DIM], row[COL_IN_OFF], row[COL_OUT_OFF] = width, off, off + width
        row[COL_P_OFF] = -1
        arg = np.zeros(N_ARGS)
        if len(shape) == 3:
            row[COL_C_IN], row[COL_H_IN], row[COL_W_IN] = shape
        if isinstance(layer, Dense):
            _check(layer.n_out >= 1, f"dense layer needs at least 1 output, got {layer.n_out}")
            row[COL_OP], row[COL_P_OFF], row[COL_BIAS] = OP_DENSE, p_off, layer.bias
            p_off += width * layer.n_out + (layer.n_out if layer.bias else 0)
            shape = (layer.n_out,)
        elif isinstance(layer, Activation):
            _check(layer.name in ACTIVATIONS, f"unknown activation {layer.name!r}; "
                   f"known: {', '.join(ACTIVATIONS)}")
            code, beta, gamma, differentiable = ACTIVATIONS[layer.name]
            row[COL_OP], row[COL_CODE] = OP_ACTIVATION, code
            arg[ARG_BETA] = beta if layer.beta is None else layer.beta
            arg[ARG_GAMMA] = gamma if layer.gamma is None else layer.gamma
            has_gradient &= differentiable
        elif isinstance(layer, Conv):
            _check(len(shape) == 3, "a conv layer needs image input (C, H, W), not a flat vector")
            _check(layer.channels >= 1 and layer.k >= 1 and layer.stride >= 1 and layer.pad >= 0,
                   f"bad conv layer {layer}")
            c_in, h, w = shape
            h_out, w_out = (output_size(s, layer.k, layer.stride, layer.pad) for s in (h, w))
            _check(h_out >= 1 and w_out >= 1, f"conv {layer.k}x{layer.k} does not fit a {h}x{w} input")
            row[COL_OP], row[COL_P_OFF], row[COL_BIAS] = OP_CONV, p_off, layer.bias
            row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT] = layer.channels, h_out, w_out
            row[COL_K], row[COL_STRIDE], row[COL_PAD] = layer.k, layer.stride, layer.pad
            patch = c_in * layer.k * layer.k
            row[COL_CACHE_OFF] = cache
            cache += patch * h_out * w_out
            p_off += layer.channels * patch + (layer.channels if layer.bias else 0)
            shape = (layer.channels, h_out, w_out)
        elif isinstance(layer, Pool):
            _check(len(shape) == 3, "a pooling layer needs image input (C, H, W)")
            _check(layer.kind in ("max", "avg"), f"unknown pooling {layer.kind!r}")
            stride = layer.stride or layer.k
            c, h, w = shape
            h_out, w_out = (output_size(s, layer.k, stride, 0) for s in (h, w))
            _check(layer.k >= 1 and stride >= 1 and h_out >= 1 and w_out >= 1,
                   f"pool {layer.k}x{layer.k} does not fit a {h}x{w} input")
            row[COL_OP] = OP_MAXPOOL if layer.kind == "max" else OP_AVGPOOL
            row[COL_K], row[COL_STRIDE] = layer.k, stride
            row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT] = c, h_out, w_out
            if layer.kind == "max":
                row[COL_ICACHE_OFF] = icache
                icache += c * h_out * w_out
            shape = (c, h_out, w_out)
        elif isinstance(layer, Dropout):
            _check(0 <= layer.rate < 1, f"dropout rate must be in [0, 1), got {layer.rate}")
            row[COL_OP], row[COL_CACHE_OFF] = OP_DROPOUT, cache
            arg[ARG_BETA] = layer.rate
            cache += width
        elif isinstance(layer, Residual):
            _check(layer.hidden >= 1, f"residual block needs a hidden width >= 1, got {layer.hidden}")
            _check(layer.activation in ACTIVATIONS and ACTIVATIONS[layer.activation][3],
                   f"residual block needs a differentiable activation, got {layer.activation!r}")
            code, beta, gamma, _ = ACTIVATIONS[layer.activation]
            row[COL_OP], row[COL_P_OFF], row[COL_CODE] = OP_RESIDUAL, p_off, code
            row[COL_C_OUT], row[COL_CACHE_OFF] = layer.hidden, cache
            arg[:] = beta, gamma
            cache += 3 * layer.hidden  # z, σ(z) and the gradient scratch
            p_off += 2 * width * layer.hidden + layer.hidden
        else:
            raise TypeError(f"not a layer: {layer!r}")
        row[COL_OUT_DIM] = int(np.prod(shape))
        rows.append(row)
        args.append(arg)
        off += width
    n_out = int(np.prod(shape))
    return Plan(table=np.array(rows), args=np.array(args), n_params=p_off, n_in=n_in,
                n_out=n_out, width=off + n_out, has_gradient=has_gradient)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
