"""When a run stops before its last epoch: the rule both engines apply after each epoch's
evaluation, one scalar function for both targets.

- Divergence: the fit loss is not finite, or above ``bound`` (the caller's divergence bound,
  e.g. experiments.training's diverge_factor × the initial fit loss; inf: never). The run is
  diverged; training on would only spend time.
- Patience (``patience`` > 0): the monitored loss (the fit or the test loss) has not improved
  on its best so far by more than ``min_delta`` for ``patience`` epochs in a row: Keras'
  ``EarlyStopping(monitor, min_delta, patience)`` with mode "min". The best starts at the
  loss before training (epoch 0). A NaN monitored loss is no improvement.
"""
import math

from kernels.jit import inline_kernel


@inline_kernel
def after_epoch(fit_loss, bound, monitored, best, wait, patience, min_delta):
    """(stop, best, wait) after an epoch whose fit loss is ``fit_loss`` and monitored loss is
    ``monitored``, given the best monitored loss and the epochs ``wait`` since it improved."""
    if math.isnan(fit_loss) or math.isinf(fit_loss) or fit_loss > bound:
        return True, best, wait
    if patience <= 0:
        return False, best, wait
    if monitored < best - min_delta:
        return False, monitored, 0
    return wait + 1 >= patience, best, wait + 1
