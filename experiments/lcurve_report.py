"""Reports of the L-curve studies: the turn of the training curve against the test optimum
(degree), the Tikhonov L-curve's corner (λ), and train/test against λ and depth.

The corner (or turn) of a curve is its point of maximum curvature in log-log coordinates
(Hansen's rule for the L-curve), each axis scaled to [0, 1], with the curvature of the circle through each point and its
two neighbours (Menger curvature), signed positive for a left turn as the curve is traversed:
both an error falling with the degree and the L-curve traversed with growing λ turn left.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from results.plots import plt, save
from results.summary import quartiles


def menger_curvature(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed curvature of the circle through (x, y)[i-1:i+2] at each interior point; NaN at
    both ends. Positive for a left (counter-clockwise) turn."""
    p0 = np.column_stack([x[:-2], y[:-2]])
    p1 = np.column_stack([x[1:-1], y[1:-1]])
    p2 = np.column_stack([x[2:], y[2:]])
    a, b = p1 - p0, p2 - p1
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    lengths = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) * np.linalg.norm(p2 - p0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 2 * cross / lengths
    return np.concatenate([[np.nan], kappa, [np.nan]])


def _unit(v: np.ndarray) -> np.ndarray:
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else v * 0


def corner(x: np.ndarray, y: np.ndarray) -> int:
    """Index of the point of maximum (left-turn) curvature of the curve log y against log x,
    in the given order, each log-axis scaled to [0, 1] first (curvature depends on the units:
    without it the longer axis decides). Needs at least three points with x, y > 0."""
    kappa = menger_curvature(_unit(np.log(np.asarray(x, float))), _unit(np.log(np.asarray(y, float))))
    if np.all(np.isnan(kappa)):
        raise ValueError("a corner needs at least three points")
    return int(np.nanargmax(kappa))


def degree_turns(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed: the turn of the training curve (train norm against degree, without the
    interpolating fits whose train norm is ~0) and the degree of the smallest test norm."""
    rows = []
    poly = runs[runs["basis"] == "polynomial"]
    for seed, group in poly.groupby("seed"):
        group = group.sort_values("degree")
        fitting = group[group["train_norm"] > 1e-8 * group["train_norm"].max()]
        if len(fitting) < 3:
            continue
        turn = fitting["degree"].iloc[corner(fitting["degree"], fitting["train_norm"])]
        best = group.loc[group["test_norm"].idxmin(), "degree"]
        degrees = group["degree"].tolist()
        test = group.set_index("degree")["test_norm"]
        rows.append({"seed": seed, "turn_degree": turn, "test_optimal_degree": best,
                     "steps_apart": abs(degrees.index(turn) - degrees.index(best)),
                     "excess_test_error": test[turn] / test[best] - 1})
    return pd.DataFrame(rows)


def degree_report(runs, curves, fig_dir: Path, problem: tuple) -> tuple[str, list[Path]]:
    poly = runs[runs["basis"] == "polynomial"]
    lines = [f"L-curve over the polynomial degree (Treister §1): {len(runs)} runs", ""]
    paths = []
    if len(poly):
        table = poly.groupby("degree")[["train_norm", "test_norm", "train_mse", "test_mse", "truth_mse"]].median()
        lines += ["Medians over seeds (norm: the notes' unsquared 2-norm 'MSE'; mse: the mean square):",
                  table.to_string(float_format=lambda v: f"{v:.4g}"), ""]
        turns = degree_turns(runs)
        if len(turns):
            near = float((turns["steps_apart"] <= 1).mean())
            lines += [f"Turn of the training curve (maximum curvature, log-log) over {len(turns)} "
                      f"seed{'s' * (len(turns) != 1)}: "
                      f"median degree {turns['turn_degree'].median():g}; test optimum: median degree "
                      f"{turns['test_optimal_degree'].median():g}; the turn is at or next to the test optimum "
                      f"(within one step of the degree grid) in {near:.0%} of the seeds; choosing the turn "
                      f"instead of the (unknown) test optimum costs a median {turns['excess_test_error'].median():.1%} "
                      f"of test error (largest {turns['excess_test_error'].max():.1%}).", ""]
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for column, name in (("train_norm", "train"), ("test_norm", "test")):
            q = quartiles(poly, "degree", column)
            ax.plot(q.index, q[0.5], "o-", label=f"{name} (median)")
            ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.25)
        ax.set(xscale="log", xlabel="polynomial degree", ylabel="‖residual‖₂ (the notes' 'MSE')",
               title="Treister Fig. 2: train and test error against degree")
        ax.legend()
        paths.append(save(fig, fig_dir / "lcurve_degree.png"))
        paths.append(fitted_polynomials(poly, fig_dir, *problem))
    oracle = runs[runs["basis"] == "oracle"]
    if len(oracle):
        table = oracle.groupby("delta").agg(n_points=("n_points", "first"), coef_error=("coef_error", "median"),
                                            truth_mse=("truth_mse", "median")).sort_values("n_points")
        lines += ["Oracle fit with the true basis [x, sin 10x, exp 2x] (medians over seeds): the error falls "
                  "as the grid refines.", table.to_string(float_format=lambda v: f"{v:.4g}"), ""]
        if oracle["n_points"].nunique() > 1:
            fig, ax = plt.subplots(figsize=(6, 4))
            for column, name in (("coef_error", "‖α − α_true‖"), ("truth_mse", "MSE against the noiseless y")):
                q = quartiles(oracle, "n_points", column)
                ax.errorbar(q.index, q[0.5], yerr=[q[0.5] - q[0.25], q[0.75] - q[0.5]], fmt="o-", capsize=3,
                            label=name)
            ax.set(xscale="log", yscale="log", xlabel="grid points n", ylabel="error (median, IQR over seeds)",
                   title="The oracle fit's error against the grid size")
            ax.legend()
            paths.append(save(fig, fig_dir / "lcurve_oracle_grid.png"))
    return "\n".join(lines), paths


FIG1_DEGREES = (1, 5, 20, 100)  # the fits drawn over the data, where the sweep has them


def fitted_polynomials(poly: pd.DataFrame, fig_dir: Path, grid, make_data, poly_basis) -> Path:
    """Treister's Fig 1: the data of the smallest seed and the fitted polynomials of a few of
    the swept degrees over it, recomputed from the study's own data and basis (the runs table
    holds errors, not coefficients): grid, make_data and poly_basis of experiments.lcurve."""

    run = poly.sort_values("seed").iloc[0]
    same = poly[(poly["seed"] == run["seed"]) & (poly["delta"] == run["delta"]) & (poly["stop"] == run["stop"])]
    swept = sorted(same["degree"].unique())
    degrees = [d for d in FIG1_DEGREES if d in swept] or swept[:: max(1, len(swept) // 4)]
    x = grid(run["delta"], run["stop"])
    y_true, y_train, _ = make_data(x, int(run["seed"]))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(x, y_train, "k.", ms=4, label="data (training noise)")
    ax.plot(x, y_true, "k--", lw=1, label="y_true")
    for degree in degrees:
        q = poly_basis(x, int(degree))
        ax.plot(x, q @ (q.T @ y_train), lw=1.2, label=f"degree {degree}")
    ax.set(xlabel="x", ylabel="y", title=f"Treister Fig. 1: least-squares polynomials (seed {int(run['seed'])})")
    ax.legend(fontsize=7)
    return save(fig, fig_dir / "lcurve_fitted_polynomials.png")


def lambda_corners(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed: λ at the L-curve's corner, and the λ of the smallest test and truth errors."""
    rows = []
    for seed, group in runs.groupby("seed"):
        group = group.sort_values("lam")
        positive = group[group["lam"] > 0]
        at = corner(positive["residual_norm"], positive["solution_norm"])
        rows.append({"seed": seed, "corner_lambda": positive["lam"].iloc[at],
                     "test_optimal_lambda": group.loc[group["test_norm"].idxmin(), "lam"],
                     "truth_optimal_lambda": group.loc[group["truth_mse"].idxmin(), "lam"]})
    return pd.DataFrame(rows)


def lambda_report(runs, curves, fig_dir: Path) -> tuple[str, list[Path]]:
    corners = lambda_corners(runs)
    med = corners.median(numeric_only=True)
    lines = [f"Tikhonov L-curve over λ (degree-{runs['degree'].iloc[0]} monomials, condition number "
             f"{runs['condition_number'].iloc[0]:.3g}): {len(runs)} runs, {corners['seed'].nunique()} seeds", "",
             f"corner of the L-curve (maximum curvature of log ‖α‖ against log ‖Aα − y‖): median λ = "
             f"{med['corner_lambda']:.3g}",
             f"test-optimal λ: median {med['test_optimal_lambda']:.3g}; λ closest to the noiseless truth: median "
             f"{med['truth_optimal_lambda']:.3g}", ""]
    table = runs.groupby("lam")[["residual_norm", "solution_norm", "train_norm", "test_norm", "truth_mse"]].median()
    lines.append(table.to_string(float_format=lambda v: f"{v:.4g}"))
    seed0 = runs[runs["seed"] == runs["seed"].min()].sort_values("lam")
    seed0 = seed0[seed0["lam"] > 0]
    at = corner(seed0["residual_norm"], seed0["solution_norm"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax.loglog(seed0["residual_norm"], seed0["solution_norm"], "o-", ms=3)
    ax.loglog(seed0["residual_norm"].iloc[at], seed0["solution_norm"].iloc[at], "r*", ms=14,
              label=f"corner λ = {seed0['lam'].iloc[at]:.3g}")
    ax.set(xlabel="‖Aα − y‖", ylabel="‖α‖", title="The L-curve (seed 0)")
    ax.legend()
    for column, name in (("train_norm", "train"), ("test_norm", "test")):
        m = runs[runs["lam"] > 0].groupby("lam")[column].median()
        bx.plot(m.index, m.to_numpy(), "o-", ms=3, label=name)
    bx.axvline(med["corner_lambda"], color="r", ls="--", label="corner (median)")
    bx.set(xscale="log", xlabel="λ", ylabel="‖residual‖₂ (median over seeds)", title="Train and test against λ")
    bx.legend()
    return "\n".join(lines), [save(fig, fig_dir / "lcurve_lambda.png")]


def _against(runs, column, fig_dir: Path, name: str, log_x: bool) -> tuple[str, list[Path]]:
    """Train/test loss and test accuracy (medians over seeds) against one swept column."""
    table = runs[runs["status"] == "ok"].groupby(column).agg(
        seeds=("seed", "nunique"), final_train_loss=("final_train_loss", "median"),
        final_test_loss=("final_test_loss", "median"), final_test_acc=("final_test_acc", "median"),
        n_params=("n_params", "first"))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    x = table.index.to_numpy(float)
    zero = log_x and (x == 0).any() and (x > 0).any()
    if zero:  # λ = 0 has no place on a log axis: drawn a decade left of the smallest λ, marked
        x = np.where(x > 0, x, x[x > 0].min() / 10)
    ax.plot(x, table["final_train_loss"], "o-", label="train")
    ax.plot(x, table["final_test_loss"], "o-", label="test")
    ax.set(xscale="log" if log_x else "linear", yscale="log", xlabel=column, ylabel="final loss", title=name)
    bx.plot(x, table["final_test_acc"], "o-")
    bx.set(xscale="log" if log_x else "linear", xlabel=column, ylabel="test accuracy")
    if zero:
        for axis in (ax, bx):
            axis.axvline(x.min(), color="0.6", ls=":", lw=1, label=f"{column} = 0 (drawn here)")
    ax.legend()
    text = f"{name}: {len(runs)} runs\n\n" + table.to_string(float_format=lambda v: f"{v:.4g}")
    return text, [save(fig, fig_dir / f"{name.split(':')[0].replace(' ', '_')}.png")]


def penalty_report(runs, curves, fig_dir: Path) -> tuple[str, list[Path]]:
    column = "l1" if runs["l1"].nunique() > 1 else "l2"
    return _against(runs, column, fig_dir, f"lcurve penalty: train and test against {column}", log_x=True)


def depth_report(runs, curves, fig_dir: Path) -> tuple[str, list[Path]]:
    texts, paths = [], []
    for data, group in runs.groupby("data"):
        if data == "digits":
            text, figs = _against(group, "depth", fig_dir, "lcurve depth digits: train and test against depth", False)
            texts.append(text)
            paths += figs
            continue
        for source, part in group.groupby("data_file"):  # "" for the Treister data
            table = part[part["status"] == "ok"].groupby("depth").agg(
                seeds=("seed", "nunique"), n_params=("n_params", "first"), train_mse=("train_mse", "median"),
                test_mse=("test_mse", "median"), truth_mse=("truth_mse", "median"))
            name = Path(source).stem if source else "regression"
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            for column in ("train_mse", "test_mse") + ("truth_mse",) * (not source):
                ax.plot(table.index, table[column], "o-", label=column)
            if not source:
                ax.axhline(0.25, color="k", ls=":", label="noise variance 0.25")
            ax.set(yscale="log", xlabel="depth (hidden layers)", ylabel="mean squared error (median over seeds)",
                   title=f"MLP depth on {source or 'the Treister §1 data'}")
            ax.legend()
            texts.append(f"lcurve depth {name}: train and test against depth\n\n"
                         + table.to_string(float_format=lambda v: f"{v:.4g}"))
            paths.append(save(fig, fig_dir / f"lcurve_depth_{name}.png"))
    return "\n\n".join(texts), paths
