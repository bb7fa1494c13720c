"""The optimizer step, with the weight penalty, and the learning rate on the device, generated
from the kind lists as the CPU's are (kernels.steps: the same source, the same scalar
functions of each kind), one thread per parameter.

    penalized_step(code, hyper, lr, t, params, grads, state, mask, l1, l2, penalized, fault)
        kernels.steps.optimizer_step with the penalty's slope (kernels.regularizers) folded
        into each gradient where ``penalized`` (the CPU engine adds it to grads first);
        params, grads, mask (P,), state (STATE_ROWS, P).
    learning_rate(code, hyper, epoch, epochs, fault)
        kernels.steps.learning_rate.

A device function cannot raise: a code no kind handles sets fault[0] = 1 (kernels.cuda.engine
turns it into an exception), after which the rate is NaN and the step does nothing.
"""
import math  # noqa: F401 - the generated source uses it

from numba import cuda

from kernels.regularizers import penalty_slope  # noqa: F401 - the generated source calls it
from kernels.specialize import generate
from kernels.steps import optimizer_source, schedule_source

_GRADIENT = "grads[p] + penalty_slope(params[p], mask[p], l1, l2, params.dtype.type(1)) if penalized else grads[p]"


def _device(source_and_functions, name):
    return cuda.jit(device=True)(generate(*source_and_functions, globals(), name))


penalized_step = _device(optimizer_source(
    "def penalized_step(code, hyper, lr, t, params, grads, state, mask, l1, l2, penalized, fault):",
    "range(cuda.threadIdx.x, params.shape[0], cuda.blockDim.x)", _GRADIENT, "fault[0] = 1"), "penalized_step")
learning_rate = _device(schedule_source("def learning_rate(code, hyper, epoch, epochs, fault):", "fault[0] = 1"),
                        "learning_rate")
