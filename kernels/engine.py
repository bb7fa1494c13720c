"""The fused training loop: a whole run (epochs × batches × forward, loss, backward, penalty,
update) in one compiled call.

``train`` walks a :class:`kernels.plan.Plan` table; data, parameters, hyperparameters and the
seed go in, the per-epoch history comes out. Workspaces are allocated once per run. A plan of
a single dense layer skips the walk for kernels.fused, one pass over each batch's samples. Batches are
drawn without replacement within an epoch from a permutation shuffled each epoch with Numba's
own generator, seeded by ``seed`` (Berlyand & Jabin L1409-1411: each object once per epoch):
epoch e's order is the e-th ``np.random.shuffle`` of 0..N−1 after ``np.random.seed(seed)``,
which :func:`permutations` reproduces for other targets. Dropout masks are counter-based draws
(kernels.random) keyed by the seed, the step and the layer, so they use no generator state.
"""
import numpy as np

from kernels.activations import activation_backward, activation_forward
from kernels.clock import now
from kernels.codes import (
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
    H_CHECK_EVERY,
    H_CHECK_LEVEL,
    H_DECAY,
    H_L1,
    H_L2,
    H_LR,
    H_STEP,
    HIST_LR,
    HIST_REACH_STEP,
    HIST_REACH_TIME,
    HIST_TEST_ACC,
    HIST_TEST_LOSS,
    HIST_TRAIN_ACC,
    HIST_TRAIN_LOSS,
    HIST_TRAIN_TIME,
    HIST_WALL_TIME,
    OP_ACTIVATION,
    OP_AVGPOOL,
    OP_CONV,
    OP_DENSE,
    OP_DROPOUT,
    OP_MAXPOOL,
    OP_RESIDUAL,
)
from kernels.conv import conv2d_backward, conv2d_forward
from kernels.dense import dense_backward, dense_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.fused import dense_loss_gradient
from kernels.guard import check_data, check_params, check_plan, check_train
from kernels.jit import inline_kernel, kernel
from kernels.losses import loss_backward, loss_forward, n_correct
from kernels.optimizers import optimizer_step
from kernels.pool import (
    avgpool_backward,
    avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from kernels.random import stream_key
from kernels.regularizers import penalty_gradient
from kernels.schedules import learning_rate
from kernels.views import matrix, vector


@inline_kernel
def _block(buf, capacity, col_off, rows, cols):
    """The (rows, cols) view of one per-sample region of a flat workspace (see kernels.plan)."""
    return matrix(buf, capacity * col_off, rows, cols)


@inline_kernel
def _images(block, channels, height, width):
    """A (rows, C·H·W) block as (rows, C, H, W)."""
    return block.reshape((block.shape[0], channels, height, width))


@inline_kernel
def _dense_params(row, params):
    """Views (w, b) of a dense layer's weights (n_in, n_out) and bias (n_out,) or (0,)."""
    n_in, n_out, off = row[COL_IN_DIM], row[COL_OUT_DIM], row[COL_P_OFF]
    w = matrix(params, off, n_in, n_out)
    n_b = n_out if row[COL_BIAS] == 1 else 0
    return w, vector(params, off + n_in * n_out, n_b)


@inline_kernel
def _conv_params(row, params):
    """Views (w, b) of a conv layer's weights (C_out, C_in, k, k) and bias (C_out,) or (0,)."""
    c_in, c_out, k, off = row[COL_C_IN], row[COL_C_OUT], row[COL_K], row[COL_P_OFF]
    size = c_out * c_in * k * k
    w = params[off : off + size].reshape((c_out, c_in, k, k))
    n_b = c_out if row[COL_BIAS] == 1 else 0
    return w, params[off + size : off + size + n_b]


@inline_kernel
def _residual_params(row, params):
    """Views (w1 (n, h), b (h,), w2 (h, n)) of a residual block's parameters."""
    n, h, off = row[COL_IN_DIM], row[COL_C_OUT], row[COL_P_OFF]
    w1 = matrix(params, off, n, h)
    b = params[off + n * h : off + n * h + h]
    w2 = matrix(params, off + n * h + h, h, n)
    return w1, b, w2


@inline_kernel
def _conv_cols(row, cache, capacity, rows):
    """The layer's saved patches, (rows, C_in k k, H_out W_out)."""
    patch = row[COL_C_IN] * row[COL_K] * row[COL_K]
    n_patch = row[COL_H_OUT] * row[COL_W_OUT]
    cols = _block(cache, capacity, row[COL_CACHE_OFF], rows, patch * n_patch)
    return cols.reshape((rows, patch, n_patch))


@inline_kernel
def _pool_images(row, act, capacity, rows):
    """(x, y) of a pooling layer as (rows, C, H, W) and (rows, C, H_out, W_out)."""
    c = row[COL_C_IN]
    x = _images(_block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM]), c, row[COL_H_IN], row[COL_W_IN])
    y = _images(_block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM]), c, row[COL_H_OUT], row[COL_W_OUT])
    return x, y


# The layers other than dense and activations are compiled as functions of their own, called
# from the walks below, so that the walks inlined into the training loop stay small: the
# per-step cost of batch size 1 depends on it.


@kernel
def _conv_layer_forward(row, params, x, y, cache, capacity, rows):
    w, b = _conv_params(row, params)
    x4 = _images(x, row[COL_C_IN], row[COL_H_IN], row[COL_W_IN])
    y4 = _images(y, row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT])
    conv2d_forward(x4, w, b, row[COL_STRIDE], row[COL_PAD], _conv_cols(row, cache, capacity, rows), y4)


@kernel
def _pool_layer_forward(row, act, icache, capacity, rows):
    x4, y4 = _pool_images(row, act, capacity, rows)
    if row[COL_OP] == OP_MAXPOOL:
        argmax = _images(_block(icache, capacity, row[COL_ICACHE_OFF], rows, row[COL_OUT_DIM]),
                         row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT])
        maxpool_forward(row[COL_K], row[COL_STRIDE], x4, y4, argmax)
    else:
        avgpool_forward(row[COL_K], row[COL_STRIDE], x4, y4)


@kernel
def _dropout_layer_forward(row, rate, key, x, y, cache, capacity, rows, training):
    if training:
        dropout_forward(rate, key, x, _block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM]), y)
    else:
        y[:, :] = x


@kernel
def _residual_layer_forward(row, beta, gamma, params, x, y, cache, capacity, rows):
    w1, b, w2 = _residual_params(row, params)
    h, off = row[COL_C_OUT], row[COL_CACHE_OFF]
    z = _block(cache, capacity, off, rows, h)
    a = _block(cache, capacity, off + h, rows, h)
    dense_forward(x, w1, b, z)
    activation_forward(row[COL_CODE], beta, gamma, z, a)
    dense_forward(a, w2, b[:0], y)
    y += x


@inline_kernel
def forward(plan, args, params, act, cache, icache, capacity, rows, training, seed, step):
    """Run every layer on the first ``rows`` samples of boundary 0 of the workspace ``act``.

    plan: (L, N_COLS) int64; args: (L, N_ARGS) float64; params: (P,); act, cache: float
    workspaces (capacity × plan.width, capacity × plan.cache_width); icache: int64 (capacity ×
    plan.icache_width); training: dropout on, with the masks of training step ``step`` of the
    run ``seed`` (kernels.random). The prediction is left in the last boundary.
    """
    for layer in range(plan.shape[0]):
        row = plan[layer]
        op = row[COL_OP]
        x = _block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])
        y = _block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
        if op == OP_DENSE:
            w, b = _dense_params(row, params)
            dense_forward(x, w, b, y)
            continue
        beta = params.dtype.type(args[layer, ARG_BETA])
        gamma = params.dtype.type(args[layer, ARG_GAMMA])
        if op == OP_ACTIVATION:
            activation_forward(row[COL_CODE], beta, gamma, x, y)
        elif op == OP_CONV:
            _conv_layer_forward(row, params, x, y, cache, capacity, rows)
        elif op == OP_MAXPOOL or op == OP_AVGPOOL:
            _pool_layer_forward(row, act, icache, capacity, rows)
        elif op == OP_DROPOUT:
            _dropout_layer_forward(row, beta, stream_key(seed, step, layer), x, y, cache, capacity, rows,
                                   training)
        elif op == OP_RESIDUAL:
            _residual_layer_forward(row, beta, gamma, params, x, y, cache, capacity, rows)


@kernel
def _conv_layer_backward(row, params, grads, dy, dx, cache, scratch, capacity, rows):
    w, _ = _conv_params(row, params)
    dw, db = _conv_params(row, grads)
    c_in, c_out, h_out, w_out = row[COL_C_IN], row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT]
    patch = c_in * row[COL_K] * row[COL_K]
    dcols = matrix(scratch, 0, patch, h_out * w_out)
    dw_r = matrix(scratch, patch * h_out * w_out, c_out, patch)
    conv2d_backward(_images(dy, c_out, h_out, w_out), _conv_cols(row, cache, capacity, rows), w,
                    row[COL_STRIDE], row[COL_PAD], dcols, dw_r,
                    _images(dx, c_in, row[COL_H_IN], row[COL_W_IN]), dw, db)


@kernel
def _pool_layer_backward(row, dy, dx, icache, capacity, rows):
    c = row[COL_C_IN]
    dy4 = _images(dy, c, row[COL_H_OUT], row[COL_W_OUT])
    dx4 = _images(dx, c, row[COL_H_IN], row[COL_W_IN])
    if row[COL_OP] == OP_MAXPOOL:
        argmax = _images(_block(icache, capacity, row[COL_ICACHE_OFF], rows, row[COL_OUT_DIM]),
                         c, row[COL_H_OUT], row[COL_W_OUT])
        maxpool_backward(dy4, argmax, dx4)
    else:
        avgpool_backward(row[COL_K], row[COL_STRIDE], dy4, dx4)


@kernel
def _residual_layer_backward(row, beta, gamma, params, grads, x, dy, dx, cache, capacity, rows, first):
    w1, _, w2 = _residual_params(row, params)
    dw1, db, dw2 = _residual_params(row, grads)
    h, off = row[COL_C_OUT], row[COL_CACHE_OFF]
    z = _block(cache, capacity, off, rows, h)
    a = _block(cache, capacity, off + h, rows, h)
    dz = _block(cache, capacity, off + 2 * h, rows, h)
    dense_backward(dy, a, w2, dz, dw2, db[:0])  # dz holds ∂L/∂a here
    activation_backward(row[COL_CODE], beta, gamma, dz, z, a, dz)
    dense_backward(dz, x, w1, dx, dw1, db)
    if not first:
        dx += dy


@inline_kernel
def backward(plan, args, params, grads, act, dact, cache, icache, scratch, capacity, rows):
    """Backpropagate ∂L/∂prediction (the last block of ``dact``) into ``grads`` (P,).

    act, cache, icache hold the forward pass of the same rows; dact (act's layout) receives
    ∂L/∂ of every boundary but the input, which is never needed; scratch: the conv workspace.
    """
    for layer in range(plan.shape[0] - 1, -1, -1):
        row = plan[layer]
        op = row[COL_OP]
        has_params = op == OP_DENSE or op == OP_CONV or op == OP_RESIDUAL
        if layer == 0 and not has_params:
            break  # nothing below to pass a gradient to
        x = _block(act, capacity, row[COL_IN_OFF], rows, row[COL_IN_DIM])
        dy = _block(dact, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
        dx = _block(dact, capacity, row[COL_IN_OFF], rows if layer > 0 else 0, row[COL_IN_DIM])
        if op == OP_DENSE:
            w, _ = _dense_params(row, params)
            dw, db = _dense_params(row, grads)
            dense_backward(dy, x, w, dx, dw, db)
            continue
        beta = params.dtype.type(args[layer, ARG_BETA])
        gamma = params.dtype.type(args[layer, ARG_GAMMA])
        if op == OP_ACTIVATION:
            y = _block(act, capacity, row[COL_OUT_OFF], rows, row[COL_OUT_DIM])
            activation_backward(row[COL_CODE], beta, gamma, dy, x, y, dx)
        elif op == OP_CONV:
            _conv_layer_backward(row, params, grads, dy, dx, cache, scratch, capacity, rows)
        elif op == OP_MAXPOOL or op == OP_AVGPOOL:
            _pool_layer_backward(row, dy, dx, icache, capacity, rows)
        elif op == OP_DROPOUT:
            dropout_backward(dy, _block(cache, capacity, row[COL_CACHE_OFF], rows, row[COL_IN_DIM]), dx)
        elif op == OP_RESIDUAL:
            _residual_layer_backward(row, beta, gamma, params, grads, x, dy, dx, cache, capacity, rows, layer == 0)


@kernel
def evaluate(plan, args, loss, params, x, y, act, cache, icache, capacity):
    """(mean loss, accuracy) over all rows of (x, y), in chunks of ``capacity`` rows; the
    accuracy is NaN for a regression loss, and both are NaN for an empty set."""
    n = x.shape[0]
    if n == 0:
        return np.nan, np.nan
    n_in, n_out = x.shape[1], y.shape[1]
    last = plan[plan.shape[0] - 1]
    total = 0.0
    correct = 0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        _block(act, capacity, 0, rows, n_in)[:, :] = x[start : start + rows]
        forward(plan, args, params, act, cache, icache, capacity, rows, False, 0, 0)
        pred = _block(act, capacity, last[COL_OUT_OFF], rows, n_out)
        target = y[start : start + rows]
        total += loss_forward(loss, pred, target) * rows
        correct += n_correct(loss, pred, target)
    return total / n, correct / n if correct >= 0 else np.nan


@inline_kernel
def _load_rows(src, index, start, rows, dst):
    """dst[r] = src[index[start + r]] for r < rows. src: (N, k); dst: (>= rows, k)."""
    for r in range(rows):
        i = index[start + r]
        for j in range(src.shape[1]):
            dst[r, j] = src[i, j]


@kernel
def workspace_widths(plan):
    """Per-sample widths (activations, float cache, integer cache) and the conv scratch size
    of a plan, from its offsets (kernels.plan)."""
    last = plan[plan.shape[0] - 1]
    width = last[COL_OUT_OFF] + last[COL_OUT_DIM]
    cache_width, icache_width, scratch_size = 0, 0, 0
    for layer in range(plan.shape[0]):
        row = plan[layer]
        if row[COL_OP] == OP_CONV:
            patch = row[COL_C_IN] * row[COL_K] * row[COL_K]
            n_patch = row[COL_H_OUT] * row[COL_W_OUT]
            cache_width = max(cache_width, row[COL_CACHE_OFF] + patch * n_patch)
            scratch_size = max(scratch_size, patch * n_patch + row[COL_C_OUT] * patch)
        elif row[COL_OP] == OP_DROPOUT:
            cache_width = max(cache_width, row[COL_CACHE_OFF] + row[COL_IN_DIM])
        elif row[COL_OP] == OP_RESIDUAL:
            cache_width = max(cache_width, row[COL_CACHE_OFF] + 3 * row[COL_C_OUT])
        elif row[COL_OP] == OP_MAXPOOL:
            icache_width = max(icache_width, row[COL_ICACHE_OFF] + row[COL_OUT_DIM])
    return width, cache_width, icache_width, scratch_size


@kernel
def _workspaces(plan, capacity, dtype):
    """Allocate act, dact, cache (dtype), icache (int64) for ``capacity`` rows and the conv
    scratch (workspace_widths)."""
    width, cache_width, icache_width, scratch_size = workspace_widths(plan)
    return (np.empty(capacity * width, dtype=dtype), np.empty(capacity * width, dtype=dtype),
            np.empty(capacity * cache_width, dtype=dtype), np.empty(capacity * icache_width, dtype=np.int64),
            np.empty(scratch_size, dtype=dtype))


def train(x, y, x_fit, y_fit, x_test, y_test, plan, args, loss, optimizer, schedule, hyper, mask,
          params, epochs, batch_size, shuffle, seed, eval_rows, history):
    """_train, after kernels.guard.check_train (ValueError for arguments that do not fit)."""
    check_train(x, y, x_fit, y_fit, x_test, y_test, plan, args, hyper, mask, params, epochs, batch_size,
                eval_rows, history)
    return _train(x, y, x_fit, y_fit, x_test, y_test, plan, args, loss, optimizer, schedule, hyper, mask,
                  params, epochs, batch_size, shuffle, seed, eval_rows, history)


@kernel
def _train(x, y, x_fit, y_fit, x_test, y_test, plan, args, loss, optimizer, schedule, hyper, mask,
           params, epochs, batch_size, shuffle, seed, eval_rows, history):
    """Train ``params`` in place for ``epochs`` epochs; return the number of epochs completed.

    x: (N, n_in), y: (N, n_out): the training data, of the params' dtype. (x_fit, y_fit) and
    (x_test, y_test): monitor sets evaluated at the end of every epoch; the first is usually the
    training set itself (any set whose mean loss equals the training loss will do), the second
    may have 0 rows. plan, args: kernels.plan.Plan.table and .args; loss, optimizer, schedule:
    codes (kernels.codes); hyper: (N_HYPER,) of the params' dtype (kernels.codes.H_*);
    mask: (P,) the penalty mask (kernels.regularizers); params: (P,); batch_size: 1..N (the
    last batch of an epoch is smaller when it does not divide N); shuffle: a fresh permutation
    each epoch (False: fixed order, deterministic GD when batch_size = N); eval_rows: chunk
    size of the monitor evaluation.
    history: (epochs + 1, N_HIST) float64, row 0 before training (columns kernels.codes.HIST_*).
    Stops early, after recording it, at the first epoch whose training loss is not finite.

    Checks within epochs (hyper[H_CHECK_EVERY] = k > 0): after every k-th step the fit-set loss
    is evaluated until it is first <= hyper[H_CHECK_LEVEL] (the end of each epoch counts as a
    check too); that step (counted from the start) and the seconds in updates up to it go to
    HIST_REACH_STEP and HIST_REACH_TIME of the epoch where it happened. The checks' own time is
    left out of HIST_TRAIN_TIME.
    """
    n = x.shape[0]
    n_out = y.shape[1]
    dtype = params.dtype
    last = plan[plan.shape[0] - 1]
    capacity = max(batch_size, eval_rows)
    act, dact, cache, icache, scratch = _workspaces(plan, capacity, dtype)
    target = np.empty((capacity, n_out), dtype=dtype)
    grads = np.empty_like(params)
    state = np.zeros((2, params.shape[0]), dtype=dtype)
    l1, l2 = hyper[H_L1], hyper[H_L2]
    penalized = l1 != 0 or l2 != 0
    order = np.arange(n)
    np.random.seed(seed)
    # A one-dense-layer model takes the fused path (kernels.fused), with its views made once.
    linear = plan.shape[0] == 1 and last[COL_OP] == OP_DENSE
    w, b = _dense_params(last, params) if linear else (matrix(params, 0, 0, 0), vector(params, 0, 0))
    dw, db = _dense_params(last, grads) if linear else (matrix(grads, 0, 0, 0), vector(grads, 0, 0))
    pred_rows = np.empty((2, n_out), dtype=dtype)

    history[0, HIST_TRAIN_LOSS], history[0, HIST_TRAIN_ACC] = evaluate(
        plan, args, loss, params, x_fit, y_fit, act, cache, icache, capacity)
    history[0, HIST_TEST_LOSS], history[0, HIST_TEST_ACC] = evaluate(
        plan, args, loss, params, x_test, y_test, act, cache, icache, capacity)
    history[0, HIST_LR] = np.nan
    history[0, HIST_TRAIN_TIME] = 0.0
    history[0, HIST_WALL_TIME] = 0.0
    if not np.isfinite(history[0, HIST_TRAIN_LOSS]):
        return 0
    check_every = int(hyper[H_CHECK_EVERY])
    checking = check_every > 0 and history[0, HIST_TRAIN_LOSS] > hyper[H_CHECK_LEVEL]
    step = 0
    for epoch in range(1, epochs + 1):
        rate = learning_rate(schedule, float(hyper[H_LR]), float(hyper[H_DECAY]), float(hyper[H_STEP]),
                             epoch - 1, epochs)
        lr = dtype.type(rate)
        t0 = now()
        paused = 0.0  # seconds of this epoch's checks
        if shuffle:
            np.random.shuffle(order)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            step += 1
            if linear:
                dense_loss_gradient(loss, x, y, order, start, rows, w, b, dw, db, pred_rows)
            else:
                _load_rows(x, order, start, rows, _block(act, capacity, 0, rows, x.shape[1]))
                _load_rows(y, order, start, rows, target)
                forward(plan, args, params, act, cache, icache, capacity, rows, True, seed, step)
                pred = _block(act, capacity, last[COL_OUT_OFF], rows, n_out)
                dpred = _block(dact, capacity, last[COL_OUT_OFF], rows, n_out)
                loss_backward(loss, pred, target[:rows], dpred)
                backward(plan, args, params, grads, act, dact, cache, icache, scratch, capacity, rows)
            if penalized:
                penalty_gradient(params, mask, l1, l2, grads)
            optimizer_step(optimizer, hyper, lr, step, params, grads, state)
            if checking and step % check_every == 0:
                tc = now()
                value = evaluate(plan, args, loss, params, x_fit, y_fit, act, cache, icache, capacity)[0]
                if value <= hyper[H_CHECK_LEVEL]:
                    history[epoch, HIST_REACH_STEP] = step
                    history[epoch, HIST_REACH_TIME] = history[epoch - 1, HIST_TRAIN_TIME] + (tc - t0 - paused)
                    checking = False
                paused += now() - tc
        t1 = now()
        history[epoch, HIST_TRAIN_LOSS], history[epoch, HIST_TRAIN_ACC] = evaluate(
            plan, args, loss, params, x_fit, y_fit, act, cache, icache, capacity)
        history[epoch, HIST_TEST_LOSS], history[epoch, HIST_TEST_ACC] = evaluate(
            plan, args, loss, params, x_test, y_test, act, cache, icache, capacity)
        t2 = now()
        history[epoch, HIST_LR] = rate
        history[epoch, HIST_TRAIN_TIME] = history[epoch - 1, HIST_TRAIN_TIME] + (t1 - t0 - paused)
        history[epoch, HIST_WALL_TIME] = history[epoch - 1, HIST_WALL_TIME] + (t2 - t0)
        if checking and history[epoch, HIST_TRAIN_LOSS] <= hyper[H_CHECK_LEVEL]:  # the epoch's end is a check
            history[epoch, HIST_REACH_STEP] = step
            history[epoch, HIST_REACH_TIME] = history[epoch, HIST_TRAIN_TIME]
            checking = False
        if not np.isfinite(history[epoch, HIST_TRAIN_LOSS]):
            return epoch
    return epochs


@kernel
def permutations(n, epochs, shuffle, seed):
    """The batch order of every epoch of ``train``: (epochs, n) int32, row e = the order of
    epoch e + 1 (0..n−1 when not shuffled)."""
    order = np.arange(n)
    out = np.empty((epochs, n), np.int32)
    np.random.seed(seed)
    for epoch in range(epochs):
        if shuffle:
            np.random.shuffle(order)
        out[epoch] = order
    return out


def loss_and_gradient(plan, args, loss, params, x, y, grads):
    """_loss_and_gradient, after checking the arguments against the plan (kernels.guard)."""
    check_plan(plan, args)
    check_params(plan, params)
    check_params(plan, grads, "grads")
    check_data(plan, params.dtype, x, y, "the data", min_rows=1)
    return _loss_and_gradient(plan, args, loss, params, x, y, grads)


@kernel
def _loss_and_gradient(plan, args, loss, params, x, y, grads):
    """Data loss of the whole model on (x, y) and its gradient into grads (P,), no dropout
    (forward in evaluation mode, so the result is deterministic). For gradient tests."""
    rows = x.shape[0]
    last = plan[plan.shape[0] - 1]
    act, dact, cache, icache, scratch = _workspaces(plan, rows, params.dtype)
    _block(act, rows, 0, rows, x.shape[1])[:, :] = x
    forward(plan, args, params, act, cache, icache, rows, rows, False, 0, 0)
    pred = _block(act, rows, last[COL_OUT_OFF], rows, y.shape[1])
    value = loss_forward(loss, pred, y)
    loss_backward(loss, pred, y, _block(dact, rows, last[COL_OUT_OFF], rows, y.shape[1]))
    backward(plan, args, params, grads, act, dact, cache, icache, scratch, rows, rows)
    return value


def forward_differences(plan, args, loss, params, x, y, eps, grads):
    """_forward_differences, after checking the arguments against the plan (kernels.guard)."""
    check_plan(plan, args)
    check_params(plan, params)
    check_params(plan, grads, "grads")
    check_data(plan, params.dtype, x, y, "the data", min_rows=1)
    return _forward_differences(plan, args, loss, params, x, y, eps, grads)


@kernel
def _forward_differences(plan, args, loss, params, x, y, eps, grads):
    """The data loss on (x, y), returned, and its gradient by forward differences into grads
    (P,): (L(θ + ε e_i) − L(θ)) / ε for every parameter i, one forward pass each (evaluation
    mode). The finite-difference gradient of Berlyand & Jabin Exercise 9.8, for comparison with
    backpropagation (loss_and_gradient): P + 1 forward passes against one forward and one
    backward. params is restored entry by entry."""
    capacity = x.shape[0]
    act, _, cache, icache, _ = _workspaces(plan, capacity, params.dtype)
    base = evaluate(plan, args, loss, params, x, y, act, cache, icache, capacity)[0]
    for i in range(params.shape[0]):
        kept = params[i]
        params[i] = kept + eps
        grads[i] = (evaluate(plan, args, loss, params, x, y, act, cache, icache, capacity)[0] - base) / eps
        params[i] = kept
    return base


def predict(plan, args, params, x, out):
    """_predict, after checking the arguments against the plan (kernels.guard)."""
    check_plan(plan, args)
    check_params(plan, params)
    check_data(plan, params.dtype, x, out, "predict's x and out")
    return _predict(plan, args, params, x, out)


@kernel
def _predict(plan, args, params, x, out):
    """The model's output on every row of x (evaluation mode: no dropout) into out (N, n_out),
    in chunks of at most 1024 rows."""
    n = x.shape[0]
    capacity = min(n, 1024)
    last = plan[plan.shape[0] - 1]
    act, _, cache, icache, _ = _workspaces(plan, capacity, params.dtype)
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        _block(act, capacity, 0, rows, x.shape[1])[:, :] = x[start : start + rows]
        forward(plan, args, params, act, cache, icache, capacity, rows, False, 0, 0)
        out[start : start + rows] = _block(act, capacity, last[COL_OUT_OFF], rows, out.shape[1])
