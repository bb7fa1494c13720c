"""The local worker pool: one process per run at a time, each with one thread.

Workers are forked from a fork server that has loaded runner.preload (the studies, the
kernels, NumPy and Numba) once, so a worker starts in milliseconds where a spawned one spends
about 0.7 s importing, and exits without tearing all of that down. ``start_fork_server``
starts loading the server in the background; ``runner sweep`` calls it before anything else,
so the server loads while the sweep checks its input and reads the results directory. This
module imports only the standard library, so that calling it first costs nothing.
Without a fork server (Windows) workers are spawned.
"""
import gc
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import forkserver, get_all_start_methods, get_context

THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
FORK_SERVER = "forkserver" in get_all_start_methods()


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


def pin_threads() -> None:
    """Pin Numba, OpenMP and BLAS to one thread in processes started from now on."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def start_fork_server() -> None:
    """Start the workers' fork server loading runner.preload, and return at once. Threads are
    pinned first: the workers inherit the server's environment, not their parent's."""
    pin_threads()
    if FORK_SERVER:
        get_context("forkserver").set_forkserver_preload(["runner.preload"])
        forkserver.ensure_running()  # a no-op while a server is running


def start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of up to ``workers`` processes, each forked on demand (the first waits until the
    fork server is ready). Ctrl-C is left to the caller, which stops the pool."""
    start_fork_server()
    context = get_context("forkserver" if FORK_SERVER else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_ignore_interrupts)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
