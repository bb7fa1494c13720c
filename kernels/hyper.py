"""Hyperparameters as the kinds declare them, and the checks they use.

An optimizer or schedule kind (kernels.optimizers, kernels.schedules) lists the
hyperparameters its formula reads; kernels.steps lays them out in the ``hyper`` vector that
the engines read, and experiments.training makes a study parameter of each. A hyperparameter
is declared once, as a module-level ``Hyperparameter``, in the module of the first kind that
reads it; other kinds import that declaration (Lion reads AdamW's ``weight_decay``).
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def positive(value):
    """Check: strictly positive and finite."""
    return None if np.isfinite(value) and value > 0 else "must be > 0"


def non_negative(value):
    """Check: finite and >= 0."""
    return None if np.isfinite(value) and value >= 0 else "must be >= 0"


def unit_interval(value):
    """Check: in [0, 1) (an exponential average's decay)."""
    return None if 0 <= value < 1 else "must be in [0, 1)"


def at_least(low):
    """Check: an integer of at least ``low``."""
    return lambda value: None if value >= low else f"must be >= {low}"


@dataclass(frozen=True)
class Hyperparameter:
    """One number a kind's formula reads: its name (a study's parameter and a ``runs``
    column), its default (whose Python type, float, int or bool, is the parameter's type),
    a one-line doc and a check (value -> None, or a one-line reason). In the ``hyper`` vector
    every value is stored in the parameters' dtype (a bool as 0 or 1)."""

    name: str
    default: float | int | bool
    doc: str
    check: Callable[[object], str | None] | None = None

    @property
    def type(self) -> type:
        return type(self.default)


LR = Hyperparameter("lr", 0.01, "base learning rate τ₀", positive)
L1 = Hyperparameter("l1", 0.0, "λ₁ of the L1 penalty λ₁Σ|w| (kernels.regularizers)", non_negative)
L2 = Hyperparameter("l2", 0.0, "λ₂ of the L2 penalty (λ₂/2)Σw² (kernels.regularizers)", non_negative)
