"""The registry of executors (runner.executors.base says what one is): one module each, listed
once in ``EXECUTORS`` by name, the value of --executor. Adding one (Ray, a batch system's
job API) is writing its module and adding it here; the CLI and the sweep pipeline are not
edited. Array jobs that shard a sweep by environment variables are runner.arrays."""
from runner.executors.base import Executor
from runner.executors.dask import Dask
from runner.executors.local import Local

EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (Local, Dask)}


def executor_named(name: str, workers: int, scheduler: str | None = None,
                   run_timeout: float | None = None) -> Executor:
    """The executor ``name`` for these options; ValueError with a one-line reason."""
    cls = EXECUTORS.get(name)
    if cls is None:
        raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    return cls(workers, scheduler, run_timeout)
