"""How much memory a run may use, and the one-line refusal when it would need more.

The limit is ``RUNNER_MAX_MEMORY`` (bytes, or with a suffix K, M, G, T: powers of 1024; set by
``runner sweep --max-memory``, inherited by its workers, and settable in a job script), else
the machine's: its physical memory, or a smaller cgroup v2 limit (``memory.max`` of this
process's cgroup: a SLURM job's or a container's). Data files are checked against it before
they are decompressed (experiments.datasets), and each run's estimate (Study.memory) before
the sweep starts, so a size that cannot fit exits 2 instead of becoming a MemoryError row.
"""
import os
import re
from pathlib import Path

ENV = "RUNNER_MAX_MEMORY"
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
SIZE = re.compile(r"^\s*(?P<number>\d+(\.\d*)?|\.\d+)\s*(?P<unit>[KMGT]?)(i?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"512M"`` -> 536870912; ``"2.5G"``, ``"4096"``, ``"8GiB"``; ValueError if malformed or 0."""
    match = SIZE.match(text)
    if match is None:
        raise ValueError(f"memory size {text!r}: expected a number of bytes with an optional K, M, G or T, e.g. 8G")
    size = int(float(match["number"]) * UNITS[match["unit"].upper()])
    if size < 1:
        raise ValueError(f"memory size {text!r}: must be at least 1 byte")
    return size


def show(size: float) -> str:
    """A byte count for people: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def _cgroup_limit() -> int | None:
    try:
        line = Path("/proc/self/cgroup").read_text().splitlines()[0]
        limit = (Path("/sys/fs/cgroup") / line.partition("::")[2].lstrip("/") / "memory.max").read_text().strip()
    except (OSError, IndexError):
        return None
    return int(limit) if limit.isdigit() else None


def machine_bytes() -> int:
    """The memory of this machine, or of its cgroup where that is smaller."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cgroup = _cgroup_limit()
    return min(physical, cgroup) if cgroup else physical


def limit() -> int:
    """The bytes one run may use: RUNNER_MAX_MEMORY, else machine_bytes()."""
    text = os.environ.get(ENV)
    return parse_size(text) if text else machine_bytes()


def source() -> str:
    """Where limit() comes from, for a message."""
    return f"the limit {ENV}={os.environ[ENV]}" if os.environ.get(ENV) else "the machine's memory"


def check(needed: int, what: str) -> None:
    """ValueError (one line, with both figures) if ``needed`` bytes exceed limit()."""
    if needed > (allowed := limit()):
        raise ValueError(f"{what} needs about {show(needed)}, more than the {show(allowed)} of {source()}; "
                         "--max-memory sets the limit")
