"""Execute runs: one run = one call of a study's ``run`` in a worker; results stream back.

``execute_run`` never raises: a run that raises becomes a ``failed`` row with the message.
``run_local`` runs specs on a process pool (runner.pool: one run per worker at a time, with
Numba, OpenMP and BLAS threads pinned to 1) or in this process when workers == 1; ``run_dask``
on Dask distributed workers. Both yield (row, curves) in completion order, and the caller
writes them: one writer per results directory per process, and workers need no file system
shared with the caller.
"""
import logging
import os
import signal
import time
import traceback
from datetime import UTC, datetime

import numpy as np

from experiments import get_study
from experiments.study import Study
from results.provenance import provenance
from runner.console import STOPPING, interruption
from runner.grid import RunSpec
from runner.pool import Pool, pin_threads


def execute_run(study_ref: str, spec: RunSpec, sweep_id: str) -> tuple[dict, dict]:
    """Run one spec of the study that ``study_ref`` names (Study.reference); return its
    ``runs`` row and its curves (column -> array, with epoch). A run whose output breaks the
    study's declaration (Study.check_output) is ``failed`` with the reason."""
    study = get_study(study_ref)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    curves = {"epoch": np.zeros(0, np.int64)}
    try:
        out = study.run(spec.config, spec.seed)
        study.check_output(out)
    except Exception as err:  # a failed run is data, not a crash of the sweep
        if (stop := interruption(err)) is not None:
            raise stop from None  # Ctrl-C or SIGTERM inside compiled code: not the run's failure
        row = failed_row(study, spec, sweep_id, "".join(traceback.format_exception_only(err)).strip(), started)
    else:
        row = _row(study, spec, sweep_id, started, status=out.status, diverged_epoch=out.diverged_epoch,
                   compile_time_s=out.compile_time_s, **out.metrics)
        n = len(next(iter(out.curves.values()))) if out.curves else 0
        curves = {"epoch": np.arange(n, dtype=np.int64), **out.curves}
    row["run_time_s"] = time.perf_counter() - t0
    return row, curves


def _row(study: Study, spec: RunSpec, sweep_id: str, started: datetime, **outcome) -> dict:
    return {"run_id": spec.run_id, "sweep_id": sweep_id, "study": study.name, "seed": spec.seed, **spec.config,
            "error": None, "diverged_epoch": None, **outcome, "started_at": started,
            "finished_at": datetime.now(UTC), **provenance(spec.config.get("target", "cpu")),
            "study_digest": study.source_digest}


def failed_row(study: Study, spec: RunSpec, sweep_id: str, error: str, started: datetime | None = None) -> dict:
    """The ``runs`` row of a run that failed with ``error`` (a one-line reason)."""
    started = started or datetime.now(UTC)
    return _row(study, spec, sweep_id, started, status="failed", error=error, compile_time_s=None,
                run_time_s=None)


def run_local(study: Study, specs: list[RunSpec], sweep_id: str, workers: int, pool: Pool | None = None):
    """Yield (row, curves) of every spec in completion order: in this process when workers
    == 1 (and no pool is given), else on ``pool`` (by default a new runner.pool.Pool). A run
    whose worker died on both tries is a ``failed`` row with the reason, and the rest go on.
    Leaving the loop early (Ctrl-C, an error, the caller closing it) kills the workers."""
    if pool is None and (workers <= 1 or len(specs) <= 1):
        for spec in specs:
            yield execute_run(study.reference, spec, sweep_id)
        return
    pool = pool or Pool(min(workers, len(specs)))

    def lost(args: tuple, reason: str) -> tuple[dict, dict]:
        _, spec, _ = args
        return failed_row(study, spec, sweep_id, reason), {"epoch": np.zeros(0, np.int64)}

    yield from pool.imap(execute_run, [(study.reference, spec, sweep_id) for spec in specs], lost)


def run_dask(study_ref: str, specs: list[RunSpec], sweep_id: str, workers: int, scheduler: str | None):
    """Yield (row, curves) of every spec from Dask workers as they complete.

    scheduler: the address of a running scheduler (e.g. one started by dask-jobqueue's
    SLURMCluster); None starts a LocalCluster of ``workers`` processes with one thread each.
    A task whose worker dies is rescheduled by Dask (up to its ``allowed-failures``, 3 by
    default); ``retries=2`` re-runs a task that raised in the worker machinery.
    """
    from distributed import Client, LocalCluster, as_completed

    pin_threads()  # inherited by local worker processes; remote workers set their own
    # SIGINT, SIGTERM and SIGHUP stay blocked in the threads and processes that Dask starts
    # (they inherit this thread's mask): only the sweep handles them, and then closes them.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")  # local workers: failures come back as rows
    try:
        cluster = None if scheduler else LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                                                      processes=True, dashboard_address=None)
        client = Client(scheduler or cluster)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        n = len(specs)
        futures = client.map(execute_run, [study_ref] * n, specs, [sweep_id] * n, pure=False, retries=2)
        for future in as_completed(futures):
            yield future.result()
            future.release()
    except BaseException:  # stopped (Ctrl-C, SIGTERM, an error): the busy workers are killed, not
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # waited for; Dask's logs of it are noise
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
