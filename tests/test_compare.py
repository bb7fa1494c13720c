"""Sweeps by name: --tag, report --sweep, compare and forget, through the command line."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from runner.cli import app

BASE = ["--grid", "iterations=30", "--workers", 1]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def two_sweeps(tmp_path):
    """One directory, two tagged sweeps of gd-1d that share the run at lr=0.1."""
    out = tmp_path / "o"
    for tag, lrs in (("small", "0.01,0.1"), ("large", "0.1,0.5,0.9")):
        result = invoke("sweep", "gd-1d", "--grid", f"lr={lrs}", *BASE, "--tag", tag, "--out", out)
        assert result.exit_code == 0, result.output
    return out


def test_tags_name_sweeps_in_status_and_report(two_sweeps):
    status = invoke("status", two_sweeps)
    assert "[small] gd-1d" in status.output and "[large] gd-1d" in status.output
    report = invoke("report", two_sweeps, "--sweep", "small", "--format", "csv")
    assert report.exit_code == 0, report.output
    table = pd.read_csv(pd.io.common.StringIO(report.output))
    assert sorted(table["lr"]) == [0.01, 0.1]
    missing = invoke("report", two_sweeps, "--sweep", "nope")
    assert missing.exit_code == 2 and "no sweep 'nope'" in missing.output and "(small)" in missing.output


def test_compare_puts_the_same_groups_side_by_side(two_sweeps, tmp_path):
    result = invoke("compare", two_sweeps, "--sweep", "small", "--sweep", "large", "--metric", "final_x",
                    "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.output)).set_index("lr")
    assert table.loc[0.1, "runs_A"] == 1 and table.loc[0.1, "runs_B"] == 1
    assert table.loc[0.1, "final_x_diff"] == 0  # the same run in both
    assert table.loc[0.01, "runs_B"] == 0 and pd.isna(table.loc[0.01, "final_x_B"])
    runs = pd.read_parquet(two_sweeps / "runs").set_index("lr")
    assert table.loc[0.5, "final_x_B"] == runs.loc[0.5, "final_x"]
    other = tmp_path / "other"
    assert invoke("sweep", "gd-1d", "--grid", "lr=0.1", "--grid", "x0=2", *BASE, "--out", other).exit_code == 0
    dirs = invoke("compare", two_sweeps, other, "--sweep", "small", "--metric", "final_x", "--format", "csv")
    assert dirs.exit_code == 0 and "x0" in dirs.output.splitlines()[0], dirs.output
    bad = invoke("compare", two_sweeps, "--sweep", "small", "--sweep", "large", "--metric", "nope")
    assert bad.exit_code == 2 and "not a metric of both sweeps" in bad.output


def test_forget_removes_a_sweep_but_the_runs_another_sweep_holds(two_sweeps):
    dry = invoke("forget", two_sweeps, "small", "--dry-run")
    assert dry.exit_code == 0 and "1 runs" in dry.output and "1 runs also belong" in dry.output
    assert len(pd.read_parquet(two_sweeps / "runs")) == 4
    assert invoke("merge", two_sweeps).exit_code == 0  # the rows now sit in merged part files
    done = invoke("forget", two_sweeps, "small")
    assert done.exit_code == 0, done.output
    runs = pd.read_parquet(two_sweeps / "runs")
    assert sorted(runs["lr"]) == [0.1, 0.5, 0.9] and runs.run_id.is_unique
    assert set(pd.read_parquet(two_sweeps / "curves").run_id) == set(runs.run_id)
    assert [json.loads(p.read_text())["tag"] for p in (two_sweeps / "sweeps").glob("*.json")] == ["large"]
    status = invoke("status", two_sweeps)
    assert status.exit_code == 0, status.output
