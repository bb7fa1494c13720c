"""Summary and figures of the digits study: accuracy and loss per configuration, curves over
epochs, and (when the learning rate is swept) loss against learning rate per optimizer."""
from pathlib import Path

import numpy as np
import pandas as pd

from results.plots import plt, save
from results.summary import swept


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: medians over seeds; diverged and failed runs counted."""
    keys = swept(runs) or ["model"]
    return runs.groupby(keys, sort=True).agg(
        seeds=("seed", "nunique"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        failed=("status", lambda s: int((s == "failed").sum())),
        final_test_acc=("final_test_acc", "median"),
        best_test_acc=("best_test_acc", "median"),
        final_train_loss=("final_train_loss", "median"),
        final_test_loss=("final_test_loss", "median"),
        n_params=("n_params", "first"),
        time_per_epoch_ms=("time_per_epoch_s", lambda s: 1e3 * s.median()),
    ).reset_index()


def figures(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> list[Path]:
    keys = swept(runs) or ["model"]
    paths = []
    first = runs[runs["status"] != "failed"].sort_values("seed").groupby(keys).head(1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for _, run in first.iterrows():
        c = curves[curves["run_id"] == run["run_id"]].sort_values("epoch")
        name = ", ".join(f"{k}={run[k]}" for k in keys)
        ax_loss.plot(c["epoch"], c["train_loss"], label=name)
        ax_acc.plot(c["epoch"], c["test_acc"], label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Training loss (seed 0)")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy (seed 0)")
    ax_acc.legend(fontsize=7)
    paths.append(save(fig, fig_dir / "digits_curves.png"))
    if "lr" in keys:
        paths.append(loss_against_lr(runs, fig_dir / "loss_vs_lr.png"))
    return paths


def loss_against_lr(runs: pd.DataFrame, path: Path, column: str = "final_train_loss") -> Path:
    """``column`` (median over seeds) against τ₀ per optimizer, log-log; runs that diverged
    are marked on the top edge."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for optimizer, group in runs.groupby("optimizer"):
        ok = group[group["status"] == "ok"].groupby("lr")[column].median()
        line, = ax.plot(ok.index, ok.to_numpy(), "o-", label=optimizer)
        bad = np.unique(group.loc[group["status"] == "diverged", "lr"])
        ax.plot(bad, np.full(len(bad), 1.0), "x", color=line.get_color(), transform=ax.get_xaxis_transform())
    ax.set(xscale="log", yscale="log", xlabel="learning rate τ₀", ylabel=column.replace("_", " "),
           title="Loss against learning rate (x: diverged)")
    ax.legend()
    return save(fig, path)


def report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    summary = summarize(runs)
    text = "\n".join([
        f"Digits study: {len(runs)} runs, " + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()),
        "",
        summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
    ])
    return text, figures(runs, curves, fig_dir)
