"""The Taylor (gradient) test of Treister's notes §6.3 (L657-695).

For a scalar f with claimed gradient g at x and a random direction d, ||d|| = 1:
  E0(ε) = |f(x + εd) − f(x)|             = O(ε):  halves as ε halves (ratio ≈ 2)
  E1(ε) = |f(x + εd) − f(x) − ε dᵀg(x)|  = O(ε²): quarters as ε halves (ratio ≈ 4)
with ε_i = 0.5^i ε₀. A wrong gradient leaves E1 = O(ε): its ratio falls to ≈ 2.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    """A kernel as θ (n,) ↦ y (m,) with its vector-Jacobian product (θ, u (m,)) ↦ (n,), for the
    checks of kernels.checks."""

    name: str
    theta: np.ndarray
    forward: Callable[[np.ndarray], np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray], np.ndarray]


def splitter(*shapes):
    """(split, n): split(θ) cuts a flat θ of n entries into arrays of ``shapes``."""
    sizes = [int(np.prod(s)) for s in shapes]
    cuts = np.cumsum(sizes)[:-1]

    def split(theta):
        return [part.reshape(s) for part, s in zip(np.split(theta, cuts), shapes)]
    return split, sum(sizes)


def away_from_zero(a, margin=0.2):
    """a moved ``margin`` away from 0 (inputs away from kinks)."""
    return a + margin * np.sign(a)


@dataclass(frozen=True)
class TaylorResult:
    eps: np.ndarray  # (steps,)
    e0: np.ndarray  # zeroth-order errors
    e1: np.ndarray  # first-order errors
    ratio0: float  # median of E0(ε)/E0(ε/2), ≈ 2
    ratio1: float  # median of E1(ε)/E1(ε/2), ≈ 4

    @property
    def linear(self) -> bool:
        """E1 at rounding level for every ε: the map is linear along d (ReLU away from its kink,
        pooling, dropout, the hinge loss), so E1 has no O(ε²) term whose ratio could be measured.
        Rounding is measured against the largest step's E0: at the smallest steps E0 itself
        can be near rounding where few entries move (a hinge loss with most margins met)."""
        return bool(np.all(self.e1 <= 1e-9 * self.e0.max()))

    @property
    def passed(self) -> bool:
        return abs(self.ratio0 - 2) < 0.2 and (abs(self.ratio1 - 4) < 0.4 or self.linear)


def taylor_test(f: Callable[[np.ndarray], float], grad: Callable[[np.ndarray], np.ndarray],
                x: np.ndarray, rng: np.random.Generator, eps0: float = 1e-2, steps: int = 8) -> TaylorResult:
    """Run the test on f, grad at x (any shape, float64) along a random unit direction."""
    d = rng.standard_normal(x.shape)
    d /= np.linalg.norm(d)
    f0 = f(x)
    slope = float(np.sum(d * grad(x)))
    eps = eps0 * 0.5 ** np.arange(steps)
    e0 = np.empty(steps)
    e1 = np.empty(steps)
    for i, e in enumerate(eps):
        fe = f(x + e * d)
        e0[i] = abs(fe - f0)
        e1[i] = abs(fe - f0 - e * slope)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio0 = float(np.median(e0[:-1] / e0[1:]))
        ratio1 = float(np.median(e1[:-1] / e1[1:]))
    return TaylorResult(eps, e0, e1, ratio0, ratio1)


def jacobian_test(f: Callable[[np.ndarray], np.ndarray], jvp: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  x: np.ndarray, rng: np.random.Generator, eps0: float = 1e-2, steps: int = 8) -> TaylorResult:
    """The Jacobian test (Treister L657-695) for a vector function f with claimed J·d = jvp(x, d):
    E0 = ||f(x + εd) − f(x)|| halves and E1 = ||f(x + εd) − f(x) − ε J d|| quarters as ε halves."""
    d = rng.standard_normal(x.shape)
    d /= np.linalg.norm(d)
    f0 = f(x)
    jd = jvp(x, d)
    eps = eps0 * 0.5 ** np.arange(steps)
    e0 = np.array([np.linalg.norm(f(x + e * d) - f0) for e in eps])
    e1 = np.array([np.linalg.norm(f(x + e * d) - f0 - e * jd) for e in eps])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio0 = float(np.median(e0[:-1] / e0[1:]))
        ratio1 = float(np.median(e1[:-1] / e1[1:]))
    return TaylorResult(eps, e0, e1, ratio0, ratio1)


def transpose_test(jvp: Callable[[np.ndarray], np.ndarray], vjp: Callable[[np.ndarray], np.ndarray],
                   n_in: int, n_out: int, rng: np.random.Generator) -> float:
    """|uᵀ(J v) − vᵀ(Jᵀ u)| / (||u|| ||J v||) for random u, v (Treister L657-695): ≈ machine
    precision when the backward is the transpose of the forward's linearization."""
    u, v = rng.standard_normal(n_out), rng.standard_normal(n_in)
    jv, ju = jvp(v), vjp(u)
    return float(abs(u @ jv - v @ ju) / (np.linalg.norm(u) * np.linalg.norm(jv)))
