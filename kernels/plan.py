"""A model as a *plan*: a small int64 table that the compiled engines walk.

One row per layer (columns in kernels.codes, filled by the layer kind's layout, kernels.layers),
plus a float64 row of its arguments. Activations of every layer boundary live in one flat
workspace of ``capacity`` rows: boundary ``l`` of per-sample width ``w_l`` occupies
``capacity * off_l`` up to ``capacity * (off_l + w_l)``, stored (rows, w_l) row-major, where
``off_l`` is the offset kept in the plan, so the plan does not depend on the batch size. An
image is one row of C·H·W entries in NCHW order, so flattening costs nothing. Per-sample caches
(conv patches, dropout masks, residual pre-activations, batch norm's centred input; max-pool
argmax in an integer cache) use the same scheme. Parameters and gradients share one flat
layout: each layer's blocks one after the other from its COL_P_OFF, in the order its kind
declares them; non-trainable buffers (batch norm's running statistics) likewise from
COL_BUF_OFF in a vector of their own. The layout is computed here, once, and both targets
read it from the table and ``sizes``.
"""
from dataclasses import dataclass

import numpy as np

from kernels.codes import (
    COL_BUF_OFF,
    COL_C_IN,
    COL_CACHE_OFF,
    COL_H_IN,
    COL_ICACHE_OFF,
    COL_IN_DIM,
    COL_IN_OFF,
    COL_OP,
    COL_OUT_DIM,
    COL_OUT_OFF,
    COL_P_OFF,
    COL_W_IN,
    N_ARGS,
    N_COLS,
    N_SIZES,
    SIZE_BUFFERS,
    SIZE_CACHE,
    SIZE_ICACHE,
    SIZE_PARAMS,
    SIZE_SCRATCH,
    SIZE_WIDTH,
)
from kernels.layers import kind_of
from kernels.layers.activation import Activation
from kernels.layers.base import width
from kernels.layers.batchnorm import BatchNorm
from kernels.layers.conv import Conv
from kernels.layers.dense import Dense
from kernels.layers.dropout import Dropout
from kernels.layers.pool import Pool
from kernels.layers.residual import Residual
from kernels.records import Net

__all__ = ["Activation", "BatchNorm", "Conv", "Dense", "Dropout", "Plan", "Pool", "Residual", "build_plan"]


@dataclass(frozen=True)
class Plan:
    """A laid-out model.

    net: what the engines read (kernels.records.Net: table, args, sizes); blocks: (offset,
    Block) of every parameter block; buffers: (B,) float64 initial buffer values; n_in, n_out:
    per-sample input and output widths; has_gradient: False when a layer (threshold, sign)
    cannot be trained through.
    """

    net: Net
    blocks: tuple
    buffers: np.ndarray
    n_in: int
    n_out: int
    has_gradient: bool

    @property
    def n_params(self) -> int:
        return int(self.net.sizes[SIZE_PARAMS])

    def init_params(self, rng: np.random.Generator, dtype) -> np.ndarray:
        """Glorot-uniform weights, U(±sqrt(6 / (fan_in + fan_out))), zeros and ones as the
        blocks say. (P,)."""
        params = np.zeros(self.n_params, dtype=dtype)
        for off, blk in self.blocks:
            if blk.init == "glorot":
                limit = np.sqrt(6.0 / (blk.fan_in + blk.fan_out))
                params[off : off + blk.size] = rng.uniform(-limit, limit, blk.size)
            elif blk.init == "ones":
                params[off : off + blk.size] = 1
        return params

    def init_buffers(self, dtype) -> np.ndarray:
        """The non-trainable buffers at their start (batch norm: mean 0, variance 1). (B,)."""
        return self.buffers.astype(dtype)

    def penalty_mask(self, biases: bool, dtype) -> np.ndarray:
        """1 on the entries an L1/L2 penalty acts on: the weights, and the other blocks (biases,
        batch norm's γ and β) if asked. (P,)."""
        mask = np.zeros(self.n_params, dtype=dtype)
        for off, blk in self.blocks:
            if blk.weight or biases:
                mask[off : off + blk.size] = 1
        return mask


def build_plan(input_shape: int | tuple[int, int, int], layers: list) -> Plan:
    """Lay out ``layers`` (applied in order) for inputs of width n or of shape (C, H, W)."""
    if not layers:
        raise ValueError("a model needs at least one layer")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    rows, args, blocks, buffers = [], [], [], []
    p_off = b_off = off = cache = icache = scratch = 0
    has_gradient = True
    for layer in layers:
        code, kind = kind_of(layer)
        placed = kind.layout(layer, shape)
        n_in = width(shape)
        row = np.zeros(N_COLS, np.int64)
        row[COL_OP], row[COL_IN_DIM], row[COL_IN_OFF], row[COL_OUT_OFF] = code, n_in, off, off + n_in
        if len(shape) == 3:
            row[COL_C_IN], row[COL_H_IN], row[COL_W_IN] = shape
        for col, value in placed.fields.items():
            row[col] = value
        row[COL_P_OFF] = p_off if placed.params else -1
        for blk in placed.params:
            blocks.append((p_off, blk))
            p_off += blk.size
        row[COL_BUF_OFF] = b_off if placed.buffers else -1
        for size, value in placed.buffers:
            buffers.append(np.full(size, value))
            b_off += size
        row[COL_CACHE_OFF], row[COL_ICACHE_OFF] = cache, icache
        cache += placed.cache
        icache += placed.icache
        scratch = max(scratch, placed.scratch)
        arg = np.zeros(N_ARGS)
        for col, value in placed.args.items():
            arg[col] = value
        has_gradient &= placed.differentiable
        shape = tuple(placed.out_shape)
        row[COL_OUT_DIM] = width(shape)
        rows.append(row)
        args.append(arg)
        off += n_in
    n_out = width(shape)
    sizes = np.zeros(N_SIZES, np.int64)
    sizes[[SIZE_WIDTH, SIZE_CACHE, SIZE_ICACHE, SIZE_SCRATCH, SIZE_PARAMS, SIZE_BUFFERS]] = (
        off + n_out, cache, icache, scratch, p_off, b_off)
    net = Net(np.array(rows), np.array(args), sizes)
    return Plan(net, tuple(blocks), np.concatenate(buffers) if buffers else np.zeros(0), int(rows[0][COL_IN_DIM]),
                n_out, has_gradient)
