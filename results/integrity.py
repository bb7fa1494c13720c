"""Keeping a results directory readable: abandoned temporary files, unreadable or foreign
files, and one merge at a time.

- A temporary file (results.store: ``.NAME.HOST.PID.RANDOM.tmp``) is abandoned when its
  writer is gone: a process of this host that no longer runs, or, for another host, one not
  touched for STALE_AGE_S. ``clean_temporaries`` removes those; a live writer's are left alone.
- ``problems`` names every file that would break a reader: in ``runs/`` and ``curves/`` a
  visible file that is not a Parquet file of the table (truncated, garbage, another schema, a
  stray ``notes.txt``, which ``pandas.read_parquet(DIR / "runs")`` would try to read); in
  ``sweeps/`` a manifest that does not read. ``quarantine`` moves them to
  ``DIR/quarantine/TABLE/``, out of every reader's way, keeping them for inspection.
- ``merge_lock`` serializes merges (an advisory ``flock`` on ``DIR/.merge.lock``).
"""
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from results.store import CURVES, RUNS, read_manifest

QUARANTINE = "quarantine"
STALE_AGE_S = 24 * 3600
DIRECTORIES = (RUNS, CURVES, "sweeps")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temporaries(out_dir: Path) -> list[Path]:
    """Remove the abandoned temporary files under out_dir (module docstring); return them."""
    host, now, removed = socket.gethostname(), time.time(), []
    for name in DIRECTORIES:
        for path in (out_dir / name).glob(".*.tmp"):
            try:  # .NAME.HOST.PID.RANDOM.tmp, where NAME and HOST may hold dots
                pid = int(path.name.rsplit(".", 3)[1])
                age = now - path.stat().st_mtime
            except (IndexError, ValueError, OSError):
                continue
            if (not _running(pid)) if f".{host}.{pid}." in path.name else age > STALE_AGE_S:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _parquet_problem(path: Path) -> str | None:
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        return None  # removed meanwhile (a merge): not a problem
    except (OSError, pa.ArrowException) as err:
        return f"not a readable Parquet file ({str(err).splitlines()[0][:120]})"
    return None if "run_id" in schema.names else "a Parquet file without a run_id column"


def problems(out_dir: Path) -> list[tuple[Path, str]]:
    """(path, reason) of every file under out_dir that would break a reader."""
    found = []
    for name in DIRECTORIES:
        directory = out_dir / name
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.name.startswith((".", "_")):
                continue  # hidden: temporary files, which no reader sees
            suffix = ".json" if name == "sweeps" else ".parquet"
            if path.suffix != suffix or not path.is_file():
                found.append((path, f"not a {suffix} file"))
            elif name == "sweeps":
                if path.exists() and read_manifest(path) is None:
                    found.append((path, "not a sweep manifest"))
            elif reason := _parquet_problem(path):
                found.append((path, reason))
    return found


def quarantine(out_dir: Path, found: list[tuple[Path, str]]) -> list[Path]:
    """Move each path of ``found`` to out_dir/quarantine/TABLE/ (a suffix .1, .2, ... where a
    name is taken); return the new paths."""
    moved = []
    for path, _ in found:
        target_dir = out_dir / QUARANTINE / path.parent.name
        target_dir.mkdir(parents=True, exist_ok=True)
        target, k = target_dir / path.name, 0
        while target.exists():
            k += 1
            target = target_dir / f"{path.name}.{k}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            continue
        moved.append(target)
    return moved


@contextmanager
def merge_lock(out_dir: Path) -> Iterator[None]:
    """Hold the results directory's merge lock (waiting for another merge to finish)."""
    with open(out_dir / ".merge.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
