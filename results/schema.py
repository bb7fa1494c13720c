"""The pyarrow schemas of the two tables, built from a study's declaration.

runs: one row per run. Columns, in order: identity (run_id, sweep_id, study, seed), every
hyperparameter of the study as its own typed column, outcome (status, error, diverged_epoch),
the study's metrics, timings (run_time_s, compile_time_s, started_at, finished_at) and
provenance (PROVENANCE: ``target`` is where the run trained, cpu or cuda, and ``gpu`` the
CUDA device's name; ``study_digest`` the sha256 of a plug-in study's source file, null for a
built-in study).

curves: one row per run and recorded epoch: run_id, epoch, then the study's curve columns.

Integer columns that may be null (diverged_epoch, the metrics, the curves' integer columns:
null in a failed run, or where a metric has no value) carry pandas metadata that makes
``pd.read_parquet`` read them as pandas' nullable ``Int64`` instead of float64 (pyarrow
restores a column's dtype from the metadata's ``numpy_type``). The identity and parameter
columns, never null, read as int64.
"""
import json
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:  # the study only for its declarations; experiments is above results
    from experiments.study import Study


PA_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}

IDENTITY = [("run_id", pa.string()), ("sweep_id", pa.string()), ("study", pa.string()),
            ("seed", pa.int64())]
OUTCOME = [("status", pa.string()), ("error", pa.string()), ("diverged_epoch", pa.int64())]
TIMINGS = [("run_time_s", pa.float64()), ("compile_time_s", pa.float64()),
           ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC"))]
PROVENANCE = [("package_version", pa.string()), ("git_commit", pa.string()),
              ("numba_version", pa.string()), ("numpy_version", pa.string()),
              ("python_version", pa.string()), ("cpu", pa.string()), ("hostname", pa.string()),
              ("threads", pa.int64()), ("target", pa.string()), ("gpu", pa.string()),
              ("study_digest", pa.string())]


def arrow_type(kind) -> pa.DataType:
    """The column type of a declared metric or curve column: int, float, str or bool (a study
    declares plain Python types; only results/ knows Parquet's). TypeError for anything else."""
    if kind in PA_TYPES:
        return PA_TYPES[kind]
    raise TypeError(f"{kind!r} is not a column type")


def reserved_columns() -> list[str]:
    """The runs columns that the runner writes, whatever the study."""
    return [name for name, _ in IDENTITY + OUTCOME + TIMINGS + PROVENANCE]


def nullable_integers(schema: pa.Schema, columns: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """``schema`` with pandas metadata that reads the int64 ones of ``columns`` as ``Int64``."""
    described = [{"name": name, "field_name": name, "pandas_type": "int64", "numpy_type": "Int64", "metadata": None}
                 for name, kind in columns if kind == pa.int64()]
    if not described:
        return schema
    pandas = {"index_columns": [], "column_indexes": [], "columns": described,
              "creator": {"library": "nn-batch-runner"}}
    return schema.with_metadata({b"pandas": json.dumps(pandas).encode()})


def runs_schema(study: "Study") -> pa.Schema:
    provenance = {name for name, _ in PROVENANCE}  # a study's "target" parameter is provenance too
    params = [(p.name, PA_TYPES[p.type]) for p in study.params if p.name not in provenance]
    metrics = [(name, arrow_type(kind)) for name, kind in study.metrics.items()]
    return nullable_integers(pa.schema(IDENTITY + params + OUTCOME + metrics + TIMINGS + PROVENANCE), OUTCOME + metrics)


def curves_schema(study: "Study") -> pa.Schema:
    curves = [(name, arrow_type(kind)) for name, kind in study.curve_columns.items()]
    return nullable_integers(pa.schema([("run_id", pa.string()), ("epoch", pa.int64())] + curves), curves)
