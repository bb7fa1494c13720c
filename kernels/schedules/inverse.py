"""τ_e = τ₀ / (1 + γ e): the "1/t" decay."""
from kernels.jit import inline_kernel
from kernels.schedules.base import DECAY, ScheduleKind


@inline_kernel
def rate(lr0, epoch, epochs, decay):
    return lr0 / (1.0 + decay * epoch)


KIND = ScheduleKind("inverse", "τ₀ / (1 + γ e)", (DECAY,), rate)
