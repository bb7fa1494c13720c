"""The CUDA target: the engine's kernels as block-cooperative device functions (numba-cuda).

Modules mirror :mod:`kernels`: ``dense``, ``conv``, ``pool``, ``activations``, ``dropout``,
``losses``, ``optimizers`` (with the penalty) and ``engine``, whose fused kernel trains one run
per thread block, so the runs of a sweep (or the samples of a batch) fill the device. The
per-entry math (activation values and slopes, per-sample losses, the optimizer update, the
penalty slope, dropout draws, schedules) is the CPU target's own functions, compiled for the
device: the two targets share one definition of each formula.

Device functions here are *cooperative*: every thread of the block calls them, each takes the
entries ``threadIdx.x, threadIdx.x + blockDim.x, ...`` of the work, and the caller synchronizes
the block before anything reads the result. Arrays are flat; shapes are given as numbers.
"""
import importlib.util
import os
import subprocess


def unavailable() -> str | None:
    """Why the CUDA target cannot run here (a one-line reason), or None if it can: a GPU
    with a working driver, or the simulator (NUMBA_ENABLE_CUDASIM=1)."""
    if importlib.util.find_spec("numba_cuda") is None:  # numba's own numba.cuda is deprecated and incomplete
        return ("the CUDA target needs numba-cuda: pip install -e '.[cuda]' (then an NVIDIA GPU, or "
                "NUMBA_ENABLE_CUDASIM=1 for the simulator)")
    from numba import cuda

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    try:
        if cuda.is_available():
            return None
    except Exception as err:  # noqa: BLE001 - any driver failure means "not available"
        return f"no usable CUDA GPU ({err})"
    return "no CUDA GPU found (NUMBA_ENABLE_CUDASIM=1 runs the simulator instead)"


def device_count() -> int:
    """GPUs this process may use, counted without starting CUDA here (a process that forks
    workers must not hold a CUDA context): CUDA_VISIBLE_DEVICES where set, else the lines of
    ``nvidia-smi -L``; 1 for the simulator or when neither says (one device, or none at all)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return max(1, len([d for d in visible.split(",") if d.strip() and not d.strip().startswith("-")]))
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return 1
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 1
    return max(1, sum(line.startswith("GPU ") for line in listed.splitlines()))


def shared(kernel):
    """A CPU kernel (an ``njit`` function of kernels/) that takes arrays, for use in device
    code: numba-cuda compiles the function itself for the device, and the simulator, which
    cannot pass its arrays to compiled code, runs its Python function, with the kernels it
    calls made Python too (a generated dispatch calls each kind's kernel). (Kernels of scalars
    need no wrapper.)"""
    from numba import config

    return _python(kernel) if config.ENABLE_CUDASIM else kernel


def _python(function):
    """The Python function of a Numba dispatcher, with every dispatcher among the globals it
    reads replaced by its own Python function, recursively."""
    import types

    from numba.core.dispatcher import Dispatcher

    py = function.py_func
    names = py.__code__.co_names
    calls = {name: _python(value) for name, value in py.__globals__.items()
             if name in names and isinstance(value, Dispatcher)}
    if not calls:
        return py
    return types.FunctionType(py.__code__, {**py.__globals__, **calls}, py.__name__, py.__defaults__, py.__closure__)
