"""The registry of optimizer kinds: one module per kind (kernels.optimizers.base says what a
kind declares), listed once in ``KINDS``; a kind's code is its position here.

The update loops of both targets (kernels.steps.optimizer_step, kernels.cuda.optimizers), the
``hyper`` vector's layout (kernels.steps) and the studies' optimizer parameters
(experiments.training) are generated from this list. Adding an optimizer is writing its module
and adding it here.

Conventions shared by every kind: params, grads (P,) in one flat vector; the penalty's slope
(kernels.regularizers) is in g before the update; the state is zero at the start of a run; ε
sits outside the square root (PyTorch, Kingma & Ba).
"""
from kernels.optimizers import (
                                    adagrad,
                                    adam,
                                    adamw,
                                    heavy_ball,
                                    lion,
                                    momentum,
                                    nesterov,
                                    rmsprop,
                                    sgd,
)
from kernels.optimizers.base import OptimizerKind

KINDS: tuple[OptimizerKind, ...] = (sgd.KIND, momentum.KIND, heavy_ball.KIND, nesterov.KIND, rmsprop.KIND, adam.KIND,
                                    adagrad.KIND, adamw.KIND, lion.KIND)

CODES = {kind.name: code for code, kind in enumerate(KINDS)}
