"""The plan-walking engine: gradients of whole models, the book's oracle, the training loop."""
import numpy as np
import pytest

from kernels.engine import loss_and_gradient, train
from kernels.gradcheck import taylor_test
from kernels.plan import LOSS_MSE, OPT_SGD, Activation, Dense, build_plan

RNG = np.random.default_rng(3)


def mlp():
    return build_plan(3, [Dense(8), Activation("tanh"), Dense(5), Activation("relu"), Dense(2, bias=False)])


def test_plan_layout():
    plan = mlp()
    assert plan.n_params == 3 * 8 + 8 + 8 * 5 + 5 + 5 * 2
    assert plan.table.shape == (5, 7) and plan.n_out == 2
    with pytest.raises(ValueError):
        build_plan(3, [Activation("nope")])


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
    assert loss_and_gradient(plan.table, LOSS_MSE, params, x, target, np.empty_like(params)) == 0.0


@pytest.mark.parametrize("plan_fn", [mlp, lambda: build_plan(4, [Dense(64, bias=False)])])
def test_model_gradient_taylor(plan_fn):
    plan = plan_fn()
    x = RNG.standard_normal((16, plan.n_in))
    y = RNG.standard_normal((16, plan.n_out))
    params = plan.init_params(RNG, np.float64)
    grads = np.empty_like(params)

    def f(p):
        return loss_and_gradient(plan.table, LOSS_MSE, p, x, y, grads)

    def grad(p):
        g = np.empty_like(p)
        loss_and_gradient(plan.table, LOSS_MSE, p, x, y, g)
        return g
    result = taylor_test(f, grad, params, RNG)
    assert result.passed, (result.ratio0, result.ratio1)


def run(plan, x, y, params, epochs, batch_size, lr, seed=0, shuffle=True):
    curves = [np.zeros(epochs + 1) for _ in range(3)]
    done = train(x, y, plan.table, LOSS_MSE, OPT_SGD, np.array([lr], x.dtype), params, epochs,
                 batch_size, shuffle, seed, 64, *curves)
    return done, curves[0], curves[1]


def test_full_batch_equals_numpy_gradient_descent():
    plan = build_plan(4, [Dense(3, bias=False)])
    x, y = RNG.standard_normal((50, 4)), RNG.standard_normal((50, 3))
    params = plan.init_params(RNG, np.float64)
    w = params.reshape(4, 3).copy()
    done, losses, _ = run(plan, x, y, params, 5, 50, 0.1, shuffle=False)
    for _ in range(5):
        w -= 0.1 * (2 / 50) * x.T @ (x @ w - y)  # (8.16) in the W = Aᵀ layout
    assert done == 5
    np.testing.assert_allclose(params.reshape(4, 3), w, rtol=1e-12)
    assert losses[-1] == pytest.approx(np.mean(np.sum((x @ w - y) ** 2, axis=1)), rel=1e-12)


def test_each_sample_once_per_epoch():
    """With a tiny step every gradient is taken at the start, so one epoch of b = 8 moves the
    parameters by lr · (N/b) · (full gradient) only if every sample is used exactly once."""
    plan = build_plan(2, [Dense(1, bias=False)])
    x, y = RNG.standard_normal((40, 2)), RNG.standard_normal((40, 1))
    p = np.zeros(2)
    run(plan, x, y, p, 1, 8, 1e-9, seed=5)
    full = np.zeros(2)
    run(plan, x, y, full, 1, 40, 1e-9 * 5, shuffle=False)
    np.testing.assert_allclose(p, full, rtol=1e-6)


def test_seeded_and_shuffled():
    plan = build_plan(3, [Dense(2)])
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
