"""Batch normalization (kernels.layers.batchnorm) against torch.nn.BatchNorm1d/2d, float64,
randomized: the whole model's loss, every parameter's gradient, the input's gradient through a
layer below, and the running statistics, in training and in evaluation mode."""
import numpy as np
import pytest
import torch

from experiments.models import parse_model
from experiments.training import fit
from kernels import codes, losses
from kernels.engine import loss_and_gradient
from kernels.plan import BatchNorm, Conv, Dense, build_plan

SEEDS = range(4)


def _torch_model(plan, params, image, momentum, eps):
    """The torch twin of [Dense or Conv (no bias), BatchNorm, Dense] with our parameters."""
    p = torch.tensor(params)
    if image:
        c_in, h, w = image
        c = plan.net.table[0, codes.COL_C_OUT]
        k = plan.net.table[0, codes.COL_K]
        layer = torch.nn.Conv2d(c_in, c, k, bias=False, dtype=torch.float64)
        layer.weight.data = p[: c * c_in * k * k].reshape(c, c_in, k, k).clone()
        norm = torch.nn.BatchNorm2d(c, momentum=momentum, eps=eps, dtype=torch.float64)
        at = c * c_in * k * k
    else:
        n_in, c = plan.n_in, plan.net.table[0, codes.COL_OUT_DIM]
        layer = torch.nn.Linear(n_in, c, bias=False, dtype=torch.float64)
        layer.weight.data = p[: n_in * c].reshape(n_in, c).T.clone()
        norm = torch.nn.BatchNorm1d(c, momentum=momentum, eps=eps, dtype=torch.float64)
        at = n_in * c
    norm.weight.data, norm.bias.data = p[at : at + c].clone(), p[at + c : at + 2 * c].clone()
    width = plan.net.table[2, codes.COL_IN_DIM]
    head = torch.nn.Linear(width, plan.n_out, dtype=torch.float64)
    at += 2 * c
    head.weight.data = p[at : at + width * plan.n_out].reshape(width, plan.n_out).T.clone()
    head.bias.data = p[at + width * plan.n_out :].clone()
    return layer, norm, head


def _torch_gradient(layer, norm, head):
    """Our flat gradient's layout from the torch modules' gradients."""
    first = layer.weight.grad
    first = first.reshape(-1) if first.dim() == 4 else first.T.reshape(-1)
    return np.concatenate([first.numpy(), norm.weight.grad.numpy(), norm.bias.grad.numpy(),
                           head.weight.grad.T.reshape(-1).numpy(), head.bias.grad.numpy()])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("image", [None, (2, 5, 4)], ids=["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_equals_torch(seed, training, image):
    rng = np.random.default_rng(seed)
    momentum, eps = float(rng.uniform(0.05, 0.5)), float(10.0 ** rng.uniform(-6, -2))
    rows, n_out = int(rng.integers(2, 7)), 3
    if image:
        layers = [Conv(int(rng.integers(1, 4)), 3, bias=False), BatchNorm(momentum, eps, spatial=True), Dense(n_out)]
        plan = build_plan(image, layers)
    else:
        plan = build_plan(4, [Dense(int(rng.integers(2, 6)), bias=False), BatchNorm(momentum, eps), Dense(n_out)])
    params = plan.init_params(rng, np.float64)
    params[plan.blocks[1][0] : plan.blocks[2][0] + plan.blocks[2][1].size] = rng.standard_normal(
        plan.blocks[1][1].size + plan.blocks[2][1].size)  # γ and β away from 1 and 0
    buffers = plan.init_buffers(np.float64)
    c = buffers.size // 2
    buffers[:] = np.concatenate([rng.standard_normal(c), rng.uniform(0.5, 2, c)])  # running mean, variance
    x, y = rng.standard_normal((rows, plan.n_in)), rng.standard_normal((rows, n_out))

    layer, norm, head = _torch_model(plan, params, image, momentum, eps)
    norm.running_mean.data, norm.running_var.data = torch.tensor(buffers[:c]), torch.tensor(buffers[c:])
    norm.train(training)
    tx = torch.tensor(x.reshape(rows, *image) if image else x)
    pred = head(norm(layer(tx)).reshape(rows, -1))
    expected = ((pred - torch.tensor(y)) ** 2).sum(1).mean()
    expected.backward()

    grads = np.empty_like(params)
    loss = loss_and_gradient(plan.net, losses.CODES["mse"], params, buffers, x, y, grads, training)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grads, _torch_gradient(layer, norm, head), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(buffers, np.concatenate([norm.running_mean.numpy(), norm.running_var.numpy()]),
                               rtol=1e-12)


def test_a_batch_of_one_uses_the_running_statistics():
    """At batch size 1 a dense layer's features have no batch variance: the layer normalizes with
    the running statistics, as in evaluation, and leaves them as they are."""
    rng = np.random.default_rng(0)
    plan = build_plan(4, [Dense(3), BatchNorm(), Dense(2)])
    params, x, y = plan.init_params(rng, np.float64), rng.standard_normal((1, 4)), rng.standard_normal((1, 2))
    buffers = np.concatenate([rng.standard_normal(3), rng.uniform(0.5, 2, 3)])
    kept = buffers.copy()
    g_train, g_eval = np.empty_like(params), np.empty_like(params)
    train_loss = loss_and_gradient(plan.net, losses.CODES["mse"], params, buffers, x, y, g_train, True)
    eval_loss = loss_and_gradient(plan.net, losses.CODES["mse"], params, buffers, x, y, g_eval, False)
    assert train_loss == eval_loss
    np.testing.assert_array_equal(g_train, g_eval)
    np.testing.assert_array_equal(buffers, kept)


def test_training_moves_the_running_statistics_by_the_momentum_rule():
    """Through fit, full batch, τ = 0 (the layer below stays put): after 3 steps the running
    mean is (1 − 0.9³) μ and the running variance 0.9³ + (1 − 0.9³) σ²_unbiased."""
    rng = np.random.default_rng(1)
    plan = build_plan(3, parse_model("dense5-bn-tanh") + [Dense(2)])
    x = rng.standard_normal((32, 3)) * 3 + 5
    y = rng.standard_normal((32, 2))
    result = fit(x, y, plan, plan.init_params(rng, np.float64), loss="mse", optimizer="sgd",
                 hyper=dict(lr=0.0), epochs=3, batch_size=32, seed=0)
    mean, var = result.buffers[:5], result.buffers[5:]
    w = result.params[:15].reshape(3, 5)  # lr = 0: the weights are the initial ones
    h = x @ w + result.params[15:20]
    expected_mean = (1 - (1 - 0.1) ** 3) * h.mean(axis=0)
    expected_var = (1 - 0.1) ** 3 + (1 - (1 - 0.1) ** 3) * h.var(axis=0, ddof=1)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(var, expected_var, rtol=1e-12)
