"""The Parquet store: ``DIR/runs/`` and ``DIR/curves/``, one file per run and table.

Every file is written under a hidden temporary name in its final directory and then renamed
(``os.replace`` is atomic on POSIX), so a reader or a crash never sees a partial file: pyarrow
ignores names starting with '.' or '_'. The curves file of a run is written before its runs
file, so a row in ``runs`` always has its curves. Each run's files are named by its run id, so
concurrent writers never share a file and a rerun replaces, never duplicates.
``pandas.read_parquet(DIR / "runs")`` reads a table.
"""
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from experiments.study import Study
from results.schema import curves_schema, runs_schema

RUNS = "runs"
CURVES = "curves"


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


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


def _dataset(out_dir: Path, table: str) -> ds.Dataset | None:
    path = out_dir / table
    if not path.is_dir() or not any(path.glob("*.parquet")):
        return None
    return ds.dataset(path, format="parquet")


def run_statuses(out_dir: Path) -> dict[str, str]:
    """run_id -> status of every run recorded under out_dir (empty if none)."""
    data = _dataset(out_dir, RUNS)
    if data is None:
        return {}
    table = data.to_table(columns=["run_id", "status"])
    return dict(zip(table.column("run_id").to_pylist(), table.column("status").to_pylist()))


def studies_in(out_dir: Path) -> set[str]:
    """The studies whose runs are recorded under out_dir."""
    data = _dataset(out_dir, RUNS)
    return set() if data is None else set(data.to_table(columns=["study"]).column("study").to_pylist())


def load(out_dir: Path, table: str = RUNS) -> pd.DataFrame:
    """One table as a DataFrame; FileNotFoundError if there is none."""
    if _dataset(out_dir, table) is None:
        raise FileNotFoundError(f"no {table} table under {out_dir}")
    return pd.read_parquet(out_dir / table)
