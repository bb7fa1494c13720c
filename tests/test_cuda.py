"""The CUDA target against the CPU target: every device kernel equals its CPU twin (float64 to
1e-10 relative, float32 to 1e-5), and whole training runs give the same curves and parameters.

Without a GPU these run on numba-cuda's simulator (tests/conftest.py), on small shapes and a
few threads per block; on a machine with a GPU the same tests compile for it.
"""
import os
import subprocess
import sys
from functools import partial
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from numba import config, cuda

from kernels import codes, engine, losses, optimizers, records, schedules, steps
from kernels.activations import activation_backward, activation_forward
from kernels.conv import conv2d_backward, conv2d_forward
from kernels.cuda import activations as g_act
from kernels.cuda import conv as g_conv
from kernels.cuda import dense as g_dense
from kernels.cuda import dropout as g_drop
from kernels.cuda import engine as g_engine
from kernels.cuda import losses as g_loss
from kernels.cuda import optimizers as g_opt
from kernels.cuda import pool as g_pool
from kernels.cuda.split import segments
from kernels.cuda.tiles import tiled
from kernels.dense import dense_backward, dense_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.layers import KINDS
from kernels.layers.layernorm import LayerNorm
from kernels.loss import loss_backward, loss_forward, n_correct
from kernels.plan import (
    Activation,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Pool,
    Residual,
    build_plan,
)
from kernels.pool import (
    avgpool_backward,
    avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from kernels.regularizers import penalty_gradient
from kernels.steps import optimizer_step

THREADS = 8
TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]


def assert_close(got, want, dtype):
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@cuda.jit
def _dense(x, w, b, n_b, y, dy, dx, n_dx, dw, db, rows, n_in, n_out):
    g_dense.dense_forward(x, w, b[:n_b], y, rows, n_in, n_out)
    cuda.syncthreads()
    g_dense.dense_backward(dy, x, w, dx[:n_dx], dw, db[:n_b], rows, n_in, n_out)


def check_dense(dtype, rows, n_in, n_out, threads=THREADS, bias=True, first=False):
    """The device's dense forward and backward against the CPU's, on random arrays, in one
    block of ``threads``."""
    rng = np.random.default_rng(rows * n_in + n_out)
    x, w, b, dy = (rand(rng, shape, dtype) for shape in ((rows, n_in), (n_in, n_out), n_out, (rows, n_out)))
    n_b = n_out if bias else 0
    y, dx, dw, db = (np.zeros(n, dtype) for n in (rows * n_out, rows * n_in, n_in * n_out, n_out))
    _dense[1, threads, 0, g_engine.scratch_bytes(threads, 8)](x.ravel(), w.ravel(), b, n_b, y, dy.ravel(), dx,
                                                              0 if first else rows * n_in, dw, db, rows, n_in, n_out)
    y_c, dx_c, dw_c, db_c = np.empty_like(dy), np.empty_like(x), np.empty_like(w), np.empty(n_b, dtype)
    dense_forward(x, w, b[:n_b], y_c)
    dense_backward(dy, x, w, dx_c[: 0 if first else rows], dw_c, db_c)
    for got, want in ((y, y_c), (dw, dw_c), (db[:n_b], db_c)) + (() if first else ((dx, dx_c),)):
        assert_close(got, want.ravel(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,n_in,n_out,bias,first", [(1, 4, 6, True, False), (5, 7, 3, False, True),
                                                        (9, 3, 10, True, True), (13, 9, 11, True, False)])
def test_dense_equals_cpu(dtype, rows, n_in, n_out, bias, first):
    check_dense(dtype, rows, n_in, n_out, bias=bias, first=first)


@cuda.jit
def _conv(x, w, b, n_b, y, dy, dx, dw, db, rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad):
    g_conv.conv2d_forward(x, w, b[:n_b], y, rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad)
    cuda.syncthreads()
    g_conv.conv2d_backward(dy, x, w, dx, dw, db[:n_b], rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad)


def check_conv(dtype, rows, c_in, h, wd, c_out, k, stride, pad, threads=THREADS, bias=True):
    """The device's convolution forward and backward against the CPU's, on random arrays, in
    one block of ``threads``."""
    rng = np.random.default_rng(k * 10 + stride + c_out)
    h_out, w_out = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    x, w = rand(rng, (rows, c_in, h, wd), dtype), rand(rng, (c_out, c_in, k, k), dtype)
    b, dy = rand(rng, c_out, dtype), rand(rng, (rows, c_out, h_out, w_out), dtype)
    n_b = c_out if bias else 0
    y, dx, dw, db = (np.zeros(a.size, dtype) for a in (dy, x, w, b))
    _conv[1, threads, 0, g_engine.scratch_bytes(threads, 8)](x.ravel(), w.ravel(), b, n_b, y, dy.ravel(), dx, dw, db,
                                                             rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad)
    patch = c_in * k * k
    cols = np.empty((rows, patch, h_out * w_out), dtype)
    y_c, dx_c, dw_c, db_c = np.empty_like(dy), np.empty_like(x), np.empty_like(w), np.empty(n_b, dtype)
    conv2d_forward(x, w, b[:n_b], stride, pad, cols, y_c)
    conv2d_backward(dy, cols, w, stride, pad, np.empty((patch, h_out * w_out), dtype), np.empty((c_out, patch), dtype),
                    dx_c, dw_c, db_c)
    for got, want in ((y, y_c), (dx, dx_c), (dw, dw_c), (db[:n_b], db_c)):
        assert_close(got, want.ravel(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,stride,pad,bias", [(3, 1, 1, True), (2, 2, 0, False), (3, 2, 1, True), (5, 1, 2, True)])
def test_conv_equals_cpu(dtype, k, stride, pad, bias):
    check_conv(dtype, 2, 2, 5, 6, 3, k, stride, pad, bias=bias)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradients_split_across_the_block_equal_cpu(dtype):
    """A block of 64 threads for a layer of fewer gradient entries: a dense layer of 2 × 3 weights
    at b = 40 (each sum in 10 segments) and a 1 × 1 × 2 × 2 convolution over 2 samples of 5 output
    rows (each weight's and the bias's sum in 10 segments): the gradients equal the CPU's."""
    assert segments(6, 40, 64) == 10 and segments(4, 2 * 5, 64) == 10 and segments(300, 40, 64) == 1
    check_dense(dtype, 40, 2, 3, threads=64)
    check_conv(dtype, 2, 1, 6, 5, 1, 2, 1, 0, threads=64)


@cuda.jit
def _pool(kind, k, stride, x, y, argmax, dy, dx, planes, h, wd, h_out, w_out):
    if kind == 0:
        g_pool.maxpool_forward(k, stride, x, y, argmax, planes, h, wd, h_out, w_out)
        cuda.syncthreads()
        g_pool.maxpool_backward(k, stride, dy, argmax, dx, planes, h, wd, h_out, w_out)
    else:
        g_pool.avgpool_forward(k, stride, x, y, planes, h, wd, h_out, w_out)
        cuda.syncthreads()
        g_pool.avgpool_backward(k, stride, dy, dx, planes, h, wd, h_out, w_out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k,stride", [(2, 2), (3, 1), (3, 2)])
def test_pool_equals_cpu(dtype, kind, k, stride):
    rng = np.random.default_rng(k + stride)
    rows, c, h, wd = 2, 2, 5, 6
    h_out, w_out = (h - k) // stride + 1, (wd - k) // stride + 1
    x, dy = rand(rng, (rows, c, h, wd), dtype), rand(rng, (rows, c, h_out, w_out), dtype)
    x[0, 0, 0, :2] = x[0, 0, 0, 2]  # a tie: the first maximum wins on both targets
    y, argmax, dx = np.zeros(dy.size, dtype), np.zeros(dy.size, np.int64), np.zeros(x.size, dtype)
    _pool[1, THREADS](0 if kind == "max" else 1, k, stride, x.ravel(), y, argmax, dy.ravel(), dx, rows * c, h, wd,
                      h_out, w_out)
    y_c, dx_c, argmax_c = np.empty_like(dy), np.empty_like(x), np.empty(dy.shape, np.int64)
    if kind == "max":
        maxpool_forward(k, stride, x, y_c, argmax_c)
        maxpool_backward(dy, argmax_c, dx_c)
        np.testing.assert_array_equal(argmax, argmax_c.ravel())
    else:
        avgpool_forward(k, stride, x, y_c)
        avgpool_backward(k, stride, dy, dx_c)
    assert_close(y, y_c.ravel(), dtype)
    assert_close(dx, dx_c.ravel(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_propagates_a_nan_as_the_cpu(dtype, kind):
    """A NaN that is not first in its window ([[1, nan], [2, 0]]) gives NaN on both targets, and
    max pooling's argmax is the window's last NaN (as in PyTorch)."""
    x = np.array([[[[1, np.nan, 3, 4], [2, 0, np.nan, np.nan]]]], dtype)
    y, argmax, dx = np.zeros(2, dtype), np.zeros(2, np.int64), np.zeros(x.size, dtype)
    dy = np.ones(2, dtype)
    _pool[1, THREADS](0 if kind == "max" else 1, 2, 2, x.ravel(), y, argmax, dy, dx, 1, 2, 4, 1, 2)
    assert np.isnan(y).all()
    if kind == "max":
        y_c, argmax_c = np.empty((1, 1, 1, 2), dtype), np.empty((1, 1, 1, 2), np.int64)
        maxpool_forward(2, 2, x, y_c, argmax_c)
        np.testing.assert_array_equal(argmax, argmax_c.ravel())


@cuda.jit
def _activation(code, beta, gamma, x, y, dy, dx, backward):
    g_act.activation_forward(code, beta, gamma, x, y, x.shape[0])
    cuda.syncthreads()
    if backward:
        g_act.activation_backward(code, beta, gamma, dy, x, y, dx, x.shape[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(codes.ACTIVATIONS))
def test_activations_equal_cpu(dtype, name):
    code, beta, gamma, differentiable = codes.ACTIVATIONS[name]
    rng = np.random.default_rng(code)
    x, dy = rand(rng, (3, 7), dtype) * 3, rand(rng, (3, 7), dtype)
    y, dx = np.zeros(x.size, dtype), np.zeros(x.size, dtype)
    _activation[1, THREADS](code, dtype(beta), dtype(gamma), x.ravel(), y, dy.ravel(), dx, differentiable)
    y_c, dx_c = np.empty_like(x), np.empty_like(x)
    activation_forward(code, dtype(beta), dtype(gamma), x, y_c)
    assert_close(y, y_c.ravel(), dtype)
    if differentiable:
        activation_backward(code, dtype(beta), dtype(gamma), dy, x, y_c, dx_c)
        assert_close(dx, dx_c.ravel(), dtype)


@cuda.jit
def _dropout(rate, key, x, mask, y, dy, dx):
    g_drop.dropout_forward(rate, key, x, mask, y, x.shape[0])
    cuda.syncthreads()
    g_drop.dropout_backward(dy, mask, dx, x.shape[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_draws_the_cpu_mask(dtype):
    rng = np.random.default_rng(5)
    x, dy = rand(rng, (6, 9), dtype), rand(rng, (6, 9), dtype)
    key = -8817235427716813419  # any int64 bit pattern
    mask, y, dx = (np.zeros(x.size, dtype) for _ in range(3))
    _dropout[1, THREADS](dtype(0.4), key, x.ravel(), mask, y, dy.ravel(), dx)
    mask_c, y_c, dx_c = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    dropout_forward(dtype(0.4), key, x, mask_c, y_c)
    dropout_backward(dy, mask_c, dx_c)
    np.testing.assert_array_equal(mask, mask_c.ravel())
    assert 0 < np.count_nonzero(mask) < mask.size
    assert_close(y, y_c.ravel(), dtype)
    assert_close(dx, dx_c.ravel(), dtype)


@cuda.jit
def _loss(code, pred, target, dpred, rows, n, sums):
    g_loss.loss_backward(code, pred, target, dpred, rows, n)
    total, correct = g_loss.loss_partials(code, pred, target, rows, n)
    sums[cuda.threadIdx.x, 0] = total
    sums[cuda.threadIdx.x, 1] = correct


def _targets(name, rng, rows, n, dtype):
    if name == "softmax-ce":
        return np.eye(n, dtype=dtype)[rng.integers(0, n, rows)]
    if name == "logistic":
        return rng.integers(0, 2, (rows, n)).astype(dtype)
    if name == "hinge":
        return np.where(rng.random((rows, n)) < 0.5, -1, 1).astype(dtype)
    return rand(rng, (rows, n), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(losses.CODES))
@pytest.mark.parametrize("n", [1, 4])
def test_losses_equal_cpu(dtype, name, n):
    code = losses.CODES[name]
    rng = np.random.default_rng(code + n)
    rows = 11
    pred, target = rand(rng, (rows, n), dtype) * 2, _targets(name, rng, rows, n, dtype)
    dpred, sums = np.zeros(rows * n, dtype), np.zeros((THREADS, 2))
    _loss[1, THREADS](code, pred.ravel(), target.ravel(), dpred, rows, n, sums)
    dpred_c = np.empty_like(pred)
    loss_backward(code, pred, target, dpred_c)
    assert_close(dpred, dpred_c.ravel(), dtype)
    total = sums[:, 0].sum() / (2 if name == "mse-half" else 1) / rows
    assert_close(total, float(loss_forward(code, pred, target)), dtype)
    if n_correct(code, pred, target) >= 0:
        assert sums[:, 1].sum() == n_correct(code, pred, target)


@cuda.jit
def _step(code, hyper, lr, t, params, grads, state, mask, l1, l2, penalized, fault):
    g_opt.penalized_step(code, hyper, lr, t, params, grads, state, mask, l1, l2, penalized, fault)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(optimizers.CODES))
@pytest.mark.parametrize("penalty", [(0.0, 0.0), (0.01, 0.1)])
def test_optimizers_equal_cpu(dtype, name, penalty):
    code = optimizers.CODES[name]
    rng = np.random.default_rng(code)
    p0 = rand(rng, 13, dtype)
    mask = (rng.random(13) < 0.7).astype(dtype)
    l1, l2 = dtype(penalty[0]), dtype(penalty[1])
    hyper = steps.vector(dtype, lr=0.05, beta1=0.8, l1=penalty[0], l2=penalty[1])
    p_g, state_g = p0.copy(), np.zeros((steps.STATE_ROWS, 13), dtype)
    p_c, state_c = p0.copy(), np.zeros((steps.STATE_ROWS, 13), dtype)
    fault = np.zeros(1, np.int64)
    for t in range(1, 4):
        grads = rand(rng, 13, dtype)
        _step[1, THREADS](code, hyper, dtype(0.05), t, p_g, grads, state_g, mask, l1, l2, bool(penalty[0]), fault)
        if penalty[0]:
            penalty_gradient(p_c, mask, l1, l2, grads)
        optimizer_step(code, hyper, dtype(0.05), t, p_c, grads, state_c)
    assert_close(p_g, p_c, dtype)
    assert_close(state_g, state_c, dtype)
    assert fault[0] == 0


# No bias before a batch norm: its gradient is zero up to rounding, which Adam would amplify.
MODEL = [Conv(2, 3, pad=1, bias=False), BatchNorm(spatial=True), Activation("tanh"), Pool(2), Dropout(0.2),
         Residual(4, "silu"), Dense(3, bias=False), BatchNorm(momentum=0.2), Activation("elu"), Dense(3)]
AVG_MODEL = [Conv(2, 3), Activation("relu"), Pool(2, kind="avg"), Dense(3)]
LN_MODEL = [Conv(2, 3), LayerNorm(), Activation("relu"), Dense(4), LayerNorm(1e-3), Activation("tanh"), Dense(3)]


def _runs(dtype, batch_sizes, seeds, layers=MODEL, loss="softmax-ce", optimizer="adam", schedule="cosine", epochs=2):
    """The same runs on both targets: (CPU histories, params, buffers; CUDA histories, params, buffers)."""
    rng = np.random.default_rng(0)
    plan = build_plan((1, 6, 6), layers)
    n = 12
    x = rand(rng, (n, plan.n_in), dtype)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, n)]
    p0, b0 = plan.init_params(rng, dtype), plan.init_buffers(dtype)
    method = records.method(losses.CODES[loss], optimizers.CODES[optimizer], schedules.CODES[schedule],
                            steps.vector(dtype, lr=0.05, l2=0.01), plan.penalty_mask(False, dtype))
    data = records.Data(x, y, x, y, x[:5], y[:5])
    cpu = []
    for b, seed in zip(batch_sizes, seeds):
        h, p, buf = np.full((epochs + 1, codes.N_HIST), np.nan), p0.copy(), b0.copy()
        engine.train(data, plan.net, method, records.settings(epochs, b, b < n, seed, 1024), p, buf, h)
        cpu.append((h, p, buf))
    gpu_h = np.full((len(seeds), epochs + 1, codes.N_HIST), np.nan)
    gpu_p, gpu_b = np.tile(p0, (len(seeds), 1)), np.tile(b0, (len(seeds), 1))
    runs = [g_engine.Run(0, plan.net, method, records.settings(epochs, b, b < n, seed, 1024))
            for b, seed in zip(batch_sizes, seeds)]
    done = g_engine.train([data], runs, gpu_p, gpu_b, gpu_h, threads=THREADS)
    assert list(done) == [epochs] * len(seeds)
    return *(np.array(part) for part in zip(*cpu)), gpu_h, gpu_p, gpu_b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layers, optimizer, schedule", [(MODEL, "adam", "cosine"), (AVG_MODEL, "adam", "cosine"),
                                                         (LN_MODEL, "adamw", "step"), (LN_MODEL, "lion", "inverse")],
                         ids=["max-pool and the rest", "avg-pool", "layer norm, adamw", "layer norm, lion"])
def test_training_runs_equal_cpu(dtype, layers, optimizer, schedule):
    """Two runs in one launch (one block each; a mini-batch run and full-batch GD) of models that
    hold every layer kind between them (conv, batch norm per channel and per feature, layer norm,
    max and average pooling, dropout, residual, dense, activations), an L2 penalty, optimizers
    and schedules: the same loss and accuracy curves, learning rates, final parameters and
    running statistics as the CPU engine."""
    cpu_h, cpu_p, cpu_b, gpu_h, gpu_p, gpu_b = _runs(dtype, [4, 12], [7, 3], layers, optimizer=optimizer,
                                                     schedule=schedule)
    for col in (codes.HIST_FIT_LOSS, codes.HIST_FIT_ACC, codes.HIST_TEST_LOSS, codes.HIST_TEST_ACC, codes.HIST_LR):
        assert_close(gpu_h[:, :, col], cpu_h[:, :, col], dtype)
    assert_close(gpu_p, cpu_p, dtype)
    assert_close(gpu_b, cpu_b, dtype)
    assert np.all(np.diff(gpu_h[:, :, codes.HIST_TRAIN_TIME], axis=1) >= 0)
    assert not np.allclose(cpu_h[0, -1, 0], cpu_h[1, -1, 0])  # the two runs really differ


@pytest.mark.parametrize("unknown", ["op", "optimizer", "schedule"])
def test_a_code_no_kind_handles_is_an_error_on_the_device(unknown):
    """Past the guard, the device's generated dispatch (walks, optimizer step, learning rate)
    sets a fault in its ``else`` that train raises: no silent gap."""
    rng = np.random.default_rng(1)
    plan = build_plan(3, [Dense(4), Activation("tanh"), Dense(2)])
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    table = plan.net.table.copy()
    if unknown == "op":
        table[1, codes.COL_OP] = len(KINDS)
    optimizer = len(optimizers.KINDS) if unknown == "optimizer" else 0
    schedule = len(schedules.KINDS) if unknown == "schedule" else 0
    method = records.method(losses.CODES["mse"], optimizer, schedule, steps.vector(np.float64, lr=0.1),
                            plan.penalty_mask(False, np.float64))
    run = g_engine.Run(0, plan.net._replace(table=table), method, records.settings(1, 3, True, 0, 16))
    with mock.patch.object(g_engine, "check_train"), pytest.raises(RuntimeError, match="no kind handles"):
        g_engine.train([records.Data(x, y, x, y, x[:0], y[:0])], [run], plan.init_params(rng, np.float64)[None],
                       np.zeros((1, 0)), np.zeros((1, 2, codes.N_HIST)), threads=THREADS)


def test_permutations_are_the_cpu_engines_batch_order():
    """The order the CUDA target is given is the CPU engine's: training with it on the CPU in
    fixed order (shuffle off, data permuted by hand one epoch at a time) gives the same run."""
    rng = np.random.default_rng(1)
    plan = build_plan(3, [Dense(2)])
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    p0 = plan.init_params(rng, np.float64)
    method = records.method(losses.CODES["mse"], optimizers.CODES["sgd"], schedules.CODES["constant"], steps.vector(np.float64, lr=0.1),
                            plan.penalty_mask(False, np.float64))
    no_buffers = np.zeros(0)
    shuffled, h = p0.copy(), np.zeros((4, codes.N_HIST))
    engine.train(records.Data(x, y, x, y, x[:0], y[:0]), plan.net, method, records.settings(3, 3, True, 42, 16),
                 shuffled, no_buffers, h)
    by_hand = p0.copy()
    for order in engine.permutations(10, 3, True, 42):
        engine.train(records.Data(x[order], y[order], x, y, x[:0], y[:0]), plan.net, method,
                     records.settings(1, 3, False, 0, 16), by_hand, no_buffers, np.zeros((2, codes.N_HIST)))
    np.testing.assert_array_equal(shuffled, by_hand)


def test_sweep_on_cuda_matches_cpu(tmp_path):
    """`runner sweep --target cuda` records the same losses as the CPU target, with target and gpu
    in the provenance, and runs that are not the CPU runs (their own run ids)."""
    common = ["batch-size", "--grid", "batch_size=4,full", "--grid", "N=16", "--grid", "n=3", "--grid", "epochs=3",
              "--workers", "1", "--out", str(tmp_path)]
    for extra in ([], ["--target", "cuda"]):
        done = subprocess.run([sys.executable, "-m", "runner", "sweep", *common, *extra], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    runs = pd.read_parquet(tmp_path / "runs")
    assert len(runs) == 4 and runs["run_id"].nunique() == 4
    cpu = runs[runs["target"] == "cpu"].set_index("batch_size")
    gpu = runs[runs["target"] == "cuda"].set_index("batch_size")
    assert gpu["gpu"].notna().all() and cpu["gpu"].isna().all()
    np.testing.assert_allclose(gpu.loc[cpu.index, "final_rel_loss"], cpu["final_rel_loss"], rtol=1e-10)


@pytest.mark.skipif(not config.ENABLE_CUDASIM, reason="a GPU is present: the target is available here")
def test_cuda_without_gpu_is_a_clear_error(tmp_path):
    env = {"NUMBA_ENABLE_CUDASIM": "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "runner", "sweep", "batch-size", "--target", "cuda", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "cuda" in done.stderr.lower() and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cuda_without_numba_cuda_says_to_install_the_extra(tmp_path):
    """Without numba-cuda (hidden here from the import system), --target cuda names the extra,
    even with the simulator asked for: numba's own numba.cuda cannot run our kernels."""
    hide = ("import importlib.util, sys, runpy; find = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda name, *a: None if name == 'numba_cuda' else find(name, *a); "
            "sys.argv = ['runner', 'sweep', 'batch-size', '--target', 'cuda', '--out', sys.argv[1]]; "
            "runpy.run_module('runner', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", hide, str(tmp_path / "out")], capture_output=True, text=True,
                          env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"})
    assert done.returncode == 2, done.stderr
    assert "needs numba-cuda: pip install -e '.[cuda]'" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_target_for_a_study_without_engine_is_rejected(tmp_path):
    done = subprocess.run([sys.executable, "-m", "runner", "sweep", "gd-1d", "--target", "cuda", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "no target parameter" in done.stderr


def test_the_cuda_engine_checks_its_arguments_against_the_plan():
    """Like the CPU engine's: a mismatch raises ValueError before anything reaches the device."""
    rng = np.random.default_rng(2)
    plan = build_plan(3, [Dense(2)])
    x, y = rng.standard_normal((10, 3)), rng.standard_normal((10, 2))
    params = np.tile(plan.init_params(rng, np.float64), (2, 1))
    method = records.method(losses.CODES["mse"], 0, 0, steps.vector(np.float64, lr=0.1),
                            plan.penalty_mask(False, np.float64))
    history, no_buffers = np.zeros((2, 2, codes.N_HIST)), np.zeros((2, 0))
    data = records.Data(x, y, x, y, x, y)

    def train(data=data, batch_sizes=(5, 5), params=params):
        runs = [g_engine.Run(0, plan.net, method, records.settings(1, b, True, seed, 16))
                for seed, b in enumerate(batch_sizes)]
        return g_engine.train([data], runs, params, no_buffers, history)

    with pytest.raises(ValueError, match="x of the training data has 4 columns; the model takes 3 inputs"):
        train(data=data._replace(x=np.zeros((10, 4))))
    with pytest.raises(ValueError, match=r"batch_size 11 is not in 1 \.\. 10"):
        train(batch_sizes=(5, 11))
    with pytest.raises(ValueError, match="params has 7 entries"):
        train(params=np.zeros((2, 7)))


PACK_LAYERS = [Dense(5), Activation("tanh"), Dropout(0.1), Dense(3)]


def _pack_cases(dtype):
    """Six runs of one model shape that differ in everything else a launch lets them: data set,
    batch size, seed, epochs, loss, optimizer, schedule, L2, dropout rate, patience."""
    rng = np.random.default_rng(4)
    plan = build_plan(4, PACK_LAYERS)
    sets = []
    for _ in range(2):
        x = rand(rng, (10, 4), dtype)
        y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 10)]
        sets.append(records.Data(x, y, x, y, x[:4], y[:4]))
    p0 = plan.init_params(rng, dtype)
    cases = [  # data, batch, seed, epochs, loss, optimizer, schedule, l2, dropout, patience
        (0, 3, 1, 3, "softmax-ce", "adam", "cosine", 0.0, 0.1, 0),
        (1, 3, 2, 2, "softmax-ce", "sgd", "constant", 0.01, 0.1, 0),
        (0, 10, 0, 3, "mse", "nesterov", "step", 0.0, 0.1, 0),
        (1, 4, 1, 3, "softmax-ce", "lion", "constant", 0.0, 0.4, 0),
        (0, 1, 3, 1, "hinge", "rmsprop", "exponential", 0.0, 0.1, 0),
        (0, 2, 1, 3, "mse", "sgd", "constant", 0.0, 0.0, 1),
    ]
    runs = []
    for data, batch, seed, epochs, loss, optimizer, schedule, l2, rate, patience in cases:
        args = plan.net.args.copy()
        args[2, codes.ARG_RATE] = rate
        method = records.method(losses.CODES[loss], optimizers.CODES[optimizer], schedules.CODES[schedule],
                                steps.vector(dtype, lr=0.05, l2=l2), plan.penalty_mask(False, dtype))
        settings = records.settings(epochs, batch, batch < 10, seed, 1024, patience=patience, min_delta=10.0)
        runs.append(g_engine.Run(data, plan.net._replace(args=args), method, settings))
    return plan, sets, p0, runs


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_packed_launch_equals_the_cpu_runs_one_by_one(dtype):
    """One launch of runs that differ in data set, batch size, seed, epochs, loss, optimizer,
    schedule, penalty, dropout rate and early stopping: each run's history, parameters and epoch
    count are the CPU engine's for that run alone (patience with an impossible min_delta stops
    run 5 after one epoch, alone)."""
    plan, sets, p0, runs = _pack_cases(dtype)
    history = np.full((len(runs), 4, codes.N_HIST), np.nan)
    params = np.tile(p0, (len(runs), 1))
    done = g_engine.train(sets, runs, params, np.zeros((len(runs), 0), dtype), history, threads=THREADS)
    assert list(done) == [3, 2, 3, 3, 1, 1]
    for r, run in enumerate(runs):
        h, p = np.full((4, codes.N_HIST), np.nan), p0.copy()
        assert engine.train(sets[run.data], run.net, run.method, run.settings, p, np.zeros(0, dtype), h) == done[r]
        for col in (codes.HIST_FIT_LOSS, codes.HIST_FIT_ACC, codes.HIST_TEST_LOSS, codes.HIST_LR):
            assert_close(history[r, :, col], h[:, col], dtype)
        assert_close(params[r], p, dtype)
        assert np.isnan(history[r, done[r] + 1 :]).all()  # nothing written past a run's last epoch
    assert len({history[r, -1, 0] for r in (0, 2, 3)}) == 3


@pytest.mark.parametrize("threads, shared", [(32, (True, True)), (32, (False, False)), (64, (True, False)),
                                             (64, (False, True))])
def test_every_unit_of_work_equals_the_cpu(threads, shared):
    """A block of one warp (the unit threads_for picks for a small model at a small batch) and
    of two, with the parameters, gradient and optimizer state and the step's workspaces each in
    shared memory or in global memory: the same runs as the CPU's. The runs' batches (3 and 2)
    are not the launch's largest (10): the shared workspaces hold 10 rows."""
    plan, sets, p0, runs = _pack_cases(np.float64)
    runs = runs[:3]
    history = np.full((3, 4, codes.N_HIST), np.nan)
    params = np.tile(p0, (3, 1))
    g_engine.train(sets, runs, params, np.zeros((3, 0)), history, threads=threads, shared=shared)
    for r, run in enumerate(runs):
        h, p = np.full((4, codes.N_HIST), np.nan), p0.copy()
        engine.train(sets[run.data], run.net, run.method, run.settings, p, np.zeros(0), h)
        assert_close(history[r, :, codes.HIST_FIT_LOSS], h[:, codes.HIST_FIT_LOSS], np.float64)
        assert_close(params[r], p, np.float64)


def test_threads_for_sizes_the_block_by_the_model_and_batch():
    """One warp for the batch-size study's 4 x 64 model at b <= 4, eight at b >= 64 and for a
    LeNet-like CNN at b = 64; never outside 32 .. 256."""
    small = build_plan(4, [Dense(64, bias=False)]).net
    cnn = build_plan((1, 28, 28), [Conv(6, 5), Activation("relu"), Pool(2), Dense(10)]).net
    assert [g_engine.threads_for(small, b) for b in (1, 4, 8, 16, 64, 8192)] == [32, 32, 32, 64, 256, 256]
    assert g_engine.threads_for(cnn, 64) == 256 and g_engine.threads_for(cnn, 1) == 256


def test_shared_memory_holds_what_fits_parameters_first():
    """The batch-size model (4 inputs, 64 outputs, no bias) at b = 1 in a warp: after the scratch
    (a product's stage, 2 · 32 float64), its parameters, gradient and optimizer state (256
    entries each) and its step's workspaces (68 entries of act and of dact, 64 targets) fit in
    shared memory, 10.1 KiB in float64. At b = 64 the workspaces do not and stay in global memory
    (rows 0); a LeNet-like CNN's parameters (44 426 entries) and step fit in no case. A part
    asked for is placed, in float32 units, its int64 view 8-byte aligned."""
    small = build_plan(4, [Dense(64, bias=False)]).net
    cnn = build_plan((1, 28, 28), [Conv(6, 5), Activation("relu"), Pool(2), Conv(16, 5), Activation("relu"),
                                   Pool(2), Dense(120), Dense(84), Dense(10)]).net
    assert [g_engine.scratch_bytes(t, 8) for t in (32, 256)] == [2 * 32 * 8, 2 * 256 * 8]
    end = 64 + (2 + steps.STATE_ROWS) * 256
    at_1 = g_engine.fast_memory(small, np.float64, 1, 32)
    assert list(at_1) == [64, end, end + 68, end + 136, end + 136, end + 200, end + 200, end + 200, 1]
    assert 8 * at_1[g_engine.MAP_IEND] == 512 + 8192 + 1600 <= g_engine.SHARED_LIMIT
    assert list(g_engine.fast_memory(small, np.float64, 64, 256)) == [512] + [512 + 1024] * 7 + [0]
    assert list(g_engine.fast_memory(cnn, np.float32, 1, 256)) == [512] * 6 + [256] * 2 + [0]  # the scratch alone
    forced = g_engine.fast_memory(small, np.float32, 63, 32, params=False, step=True)
    assert list(forced) == [64, 64, 64 + 63 * 68, 64 + 2 * 63 * 68, 64 + 2 * 63 * 68,
                            64 + 2 * 63 * 68 + 63 * 64, 6332, 6332, 63]


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_in_tiles_equal_cpu(dtype):
    """A block of 64 threads (8 × 8 tiles): a dense layer of 11 → 13 at b = 20 (its forward,
    input and weight gradients all tiled, over several tiles and depth slices) and a convolution
    of 2 → 8 channels, k = 3, stride 2, padding 1 (its forward a product of the weights and the
    patches, read in place): the CPU's results. The blocks of 8 threads of the other tests take
    the direct path."""
    assert tiled(20, 11, 64) and tiled(11, 20, 64) and tiled(20, 13, 64) and tiled(8, 18, 64)
    assert not tiled(20, 11, 8) and not tiled(1, 4, 256) and not tiled(6, 25, 256)
    check_dense(dtype, 20, 11, 13, threads=64)
    check_conv(dtype, 2, 2, 7, 6, 8, 3, 2, 1, threads=64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_checks_within_epochs_on_the_device_find_the_cpus_step(dtype):
    """Settings.check_every on the device: the step where the fit loss first reaches the level
    is the CPU's, in the same epoch's row, and its time is within that epoch's updates."""
    plan, sets, p0, runs = _pack_cases(dtype)
    run = runs[0]
    h_cpu = np.full((4, codes.N_HIST), np.nan)
    engine.train(sets[0], run.net, run.method, run.settings, p0.copy(), np.zeros(0, dtype), h_cpu)
    level = float(0.5 * (h_cpu[0, 0] + h_cpu[2, 0]))  # reached in epoch 1 or 2, most likely within it
    run = run._replace(settings=run.settings._replace(check_every=np.int64(1), check_level=np.float64(level)))
    engine.train(sets[0], run.net, run.method, run.settings, p0.copy(), np.zeros(0, dtype), h_cpu)
    h_gpu = np.full((1, 4, codes.N_HIST), np.nan)
    g_engine.train([sets[0]], [run], p0[None].copy(), np.zeros((1, 0), dtype), h_gpu, threads=THREADS)
    found = np.flatnonzero(np.isfinite(h_cpu[:, codes.HIST_REACH_STEP]))
    assert found.size == 1
    np.testing.assert_array_equal(np.isfinite(h_gpu[0, :, codes.HIST_REACH_STEP]),
                                  np.isfinite(h_cpu[:, codes.HIST_REACH_STEP]))
    e = found[0]
    assert h_gpu[0, e, codes.HIST_REACH_STEP] == h_cpu[e, codes.HIST_REACH_STEP]
    times = h_gpu[0, e - 1, codes.HIST_TRAIN_TIME], h_gpu[0, e, codes.HIST_REACH_TIME], h_gpu[0, e, codes.HIST_TRAIN_TIME]
    assert times[0] <= times[1] <= times[2]


def test_a_launch_refuses_runs_of_two_plans_or_data_shapes_and_blocks_it_cannot_serve():
    """Two plans, two data shapes, a block larger than MAX_THREADS, and shared memory beyond a
    block's 48 KiB (the workspaces of a batch of 10 asked into it by force) are refused before
    any launch."""
    plan, sets, p0, runs = _pack_cases(np.float64)
    train = partial(g_engine.train, sets, runs[:2], np.tile(p0, (2, 1)), np.zeros((2, 0)),
                    np.zeros((2, 4, codes.N_HIST)))
    with pytest.raises(ValueError, match=r"threads per block must be in 1 \.\. 256, got 512"):
        train(threads=512)
    wide = build_plan(4, [Dense(2000), Activation("tanh"), Dropout(0.1), Dense(3)])
    with pytest.raises(ValueError, match="bytes of shared memory asked for; a block has 49152"):
        g_engine.train(sets, [run._replace(net=wide.net, method=run.method._replace(
                           mask=wide.penalty_mask(False, np.float64))) for run in runs[:2]],
                       np.tile(wide.init_params(np.random.default_rng(0), np.float64), (2, 1)), np.zeros((2, 0)),
                       np.zeros((2, 4, codes.N_HIST)), shared=(False, True))
    other = build_plan(4, [Dense(6), Activation("tanh"), Dropout(0.1), Dense(3)])
    two = [runs[0], runs[1]._replace(net=other.net)]
    with pytest.raises(ValueError, match="another plan"):
        g_engine.train(sets, two, np.tile(p0, (2, 1)), np.zeros((2, 0)), np.zeros((2, 4, codes.N_HIST)))
    short = sets[1]._replace(x=sets[1].x[:8], y=sets[1].y[:8])
    with pytest.raises(ValueError, match="differ in shape"):
        g_engine.train([sets[0], short], runs[:2], np.tile(p0, (2, 1)), np.zeros((2, 0)),
                       np.zeros((2, 4, codes.N_HIST)))
