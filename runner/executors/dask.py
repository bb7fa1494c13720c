"""The Dask executor: runs as tasks of Dask distributed (pip install -e '.[dask]'), on the
scheduler at --scheduler (e.g. one that dask-jobqueue's SLURMCluster started) or on a
LocalCluster of --workers processes with one thread each. Workers compile what they run (they
may sit on other machines). A task whose worker dies is rescheduled by Dask (up to its
``allowed-failures``, 3 by default); ``retries=2`` re-runs a task that raised in the worker
machinery. A Dask task cannot be stopped midway, so there is no --run-timeout. Runs on the
CUDA target go as packs (runner.execute.packs), one per worker, each on its worker's current
GPU (give each worker its own with CUDA_VISIBLE_DEVICES)."""
import logging
import os
import signal

from runner.console import STOPPING
from runner.executors.base import Executor


class Dask(Executor):
    name = "dask"
    summary = "Dask distributed: --scheduler ADDRESS, or a local cluster of --workers processes"

    def __init__(self, workers: int, scheduler: str | None = None, run_timeout: float | None = None):
        super().__init__(workers, scheduler, run_timeout)
        if run_timeout is not None:
            raise ValueError("--run-timeout needs --executor local (a Dask task cannot be stopped midway)")

    def run(self, study, specs: list, sweep_id: str):
        from distributed import Client, LocalCluster, as_completed

        from runner.execute import execute_pack, execute_run, packs
        from runner.pool import pin_threads

        pin_threads()  # inherited by local worker processes; remote workers set their own
        # SIGINT, SIGTERM and SIGHUP stay blocked in the threads and processes that Dask starts
        # (they inherit this thread's mask): only the sweep handles them, and then closes them.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")  # local workers: failures come back as rows
        try:
            cluster = None if self.scheduler else LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                                               processes=True, dashboard_address=None)
            client = Client(self.scheduler or cluster)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        try:
            alone, cuda_packs = packs(specs, self.workers)
            n, k = len(alone), len(cuda_packs)
            futures = client.map(execute_run, [study.reference] * n, alone, [sweep_id] * n, pure=False, retries=2)
            futures += client.map(execute_pack, [study.reference] * k, cuda_packs, [sweep_id] * k, pure=False,
                                  retries=2)
            for future in as_completed(futures):
                result = future.result()
                yield from (result if isinstance(result, list) else [result])
                future.release()
        except BaseException:  # stopped (Ctrl-C, SIGTERM, an error): the busy workers are killed, not
            logging.getLogger("distributed").setLevel(logging.CRITICAL)  # waited for; Dask's logs of it are noise
            raise
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def label(self, study_name: str) -> str:
        return f"{study_name} (dask{' ' + self.scheduler if self.scheduler else f', {self.workers} workers'})"
