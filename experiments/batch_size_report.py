"""Summary, findings and figures of the batch-size study (Berlyand & Jabin Figs 8.3-8.5)."""
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.digits_report import loss_against_lr
from results.plots import plt, save
from results.summary import quartiles, swept

LINEAR_R2 = 0.9  # below this R², the report does not call the time per iteration linear in b


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, batch size): medians over seeds of the study's metrics. ``reached``
    counts the seeds that reached the target, at a check within an epoch or at an epoch's end."""
    done = runs[runs["status"] != "failed"]
    if "steps_to_target" not in done:  # results written before the checks within epochs
        done = done.assign(steps_to_target=np.nan)
    table = done.groupby(["method", "batch_size"], sort=True).agg(
        seeds=("seed", "nunique"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        mean_rel_loss_last50=("mean_rel_loss_last50", "median"),
        final_rel_loss=("final_rel_loss", "median"),
        reached=("time_to_target_s", lambda s: int(s.notna().sum())),
        epochs_to_target=("epochs_to_target", "median"),
        steps_to_target=("steps_to_target", "median"),
        time_to_target_s=("time_to_target_s", "median"),
        time_per_iter_us=("time_per_iter_s", lambda s: 1e6 * s.median()),
    )
    return table.reset_index().sort_values(["method", "batch_size"], ascending=[False, True])


def fastest_per_seed(runs: pd.DataFrame) -> pd.Series:
    """b₀ of each seed: the SGD batch size that reached the target in the least training time
    (seeds where none reached it are left out)."""
    hit = runs[(runs["method"] == "sgd") & runs["time_to_target_s"].notna()]
    return hit.loc[hit.groupby("seed")["time_to_target_s"].idxmin()].set_index("seed")["batch_size"]


def findings(summary: pd.DataFrame, target: float, runs: pd.DataFrame) -> list[str]:
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
    lines.append(f"Never reach relative loss {target:g}: " + (f"b = {', '.join(map(str, never))}" if never
                 else "every batch size reaches it") + " (Fig 8.4 (i)).")
    reached = sgd[sgd["reached"] > 0]
    if len(reached):
        best = reached.loc[reached["time_to_target_s"].idxmin()]
        lines.append(
            f"Fastest to reach {target:g}: b = {best['batch_size']} in {best['time_to_target_s']:.4f} s "
            f"({best['steps_to_target']:.0f} steps, medians over seeds); the book finds b0 ≈ 32 (Fig 8.4 (iii)).")
        b0 = fastest_per_seed(runs)
        if b0.size > 1:
            spread = ", ".join(f"b = {b}: {n}" for b, n in b0.value_counts().sort_index().items())
            lines.append(f"b0 per seed over {b0.size} seeds (how many seeds each b is fastest in): {spread}.")
    t = sgd["time_per_iter_us"].to_numpy(float)
    slope, intercept = np.polyfit(b, t, 1)
    r2 = 1 - np.sum((t - (slope * b + intercept)) ** 2) / np.sum((t - t.mean()) ** 2)
    fit = f"time per iteration ≈ {intercept:.3g} µs + {slope:.3g} µs × b, R² = {r2:.4f}"
    if r2 >= LINEAR_R2:
        lines.append(f"Time per iteration is linear in b: {fit} (Fig 8.5b).")
    else:
        lines.append(f"Time per iteration is not linear in b here (R² < {LINEAR_R2}; Fig 8.5b finds it linear): "
                     f"the least-squares line would be {fit}; measured {t[0]:.3g} µs at b = {b[0]:.0f}, "
                     f"{t[-1]:.3g} µs at b = {b[-1]:.0f}.")
    return lines


def figures(runs: pd.DataFrame, curves: pd.DataFrame, summary: pd.DataFrame, target: float,
            fig_dir: Path) -> list[Path]:
    """Write Figs 8.3, 8.4 and 8.5 as PNG files into fig_dir; return their paths."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    done = runs[runs["status"] != "failed"]
    seeds = done["seed"].nunique()
    spread = f"median{', IQR' if seeds > 1 else ''} over {seeds} seed{'s' * (seeds != 1)}"
    sizes = sorted(done.loc[done["method"] == "sgd", "batch_size"].unique())
    panels = [part for part in np.array_split(np.array(sizes, dtype=int), 3) if len(part)] or [np.array([], int)]
    gd = done[done["method"] == "gd"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), sharey=True, squeeze=False)
    for ax, part in zip(axes[0], panels):
        colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(part), 1)))
        for color, b in zip(colors, part):
            _curve_band(ax, done[(done["method"] == "sgd") & (done["batch_size"] == b)], curves, f"b={b}", color, 1)
        if len(gd):
            _curve_band(ax, gd, curves, "GD", "k", 2)
        ax.axhline(target, color="r", ls="--", lw=0.8, label=f"L̄ = {target:g}")
        ax.set(yscale="log", xlabel="epoch", title=f"b = {part[0]} … {part[-1]}" if len(part) else "GD")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("relative loss L/L_min − 1")
    fig.suptitle(f"Fig 8.3: relative loss per epoch, small, middle and large batches ({spread})", fontsize=10)
    paths.append(save(fig, fig_dir / "fig8_3_relative_loss.png"))

    sgd = summary[summary["method"] == "sgd"]
    sgd_runs = done[done["method"] == "sgd"]
    fig, ax = plt.subplots(figsize=(6, 4))
    hit = sgd[sgd["reached"] > 0]
    _median_iqr(ax, sgd_runs[sgd_runs["time_to_target_s"].notna()], "time_to_target_s")
    miss = sgd[sgd["reached"] == 0]
    if len(miss):
        ax.plot(miss["batch_size"], np.full(len(miss), hit["time_to_target_s"].max() if len(hit) else 1.0),
                "rx", label=f"never reaches {target:g}")
        ax.legend()
    ax.set(xscale="log", yscale="log", xlabel="batch size b", ylabel="seconds of training",
           title=f"Fig 8.4: time to reach L̄ = {target:g} ({spread})")
    ax.title.set_fontsize(9)
    ax.set_xscale("log", base=2)
    paths.append(save(fig, fig_dir / "fig8_4_time_to_target.png"))

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    _median_iqr(a, sgd_runs, "mean_rel_loss_last50")
    a.set(xscale="log", yscale="log", xlabel="batch size b", ylabel="mean L̄, last 50 epochs",
          title="Fig 8.5a: average relative loss, last 50 epochs")
    _median_iqr(b, sgd_runs.assign(time_per_iter_us=1e6 * sgd_runs["time_per_iter_s"]), "time_per_iter_us")
    b.set(xscale="log", yscale="log", xlabel="batch size b", ylabel="µs per iteration",
          title="Fig 8.5b: time per iteration (log-log)")
    a.set_xscale("log", base=2)
    b.set_xscale("log", base=2)
    fig.suptitle(spread, fontsize=9)
    paths.append(save(fig, fig_dir / "fig8_5_last50_and_time_per_iteration.png"))
    return paths


def _curve_band(ax, runs: pd.DataFrame, curves: pd.DataFrame, label: str, color, width: float) -> None:
    """The relative-loss curves of ``runs``: median line and IQR band over them, epochs ≥ 1."""
    c = curves[curves["run_id"].isin(runs["run_id"]) & (curves["epoch"] > 0)]
    q = quartiles(c, "epoch", "rel_loss")
    if len(q):
        ax.plot(q.index, q[0.5], color=color, lw=width, label=label)
        ax.fill_between(q.index, q[0.25], q[0.75], color=color, alpha=0.2, lw=0)


def _median_iqr(ax, runs: pd.DataFrame, column: str) -> None:
    """``column`` against the batch size: the median over seeds, the IQR as error bars."""
    q = quartiles(runs, "batch_size", column)
    if len(q):
        ax.errorbar(q.index, q[0.5], yerr=[q[0.5] - q[0.25], q[0.75] - q[0.5]], fmt="o-", capsize=3)


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
    lines = [f"Batch-size study, swept over optimizer and learning rate: {len(runs)} runs, "
             + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()), "",
             table.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    ok = runs[runs["status"] == "ok"]
    if ok["batch_size"].nunique() > 1:
        b0 = {group: fastest_per_seed(part) for group, part in ok.groupby(["optimizer", "lr"])}
        lines += ["", "b0 (the SGD batch size fastest to the target, per seed) against the learning rate "
                  "(the book's b0 ≈ 32 gives no τ):"]
        lines += [f"  {optimizer} τ = {lr:g}: " + (", ".join(f"b = {b}: {n} seed{'s' * (n != 1)}"
                                                           for b, n in seeds.value_counts().sort_index().items())
                                                 or "no batch size reaches the target")
                  for (optimizer, lr), seeds in b0.items()]
    return "\n".join(lines), [loss_against_lr(runs, fig_dir / "rel_loss_vs_lr.png", column="final_rel_loss")]


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
        *findings(summary, target, runs),
    ])
    return text, figures(runs, curves, summary, target, fig_dir)
