"""Execute runs: one run = one call of a study's ``run`` in a worker; results stream back.

``execute_run`` never raises: a run that raises becomes a ``failed`` row with the message.
``run_local`` runs specs on a process pool (spawned workers, one run each at a time, with
Numba, OpenMP and BLAS threads pinned to 1) or in this process when workers == 1, yielding
(row, curves) in completion order; the caller writes them (one writer per file).
"""
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context

import numpy as np

from experiments import get_study
from results.provenance import provenance
from runner.grid import RunSpec

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def execute_run(study_name: str, spec: RunSpec, sweep_id: str) -> tuple[dict, dict]:
    """Run one spec; return its ``runs`` row and its curves (column -> array, with epoch)."""
    study = get_study(study_name)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    row = {"run_id": spec.run_id, "sweep_id": sweep_id, "study": study.name, "seed": spec.seed,
           **spec.config, "error": None, "diverged_epoch": None}
    curves = {"epoch": np.zeros(0, np.int64)}
    try:
        out = study.run(spec.config, spec.seed)
    except Exception as err:  # a failed run is data, not a crash of the sweep
        row.update(status="failed", error="".join(traceback.format_exception_only(err)).strip(),
                   compile_time_s=None)
    else:
        row.update(out.metrics, status=out.status, diverged_epoch=out.diverged_epoch,
                   compile_time_s=out.compile_time_s)
        n = len(next(iter(out.curves.values()))) if out.curves else 0
        curves = {"epoch": np.arange(n, dtype=np.int64), **out.curves}
    row.update(run_time_s=time.perf_counter() - t0, started_at=started,
               finished_at=datetime.now(UTC), **provenance())
    return row, curves


def pin_threads() -> None:
    """Pin Numba, OpenMP and BLAS to one thread in processes started from now on."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def run_local(study_name: str, specs: list[RunSpec], sweep_id: str, workers: int):
    """Yield (row, curves) for every spec, in completion order.

    On KeyboardInterrupt pending runs are cancelled and the workers stopped; every run already
    yielded has been handed to the caller.
    """
    if workers <= 1 or len(specs) <= 1:
        for spec in specs:
            yield execute_run(study_name, spec, sweep_id)
        return
    pin_threads()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=get_context("spawn"))
    try:
        pending = {pool.submit(execute_run, study_name, spec, sweep_id) for spec in specs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
