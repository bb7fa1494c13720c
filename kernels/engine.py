"""The fused training loop: a whole run (epochs × batches × forward, loss, backward, update)
in one compiled call.

``train`` walks a :class:`kernels.plan.Plan` table; data, parameters, hyperparameters and the
seed go in, per-epoch curves come out. Workspaces are allocated once per run. Batches are drawn
without replacement within an epoch from a permutation shuffled each epoch with Numba's own
generator, seeded by ``seed`` (Berlyand & Jabin L1409-1411: each object once per epoch).
"""
import numpy as np

from kernels.activations import relu_backward, relu_forward, tanh_backward, tanh_forward
from kernels.clock import now
from kernels.dense import dense_backward, dense_forward
from kernels.jit import inline_kernel, kernel
from kernels.losses import mse_backward, mse_forward
from kernels.optimizers import sgd_step
from kernels.plan import (
    COL_BIAS,
    COL_IN_DIM,
    COL_IN_OFF,
    COL_OP,
    COL_OUT_DIM,
    COL_OUT_OFF,
    COL_P_OFF,
    LOSS_MSE,
    OP_DENSE,
    OP_RELU,
    OP_TANH,
    OPT_SGD,
)
from kernels.views import matrix


@inline_kernel
def _block(buf, capacity, col_off, rows, cols):
    """The (rows, cols) view of one layer boundary in a flat workspace (see kernels.plan)."""
    return matrix(buf, capacity * col_off, rows, cols)


@inline_kernel
def _dense_params(plan_row, params):
    """Views (w, b) of a dense layer's weights (n_in, n_out) and bias (n_out,) or (0,)."""
    n_in, n_out, off = plan_row[COL_IN_DIM], plan_row[COL_OUT_DIM], plan_row[COL_P_OFF]
    w = matrix(params, off, n_in, n_out)
    n_b = n_out if plan_row[COL_BIAS] == 1 else 0
    b = params[off + n_in * n_out : off + n_in * n_out + n_b]
    return w, b


@inline_kernel
def forward(plan, params, act, capacity, rows):
    """Run every layer on the first ``rows`` samples of boundary 0 of the workspace ``act``.

    plan: (L, N_COLS) int64; params: (P,); act: (capacity * plan width,). After the call the
    prediction is the last boundary's block (rows, n_out).
    """
    for layer in range(plan.shape[0]):
        row = plan[layer]
        x = _block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])
        y = _block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
        op = row[COL_OP]
        if op == OP_DENSE:
            w, b = _dense_params(row, params)
            dense_forward(x, w, b, y)
        elif op == OP_RELU:
            relu_forward(x, y)
        elif op == OP_TANH:
            tanh_forward(x, y)


@inline_kernel
def backward(plan, params, grads, act, dact, capacity, rows):
    """Backpropagate ∂L/∂prediction (the last block of ``dact``) to ``grads`` (P,).

    act holds the forward pass of the same rows; dact (same layout) receives ∂L/∂ of every
    boundary but the input, which is never needed.
    """
    for layer in range(plan.shape[0] - 1, -1, -1):
        row = plan[layer]
        x = _block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])
        y = _block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
        dy = _block(dact, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
        dx = _block(dact, capacity, row[COL_IN_OFF], rows if layer > 0 else 0, row[COL_IN_DIM])
        op = row[COL_OP]
        if op == OP_DENSE:
            w, b = _dense_params(row, params)
            dw, db = _dense_params(row, grads)
            dense_backward(dy, x, w, dx, dw, db)
        elif op == OP_RELU:
            relu_backward(dy, x, dx)
        elif op == OP_TANH:
            tanh_backward(dy, y, dx)


@inline_kernel
def loss_forward(loss, pred, target):
    """The loss selected by code ``loss`` (kernels.plan.LOSSES), a mean over the rows."""
    if loss == LOSS_MSE:
        return mse_forward(pred, target)
    raise ValueError("unknown loss code")


@inline_kernel
def loss_backward(loss, pred, target, dpred):
    """∂L/∂pred of the loss selected by code ``loss`` into dpred (rows, n_out)."""
    if loss == LOSS_MSE:
        mse_backward(pred, target, dpred)
    else:
        raise ValueError("unknown loss code")


@inline_kernel
def optimizer_step(optimizer, hyper, params, grads):
    """One update of the flat params (P,) by the optimizer code; hyper[0] is the step τ."""
    if optimizer == OPT_SGD:
        sgd_step(params, grads, hyper[0])
    else:
        raise ValueError("unknown optimizer code")


@inline_kernel
def _load_rows(src, index, start, rows, dst):
    """dst[r] = src[index[start + r]] for r < rows. src: (N, k); dst: (>= rows, k)."""
    for r in range(rows):
        i = index[start + r]
        for j in range(src.shape[1]):
            dst[r, j] = src[i, j]


@kernel
def evaluate(plan, loss, params, x, y, act, capacity):
    """Mean loss over all N samples of (x, y), in chunks of ``capacity`` rows."""
    n = x.shape[0]
    n_in, n_out = x.shape[1], y.shape[1]
    last = plan[plan.shape[0] - 1]
    total = 0.0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        _block(act, capacity, 0, rows, n_in)[:, :] = x[start : start + rows]
        forward(plan, params, act, capacity, rows)
        pred = _block(act, capacity, last[COL_OUT_OFF], rows, n_out)
        total += loss_forward(loss, pred, y[start : start + rows]) * rows
    return total / n


@kernel
def train(x, y, plan, loss, optimizer, hyper, params, epochs, batch_size, shuffle, seed,
          eval_rows, losses, train_times, wall_times):
    """Train ``params`` in place for ``epochs`` epochs; return the number of epochs completed.

    x: (N, n_in), y: (N, n_out), both of the params' dtype; plan: (L, N_COLS) int64;
    loss, optimizer: codes (kernels.plan); hyper: optimizer hyperparameters, params' dtype
    (hyper[0] = learning rate); params: (P,); batch_size: 1..N (the last batch of an epoch is
    smaller when batch_size does not divide N); shuffle: draw batches from a fresh permutation
    each epoch (False: fixed order, deterministic GD when batch_size = N); eval_rows: chunk
    size of the full-data evaluation.
    Outputs, (epochs + 1,) float64, entry 0 before training: losses = mean loss over all N
    samples at the end of each epoch; train_times = cumulative seconds spent in updates;
    wall_times = cumulative seconds including evaluation. Stops early, after recording it, at
    the first epoch whose loss is not finite (a diverged run).
    """
    n = x.shape[0]
    n_out = y.shape[1]
    last = plan[plan.shape[0] - 1]
    width = last[COL_OUT_OFF] + last[COL_OUT_DIM]
    capacity = max(batch_size, eval_rows)
    act = np.empty(capacity * width, dtype=params.dtype)
    dact = np.empty(capacity * width, dtype=params.dtype)
    target = np.empty((capacity, n_out), dtype=params.dtype)
    grads = np.empty_like(params)
    order = np.arange(n)
    np.random.seed(seed)

    losses[0] = evaluate(plan, loss, params, x, y, act, capacity)
    train_times[0] = 0.0
    wall_times[0] = 0.0
    if not np.isfinite(losses[0]):
        return 0
    for epoch in range(1, epochs + 1):
        t0 = now()
        if shuffle:
            np.random.shuffle(order)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            _load_rows(x, order, start, rows, _block(act, capacity, 0, rows, x.shape[1]))
            _load_rows(y, order, start, rows, target)
            forward(plan, params, act, capacity, rows)
            pred = _block(act, capacity, last[COL_OUT_OFF], rows, n_out)
            dpred = _block(dact, capacity, last[COL_OUT_OFF], rows, n_out)
            loss_backward(loss, pred, target[:rows], dpred)
            backward(plan, params, grads, act, dact, capacity, rows)
            optimizer_step(optimizer, hyper, params, grads)
        t1 = now()
        losses[epoch] = evaluate(plan, loss, params, x, y, act, capacity)
        t2 = now()
        train_times[epoch] = train_times[epoch - 1] + (t1 - t0)
        wall_times[epoch] = wall_times[epoch - 1] + (t2 - t0)
        if not np.isfinite(losses[epoch]):
            return epoch
    return epochs


@kernel
def loss_and_gradient(plan, loss, params, x, y, grads):
    """L(params) on all N rows of (x, y) as one batch, and ∂L/∂params into grads (P,)."""
    n = x.shape[0]
    last = plan[plan.shape[0] - 1]
    width = last[COL_OUT_OFF] + last[COL_OUT_DIM]
    act = np.empty(n * width, dtype=params.dtype)
    dact = np.empty(n * width, dtype=params.dtype)
    _block(act, n, 0, n, x.shape[1])[:, :] = x
    forward(plan, params, act, n, n)
    pred = _block(act, n, last[COL_OUT_OFF], n, y.shape[1])
    value = loss_forward(loss, pred, y)
    loss_backward(loss, pred, y, _block(dact, n, last[COL_OUT_OFF], n, y.shape[1]))
    backward(plan, params, grads, act, dact, n, n)
    return value
