"""The derivative checks of every kernel (Treister §6.3), as used by ``runner check`` and the tests.

Each case is a kernel seen as a map θ ↦ y(θ) of its differentiable inputs, flattened, with
its backward as the vector-Jacobian product u ↦ Jᵀu. Three tests per case:
- Taylor: f(θ) = ½||y(θ) − t||² with gradient Jᵀ(y − t): ratios ≈ 2 and ≈ 4 as ε halves;
- Jacobian: J assembled from the backward (one Jᵀe_i per output) against y(θ + εd);
- transpose: uᵀ(J v) = vᵀ(Jᵀ u), with J v by central differences (exact up to rounding for the
  bilinear and piecewise-linear kernels: dense, conv, pooling, dropout; O(h²) for the others).
Inputs are drawn away from kinks (ReLU at 0, pooling ties) so that the maps are smooth there.
"""
from dataclasses import dataclass

import numpy as np

from kernels import losses
from kernels.engine import loss_and_gradient
from kernels.gradcheck import (
    Case,
    TaylorResult,
    away_from_zero,
    jacobian_test,
    taylor_test,
    transpose_test,
)
from kernels.layers import KINDS
from kernels.layers.layernorm import LayerNorm
from kernels.loss import loss_backward, loss_forward
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
from kernels.regularizers import penalty, penalty_gradient

TRANSPOSE_TOL = 1e-6


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


def loss_case(rng, name) -> Case:
    """The loss kind ``name`` as a function of the prediction, at the kind's own sample."""
    code = losses.CODES[name]
    batch, n = 4, 3
    pred0, target = losses.KINDS[code].sample(rng, (batch, n))

    def forward(theta):
        return np.array([loss_forward(code, theta.reshape(batch, n), target)])

    def vjp(theta, u):
        d = np.empty((batch, n))
        loss_backward(code, theta.reshape(batch, n), target, d)
        return u[0] * d.ravel()
    return Case(f"loss {name}", pred0.ravel(), forward, vjp)


def penalty_case(rng, l1=0.3, l2=0.7) -> Case:
    mask = (rng.random(12) < 0.7).astype(float)

    def forward(theta):
        return np.array([penalty(theta, mask, l1, l2)])

    def vjp(theta, u):
        g = np.zeros_like(theta)
        penalty_gradient(theta, mask, l1, l2, g)
        return u[0] * g
    return Case("penalty L1+L2", away_from_zero(rng.standard_normal(12)), forward, vjp)


# A model holding every layer kind (smooth ones only where a kink could meet a step of the
# tests: average pooling, tanh), checked in evaluation and in training mode.
EVERY_KIND = (Conv(3, 3, pad=1), BatchNorm(spatial=True), Activation("tanh"), Pool(2, kind="avg"), Dropout(0.3), LayerNorm(),
              Dense(6), BatchNorm(), Residual(4, "tanh"), Dense(3))


def model_case(rng, name, input_shape, layers, loss="mse", rows=5, training=False) -> Case:
    """A whole plan through the engine's forward and backward, as a function of its parameters
    (kernels.engine.loss_and_gradient in evaluation or training mode)."""
    plan = build_plan(input_shape, layers)
    x = rng.standard_normal((rows, plan.n_in))
    if loss == "softmax-ce":  # rows of the target must sum to 1
        y = np.eye(plan.n_out)[rng.integers(plan.n_out, size=rows)]
    else:
        y = rng.standard_normal((rows, plan.n_out))
    code = losses.CODES[loss]
    buffers = plan.init_buffers(np.float64)

    def forward(theta):
        return np.array([loss_and_gradient(plan.net, code, theta, buffers.copy(), x, y, np.empty_like(theta),
                                           training)])

    def vjp(theta, u):
        g = np.empty_like(theta)
        loss_and_gradient(plan.net, code, theta, buffers.copy(), x, y, g, training)
        return u[0] * g
    return Case(f"model {name}{' (training)' if training else ''}", plan.init_params(rng, np.float64), forward, vjp)


def all_cases(rng: np.random.Generator) -> list[Case]:
    """Every kernel with a gradient (each layer kind's own checks, the losses and the
    penalty), and whole models that chain them."""
    cases = [case for kind in KINDS for case in kind.cases(rng)]
    cases += [model_case(rng, m.name, m.input_shape, m.layers, training=m.training) for kind in KINDS
              for m in kind.models()]
    cases += [loss_case(rng, n) for n in losses.CODES]
    cases += [penalty_case(rng)]
    cases += [
        model_case(rng, "mlp", 4, [Dense(6), Activation("tanh"), Dense(5), Activation("softplus"), Dense(3)],
                   loss="softmax-ce"),
        model_case(rng, "cnn", (2, 7, 7), [Conv(3, 3, pad=1), Activation("tanh"), Pool(2, kind="avg"),
                                           Conv(2, 2), Activation("sigmoid"), Dense(3)], loss="softmax-ce"),
    ]
    cases += [model_case(rng, "of every layer kind", (2, 6, 6), list(EVERY_KIND), rows=6, training=training)
              for training in (False, True)]  # both modes: dropout and batch norm differ
    return cases


def check_all(seed: int = 0) -> list[CheckResult]:
    rng = np.random.default_rng(seed)
    return [run_check(case, rng) for case in all_cases(rng)]
