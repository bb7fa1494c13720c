"""Execute runs: one run = one call of a study's ``run`` in a worker; results stream back.

``execute_run`` never raises: a run that raises becomes a ``failed`` row with the message.
``run_local`` runs specs on a process pool (runner.pool: one run per worker at a time, with
Numba, OpenMP and BLAS threads pinned to 1) or in this process when workers == 1; ``run_dask``
on Dask distributed workers. Both yield (row, curves) in completion order, and the caller
writes them: one writer per results directory per process, and workers need neither pyarrow
nor a file system shared with the caller.
"""
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import UTC, datetime

import numpy as np

from experiments import get_study
from results.provenance import provenance
from runner.grid import RunSpec
from runner.pool import pin_threads, start_pool


def execute_run(study_ref: str, spec: RunSpec, sweep_id: str) -> tuple[dict, dict]:
    """Run one spec of the study that ``study_ref`` names (Study.reference); return its
    ``runs`` row and its curves (column -> array, with epoch). A run whose output breaks the
    study's declaration (Study.check_output) is ``failed`` with the reason."""
    study = get_study(study_ref)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    row = {"run_id": spec.run_id, "sweep_id": sweep_id, "study": study.name, "seed": spec.seed,
           **spec.config, "error": None, "diverged_epoch": None}
    curves = {"epoch": np.zeros(0, np.int64)}
    try:
        out = study.run(spec.config, spec.seed)
        study.check_output(out)
    except Exception as err:  # a failed run is data, not a crash of the sweep
        if _interrupted(err):
            raise KeyboardInterrupt from err  # Ctrl-C inside compiled code: not the run's failure
        row.update(status="failed", error="".join(traceback.format_exception_only(err)).strip(),
                   compile_time_s=None)
    else:
        row.update(out.metrics, status=out.status, diverged_epoch=out.diverged_epoch,
                   compile_time_s=out.compile_time_s)
        n = len(next(iter(out.curves.values()))) if out.curves else 0
        curves = {"epoch": np.arange(n, dtype=np.int64), **out.curves}
    row.update(run_time_s=time.perf_counter() - t0, started_at=started,
               finished_at=datetime.now(UTC), **provenance(spec.config.get("target", "cpu")))
    return row, curves


def _interrupted(err: BaseException) -> bool:
    """Whether ``err`` wraps a KeyboardInterrupt (Numba turns one raised in an object-mode
    callback into a SystemError)."""
    while err is not None:
        if isinstance(err, KeyboardInterrupt):
            return True
        err = err.__cause__ or err.__context__
    return False


def run_local(study_ref: str, specs: list[RunSpec], sweep_id: str, workers: int,
              pool: ProcessPoolExecutor | None = None):
    """Yield (row, curves) of every spec in completion order. ``pool``: a pool from start_pool
    to use (and shut down); by default one is started when workers > 1.

    On KeyboardInterrupt (the workers ignore SIGINT and leave it to this process) pending runs
    are cancelled and the workers terminated; every run already yielded is the caller's.
    """
    if pool is None and (workers <= 1 or len(specs) <= 1):
        for spec in specs:
            yield execute_run(study_ref, spec, sweep_id)
        return
    if pool is None:
        pool = start_pool(min(workers, len(specs)))
    try:
        pending = {pool.submit(execute_run, study_ref, spec, sweep_id) for spec in specs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except (KeyboardInterrupt, GeneratorExit):
        # Ctrl-C, or the caller stopped consuming (Ctrl-C while it was writing): stop the runs
        # in flight now rather than wait for them. (No public API for it before Python 3.14.)
        for process in list(pool._processes.values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_dask(study_ref: str, specs: list[RunSpec], sweep_id: str, workers: int, scheduler: str | None):
    """Yield (row, curves) of every spec from Dask workers as they complete.

    scheduler: the address of a running scheduler (e.g. one started by dask-jobqueue's
    SLURMCluster); None starts a LocalCluster of ``workers`` processes with one thread each.
    A task whose worker dies is rescheduled by Dask (up to its ``allowed-failures``, 3 by
    default); ``retries=2`` re-runs a task that raised in the worker machinery.
    """
    from distributed import Client, LocalCluster, as_completed

    pin_threads()  # inherited by local worker processes; remote workers set their own
    cluster = None if scheduler else LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                                                  processes=True, dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        n = len(specs)
        futures = client.map(execute_run, [study_ref] * n, specs, [sweep_id] * n, pure=False, retries=2)
        for future in as_completed(futures):
            yield future.result()
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
