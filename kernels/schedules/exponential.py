"""τ_e = τ₀ γ^e: PyTorch's ExponentialLR."""
from kernels.jit import inline_kernel
from kernels.schedules.base import DECAY, ScheduleKind


@inline_kernel
def rate(lr0, epoch, epochs, decay):
    return lr0 * decay**epoch


KIND = ScheduleKind("exponential", "τ₀ γ^e", (DECAY,), rate)
