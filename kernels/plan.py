"""A model as a *plan*: a small int64 table that the compiled engine walks.

One row per layer. Activations of every layer boundary live in one flat workspace of
``capacity`` rows: boundary ``l`` of width ``w_l`` occupies ``capacity * off_l`` up to
``capacity * (off_l + w_l)``, stored (rows, w_l) row-major, where ``off_l`` is the per-sample
column offset kept in the plan. So the plan does not depend on the batch size. Parameters and
their gradients share one flat layout: each dense layer's ``W`` (n_in, n_out), then its bias.

Adding a layer kind is a new op code here, its two kernels, and one branch in each walk of
:mod:`kernels.engine`.
"""
from dataclasses import dataclass

import numpy as np

# Op codes.
OP_DENSE = 0
OP_RELU = 1
OP_TANH = 2
ACTIVATION_OPS = {"relu": OP_RELU, "tanh": OP_TANH}

# Columns of the plan table.
COL_OP = 0  # op code
COL_IN_DIM = 1  # input width per sample
COL_OUT_DIM = 2  # output width per sample
COL_IN_OFF = 3  # per-sample column offset of the input in the activation workspace
COL_OUT_OFF = 4  # per-sample column offset of the output
COL_P_OFF = 5  # offset of the layer's parameters in the flat vector (-1: none)
COL_BIAS = 6  # 1 if the layer has a bias after its weights
N_COLS = 7

# Loss codes (kernels.losses).
LOSS_MSE = 0
LOSSES = {"mse": LOSS_MSE}

# Optimizer codes (kernels.optimizers).
OPT_SGD = 0
OPTIMIZERS = {"sgd": OPT_SGD}


@dataclass(frozen=True)
class Dense:
    """A fully connected layer with ``n_out`` outputs, with or without bias."""

    n_out: int
    bias: bool = True


@dataclass(frozen=True)
class Activation:
    """An elementwise activation, by name (a key of ``ACTIVATION_OPS``)."""

    name: str


@dataclass(frozen=True)
class Plan:
    """The compiled engine's view of a model.

    table: (n_layers, N_COLS) int64; n_params: length of the flat parameter vector;
    width: the per-sample width of the activation workspace (sum over layer boundaries).
    """

    table: np.ndarray
    n_params: int
    n_in: int
    n_out: int
    width: int

    def init_params(self, rng: np.random.Generator, dtype) -> np.ndarray:
        """Glorot-uniform weights, U(±sqrt(6 / (n_in + n_out))), and zero biases. Returns (P,)."""
        params = np.zeros(self.n_params, dtype=dtype)
        for row in self.table:
            if row[COL_OP] == OP_DENSE:
                n_in, n_out, off = row[COL_IN_DIM], row[COL_OUT_DIM], row[COL_P_OFF]
                limit = np.sqrt(6.0 / (n_in + n_out))
                params[off : off + n_in * n_out] = rng.uniform(-limit, limit, n_in * n_out)
        return params


def build_plan(n_in: int, layers: list) -> Plan:
    """Lay out ``layers`` (Dense / Activation, applied in order) for inputs of width n_in."""
    if not layers:
        raise ValueError("a model needs at least one layer")
    rows = []
    width, p_off, off = n_in, 0, 0
    for layer in layers:
        in_dim, in_off = width, off
        off += in_dim
        if isinstance(layer, Dense):
            if layer.n_out < 1:
                raise ValueError(f"dense layer needs n_out >= 1, got {layer.n_out}")
            rows.append([OP_DENSE, in_dim, layer.n_out, in_off, off, p_off, int(layer.bias)])
            p_off += in_dim * layer.n_out + (layer.n_out if layer.bias else 0)
            width = layer.n_out
        elif isinstance(layer, Activation):
            if layer.name not in ACTIVATION_OPS:
                raise ValueError(f"unknown activation {layer.name!r}")
            rows.append([ACTIVATION_OPS[layer.name], in_dim, in_dim, in_off, off, -1, 0])
        else:
            raise TypeError(f"not a layer: {layer!r}")
    table = np.array(rows, dtype=np.int64)
    return Plan(table=table, n_params=p_off, n_in=n_in, n_out=width, width=off + width)
