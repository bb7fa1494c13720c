"""The Parquet store: ``DIR/runs/`` and ``DIR/curves/``, one file per run and table.

Every file is written under a hidden temporary name in its final directory and then renamed
(``os.replace`` is atomic on POSIX), so a reader or a crash never sees a partial file: pyarrow
ignores names starting with '.' or '_'. The curves file of a run is written before its runs
file, so a row in ``runs`` always has its curves. Each run's files are named by its run id, so
concurrent writers never share a file and a rerun replaces, never duplicates.
``pandas.read_parquet(DIR / "runs")`` reads a table.

``merge`` compacts the per-run files into one ``part-*.parquet`` per table, keeping the newest
row of every run id. Each sweep also leaves a manifest, ``DIR/sweeps/SWEEP_ID.json``: the
study and its reference, its grid options and resolved grid, seeds, run ids (which ``status``
counts against) and command line; ``runner sweep --from`` reruns it.
"""
import json
import os
import socket
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from experiments.study import Study
from results.schema import curves_schema, runs_schema

RUNS = "runs"
CURVES = "curves"


def _temporary(path: Path) -> Path:
    """A hidden name beside ``path``, unique across hosts and processes (array tasks on
    several nodes may share a process id)."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = _temporary(path)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_manifest(out_dir: Path, record: dict) -> None:
    """Record a sweep's definition, ``record`` (runner.cli: sweep_id, study, study_ref, grid,
    resolved, seeds, run_ids, command), as OUT/sweeps/SWEEP_ID.json, atomically. A rerun or
    another shard of the same sweep leaves it as it is (with the first command line)."""
    path = out_dir / "sweeps" / f"{record['sweep_id']}.json"
    text = json.dumps(record, indent=1)
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = None
    if isinstance(old, dict) and {**old, "command": None} == {**json.loads(text), "command": None}:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def manifests(out_dir: Path) -> list[dict]:
    """Every sweep manifest under out_dir."""
    return [json.loads(p.read_text()) for p in sorted((out_dir / "sweeps").glob("*.json"))]


def write_run(out_dir: Path, study: Study, row: dict, curves: dict) -> None:
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


def _read_columns(out_dir: Path, table: str, columns: list[str]) -> pa.Table | None:
    """``columns`` of every file of the table, or None without any. Files are read one by one
    with ParquetFile: pyarrow.dataset would import pandas, a quarter second of every sweep."""
    files = _files(out_dir, table)
    return pa.concat_tables([pq.ParquetFile(f).read(columns=columns) for f in files]) if files else None


def run_statuses(out_dir: Path) -> dict[str, str]:
    """run_id -> status of every run recorded under out_dir (the newest row; empty if none)."""
    runs = _read_columns(out_dir, RUNS, ["run_id", "status", "finished_at"])
    if runs is None:
        return {}
    runs = runs.sort_by("finished_at")
    return dict(zip(runs.column("run_id").to_pylist(), runs.column("status").to_pylist()))


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
        tables = [pq.read_table(f) for f in files]
        index = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)])
        table = _last_file_wins(pa.concat_tables(tables), index)
        if name == RUNS:
            table = _newest_runs(table)
        _write_atomic(table, directory / f"part-{uuid.uuid4().hex[:12]}.parquet")
        sources[name] = stamps
    for name in (RUNS, CURVES):  # the runs files go first: a runs row must keep its curves
        for f, stamp in sources.get(name, {}).items():
            if f.exists() and (f.stat().st_mtime_ns, f.stat().st_size) == stamp:
                f.unlink()
        if name in sources:
            result[name] = (len(sources[name]), len(list((out_dir / name).glob("*.parquet"))))
    return result


def load(out_dir: Path, table: str = RUNS) -> "pandas.DataFrame":  # noqa: F821 (pandas loads on use)
    """One table as a DataFrame, one row per run id (per run and epoch); FileNotFoundError if
    there is none."""
    files = _files(out_dir, table)
    if not files:
        raise FileNotFoundError(f"no {table} table under {out_dir}")
    tables = [pq.read_table(f) for f in files]
    index = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)])
    data = _last_file_wins(pa.concat_tables(tables), index)
    return (_newest_runs(data) if table == RUNS else data).to_pandas()
