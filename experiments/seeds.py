"""The random streams of a run, one per purpose, the same in every study: a study draws what a
purpose needs from ``stream(seed, PURPOSE)``, i.e. ``np.random.default_rng([seed, PURPOSE])``,
so a stream number means one thing everywhere and two purposes never share draws."""
import numpy as np

DATA = 0  # the training data: its draw, its noise, or the subset of a data set
INIT = 1  # the initial parameters
ORDER = 2  # the engine's seed: batch order and dropout draws
TEST_DATA = 3  # an independent draw of test data


def stream(seed: int, purpose: int) -> np.random.Generator:
    """The generator of ``purpose`` (DATA, INIT, ORDER, TEST_DATA) for the run ``seed``."""
    return np.random.default_rng([seed, purpose])


def engine_seed(seed: int) -> int:
    """The engine's seed (batch order, dropout) of the run ``seed``: the first draw of ORDER."""
    return int(stream(seed, ORDER).integers(2**31))
