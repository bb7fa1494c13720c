"""The plan-walking engine: gradients of whole models, the book's oracle, the training loop."""
import numpy as np
import pytest

from experiments.training import fit
from kernels import codes, losses
from kernels.engine import loss_and_gradient
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

RNG = np.random.default_rng(3)


def mlp():
    return build_plan(3, [Dense(8), Activation("tanh"), Dense(5), Activation("relu"), Dense(2, bias=False)])


def test_plan_layout():
    plan = mlp()
    assert plan.n_params == 3 * 8 + 8 + 8 * 5 + 5 + 5 * 2
    assert plan.net.table.shape == (5, codes.N_COLS) and plan.n_out == 2
    cnn = build_plan((1, 8, 8), [Conv(4, 3, pad=1), Pool(2), Residual(5), Dense(10)])
    assert cnn.n_params == 4 * 9 + 4 + (2 * 64 * 5 + 5) + 64 * 10 + 10
    assert cnn.n_out == 10


@pytest.mark.parametrize("layers, message", [
    ([Activation("nope")], "unknown activation"),
    ([Conv(2, 3)], "image input"),
    ([Dense(0)], "at least 1 output"),
    ([Dropout(1.0)], "dropout rate"),
    ([Dense(2), BatchNorm(momentum=float("nan"))], "momentum must be in"),
    ([Dense(2), BatchNorm(eps=0.0)], "ε must be > 0"),
    ([Dense(2), BatchNorm(spatial=True)], "needs image input"),
])
def test_plan_rejects_bad_layers(layers, message):
    with pytest.raises(ValueError, match=message):
        build_plan(4, layers)


def test_conv_that_does_not_fit_is_rejected():
    with pytest.raises(ValueError, match="does not fit"):
        build_plan((1, 4, 4), [Conv(2, 5)])


def test_penalty_mask_excludes_biases_by_default():
    plan = build_plan(2, [Dense(3), Activation("relu"), Dense(1)])
    np.testing.assert_array_equal(plan.penalty_mask(False, float), [1] * 6 + [0] * 3 + [1] * 3 + [0])
    assert plan.penalty_mask(True, float).all()


def test_example_4_2_1_oracle():
    """Berlyand & Jabin Example 4.2.1 (L389-427): the ReLU network maps (1, 0, 6) to (295, 101)."""
    a1 = np.array([[4, 2, -5], [5, 4, 6], [0, 3, 2], [2, 2, -3], [-7, 1, -4]], float)
    b1 = np.array([-2, 3, 5, -2, 7], float)
    a2 = np.array([[-2, 6, 2, -5, 0], [-3, 0, 6, 1, 2]], float)
    b2 = np.array([-3, -1], float)
    plan = build_plan(3, [Dense(5), Activation("relu"), Dense(2), Activation("relu")])
    params = np.concatenate([a1.T.ravel(), b1, a2.T.ravel(), b2])  # W = Aᵀ (kernels.dense)
    x = np.array([[1.0, 0.0, 6.0]])
    target = np.array([[295.0, 101.0]])
    assert loss_and_gradient(plan.net, losses.CODES["mse"], params, np.zeros(0), x, target, np.empty_like(params)) == 0.0


def run(plan, x, y, params, epochs, batch_size, lr, seed=0, optimizer="sgd", **hyper):
    """Train through experiments.training.fit; returns (epochs done, train losses, train times)."""
    result = fit(x, y, plan, params, loss="mse", optimizer=optimizer, hyper=dict(lr=lr, **hyper),
                 epochs=epochs, batch_size=batch_size, seed=seed)
    return result.epochs_done, result.column(codes.HIST_FIT_LOSS), result.column(codes.HIST_TRAIN_TIME)


def test_full_batch_equals_numpy_gradient_descent():
    plan = build_plan(4, [Dense(3, bias=False)])
    x, y = RNG.standard_normal((50, 4)), RNG.standard_normal((50, 3))
    params = plan.init_params(RNG, np.float64)
    w = params.reshape(4, 3).copy()
    done, losses, _ = run(plan, x, y, params, 5, 50, 0.1)
    for _ in range(5):
        w -= 0.1 * (2 / 50) * x.T @ (x @ w - y)  # (8.16) in the W = Aᵀ layout
    assert done == 5
    np.testing.assert_allclose(params.reshape(4, 3), w, rtol=1e-12)
    assert losses[-1] == pytest.approx(np.mean(np.sum((x @ w - y) ** 2, axis=1)), rel=1e-12)


def test_l2_penalty_is_weight_decay():
    """GD with λ₂ equals GD on the loss plus (λ₂/2)||W||², biases not penalized."""
    plan = build_plan(4, [Dense(3)])
    x, y = RNG.standard_normal((20, 4)), RNG.standard_normal((20, 3))
    params = plan.init_params(RNG, np.float64)
    w, b = params[:12].reshape(4, 3).copy(), params[12:].copy()
    run(plan, x, y, params, 3, 20, 0.05, l2=0.5)
    for _ in range(3):
        r = (2 / 20) * (x @ w + b - y)
        w, b = w - 0.05 * (x.T @ r + 0.5 * w), b - 0.05 * r.sum(axis=0)
    np.testing.assert_allclose(params, np.concatenate([w.ravel(), b]), rtol=1e-12)


def test_each_sample_once_per_epoch():
    """With a tiny step every gradient is taken at the start, so one epoch of b = 8 moves the
    parameters by lr · (N/b) · (full gradient) only if every sample is used exactly once."""
    plan = build_plan(2, [Dense(1, bias=False)])
    x, y = RNG.standard_normal((40, 2)), RNG.standard_normal((40, 1))
    p = np.zeros(2)
    run(plan, x, y, p, 1, 8, 1e-9, seed=5)
    full = np.zeros(2)
    run(plan, x, y, full, 1, 40, 1e-9 * 5)
    np.testing.assert_allclose(p, full, rtol=1e-6)


def test_seeded_and_shuffled():
    plan = build_plan(3, [Dense(6), Dropout(0.3), Dense(2)])
    x, y = RNG.standard_normal((64, 3)), RNG.standard_normal((64, 2))
    p0 = plan.init_params(RNG, np.float64)
    a, b, c = p0.copy(), p0.copy(), p0.copy()
    run(plan, x, y, a, 3, 4, 0.05, seed=1)
    run(plan, x, y, b, 3, 4, 0.05, seed=1)
    run(plan, x, y, c, 3, 4, 0.05, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_divergence_stops_and_reports_the_epoch():
    plan = build_plan(3, [Dense(2)])
    x, y = RNG.standard_normal((32, 3)) * 10, RNG.standard_normal((32, 2))
    done, losses, _ = run(plan, x, y, plan.init_params(RNG, np.float64), 500, 32, 10.0)
    assert done < 500 and not np.isfinite(losses[done]) and np.all(np.isfinite(losses[:done]))


def test_float32_trains_like_float64():
    plan = build_plan(3, [Dense(2)])
    x, y = RNG.standard_normal((64, 3)), RNG.standard_normal((64, 2))
    p = plan.init_params(RNG, np.float64)
    _, l64, t64 = run(plan, x, y, p.copy(), 10, 8, 0.05)
    p32 = p.astype(np.float32)
    _, l32, _ = run(plan, x.astype(np.float32), y.astype(np.float32), p32, 10, 8, 0.05)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-4)
    assert np.all(np.diff(t64) >= 0)


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [1, 1, 1, 1]), ("step", [1, 1, 0.5, 0.5]), ("exponential", [1, 0.5, 0.25, 0.125]),
    ("inverse", [1, 1 / 1.5, 0.5, 0.4]), ("cosine", [1, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2]),
])
def test_schedules_record_the_rate_of_each_epoch(schedule, expected):
    plan = build_plan(2, [Dense(1)])
    x, y = RNG.standard_normal((8, 2)), RNG.standard_normal((8, 1))
    result = fit(x, y, plan, plan.init_params(RNG, np.float64), loss="mse", optimizer="sgd", epochs=4,
                 hyper=dict(lr=1e-3, decay=0.5, step=2), batch_size=4, seed=0, schedule=schedule)
    np.testing.assert_allclose(result.column(codes.HIST_LR)[1:], 1e-3 * np.array(expected))


def test_test_set_is_monitored_and_accuracy_recorded():
    plan = build_plan(2, [Dense(8), Activation("tanh"), Dense(2)])
    x = RNG.standard_normal((200, 2))
    labels = (x[:, 0] * x[:, 1] > 0).astype(int)
    y = np.eye(2)[labels]
    result = fit(x[:150], y[:150], plan, plan.init_params(RNG, np.float64), loss="softmax-ce", optimizer="adam",
                 hyper=dict(lr=0.05), epochs=60, batch_size=10, seed=0, test_set=(x[150:], y[150:]))
    h = result.history
    assert h[-1, codes.HIST_FIT_LOSS] < h[0, codes.HIST_FIT_LOSS]
    assert h[-1, codes.HIST_TEST_ACC] > 0.85 and np.all((h[:, codes.HIST_FIT_ACC] >= 0) & (h[:, codes.HIST_FIT_ACC] <= 1))


NAN_MODELS = {
    "conv": ((2, 4, 4), [Conv(2, 3, pad=1)]), "maxpool": ((2, 4, 4), [Pool(2)]),
    "avgpool": ((2, 4, 4), [Pool(2, kind="avg")]), "bn2d": ((2, 4, 4), [BatchNorm(spatial=True)]),
    "bn": (4, [BatchNorm()]), "dropout": (4, [Dropout(0.5)]), "residual": (4, [Residual(3)]),
    **{name: (4, [Dense(3), Activation(name)]) for name, (*_, differentiable) in codes.ACTIVATIONS.items()
       if differentiable},
}


@pytest.mark.parametrize("kind", NAN_MODELS)
@pytest.mark.parametrize("training", [False, True])
def test_a_nan_in_the_input_reaches_the_output_and_every_loss(kind, training):
    """Divergence detection relies on NaN propagating: one NaN input entry makes its sample's
    output NaN (evaluation mode; in training mode batch norm spreads it to the batch) and the
    loss NaN, for every layer kind, differentiable activation and loss."""
    from kernels.engine import predict

    shape, layers = NAN_MODELS[kind]
    plan = build_plan(shape, layers + [Dense(2)])
    rng = np.random.default_rng(3)
    params, buffers = plan.init_params(rng, np.float64), plan.init_buffers(np.float64)
    x = rng.standard_normal((3, plan.n_in))
    x[1, 0] = np.nan
    out = np.empty((3, plan.n_out))
    predict(plan.net, params, buffers, x, out)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    y = np.zeros((3, plan.n_out))
    y[:, 0] = 1
    for loss, code in losses.CODES.items():
        value = loss_and_gradient(plan.net, code, params, buffers, x, y, np.empty(plan.n_params), training=training)
        assert np.isnan(value), loss
