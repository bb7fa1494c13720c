"""The fused training loop: a whole run (epochs × batches × forward, loss, backward, penalty,
update) in one compiled call.

``train`` walks a plan (kernels.plan, kernels.walks), compiled for the plan's variant alone
(kernels.specialize: ``_train[variant]``, as is every function here that walks); named records (kernels.records) of the
data, the plan, the method and the settings, the parameters and buffers go in, the per-epoch
history comes out. Workspaces are allocated once per run. A plan of a single dense layer (the
fused variant, ``FUSED``) skips the walk for kernels.fused, one pass over each batch's samples. Batches are drawn without
replacement within an epoch from a permutation shuffled each epoch with Numba's
own generator, seeded by ``seed`` (Berlyand & Jabin L1409-1411: each object once per epoch):
epoch e's order is the e-th ``np.random.shuffle`` of 0..N−1 after ``np.random.seed(seed)``,
which :func:`permutations` reproduces for other targets. Dropout masks are counter-based draws
(kernels.random) keyed by the seed, the step and the layer, so they use no generator state.
"""
import numpy as np

from kernels.clock import now
from kernels.codes import (
    COL_OUT_OFF,
    H_L1,
    H_L2,
    HIST_FIT_ACC,
    HIST_FIT_LOSS,
    HIST_LR,
    HIST_REACH_STEP,
    HIST_REACH_TIME,
    HIST_TEST_ACC,
    HIST_TEST_LOSS,
    HIST_TRAIN_TIME,
    HIST_WALL_TIME,
    SIZE_CACHE,
    SIZE_ICACHE,
    SIZE_SCRATCH,
    SIZE_WIDTH,
)
from kernels.dense import row_product
from kernels.fused import dense_loss_gradient_for
from kernels.guard import check_data, check_gradient, check_net, check_params, check_train
from kernels.jit import cached, inline_kernel, kernel
from kernels.layers.dense import views as dense_views
from kernels.loss import loss_backward_for, loss_forward_for, n_correct_for
from kernels.regularizers import penalty_gradient
from kernels.specialize import PerVariant
from kernels.steps import STATE_ROWS, learning_rate, optimizer_step
from kernels.stopping import after_epoch
from kernels.variants import variant_of
from kernels.views import block, copy, row
from kernels.walks import backward, forward

FUSED = False  # the plan is one dense layer: bound to a constant per variant (kernels.specialize)


@PerVariant.template(kernel)
def evaluate(net, loss, params, buffers, x, y, work):
    """(mean loss, accuracy) over all rows of (x, y) in evaluation mode, in chunks of the
    workspaces' capacity; the accuracy is NaN for a regression loss, and both are NaN for an
    empty set. work: _workspaces(net, capacity, ...)."""
    n = x.shape[0]
    if n == 0:
        return np.nan, np.nan
    act, _, cache, icache, scratch, capacity = work
    table = net.table
    n_in, n_out = x.shape[1], y.shape[1]
    last = table[table.shape[0] - 1]
    total = 0.0
    correct = 0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        pred = block(act, capacity, last[COL_OUT_OFF], rows, n_out)
        if FUSED:  # one dense layer: each row's prediction straight from x
            w, b = dense_views(last, params)
            for r in range(rows):
                row_product(row(x, start + r), w, b, row(pred, r))
        else:
            copy(x[start : start + rows], block(act, capacity, 0, rows, n_in))
            forward(table, net.args, params, buffers, act, cache, icache, scratch, capacity, rows, False, 0, 0)
        target = y[start : start + rows]
        total += loss_forward_for(loss, pred, target) * rows
        correct += n_correct_for(loss, pred, target)
    return total / n, correct / n if correct >= 0 else np.nan


@inline_kernel
def _load_rows(src, index, start, rows, dst):
    """dst[r] = src[index[start + r]] for r < rows. src: (N, k); dst: (>= rows, k)."""
    for r in range(rows):
        i = index[start + r]
        for j in range(src.shape[1]):
            dst[r, j] = src[i, j]


@kernel
def _workspaces(net, capacity, dtype):
    """(act, dact, cache, icache, scratch, capacity): the workspaces of ``capacity`` rows that
    net.sizes asks for (kernels.plan); icache is int64, the others of ``dtype``."""
    sizes = net.sizes
    width = sizes[SIZE_WIDTH]
    return (np.empty(capacity * width, dtype=dtype), np.empty(capacity * width, dtype=dtype),
            np.empty(capacity * sizes[SIZE_CACHE], dtype=dtype), np.empty(capacity * sizes[SIZE_ICACHE], dtype=np.int64),
            np.empty(sizes[SIZE_SCRATCH], dtype=dtype), capacity)


def train(data, net, method, settings, params, buffers, history):
    """_train, after kernels.guard.check_train (ValueError for arguments that do not fit)."""
    check_train(data, net, method, settings, params, buffers, history)
    return _train[variant_of(net.table, method.loss)](data, net, method, settings, params, buffers, history)


@PerVariant.template(kernel)
def _train(data, net, method, settings, params, buffers, history):
    """Train ``params`` (P,) and ``buffers`` (B,) in place for settings.epochs epochs; return the
    number of epochs completed.

    data (kernels.records.Data): the training set (x, y) and the fit and test monitor sets,
    evaluated at the end of every epoch, all of the params' dtype; the fit set's loss is the
    history's fit loss (usually the training set itself: any set whose mean loss equals the
    training loss will do); the test set may have 0 rows. net: the plan (kernels.records.Net);
    method: loss, optimizer and schedule codes, hyper (N_HYPER,) of the params' dtype
    (kernels.steps) and the penalty mask (P,) (kernels.regularizers); settings: epochs,
    batch_size 1..N (the last batch of an epoch is smaller when it does not divide N), shuffle
    (a fresh permutation each epoch; False: fixed order, deterministic GD when batch_size = N),
    seed, eval_rows (chunk size of the monitor evaluation).
    history: (epochs + 1, N_HIST) float64, row 0 before training (columns kernels.codes.HIST_*).
    Stops early, after recording it, at the first epoch whose fit loss is not finite or above
    settings.stop_factor × the initial one, or that runs out of settings.patience
    (kernels.stopping); at once (0 epochs) when the initial fit loss is not finite.

    Checks within epochs (settings.check_every = k > 0): after every k-th step the fit-set loss
    is evaluated until it is first <= settings.check_level (the end of each epoch counts as a
    check too); that step (counted from the start) and the seconds in updates up to it go to
    HIST_REACH_STEP and HIST_REACH_TIME of the epoch where it happened. The checks' own time is
    left out of HIST_TRAIN_TIME.
    """
    x, y = data.x, data.y
    loss, optimizer, hyper, mask = method.loss, method.optimizer, method.hyper, method.mask
    epochs, batch_size, seed = settings.epochs, settings.batch_size, settings.seed
    table, args = net.table, net.args
    n = x.shape[0]
    n_out = y.shape[1]
    dtype = params.dtype
    last = table[table.shape[0] - 1]
    capacity = max(batch_size, settings.eval_rows)
    work = _workspaces(net, capacity, dtype)
    act, dact, cache, icache, scratch, _ = work
    target = np.empty((capacity, n_out), dtype=dtype)
    grads = np.empty_like(params)
    state = np.zeros((STATE_ROWS, params.shape[0]), dtype=dtype)
    l1, l2 = hyper[H_L1], hyper[H_L2]
    penalized = l1 != 0 or l2 != 0
    order = np.arange(n)
    np.random.seed(seed)
    if FUSED:  # the views of the fused path, made once
        w, b = dense_views(last, params)
        dw, db = dense_views(last, grads)
        pred_rows = np.empty((2, n_out), dtype=dtype)

    history[0, HIST_FIT_LOSS], history[0, HIST_FIT_ACC] = evaluate(
        net, loss, params, buffers, data.x_fit, data.y_fit, work)
    history[0, HIST_TEST_LOSS], history[0, HIST_TEST_ACC] = evaluate(
        net, loss, params, buffers, data.x_test, data.y_test, work)
    history[0, HIST_LR] = np.nan
    history[0, HIST_TRAIN_TIME] = 0.0
    history[0, HIST_WALL_TIME] = 0.0
    if not np.isfinite(history[0, HIST_FIT_LOSS]):
        return 0
    bound = settings.stop_factor * history[0, HIST_FIT_LOSS]
    best, wait = history[0, settings.monitor], 0
    check_every, check_level = settings.check_every, settings.check_level
    checking = check_every > 0 and history[0, HIST_FIT_LOSS] > check_level
    step = 0
    for epoch in range(1, epochs + 1):
        rate = learning_rate(method.schedule, hyper, epoch - 1, epochs)
        lr = dtype.type(rate)
        t0 = now()
        paused = 0.0  # seconds of this epoch's checks
        if settings.shuffle:
            np.random.shuffle(order)
        for start in range(0, n, batch_size):
            rows = min(batch_size, n - start)
            step += 1
            if FUSED:
                dense_loss_gradient_for(loss, x, y, order, start, rows, w, b, dw, db, pred_rows)
            else:
                _load_rows(x, order, start, rows, block(act, capacity, 0, rows, x.shape[1]))
                _load_rows(y, order, start, rows, target)
                forward(table, args, params, buffers, act, cache, icache, scratch, capacity, rows, True, seed, step)
                pred = block(act, capacity, last[COL_OUT_OFF], rows, n_out)
                dpred = block(dact, capacity, last[COL_OUT_OFF], rows, n_out)
                loss_backward_for(loss, pred, target[:rows], dpred)
                backward(table, args, params, grads, buffers, act, dact, cache, icache, scratch, capacity, rows, True)
            if penalized:
                penalty_gradient(params, mask, l1, l2, grads)
            optimizer_step(optimizer, hyper, lr, step, params, grads, state)
            if checking and step % check_every == 0:
                tc = now()
                value = evaluate(net, loss, params, buffers, data.x_fit, data.y_fit, work)[0]
                if value <= check_level:
                    history[epoch, HIST_REACH_STEP] = step
                    history[epoch, HIST_REACH_TIME] = history[epoch - 1, HIST_TRAIN_TIME] + (tc - t0 - paused)
                    checking = False
                paused += now() - tc
        t1 = now()
        history[epoch, HIST_FIT_LOSS], history[epoch, HIST_FIT_ACC] = evaluate(
            net, loss, params, buffers, data.x_fit, data.y_fit, work)
        history[epoch, HIST_TEST_LOSS], history[epoch, HIST_TEST_ACC] = evaluate(
            net, loss, params, buffers, data.x_test, data.y_test, work)
        t2 = now()
        history[epoch, HIST_LR] = rate
        history[epoch, HIST_TRAIN_TIME] = history[epoch - 1, HIST_TRAIN_TIME] + (t1 - t0 - paused)
        history[epoch, HIST_WALL_TIME] = history[epoch - 1, HIST_WALL_TIME] + (t2 - t0)
        if checking and history[epoch, HIST_FIT_LOSS] <= check_level:  # the epoch's end is a check
            history[epoch, HIST_REACH_STEP] = step
            history[epoch, HIST_REACH_TIME] = history[epoch, HIST_TRAIN_TIME]
            checking = False
        stop, best, wait = after_epoch(history[epoch, HIST_FIT_LOSS], bound, history[epoch, settings.monitor], best,
                                       wait, settings.patience, settings.min_delta)
        if stop:
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
        for i in range(n):
            out[epoch, i] = order[i]
    return out


def loss_and_gradient(net, loss, params, buffers, x, y, grads, training=False):
    """_loss_and_gradient, after checking the arguments against the plan (kernels.guard)."""
    check_gradient(net, loss, params, buffers, x, y, grads)
    return _loss_and_gradient[variant_of(net.table, loss)](net, loss, params, buffers, x, y, grads, bool(training))


@PerVariant.template(kernel)
def _loss_and_gradient(net, loss, params, buffers, x, y, grads, training):
    """Data loss of the whole model on (x, y) and its gradient into grads (P,), for gradient
    tests. training=False: evaluation mode (no dropout, running statistics); True: training
    mode with the dropout draws of step 0 of seed 0 (the same on every call) and batch
    statistics, whose running averages in ``buffers`` move on each call."""
    rows = x.shape[0]
    table = net.table
    last = table[table.shape[0] - 1]
    act, dact, cache, icache, scratch, _ = _workspaces(net, rows, params.dtype)
    copy(x, block(act, rows, 0, rows, x.shape[1]))
    forward(table, net.args, params, buffers, act, cache, icache, scratch, rows, rows, training, 0, 0)
    pred = block(act, rows, last[COL_OUT_OFF], rows, y.shape[1])
    value = loss_forward_for(loss, pred, y)
    loss_backward_for(loss, pred, y, block(dact, rows, last[COL_OUT_OFF], rows, y.shape[1]))
    backward(table, net.args, params, grads, buffers, act, dact, cache, icache, scratch, rows, rows, training)
    return value


def forward_differences(net, loss, params, buffers, x, y, eps, grads):
    """_forward_differences, after checking the arguments against the plan (kernels.guard)."""
    check_gradient(net, loss, params, buffers, x, y, grads)
    return _forward_differences[variant_of(net.table, loss)](net, loss, params, buffers, x, y, eps, grads)


@PerVariant.template(kernel)
def _forward_differences(net, loss, params, buffers, x, y, eps, grads):
    """The data loss on (x, y), returned, and its gradient by forward differences into grads
    (P,): (L(θ + ε e_i) − L(θ)) / ε for every parameter i, one forward pass each (evaluation
    mode). The finite-difference gradient of Berlyand & Jabin Exercise 9.8, for comparison with
    backpropagation (loss_and_gradient): P + 1 forward passes against one forward and one
    backward. params is restored entry by entry."""
    work = _workspaces(net, x.shape[0], params.dtype)
    base = evaluate(net, loss, params, buffers, x, y, work)[0]
    for i in range(params.shape[0]):
        kept = params[i]
        params[i] = kept + eps
        grads[i] = (evaluate(net, loss, params, buffers, x, y, work)[0] - base) / eps
        params[i] = kept
    return base


def predict(net, params, buffers, x, out):
    """_predict, after checking the arguments against the plan (kernels.guard)."""
    check_net(net)
    check_params(net, params, buffers)
    check_data(net, params.dtype, x, out, "predict's x and out")
    return _predict[variant_of(net.table)](net, params, buffers, x, out)


@PerVariant.template(kernel)
def _predict(net, params, buffers, x, out):
    """The model's output on every row of x (evaluation mode: no dropout, running statistics)
    into out (N, n_out), in chunks of at most 1024 rows."""
    n = x.shape[0]
    capacity = min(n, 1024)
    table = net.table
    last = table[table.shape[0] - 1]
    act, _, cache, icache, scratch, _ = _workspaces(net, capacity, params.dtype)
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        copy(x[start : start + rows], block(act, capacity, 0, rows, x.shape[1]))
        forward(table, net.args, params, buffers, act, cache, icache, scratch, capacity, rows, False, 0, 0)
        copy(block(act, capacity, last[COL_OUT_OFF], rows, out.shape[1]), out[start : start + rows])


def _typed(*values) -> tuple:
    """The Numba types of ``values``."""
    from numba import typeof

    return tuple(typeof(value) for value in values)


def train_signature(dtype) -> tuple:
    """The Numba argument types of ``train`` for parameters of ``dtype`` (what
    experiments.training.fit passes): one signature per dtype, whatever the plan."""
    from kernels.records import Data, Net, method, settings

    matrix_, vector_ = np.zeros((0, 0), dtype), np.zeros(0, dtype)
    return _typed(Data(*[matrix_] * 6), Net(np.zeros((0, 0), np.int64), np.zeros((0, 0)), np.zeros(0, np.int64)),
                  method(0, 0, 0, vector_, vector_), settings(0, 1, True, 0, 1), vector_, vector_, np.zeros((0, 0)))


PARTS = ("evaluation", "step")
"""What of ``_train[variant]`` compiles apart (``part_calls``), each in a process of its own, before
``_train`` itself loads them from the on-disk cache (runner.compile): its evaluation (the
forward walk with its layers' kernels, the loss values, the accuracy count) and its step (the
backward walk with its layers' kernels, the loss gradient, the optimizer, the schedule, the
penalty, the workspaces)."""


def part_calls(variant, dtype, part: str) -> list[tuple]:
    """[(dispatcher, argument types)] of the kernels that ``_train[variant]`` for ``dtype`` calls
    in ``part`` (PARTS), typed as ``_train`` calls them; compiled first, elsewhere, they leave
    ``_train`` only its own code to compile (tests/test_compile.py checks that it compiles none
    of them again)."""
    dtype = np.dtype(dtype)
    vector, matrix, ints = np.zeros(0, dtype), np.zeros((0, 0), dtype), np.zeros(0, np.int64)
    code, scalar, count = 0, dtype.type(0), 0  # an op code, a float of dtype, a row count: int64
    if part == "evaluation":
        work = (vector, vector, vector, ints, vector, count)
        net = train_signature(dtype)[1]
        return [(evaluate[variant], (net, *_typed(code, vector, vector, matrix, matrix, work)))]
    if part != "step":
        raise ValueError(f"no part {part!r} of the engine: one of {', '.join(PARTS)}")
    calls = [(_workspaces, (train_signature(dtype)[1], *_typed(count, dtype))), (now, ()),
             (optimizer_step, _typed(code, vector, scalar, count, vector, vector, matrix)),
             (learning_rate, _typed(code, vector, count, count)),
             (penalty_gradient, _typed(vector, vector, scalar, scalar, vector))]
    if not variant.fused:
        table, args = np.zeros((0, 0), np.int64), np.zeros((0, 0))
        walk = (table, args, vector, vector, vector, vector, vector, vector, ints, vector, count, count, True)
        calls += [(loss_backward_for[variant], _typed(code, matrix, matrix, matrix)),
                  (backward[variant], _typed(*walk))]
    return calls


def prepare_part(variant, dtype, part: str) -> None:
    """Compile one part of ``_train[variant]`` (PARTS) for ``dtype`` into the on-disk cache, or
    load it from there."""
    for dispatcher, argument_types in part_calls(variant, dtype, part):
        dispatcher.compile(argument_types)


def is_cached(variant, dtype) -> bool:
    """Whether Numba's on-disk cache holds a fresh ``_train[variant]`` for ``dtype``
    (kernels.jit: fresh for this source of the kernels package and this Numba)."""
    dispatcher = _train[variant]
    return cached(dispatcher, train_signature(dtype))


def prepare(variant, dtype) -> None:
    """Compile ``_train[variant]`` (with the evaluation it calls) for ``dtype``, or load it
    from the on-disk cache, without running it."""
    _train[variant].compile(train_signature(dtype))
