"""Elementwise activations y = σ(x; β, γ) by name (kernels.activations, kernels.codes.ACTIVATIONS).

Spec token: the name with optional β and γ after colons, e.g. ``relu``, ``prelu:0.05``,
``silu:1:2``; defaults are the Magyar text's.
"""
from dataclasses import dataclass

import numpy as np

from kernels.activations import (
    activation_backward,
    activation_forward,
    backward_for,
    forward_for,
)
from kernels.codes import ACTIVATIONS, ARG_BETA, ARG_GAMMA, COL_CODE
from kernels.gradcheck import Case, away_from_zero
from kernels.jit import inline_kernel
from kernels.layers.base import LayerKind, Layout, check
from kernels.specialize import PerVariant, layers_only


@dataclass(frozen=True)
class Activation:
    """An elementwise activation by name (kernels.codes.ACTIVATIONS); β, γ default to the
    Magyar text's."""

    name: str
    beta: float | None = None
    gamma: float | None = None


def layout(layer: Activation, shape: tuple) -> Layout:
    check(layer.name in ACTIVATIONS, f"unknown activation {layer.name!r}; known: {', '.join(ACTIVATIONS)}")
    code, beta, gamma, differentiable = ACTIVATIONS[layer.name]
    return Layout(shape, {COL_CODE: code},
                  {ARG_BETA: beta if layer.beta is None else layer.beta,
                   ARG_GAMMA: gamma if layer.gamma is None else layer.gamma},
                  differentiable=differentiable)


@inline_kernel
def _coefficients(arg, dtype):
    """(β, γ) in the data's dtype."""
    return dtype.type(arg[ARG_BETA]), dtype.type(arg[ARG_GAMMA])


@PerVariant.template(inline_kernel, key=layers_only)
def forward(row, arg, params, buffers, x, y, cache, icache, scratch, capacity, rows, training, seed, step, layer):
    beta, gamma = _coefficients(arg, x.dtype)
    forward_for(row[COL_CODE], beta, gamma, x, y)


@PerVariant.template(inline_kernel, key=layers_only)
def backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, scratch, capacity, rows, training,
             first):
    beta, gamma = _coefficients(arg, x.dtype)
    backward_for(row[COL_CODE], beta, gamma, dy, x, y, dx)


def parse(token: str, activation: str | None = None) -> Activation | None:
    """``name[:β[:γ]]`` -> an Activation; None if ``name`` is not an activation."""
    name, *values = token.split(":")
    if name not in ACTIVATIONS:
        return None
    if len(values) > 2:
        raise ValueError(f"activation {token!r}: at most two parameters (β, γ)")
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"activation {token!r}: parameters must be numbers") from None
    if not all(np.isfinite(numbers)):
        raise ValueError(f"activation {token!r}: parameters must be finite")
    return Activation(name, *numbers)


def _case(rng, name) -> Case:
    code, beta, gamma, _ = ACTIVATIONS[name]
    shape = (3, 5)

    def forward_(theta):
        y = np.empty(shape)
        activation_forward(code, beta, gamma, theta.reshape(shape), y)
        return y.ravel()

    def vjp(theta, u):
        x = theta.reshape(shape)
        y, dx = np.empty(shape), np.empty(shape)
        activation_forward(code, beta, gamma, x, y)
        activation_backward(code, beta, gamma, u.reshape(shape), x, y, dx)
        return dx.ravel()
    return Case(f"activation {name}", away_from_zero(rng.standard_normal(15)), forward_, vjp)


def cases(rng) -> list[Case]:
    return [_case(rng, name) for name, (*_, differentiable) in ACTIVATIONS.items() if differentiable]


KIND = LayerKind("activation", Activation, layout, forward, backward, "kernels.cuda.activations", parse, cases,
                 tokens="relu, tanh, prelu:0.05, silu:1:2, ...: an activation with optional β and γ",
                 activation=lambda spec: spec.name)
