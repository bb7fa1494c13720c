"""Where and with what a run was computed: recorded in every row of ``runs``."""
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

PACKAGE = "nn-batch-runner"


def _git_commit() -> str:
    """HEAD of the source checkout, with '-dirty' if it has changes; 'unknown' outside git."""
    src = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threads() -> int:
    """Threads a run may use: Numba's, unless BLAS/OpenMP are pinned lower."""
    pinned = [int(v) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
              if (v := os.environ.get(k, "")).isdigit()]
    return min([numba.config.NUMBA_NUM_THREADS] + pinned)


def _gpu(target: str) -> str | None:
    """The CUDA device's name for the cuda target ("CUDA simulator" under it), else None."""
    if target != "cuda":
        return None
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return "CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.cache
def provenance(target: str = "cpu") -> dict:
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "package_version": version,
        "git_commit": _git_commit(),
        "numba_version": numba.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "cpu": _cpu(),
        "hostname": socket.gethostname(),
        "threads": _threads(),
        "target": target,
        "gpu": _gpu(target),
    }
