"""The derivative checks of every kernel (Treister §6.3), as used by ``runner check`` and the tests.

Each case is a kernel seen as a map θ ↦ y(θ) of its differentiable inputs, flattened, with
its backward as the vector-Jacobian product u ↦ Jᵀu. Three tests per case:
- Taylor: f(θ) = ½||y(θ) − t||² with gradient Jᵀ(y − t): ratios ≈ 2 and ≈ 4 as ε halves;
- Jacobian: J assembled from the backward (one Jᵀe_i per output) against y(θ + εd);
- transpose: uᵀ(J v) = vᵀ(Jᵀ u), with J v by central differences (exact up to rounding for the
  bilinear and piecewise-linear kernels: dense, conv, pooling, dropout; O(h²) for the others).
Inputs are drawn away from kinks (ReLU at 0, pooling ties) so that the maps are smooth there.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kernels import codes
from kernels.activations import activation_backward, activation_forward
from kernels.conv import conv2d_backward, conv2d_forward, output_size
from kernels.dense import dense_backward, dense_forward
from kernels.dropout import dropout_backward, dropout_forward
from kernels.engine import loss_and_gradient
from kernels.gradcheck import TaylorResult, jacobian_test, taylor_test, transpose_test
from kernels.losses import loss_backward, loss_forward
from kernels.plan import Activation, Conv, Dense, Pool, Residual, build_plan
from kernels.pool import (
    avgpool_backward,
    avgpool_forward,
    maxpool_backward,
    maxpool_forward,
)
from kernels.regularizers import penalty, penalty_gradient

TRANSPOSE_TOL = 1e-6


@dataclass(frozen=True)
class Case:
    """A kernel as θ (n,) ↦ y (m,) with its vector-Jacobian product (θ, u (m,)) ↦ (n,)."""

    name: str
    theta: np.ndarray
    forward: Callable[[np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CheckResult:
    name: str
    taylor: TaylorResult
    jacobian: TaylorResult
    transpose: float  # relative error of the transpose test

    @property
    def passed(self) -> bool:
        return self.taylor.passed and self.jacobian.passed and self.transpose < TRANSPOSE_TOL


def run_check(case: Case, rng: np.random.Generator) -> CheckResult:
    """The three tests of ``case``."""
    theta = case.theta
    y0 = case.forward(theta)
    target = y0 + rng.standard_normal(y0.shape)

    def f(t):
        return 0.5 * float(np.sum((case.forward(t) - target) ** 2))

    taylor = taylor_test(f, lambda t: case.vjp(t, case.forward(t) - target), theta, rng)
    jac = np.array([case.vjp(theta, e) for e in np.eye(y0.size)])  # (m, n), rows Jᵀe_i
    jacobian = jacobian_test(case.forward, lambda t, d: jac @ d, theta, rng)
    h = 1e-5 * max(1.0, float(np.linalg.norm(theta)))

    def jvp(v):  # central difference along the unit vector, scaled back by ||v||
        norm = np.linalg.norm(v)
        step = h * v / norm
        return norm * (case.forward(theta + step) - case.forward(theta - step)) / (2 * h)

    transpose = transpose_test(jvp, lambda u: case.vjp(theta, u), theta.size, y0.size, rng)
    return CheckResult(case.name, taylor, jacobian, transpose)


def _splitter(*shapes):
    sizes = [int(np.prod(s)) for s in shapes]
    cuts = np.cumsum(sizes)[:-1]

    def split(theta):
        return [part.reshape(s) for part, s in zip(np.split(theta, cuts), shapes)]
    return split, sum(sizes)


def _away_from_zero(a, margin=0.2):
    return a + margin * np.sign(a)


def dense_case(rng, batch=3, n_in=5, n_out=4) -> Case:
    split, n = _splitter((batch, n_in), (n_in, n_out), (n_out,))

    def forward(theta):
        x, w, b = split(theta)
        y = np.empty((batch, n_out))
        dense_forward(x, w, b, y)
        return y.ravel()

    def vjp(theta, u):
        x, w, b = split(theta)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        dense_backward(u.reshape(batch, n_out), x, w, dx, dw, db)
        return np.concatenate([dx.ravel(), dw.ravel(), db])
    return Case("dense", rng.standard_normal(n), forward, vjp)


def activation_case(rng, name) -> Case:
    code, beta, gamma, _ = codes.ACTIVATIONS[name]
    shape = (3, 5)

    def forward(theta):
        y = np.empty(shape)
        activation_forward(code, beta, gamma, theta.reshape(shape), y)
        return y.ravel()

    def vjp(theta, u):
        x = theta.reshape(shape)
        y, dx = np.empty(shape), np.empty(shape)
        activation_forward(code, beta, gamma, x, y)
        activation_backward(code, beta, gamma, u.reshape(shape), x, y, dx)
        return dx.ravel()
    return Case(f"activation {name}", _away_from_zero(rng.standard_normal(15)), forward, vjp)


def loss_case(rng, name) -> Case:
    code = codes.LOSSES[name]
    batch, n = 4, 3
    if name == "softmax-ce":
        target = np.eye(n)[rng.integers(n, size=batch)]
    elif name == "logistic":
        target = rng.integers(2, size=(batch, n)).astype(float)
    elif name == "hinge":
        target = rng.choice([-1.0, 1.0], size=(batch, n))
    else:
        target = rng.standard_normal((batch, n))
    pred0 = rng.standard_normal((batch, n))
    if name == "hinge":  # keep t·p away from the hinge at 1
        pred0 = target * (1 + _away_from_zero(pred0, 0.3))

    def forward(theta):
        return np.array([loss_forward(code, theta.reshape(batch, n), target)])

    def vjp(theta, u):
        d = np.empty((batch, n))
        loss_backward(code, theta.reshape(batch, n), target, d)
        return u[0] * d.ravel()
    return Case(f"loss {name}", pred0.ravel(), forward, vjp)


def conv_case(rng, batch=2, c_in=2, size=(6, 5), c_out=3, k=3, stride=2, pad=1) -> Case:
    h_out, w_out = (output_size(s, k, stride, pad) for s in size)
    split, n = _splitter((batch, c_in, *size), (c_out, c_in, k, k), (c_out,))
    cols = np.empty((batch, c_in * k * k, h_out * w_out))

    def forward(theta):
        x, w, b = split(theta)
        y = np.empty((batch, c_out, h_out, w_out))
        conv2d_forward(x, w, b, stride, pad, cols, y)
        return y.ravel()

    def vjp(theta, u):
        x, w, b = split(theta)
        forward(theta)
        dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty_like(b)
        conv2d_backward(u.reshape(batch, c_out, h_out, w_out), cols, w, stride, pad,
                        np.empty(cols.shape[1:]), np.empty((c_out, c_in * k * k)), dx, dw, db)
        return np.concatenate([dx.ravel(), dw.ravel(), db])
    return Case(f"conv k={k} s={stride} p={pad}", rng.standard_normal(n), forward, vjp)


def pool_case(rng, kind, k=2, stride=2, shape=(2, 2, 5, 4)) -> Case:
    out = (*shape[:2], (shape[2] - k) // stride + 1, (shape[3] - k) // stride + 1)
    theta = rng.permutation(np.prod(shape)).astype(float) / 10  # distinct: no ties

    def forward(t):
        y = np.empty(out)
        if kind == "max":
            maxpool_forward(k, stride, t.reshape(shape), y, np.empty(out, np.int64))
        else:
            avgpool_forward(k, stride, t.reshape(shape), y)
        return y.ravel()

    def vjp(t, u):
        dx = np.empty(shape)
        if kind == "max":
            argmax = np.empty(out, np.int64)
            maxpool_forward(k, stride, t.reshape(shape), np.empty(out), argmax)
            maxpool_backward(u.reshape(out), argmax, dx)
        else:
            avgpool_backward(k, stride, u.reshape(out), dx)
        return dx.ravel()
    return Case(f"{kind}pool k={k} s={stride}", theta, forward, vjp)


def dropout_case(rng, rate=0.3, shape=(4, 6)) -> Case:
    key = 11  # the same mask on every call

    def forward(theta):
        y, mask = np.empty(shape), np.empty(shape)
        dropout_forward(rate, key, theta.reshape(shape), mask, y)
        return y.ravel()

    def vjp(theta, u):
        y, mask, dx = np.empty(shape), np.empty(shape), np.empty(shape)
        dropout_forward(rate, key, theta.reshape(shape), mask, y)
        dropout_backward(u.reshape(shape), mask, dx)
        return dx.ravel()
    return Case(f"dropout {rate}", rng.standard_normal(np.prod(shape)), forward, vjp)


def penalty_case(rng, l1=0.3, l2=0.7) -> Case:
    mask = (rng.random(12) < 0.7).astype(float)

    def forward(theta):
        return np.array([penalty(theta, mask, l1, l2)])

    def vjp(theta, u):
        g = np.zeros_like(theta)
        penalty_gradient(theta, mask, l1, l2, g)
        return u[0] * g
    return Case("penalty L1+L2", _away_from_zero(rng.standard_normal(12)), forward, vjp)


def model_case(rng, name, input_shape, layers, loss="mse", rows=5) -> Case:
    """A whole plan through the engine's forward and backward, as a function of its parameters."""
    plan = build_plan(input_shape, layers)
    x = rng.standard_normal((rows, plan.n_in))
    if loss == "softmax-ce":  # rows of the target must sum to 1
        y = np.eye(plan.n_out)[rng.integers(plan.n_out, size=rows)]
    else:
        y = rng.standard_normal((rows, plan.n_out))
    code = codes.LOSSES[loss]

    def forward(theta):
        return np.array([loss_and_gradient(plan.table, plan.args, code, theta, x, y, np.empty_like(theta))])

    def vjp(theta, u):
        g = np.empty_like(theta)
        loss_and_gradient(plan.table, plan.args, code, theta, x, y, g)
        return u[0] * g
    return Case(f"model {name}", plan.init_params(rng, np.float64), forward, vjp)


def all_cases(rng: np.random.Generator) -> list[Case]:
    """Every kernel with a gradient, and whole models that chain them."""
    cases = [dense_case(rng)]
    cases += [activation_case(rng, n) for n, (*_, differentiable) in codes.ACTIVATIONS.items() if differentiable]
    cases += [loss_case(rng, n) for n in codes.LOSSES]
    cases += [conv_case(rng), conv_case(rng, k=2, stride=1, pad=0), pool_case(rng, "max"),
              pool_case(rng, "avg"), pool_case(rng, "max", k=3, stride=2), dropout_case(rng),
              penalty_case(rng)]
    cases += [
        model_case(rng, "residual", 4, [Residual(6, "tanh"), Dense(3)]),
        model_case(rng, "mlp", 4, [Dense(6), Activation("tanh"), Dense(5), Activation("softplus"), Dense(3)],
                   loss="softmax-ce"),
        model_case(rng, "cnn", (2, 7, 7), [Conv(3, 3, pad=1), Activation("tanh"), Pool(2, kind="avg"),
                                           Conv(2, 2), Activation("sigmoid"), Dense(3)], loss="softmax-ce"),
    ]
    return cases


def check_all(seed: int = 0) -> list[CheckResult]:
    rng = np.random.default_rng(seed)
    return [run_check(case, rng) for case in all_cases(rng)]
