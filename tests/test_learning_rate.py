"""The learning-rate studies: Table 8.1, Exercises 8.1 and 8.3, and optimizer × τ₀ sweeps."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments import get_study
from experiments.lr_report import optimizer_table
from kernels import optimizers
from kernels.scalar_gd import FUNCTIONS, descend
from runner.cli import app

RUNNER = Path(sys.executable).with_name("runner")


def sweep(*args):
    return CliRunner().invoke(app, ["sweep", *map(str, args)])


def test_table_8_1_exactly_in_runs_and_report(tmp_path):
    assert sweep("gd-1d", "--workers", 1, "--out", tmp_path).exit_code == 0
    runs = pd.read_parquet(tmp_path / "runs").sort_values("lr")
    assert runs["lr"].tolist() == [0.001, 0.01, 0.1, 0.5, 1.0] and runs["table_8_1"].all()
    assert runs["first_below"].tolist()[:4] == [3451, 342, 31, 1] and pd.isna(runs["first_below"].iloc[4])
    assert runs["converged"].tolist() == [True, True, True, True, False]
    assert runs["book_first_below"].tolist()[:4] == [3451, 342, 31, 1]
    report = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert report.exit_code == 0 and "identical to the book" in report.output
    assert (tmp_path / "figures" / "table8_1_iterates.png").stat().st_size > 0


def test_first_below_is_the_first_n_not_the_books_header():
    """xₙ = (1 − 2τ)ⁿ: the first n with |xₙ| < 0.001 is 3451 at τ = 0.001; the literal
    'for all n > N' of the header would give N = 3450."""
    xs = np.empty(4001)
    first = descend(FUNCTIONS["quadratic"], 1.0, 1.0, 0.001, 1e-3, 4000, xs)
    assert first == 3451 and abs(xs[3450]) >= 1e-3 > abs(xs[3451])
    np.testing.assert_allclose(xs[:10], 0.998 ** np.arange(10), rtol=1e-15)


def test_exercise_8_3_threshold_by_a_sweep(tmp_path):
    result = sweep("gd-1d", "--grid", "function=sin10-squared", "--grid", "x0=0.05", "--grid", "lr=0.009:0.012:lin31",
                   "--workers", 1, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs")
    last_ok = runs.loc[runs["converged"], "lr"].max()
    first_bad = runs.loc[~runs["converged"], "lr"].min()
    assert 0.0099 <= last_ok < first_bad <= 0.0102  # the linear bound 0.01, well below the book's 1/19
    report = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert "Exercise 8.3" in report.output and "1/19 = 0.05263" in report.output


def test_exercise_8_1_boundary(tmp_path):
    result = sweep("gd-1d", "--grid", "lam=0.1:10:log7", "--grid", "lr=0.01:10:log13", "--grid", "iterations=1",
                   "--workers", 1, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs")
    assert len(runs) == 7 * 13
    off_boundary = np.abs(runs["lr"] * runs["lam"] - 1) > 1e-9
    decreases = runs["first_step_decreases"][off_boundary]
    np.testing.assert_array_equal(decreases, (runs["lr"] < 1 / runs["lam"])[off_boundary])
    report = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert "(0 exceptions)" in report.output


def test_optimizer_by_learning_rate_sweep_shows_the_u_shape(tmp_path):
    """The default grid of the learning-rate study, 2 seeds, on the default --workers."""
    out = tmp_path / "lr"
    proc = subprocess.run([RUNNER, "sweep", "learning-rate", "--seeds", "2", "--out", out],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # some rates diverge: data, not a failure
    runs = pd.read_parquet(out / "runs")
    curves = pd.read_parquet(out / "curves")
    assert len(runs) == len(optimizers.CODES) * 11 * 2 and set(runs["status"]) <= {"ok", "diverged"}
    table = optimizer_table(runs, curves).set_index("optimizer")
    rates = sorted(runs["lr"].unique())
    for optimizer, row in table.iterrows():
        loss = runs[runs["optimizer"] == optimizer].groupby("lr")["final_train_loss"].median()
        assert rates[0] < row["best_lr"] < rates[-1], optimizer  # interior optimum: a U
        assert loss[rates[0]] > 10 * row["best_final_train_loss"] < loss[rates[-1]], optimizer
    assert (table["test_acc_at_best"] > 0.95).all()
    report = subprocess.run([RUNNER, "report", out], capture_output=True, text=True)
    assert report.returncode == 0 and "Per optimizer" in report.stdout
    assert (out / "figures" / "loss_vs_lr.png").exists() and (out / "figures" / "curves_selected_rates.png").exists()


def test_schedules_are_a_swept_dimension(tmp_path):
    result = sweep("digits", "--grid", "schedule=constant,step,cosine,inverse", "--grid", "epochs=4", "--grid", "step=2",
                   "--grid", "decay=0.5", "--grid", "lr=0.01", "--grid", "model=dense16", "--workers", 1, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs")[["run_id", "schedule"]]
    curves = pd.read_parquet(tmp_path / "curves").merge(runs, on="run_id").query("epoch > 0")
    rates = curves.pivot(index="epoch", columns="schedule", values="lr")
    np.testing.assert_allclose(rates["constant"], 0.01)
    np.testing.assert_allclose(rates["step"], [0.01, 0.01, 0.005, 0.005])
    np.testing.assert_allclose(rates["inverse"], 0.01 / (1 + 0.5 * np.arange(4)))
    np.testing.assert_allclose(rates["cosine"], 0.005 * (1 + np.cos(np.pi * np.arange(4) / 4)))


def test_adamw_and_lion_are_swept_like_any_optimizer(tmp_path):
    """Kinds added by one module each: AdamW with no decay is Adam (bias-corrected), with decay it
    is not; Lion trains; every row records the hyperparameters."""
    result = sweep("digits", "--grid", "optimizer=adam,adamw,lion", "--grid", "weight_decay=0,0.1", "--grid", "epochs=3",
                   "--grid", "lr=0.003", "--grid", "model=dense16", "--workers", 1, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs").set_index(["optimizer", "weight_decay"])
    assert len(runs) == 6 and (runs["status"] == "ok").all()
    assert {"beta1", "beta2", "eps", "bias_correction"} <= set(runs.columns)
    loss = runs["final_train_loss"]
    assert loss["adamw", 0.0] == pytest.approx(loss["adam", 0.0], rel=1e-12)
    assert loss["adam", 0.1] == loss["adam", 0.0]  # Adam does not read the decay
    assert loss["adamw", 0.1] != pytest.approx(loss["adamw", 0.0], rel=1e-6)
    curves = pd.read_parquet(tmp_path / "curves").merge(runs.reset_index()[["run_id", "optimizer"]], on="run_id")
    lion = curves[curves["optimizer"] == "lion"].pivot(index="epoch", columns="run_id", values="train_loss")
    assert (lion.iloc[-1] < lion.iloc[0]).all()  # Lion trains


def test_batch_size_study_takes_every_optimizer(tmp_path):
    result = sweep("batch-size", "--grid", "N=256", "--grid", "n=4", "--grid", "epochs=3", "--grid", "batch_size=16",
                   "--grid", "optimizer=sgd,adam,nesterov", "--grid", "lr=1e-3,1e3", "--workers", 1, "--out", tmp_path)
    assert result.exit_code == 0  # τ = 1000 diverges for some optimizers: rows, not a failure
    runs = pd.read_parquet(tmp_path / "runs")
    assert len(runs) == 6 and set(runs["status"]) == {"ok", "diverged"}
    assert runs.loc[runs["status"] == "diverged", "diverged_epoch"].notna().all()


@pytest.mark.parametrize("study, args, message", [
    ("learning-rate", ["--grid", "lr=0"], "lr: must be > 0"),
    ("learning-rate", ["--grid", "lr=-0.1"], "lr: must be > 0"),
    ("learning-rate", ["--grid", "optimizer=adamax"], "optimizer: 'adamax' is not one of"),
    ("learning-rate", ["--grid", "weight_decay=-1"], "weight_decay: must be >= 0"),
    ("learning-rate", ["--grid", "schedule=linear"], "schedule: 'linear' is not one of"),
    ("batch-size", ["--grid", "optimizer=bfgs"], "optimizer: 'bfgs' is not one of"),
    ("batch-size", ["--grid", "beta1=1"], "beta1: must be in [0, 1)"),
    ("gd-1d", ["--grid", "lr=0"], "lr: must be > 0"),
    ("gd-1d", ["--grid", "function=cubic"], "function: 'cubic' is not one of"),
])
def test_bad_learning_rate_input_exits_2(tmp_path, study, args, message):
    result = sweep(study, *args, "--out", tmp_path / "o")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_studies_are_registered():
    assert get_study("learning-rate").default_grid["lr"][0] == 1e-4
    assert len(get_study("learning-rate").default_grid["lr"]) == 11  # five decades
