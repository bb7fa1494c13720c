"""Reports of the learning-rate studies: ``learning-rate`` (optimizer × τ₀ on the digits MLP)
and ``gd-1d`` (Berlyand & Jabin Table 8.1, Exercises 8.1 and 8.3)."""
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import digits_report
from results.plots import plt, save

STABLE_ACCURACY_SHARE = 0.5  # stable: test accuracy at least this share of the optimizer's best


def optimizer_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: the best τ₀ (lowest median final training loss among the stable ones)
    and the stable range. A τ₀ is stable when every run of it is ok (none diverged: a training
    loss never above diverge_factor × the initial one, never infinite), every run ends below its
    initial training loss, and the median final test accuracy is at least STABLE_ACCURACY_SHARE
    of the best median over the optimizer's τ₀."""
    start = curves[curves["epoch"] == 0].set_index("run_id")["train_loss"]
    runs = runs.assign(initial_loss=runs["run_id"].map(start))
    rows = []
    for optimizer, group in runs.groupby("optimizer"):
        per_lr = group.groupby("lr").agg(
            loss=("final_train_loss", "median"), acc=("final_test_acc", "median"),
            ok=("status", lambda s: bool((s == "ok").all())),
            improved=("final_train_loss", lambda s: bool((s < runs.loc[s.index, "initial_loss"]).all())),
            diverged=("status", lambda s: int((s == "diverged").sum())))
        accurate = per_lr["acc"] >= STABLE_ACCURACY_SHARE * per_lr["acc"].max()
        stable = per_lr[per_lr["ok"] & per_lr["improved"] & accurate]
        best = stable["loss"].idxmin() if len(stable) else np.nan
        rows.append({"optimizer": optimizer, "best_lr": best,
                     "best_final_train_loss": stable["loss"].min() if len(stable) else np.nan,
                     "test_acc_at_best": stable.loc[best, "acc"] if len(stable) else np.nan,
                     "stable_from": stable.index.min() if len(stable) else np.nan,
                     "stable_to": stable.index.max() if len(stable) else np.nan,
                     "diverged_runs": int(per_lr["diverged"].sum())})
    return pd.DataFrame(rows)


def learning_rate_figures(runs, curves, table, fig_dir: Path) -> list[Path]:
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(7, 6.4), sharex=True, height_ratios=(3, 1))
    for i, row in table.reset_index(drop=True).iterrows():
        group = runs[runs["optimizer"] == row["optimizer"]]
        loss = group.groupby("lr")["final_train_loss"].median()
        line, = ax.plot(loss.index, loss.to_numpy(), "o-", ms=3, label=row["optimizer"])
        color = line.get_color()
        if np.isfinite(row["best_lr"]):
            ax.plot([row["best_lr"]], [row["best_final_train_loss"]], "*", ms=14, color=color)
            bars.plot([row["stable_from"], row["stable_to"]], [i, i], lw=4, color=color)
            bars.plot([row["best_lr"]], [i], "*", ms=10, color=color)
        bad = np.unique(group.loc[group["status"] == "diverged", "lr"])
        bars.plot(bad, np.full(len(bad), i), "x", color=color)
    ax.set(xscale="log", yscale="log", ylabel="final training loss (median over seeds)",
           title="Too small: slow; too large: unstable (★ best τ₀)")
    ax.legend(fontsize=8)
    bars.set(xscale="log", xlabel="learning rate τ₀", yticks=range(len(table)), ylim=(-0.7, len(table) - 0.3),
             title="stable range of τ₀ (bar), best (★), diverged (x)")
    bars.set_yticklabels(table["optimizer"], fontsize=7)
    bars.title.set_fontsize(9)
    paths = [save(fig, fig_dir / "loss_vs_lr.png")]

    optimizers = table["optimizer"].tolist()
    cols = min(4, len(optimizers))
    fig, axes = plt.subplots(-(-len(optimizers) // cols), cols, figsize=(3.2 * cols, 2.8 * -(-len(optimizers) // cols)),
                             squeeze=False, sharey=True)
    for ax, (_, row) in zip(axes.flat, table.iterrows()):
        group = runs[(runs["optimizer"] == row["optimizer"]) & (runs["seed"] == runs["seed"].min())]
        rates = sorted(group["lr"].unique())
        chosen = sorted({rates[0], row["best_lr"] if np.isfinite(row["best_lr"]) else rates[len(rates) // 2], rates[-1]})
        for lr in chosen:
            run_id = group.loc[group["lr"] == lr, "run_id"].iloc[0]
            c = curves[curves["run_id"] == run_id].sort_values("epoch")
            ax.plot(c["epoch"], c["train_loss"], label=f"τ₀={lr:g}")
        ax.set(yscale="log", title=row["optimizer"], xlabel="epoch", ylabel="training loss")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(optimizers):]:
        ax.axis("off")
    paths.append(save(fig, fig_dir / "curves_selected_rates.png"))
    return paths


def learning_rate_report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    table = optimizer_table(runs[runs["status"] != "failed"], curves)
    summary = digits_report.summarize(runs)
    text = "\n".join([
        f"Learning-rate study: {len(runs)} runs, " + ", ".join(f"{k} {v}" for k, v in runs["status"].value_counts().items()),
        "", "Per optimizer. Stable τ₀: no seed diverged (training loss above diverge_factor × its initial "
            "value, or not finite), every seed ended below its initial loss, and the median test accuracy is "
            f"at least {STABLE_ACCURACY_SHARE:.0%} of the optimizer's best:",
        table.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        "", summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
    ])
    return text, learning_rate_figures(runs, curves, table, fig_dir)


def table_8_1(runs: pd.DataFrame) -> pd.DataFrame:
    """Our first n with |xₙ| < tol beside the book's, for the Table 8.1 runs."""
    rows = runs[runs["table_8_1"]].sort_values("lr")
    if rows.empty:
        return pd.DataFrame(columns=["tau", "book", "ours", "run_id"])
    book = rows["book_first_below"].map(lambda v: "does not converge" if pd.isna(v) else str(int(v)))
    ours = rows.apply(lambda r: str(int(r["first_below"])) if r["converged"] else "does not converge", axis=1)
    return pd.DataFrame({"tau": rows["lr"].to_numpy(), "book": book.to_numpy(), "ours": ours.to_numpy(),
                         "run_id": rows["run_id"].to_numpy()})


def sin_threshold(runs: pd.DataFrame) -> tuple[float, float] | None:
    """(largest converging τ, smallest τ above it that does not converge) for sin²(10x)."""
    sin = runs[runs["function"] == "sin10-squared"]
    if sin.empty or not sin["converged"].any() or sin["converged"].all():
        return None
    below = sin.loc[sin["converged"], "lr"].max()
    above = sin.loc[~sin["converged"] & (sin["lr"] > below), "lr"]
    return below, (above.min() if len(above) else np.nan)


def gd_1d_report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> tuple[str, list[Path]]:
    lines = [f"Gradient descent on 1-D functions: {len(runs)} runs", ""]
    paths = []
    table = table_8_1(runs)
    if len(table):
        same = (table["book"] == table["ours"]).all()
        lines += ["Table 8.1 (F = x², x₀ = 1): first n with |xₙ| < 0.001. The book's header says "
                  "'for all n > N'; its numbers are the first n, as here.",
                  table.drop(columns="run_id").to_string(index=False),
                  f"-> {'identical to' if same else 'DIFFERENT from'} the book", ""]
        fig, ax = plt.subplots(figsize=(6, 4))
        for _, row in table.iterrows():
            c = curves[curves["run_id"] == row["run_id"]]
            ax.plot(c["epoch"], np.abs(c["x"]).clip(lower=1e-12), label=f"τ={row['tau']:g}")
        ax.axhline(1e-3, color="k", lw=0.8, ls="--")
        ax.set(xscale="symlog", yscale="log", xlabel="n (linear to 1, logarithmic beyond)",
               ylabel="|xₙ| (clipped at 1e-12)", title="GD on x² (Table 8.1)")
        ax.set_xlim(left=0)
        ax.legend(fontsize=8)
        paths.append(save(fig, fig_dir / "table8_1_iterates.png"))
    if (threshold := sin_threshold(runs)) is not None:
        lines += [f"Exercise 8.3 (F = sin²(10x)): converges up to τ = {threshold[0]:.4g}, not from "
                  f"τ = {threshold[1]:.4g}; the book's bound 1/19 = {1 / 19:.4g}, the linear-stability "
                  f"bound 2/F''(0) = 0.01.", ""]
    quad = runs[runs["function"] == "quadratic"]
    if quad["lam"].nunique() > 1:
        predicted = quad["lr"] < 1 / quad["lam"]
        wrong = int((predicted != quad["first_step_decreases"]).sum())
        lines += [f"Exercise 8.1 (F = λx²): the first step decreases F exactly when τ < 1/λ in "
                  f"{len(quad) - wrong} of {len(quad)} runs ({wrong} exceptions).", ""]
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        dec = quad["first_step_decreases"]
        ax.scatter(quad.loc[dec, "lam"], quad.loc[dec, "lr"], s=10, label="F decreases")
        ax.scatter(quad.loc[~dec, "lam"], quad.loc[~dec, "lr"], s=10, marker="x", label="F does not decrease")
        lam = np.geomspace(quad["lam"].min(), quad["lam"].max(), 100)
        ax.plot(lam, 1 / lam, "k-", label="τ = 1/λ")
        ax.set(xscale="log", yscale="log", xlabel="λ", ylabel="τ", title="Exercise 8.1")
        ax.legend(fontsize=8)
        paths.append(save(fig, fig_dir / "exercise8_1_boundary.png"))
    return "\n".join(lines), paths
