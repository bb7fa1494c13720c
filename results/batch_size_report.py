"""Summary, findings and figures of the batch-size study (Berlyand & Jabin Figs 8.3-8.5)."""
from pathlib import Path

import numpy as np
import pandas as pd

from results.digits_report import loss_against_lr
from results.plots import plt, save
from results.summary import swept


def label(row) -> str:
    return "GD" if row["method"] == "gd" else f"b={row['batch_size']}"


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, batch size): medians over seeds of the study's metrics."""
    done = runs[runs["status"] != "failed"]
    table = done.groupby(["method", "batch_size"], sort=True).agg(
        seeds=("seed", "nunique"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        mean_rel_loss_last50=("mean_rel_loss_last50", "median"),
        final_rel_loss=("final_rel_loss", "median"),
        reached=("epochs_to_target", lambda s: int(s.notna().sum())),
        epochs_to_target=("epochs_to_target", "median"),
        time_to_target_s=("time_to_target_s", "median"),
        time_per_iter_us=("time_per_iter_s", lambda s: 1e6 * s.median()),
    )
    return table.reset_index().sort_values(["method", "batch_size"], ascending=[False, True])


def findings(summary: pd.DataFrame, target: float) -> list[str]:
    """The book's qualitative claims (L1474-1503), each checked against our numbers."""
    sgd = summary[summary["method"] == "sgd"].sort_values("batch_size")
    lines = []
    if len(sgd) < 2:
        return ["(fewer than two SGD batch sizes: no findings)"]
    b = sgd["batch_size"].to_numpy(float)
    last50 = sgd["mean_rel_loss_last50"].to_numpy(float)
    falls = bool(np.all(np.diff(last50) < 0))
    lines.append(
        f"Mean relative loss over the last 50 epochs {'falls' if falls else 'does NOT fall monotonically'} "
        f"as b grows: {last50[0]:.3g} at b={b[0]:.0f} to {last50[-1]:.3g} at b={b[-1]:.0f} (Fig 8.5a).")
    never = sgd.loc[sgd["reached"] == 0, "batch_size"].tolist()
    lines.append(f"Never reach relative loss {target:g}: b = {', '.join(map(str, never)) or 'none'} (Fig 8.4 (i)).")
    reached = sgd[sgd["reached"] > 0]
    if len(reached):
        best = reached.loc[reached["time_to_target_s"].idxmin()]
        lines.append(
            f"Fastest to reach {target:g}: b = {best['batch_size']} in {best['time_to_target_s']:.4f} s "
            f"(epoch {best['epochs_to_target']:.0f}); the book finds b0 ≈ 32 (Fig 8.4 (iii)).")
    t = sgd["time_per_iter_us"].to_numpy(float)
    slope, intercept = np.polyfit(b, t, 1)
    r2 = 1 - np.sum((t - (slope * b + intercept)) ** 2) / np.sum((t - t.mean()) ** 2)
    lines.append(
        f"Time per iteration ≈ {intercept:.3g} µs + {slope:.3g} µs × b, R² = {r2:.4f} (Fig 8.5b: linear in b).")
    return lines


def figures(runs: pd.DataFrame, curves: pd.DataFrame, summary: pd.DataFrame, target: float,
            fig_dir: Path) -> list[Path]:
    """Write Figs 8.3, 8.4 and 8.5 as PNG files into fig_dir; return their paths."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    first = runs[runs["status"] != "failed"].sort_values("seed").drop_duplicates(["method", "batch_size"])
    first = first.sort_values(["method", "batch_size"], ascending=[False, True])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.95, len(first)))
    for color, (_, run) in zip(colors, first.iterrows()):
        c = curves[(curves["run_id"] == run["run_id"]) & (curves["epoch"] > 0)]
        style = dict(color="k", lw=2) if run["method"] == "gd" else dict(color=color, lw=1)
        ax.plot(c["epoch"], c["rel_loss"], label=label(run), **style)
    ax.axhline(target, color="r", ls="--", lw=0.8, label=f"L̄ = {target:g}")
    ax.set(yscale="log", xlabel="epoch", ylabel="relative loss L/L_min − 1",
           title=f"Fig 8.3: relative loss per epoch (seed {int(first['seed'].min())})")
    ax.legend(ncol=2, fontsize=7)
    paths.append(save(fig, fig_dir / "fig8_3_relative_loss.png"))

    sgd = summary[summary["method"] == "sgd"]
    fig, ax = plt.subplots(figsize=(6, 4))
    hit = sgd[sgd["reached"] > 0]
    ax.plot(hit["batch_size"], hit["time_to_target_s"], "o-")
    miss = sgd[sgd["reached"] == 0]
    if len(miss):
        ax.plot(miss["batch_size"], np.full(len(miss), hit["time_to_target_s"].max() if len(hit) else 1.0),
                "rx", label=f"never reaches {target:g}")
        ax.legend()
    ax.set(xscale="log", yscale="log", xlabel="batch size b", ylabel="seconds of training",
           title=f"Fig 8.4: time to reach L̄ = {target:g}")
    ax.set_xscale("log", base=2)
    paths.append(save(fig, fig_dir / "fig8_4_time_to_target.png"))

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(sgd["batch_size"], sgd["mean_rel_loss_last50"], "o-")
    a.set(xscale="log", yscale="log", xlabel="batch size b", ylabel="mean L̄, last 50 epochs",
          title="Fig 8.5a: average relative loss, last 50 epochs")
    b.plot(sgd["batch_size"], sgd["time_per_iter_us"], "o-")
    b.set(xlabel="batch size b", ylabel="µs per iteration", title="Fig 8.5b: time per iteration")
    a.set_xscale("log", base=2)
    paths.append(save(fig, fig_dir / "fig8_5_last50_and_time_per_iteration.png"))
    return paths


def learning_rate_report(runs: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    """A sweep over optimizers or learning rates on the regression: L̄ per (optimizer, τ, b)
    and every other swept key."""
    keys = ["optimizer", "lr", "batch_size"]
    keys += [k for k in swept(runs) if k not in keys]
    table = runs[runs["status"] != "failed"].groupby(keys).agg(
        seeds=("seed", "nunique"),
        final_rel_loss=("final_rel_loss", "median"),
        min_rel_loss=("min_rel_loss", "median"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        first_diverged_epoch=("diverged_epoch", "min"),
    ).reset_index()
    text = "\n".join([
        f"Batch-size study, swept over optimizer and learning rate: {len(runs)} runs, "
        + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()), "",
        table.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
    ])
    return text, [loss_against_lr(runs, fig_dir / "rel_loss_vs_lr.png", column="final_rel_loss")]


def report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    """The printed summary (table and findings) and the figure paths; a sweep over optimizers
    or learning rates gets the learning-rate view instead of the book's figures. Other swept
    keys are never merged: each combination of their values gets its own section and figures
    (in a subdirectory of fig_dir named by the values)."""
    if runs["optimizer"].nunique() > 1 or runs["lr"].nunique() > 1:
        return learning_rate_report(runs, fig_dir)
    others = [k for k in swept(runs) if k != "batch_size"]
    if not others:
        return _report(runs, curves, fig_dir)
    texts, paths = [], []
    for values, group in runs.groupby(others, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        name = ", ".join(f"{k}={v}" for k, v in zip(others, values))
        text, figs = _report(group, curves[curves["run_id"].isin(group["run_id"])], fig_dir / name.replace(", ", "_"))
        texts.append(f"[{name}]\n{text}")
        paths += figs
    return "\n\n".join(texts), paths


def _report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    target = float(runs["rel_loss_target"].iloc[0])
    summary = summarize(runs)
    text = "\n".join([
        f"Batch-size study (Berlyand & Jabin §8.6): {len(runs)} runs, "
        + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()),
        "",
        summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        "",
        *findings(summary, target),
    ])
    return text, figures(runs, curves, summary, target, fig_dir)
