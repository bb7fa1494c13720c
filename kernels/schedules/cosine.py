"""τ_e = τ₀ (1 + cos(π e / E)) / 2 for e = 0 … E − 1: it would reach 0 at e = E, so the last
epoch's rate is positive, as in PyTorch's CosineAnnealingLR(T_max=E)."""
import math

from kernels.jit import inline_kernel
from kernels.schedules.base import ScheduleKind


@inline_kernel
def rate(lr0, epoch, epochs):
    return lr0 * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


KIND = ScheduleKind("cosine", "τ₀ (1 + cos(π e / E)) / 2", (), rate)
