"""The sweep pipeline (runner.sweep) without the command line, and the executor interface
(runner.executors): a new executor is one class in the registry, and the CLI runs on it."""
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from runner import sweep as sweeping
from runner.cli import app
from runner.execute import execute_run
from runner.executors import EXECUTORS, Executor, executor_named

GRID = ["model=dense8", "epochs=1", "lr=0.01,0.1"]


class Recorded:
    """A Progress that keeps what it is told."""

    def __init__(self):
        self.lines, self.warnings, self.rows = [], [], []

    def say(self, line):
        self.lines.append(line)

    def warn(self, line):
        self.warnings.append(line)

    def runs(self, label, todo, counts):
        from contextlib import nullcontext

        self.label = label
        return nullcontext(self.rows.append)


class Reversed(Executor):
    """An executor of the test's own: this process, the runs in reverse order."""

    name = "reversed"
    summary = "this process, last run first"
    compiles_here = True

    def run(self, study, specs, sweep_id):
        for spec in reversed(specs):
            yield execute_run(study.reference, spec, sweep_id)

    def label(self, study_name):
        return f"{study_name} (reversed)"


def test_the_pipeline_runs_a_sweep_and_prints_nothing(tmp_path, capsys):
    study = sweeping.study_named("digits")
    planned = sweeping.plan(study, GRID, 1, tmp_path)
    assert len(planned.specs) == 2 and planned.part is None
    progress = Recorded()
    outcomes = sweeping.run(planned, executor_named("local", 1), progress)
    assert set(outcomes.values()) == {"ok"} and [row["run_id"] for row in progress.rows] == list(outcomes)
    assert progress.lines[0].startswith(f"sweep {planned.id}: digits, 2 runs, 0 done, 2 to run")
    assert capsys.readouterr().out == ""
    again = Recorded()
    sweeping.run(planned, executor_named("local", 1), again)  # resumed: everything is done
    assert "2 runs, 2 done, 0 to run" in again.lines[0] and again.rows == []


@pytest.mark.parametrize("grid, shard, message", [
    (["lr=0"], None, "lr: must be > 0"),
    (GRID, "2/2", "shard"),
])
def test_the_pipeline_raises_bad_input_as_one_line(tmp_path, grid, shard, message):
    with pytest.raises(sweeping.SweepError, match=message):
        sweeping.plan(sweeping.study_named("digits"), grid, 1, tmp_path, shard=shard)
    assert not any(tmp_path.iterdir())


def test_the_array_task_shard_comes_from_the_batch_systems_variables(tmp_path):
    environ = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
    planned = sweeping.plan(sweeping.study_named("digits"), GRID, 1, tmp_path, environ=environ)
    assert planned.part == (1, 2)


def test_a_new_executor_is_one_class_in_the_registry(tmp_path, monkeypatch):
    monkeypatch.setitem(EXECUTORS, "reversed", Reversed)
    result = CliRunner().invoke(app, ["sweep", "digits", *(a for g in GRID for a in ("--grid", g)), "--executor",
                                      "reversed", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs")
    assert len(runs) == 2 and (runs["status"] == "ok").all()
    order = [line.split()[1] for line in result.output.splitlines() if line.startswith("[")]
    planned = sweeping.plan(sweeping.study_named("digits"), GRID, 1, Path(tmp_path))
    assert order == [s.run_id for s in reversed(planned.specs)]  # it ran them, in its own order


@pytest.mark.parametrize("name, options, message", [
    ("ray", {}, "--executor must be one of local, dask"),
    ("local", {"scheduler": "tcp://h:8786"}, "--scheduler needs --executor dask"),
    ("local", {"run_timeout": 0.0}, "--run-timeout must be > 0"),
    ("dask", {"run_timeout": 5.0}, "--run-timeout needs --executor local"),
    ("local", {"workers": 0}, "--workers must be >= 1"),
])
def test_executors_check_their_options(name, options, message):
    with pytest.raises(ValueError, match=message):
        executor_named(name, options.pop("workers", 1), **options)
