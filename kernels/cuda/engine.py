"""The fused training loop on the device: one thread block trains one run, all its epochs ×
batches × (forward, loss, backward, penalty, update), in one kernel launch for many runs.

A launch packs runs of one model shape and dtype (one plan table) that may differ in anything
else: data set (of one shape), batch size, seed, epochs, loss, optimizer, schedule and every
hyperparameter, penalty mask, layer arguments (dropout rates, activation parameters), early
stopping and checks within epochs. Each run reads its own row of the per-run arrays; the data
sets and batch orders are stored once each, however many runs share them.

The unit of work is chosen by size: a block of one warp for a small model at a small batch (the
batch-size study at b = 1), up to MAX_THREADS for large batches and convolutions (threads_for;
a launch takes the largest its runs ask for); the parameters, gradient and optimizer state, and
the step's workspaces, in the block's shared memory where they fit (fast_memory); weight
gradients' sums over the batch split across threads where a layer has fewer of them than the
block has threads (kernels.cuda.split); products tiled through shared memory where they are
large enough to pay (kernels.cuda.tiles).

The block walks the same plan table as the CPU engine (kernels.engine) over the same flat
workspace layout (kernels.plan), one layer at a time with a block-wide barrier between layers;
parameters, optimizer state, data and the batch orders stay on the device, and nothing is
copied to or from the host until the launch ends. What a run sees is the CPU target's: the
batch order of epoch e is row e of kernels.engine.permutations (computed on the host once per
run), dropout masks are the same counter-based draws, and every per-entry formula is the CPU
function compiled for the device. Sums run in another order than on the CPU, so results agree
to rounding (float64 ~1e-12 relative per step), not bit for bit.

Times in the history come from the GPU's clock, read by thread 0: HIST_TRAIN_TIME counts the
updates, HIST_WALL_TIME adds the end-of-epoch evaluation. Checks within epochs
(Settings.check_every) are made as on the CPU, their time left out of HIST_TRAIN_TIME.
"""
import inspect
import math
from typing import NamedTuple

import numpy as np
from numba import cuda, int64

from kernels.codes import (
    COL_IN_DIM,
    COL_OUT_DIM,
    COL_OUT_OFF,
    H_L1,
    H_L2,
    HIST_FIT_LOSS,
    HIST_LR,
    HIST_REACH_STEP,
    HIST_REACH_TIME,
    HIST_TEST_LOSS,
    HIST_TRAIN_TIME,
    HIST_WALL_TIME,
    N_HIST,
    SIZE_CACHE,
    SIZE_ICACHE,
    SIZE_PARAMS,
    SIZE_WIDTH,
)
from kernels.cuda.losses import loss_backward, loss_partials
from kernels.cuda.optimizers import learning_rate, penalized_step
from kernels.cuda.tiles import stage_bytes
from kernels.cuda.timer import globaltimer
from kernels.cuda.walks import backward, forward
from kernels.engine import permutations
from kernels.guard import check_train
from kernels.loss import batch_mean, is_regression
from kernels.records import Data, Method, Net, Settings
from kernels.steps import STATE_ROWS
from kernels.stopping import after_epoch

MIN_THREADS, MAX_THREADS = 32, 256  # threads per block (per run): one warp .. eight
ENTRIES_PER_THREAD = 16  # threads_for gives a thread about this many entries of a step's largest loop
SHARED_LIMIT = 48 * 1024  # bytes of shared memory a block may ask for without opting in (every CUDA GPU)


class Run(NamedTuple):
    """One run of a launch: ``data``, the index of its data set in the launch's list; the CPU
    engine's records of it (kernels.records: scalars, hyper (N_HYPER,), mask (P,)). Every run
    of a launch has one plan table and sizes; its ``net.args`` may differ."""

    data: int
    net: Net
    method: Method
    settings: Settings


def threads_for(net: Net, batch_size: int) -> int:
    """Threads per block for a run of ``net`` at ``batch_size``: the step's largest loop (a
    layer's outputs or inputs over the batch, or the parameter vector) over ENTRIES_PER_THREAD,
    as a power of two in MIN_THREADS .. MAX_THREADS. The batch-size study's 4 × 64 model gets one
    warp at b <= 8 and eight at b >= 64; a LeNet-like CNN at b = 64 gets eight."""
    widest = int(max(net.table[:, COL_IN_DIM].max(), net.table[:, COL_OUT_DIM].max()))
    work = max(int(batch_size) * widest, int(net.sizes[SIZE_PARAMS])) / ENTRIES_PER_THREAD
    threads = MIN_THREADS
    while threads < work and threads < MAX_THREADS:
        threads *= 2
    return threads


def scratch_bytes(threads: int, itemsize: int) -> int:
    """Bytes at the start of a block's dynamic shared memory that device functions use within a
    call: the split's partial sums (8 per thread, kernels.cuda.split) or a product's stage
    (kernels.cuda.tiles), whichever is larger."""
    return max(8 * threads, stage_bytes(threads, itemsize))


# The map of a block's dynamic shared memory (fast_memory), in entries of the dtype: where the
# parameters' part and act, dact, cache and targets start, and where targets end; in entries of
# its int64 view: where icache starts and ends; the rows the step's workspaces hold there (0: the
# step uses the global ones). Before it all: the scratch (scratch_bytes).
MAP_PARAMS, MAP_ACT, MAP_DACT, MAP_CACHE, MAP_TARGETS, MAP_END, MAP_ICACHE, MAP_IEND, MAP_ROWS = range(9)


def fast_memory(net: Net, dtype, batch_size: int, threads: int, params: bool | None = None,
                step: bool | None = None) -> np.ndarray:
    """The map of a block's dynamic shared memory (int64 (9,), the MAP_* entries) for a run at
    ``batch_size`` rows and ``threads`` per block: the scratch (scratch_bytes), then the
    parameters, gradient and optimizer state ((2 + STATE_ROWS) · P entries), then the step's
    workspaces (act, dact, cache, targets in the dtype; icache in int64, 8-byte aligned). Every
    step reads and writes all of them, so a small model's step keeps them out of its chain of
    global-memory round trips; the evaluation's chunks of eval_rows stay in global memory.
    Each part is placed where asked (``params``, ``step``) or, by default, where it fits in
    SHARED_LIMIT, the parameters first. The batch-size model at b = 1 in a warp takes
    0.5 + 8 + 1.6 KiB in float64; a LeNet-like CNN's parameters do not fit. The block's bytes: 8 · map[MAP_IEND]."""
    item = np.dtype(dtype).itemsize
    width, cache_width, icache_width, n_params = (int(net.sizes[k]) for k in (SIZE_WIDTH, SIZE_CACHE, SIZE_ICACHE,
                                                                               SIZE_PARAMS))
    start = scratch_bytes(threads, item) // item
    need = (2 + STATE_ROWS) * n_params
    params = (start + need) * item <= SHARED_LIMIT if params is None else params
    bounds = [start, start + need * params]  # where the parameters, act, dact, cache, targets start; targets end
    for entries in (width, width, cache_width, int(net.table[-1, COL_OUT_DIM])):
        bounds.append(bounds[-1] + batch_size * entries)
    icache_at = -(-bounds[-1] * item // 8)
    step = 8 * (icache_at + batch_size * icache_width) <= SHARED_LIMIT if step is None else step
    if not step:
        bounds[2:] = [bounds[1]] * 4
        icache_at, icache_width, batch_size = -(-bounds[1] * item // 8), 0, 0
    return np.array([*bounds, icache_at, icache_at + batch_size * icache_width, batch_size], np.int64)


@cuda.jit(device=True)
def _load_rows(src, order, start, rows, width, dst):
    """dst[r·width + j] = src[order[start + r]·width + j] for r < rows: a batch of samples."""
    for idx in range(cuda.threadIdx.x, rows * width, cuda.blockDim.x):
        dst[idx] = src[order[start + idx // width] * width + idx % width]


@cuda.jit(device=True)
def evaluate(table, args, loss, params, buffers, x, y, n, act, cache, icache, capacity, partial, out, col, fault):
    """kernels.engine.evaluate for the block: out[col] = mean loss and out[col + 1] = accuracy
    over the n samples of x (n·n_in,), y (n·n_out,), in chunks of ``capacity``; NaN where
    undefined. partial: float64 (2·blockDim,) scratch for the per-thread sums."""
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    last = table[table.shape[0] - 1]
    n_in, n_out = table[0, COL_IN_DIM], last[COL_OUT_DIM]
    pred_at = capacity * last[COL_OUT_OFF]
    total, correct = 0.0, 0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        for idx in range(tid, rows * n_in, threads):
            act[idx] = x[start * n_in + idx]
        cuda.syncthreads()
        forward(table, args, params, buffers, act, cache, icache, capacity, rows, False, 0, 0, fault)
        chunk, hits = loss_partials(loss, act[pred_at : pred_at + rows * n_out],
                                    y[start * n_out : (start + rows) * n_out], rows, n_out)
        total += chunk
        correct += hits
        cuda.syncthreads()  # before the next chunk overwrites act
    partial[tid] = total
    partial[threads + tid] = correct
    cuda.syncthreads()
    if tid == 0:
        if n == 0:
            out[col], out[col + 1] = math.nan, math.nan
        else:
            total, correct = 0.0, 0
            for t in range(threads):
                total += partial[t]
                correct += int(partial[threads + t])
            out[col] = batch_mean(loss, total, np.float64(n))
            out[col + 1] = math.nan if is_regression(loss) else correct / n
    cuda.syncthreads()


@cuda.jit(device=True)
def _finite(value):
    return not (math.isnan(value) or math.isinf(value))


@cuda.jit
def train_kernel(xs, ys, n_fit, x_fits, y_fits, n_test, x_tests, y_tests, data_of, orders, order_of, table, args,
                 codes, hyper, masks, ints, floats, params, buffers, fast_map, capacity, act, dact, cache, icache,
                 targets, state, grads, partial, history, done, faults):
    """Block r trains run r. Data sets (of one shape, stored once each) flat: xs (D, N·n_in),
    ys (D, N·n_out), the fit and test monitor sets likewise with n_fit and n_test rows; run r's
    is data_of[r]. orders (O, epochs, N) int32, the distinct batch orders (kernels.engine.
    permutations), run r's order_of[r]. Per run r: args[r] (L, N_ARGS), codes[r] = (loss,
    optimizer, schedule), hyper[r] (N_HYPER,), masks[r] (P,), ints[r] = (epochs, batch size, seed,
    patience, monitor, check_every), floats[r] = (stop_factor, min_delta, check_level) of
    kernels.records.Settings; params[r] (P,) and buffers[r] (B,) trained in place; workspaces
    act[r] ... partial[r]; history[r] (at least epochs + 1, N_HIST); done[r] = epochs completed;
    faults[r, 0] = 1 if a walk met an op code no layer kind handles, or a step an optimizer or
    schedule code no kind handles. fast_map (fast_memory) places the run's parameters, gradient
    and optimizer state in the block's dynamic shared memory (then copied back to params[r] at
    the end, and grads and state are not read) and the step's workspaces there for
    fast_map[MAP_ROWS] rows; the launch gives the block 8 · fast_map[MAP_IEND] bytes. See
    kernels.engine.train."""
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    d = data_of[r]
    x, y, x_fit, y_fit, x_test, y_test = xs[d], ys[d], x_fits[d], y_fits[d], x_tests[d], y_tests[d]
    buf, hyp, mask, arg = buffers[r], hyper[r], masks[r], args[r]
    n_p = params.shape[1]
    fast = cuda.shared.array(0, params.dtype)
    placed = fast_map[MAP_ACT] > fast_map[MAP_PARAMS]
    if placed:
        at = fast_map[MAP_PARAMS]
        p, g = fast[at : at + n_p], fast[at + n_p : at + 2 * n_p]
        st = fast[at + 2 * n_p : fast_map[MAP_ACT]].reshape((STATE_ROWS, n_p))
        for i in range(tid, n_p, cuda.blockDim.x):
            p[i] = params[r, i]
        for i in range(tid, STATE_ROWS * n_p, cuda.blockDim.x):
            fast[at + 2 * n_p + i] = 0
        cuda.syncthreads()
    else:
        p, g, st = params[r], grads[r], state[r]
    a, da, c, ic, tg, part, hist = act[r], dact[r], cache[r], icache[r], targets[r], partial[r], history[r]
    step_rows = fast_map[MAP_ROWS]
    if step_rows > 0:  # the step's own workspaces, in shared memory; the evaluation keeps a, c, ic
        s_a, s_da = fast[fast_map[MAP_ACT] : fast_map[MAP_DACT]], fast[fast_map[MAP_DACT] : fast_map[MAP_CACHE]]
        s_c, s_tg = fast[fast_map[MAP_CACHE] : fast_map[MAP_TARGETS]], fast[fast_map[MAP_TARGETS] : fast_map[MAP_END]]
        s_ic = cuda.shared.array(0, int64)[fast_map[MAP_ICACHE] : fast_map[MAP_IEND]]
    else:
        s_a, s_da, s_c, s_ic, s_tg, step_rows = a, da, c, ic, tg, capacity
    fault = faults[r]
    loss, optimizer, schedule = codes[r, 0], codes[r, 1], codes[r, 2]
    epochs, batch, seed = ints[r, 0], ints[r, 1], ints[r, 2]
    patience, monitor, check_every = ints[r, 3], ints[r, 4], ints[r, 5]
    stop_factor, min_delta, check_level = floats[r, 0], floats[r, 1], floats[r, 2]
    run_orders = orders[order_of[r]]
    n = run_orders.shape[1]
    last = table[table.shape[0] - 1]
    n_in, n_out = table[0, COL_IN_DIM], last[COL_OUT_DIM]
    step_at = step_rows * last[COL_OUT_OFF]  # the prediction in the step's act
    l1, l2 = hyp[H_L1], hyp[H_L2]
    penalized = l1 != 0 or l2 != 0

    evaluate(table, arg, loss, p, buf, x_fit, y_fit, n_fit, a, c, ic, capacity, part, hist[0], HIST_FIT_LOSS, fault)
    evaluate(table, arg, loss, p, buf, x_test, y_test, n_test, a, c, ic, capacity, part, hist[0], HIST_TEST_LOSS,
             fault)
    if tid == 0:
        hist[0, HIST_LR] = math.nan
        hist[0, HIST_TRAIN_TIME] = 0.0
        hist[0, HIST_WALL_TIME] = 0.0
        done[r] = 0
    cuda.syncthreads()
    if _finite(hist[0, HIST_FIT_LOSS]):
        bound = stop_factor * hist[0, HIST_FIT_LOSS]
        best, wait = hist[0, monitor], 0
        checking = check_every > 0 and hist[0, HIST_FIT_LOSS] > check_level
        step = 0
        for epoch in range(1, epochs + 1):
            rate = learning_rate(schedule, hyp, epoch - 1, epochs, fault)
            lr = p.dtype.type(rate)
            order = run_orders[epoch - 1]
            row = hist[epoch]
            t0 = globaltimer()
            paused = 0.0  # seconds of this epoch's checks
            for start in range(0, n, batch):
                rows = min(batch, n - start)
                _load_rows(x, order, start, rows, n_in, s_a)
                _load_rows(y, order, start, rows, n_out, s_tg)
                cuda.syncthreads()
                step += 1
                forward(table, arg, p, buf, s_a, s_c, s_ic, step_rows, rows, True, seed, step, fault)
                loss_backward(loss, s_a[step_at : step_at + rows * n_out], s_tg[: rows * n_out],
                              s_da[step_at : step_at + rows * n_out], rows, n_out)
                cuda.syncthreads()
                backward(table, arg, p, g, buf, s_a, s_da, s_c, s_ic, step_rows, rows, True, fault)
                penalized_step(optimizer, hyp, lr, step, p, g, st, mask, l1, l2, penalized, fault)
                cuda.syncthreads()
                if checking and step % check_every == 0:  # the epoch's fit loss is written over at its end
                    tc = globaltimer()
                    evaluate(table, arg, loss, p, buf, x_fit, y_fit, n_fit, a, c, ic, capacity, part, row,
                             HIST_FIT_LOSS, fault)
                    if row[HIST_FIT_LOSS] <= check_level:
                        if tid == 0:
                            row[HIST_REACH_STEP] = step
                            row[HIST_REACH_TIME] = (hist[epoch - 1, HIST_TRAIN_TIME] + (tc - t0) * 1e-9
                                                    - paused)
                        checking = False
                    paused += (globaltimer() - tc) * 1e-9
            t1 = globaltimer()
            evaluate(table, arg, loss, p, buf, x_fit, y_fit, n_fit, a, c, ic, capacity, part, row, HIST_FIT_LOSS,
                     fault)
            evaluate(table, arg, loss, p, buf, x_test, y_test, n_test, a, c, ic, capacity, part, row,
                     HIST_TEST_LOSS, fault)
            if tid == 0:
                row[HIST_LR] = rate
                row[HIST_TRAIN_TIME] = hist[epoch - 1, HIST_TRAIN_TIME] + (t1 - t0) * 1e-9 - paused
                row[HIST_WALL_TIME] = hist[epoch - 1, HIST_WALL_TIME] + (globaltimer() - t0) * 1e-9
                if checking and row[HIST_FIT_LOSS] <= check_level:  # the epoch's end is a check
                    row[HIST_REACH_STEP] = step
                    row[HIST_REACH_TIME] = row[HIST_TRAIN_TIME]
                done[r] = epoch
            cuda.syncthreads()
            if checking and row[HIST_FIT_LOSS] <= check_level:
                checking = False
            stop, best, wait = after_epoch(row[HIST_FIT_LOSS], bound, row[monitor], best, wait, patience,
                                           min_delta)
            if stop or fault[0] != 0:  # every thread reads the same history: the block stops as one
                break
    if placed:
        cuda.syncthreads()
        for i in range(tid, n_p, cuda.blockDim.x):
            params[r, i] = p[i]


def _stacked(arrays: list, dtype) -> np.ndarray:
    """The arrays, each flattened, as the rows of one array (one column at least: CUDA has no
    empty buffers)."""
    flat = np.stack([np.ascontiguousarray(a, dtype=dtype).ravel() for a in arrays])
    return flat if flat.shape[1] else np.zeros((len(arrays), 1), dtype)


def run_bytes(net: Net, dtype, capacity: int, epochs: int, threads: int) -> int:
    """Device bytes of one run's own arrays in a launch (workspaces, parameters, gradient,
    optimizer state, buffers, per-run rows and history), without the shared data and orders."""
    item = np.dtype(dtype).itemsize
    width, cache_width, icache_width, n_params = (int(net.sizes[k]) for k in (SIZE_WIDTH, SIZE_CACHE, SIZE_ICACHE,
                                                                               SIZE_PARAMS))
    work = capacity * ((2 * width + cache_width + int(net.table[-1, COL_OUT_DIM])) * item + 8 * icache_width)
    return work + (STATE_ROWS + 3) * n_params * item + net.args.nbytes + 16 * threads + (epochs + 1) * N_HIST * 8


class Workspace(NamedTuple):
    """A device array the launch allocates and nothing reads back: its shape and dtype."""

    shape: tuple
    dtype: type


def launch(datasets: list[Data], runs: list[Run], params, buffers, history, threads: int | None = None,
           shared: tuple = (None, None)):
    """(blocks, threads per block, bytes of shared memory per block, train_kernel's arguments)
    of a launch of the runs (see train): the host arrays to copy to the device, in the kernel's
    order, the workspaces as Workspace. ValueError for arguments that do not fit
    (kernels.guard, one plan, one data shape)."""
    net = runs[0].net
    for r, run in enumerate(runs):
        if not (np.array_equal(run.net.table, net.table) and np.array_equal(run.net.sizes, net.sizes)):
            raise ValueError(f"run {r} has another plan than run 0: a launch trains one model shape")
        check_train(datasets[run.data], run.net, run.method, run.settings, params[r], buffers[r], history[r])
    shapes = {tuple(a.shape for a in data) for data in datasets}
    if len(shapes) > 1:
        raise ValueError(f"the data sets of a launch differ in shape: {sorted(shapes)}")
    n_runs, dtype = len(runs), params.dtype
    n, epochs = datasets[0].x.shape[0], history.shape[1] - 1
    capacity = int(max(max(run.settings.batch_size, run.settings.eval_rows) for run in runs))
    threads = threads or max(threads_for(run.net, run.settings.batch_size) for run in runs)
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads per block must be in 1 .. {MAX_THREADS}, got {threads}")
    fast_map = fast_memory(net, dtype, max(run.settings.batch_size for run in runs), threads, *shared)
    fast, placed = 8 * int(fast_map[MAP_IEND]), fast_map[MAP_ACT] > fast_map[MAP_PARAMS]
    stepping = fast_map[MAP_ROWS] > 0
    if fast > SHARED_LIMIT:
        raise ValueError(f"{fast} bytes of shared memory asked for; a block has {SHARED_LIMIT}")
    width, cache_width, icache_width = (int(net.sizes[k]) for k in (SIZE_WIDTH, SIZE_CACHE, SIZE_ICACHE))
    distinct = {}  # (shuffle, seed) -> index into orders: runs of one seed share their batch orders
    order_of = np.array([distinct.setdefault((bool(run.settings.shuffle), int(run.settings.seed)), len(distinct))
                         for run in runs], np.int64)
    orders = np.stack([permutations(n, epochs, shuffle, seed) for shuffle, seed in distinct])
    sets = [_stacked([getattr(data, field) for data in datasets], dtype) for field in Data._fields]
    settings = [run.settings for run in runs]
    ints = np.array([(s.epochs, s.batch_size, s.seed, s.patience, s.monitor, s.check_every) for s in settings],
                    np.int64)
    floats = np.array([(s.stop_factor, s.min_delta, s.check_level) for s in settings], np.float64)
    codes = np.array([(run.method.loss, run.method.optimizer, run.method.schedule) for run in runs], np.int64)
    arguments = (
        sets[0], sets[1], np.int64(len(datasets[0].x_fit)), sets[2], sets[3], np.int64(len(datasets[0].x_test)),
        sets[4], sets[5], np.array([run.data for run in runs], np.int64), orders, order_of, net.table,
        np.stack([run.net.args for run in runs]), codes, np.stack([run.method.hyper for run in runs]),
        np.stack([run.method.mask for run in runs]), ints, floats, params,
        buffers if buffers.size else np.zeros((n_runs, 1), dtype), fast_map, np.int64(capacity),
        Workspace((n_runs, max(capacity * width, 1)), dtype),
        Workspace((n_runs, max(capacity * width, 1) if not stepping else 1), dtype),
        Workspace((n_runs, max(capacity * cache_width, 1)), dtype),
        Workspace((n_runs, max(capacity * icache_width, 1)), np.int64),
        Workspace((n_runs, capacity * datasets[0].y.shape[1] if not stepping else 1), dtype),
        np.zeros((n_runs, STATE_ROWS, params.shape[1]) if not placed else (1, 1, 1), dtype),
        Workspace(params.shape if not placed else (1, 1), dtype),
        Workspace((n_runs, 2 * threads), np.float64), history, np.zeros(n_runs, np.int64),
        np.zeros((n_runs, 1), np.int64))
    return n_runs, threads, fast, arguments


_AT = {name: i for i, name in enumerate(inspect.signature(train_kernel.py_func).parameters)}  # argument positions


def train(datasets: list[Data], runs: list[Run], params, buffers, history, threads: int | None = None,
          shared: tuple = (None, None)):
    """Train the runs in one launch, one thread block each; return the epochs each completed (R,).
    The CUDA twin of kernels.engine.train for R runs: ``datasets``, the data sets the runs
    name (Run.data; all of one shape: N, the monitor sets' rows, the columns); params (R, P) and
    buffers (R, B) updated in place; history (R, E + 1, N_HIST) with E >= every run's epochs,
    run r's first epochs + 1 rows filled in. threads: per block (default: the largest
    threads_for of the runs); shared: (the parameters, gradient and optimizer state; the step's
    workspaces) in shared memory, each True, False or None (where it fits: fast_memory, for the
    launch's largest batch). ValueError for arguments that do not fit (kernels.guard, one plan,
    one data shape, more shared memory than a block has); RuntimeError if the device met a
    layer, optimizer or schedule code that no kind handles.
    """
    blocks, threads, fast, arguments = launch(datasets, runs, params, buffers, history, threads, shared)
    on_device = [cuda.device_array(a.shape, a.dtype) if isinstance(a, Workspace)
                 else cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in arguments]
    train_kernel[blocks, threads, 0, fast](*on_device)
    if on_device[_AT["faults"]].copy_to_host().any():
        raise RuntimeError("the CUDA engine met a layer, optimizer or schedule code that no kind handles")
    on_device[_AT["params"]].copy_to_host(params)
    if buffers.size:
        on_device[_AT["buffers"]].copy_to_host(buffers)
    on_device[_AT["history"]].copy_to_host(history)
    return on_device[_AT["done"]].copy_to_host()
