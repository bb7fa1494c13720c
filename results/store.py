"""The Parquet store: ``DIR/runs/`` and ``DIR/curves/``, one file per run and table.

Every file is written under a hidden temporary name in its final directory and then renamed
(``os.replace`` is atomic on POSIX), so a reader or a crash never sees a partial file: pyarrow
ignores names starting with '.' or '_'. The curves file of a run is written before its runs
file, so a row in ``runs`` always has its curves. Each run's files are named by its run id, so
concurrent writers never share a file and a rerun replaces, never duplicates.
``pandas.read_parquet(DIR / "runs")`` reads a table.

``merge`` compacts the per-run files into one ``part-*.parquet`` per table, keeping the newest
row of every run id. One run, one row, for ``pandas.read_parquet`` too: a run written again
after a merge (a retried failure, ``--force``, a run whose other table was lost) is taken out
of the part file by ``deduplicate``, which every sweep runs at its start and end and every merge
after merging (a part is rewritten in place, atomically). Only a SIGKILL between a run's write
and the sweep's end leaves a run twice, until the next sweep or merge of the directory. Each sweep also leaves a manifest, ``DIR/sweeps/SWEEP_ID.json``: the
study and its reference, its grid options and resolved grid, seeds, run ids (which ``status``
counts against) and command line; ``runner sweep --from`` reruns it.
"""
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.parquet as pq

from results.schema import curves_schema, runs_schema

if TYPE_CHECKING:  # the study only for its declarations; experiments is above results
    from experiments.study import Study

RUNS = "runs"
CURVES = "curves"


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path``, unique across hosts and processes (array tasks on
    several nodes may share a process id)."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _replace_with(path: Path, write) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it to ``path``;
    on any error the temporary file is removed and the error raised."""
    tmp = _temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_atomic(table: pa.Table, path: Path) -> None:
    _replace_with(path, lambda tmp: pq.write_table(table, tmp))


def write_manifest(out_dir: Path, record: dict) -> None:
    """Record a sweep's definition, ``record`` (runner.cli: sweep_id, study, study_ref,
    study_digest, grid, resolved, seeds, run_ids, command), as OUT/sweeps/SWEEP_ID.json, atomically. A rerun or
    another shard of the same sweep leaves it as it is (with the first command line)."""
    path = out_dir / "sweeps" / f"{record['sweep_id']}.json"
    text = json.dumps(record, indent=1)
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and {**old, "command": None} == {**json.loads(text), "command": None}:
        return
    write_text(path, text)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as ``path``, atomically (creating its directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_with(path, lambda tmp: tmp.write_text(text))


def read_manifest(path: Path) -> dict | None:
    """A sweep manifest, or None if the file is not one (unreadable, not JSON, keys missing)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    keys = ("sweep_id", "study", "grid", "seeds", "run_ids")
    return record if isinstance(record, dict) and all(k in record for k in keys) else None


def manifests(out_dir: Path) -> list[dict]:
    """Every readable sweep manifest under out_dir (integrity.problems lists the others)."""
    found = (read_manifest(p) for p in sorted((out_dir / "sweeps").glob("*.json")))
    return [m for m in found if m is not None]


def write_run(out_dir: Path, study: "Study", row: dict, curves: dict) -> None:
    """Write one run: its curves (column -> array, with ``epoch``) and then its ``runs`` row."""
    run_id = row["run_id"]
    n = len(curves["epoch"])
    columns = {"run_id": [run_id] * n, **curves}
    schema = curves_schema(study)  # a failed run has no curves: its file has no rows
    curve_table = pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)
    run_table = pa.Table.from_pylist([row], schema=runs_schema(study))
    for name, table in ((CURVES, curve_table), (RUNS, run_table)):
        directory = out_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(table, directory / f"{run_id}.parquet")


def _files(out_dir: Path, table: str) -> list[Path]:
    """The table's files, merged parts first (the order in which later files win)."""
    return sorted((out_dir / table).glob("*.parquet"), key=lambda f: (not f.name.startswith("part-"), f.name))


def read_file(path: Path, columns: list[str] | None = None) -> pa.Table | None:
    """``columns`` of one Parquet file, or None if it cannot be read (truncated, not Parquet,
    columns missing, or gone: removed by a merge meanwhile). Read with ParquetFile:
    pyarrow.dataset would import pandas, a quarter second of every sweep."""
    try:
        return pq.ParquetFile(path).read(columns=columns)
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None


def concat(tables: list[pa.Table]) -> pa.Table:
    """The tables one after another, also where their columns differ (a study that gained a
    parameter or a metric between sweeps): a missing column is null, and the columns are in
    the order of the widest table, so that the runs table's parts stay where results.summary
    looks for them."""
    joined = pa.concat_tables(tables, promote_options="default")
    widest = max(tables, key=lambda t: t.num_columns)
    return joined.select(widest.column_names + [c for c in joined.column_names if c not in widest.column_names])


def _read_columns(out_dir: Path, table: str, columns: list[str]) -> pa.Table | None:
    """``columns`` of every readable file of the table, or None without any."""
    tables = [t for t in (read_file(f, columns) for f in _files(out_dir, table)) if t is not None]
    return concat(tables) if tables else None


def run_statuses(out_dir: Path) -> dict[str, str]:
    """run_id -> status of every run recorded under out_dir whose curves are readable too (the
    newest row; empty if none). A run whose runs or curves file is unreadable is not in it, so
    a sweep runs it again."""
    runs = _read_columns(out_dir, RUNS, ["run_id", "status", "finished_at"])
    if runs is None:
        return {}
    runs = runs.sort_by("finished_at")
    statuses = dict(zip(runs.column("run_id").to_pylist(), runs.column("status").to_pylist()))
    curves = _curve_ids(out_dir)
    return {rid: status for rid, status in statuses.items() if rid in curves}


def run_digests(out_dir: Path) -> dict[str, str | None]:
    """run_id -> the study's source digest recorded with the run (schema: study_digest; the
    newest row), for the runs whose files record one."""
    runs = _read_columns(out_dir, RUNS, ["run_id", "study_digest", "finished_at"])
    if runs is None:
        return {}
    runs = runs.sort_by("finished_at")
    return dict(zip(runs.column("run_id").to_pylist(), runs.column("study_digest").to_pylist()))


def _curve_ids(out_dir: Path) -> set[str]:
    """The run ids with readable curves: a per-run file whose footer reads, or rows in a part."""
    ids = set()
    for f in _files(out_dir, CURVES):
        if f.name.startswith("part-"):
            part = read_file(f, ["run_id"])
            ids |= set() if part is None else set(part.column("run_id").unique().to_pylist())
        else:
            try:
                pq.read_metadata(f)
            except (OSError, pa.ArrowException):
                continue
            ids.add(f.stem)
    return ids


def studies_in(out_dir: Path) -> set[str]:
    """The studies whose runs are recorded under out_dir."""
    runs = _read_columns(out_dir, RUNS, ["study"])
    return set() if runs is None else set(runs.column("study").unique().to_pylist())


def _newest_runs(runs: pa.Table) -> pa.Table:
    """One row per run id: the newest (a --force rerun after a merge leaves two)."""
    order = runs.sort_by([("run_id", "ascending"), ("finished_at", "descending")])
    ids = order.column("run_id").to_numpy(zero_copy_only=False)
    first = np.ones(len(ids), bool)
    first[1:] = ids[1:] != ids[:-1]
    return order.filter(pa.array(first))


def _last_file_wins(table: pa.Table, file_index: np.ndarray) -> pa.Table:
    """Keep each run id's rows from the last file (in file_index order) that holds it."""
    ids = table.column("run_id").to_numpy(zero_copy_only=False)
    _, group = np.unique(ids, return_inverse=True)
    last = np.full(group.max() + 1 if len(group) else 0, -1)
    np.maximum.at(last, group, file_index)
    return table.filter(pa.array(file_index == last[group]))


def merge(out_dir: Path) -> dict[str, tuple[int, int]]:
    """Compact each table's files into one new ``part-*.parquet``: one row per run id (per run
    and epoch), the newest where a run was written twice. Files written while the merge runs
    are left alone. Returns {table: (files before, files after)}.

    Order of safety: the merged part is written atomically (curves before runs) before any
    source file is removed, so a crash leaves at worst duplicate rows, which ``load`` and the
    next merge resolve.
    """
    result, sources = {}, {}
    for name in (CURVES, RUNS):
        directory = out_dir / name
        files = _files(out_dir, name)
        if len(files) < 2:
            result[name] = (len(files), len(files))
            continue
        stamps = {f: (f.stat().st_mtime_ns, f.stat().st_size) for f in files}
        tables = [read_file(f) for f in files]
        if any(t is None for t in tables):
            raise ValueError(f"{directory}: unreadable files; quarantine them first (results.integrity)")
        index = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)])
        table = _last_file_wins(concat(tables), index)
        if name == RUNS:
            table = _newest_runs(table)
        _write_atomic(table, directory / part_name())
        sources[name] = stamps
    for name in (RUNS, CURVES):  # the runs files go first: a runs row must keep its curves
        for f, stamp in sources.get(name, {}).items():
            if f.exists() and (f.stat().st_mtime_ns, f.stat().st_size) == stamp:
                f.unlink()
    deduplicate(out_dir)  # runs written again while it merged
    for name in sources:
        result[name] = (len(sources[name]), len(list((out_dir / name).glob("*.parquet"))))
    return result


def part_name() -> str:
    """A new part file's name; names sort in the order the parts were written."""
    return f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"


def deduplicate(out_dir: Path) -> int:
    """Take out of every part file the run ids that a later file of its table holds (a
    per-run file, or a later part), rewriting the part in place, atomically (removing it if
    nothing is left); return the number of rows taken out. Readers then see each run once.
    Hold the merge lock (results.integrity.merge_lock) while calling it."""
    dropped = 0
    for name in (CURVES, RUNS):
        files = _files(out_dir, name)
        later = {f.stem for f in files if not f.name.startswith("part-")}
        for part in reversed([f for f in files if f.name.startswith("part-")]):
            ids = read_file(part, ["run_id"])
            if ids is None:
                continue  # unreadable: integrity.problems quarantines it
            held = pa.compute.is_in(ids.column("run_id"), value_set=pa.array(sorted(later), pa.string()))
            if pa.compute.any(held).as_py():
                table = read_file(part)
                if table is not None:
                    dropped += _drop_rows(part, table, held)
            later |= set(ids.column("run_id").unique().to_pylist())
    return dropped


def _drop_rows(part: Path, table: pa.Table, held) -> int:
    """Rewrite the part file ``part`` (holding ``table``) without the rows where ``held`` is
    true, atomically, or remove it when none is left; return the rows dropped."""
    keep = table.filter(pa.compute.invert(held))
    if keep.num_rows:
        _write_atomic(keep, part)
    else:
        part.unlink()
    return table.num_rows - keep.num_rows


def forget(out_dir: Path, run_ids: set[str]) -> int:
    """Remove the runs ``run_ids`` from both tables: their per-run files, and their rows of the
    merged parts (each part rewritten in place, atomically, or removed when nothing is left);
    return the number of rows removed. Hold the merge lock (results.integrity.merge_lock)."""
    removed = 0
    value_set = pa.array(sorted(run_ids), pa.string())
    for name in (CURVES, RUNS):
        for path in _files(out_dir, name):
            if not path.name.startswith("part-"):
                if path.stem in run_ids:
                    table = read_file(path, ["run_id"])
                    removed += 0 if table is None else table.num_rows
                    path.unlink()
                continue
            table = read_file(path)
            if table is None:
                continue  # unreadable: integrity.problems quarantines it
            held = pa.compute.is_in(table.column("run_id"), value_set=value_set)
            if pa.compute.any(held).as_py():
                removed += _drop_rows(path, table, held)
    return removed


def find_sweep(out_dir: Path, name: str) -> dict:
    """The manifest of the sweep whose id starts with ``name`` or whose tag is ``name``;
    ValueError naming the sweeps there if none or several match."""
    found = manifests(out_dir)
    matches = [m for m in found if m["sweep_id"].startswith(name) or m.get("tag") == name]
    if len(matches) != 1:
        known = ", ".join(m["sweep_id"] + (f" ({m['tag']})" if m.get("tag") else "") for m in found) or "none"
        raise ValueError(f"{'no' if not matches else 'more than one'} sweep {name!r} in {out_dir} (sweeps: {known})")
    return matches[0]


def load(out_dir: Path, table: str = RUNS) -> "pandas.DataFrame":  # noqa: F821 (pandas loads on use)
    """One table as a DataFrame, one row per run id (per run and epoch), from its readable
    files; FileNotFoundError if there is none."""
    tables = [t for t in (read_file(f) for f in _files(out_dir, table)) if t is not None]
    if not tables:
        raise FileNotFoundError(f"no {table} table under {out_dir}")
    index = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)])
    data = _last_file_wins(concat(tables), index)
    # without the pandas metadata (results.schema): the reports read nullable integers as float64
    return (_newest_runs(data) if table == RUNS else data).to_pandas(ignore_metadata=True)
