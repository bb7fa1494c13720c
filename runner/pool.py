"""The local worker pool: one process per run at a time, each with one thread.

Workers are forked from a fork server that has loaded runner.preload (the studies, the
kernels, NumPy and Numba) once, so a worker starts in milliseconds where a spawned one spends
about 0.7 s importing, and exits without tearing all of that down. ``start_fork_server``
starts loading the server in the background; ``runner sweep`` calls it before anything else,
so the server loads while the sweep checks its input and reads the results directory. This
module imports only the standard library, so that calling it first costs nothing.
Without a fork server (Windows) workers are spawned.

Why not concurrent.futures: its workers share one result queue read by a thread, so a worker
stopped in the middle of sending a result leaves that thread (and the shutdown that joins it)
waiting forever, and one lost worker breaks the whole pool. Here every worker has its own pipe
and the caller's thread reads them (``multiprocessing.connection.wait``, no helper thread):

- a worker that dies (killed, out of memory) is seen by its sentinel; its run is retried once
  on a new worker, then reported lost (``Pool.imap``'s ``lost`` callback), and the sweep goes on;
- stopping (Ctrl-C, or the caller stops reading) kills the workers at once; nobody waits on a
  half-sent message;
- the fork server and every worker never see SIGINT, SIGTERM and SIGHUP (they are blocked from
  the moment the server starts, and the workers ignore them, so a Ctrl-C in the first second
  prints nothing from them):
  the sweep alone handles them (runner.console) and kills the workers; they get SIGKILL when
  their parent dies (Linux's parent-death signal), so a killed sweep leaves no process behind;
- a run past its time limit (``Pool(timeout=...)``) has its worker killed and is reported lost
  at once, without a retry; a new worker takes the next run.
"""
import ctypes
import gc
import math
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import forkserver, get_all_start_methods, get_context
from multiprocessing.connection import wait

from runner.console import STOPPING

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
FORK_SERVER = "forkserver" in get_all_start_methods()
RETRIES = 1  # a run whose worker died is tried once more
PR_SET_PDEATHSIG = 1  # prctl(2)


@contextmanager
def frozen_imports() -> Iterator[None]:
    """Import with the cyclic garbage collector off, then freeze what was made out of its
    reach (``gc.freeze``, the fork idiom of the gc documentation). Importing NumPy, Numba and
    the studies makes some 10⁵ objects that live until exit; the collector would walk them
    again and again (a quarter of the loading time) and once more at exit, and a forked worker
    would touch, and so copy, the pages it shares with its fork server."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a SLURM task's or taskset's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pin_threads() -> None:
    """Pin Numba, OpenMP and BLAS to one thread in this process (if called before they load)
    and in the processes started from now on."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent exits (Linux; elsewhere nothing),
    and exit now if the parent is already gone."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)


def start_fork_server() -> None:
    """Start the workers' fork server loading runner.preload, and return at once. Threads are
    pinned first: the workers inherit the server's environment, not their parent's. SIGINT,
    SIGTERM and SIGHUP are blocked while the server starts: it and its workers inherit the
    mask, so they never see them, and one sent meanwhile reaches this process afterwards."""
    pin_threads()
    if FORK_SERVER:
        get_context("forkserver").set_forkserver_preload(["runner.preload"])
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        try:
            forkserver.ensure_running()  # a no-op while a server is running
        finally:  # a signal that came meanwhile is delivered here, to this process only
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _serve(conn) -> None:
    """A worker: run each (function, arguments) received and send back its result, until
    told to stop (None) or the pipe closes."""
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_IGN)
    die_with_parent()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        function, args = task
        conn.send(function(*args))


class _Worker:
    def __init__(self, context):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.task = None  # the index of its task while busy
        self.deadline = math.inf  # when that task is out of time (time.monotonic)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class Pool:
    """Up to ``workers`` processes forked from the fork server (spawned without one); see the
    module docstring. Use it once, through ``imap``; ``close`` ends it."""

    def __init__(self, workers: int, timeout: float | None = None):
        start_fork_server()
        self.context = get_context("forkserver" if FORK_SERVER else "spawn")
        self.size = workers
        self.timeout = timeout  # seconds a task may take, or None
        self.workers: list[_Worker] = []

    def imap(self, function: Callable, tasks: list[tuple], lost: Callable[[tuple, str], object]):
        """Yield ``function(*args)`` for every ``args`` in ``tasks``, in completion order, or
        ``lost(args, reason)`` for a task whose worker died on every try or that ran past the
        pool's timeout (its worker killed, not retried). On any exit before
        the end (an exception, Ctrl-C, the caller closing the generator) the workers are killed."""
        pending = deque(range(len(tasks)))
        tries = [0] * len(tasks)
        idle: list[_Worker] = []
        try:
            while pending or any(w.task is not None for w in self.workers):
                while pending and (idle or len(self.workers) < self.size):
                    worker = idle.pop() if idle else self._start()
                    index = pending.popleft()
                    try:
                        worker.conn.send((function, tasks[index]))
                    except OSError:  # it died after its last result: not this task's try
                        pending.appendleft(index)
                        self._drop(worker)
                        continue
                    worker.task, worker.deadline = index, time.monotonic() + (self.timeout or math.inf)
                    tries[index] += 1
                busy = [w for w in self.workers if w.task is not None]
                left = min(w.deadline for w in busy) - time.monotonic()
                ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                                 timeout=None if left == math.inf else max(left, 0)))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        if time.monotonic() >= worker.deadline:
                            self._drop(worker)
                            yield lost(tasks[worker.task], f"timed out after {self.timeout:g} s")
                        continue
                    index, worker.task = worker.task, None
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):
                        reason = _death(worker)
                        self._drop(worker)
                        if tries[index] <= RETRIES:
                            pending.appendleft(index)
                        else:
                            yield lost(tasks[index], f"{reason} ({tries[index]} tries)")
                        continue
                    idle.append(worker)
                    yield result
        finally:
            self.close()

    def _start(self) -> _Worker:
        worker = _Worker(self.context)
        self.workers.append(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        self.workers.remove(worker)

    def close(self) -> None:
        """Kill every worker (each is either idle or running a run nobody waits for now)."""
        for worker in self.workers:
            worker.kill()
        self.workers = []


def _death(worker: _Worker) -> str:
    """How a worker whose pipe closed ended, in words."""
    worker.process.join(timeout=5)
    code = worker.process.exitcode
    if code is not None and code < 0:
        return f"the worker process was killed by {signal.Signals(-code).name}"
    return f"the worker process exited with code {code}"
