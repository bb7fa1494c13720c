"""runner tune: Optuna proposes, the runner runs; every trial's runs are ordinary rows, the
journal in OUT/optuna makes the same command resume."""
import json

import pandas as pd
from typer.testing import CliRunner

from runner.cli import app

SPACE = ["--grid", "lr=0.001:1.5:log3", "--grid", "iterations=40", "--grid", "x0=0.5,1,2"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_tune_runs_its_trials_as_rows_and_resumes(tmp_path):
    out = tmp_path / "o"
    first = invoke("tune", "gd-1d", "--metric", "final_x", "--direction", "min", *SPACE, "--trials", 6,
                   "--workers", 1, "--out", out)
    assert first.exit_code == 0, first.output
    assert first.output.count("trial ") == 6 and "best final_x" in first.output
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 6 and runs.sweep_id.nunique() == 1  # one run per trial, one tune
    assert runs.lr.between(0.001, 1.5).all() and set(runs.x0) <= {0.5, 1.0, 2.0}
    assert (out / "optuna" / "final_x-min.journal").is_file()
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert manifest["tune"]["metric"] == "final_x" and sorted(manifest["run_ids"]) == sorted(runs.run_id)
    more = invoke("tune", "gd-1d", "--metric", "final_x", "--direction", "min", *SPACE, "--trials", 9,
                  "--workers", 1, "--out", out)
    assert more.exit_code == 0 and more.output.count("trial ") == 3, more.output  # 6 told before
    runs = pd.read_parquet(out / "runs")
    assert len(runs) >= 8  # a repeated proposal is one run
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert sorted(manifest["run_ids"]) == sorted(runs.run_id)  # both sessions' runs, not the last one's
    status = invoke("status", out)
    assert status.exit_code == 0 and "ok" in status.output


def test_tune_options_that_do_not_fit(tmp_path):
    for args, message in [(["--metric", "nope"], "not a metric of study gd-1d"),
                          (["--metric", "final_x", "--direction", "down"], "--direction must be min or max"),
                          (["--metric", "final_x", "--grid", "lr=0.1"], "nothing to tune")]:
        result = invoke("tune", "gd-1d", *args, "--grid", "iterations=5", "--out", tmp_path / "o")
        assert result.exit_code == 2 and message in result.output, result.output
