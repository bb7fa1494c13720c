"""Every kernel passes the Taylor, Jacobian and transpose tests (the same as `runner check`)."""
import numpy as np
import pytest

from kernels.checks import Case, all_cases, run_check

CASES = all_cases(np.random.default_rng(0))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_kernel_derivatives(case):
    result = run_check(case, np.random.default_rng(1))
    assert result.passed, result


def test_a_wrong_backward_fails_the_checks():
    """The checks can fail: a backward 1 % off, or one that drops a term, is caught."""
    dense = next(c for c in CASES if c.name == "dense")
    scaled = Case("scaled", dense.theta, dense.forward, lambda t, u: 1.01 * dense.vjp(t, u))
    assert not run_check(scaled, np.random.default_rng(1)).passed
    dropped = Case("dropped", dense.theta, dense.forward, lambda t, u: np.where(np.arange(t.size) < 15, 0, 1) * dense.vjp(t, u))
    assert not run_check(dropped, np.random.default_rng(1)).passed


def test_every_differentiable_kernel_has_a_case():
    from kernels import codes
    names = " ".join(c.name for c in CASES)
    for name, (*_, differentiable) in codes.ACTIVATIONS.items():
        assert (f"activation {name}" in names) == differentiable
    for loss in codes.LOSSES:
        assert f"loss {loss}" in names
    for kernel in ("dense", "conv", "maxpool", "avgpool", "dropout", "penalty", "residual"):
        assert kernel in names
