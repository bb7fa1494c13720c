"""What an executor is: where a sweep's runs execute, behind one interface.

One module per executor (runner.executors.local, runner.executors.dask) with a subclass of
``Executor``, listed in runner.executors.EXECUTORS by its ``name``, the value of ``--executor``.
The sweep pipeline (runner.sweep) and ``runner tune`` use only this interface:

    executor = EXECUTORS[name](workers, scheduler, run_timeout)   # ValueError: a one-line reason
    executor.begin()           # early, before the study and NumPy load (e.g. a fork server)
    with executor.open(runs):  # runs: how many will be asked for (None: unknown, a tune)
        for row, curves in executor.run(study, specs, sweep_id): ...

``run`` yields each run's ``runs`` row and curves (runner.execute.execute_run, which never
raises) in completion order; the caller writes them, so workers need no file system shared with
it. Leaving the loop early (Ctrl-C, SIGTERM, an error) stops the workers. An executor module
imports its heavy dependencies inside its methods: the CLI lists the executors in its --help.
"""
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar


class Executor(ABC):
    """name: the --executor value; summary: one line for --help; compiles_here: the sweep
    compiles the engines its runs need in this process first (runner.compile), because the
    workers share this machine's Numba cache (false where workers sit on other machines)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    compiles_here: ClassVar[bool] = False

    def __init__(self, workers: int, scheduler: str | None = None, run_timeout: float | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers, self.scheduler, self.run_timeout = workers, scheduler, run_timeout

    def begin(self) -> None:
        """What must happen before the study, NumPy and Numba are imported here: nothing by default."""

    def open(self, runs: int | None) -> "Executor":
        """Get ready for ``runs`` runs (None: an unknown number, asked for in batches); a
        context manager that releases what it holds on exit."""
        return self

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release workers and connections; idempotent."""

    @abstractmethod
    def run(self, study, specs: list, sweep_id: str) -> Iterator[tuple[dict, dict]]:
        """Yield (row, curves) of every spec, in completion order."""

    @abstractmethod
    def label(self, study_name: str) -> str:
        """How progress names this execution: ``digits (4 workers)``."""
