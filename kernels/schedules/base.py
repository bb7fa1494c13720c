"""What a learning-rate schedule kind declares: one module per kind, listed in
kernels.schedules.KINDS.

``rate(lr0, epoch, epochs, *hyper)``: τ_e of epoch e = 0, 1, ..., E − 1 (one rate per epoch)
from the base rate τ₀ = lr0, E = epochs and the values of the kind's ``hyper`` in order, all
float64 (the engines convert), returning a float64. The engines of both targets call it
through kernels.steps.learning_rate, generated from the list.

The texts name no schedule (Magyar L492: α "may vary over time ... reduced gradually"); the
kinds are the common forms, with PyTorch's conventions. γ and the period s, which several kinds
read, are declared here.
"""
from typing import NamedTuple

from kernels.hyper import Hyperparameter, at_least, positive

DECAY = Hyperparameter("decay", 0.1, "schedule factor γ (step, exponential, inverse)", positive)
STEP = Hyperparameter("step", 30, "schedule period s in epochs (step)", at_least(1))


class ScheduleKind(NamedTuple):
    """name: the ``schedule`` value in a study; rule: τ_e in one line; hyper: what ``rate``
    reads after (lr0, epoch, epochs); rate: a compiled scalar function (kernels.jit.inline_kernel)."""

    name: str
    rule: str
    hyper: tuple[Hyperparameter, ...]
    rate: object
