"""Keeping a results directory readable: abandoned temporary files, unreadable or foreign
files, and one merge at a time.

- A temporary file (results.store: ``.NAME.HOST.PID.RANDOM.tmp``) is abandoned when its
  writer is gone: a process of this host that no longer runs, or, for another host, one not
  touched for STALE_AGE_S. ``clean_temporaries`` removes those; a live writer's are left alone.
- ``problems`` names every file that would break a reader: in ``runs/`` and ``curves/`` a
  visible file that is not a Parquet file of the table (truncated, garbage, another schema
  without the table's columns, a stray ``notes.txt``, which ``pandas.read_parquet(DIR /
  "runs")`` would try to read) or a run of another study than the directory's (and its curves);
  in ``sweeps/`` a manifest that does not read.
- ``symlinks`` names every symbolic link in the parts of DIR that the runner touches: the
  commands refuse to work on such a tree, so that nothing outside DIR is read as results,
  moved or deleted. ``quarantine`` moves them to
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


REQUIRED = {RUNS: ("run_id", "study", "status", "finished_at"), CURVES: ("run_id", "epoch")}
TREE = (RUNS, CURVES, "sweeps", QUARANTINE, "figures", "slurm", ".merge.lock")  # what the runner touches


def _parquet_problem(path: Path, table: str, study: str | None) -> str | None:
    """Why the Parquet file ``path`` of ``table`` is unusable (unreadable, columns of the
    table missing, a runs file of another study than ``study``), or None."""
    try:
        parquet = pq.ParquetFile(path)
    except FileNotFoundError:
        return None  # removed meanwhile (a merge): not a problem
    except (OSError, pa.ArrowException) as err:
        return f"not a readable Parquet file ({str(err).splitlines()[0][:120]})"
    missing = [c for c in REQUIRED[table] if c not in parquet.schema_arrow.names]
    if missing:
        return f"not a file of the {table} table (no {', '.join(missing)} column)"
    if table == RUNS and study is not None:
        try:
            studies = set(parquet.read(columns=["study"]).column("study").unique().to_pylist())
        except (OSError, pa.ArrowException) as err:
            return f"not a readable Parquet file ({str(err).splitlines()[0][:120]})"
        if studies - {study}:
            return f"runs of study {', '.join(map(repr, sorted(map(str, studies - {study}))))}, not of {study!r}"
    return None


def directory_study(out_dir: Path) -> str | None:
    """The study that out_dir's sweep manifests name, if they name exactly one."""
    from results.store import manifests

    named = {m["study"] for m in manifests(out_dir)}
    return named.pop() if len(named) == 1 else None


def problems(out_dir: Path, study: str | None = None) -> list[tuple[Path, str]]:
    """(path, reason) of every file under out_dir that would break a reader or does not
    belong: a runs file of another study than ``study`` (by default the one the manifests
    name) and the curves file of the same run."""
    study = study or directory_study(out_dir)
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
            elif reason := _parquet_problem(path, name, study):
                found.append((path, reason))
    foreign = {path.stem for path, reason in found if path.parent.name == RUNS and reason.startswith("runs of")}
    for path in sorted((out_dir / CURVES).glob("*.parquet")):
        if path.stem in foreign and not path.name.startswith("part-"):
            found.append((path, "the curves of a run of another study"))
    return found


def symlinks(out_dir: Path) -> list[Path]:
    """The symbolic links among what the runner reads, moves or deletes under out_dir (its
    table, manifest, quarantine, figure and job-script directories and what they hold): each
    would lead a reader or a merge outside out_dir."""
    found = []
    for name in TREE:
        path = out_dir / name
        if path.is_symlink():
            found.append(path)
        elif path.is_dir():
            found += [p for p in path.rglob("*") if p.is_symlink()]
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
