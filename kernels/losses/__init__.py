"""The registry of loss kinds: one module per kind (kernels.losses.base says what a kind
declares), listed once in ``KINDS``; a kind's code is its position here. kernels.loss
generates the batch loss, its gradient and the accuracy count of both targets from this list,
and the studies take their ``loss`` choices from ``CODES``: adding a loss is writing its
module and adding it here. softmax-ce, logistic and hinge classify; mse and mse-half regress.
"""
from kernels.losses import hinge, logistic, mse, mse_half, softmax_ce
from kernels.losses.base import LossKind

KINDS: tuple[LossKind, ...] = (mse.KIND, mse_half.KIND, softmax_ce.KIND, logistic.KIND, hinge.KIND)

CODES = {kind.name: code for code, kind in enumerate(KINDS)}
