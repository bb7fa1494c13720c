"""The optimizer step and the learning rate of the CPU engine, and the ``hyper`` vector's
layout, generated from the kind lists (kernels.optimizers.KINDS, kernels.schedules.KINDS).

``hyper`` (N_HYPER,), in the parameters' dtype, holds τ₀, λ₁ and λ₂ (kernels.hyper: slots 0,
1, 2: codes.H_LR, H_L1, H_L2), then every hyperparameter that a schedule kind reads, then every
one an optimizer kind reads, each once, in the lists' order: ``SLOTS`` maps a name to its
slot. ``vector`` builds it from names and values, the kinds' defaults filling the rest.

    optimizer_step(code, hyper, lr, t, params, grads, state)
        one update of params (P,) in place by optimizer kind ``code``: lr this step's τ (of the
        dtype), t the step count from 1, grads (P,), state (STATE_ROWS, P), zero at the start.
    learning_rate(code, hyper, epoch, epochs)
        τ of 0-based ``epoch`` of ``epochs`` by schedule kind ``code``, as a float64.

Each is one branch per kind and an ``else`` that raises on a code no kind handles. The
branches are not specialized per kind the way the layer walks are per plan: an optimizer's
update is a few dozen instructions, and a sweep over optimizers compiles its engine once.
"""
import math  # noqa: F401 - the generated source uses it

import numpy as np

from kernels import hyper as _hyper
from kernels.codes import H_L1, H_L2, H_LR
from kernels.fail import unknown_optimizer, unknown_schedule  # noqa: F401 - the generated source calls them
from kernels.jit import kernel
from kernels.optimizers import KINDS as OPTIMIZER_KINDS
from kernels.schedules import KINDS as SCHEDULE_KINDS
from kernels.specialize import branches, generate


def _declared():
    """Every hyperparameter, once: the core ones at their fixed slots, then the schedules', then
    the optimizers'. Two declarations of one name are an error."""
    seen = {}
    for parameter in (_hyper.LR, _hyper.L1, _hyper.L2, *(h for kind in SCHEDULE_KINDS + OPTIMIZER_KINDS
                                                        for h in kind.hyper)):
        if seen.setdefault(parameter.name, parameter) is not parameter:
            raise TypeError(f"hyperparameter {parameter.name!r} is declared twice: declare it once and import it")
    return tuple(seen.values())


HYPERPARAMETERS = _declared()
SLOTS = {parameter.name: slot for slot, parameter in enumerate(HYPERPARAMETERS)}
N_HYPER = len(HYPERPARAMETERS)
assert (SLOTS["lr"], SLOTS["l1"], SLOTS["l2"]) == (H_LR, H_L1, H_L2)
STATE_ROWS = max(kind.state for kind in OPTIMIZER_KINDS)  # rows of the optimizer state


def vector(dtype, **values) -> np.ndarray:
    """The hyper vector (N_HYPER,) of ``dtype`` with the named ``values`` (lr is required) and
    every other hyperparameter at its declared default. TypeError for a name no kind reads."""
    unknown = set(values) - set(SLOTS)
    if unknown:
        raise TypeError(f"not a hyperparameter: {', '.join(sorted(unknown))} (known: {', '.join(SLOTS)})")
    if "lr" not in values:
        raise TypeError("the hyper vector needs lr")
    return np.array([values.get(h.name, h.default) for h in HYPERPARAMETERS], dtype)


def _values(kind, convert: str = "") -> str:
    """``, hyper[s1], hyper[s2]``: the kind's hyperparameters from their slots, each wrapped in
    ``convert`` (e.g. float) if given."""
    return "".join(f", {convert}(hyper[{SLOTS[h.name]}])" if convert else f", hyper[{SLOTS[h.name]}]"
                   for h in kind.hyper)


def optimizer_source(header: str, loop: str, gradient: str, otherwise: str) -> tuple[str, dict]:
    """(source, functions) of the optimizer step whose ``header`` binds code, hyper, lr, t,
    params, grads and state (STATE_ROWS, P): one branch per kind, computing the kind's
    constants once and then, for p in ``loop``, updating params[p] and its state by the kind's
    update of the gradient ``gradient`` (an expression of p); ``otherwise`` for an unknown code.
    The CPU loop here and the device loop (kernels.cuda.optimizers) are this source."""

    def branch(code):
        kind = OPTIMIZER_KINDS[code]
        state = [f"state[{row}, p]" for row in range(kind.state)]
        return (f"c = _constants{code}(hyper.dtype.type(t){_values(kind)})\n"
                f"        for p in {loop}:\n"
                f"            {', '.join(['params[p]', *state])} = _update{code}(lr, c, params[p], {gradient}"
                f"{''.join(', ' + s for s in state)})")

    source = "\n".join([header, *branches("code", range(len(OPTIMIZER_KINDS)), branch, "    ", otherwise)])
    functions = {}
    for code, kind in enumerate(OPTIMIZER_KINDS):
        functions[f"_constants{code}"], functions[f"_update{code}"] = kind.constants, kind.update
    return source, functions


def schedule_source(header: str, otherwise: str) -> tuple[str, dict]:
    """(source, functions) of the learning rate whose ``header`` binds code, hyper, epoch and
    epochs: one branch per schedule kind returning its float64 rate, ``otherwise`` for an
    unknown code, then NaN (never reached: a single return type for Numba)."""

    def branch(code):
        return f"return _rate{code}(float(hyper[{H_LR}]), epoch, epochs{_values(SCHEDULE_KINDS[code], 'float')})"

    source = "\n".join([header, *branches("code", range(len(SCHEDULE_KINDS)), branch, "    ", otherwise),
                        "    return math.nan"])
    return source, {f"_rate{code}": kind.rate for code, kind in enumerate(SCHEDULE_KINDS)}


optimizer_step = kernel(generate(*optimizer_source(
    "def optimizer_step(code, hyper, lr, t, params, grads, state):", "range(params.shape[0])", "grads[p]",
    "unknown_optimizer()"), globals(), "optimizer_step"))
learning_rate = kernel(generate(*schedule_source("def learning_rate(code, hyper, epoch, epochs):",
                                                 "unknown_schedule()"), globals(), "learning_rate"))
