"""The learning-rate study: optimizer × learning rate on an MLP on the 8×8 digits.

The digits study (experiments.digits) with a default grid of every optimizer of the engine over
a log grid of τ₀ spanning five decades (1e-4 … 10, two points per decade), 20 epochs. Divergence
is data: a run whose training loss becomes inf/NaN is ``diverged`` with its epoch. The same
sweep on the batch-size study's regression is ``runner sweep batch-size --grid optimizer=...
--grid lr=...``. Schedules are one more swept key: ``--grid schedule=constant,step,cosine,inverse``.
"""
import numpy as np

from experiments.digits import MLP, DigitsStudy
from kernels import optimizers

LEARNING_RATES = [float(f"{v:.3g}") for v in np.logspace(-4, 1, 11)]


class LearningRateStudy(DigitsStudy):
    name = "learning-rate"
    title = "Optimizer × learning rate for an MLP on the 8x8 digits"
    source = "Berlyand & Jabin §8.1-8.2 (the learning rate); Magyar §3.4 (optimizers)"
    default_grid = {"model": [MLP], "optimizer": list(optimizers.CODES), "lr": LEARNING_RATES,
                    "epochs": [20]}

    def report(self, runs, curves, figures):
        """The optimizer × τ₀ table and figures (experiments.lr_report)."""
        from experiments import lr_report

        return lr_report.learning_rate_report(runs, curves, figures)
