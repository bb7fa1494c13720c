"""Learning-rate schedules: τ_e for epoch e = 0, 1, ..., E − 1 (one rate per epoch).

- constant      τ₀
- step          τ₀ γ^⌊e/s⌋       (s = step period in epochs)
- exponential   τ₀ γ^e
- inverse       τ₀ / (1 + γ e)   (the "1/t" decay)
- cosine        τ₀ (1 + cos(π e / E)) / 2   (e = 0 … E − 1: it would reach 0 at e = E, so the
                last epoch's rate is positive, as in PyTorch's CosineAnnealingLR(T_max=E))

The texts name no schedule (Magyar L492: α "may vary over time ... reduced gradually"); these
are the common forms, with PyTorch's StepLR, ExponentialLR and CosineAnnealingLR conventions.
"""
import math

from kernels.codes import (
    SCHED_CONSTANT,
    SCHED_COSINE,
    SCHED_EXPONENTIAL,
    SCHED_INVERSE,
    SCHED_STEP,
)
from kernels.jit import kernel


@kernel
def learning_rate(code, lr0, decay, step, epoch, epochs):
    """τ_e of schedule ``code`` (kernels.codes.SCHED_*). lr0, decay (γ), step (s): floats;
    epoch: 0-based; epochs: E. Returns a float64."""
    if code == SCHED_CONSTANT:
        return lr0
    if code == SCHED_STEP:
        return lr0 * decay ** (epoch // max(int(step), 1))
    if code == SCHED_EXPONENTIAL:
        return lr0 * decay**epoch
    if code == SCHED_INVERSE:
        return lr0 / (1.0 + decay * epoch)
    if code == SCHED_COSINE:
        return lr0 * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0
    raise ValueError("unknown schedule code")
