"""Reliability: bad input exits 2 before anything runs; the pool survives interrupts, a killed
parent and a killed worker; corrupt and foreign files never crash a reader."""
import time

import pytest
from typer.testing import CliRunner

from runner.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("args, message", [
    (["batch-size", "--grid", "lr=1:2:log99999999999999999999"], "a range has 1 to 10000 points"),
    (["batch-size", "--grid", "lr=1:inf:lin3"], "a range needs finite ends"),
    (["lcurve-degree", "--grid", "delta=1e-12"], "at most 1000000 are allowed"),
    (["lcurve-lambda", "--grid", "delta=1e-9"], "at most 1000000 are allowed"),
    (["lcurve-degree", "--grid", "stop=inf"], "stop: must be finite"),
    (["batch-size", "--grid", "noise=inf"], "noise: must be finite"),
    (["gd-1d", "--grid", "x0=nan"], "x0: must be finite"),
    (["gd-1d", "--grid", "lr=1e-3:1:log5000", "--grid", "x0=1:2:lin2000"], "the sweep has 10000000 runs, more than 100000"),
    (["batch-size", "--seeds", "200000"], "more than 100000"),
    (["batch-size", "--max-runs", "0"], "--max-runs must be >= 1"),
    (["gd-1d", "--grid", "lr=1e-3:1:log4", "--grid", "x0=1:2:lin3", "--max-runs", "11"],
     "the sweep has 12 runs, more than 11; pass --max-runs 12"),
    (["batch-size", "--workers", "0"], "--workers must be >= 1"),
    (["digits", "--grid", "activation=sign"], "not an activation with a gradient"),
    (["digits", "--grid", "activation=sigmoid:1:2:3"], "at most two parameters"),
    (["digits", "--grid", "dataset=mnist"], "dataset=mnist needs data_dir=PATH"),
])
def test_bad_input_exits_2_at_once_with_one_line(tmp_path, args, message):
    t0 = time.perf_counter()
    result = invoke("sweep", *args, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output
    assert time.perf_counter() - t0 < 10  # refused before expanding anything large
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["digits", "--grid", "model=dense8-prelu:0.05"],
    ["digits", "--grid", "activation=sigmoid:2:1"],
    ["gd-1d", "--grid", "lr=1e-3:1:log4", "--grid", "x0=1:2:lin3", "--max-runs", "12"],
])
def test_colons_in_text_values_and_an_explicit_max_runs_are_accepted(tmp_path, args):
    result = invoke("sweep", *args, "--dry-run", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
