"""The registry of learning-rate schedule kinds: one module per kind (kernels.schedules.base
says what a kind declares), listed once in ``KINDS``; a kind's code is its position here.
kernels.steps generates the engines' dispatch and the ``hyper`` layout from this list, and
experiments.training the studies' parameters: adding a schedule is writing its module and
adding it here.
"""
from kernels.schedules import constant, cosine, exponential, inverse, step
from kernels.schedules.base import ScheduleKind

KINDS: tuple[ScheduleKind, ...] = (constant.KIND, step.KIND, exponential.KIND, inverse.KIND, cosine.KIND)

CODES = {kind.name: code for code, kind in enumerate(KINDS)}
