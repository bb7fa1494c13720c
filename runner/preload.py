"""What the fork server loads once before it forks the local workers (runner.pool).

Importing this module imports everything a worker runs (the studies, the kernels, NumPy and
Numba) and initializes Numba's CPU target by loading the compiled clock, which every training
run calls. A worker forked from the server starts with all of it: a few milliseconds, where a
spawned worker spends about 0.7 s on the same, and it exits without tearing it down.

The imports run with the cyclic garbage collector off, and what they made is then frozen out
of its reach (``gc.freeze``, the fork idiom of the gc documentation): they create some 10⁵
objects that live as long as the server, which the collector would otherwise walk again and
again (a quarter of the loading time), and so would every worker, touching and so copying
the pages it shares with the server.
"""
import gc

gc.disable()
import runner.execute  # noqa: E402, F401 (the worker's modules)
from kernels.clock import now  # noqa: E402

now()
gc.freeze()
gc.enable()
