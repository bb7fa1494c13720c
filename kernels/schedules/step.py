"""τ_e = τ₀ γ^⌊e/s⌋: PyTorch's StepLR."""
from kernels.jit import inline_kernel
from kernels.schedules.base import DECAY, STEP, ScheduleKind


@inline_kernel
def rate(lr0, epoch, epochs, decay, step):
    return lr0 * decay ** (epoch // max(int(step), 1))


KIND = ScheduleKind("step", "τ₀ γ^⌊e/s⌋", (DECAY, STEP), rate)
