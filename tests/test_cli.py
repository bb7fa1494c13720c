"""The command line end to end: sweep, resume, the Parquet schema, bad input, report."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from experiments import get_study
from experiments.batch_size import BatchSizeStudy
from results.schema import curves_schema, runs_schema
from results.store import load
from runner.cli import app

SMALL = ["--grid", "N=256", "--grid", "n=4", "--grid", "epochs=5", "--grid", "batch_size=1,16,full"]
STUDY = get_study("batch-size")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def files(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A small sweep through the real console script on 2 worker processes."""
    out = tmp_path_factory.mktemp("sweep") / "res"
    proc = subprocess.run([Path(sys.executable).with_name("runner"), "sweep", "batch-size", *SMALL,
                           "--seeds", "2", "--workers", "2", "--out", out],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_sweep_writes_every_run(swept):
    runs = pd.read_parquet(swept / "runs")
    curves = pd.read_parquet(swept / "curves")
    assert len(runs) == 6 and set(runs["status"]) == {"ok"}
    assert sorted(runs["batch_size"].unique()) == [1, 16, 256]
    assert set(runs.loc[runs["batch_size"] == 256, "method"]) == {"gd"}
    assert len(curves) == 6 * 6 and set(curves["run_id"]) == set(runs["run_id"])
    assert runs["sweep_id"].nunique() == 1 and runs["run_id"].is_unique
    assert (runs["threads"] == 1).all()  # pool workers are pinned to one thread
    assert runs["git_commit"].notna().all() and (runs["target"] == "cpu").all()
    assert (runs["compile_time_s"] >= 0).all() and (runs["run_time_s"] > 0).all()
    assert not list(swept.rglob(".*"))  # no temporary files left


def test_parquet_schema(swept):
    for table, schema in (("runs", runs_schema(STUDY)), ("curves", curves_schema(STUDY))):
        for path in (swept / table).glob("*.parquet"):
            assert pq.read_schema(path).remove_metadata() == schema
    runs = pd.read_parquet(swept / "runs")
    assert runs["batch_size"].dtype == "int64" and runs["lr"].dtype == "float64"
    assert str(runs["started_at"].dt.tz) == "UTC"


def test_rerun_does_no_work(swept):
    before = files(swept)
    result = invoke("sweep", "batch-size", *SMALL, "--seeds", "2", "--workers", "1", "--out", swept)
    assert result.exit_code == 0, result.output
    assert "6 done, 0 to run" in result.output
    assert files(swept) == before


def test_more_seeds_runs_only_the_new_ones(swept, tmp_path):
    result = invoke("sweep", "batch-size", *SMALL, "--seeds", "3", "--workers", "1", "--out", swept, "--dry-run")
    assert result.exit_code == 0 and "6 done, 3 to run" in result.output
    assert result.output.count("[todo]") == 3


def test_force_reruns_without_duplicates(tmp_path):
    out = tmp_path / "r"
    args = ("sweep", "batch-size", "--grid", "N=64", "--grid", "epochs=2", "--grid", "batch_size=8",
            "--workers", "1", "--out", out)
    assert invoke(*args).exit_code == 0
    first = pd.read_parquet(out / "runs")
    assert invoke(*args, "--force").exit_code == 0
    second = pd.read_parquet(out / "runs")
    assert len(second) == 1 and second["run_id"].iloc[0] == first["run_id"].iloc[0]
    assert second["finished_at"].iloc[0] > first["finished_at"].iloc[0]


def test_dry_run_writes_nothing(tmp_path):
    result = invoke("sweep", "batch-size", "--dry-run", "--out", tmp_path / "d")
    assert result.exit_code == 0 and result.output.count("[todo]") == 13
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("args, message", [
    (["sweep", "nope"], "unknown study 'nope'"),
    (["sweep", "batch-size", "--grid", "bogus=1"], "unknown parameter 'bogus'"),
    (["sweep", "batch-size", "--grid", "lr=abc"], "not a valid float"),
    (["sweep", "batch-size", "--grid", "lr=0"], "must be > 0"),
    (["sweep", "batch-size", "--grid", "batch_size=0"], "must be >= 1"),
    (["sweep", "batch-size", "--grid", "N=100", "--grid", "batch_size=101"], "larger than n_samples"),
    (["sweep", "batch-size", "--grid", "lr=1e-3:1e-1:logx"], "malformed range"),
    (["sweep", "batch-size", "--seeds", "0"], "--seeds must be >= 1"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "bad"
    result = invoke(*args, "--out", out)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
    assert not out.exists()


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("sweep", "batch-size", "--out", blocker / "sub")
    assert result.exit_code == 2 and "not a directory" in result.output


def test_diverged_and_failed_runs_are_rows(tmp_path, monkeypatch):
    out = tmp_path / "r"
    real_run = BatchSizeStudy.run

    def flaky(self, config, seed):
        if config["batch_size"] == 4:
            raise RuntimeError("boom")
        return real_run(self, config, seed)
    monkeypatch.setattr(BatchSizeStudy, "run", flaky)
    result = invoke("sweep", "batch-size", "--grid", "N=64", "--grid", "epochs=20", "--grid", "lr=40",
                    "--grid", "batch_size=4,8", "--workers", "1", "--out", out)
    assert result.exit_code == 1
    runs = pd.read_parquet(out / "runs").set_index("batch_size")
    assert runs.loc[4, "status"] == "failed" and "RuntimeError: boom" in runs.loc[4, "error"]
    assert runs.loc[8, "status"] == "diverged" and 1 <= runs.loc[8, "diverged_epoch"] <= 20
    # failed runs are retried on the next invocation, diverged ones are kept
    monkeypatch.setattr(BatchSizeStudy, "run", real_run)
    again = invoke("sweep", "batch-size", "--grid", "N=64", "--grid", "epochs=20", "--grid", "lr=40",
                   "--grid", "batch_size=4,8", "--workers", "1", "--out", out)
    assert "1 done, 1 to run" in again.output
    assert again.exit_code == 0  # one ok, one diverged: divergence is a result
    strict = invoke("sweep", "batch-size", "--grid", "N=64", "--grid", "epochs=20", "--grid", "lr=40",
                    "--grid", "batch_size=4,8", "--workers", "1", "--out", out, "--fail-on-diverged")
    assert "2 done, 0 to run" in strict.output and strict.exit_code == 1  # a resume exits as the sweep did


def test_other_study_in_directory_is_refused(swept):
    result = invoke("sweep", "digits", "--dry-run", "--out", swept)
    assert result.exit_code == 2 and "another study" in result.output


def test_report(swept):
    result = invoke("report", swept)
    assert result.exit_code == 0, result.output
    assert "Time per iteration" in result.output and "Never reach" in result.output
    pngs = sorted((swept / "figures").glob("*.png"))
    assert [p.name for p in pngs] == ["fig8_3_relative_loss.png", "fig8_4_time_to_target.png",
                                      "fig8_5_last50_and_time_per_iteration.png"]
    assert all(p.stat().st_size > 10_000 for p in pngs)


def test_report_of_empty_directory_exits_2(tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == 2 and "no runs table" in result.output


def test_studies_lists_parameters_and_grid():
    listed = invoke("studies")
    assert listed.exit_code == 0
    assert all(name in listed.output for name in ("batch-size", "digits", "lcurve-depth"))
    assert "n_samples" not in listed.output  # the list is short; one study shows in full
    result = invoke("studies", "batch-size")
    assert result.exit_code == 0
    assert "batch-size" in result.output and "n_samples/N" in result.output
    assert "batch_size = 1,2,4,8,16,32,64,128,256,512,1024,2048,full" in result.output


def test_progress_lines_name_each_runs_swept_values_counts_and_eta(tmp_path):
    result = invoke("sweep", "gd-1d", "--grid", "lr=0.1,0.5", "--grid", "iterations=20", "--seeds", 2, "--workers", 1,
                    "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and lines[0].startswith("[1/4] ") and lines[3].startswith("[4/4] ")
    assert "lr=0.1 seed=0" in lines[0] and "lr=0.5 seed=1" in lines[3]
    assert "(1 ok, 0 diverged, 0 failed;" in lines[0] and "ETA" in lines[0] and "ETA" not in lines[3]


def test_shell_completion_offers_study_names_and_grid_keys():
    def complete(words: str) -> list[str]:
        env = {"_RUNNER_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        return CliRunner().invoke(app, [], env=env, prog_name="runner").output.split()

    assert complete("runner sweep dig") == ["digits"]
    assert {"epochs=", "eps="} <= set(complete("runner sweep digits --grid ep"))
    assert complete("runner tune gd-1d --grid la") == ["lam="]
    assert complete("runner sweep no/such.py:Study --grid a") == []  # nothing a user names is imported


def test_nullable_integer_columns_read_as_integers_in_pandas(swept):
    runs, curves = pd.read_parquet(swept / "runs"), pd.read_parquet(swept / "curves")
    assert str(runs["diverged_epoch"].dtype) == "Int64" and str(runs["epochs_done"].dtype) == "Int64"
    as_floats = load(swept).set_index("run_id")["epochs_done"]  # the reports' reader: float64
    assert (runs.set_index("run_id")["epochs_done"].astype(float) == as_floats.loc[runs.run_id].to_numpy()).all()
    assert runs["batch_size"].dtype == "int64" and curves["epoch"].dtype == "int64"
