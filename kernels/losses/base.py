"""What a loss kind declares: one module per kind, listed in kernels.losses.KINDS.

Convention of every kind: a loss is a mean over the B samples of the batch and a sum over the
n outputs. A kind gives the per-sample formulas as scalar-loop functions that both targets call
(kernels.loss generates the batch loops and the dispatch over the list; the device's are in
kernels.cuda.losses), all in the prediction's dtype:

- ``row_loss(p, t)``: Σ_k of the sample's loss, before the mean (and before the ½ of a
  ``halved`` kind); p, t: (n,) prediction and target rows;
- ``row_gradient(p, t, scale, dp)``: dp (n,) = scale ⊙ ∂/∂p of the sample's loss without the
  factors: the engine passes scale = factor / B (kernels.loss.loss_scale).

And as data: ``factor`` (2 for a squared error written without ½, else 1), ``halved`` (the
loss is ½ Σ: the mean divides by 2B), ``classifies`` (an accuracy is counted: the argmax of a
row of several outputs, or the side of 0 of one output) and ``positive`` (one output: the
target above which a sample is of the positive class), ``negative`` (the target of the other
classes in a row of labels: 0 in one-hot rows, −1 in the hinge's ±1 one-vs-rest rows).
``sample(rng, shape)`` gives (prediction, target) of ``shape`` (B, n) at which the loss is
differentiable, for its derivative check in ``runner check`` (kernels.checks).
"""
from typing import NamedTuple


class LossKind(NamedTuple):
    name: str
    rule: str
    row_loss: object
    row_gradient: object
    sample: object
    classifies: bool
    factor: int = 1
    halved: bool = False
    positive: float = 0.0
    negative: float = 0.0
