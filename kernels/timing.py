"""Backpropagation against finite differences, timed: Berlyand & Jabin Exercise 9.8 (L2249-2352).

The exercise's network: ``layers`` layers of one neuron each, h_{i+1} = λ(a_i h_i + b_i) with
the leaky ReLU λ(x) = x for x > 0, 0.5x otherwise, and the loss L(v) = v² of the last output.
Its gradient with respect to the 2·layers parameters is computed by backpropagation
(kernels.engine.loss_and_gradient: one forward and one backward pass, O(layers)) and by
forward differences with ε = 0.001 (kernels.engine.forward_differences: 2·layers + 1 forward
passes, O(layers²)); each is timed over ``repeats`` calls, as in the book (100). Doubling the
layers should double the first time and quadruple the second.

Choices the book leaves open: a_i ~ U(0.8, 1.2), b_i ~ U(−0.1, 0.1), x ~ U(0, 1) from the seed
(weights near 1 keep the 30- and 60-layer outputs of order one, so neither vanishes).
"""
import time
from dataclasses import dataclass

import numpy as np

from kernels import engine, losses
from kernels.plan import Activation, Dense, build_plan
from kernels.variants import variant_of

LEAK = 0.5  # the exercise's leaky ReLU slope
EPS = 1e-3  # the exercise's forward-difference step


@dataclass(frozen=True)
class GradientTiming:
    layers: int
    backprop_s: float  # seconds per gradient
    differences_s: float
    max_difference: float  # max |backprop − forward differences| over the parameters
    gradient_scale: float  # max |backprop gradient|


def exercise_9_8(layers: int, seed: int = 0, repeats: int = 100) -> GradientTiming:
    """Time both gradients of the exercise's network of ``layers`` layers (module docstring)."""
    plan = build_plan(1, [layer for _ in range(layers) for layer in (Dense(1), Activation("prelu", LEAK))])
    rng = np.random.default_rng(seed)
    params = np.empty(plan.n_params)
    params[0::2], params[1::2] = rng.uniform(0.8, 1.2, layers), rng.uniform(-0.1, 0.1, layers)
    x, y = rng.uniform(0, 1, (1, 1)), np.zeros((1, 1))  # L(v) = (v − 0)²: mse of one output
    backprop, differences = np.empty_like(params), np.empty_like(params)
    args = (plan.net, losses.CODES["mse"], params, plan.init_buffers(np.float64), x, y)
    engine.loss_and_gradient(*args, backprop)  # checked (kernels.guard) and compiled, once
    engine.forward_differences(*args, EPS, differences)
    variant = variant_of(plan.net.table, args[1])
    gradient, forward_differences = engine._loss_and_gradient[variant], engine._forward_differences[variant]
    t0 = time.perf_counter()
    for _ in range(repeats):
        gradient(*args, backprop, False)
    t1 = time.perf_counter()
    for _ in range(repeats):
        forward_differences(*args, EPS, differences)
    t2 = time.perf_counter()
    return GradientTiming(layers, (t1 - t0) / repeats, (t2 - t1) / repeats,
                          float(np.max(np.abs(backprop - differences))), float(np.max(np.abs(backprop))))
