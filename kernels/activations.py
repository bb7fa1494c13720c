"""Elementwise activations, forward and backward.

Forward: ``y = σ(x)`` with x, y of the same shape. Backward: ``dx = σ'(x) ⊙ dy``, written from
whichever of x or y gives σ' most cheaply (stated per kernel). All arrays are (B, n).
"""
import numpy as np

from kernels.jit import kernel


@kernel
def relu_forward(x, y):
    """y = max(x, 0) (Berlyand & Jabin (4.2)). x, y: (B, n)."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = x[i, j] if x[i, j] > zero else zero


@kernel
def relu_backward(dy, x, dx):
    """dx = dy ⊙ 1[x > 0]; ReLU'(0) = 0 (Berlyand & Jabin (9.73)). dy, x, dx: (B, n)."""
    zero = x.dtype.type(0)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            dx[i, j] = dy[i, j] if x[i, j] > zero else zero


@kernel
def tanh_forward(x, y):
    """y = tanh(x). x, y: (B, n)."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = np.tanh(x[i, j])


@kernel
def tanh_backward(dy, y, dx):
    """dx = dy ⊙ (1 - y²), from the forward output y. dy, y, dx: (B, n)."""
    one = y.dtype.type(1)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            dx[i, j] = dy[i, j] * (one - y[i, j] * y[i, j])
