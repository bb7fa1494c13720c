"""Every kernel passes the Taylor, Jacobian and transpose tests (the same as `runner check`)."""
import numpy as np
import pytest

from kernels import codes, losses
from kernels.checks import Case, all_cases, run_check
from kernels.engine import forward_differences, loss_and_gradient
from kernels.plan import Activation, Dense, Dropout, build_plan
from kernels.timing import EPS, LEAK

CASES = all_cases(np.random.default_rng(0))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kernel_derivatives(case):
    result = run_check(case, np.random.default_rng(1))
    assert result.passed, result


def test_a_wrong_backward_fails_the_checks():
    """The checks can fail: a backward 1 % off, or one that drops a term, is caught."""
    dense = next(c for c in CASES if c.name == "dense")
    scaled = Case("scaled", dense.theta, dense.forward, lambda t, u: 1.01 * dense.vjp(t, u))
    assert not run_check(scaled, np.random.default_rng(1)).passed
    dropped = Case("dropped", dense.theta, dense.forward, lambda t, u: np.where(np.arange(t.size) < 15, 0, 1) * dense.vjp(t, u))
    assert not run_check(dropped, np.random.default_rng(1)).passed


def test_every_differentiable_kernel_has_a_case():
    names = " ".join(c.name for c in CASES)
    for name, (*_, differentiable) in codes.ACTIVATIONS.items():
        assert (f"activation {name}" in names) == differentiable
    for loss in losses.CODES:
        assert f"loss {loss}" in names
    for kernel in ("dense", "conv", "maxpool", "avgpool", "dropout", "penalty", "residual"):
        assert kernel in names


def test_runner_check_covers_every_layer_kind_in_both_modes():
    from kernels.checks import EVERY_KIND
    from kernels.layers import KINDS

    models = [c for c in CASES if c.name.startswith("model of every layer kind")]
    assert [c.name.endswith("(training)") for c in models] == [False, True]
    assert {type(layer) for layer in EVERY_KIND} == {kind.spec for kind in KINDS}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_evaluation_mode_gradient_with_dropout_is_the_gradient_without_it(dtype):
    """In evaluation mode dropout is the identity, and so is its backward (it used to multiply
    by a mask buffer that the evaluation forward never drew)."""
    rng = np.random.default_rng(0)
    layers = [Dense(6), Activation("tanh"), Dense(5), Dense(3)]
    with_dropout = build_plan(4, [*layers[:2], Dropout(0.5), *layers[2:]])
    without = build_plan(4, layers)
    theta = with_dropout.init_params(rng, dtype)
    x, y = rng.standard_normal((7, 4)).astype(dtype), rng.standard_normal((7, 3)).astype(dtype)
    grads = {}
    for name, plan in (("with", with_dropout), ("without", without)):
        grads[name] = np.full_like(theta, np.nan)
        loss = loss_and_gradient(plan.net, losses.CODES["mse"], theta, plan.init_buffers(dtype), x, y, grads[name])
        grads[name + " loss"] = loss
    assert grads["with loss"] == grads["without loss"]
    np.testing.assert_array_equal(grads["with"], grads["without"])


def test_exercise_9_8_backprop_equals_the_books_recurrence_and_differences():
    """The engine's gradient of the exercise's one-neuron network equals the book's BP listing
    (L2295-2304, dedented) to rounding, and forward differences with ε = 0.001 to O(ε)."""
    layers = 5
    plan = build_plan(1, [layer for _ in range(layers) for layer in (Dense(1), Activation("prelu", LEAK))])
    rng = np.random.default_rng(3)
    a, b, x = rng.uniform(0.8, 1.2, layers), rng.uniform(-0.1, 0.1, layers), rng.uniform(0, 1)
    params = np.ravel(np.column_stack([a, b]))

    def relu(v):
        return v if v > 0 else LEAK * v

    def drelu(v):
        return 1.0 if v > 0 else LEAK

    h = [x]
    for i in range(layers):
        h.append(relu(a[i] * h[i] + b[i]))
    dh = [2 * h[layers]]  # dL/dh_{i+1}, built from the last layer down
    for i in range(layers - 1, 0, -1):
        dh.insert(0, dh[0] * drelu(a[i] * h[i] + b[i]) * a[i])
    book = np.ravel(np.column_stack([[dh[i] * drelu(a[i] * h[i] + b[i]) * h[i] for i in range(layers)],
                                     [dh[i] * drelu(a[i] * h[i] + b[i]) for i in range(layers)]]))
    grads, differences = np.empty_like(params), np.empty_like(params)
    loss = loss_and_gradient(plan.net, losses.CODES["mse"], params, np.zeros(0), np.array([[x]]), np.zeros((1, 1)), grads)
    assert loss == pytest.approx(h[layers] ** 2, rel=1e-14)
    np.testing.assert_allclose(grads, book, rtol=1e-12)
    forward_differences(plan.net, losses.CODES["mse"], params, np.zeros(0), np.array([[x]]), np.zeros((1, 1)), EPS,
                        differences)
    assert np.max(np.abs(differences - grads)) < 10 * EPS * np.max(np.abs(grads))


def test_runner_check_timing_prints_both_sizes():
    from typer.testing import CliRunner

    from runner.cli import app

    result = CliRunner().invoke(app, ["check", "--timing"])
    assert result.exit_code == 0 and "doubling the layers" in result.output
    assert [line.split()[0] for line in result.output.splitlines()[1:3]] == ["30", "60"]
