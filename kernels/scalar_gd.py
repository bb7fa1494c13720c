"""Gradient descent on one-dimensional functions: the learning-rate examples of Berlyand & Jabin.

x_{n+1} = x_n − τ F'(x_n) from x_0, for
- F(x) = λx²          F'(x) = 2λx                 (Table 8.1 with λ = 1, L1289-1299; Ex 8.1, L1507)
- F(x) = sin²(10x)     F'(x) = 10 sin(20x)        (Ex 8.3, L1539-1547; F''(0) = 200)
"""
import numpy as np

from kernels.jit import kernel

QUADRATIC = 0
SIN10_SQUARED = 1
FUNCTIONS = {"quadratic": QUADRATIC, "sin10-squared": SIN10_SQUARED}


@kernel
def value(problem, lam, x):
    """F(x) of ``problem`` (FUNCTIONS), x a scalar or an array; lam: λ of the quadratic."""
    if problem == QUADRATIC:
        return lam * x * x
    s = np.sin(10.0 * x)
    return s * s


@kernel
def slope(problem, lam, x):
    """F'(x) of ``problem``."""
    if problem == QUADRATIC:
        return 2.0 * lam * x
    return 10.0 * np.sin(20.0 * x)


@kernel
def descend(problem, lam, x0, lr, tol, iterations, xs):
    """Run ``iterations`` GD steps from x0; xs (iterations + 1,) receives x_0 ... x_n.

    Returns the first n with |x_n| < tol, or -1 if there is none (stops early at a
    non-finite iterate, leaving the rest of xs NaN).
    """
    xs[:] = np.nan
    xs[0] = x0
    first = 0 if abs(x0) < tol else -1
    x = x0
    for n in range(1, iterations + 1):
        x = x - lr * slope(problem, lam, x)
        xs[n] = x
        if not np.isfinite(x):
            break
        if first < 0 and abs(x) < tol:
            first = n
    return first
