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
    H_DECAY,
    H_L1,
    H_L2,
    H_LR,
    H_STEP,
    HIST_LR,
    HIST_TEST_LOSS,
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
from kernels.cuda.activations import activation_backward, activation_forward
from kernels.cuda.conv import conv2d_backward, conv2d_forward
from kernels.cuda.dense import dense_backward, dense_forward
from kernels.cuda.dropout import dropout_backward, dropout_forward
from kernels.cuda.losses import loss_backward, loss_partials
from kernels.cuda.optimizers import optimizer_step
from kernels.cuda.pool import avgpool_backward, avgpool_forward, maxpool_backward, maxpool_forward
from kernels.cuda.timer import globaltimer
from kernels.engine import permutations, workspace_widths
from kernels.guard import check_train
from kernels.losses import batch_mean, is_regression
from kernels.random import stream_key
from kernels.schedules import learning_rate

THREADS = 128  # threads per block (per run)


@cuda.jit(device=True)
def _add(y, x, count):
    """y += x elementwise (residual connections)."""
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        y[idx] += x[idx]


@cuda.jit(device=True)
def forward(plan, args, params, act, cache, icache, capacity, rows, training, seed, step):
    """kernels.engine.forward for the block: the prediction of ``rows`` samples of boundary 0
    of ``act`` into the last boundary. act, cache: (capacity·width,), (capacity·cache width,)
    of the params' dtype; icache: int64 (capacity·icache width,)."""
    for layer in range(plan.shape[0]):
        row = plan[layer]
        op = row[COL_OP]
        n_in, n_out, off = row[COL_IN_DIM], row[COL_OUT_DIM], row[COL_P_OFF]
        x_at, y_at = capacity * row[COL_IN_OFF], capacity * row[COL_OUT_OFF]  # (kernels.plan)
        x, y = act[x_at : x_at + rows * n_in], act[y_at : y_at + rows * n_out]
        beta = params.dtype.type(args[layer, ARG_BETA])
        gamma = params.dtype.type(args[layer, ARG_GAMMA])
        if op == OP_DENSE:
            n_w, n_b = n_in * n_out, n_out * row[COL_BIAS]
            dense_forward(x, params[off : off + n_w], params[off + n_w : off + n_w + n_b], y, rows, n_in, n_out)
        elif op == OP_ACTIVATION:
            activation_forward(row[COL_CODE], beta, gamma, x, y, rows * n_in)
        elif op == OP_CONV:
            c_in, c_out, k = row[COL_C_IN], row[COL_C_OUT], row[COL_K]
            n_w, n_b = c_out * c_in * k * k, c_out * row[COL_BIAS]
            conv2d_forward(x, params[off : off + n_w], params[off + n_w : off + n_w + n_b], y, rows, c_in,
                           row[COL_H_IN], row[COL_W_IN], c_out, row[COL_H_OUT], row[COL_W_OUT], k,
                           row[COL_STRIDE], row[COL_PAD])
        elif op == OP_MAXPOOL:
            at = capacity * row[COL_ICACHE_OFF]
            maxpool_forward(row[COL_K], row[COL_STRIDE], x, y, icache[at : at + rows * n_out], rows * row[COL_C_IN],
                            row[COL_H_IN], row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
        elif op == OP_AVGPOOL:
            avgpool_forward(row[COL_K], row[COL_STRIDE], x, y, rows * row[COL_C_IN], row[COL_H_IN],
                            row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
        elif op == OP_DROPOUT:
            if training:
                at = capacity * row[COL_CACHE_OFF]
                dropout_forward(beta, stream_key(seed, step, layer), x, cache[at : at + rows * n_in], y, rows * n_in)
            else:
                for idx in range(cuda.threadIdx.x, rows * n_in, cuda.blockDim.x):
                    y[idx] = x[idx]
        elif op == OP_RESIDUAL:
            h, c_off = row[COL_C_OUT], row[COL_CACHE_OFF]
            z_at, a_at = capacity * c_off, capacity * (c_off + h)
            z, a = cache[z_at : z_at + rows * h], cache[a_at : a_at + rows * h]
            n_w = n_in * h
            dense_forward(x, params[off : off + n_w], params[off + n_w : off + n_w + h], z, rows, n_in, h)
            cuda.syncthreads()
            activation_forward(row[COL_CODE], beta, gamma, z, a, rows * h)
            cuda.syncthreads()
            dense_forward(a, params[off + n_w + h : off + 2 * n_w + h], params[0:0], y, rows, h, n_in)
            cuda.syncthreads()
            _add(y, x, rows * n_in)
        cuda.syncthreads()


@cuda.jit(device=True)
def backward(plan, args, params, grads, act, dact, cache, icache, capacity, rows):
    """kernels.engine.backward for the block: ∂L/∂prediction (the last boundary of dact) back
    into grads (P,)."""
    for layer in range(plan.shape[0] - 1, -1, -1):
        row = plan[layer]
        op = row[COL_OP]
        if layer == 0 and not (op == OP_DENSE or op == OP_CONV or op == OP_RESIDUAL):
            break  # nothing below to pass a gradient to
        n_in, n_out, off = row[COL_IN_DIM], row[COL_OUT_DIM], row[COL_P_OFF]
        x_at, y_at = capacity * row[COL_IN_OFF], capacity * row[COL_OUT_OFF]
        x, dy = act[x_at : x_at + rows * n_in], dact[y_at : y_at + rows * n_out]
        dx = dact[x_at : x_at + (rows * n_in if layer > 0 else 0)]  # empty: no gradient below layer 0
        beta = params.dtype.type(args[layer, ARG_BETA])
        gamma = params.dtype.type(args[layer, ARG_GAMMA])
        if op == OP_DENSE:
            n_w, n_b = n_in * n_out, n_out * row[COL_BIAS]
            dense_backward(dy, x, params[off : off + n_w], dx, grads[off : off + n_w],
                           grads[off + n_w : off + n_w + n_b], rows, n_in, n_out)
        elif op == OP_ACTIVATION:
            activation_backward(row[COL_CODE], beta, gamma, dy, x, act[y_at : y_at + rows * n_out], dx, rows * n_in)
        elif op == OP_CONV:
            c_in, c_out, k = row[COL_C_IN], row[COL_C_OUT], row[COL_K]
            n_w, n_b = c_out * c_in * k * k, c_out * row[COL_BIAS]
            conv2d_backward(dy, x, params[off : off + n_w], dx, grads[off : off + n_w],
                            grads[off + n_w : off + n_w + n_b], rows, c_in, row[COL_H_IN], row[COL_W_IN],
                            c_out, row[COL_H_OUT], row[COL_W_OUT], k, row[COL_STRIDE], row[COL_PAD])
        elif op == OP_MAXPOOL:
            at = capacity * row[COL_ICACHE_OFF]
            maxpool_backward(row[COL_K], row[COL_STRIDE], dy, icache[at : at + rows * n_out], dx,
                             rows * row[COL_C_IN], row[COL_H_IN], row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
        elif op == OP_AVGPOOL:
            avgpool_backward(row[COL_K], row[COL_STRIDE], dy, dx, rows * row[COL_C_IN], row[COL_H_IN],
                             row[COL_W_IN], row[COL_H_OUT], row[COL_W_OUT])
        elif op == OP_DROPOUT:
            at = capacity * row[COL_CACHE_OFF]
            dropout_backward(dy, cache[at : at + rows * n_in], dx, rows * n_in)
        elif op == OP_RESIDUAL:
            h, c_off = row[COL_C_OUT], row[COL_CACHE_OFF]
            z_at, a_at, dz_at = capacity * c_off, capacity * (c_off + h), capacity * (c_off + 2 * h)
            z, a, dz = cache[z_at : z_at + rows * h], cache[a_at : a_at + rows * h], cache[dz_at : dz_at + rows * h]
            n_w = n_in * h
            dense_backward(dy, a, params[off + n_w + h : off + 2 * n_w + h], dz,
                           grads[off + n_w + h : off + 2 * n_w + h], grads[0:0], rows, h, n_in)
            cuda.syncthreads()
            activation_backward(row[COL_CODE], beta, gamma, dz, z, a, dz, rows * h)
            cuda.syncthreads()
            dense_backward(dz, x, params[off : off + n_w], dx, grads[off : off + n_w],
                           grads[off + n_w : off + n_w + h], rows, n_in, h)
            cuda.syncthreads()
            _add(dx, dy, dx.shape[0])
        cuda.syncthreads()


@cuda.jit(device=True)
def _load_rows(src, order, start, rows, width, dst):
    """dst[r·width + j] = src[order[start + r]·width + j] for r < rows: a batch of samples."""
    for idx in range(cuda.threadIdx.x, rows * width, cuda.blockDim.x):
        dst[idx] = src[order[start + idx // width] * width + idx % width]


@cuda.jit(device=True)
def evaluate(plan, args, loss, params, x, y, n, act, cache, icache, capacity, partial, out, col):
    """kernels.engine.evaluate for the block: out[col] = mean loss and out[col + 1] = accuracy
    over the n samples of x (n·n_in,), y (n·n_out,), in chunks of ``capacity``; NaN where
    undefined. partial: float64 (2·blockDim,) scratch for the per-thread sums."""
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    last = plan[plan.shape[0] - 1]
    n_in, n_out = plan[0, COL_IN_DIM], last[COL_OUT_DIM]
    pred_at = capacity * last[COL_OUT_OFF]
    total, correct = 0.0, 0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        for idx in range(tid, rows * n_in, threads):
            act[idx] = x[start * n_in + idx]
        cuda.syncthreads()
        forward(plan, args, params, act, cache, icache, capacity, rows, False, 0, 0)
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
def train_kernel(x, y, n_fit, x_fit, y_fit, n_test, x_test, y_test, orders, plan, args, loss, optimizer,
                 schedule, hyper, mask, params, batch_sizes, seeds, epochs, capacity, act, dact, cache, icache,
                 targets, state, grads, partial, history, done):
    """Block r trains run r: params[r] (P,), hyper[r], batch_sizes[r], seeds[r], orders[r]
    (epochs, N) int32, workspaces act[r] ... partial[r], history[r] (epochs + 1, N_HIST);
    done[r] = epochs completed. Data (shared by the runs) flat: x (N·n_in,), y (N·n_out,), the
    monitor sets likewise with n_fit and n_test rows. See kernels.engine.train."""
    r = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    p, g, m, s, hyp = params[r], grads[r], state[r, 0], state[r, 1], hyper[r]
    a, da, c, ic, tg, part, hist = act[r], dact[r], cache[r], icache[r], targets[r], partial[r], history[r]
    n = orders.shape[2]
    last = plan[plan.shape[0] - 1]
    n_in, n_out = plan[0, COL_IN_DIM], last[COL_OUT_DIM]
    pred_at = capacity * last[COL_OUT_OFF]
    batch, seed = batch_sizes[r], seeds[r]
    l1, l2 = hyp[H_L1], hyp[H_L2]
    penalized = l1 != 0 or l2 != 0

    evaluate(plan, args, loss, p, x_fit, y_fit, n_fit, a, c, ic, capacity, part, hist[0], HIST_TRAIN_LOSS)
    evaluate(plan, args, loss, p, x_test, y_test, n_test, a, c, ic, capacity, part, hist[0], HIST_TEST_LOSS)
    if tid == 0:
        hist[0, HIST_LR] = math.nan
        hist[0, HIST_TRAIN_TIME] = 0.0
        hist[0, HIST_WALL_TIME] = 0.0
        done[r] = 0
    cuda.syncthreads()
    if not _finite(hist[0, HIST_TRAIN_LOSS]):
        return
    step = 0
    for epoch in range(1, epochs + 1):
        rate = learning_rate(schedule, np.float64(hyp[H_LR]), np.float64(hyp[H_DECAY]), np.float64(hyp[H_STEP]),
                             epoch - 1, epochs)
        lr = p.dtype.type(rate)
        order = orders[r, epoch - 1]
        t0 = globaltimer()
        for start in range(0, n, batch):
            rows = min(batch, n - start)
            _load_rows(x, order, start, rows, n_in, a)
            _load_rows(y, order, start, rows, n_out, tg)
            cuda.syncthreads()
            step += 1
            forward(plan, args, p, a, c, ic, capacity, rows, True, seed, step)
            loss_backward(loss, a[pred_at : pred_at + rows * n_out], tg[: rows * n_out],
                          da[pred_at : pred_at + rows * n_out], rows, n_out)
            cuda.syncthreads()
            backward(plan, args, p, g, a, da, c, ic, capacity, rows)
            optimizer_step(optimizer, hyp, lr, step, p, g, m, s, mask, l1, l2, penalized)
            cuda.syncthreads()
        t1 = globaltimer()
        evaluate(plan, args, loss, p, x_fit, y_fit, n_fit, a, c, ic, capacity, part, hist[epoch], HIST_TRAIN_LOSS)
        evaluate(plan, args, loss, p, x_test, y_test, n_test, a, c, ic, capacity, part, hist[epoch], HIST_TEST_LOSS)
        if tid == 0:
            hist[epoch, HIST_LR] = rate
            hist[epoch, HIST_TRAIN_TIME] = hist[epoch - 1, HIST_TRAIN_TIME] + (t1 - t0) * 1e-9
            hist[epoch, HIST_WALL_TIME] = hist[epoch - 1, HIST_WALL_TIME] + (globaltimer() - t0) * 1e-9
            done[r] = epoch
        cuda.syncthreads()
        if not _finite(hist[epoch, HIST_TRAIN_LOSS]):
            return


def _flat(a: np.ndarray, dtype):
    """A device copy of ``a`` as a flat array (one entry at least: CUDA has no empty buffers)."""
    flat = np.ascontiguousarray(a, dtype=dtype).ravel()
    return cuda.to_device(flat if flat.size else np.zeros(1, dtype))


def train(x, y, x_fit, y_fit, x_test, y_test, plan, args, loss, optimizer, schedule, hyper, mask, params,
          epochs, batch_sizes, seeds, eval_rows, history, threads=THREADS):
    """Train R runs of one model on one data set at once, one thread block each; return the
    epochs each completed (R,). The CUDA twin of kernels.engine.train, whose arguments these
    are, with a leading run axis where runs differ: hyper (R, N_HYPER), params (R, P) updated
    in place, batch_sizes and seeds (R,), history (R, epochs + 1, N_HIST) filled in. A run is
    shuffled unless its batch is the whole training set (experiments.training.fit's rule).
    The CPU engine's checks within epochs (H_CHECK_EVERY) are not made here: HIST_REACH_STEP and
    HIST_REACH_TIME keep what the caller put there (NaN from fit).
    """
    for run in range(params.shape[0]):
        check_train(x, y, x_fit, y_fit, x_test, y_test, plan, args, hyper[run], mask, params[run], epochs,
                    int(batch_sizes[run]), eval_rows, history[run])
    dtype = params.dtype
    n_runs, n = params.shape[0], x.shape[0]
    capacity = int(max(np.max(batch_sizes), eval_rows))
    width, cache_width, icache_width, _ = workspace_widths(plan)
    orders = np.stack([permutations(n, epochs, int(b) < n, int(sd)) for b, sd in zip(batch_sizes, seeds)])
    d_params = cuda.to_device(params)
    d_history = cuda.to_device(history)
    d_done = cuda.to_device(np.zeros(n_runs, np.int64))
    train_kernel[n_runs, threads](
        _flat(x, dtype), _flat(y, dtype), len(x_fit), _flat(x_fit, dtype), _flat(y_fit, dtype),
        len(x_test), _flat(x_test, dtype), _flat(y_test, dtype), cuda.to_device(orders),
        cuda.to_device(plan), cuda.to_device(args), loss, optimizer, schedule, cuda.to_device(hyper),
        cuda.to_device(mask), d_params, cuda.to_device(np.asarray(batch_sizes, np.int64)),
        cuda.to_device(np.asarray(seeds, np.int64)), epochs, capacity,
        cuda.device_array((n_runs, max(capacity * width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * cache_width, 1)), dtype),
        cuda.device_array((n_runs, max(capacity * icache_width, 1)), np.int64),
        cuda.device_array((n_runs, capacity * y.shape[1]), dtype),
        cuda.to_device(np.zeros((n_runs, 2, params.shape[1]), dtype)),
        cuda.device_array(params.shape, dtype),
        cuda.device_array((n_runs, 2 * threads), np.float64),
        d_history, d_done)
    d_params.copy_to_host(params)
    d_history.copy_to_host(history)
    return d_done.copy_to_host()
