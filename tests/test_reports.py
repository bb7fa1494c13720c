"""The shared report layer: every swept key kept apart, counts, medians and IQRs as pandas
computes them, diverged and failed groups shown, any format; reports never raise."""
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from results import summary
from runner.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def synthetic_runs() -> pd.DataFrame:
    """Runs in the runs table's column order: lr × width × 3 seeds; lr = 1 always diverges
    (an infinite loss), width 8 at lr = 0.01 always fails."""
    rng = np.random.default_rng(0)
    rows = []
    for lr in (0.01, 0.1, 1.0):
        for width in (8, 16):
            for seed in range(3):
                status = "diverged" if lr == 1.0 else "failed" if (lr, width) == (0.01, 8) else "ok"
                loss = np.inf if lr == 1.0 else None if status == "failed" else rng.uniform(0, 1)
                rows.append({"run_id": f"{lr}-{width}-{seed}", "seed": seed, "lr": lr, "width": width,
                             "fixed": "same", "status": status, "error": None, "diverged_epoch": None,
                             "loss": loss, "acc": None if status == "failed" else rng.uniform(0, 1),
                             "run_time_s": 1.0})
    return pd.DataFrame(rows)


def test_groups_are_every_swept_key_with_counts_and_pandas_quartiles():
    runs = synthetic_runs()
    assert summary.parameters(runs) == ["lr", "width", "fixed"] and summary.swept(runs) == ["lr", "width"]
    table = summary.numbers(runs).set_index(["lr", "width"])
    assert len(table) == 6  # 3 × 2: no two values of a swept key merged
    assert (table["seeds"] == 3).all()
    assert table.loc[(0.01, 8), ["ok", "diverged", "failed"]].tolist() == [0, 0, 3]
    assert table.loc[(1.0, 16), ["ok", "diverged", "failed"]].tolist() == [0, 3, 0]
    assert np.isnan(table.loc[(0.01, 8), "loss_median"])  # all failed: no value, still a row
    assert np.isnan(table.loc[(1.0, 8), "loss_median"])  # infinite losses are not medians
    assert table.loc[(1.0, 8), "acc_median"] == pytest.approx(
        runs.query("lr == 1.0 and width == 8")["acc"].median())
    for (lr, width), group in runs[runs["status"] == "ok"].groupby(["lr", "width"]):
        for column in ("loss", "acc"):
            q1, median, q3 = group[column].astype(float).quantile([0.25, 0.5, 0.75])
            assert table.loc[(lr, width), [f"{column}_q1", f"{column}_median", f"{column}_q3"]].tolist() == \
                pytest.approx([q1, median, q3])
    text = summary.table(runs)
    assert text.loc[0, "loss"] == "-" and "[" in text.loc[2, "loss"]


def test_the_shared_report_draws_diverged_and_failed_groups(tmp_path):
    runs = synthetic_runs()
    curves = pd.DataFrame({"run_id": np.repeat(runs["run_id"], 3), "epoch": np.tile([0, 1, 2], len(runs)),
                           "value": np.tile([1.0, np.inf, -1.0], len(runs))})
    text, paths = summary.report(runs, curves, tmp_path, title="synthetic")
    assert "swept: lr, width" in text
    assert {p.name for p in paths} == {"loss_vs_lr.png", "acc_vs_lr.png", "loss_vs_width.png", "acc_vs_width.png",
                                       "curve_value.png"}
    assert all(p.stat().st_size > 5000 for p in paths)


def test_two_swept_keys_are_never_merged_in_a_built_in_report(tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", "batch-size", "--grid", "batch_size=8,64", "--grid", "noise=0.1,1.0", "--grid", "N=256",
                  "--grid", "n=2", "--grid", "epochs=5", "--workers", 1, "--out", out).exit_code == 0
    result = invoke("report", out)
    assert result.exit_code == 0 and "[noise=0.1]" in result.output and "[noise=1.0]" in result.output
    rows = json.loads(invoke("report", out, "--format", "json").output)
    assert sorted((r["batch_size"], r["noise"], r["seeds"]) for r in rows) == [
        (8, 0.1, 1), (8, 1.0, 1), (64, 0.1, 1), (64, 1.0, 1)]


def test_a_report_of_diverged_runs_keeps_its_table(tmp_path):
    """The issue's example: GD and b = 32 at τ = 10 (both diverge) used to raise 'Data cannot
    be log-scaled' and lose the table."""
    out = tmp_path / "out"
    invoke("sweep", "batch-size", "--grid", "batch_size=32,full", "--grid", "lr=10", "--grid", "epochs=5",
           "--grid", "N=512", "--workers", 1, "--out", out)
    result = invoke("report", out)
    assert result.exit_code == 0, result.output
    assert "diverged 2" in result.output and "Figures:" in result.output


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json"])
def test_report_formats(tmp_path, fmt):
    out = tmp_path / "out"
    assert invoke("sweep", "gd-1d", "--grid", "lr=0.01,0.1", "--grid", "iterations=20", "--workers", 1,
                  "--out", out).exit_code == 0
    text = invoke("report", out, "--format", fmt).output
    if fmt == "markdown":
        assert text.splitlines()[1].startswith("| --- |") and len(text.splitlines()) == 2 + 2
    elif fmt == "csv":
        table = pd.read_csv(pd.io.common.StringIO(text))
        assert table["lr"].tolist() == [0.01, 0.1] and "final_x_median" in table
    else:
        assert [r["lr"] for r in json.loads(text)] == [0.01, 0.1]
    assert invoke("report", out, "--format", "xml").exit_code == 2


def test_b0_per_seed_and_against_the_learning_rate(tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", "batch-size", "--grid", "batch_size=4,8,16,32,64", "--grid", "lr=0.05,0.25",
                  "--grid", "N=2048", "--grid", "n=8", "--grid", "epochs=30", "--seeds", 2, "--workers", 1,
                  "--out", out).exit_code == 0
    text = invoke("report", out).output
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("sgd τ =")]
    assert [line.split(":")[0] for line in lines] == ["sgd τ = 0.05", "sgd τ = 0.25"]
    b0 = [int(line.split("b = ")[1].split(":")[0]) for line in lines]
    assert b0[0] < b0[1]  # a larger step favours a larger batch
    one = tmp_path / "one"
    assert invoke("sweep", "batch-size", "--grid", "batch_size=4,8,16,32,64", "--grid", "N=2048", "--grid", "n=8",
                  "--grid", "epochs=30", "--seeds", 2, "--workers", 1, "--out", one).exit_code == 0
    assert "b0 per seed over 2 seeds" in invoke("report", one).output


def _synthetic(n_lr=3, n_b=9, lrs=None):
    """runs and curves of a plug-in-like study: lr × batch size × 2 seeds, a constant metric."""
    rng = np.random.default_rng(0)
    lrs = np.geomspace(0.01, 1, n_lr) if lrs is None else lrs
    rows, curves = [], []
    for lr in lrs:
        for b in range(1, n_b + 1):
            for seed in range(2):
                rid = f"{lr:.3g}-{b}-{seed}"
                loss = lr * b + 0.01 * rng.random()
                rows.append({"run_id": rid, "seed": seed, "lr": lr, "batch_size": b, "status": "ok",
                             "diverged_epoch": np.nan, "final_loss": loss, "n_params": 42.0, "run_time_s": 1.0})
                curves += [{"run_id": rid, "epoch": e, "train_loss": loss * (3 - e), "beta": 0.9}
                           for e in range(3)]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def test_log_axes_where_the_swept_values_are_log_spaced():
    from results.summary import log_spaced

    assert log_spaced([0.01, 0.1, 1]) and log_spaced([1, 2, 4, 8, 16, 32]) and log_spaced([1e-4, 1e-3])
    assert not log_spaced([0.1, 0.2, 0.3, 0.4]) and not log_spaced([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    assert not log_spaced([-1, 1, 10]) and not log_spaced([5])
    draws = np.exp(np.random.default_rng(0).uniform(np.log(1e-3), np.log(1), 50))  # a log-uniform search
    assert log_spaced(draws)


def test_the_shared_report_draws_every_group_or_names_the_best_and_skips_constant_metrics(tmp_path):
    from results import summary
    from results.plots import plt

    runs, curves = _synthetic()
    seen = {}
    real_save = summary.save

    def capture(fig, path):
        ax = fig.axes[0]
        lines = [c.lines[0] for c in ax.containers] or [line for line in ax.get_lines()
                                                         if not line.get_label().startswith("_")]
        styles = [(line.get_color(), line.get_linestyle()) for line in lines]
        seen[path.name] = (ax.get_title(), ax.get_xscale(), styles)
        return real_save(fig, path)

    summary.save = capture
    try:
        text, paths = summary.report(runs, curves, tmp_path, "synthetic")
    finally:
        summary.save = real_save
        plt.close("all")
    assert "the same in every run, not plotted: n_params" in text
    assert not any("n_params" in name or "beta" in name for name in seen)  # constant: no figure
    title, scale, styles = seen["curve_train_loss.png"]  # 27 groups
    assert "best 12 of 27 by final train_loss" in title and len(styles) == 12 == len(set(styles))
    title, scale, styles = seen["final_loss_vs_lr.png"]  # 9 lines (batch sizes): all drawn
    assert "best" not in title and len(set(styles)) == 9 and scale == "log"
    assert seen["final_loss_vs_batch_size.png"][1] == "linear"  # 1..9: evenly spaced
