"""Randomized comparison against PyTorch (float64, CPU): conv, pooling, losses, optimizers (and Lion
against its paper's program, which PyTorch does not ship)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kernels import losses, optimizers, steps
from kernels.conv import SMALL_PATCH, conv2d_backward, conv2d_forward, output_size
from kernels.loss import loss_backward, loss_forward
from kernels.pool import (
    avgpool_backward,
    avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from kernels.steps import optimizer_step

RNG = np.random.default_rng(11)
SEEDS = range(6)


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("patch", ["small", "large"])
def test_conv2d(seed, patch):
    """Both ways of the products (kernels.conv.SMALL_PATCH): loops for small patches, BLAS above."""
    rng = np.random.default_rng(seed)
    batch, c_in, c_out, k = (int(v) for v in rng.integers(1, 4, 4))
    if patch == "large":
        c_in, k = int(rng.integers(4, 7)), int(rng.integers(3, 6))
    assert (c_in * k * k <= SMALL_PATCH) == (patch == "small")
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 3))
    h, w = (int(v) for v in rng.integers(k, k + 6, 2))
    h_out, w_out = output_size(h, k, stride, pad), output_size(w, k, stride, pad)
    x, wt, b = rng.standard_normal((batch, c_in, h, w)), rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out)
    dy = rng.standard_normal((batch, c_out, h_out, w_out))
    cols, y = np.empty((batch, c_in * k * k, h_out * w_out)), np.empty((batch, c_out, h_out, w_out))
    conv2d_forward(x, wt, b, stride, pad, cols, y)
    dx, dw, db = np.empty_like(x), np.empty_like(wt), np.empty_like(b)
    conv2d_backward(dy, cols, wt, stride, pad, np.empty(cols.shape[1:]), np.empty((c_out, c_in * k * k)), dx, dw, db)

    tx, tw, tb = t(x, True), t(wt, True), t(b, True)
    ty = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    ty.backward(t(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in ((dx, tx), (dw, tw), (db, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(seed, kind):
    rng = np.random.default_rng(seed)
    k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), *(int(v) for v in rng.integers(k, k + 6, 2)))
    out = (*shape[:2], (shape[2] - k) // stride + 1, (shape[3] - k) // stride + 1)
    x, dy = rng.standard_normal(shape), rng.standard_normal(out)
    y, dx = np.empty(out), np.empty(shape)
    if kind == "max":
        argmax = np.empty(out, np.int64)
        maxpool_forward(k, stride, x, y, argmax)
        maxpool_backward(dy, argmax, dx)
    else:
        avgpool_forward(k, stride, x, y)
        avgpool_backward(k, stride, dy, dx)
    tx = t(x, True)
    ty = (F.max_pool2d if kind == "max" else F.avg_pool2d)(tx, k, stride)
    ty.backward(t(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("window", [[[1.0, np.nan], [2.0, 0.0]], [[np.nan, 5.0], [np.nan, 9.0]],
                                    [[3.0, 1.0], [7.0, np.nan]]])
def test_a_nan_in_a_max_pooling_window_propagates(window):
    """As in PyTorch: the window's last NaN is its maximum and gets the gradient."""
    x = np.array(window)[None, None]
    y, argmax, dx = np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1), np.int64), np.empty_like(x)
    maxpool_forward(2, 2, x, y, argmax)
    maxpool_backward(np.ones((1, 1, 1, 1)), argmax, dx)
    tx = t(x, True)
    F.max_pool2d(tx, 2, 2).backward(t(np.ones((1, 1, 1, 1))))
    assert np.isnan(y).all() and np.isnan(F.max_pool2d(t(x), 2, 2).numpy()).all()
    np.testing.assert_array_equal(dx, tx.grad.numpy())


def torch_loss(name, p, target):
    batch = p.shape[0]
    if name == "mse":
        return F.mse_loss(p, target, reduction="sum") / batch
    if name == "mse-half":
        return F.mse_loss(p, target, reduction="sum") / (2 * batch)
    if name == "softmax-ce":
        return F.cross_entropy(p, target.argmax(dim=1))
    if name == "logistic":
        return F.binary_cross_entropy_with_logits(p, target, reduction="sum") / batch
    return torch.clamp(1 - target * p, min=0).sum() / batch  # hinge


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(losses.CODES))
def test_losses(seed, name):
    rng = np.random.default_rng(seed)
    batch, n = int(rng.integers(1, 9)), int(rng.integers(2, 7))
    pred = rng.standard_normal((batch, n)) * 3
    labels = np.eye(n)[rng.integers(n, size=batch)]
    target = {"mse": rng.standard_normal((batch, n)), "mse-half": rng.standard_normal((batch, n)),
              "softmax-ce": labels, "logistic": labels, "hinge": 2 * labels - 1}[name]
    code = losses.CODES[name]
    d = np.empty_like(pred)
    loss_backward(code, pred, target, d)
    tp = t(pred, True)
    value = torch_loss(name, tp, t(target))
    value.backward()
    assert loss_forward(code, pred, target) == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(d, tp.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("logits", [[1e4, 1e4, 1e4], [1e4, 1e4 - 1, 1e4 + 2], [-3e4, -3e4, -3e4 + 0.5]])
def test_softmax_cross_entropy_in_float32_at_large_logits(logits):
    """Within 1e-6 of the exact value (float64 here) at logits of 1e4, where adding the shift
    back before subtracting the logit cost 3e-4."""
    pred64 = np.array([logits])
    target = np.array([[0.0, 1.0, 0.0]])
    exact = loss_forward(losses.CODES["softmax-ce"], pred64, target)
    ours = loss_forward(losses.CODES["softmax-ce"], pred64.astype(np.float32), target.astype(np.float32))
    shifted = pred64 - pred64.max()
    assert exact == pytest.approx(np.log(np.exp(shifted).sum()) - shifted[0, 1], rel=1e-12)
    assert float(ours) == pytest.approx(exact, rel=1e-6)


TORCH_OPTIMIZERS = {
    "sgd": lambda p, lr: torch.optim.SGD([p], lr=lr),
    "heavy-ball": lambda p, lr: torch.optim.SGD([p], lr=lr, momentum=0.9),
    "nesterov": lambda p, lr: torch.optim.SGD([p], lr=lr, momentum=0.9, nesterov=True),
    "rmsprop": lambda p, lr: torch.optim.RMSprop([p], lr=lr, alpha=0.9, eps=1e-8),
    "adam": lambda p, lr: torch.optim.Adam([p], lr=lr, betas=(0.9, 0.999), eps=1e-8),
    "adagrad": lambda p, lr: torch.optim.Adagrad([p], lr=lr, eps=1e-8),
}


def run_ours(name, params, grads, lr, **hyper):
    """params after optimizer ``name`` took a step on each row of grads; hyper: beside the defaults
    (β₁ 0.9, β₂ 0.999, ε 1e-8, bias correction, weight decay 0.01)."""
    vector = steps.vector(np.float64, lr=lr, **hyper)
    state = np.zeros((steps.STATE_ROWS, params.size))
    for step, g in enumerate(grads, 1):
        optimizer_step(optimizers.CODES[name], vector, lr, step, params, g, state)
    return params


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(TORCH_OPTIMIZERS))
def test_optimizers_match_torch(seed, name):
    rng = np.random.default_rng(seed)
    size, steps, lr = int(rng.integers(1, 20)), int(rng.integers(1, 25)), float(10 ** rng.uniform(-3, -1))
    p0, grads = rng.standard_normal(size), rng.standard_normal((steps, size))
    ours = run_ours(name, p0.copy(), grads, lr)
    tp = t(p0.copy(), True)
    opt = TORCH_OPTIMIZERS[name](tp, lr)
    for g in grads:
        tp.grad = t(g)
        opt.step()
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_momentum_is_the_ema_form_and_adam_without_correction_is_the_texts():
    """No PyTorch twin: Magyar Alg 20 (m ← βm + (1−β)g, w ← w − τm) and Alg 23 as intended."""
    p0, grads, lr = RNG.standard_normal(5), RNG.standard_normal((7, 5)), 0.01
    m, w = np.zeros(5), p0.copy()
    for g in grads:
        m = 0.9 * m + 0.1 * g
        w = w - lr * m
    np.testing.assert_allclose(run_ours("momentum", p0.copy(), grads, lr), w, rtol=1e-13)
    m, s, w = np.zeros(5), np.zeros(5), p0.copy()
    for g in grads:
        m, s = 0.9 * m + 0.1 * g, 0.999 * s + 0.001 * g * g
        w = w - lr * m / (np.sqrt(s) + 1e-8)
    np.testing.assert_allclose(run_ours("adam", p0.copy(), grads, lr, bias_correction=False), w, rtol=1e-13)


@pytest.mark.parametrize("seed", SEEDS)
def test_adamw_equals_torch_over_200_steps(seed):
    """Decoupled weight decay (Loshchilov & Hutter): torch.optim.AdamW, float64, to 1e-12."""
    rng = np.random.default_rng(seed)
    size, lr, decay = int(rng.integers(1, 20)), float(10 ** rng.uniform(-3, -1)), float(rng.uniform(0, 0.5))
    p0, grads = rng.standard_normal(size), rng.standard_normal((200, size))
    ours = run_ours("adamw", p0.copy(), grads, lr, weight_decay=decay)
    tp = t(p0.copy(), True)
    opt = torch.optim.AdamW([tp], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=decay)
    for g in grads:
        tp.grad = t(g)
        opt.step()
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(ours, run_ours("adam", p0.copy(), grads, lr))  # the decay is not a no-op


def lion_reference(p, grads, lr, beta1, beta2, decay):
    """Lion as printed in Chen et al. 2023, Program 1 (NumPy): the interpolation's sign, the
    decoupled decay, then the momentum's update."""
    m = np.zeros_like(p)
    for g in grads:
        update = np.sign(beta1 * m + (1 - beta1) * g)
        p = p - lr * (update + decay * p)
        m = beta2 * m + (1 - beta2) * g
    return p


@pytest.mark.parametrize("seed", SEEDS)
def test_lion_equals_the_papers_program(seed):
    rng = np.random.default_rng(seed)
    size, lr, decay = int(rng.integers(1, 20)), float(10 ** rng.uniform(-4, -2)), float(rng.uniform(0, 1))
    p0, grads = rng.standard_normal(size), rng.standard_normal((200, size))
    grads[:3, 0] = 0.0  # sign(0) = 0 while the momentum is still 0
    ours = run_ours("lion", p0.copy(), grads, lr, beta1=0.9, beta2=0.99, weight_decay=decay)
    np.testing.assert_allclose(ours, lion_reference(p0.copy(), grads, lr, 0.9, 0.99, decay), rtol=1e-12, atol=1e-14)
