"""The fused training loop on the device: one thread block trains one run, all its epochs ×
batches × (forward, loss, backward, penalty, update), in one kernel launch for many runs.

The block walks the same plan table as the CPU engine (kernels.engine) over the same flat
workspace layout (kernels.plan), one layer at a time with a block-wide barrier between layers;
parameters, optimizer state, data and the batch orders stay on the device, and nothing is
copied to or from the host until the launch ends. What a run sees is the CPU target's: the
batch order of epoch e is row e of kernels.engine.permutations (computed on the host once per
run), dropout masks are the same counter-based draws, and every per-entry formula is the CPU
function compiled for the device. Sums run in another order than on the CPU, so results agree
to rounding (float64 ~1e-12 relative per step), not bit for bit.

Times in the history come from the GPU's clock, read by thread 0: HIST_TRAIN_TIME counts the
updates, HIST_WALL_TIME adds the end-of-epoch evaluation.
"""
import math

import numpy as np
from numba import cuda

from kernels.codes import (
    COL_IN_DIM,
    COL_OUT_DIM,
    COL_OUT_OFF,
    H_L1,
    H_L2,
    HIST_FIT_LOSS,
    HIST_LR,
    HIST_TEST_LOSS,
    HIST_TRAIN_TIME,
    HIST_WALL_TIME,
    SIZE_CACHE,
    SIZE_ICACHE,
    SIZE_WIDTH,
)
from kernels.cuda.losses import loss_backward, loss_partials
from kernels.cuda.optimizers import learning_rate, penalized_step
from kernels.cuda.timer import globaltimer
from kernels.cuda.walks import backward, forward
from kernels.engine import permutations
from kernels.guard import check_train
from kernels.loss import batch_mean, is_regression
from kernels.steps import STATE_ROWS
from kernels.stopping import after_epoch

THREADS = 128  # threads per block (per run)


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
def train_kernel(x, y, n_fit, x_fit, y_fit, n_test, x_test, y_test, orders, table, args, loss, optimizer,
                 schedule, hyper, mask, params, buffers, batch_sizes, seeds, epochs, stopping, capacity, act, dact,
                 cache, icache, targets, state, grads, partial, history, done, faults):
    """Block r trains run r: params[r] (P,), buffers[r] (B,), hyper[r], batch_sizes[r], seeds[r],
    orders[r] (epochs, N) int32, workspaces act[r] ... partial[r], history[r] (epochs + 1,
    N_HIST); stopping: (stop_factor, patience, min_delta, monitor) of kernels.records.Settings
    as float64 (kernels.stopping); done[r] = epochs completed; faults[r, 0] = 1 if a walk met an
    op code no layer kind handles, or a step an optimizer or schedule code no kind handles.
    Data (shared by the runs) flat: x (N·n_in,), y (N·n_out,), the monitor sets
    likewise with n_fit and n_test rows. See kernels.engine.train."""
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    p, buf, g, st, hyp = params[r], buffers[r], grads[r], state[r], hyper[r]
    a, da, c, ic, tg, part, hist = act[r], dact[r], cache[r], icache[r], targets[r], partial[r], history[r]
    fault = faults[r]
    n = orders.shape[2]
    last = table[table.shape[0] - 1]
    n_in, n_out = table[0, COL_IN_DIM], last[COL_OUT_DIM]
    pred_at = capacity * last[COL_OUT_OFF]
    batch, seed = batch_sizes[r], seeds[r]
    l1, l2 = hyp[H_L1], hyp[H_L2]
    penalized = l1 != 0 or l2 != 0

    evaluate(table, args, loss, p, buf, x_fit, y_fit, n_fit, a, c, ic, capacity, part, hist[0], HIST_FIT_LOSS, fault)
    evaluate(table, args, loss, p, buf, x_test, y_test, n_test, a, c, ic, capacity, part, hist[0], HIST_TEST_LOSS,
             fault)
    if tid == 0:
        hist[0, HIST_LR] = math.nan
        hist[0, HIST_TRAIN_TIME] = 0.0
        hist[0, HIST_WALL_TIME] = 0.0
        done[r] = 0
    cuda.syncthreads()
    if not _finite(hist[0, HIST_FIT_LOSS]):
        return
    bound = stopping[0] * hist[0, HIST_FIT_LOSS]
    patience, min_delta, monitor = int(stopping[1]), stopping[2], int(stopping[3])
    best, wait = hist[0, monitor], 0
    step = 0
    for epoch in range(1, epochs + 1):
        rate = learning_rate(schedule, hyp, epoch - 1, epochs, fault)
        lr = p.dtype.type(rate)
        order = orders[r, epoch - 1]
        t0 = globaltimer()
        for start in range(0, n, batch):
            rows = min(batch, n - start)
            _load_rows(x, order, start, rows, n_in, a)
            _load_rows(y, order, start, rows, n_out, tg)
            cuda.syncthreads()
            step += 1
            forward(table, args, p, buf, a, c, ic, capacity, rows, True, seed, step, fault)
            loss_backward(loss, a[pred_at : pred_at + rows * n_out], tg[: rows * n_out],
                          da[pred_at : pred_at + rows * n_out], rows, n_out)
            cuda.syncthreads()
            backward(table, args, p, g, buf, a, da, c, ic, capacity, rows, True, fault)
            penalized_step(optimizer, hyp, lr, step, p, g, st, mask, l1, l2, penalized, fault)
            cuda.syncthreads()
        t1 = globaltimer()
        evaluate(table, args, loss, p, buf, x_fit, y_fit, n_fit, a, c, ic, capacity, part, hist[epoch], HIST_FIT_LOSS,
                 fault)
        evaluate(table, args, loss, p, buf, x_test, y_test, n_test, a, c, ic, capacity, part, hist[epoch],
                 HIST_TEST_LOSS, fault)
        if tid == 0:
            hist[epoch, HIST_LR] = rate
            hist[epoch, HIST_TRAIN_TIME] = hist[epoch - 1, HIST_TRAIN_TIME] + (t1 - t0) * 1e-9
            hist[epoch, HIST_WALL_TIME] = hist[epoch - 1, HIST_WALL_TIME] + (globaltimer() - t0) * 1e-9
            done[r] = epoch
        cuda.syncthreads()
        stop, best, wait = after_epoch(hist[epoch, HIST_FIT_LOSS], bound, hist[epoch, monitor], best, wait, patience,
                                       min_delta)
        if stop or fault[0] != 0:  # every thread reads the same history: the block stops as one
            return


def _flat(a: np.ndarray, dtype):
    """A device copy of ``a`` as a flat array (one entry at least: CUDA has no empty buffers)."""
    flat = np.ascontiguousarray(a, dtype=dtype).ravel()
    return cuda.to_device(flat if flat.size else np.zeros(1, dtype))


def train(data, net, method, settings, params, buffers, history, threads=THREADS):
    """Train R runs of one model on one data set at once, one thread block each; return the
    epochs each completed (R,). The CUDA twin of kernels.engine.train, whose arguments these
    are, with a leading run axis where runs differ: method.hyper (R, N_HYPER); settings'
    batch_size, shuffle and seed (R,) (kernels.records.settings); params (R, P) and buffers
    (R, B) updated in place; history (R, epochs + 1, N_HIST) filled in. The CPU engine's checks
    within epochs (settings.check_every) are not made here: HIST_REACH_STEP and HIST_REACH_TIME keep
    what the caller put there (NaN from fit). RuntimeError if a walk met an op code that no
    layer kind handles.
    """
    n_runs = params.shape[0]
    for run in range(n_runs):
        one = settings._replace(batch_size=int(settings.batch_size[run]), shuffle=bool(settings.shuffle[run]),
                                seed=int(settings.seed[run]))
        check_train(data, net, method._replace(hyper=method.hyper[run]), one, params[run], buffers[run], history[run])
    dtype = params.dtype
    x, y = data.x, data.y
    n = x.shape[0]
    capacity = int(max(np.max(settings.batch_size), settings.eval_rows))
    width, cache_width, icache_width = (int(net.sizes[k]) for k in (SIZE_WIDTH, SIZE_CACHE, SIZE_ICACHE))
    orders = np.stack([permutations(n, int(settings.epochs), bool(sh), int(sd))
                       for sh, sd in zip(settings.shuffle, settings.seed)])
    d_params, d_buffers = cuda.to_device(params), cuda.to_device(buffers if buffers.size else np.zeros((n_runs, 1), dtype))
    d_history = cuda.to_device(history)
    d_done = cuda.to_device(np.zeros(n_runs, np.int64))
    d_faults = cuda.to_device(np.zeros((n_runs, 1), np.int64))
    train_kernel[n_runs, threads](
        _flat(x, dtype), _flat(y, dtype), len(data.x_fit), _flat(data.x_fit, dtype), _flat(data.y_fit, dtype),
        len(data.x_test), _flat(data.x_test, dtype), _flat(data.y_test, dtype), cuda.to_device(orders),
        cuda.to_device(net.table), cuda.to_device(net.args), method.loss, method.optimizer, method.schedule,
        cuda.to_device(method.hyper), cuda.to_device(method.mask), d_params, d_buffers,
        cuda.to_device(np.asarray(settings.batch_size, np.int64)), cuda.to_device(np.asarray(settings.seed, np.int64)),
        int(settings.epochs),
        cuda.to_device(np.array([settings.stop_factor, settings.patience, settings.min_delta, settings.monitor],
                                np.float64)), capacity,
        cuda.device_array((n_runs, max(capacity * width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * cache_width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * icache_width, 1)), np.int64),
        cuda.device_array((n_runs, capacity * y.shape[1]), dtype),
        cuda.to_device(np.zeros((n_runs, STATE_ROWS, params.shape[1]), dtype)),
        cuda.device_array(params.shape, dtype),
        cuda.device_array((n_runs, 2 * threads), np.float64),
        d_history, d_done, d_faults)
    if d_faults.copy_to_host().any():
        raise RuntimeError("the CUDA engine met a layer, optimizer or schedule code that no kind handles")
    d_params.copy_to_host(params)
    if buffers.size:
        d_buffers.copy_to_host(buffers)
    d_history.copy_to_host(history)
    return d_done.copy_to_host()
