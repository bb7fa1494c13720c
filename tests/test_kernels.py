"""Every kernel: against numpy, and through the Taylor test (Treister §6.3)."""
import numba
import numpy as np
import pytest

from kernels.activations import activation_backward, activation_forward
from kernels.codes import ACT_RELU
from kernels.dense import BLAS_MIN_WORK, dense_backward, dense_forward
from kernels.gradcheck import taylor_test
from kernels.loss import loss_backward, loss_forward
from kernels.losses import CODES as LOSSES

RNG = np.random.default_rng(7)

# (batch, n_in, n_out): hand loops (unrolled blocks of four and their remainders) and BLAS.
DENSE_SHAPES = [(1, 4, 64), (5, 3, 7), (6, 7, 5), (64, 32, 32)]


def test_shapes_cover_both_dense_paths():
    work = [b * i * o for b, i, o in DENSE_SHAPES]
    assert min(work) < BLAS_MIN_WORK <= max(work)


@pytest.mark.parametrize("shape", DENSE_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_dense_matches_numpy(shape, bias, dtype, tol):
    b, n_in, n_out = shape
    x, w, dy = (RNG.standard_normal(s).astype(dtype) for s in ((b, n_in), (n_in, n_out), (b, n_out)))
    bias_v = RNG.standard_normal(n_out).astype(dtype) if bias else np.zeros(0, dtype)
    y = np.empty((b, n_out), dtype)
    dense_forward(x, w, bias_v, y)
    np.testing.assert_allclose(y, x @ w + (bias_v if bias else 0), rtol=tol, atol=tol)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(bias_v)
    dense_backward(dy, x, w, dx, dw, db)
    np.testing.assert_allclose(dx, dy @ w.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, x.T @ dy, rtol=tol, atol=tol)
    if bias:
        np.testing.assert_allclose(db, dy.sum(axis=0), rtol=tol, atol=tol)


def test_dense_backward_can_skip_input_gradient():
    x, w, dy = RNG.standard_normal((3, 2)), RNG.standard_normal((2, 4)), RNG.standard_normal((3, 4))
    dw, db = np.empty((2, 4)), np.empty(4)
    dense_backward(dy, x, w, np.empty((0, 2)), dw, db)
    np.testing.assert_allclose(dw, x.T @ dy)


def _half_square(forward, backward_from, inputs, target):
    """f = ½||forward(inputs) − target||² and its gradient through the kernel's backward."""
    def f(theta):
        return 0.5 * np.sum((forward(theta) - target) ** 2)

    def grad(theta):
        return backward_from(theta, forward(theta) - target)
    return f, grad


@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_dense_taylor(shape):
    b, n_in, n_out = shape
    sizes = [b * n_in, n_in * n_out, n_out]

    def split(theta):
        x, w, bias = np.split(theta, np.cumsum(sizes)[:-1])
        return x.reshape(b, n_in), w.reshape(n_in, n_out), bias

    def forward(theta):
        x, w, bias = split(theta)
        y = np.empty((b, n_out))
        dense_forward(x, w, bias, y)
        return y

    def backward(theta, dy):
        x, w, bias = split(theta)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(bias)
        dense_backward(dy, x, w, dx, dw, db)
        return np.concatenate([dx.ravel(), dw.ravel(), db])

    theta = RNG.standard_normal(sum(sizes))
    f, grad = _half_square(forward, backward, theta, RNG.standard_normal((b, n_out)))
    result = taylor_test(f, grad, theta, RNG)
    assert result.passed, (result.ratio0, result.ratio1)


def test_taylor_test_rejects_a_wrong_gradient():
    f = lambda v: float(np.sum(np.sin(v)))
    wrong = lambda v: np.cos(v) * 1.01
    right = taylor_test(f, np.cos, RNG.standard_normal(5), RNG)
    bad = taylor_test(f, wrong, RNG.standard_normal(5), RNG)
    assert right.passed and not bad.passed
    assert bad.ratio1 == pytest.approx(2, abs=0.2)


def test_relu_values_and_derivative_at_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    y, dx = np.empty_like(x), np.empty_like(x)
    activation_forward(ACT_RELU, 0.0, 0.0, x, y)
    activation_backward(ACT_RELU, 0.0, 0.0, np.ones_like(x), x, y, dx)
    np.testing.assert_array_equal(y, [[0, 0, 2]])
    np.testing.assert_array_equal(dx, [[0, 0, 1]])  # ReLU'(0) = 0


def test_mse_is_the_books_form():
    pred, target = RNG.standard_normal((6, 3)), RNG.standard_normal((6, 3))
    assert loss_forward(LOSSES["mse"], pred, target) == pytest.approx(np.mean(np.sum((pred - target) ** 2, axis=1)))
    d = np.empty_like(pred)
    loss_backward(LOSSES["mse"], pred, target, d)
    np.testing.assert_allclose(d, 2 * (pred - target) / 6)


def test_mse_computes_in_float32():
    """Constants are in the array's dtype: the compiled float32 loss returns float32."""
    pred = np.ones((2, 2), np.float32)
    loss_forward(LOSSES["mse"], pred, pred * 0)
    returns = {s.return_type for s in loss_forward.nopython_signatures if s.args[1].dtype == numba.float32}
    assert returns == {numba.float32}


def test_counter_based_draws_are_uniform_and_keyed():
    """kernels.random: 10^5 draws of one stream have the mean and variance of U(0, 1) within
    5 standard errors, and another step or layer gives another stream."""
    from numba import njit

    from kernels.random import stream_key, uniform

    @njit
    def draws(n, seed, step, layer):
        key = stream_key(seed, step, layer)
        return np.array([uniform(key, i) for i in range(n)])

    u = draws(100_000, 3, 1, 0)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / u.size)
    assert not np.array_equal(u[:100], draws(100, 3, 2, 0)) and not np.array_equal(u[:100], draws(100, 3, 1, 1))
    np.testing.assert_array_equal(u[:100], draws(100, 3, 1, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squareplus_is_exact_at_extreme_inputs(dtype):
    """No overflow of x² at ±1e300 (float64) or ±1e30 (float32) and no cancellation for very
    negative x: within 4 ulp of (x + √(x² + 1)) / 2 and its derivative in 80-digit decimals
    (for x < 0 through the identity x + √(x² + 1) = 1 / (√(x² + 1) − x))."""
    from decimal import Decimal, localcontext

    from kernels.codes import ACT_SQUAREPLUS

    big = 1e300 if dtype == np.float64 else 1e30
    x = np.array([[-big, -1e6, -1000.0, -3.0, 0.0, 2.5, 1e6, big]], dtype)
    y, dx = np.empty_like(x), np.empty_like(x)
    activation_forward(ACT_SQUAREPLUS, dtype(1), dtype(0), x, y)
    activation_backward(ACT_SQUAREPLUS, dtype(1), dtype(0), np.ones_like(x), x, y, dx)
    tiny, ulp = float(np.finfo(dtype).tiny), float(np.finfo(dtype).eps)
    with localcontext() as context:
        context.prec = 80
        for v, f, g in zip(x[0], y[0], dx[0]):
            q = Decimal(float(v))
            root = (q * q + 1).sqrt()
            exact_f = (q + root) / 2 if q >= 0 else 1 / (2 * (root - q))
            exact_g = (1 + q / root) / 2 if q >= 0 else 1 / (2 * (root - q) * root)
            assert float(f) == pytest.approx(float(exact_f), rel=4 * ulp, abs=tiny), v
            assert float(g) == pytest.approx(float(exact_g), rel=4 * ulp, abs=tiny), v
