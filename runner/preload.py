"""What the fork server loads once before it forks the local workers (runner.pool).

Importing this module imports everything a worker runs (the studies, the kernels, NumPy and
Numba) and initializes Numba's CPU target by loading the compiled clock, which every training
run calls. A worker forked from the server starts with all of it: a few milliseconds, where a
spawned worker spends about 0.7 s on the same, and it exits without tearing it down.

The imports run under runner.pool.frozen_imports, so the workers share them untouched. Only
the fork server imports this module: it first asks to die with the process that started it.
"""
from runner.pool import die_with_parent, frozen_imports

die_with_parent()

with frozen_imports():
    import runner.execute  # noqa: F401 (the worker's modules)
    from experiments import builtin_studies
    from kernels.clock import now

    builtin_studies()
    now()
