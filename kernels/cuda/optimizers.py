"""The optimizer step and the weight penalty on the device, one thread per parameter, with
the CPU target's update rule (kernels.optimizers.update, kernels.regularizers.penalty_slope).
params, grads, mask, m, s: (P,)."""
from numba import cuda

from kernels import optimizers
from kernels.codes import H_BETA1, H_BETA2, H_EPS
from kernels.cuda import shared
from kernels.optimizers import update
from kernels.regularizers import penalty_slope

bias_factors = shared(optimizers.bias_factors)


@cuda.jit(device=True)
def penalized_step(code, hyper, lr, t, params, grads, m, s, mask, l1, l2, penalized):
    """kernels.optimizers.optimizer_step with the penalty folded in (the CPU engine adds it to
    the gradient first, kernels.regularizers.penalty_gradient): params ← the step of optimizer
    ``code`` on grads (+ the penalty's gradient when ``penalized``); m, s: its state; hyper:
    (N_HYPER,); lr: this step's τ; t: step count from 1."""
    one = params.dtype.type(1)
    c1, c2 = bias_factors(code, hyper, t)
    beta1, beta2, eps = hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS]
    for p in range(cuda.threadIdx.x, params.shape[0], cuda.blockDim.x):
        g = grads[p]
        if penalized:
            g += penalty_slope(params[p], mask[p], l1, l2, one)
        params[p], m[p], s[p] = update(code, lr, beta1, beta2, eps, c1, c2, params[p], g, m[p], s[p])
