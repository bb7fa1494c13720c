"""Elementwise activations, forward and backward, with their parameters β and γ.

Definitions from Magyar §2.1.1 (L155-300); the code of each is in :mod:`kernels.codes`.
Forward: ``y = f(x)``; backward: ``dx = f'(x) ⊙ dy``, written from x or from the output y,
whichever is cheaper. Where f is not differentiable at one point the derivative of the branch
``x <= 0`` is used there (so ReLU'(0) = 0, Berlyand & Jabin (9.73), Redfern B:109).

- identity       x
- threshold      1 if x > 0 else 0           (forward only: no gradient)
- sign           1 if x > 0 else −1          (forward only: Magyar's Sign(0) = −1)
- sigmoid β,γ    γ / (1 + e^{−βx});          f' = β f (1 − f/γ)
- tanh           tanh x;                     f' = 1 − f²
- relu           max(x, 0)
- prelu β        x if x > 0 else βx          (β = 0.01: leaky ReLU)
- elu β          x if x > 0 else β(eˣ − 1);  f' = 1 or f + β, which is exactly 0 below
                x ≈ −37 (float64) or −17 (float32), where eˣ is below the rounding of 1
- silu β,γ       x σ_{β,γ}(x);               f' = σ (1 + βx (1 − σ/γ)).  The text's printed
                 derivative σ (1 + x − σ/γ) (Magyar L246) is wrong: it gives 0.25 at x = 0
                 for β = γ = 1, where the product rule gives 0.5.
- softplus β,γ   (γ/β) ln(1 + e^{βx});       f' = σ_{β,γ}(x)
- mish β         x tanh(s), s = softplus_{β,1}(x); f' = tanh s + x σ_{β,1}(x) (1 − tanh² s)
- squareplus β   (x + √(x² + β)) / 2;        f' = (1 + x / √(x² + β)) / 2; computed as
                β / (2(√(x² + β) − x)) and β / (2(√(x² + β) − x)√(x² + β)) for x < 0 (no
                cancellation) with √(x² + β) = hypot(x, √β) (no overflow at |x| = 1e300)
"""
import math
from operator import attrgetter

from kernels.codes import (
    ACT_ELU,
    ACT_IDENTITY,
    ACT_MISH,
    ACT_PRELU,
    ACT_RELU,
    ACT_SIGMOID,
    ACT_SIGN,
    ACT_SILU,
    ACT_SOFTPLUS,
    ACT_SQUAREPLUS,
    ACT_TANH,
    ACT_THRESHOLD,
    ACTIVATION_NAMES,
    ACTIVATIONS,
)
from kernels.jit import inline_kernel, kernel
from kernels.specialize import PerVariant, branches, generate


@inline_kernel
def _sigmoid(x, beta, gamma, one):
    """γ / (1 + e^{−βx}), without overflow for large |βx|."""
    z = beta * x
    if z >= 0:
        return gamma / (one + math.exp(-z))
    e = math.exp(z)
    return gamma * e / (one + e)


@inline_kernel
def _softplus(x, beta, gamma, one):
    """(γ/β) ln(1 + e^{βx}) = (γ/β) (max(βx, 0) + ln(1 + e^{−|βx|})), without overflow."""
    z = beta * x
    return gamma / beta * (max(z, one - one) + math.log1p(math.exp(-abs(z))))


@inline_kernel
def _value(code, x, beta, gamma, one):
    """f(x) for the activation ``code``; x, beta, gamma and one (= 1) of one dtype."""
    zero = one - one
    if code == ACT_RELU:
        return zero if x <= 0 else x  # a NaN passes (NaN <= 0 is false), as in max(x, 0) of PyTorch
    if code == ACT_TANH:
        return math.tanh(x)
    if code == ACT_IDENTITY:
        return x
    if code == ACT_SIGMOID:
        return _sigmoid(x, beta, gamma, one)
    if code == ACT_PRELU:
        return x if x > 0 else beta * x
    if code == ACT_ELU:
        return x if x > 0 else beta * math.expm1(x)
    if code == ACT_SILU:
        return x * _sigmoid(x, beta, gamma, one)
    if code == ACT_SOFTPLUS:
        return _softplus(x, beta, gamma, one)
    if code == ACT_MISH:
        return x * math.tanh(_softplus(x, beta, one, one))
    if code == ACT_SQUAREPLUS:
        root = math.hypot(x, math.sqrt(beta))  # √(x² + β) without overflow of x²
        return (x + root) / (one + one) if x >= 0 else beta / ((one + one) * (root - x))  # no cancellation
    if code == ACT_THRESHOLD:
        return one if x > 0 else zero
    if code == ACT_SIGN:
        return one if x > 0 else -one
    raise ValueError("unknown activation code")


@inline_kernel
def _slope(code, x, y, beta, gamma, one):
    """f'(x) for the activation ``code``, given x and y = f(x); one (= 1) of their dtype."""
    zero = one - one
    if code == ACT_RELU:
        return zero if x <= 0 else one
    if code == ACT_TANH:
        return one - y * y
    if code == ACT_IDENTITY:
        return one
    if code == ACT_SIGMOID:
        return beta * y * (one - y / gamma)
    if code == ACT_PRELU:
        return one if x > 0 else beta
    if code == ACT_ELU:
        return one if x > 0 else y + beta
    if code == ACT_SILU:
        s = _sigmoid(x, beta, gamma, one)
        return s * (one + beta * x * (one - s / gamma))
    if code == ACT_SOFTPLUS:
        return _sigmoid(x, beta, gamma, one)
    if code == ACT_MISH:
        t = math.tanh(_softplus(x, beta, one, one))
        return t + x * _sigmoid(x, beta, one, one) * (one - t * t)
    if code == ACT_SQUAREPLUS:
        root = math.hypot(x, math.sqrt(beta))
        return (one + x / root) / (one + one) if x >= 0 else beta / ((one + one) * (root - x) * root)
    raise ValueError("activation has no gradient")


@inline_kernel
def _forward_loop(code, beta, gamma, x, y):
    one = x.dtype.type(1)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = _value(code, x[i, j], beta, gamma, one)


@inline_kernel
def _backward_loop(code, beta, gamma, dy, x, y, dx):
    one = x.dtype.type(1)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            dx[i, j] = _slope(code, x[i, j], y[i, j], beta, gamma, one) * dy[i, j]


# A model compiles the loops of the activations it uses alone (kernels.specialize: the variant's
# activation codes), each inlined with its code a constant: Numba prunes the other codes' branches
# of _value and _slope before it infers types, and LLVM vectorizes the piecewise-linear ones (a
# ReLU over a batch of conv outputs took 5 ns per entry with the dispatch inside the loop).


def _dispatch(header: str, call: str, name: str) -> PerVariant:
    """The kernel ``header`` with one branch ``call`` per activation code of a variant."""

    def make(codes, function_name):
        lines = [header.format(name=function_name),
                 *branches("code", codes, lambda code: call.format(code=code), "    ",
                           "raise ValueError('an activation code that the variant does not hold')")]
        return generate("\n".join(lines), {}, globals(), function_name)

    return PerVariant(make, name, kernel, key=attrgetter("activations"),
                      label=lambda codes: "_".join(ACTIVATION_NAMES[code] for code in codes) or "none")


forward_for = _dispatch("def {name}(code, beta, gamma, x, y):", "_forward_loop({code}, beta, gamma, x, y)",
                        "activation_forward")
forward_for.__doc__ = """y = f(x) elementwise, per variant (forward_for[variant]): code: kernels.codes.ACT_*;
beta, gamma: scalars of x's dtype (ignored by activations without them); x, y: (B, n)."""
backward_for = _dispatch("def {name}(code, beta, gamma, dy, x, y, dx):",
                         "_backward_loop({code}, beta, gamma, dy, x, y, dx)", "activation_backward")
backward_for.__doc__ = """dx = f'(x) ⊙ dy, per variant. dy, x (forward input), y (forward output), dx: (B, n).
Raises for threshold and sign, which have no gradient."""

EVERY = tuple(sorted(code for code, *_ in ACTIVATIONS.values()))
activation_forward = forward_for.of(EVERY)  # every code: for callers outside a plan (checks, tests)
activation_backward = backward_for.of(EVERY)
