"""Runs packed into CUDA launches: many studies' ``run`` calls, one launch per group of runs.

A study's ``run`` trains with experiments.training.fit, one run at a time. To train many runs
in one launch (kernels.cuda.engine: a thread block per run) without a new study interface, a
*pack* runs each of its runs' ``run`` in its own Python thread inside ``packing(runs)``. There
``fit(target="cuda")`` does not launch: it hands its run to the pack's Launcher and waits. When
every thread of the pack is waiting (or has finished), the last one to arrive launches what
waits: grouped by what one launch must share (the plan's table and sizes, the dtype, the data
shape and the block size of kernels.cuda.engine.threads_for), each group in as few launches as
the device's memory allows. The runs of a group are released as their launch ends, so rows
stream out group by group; a study that calls ``fit`` twice joins the next round.

Whatever else runs differ in, they share a launch: data (each distinct data set is copied to
the device once), batch size, seed, epochs, loss, optimizer, schedule, hyperparameters,
penalty mask, layer arguments such as dropout rates, early stopping. A run that diverges stops
alone (its block returns); one that raises in its thread is that run's failure only; a launch
that fails fails the runs of that launch.
"""
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

MEMORY_SHARE = 0.8  # of the device's free memory one launch may take

_current: "Launcher | None" = None


@dataclass(eq=False)
class Job:
    """One run waiting for its launch: kernels.cuda.engine.train's arguments for it, and then its
    result (epochs completed) or the error of its launch."""

    data: object  # kernels.records.Data
    net: object
    method: object
    settings: object
    params: np.ndarray  # (P,), trained in place
    buffers: np.ndarray  # (B,), in place
    history: np.ndarray  # (epochs + 1, N_HIST), filled in
    done: int | None = None
    error: BaseException | None = None
    released: threading.Event = field(default_factory=threading.Event)

    def key(self) -> tuple:
        """What the runs of one launch share."""
        from kernels.cuda.engine import threads_for

        return (self.params.dtype.str, self.net.table.tobytes(), self.net.sizes.tobytes(),
                tuple(a.shape for a in self.data), threads_for(self.net, self.settings.batch_size))


class Launcher:
    """The barrier of a pack of ``runs`` threads (module docstring)."""

    def __init__(self, runs: int, device: int | None = None, device_memory: int | None = None):
        self.device = device  # the GPU's index (None: the current one)
        self.device_memory = device_memory  # bytes a launch may count on (None: MEMORY_SHARE of the free memory)
        self.active = runs  # threads whose run has not finished
        self.waiting: list[Job] = []  # submitted, not yet taken by a launching thread
        self.blocked = 0  # threads inside submit
        self.launching = False
        self.launches = 0
        self.compile_time_s: dict[str, float] = {}  # dtype -> seconds of the first launch's compile (or load)
        self.lock = threading.Condition()

    def submit(self, job: Job) -> int:
        """Hand over one run and wait for its launch; return the epochs it completed."""
        with self.lock:
            self.waiting.append(job)
            self.blocked += 1
        self._launch_if_all_wait()
        job.released.wait()
        if job.error is not None:
            raise job.error
        return job.done

    def leave(self) -> None:
        """A thread's run finished: the others need not wait for it."""
        with self.lock:
            self.active -= 1
        self._launch_if_all_wait()

    def _launch_if_all_wait(self) -> None:
        while True:
            with self.lock:
                if self.launching or not self.waiting or self.blocked < self.active:
                    return
                self.launching = True
                jobs, self.waiting = self.waiting, []
            try:
                if self.device is not None:  # a CUDA context is current per thread: any pack thread may launch
                    from numba import cuda

                    cuda.select_device(self.device)
                groups: dict[tuple, list[Job]] = {}
                for job in jobs:
                    groups.setdefault(job.key(), []).append(job)
                for group in groups.values():
                    for launch in self._split(group):
                        self._launch(launch)
            except BaseException as err:  # noqa: BLE001 - no run may wait forever
                self._release([job for job in jobs if not job.released.is_set()], err)
            finally:
                with self.lock:
                    self.launching = False

    def _release(self, jobs: list[Job], error: BaseException | None = None) -> None:
        """Let the jobs' threads go on (with ``error`` to raise): they no longer wait."""
        with self.lock:
            self.blocked -= len(jobs)
        for job in jobs:
            job.error = error
            job.released.set()

    def _split(self, group: list[Job]) -> list[list[Job]]:
        """The group in launches that fit MEMORY_SHARE of the device's free memory."""
        from kernels.cuda.engine import run_bytes, threads_for

        job = group[0]
        capacity = max(max(j.settings.batch_size, j.settings.eval_rows) for j in group)
        epochs = max(j.history.shape[0] - 1 for j in group)
        each = run_bytes(job.net, job.params.dtype, capacity, epochs, threads_for(job.net, job.settings.batch_size))
        each += sum(a.nbytes for a in job.data) + 4 * epochs * len(job.data.x)  # from above: as if no run
        # shared its data or its batch orders (int32, one row an epoch)
        memory = self.device_memory if self.device_memory is not None else free_device_memory()
        per_launch = max(1, int(MEMORY_SHARE * memory) // max(each, 1))
        return [group[i : i + per_launch] for i in range(0, len(group), per_launch)]

    def _launch(self, jobs: list[Job]) -> None:
        from kernels.codes import N_HIST
        from kernels.cuda import engine

        self._compile(jobs[0])
        datasets, data_of = distinct_data([job.data for job in jobs])
        runs = [engine.Run(d, job.net, job.method, job.settings) for d, job in zip(data_of, jobs)]
        epochs = max(job.history.shape[0] - 1 for job in jobs)
        params = np.stack([job.params for job in jobs])
        buffers = np.stack([job.buffers for job in jobs])
        history = np.full((len(jobs), epochs + 1, N_HIST), np.nan)
        try:
            done = engine.train(datasets, runs, params, buffers, history)
        except Exception as err:  # noqa: BLE001 - the runs of this launch fail with it; the pack goes on
            self._release(jobs, err)
            return
        self.launches += 1
        for r, job in enumerate(jobs):
            job.params[:], job.buffers[:] = params[r], buffers[r]
            job.history[:] = history[r, : job.history.shape[0]]
            job.done = int(done[r])
        self._release(jobs)

    def _compile(self, job: Job) -> None:
        """Compile (or load) the device engine for the job's dtype, timed, with a zero-epoch
        launch of the job on one row, once per pack and dtype."""
        from kernels.cuda import engine
        from kernels.records import Data

        dtype = job.params.dtype.str
        if dtype in self.compile_time_s:
            return
        data = Data(*(a[:1] for a in job.data))
        settings = job.settings._replace(epochs=np.int64(0), batch_size=np.int64(1), patience=np.int64(0))
        run = engine.Run(0, job.net, job.method, settings)
        t0 = time.perf_counter()
        engine.train([data], [run], job.params[None].copy(), job.buffers[None].copy(),
                     np.zeros((1, 1, job.history.shape[1])))
        self.compile_time_s[dtype] = time.perf_counter() - t0


def distinct_data(datasets: list) -> tuple[list, list[int]]:
    """(the distinct data sets, the index of each given one among them): a study that trains
    every run of a seed on one data set hands each run its own copy (``astype``), which the
    device needs only once. Sets are compared by their first and last rows first, then whole."""
    distinct, index, candidates = [], [], {}
    for data in datasets:
        sketch = tuple((a.shape, a[:1].tobytes(), a[-1:].tobytes()) for a in data)
        for i in candidates.get(sketch, ()):
            if all(np.array_equal(a, b) for a, b in zip(data, distinct[i])):
                index.append(i)
                break
        else:
            candidates.setdefault(sketch, []).append(len(distinct))
            index.append(len(distinct))
            distinct.append(data)
    return distinct, index


def free_device_memory() -> int:
    """Free bytes on this thread's CUDA device (the simulator: 16 GiB, a stand-in)."""
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return 16 << 30
    free, _ = cuda.current_context().get_memory_info()
    return int(free)


def current() -> Launcher | None:
    """The launcher of the pack this process is running, or None (fit launches alone)."""
    return _current


@contextmanager
def packing(runs: int, device: int | None = None, device_memory: int | None = None):
    """Within it, ``fit(target="cuda")`` in any thread submits to one Launcher of ``runs``
    threads, which launches on GPU ``device`` (default: the current one); each thread calls
    ``Launcher.leave`` when its run ends (runner.execute.stream_pack)."""
    global _current
    if _current is not None:
        raise RuntimeError("a pack is already running in this process")
    _current = Launcher(runs, device, device_memory)
    try:
        yield _current
    finally:
        _current = None
