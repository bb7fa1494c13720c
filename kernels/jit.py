"""How every kernel is compiled: one decorator, one set of flags.

``reassoc`` lets LLVM vectorize the inner reductions (dot products over a contiguous axis) and
``contract`` allows fused multiply-add. Neither assumes finite values, so NaN and inf still
propagate and a diverging run is detected.
"""
from numba import njit

FASTMATH = {"reassoc", "contract"}


def kernel(fn):
    """Compile ``fn`` in nopython mode, cached on disk."""
    return njit(cache=True, fastmath=FASTMATH)(fn)


def inline_kernel(fn):
    """A small helper called on every step: inlined into its callers at Numba IR level."""
    return njit(cache=True, fastmath=FASTMATH, inline="always")(fn)
