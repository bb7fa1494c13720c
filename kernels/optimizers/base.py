"""What an optimizer kind declares: one module per kind, listed in kernels.optimizers.KINDS.

A kind is an update of each entry of the flat parameter vector, written once as scalar
functions that both targets call (kernels.steps generates the CPU loop around them,
kernels.cuda.optimizers the device loop, one branch per kind):

- ``constants(t, *hyper)``: what the update needs that does not depend on the entry, once per
  step: t is the 1-based step count and *hyper the values of the kind's ``hyper``, in order,
  all scalars of the parameters' dtype. Returns a tuple (may be empty). Constants are of that
  dtype too: 1 is written ``t / t``, so a float32 run computes in float32.
- ``update(lr, c, w, g, *state)``: the step of one entry: lr = this step's τ, c = the tuple
  ``constants`` returned, w the parameter, g its gradient (the penalty's slope included), and
  ``state`` (0, 1 or 2) scalars of per-entry state, zero at the start of a run. Returns w
  alone when ``state`` is 0, else the tuple (w, *state) of new values.

The hyperparameters β₁, β₂ and ε that several kinds read are declared here, once.
"""
from typing import NamedTuple

from kernels.hyper import Hyperparameter, positive, unit_interval

BETA1 = Hyperparameter("beta1", 0.9, "momentum β, RMSProp β, Adam's, AdamW's and Lion's β₁", unit_interval)
BETA2 = Hyperparameter("beta2", 0.999, "Adam's, AdamW's and Lion's β₂ (Lion's paper uses 0.99)", unit_interval)
EPS = Hyperparameter("eps", 1e-8, "ε of RMSProp, Adam, AdamW and AdaGrad", positive)


class OptimizerKind(NamedTuple):
    """name: the ``optimizer`` value in a study; rule: its update in one line (``runner
    studies`` and the README list it); hyper: the hyperparameters ``constants`` reads; state:
    per-entry state scalars (0 to 2); constants, update: compiled scalar functions (module
    docstring), by kernels.jit.inline_kernel."""

    name: str
    rule: str
    hyper: tuple[Hyperparameter, ...]
    state: int
    constants: object
    update: object
