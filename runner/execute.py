"""One run = one call of a study's ``run`` in a worker, as a ``runs`` row and its curves.

``execute_run`` never raises: a run that raises becomes a ``failed`` row with the message.
The executors (runner.executors) call it in their workers and yield what it returns; the
sweep writes it: one writer per results directory per process. Runs on the CUDA target go in
packs instead (``packs``, ``stream_pack``): many runs per launch.
"""
import queue
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np

from experiments import get_study
from experiments.study import Study
from results.provenance import provenance
from runner.console import interruption
from runner.grid import RunSpec


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


PACK_RUNS = 2048  # runs of one pack at most (one Python thread each while it runs)


def packs(specs: list, count: int) -> tuple[list, list[list]]:
    """(the specs that run one at a time, the CUDA target's specs in ``count`` packs or more of
    at most PACK_RUNS, in order): a pack trains its runs in shared launches (stream_pack)."""
    alone = [spec for spec in specs if spec.config.get("target") != "cuda"]
    cuda = [spec for spec in specs if spec.config.get("target") == "cuda"]
    if not cuda:
        return alone, []
    count = max(count, -(-len(cuda) // PACK_RUNS))
    size = -(-len(cuda) // count)
    return alone, [cuda[i : i + size] for i in range(0, len(cuda), size)]


def stream_pack(study_ref: str, specs: list, sweep_id: str, device: int | None = None) -> Iterator[tuple[dict, dict]]:
    """Run the specs' runs each in its own thread inside experiments.launches.packing, so that
    their CUDA runs share launches; yield each run's row and curves (execute_run) as it ends.
    device: the index of the GPU to use (default: the current one)."""
    from experiments import launches

    get_study(study_ref)  # loaded once, before the threads ask for it
    finished: queue.Queue = queue.Queue()
    with launches.packing(len(specs), device) as launcher:
        def one(spec):
            try:
                finished.put(execute_run(study_ref, spec, sweep_id))
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                finished.put(err)
            finally:
                launcher.leave()

        for spec in specs:
            threading.Thread(target=one, args=(spec,), daemon=True, name=f"run {spec.run_id}").start()
        for _ in specs:
            result = finished.get()
            if isinstance(result, BaseException):
                raise result
            yield result


def execute_pack(study_ref: str, specs: list, sweep_id: str, device: int | None = None) -> list[tuple[dict, dict]]:
    """stream_pack's rows as one list: a pack as one task of a worker process or a Dask worker."""
    return list(stream_pack(study_ref, specs, sweep_id, device))
