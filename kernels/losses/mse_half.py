"""Squared error with ½ (Magyar (5), Redfern A:455): L = (1/B) Σ_i ½||p_i − t_i||²,
∂L/∂p = (1/B)(p − t): kernels.losses.mse's formulas with the ½."""
from kernels.losses.base import LossKind
from kernels.losses.mse import row_gradient, row_loss, sample

KIND = LossKind("mse-half", "(1/B) Σ ½||p − t||²", row_loss, row_gradient, sample, classifies=False, halved=True)
