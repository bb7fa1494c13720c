"""The local executor: a process pool on this machine (runner.pool: one run per worker at a
time, Numba, OpenMP and BLAS threads pinned to 1), or this process itself for one worker and no
--run-timeout. A run whose worker died on both tries is a ``failed`` row with the reason, and
a run past --run-timeout a ``failed`` row ("timed out after ..."); the sweep goes on.

Runs on the CUDA target go in packs (runner.execute.packs: many runs per launch): in this
process, or, with a pool, one pack per GPU (kernels.cuda.device_count), pack i in a worker on
GPU i. --run-timeout then bounds a whole pack: a pack past it fails all its runs."""
from runner.executors.base import Executor


class Local(Executor):
    name = "local"
    summary = "a process pool on this machine"
    compiles_here = True

    def __init__(self, workers: int, scheduler: str | None = None, run_timeout: float | None = None):
        super().__init__(workers, scheduler, run_timeout)
        if scheduler:
            raise ValueError("--scheduler needs --executor dask")
        if run_timeout is not None and not run_timeout > 0:
            raise ValueError(f"--run-timeout must be > 0 seconds, got {run_timeout:g}")
        self.pool = None

    def _pooled(self) -> bool:
        return self.workers > 1 or self.run_timeout is not None

    def begin(self) -> None:
        """The fork server that workers start from, while this process is still light."""
        if self._pooled():
            from runner.pool import start_fork_server

            start_fork_server()

    def open(self, runs: int | None) -> "Local":
        if self._pooled() and (runs is None or runs > 1 or self.run_timeout is not None):
            from runner.pool import Pool

            self.pool = Pool(self.workers if runs is None else min(self.workers, runs), self.run_timeout)
        return self

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def run(self, study, specs: list, sweep_id: str):
        import numpy as np

        from kernels.cuda import device_count
        from runner.execute import execute_pack, execute_run, failed_row, packs, stream_pack

        gpus = device_count() if any(spec.config.get("target") == "cuda" for spec in specs) else 1
        alone, cuda_packs = packs(specs, min(self.workers, gpus) if self.pool is not None else 1)
        if self.pool is None:
            for spec in alone:
                yield execute_run(study.reference, spec, sweep_id)
            for pack in cuda_packs:
                yield from stream_pack(study.reference, pack, sweep_id)
            return

        def failed(spec, reason: str) -> tuple[dict, dict]:
            return failed_row(study, spec, sweep_id, reason), {"epoch": np.zeros(0, np.int64)}

        def lost(args: tuple, reason: str) -> tuple[dict, dict]:
            return failed(args[1], reason)

        def lost_pack(args: tuple, reason: str) -> list[tuple[dict, dict]]:
            return [failed(spec, reason) for spec in args[1]]

        yield from self.pool.imap(execute_run, [(study.reference, spec, sweep_id) for spec in alone], lost)
        tasks = [(study.reference, pack, sweep_id, i % gpus) for i, pack in enumerate(cuda_packs)]
        for rows in self.pool.imap(execute_pack, tasks, lost_pack):
            yield from rows

    def label(self, study_name: str) -> str:
        return f"{study_name} ({self.workers} workers)"
