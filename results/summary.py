"""The shared report of any study, built-in or plug-in, from its tables alone.

The runs table's column order (results.schema) tells the parts apart: the parameters lie
between ``seed`` and ``status``, the study's metrics between ``diverged_epoch`` and
``run_time_s``. Runs are grouped by *every* parameter that takes more than one value (two
values of a swept key are never merged); per group the table gives the number of seeds, of
ok / diverged / failed runs, and each numeric metric's median with its interquartile range
over the group's runs that finished (ok or diverged). Figures: each numeric metric against
each numeric swept key (median, IQR error bars, one line per value of the other swept keys),
and each numeric curve column against the epoch (median line, IQR band, one per group).

What the figures promise: an axis is logarithmic where the swept values are log-spaced
(``log_spaced``); a figure shows every line, or, past MAX_LINES, the best MAX_LINES by the
plotted quantity and says so in its title ("best 12 of 27 groups by final test_loss"); no two
lines of a figure share a colour and a line style; a metric or curve that is the same in
every run is listed in the table and not drawn.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from results.plots import plt, save

STATUSES = ("ok", "diverged", "failed")
MAX_LINES = 12  # lines per figure; past this, the best MAX_LINES are drawn (_best) and the title says so
COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]
LINE_STYLES = ("-", "--", ":", "-.")  # with COLOURS: len(COLOURS) × 4 distinct lines, more than MAX_LINES


def style(i: int) -> dict:
    """The colour and line style of a figure's i-th line: no two lines of a figure share both."""
    return {"color": COLOURS[i % len(COLOURS)], "linestyle": LINE_STYLES[i // len(COLOURS) % len(LINE_STYLES)]}


def _finite(values) -> np.ndarray:
    v = np.asarray(values, float)
    return v[np.isfinite(v)]


def log_spaced(values) -> bool:
    """Whether positive values read better on a log axis: they span a factor of 10 or more and
    their gaps are more even in log than in linear terms (a logK range, log-uniform draws, batch
    sizes 1, 2, 4, ...), or they span more than a factor of 1000."""
    v = np.unique(_finite(values))
    if v.size < 2 or v[0] <= 0 or v[-1] / v[0] < 10:
        return False
    if v[-1] / v[0] > 1000 or v.size == 2:
        return True

    def unevenness(points):
        gaps = np.diff(points)
        return gaps.std() / gaps.mean()

    return unevenness(np.log(v)) < unevenness(v)


def lower_is_better(name: str) -> bool:
    """For ranking lines: accuracies and R² higher, everything else (losses, errors, times) lower."""
    return not any(word in name for word in ("acc", "r2", "score"))


def _best(lines: list, value, name: str) -> tuple[list, str]:
    """At most MAX_LINES of (key, frame) ``lines``, the best by ``value(frame)`` (NaN last),
    and the title's note on what was left out ("" when nothing was)."""
    if len(lines) <= MAX_LINES:
        return lines, ""
    scores = np.array([value(frame) for _, frame in lines], float)
    order = np.argsort(np.where(np.isnan(scores), np.inf, scores if lower_is_better(name) else -scores), kind="stable")
    return [lines[i] for i in sorted(order[:MAX_LINES])], f"; best {MAX_LINES} of {len(lines)} by {name}"


def varies(values) -> bool:
    """Whether the finite values differ at all (a constant metric is not plotted)."""
    v = _finite(values)
    return v.size > 0 and v.min() != v.max()


def constant(values) -> bool:
    """Whether there are finite values and all are the same (listed as such, not plotted)."""
    v = _finite(values)
    return v.size > 0 and v.min() == v.max()


def _between(columns: list[str], first: str, last: str) -> list[str]:
    return columns[columns.index(first) + 1: columns.index(last)]


def parameters(runs: pd.DataFrame) -> list[str]:
    """The study's parameter columns."""
    return _between(list(runs.columns), "seed", "status")


def metrics(runs: pd.DataFrame) -> list[str]:
    """The study's numeric metric columns."""
    names = _between(list(runs.columns), "diverged_epoch", "run_time_s")
    return [m for m in names if pd.api.types.is_numeric_dtype(runs[m]) and not pd.api.types.is_bool_dtype(runs[m])]


def swept(runs: pd.DataFrame) -> list[str]:
    """The parameters that take more than one value in these runs."""
    return [p for p in parameters(runs) if runs[p].nunique(dropna=False) > 1]


QUARTILES = {0.25: "q1", 0.5: "median", 0.75: "q3"}


def quartiles(frame: pd.DataFrame, by, column: str) -> pd.DataFrame:
    """Per value of ``by`` (a column name or list): the first quartile, the median and the third
    quartile of ``column``'s finite values, as columns 0.25, 0.5 and 0.75 (NaN for a group with
    none; no rows for an empty frame)."""
    values = frame[column].astype(float).replace([np.inf, -np.inf], np.nan)
    keys = [frame[k] for k in ([by] if isinstance(by, str) else by)]
    table = values.groupby(keys, dropna=False, sort=True).quantile(list(QUARTILES)).unstack()
    return table.reindex(columns=list(QUARTILES))


def numbers(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per combination of the swept keys: seeds, status counts, and per metric its
    median, first and third quartile over the group's finished runs (``M_median``, ``M_q1``,
    ``M_q3``; NaN where no finished run has a finite value)."""
    keys, columns = swept(runs), metrics(runs)
    by = keys or ["_all"]
    data = runs.assign(_all=0, **{s: runs["status"] == s for s in STATUSES})
    table = data.groupby(by, dropna=False, sort=True).agg(seeds=("seed", "nunique"),
                                                          **{s: (s, "sum") for s in STATUSES})
    finished = data[data["status"] != "failed"]
    for m in columns:
        per_group = quartiles(finished, by, m)
        for q, suffix in QUARTILES.items():
            table[f"{m}_{suffix}"] = per_group[q].reindex(table.index)
    table = table.reset_index()
    return table.drop(columns="_all") if not keys else table


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """numbers() for reading: each metric as "median [q1, q3]" ("-" where there is none)."""
    table = numbers(runs)
    for m in metrics(runs):
        q1, median, q3 = (table.pop(f"{m}_{suffix}") for suffix in QUARTILES.values())
        table[m] = [("-" if np.isnan(b) else f"{b:.4g}" if a == c else f"{b:.4g} [{a:.4g}, {c:.4g}]")
                    for a, b, c in zip(q1, median, q3)]
    return table


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table."""
    def cell(v) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def _metric_figures(runs: pd.DataFrame, fig_dir: Path) -> list[Path]:
    keys = swept(runs)
    finished = runs[runs["status"] != "failed"]
    paths = []
    for x in (k for k in keys if pd.api.types.is_numeric_dtype(runs[k]) and not pd.api.types.is_bool_dtype(runs[k])):
        others = [k for k in keys if k != x]
        lines = list(finished.groupby(others, dropna=False, sort=True)) if others else [((), finished)]
        for metric in metrics(runs):
            if not varies(finished[metric]):
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            shown, left_out = _best(lines, lambda group: group[metric].astype(float).median(), f"median {metric}")
            for i, (values, group) in enumerate(shown):
                values = values if isinstance(values, tuple) else (values,)
                q = quartiles(group, x, metric)
                label = ", ".join(f"{k}={v}" for k, v in zip(others, values)) or None
                ax.errorbar(q.index, q[0.5], yerr=[q[0.5] - q[0.25], q[0.75] - q[0.5]], marker="o",
                            capsize=3, label=label, **style(i))
            if log_spaced(finished[x]):
                ax.set_xscale("log")
            ax.set(xlabel=x, ylabel=metric, title=f"{metric} against {x} (median, IQR over seeds{left_out})")
            if others:
                ax.legend(fontsize=7)
            paths.append(save(fig, fig_dir / f"{metric}_vs_{x}.png"))
    return paths


def _curve_figures(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path) -> list[Path]:
    columns = [c for c in curves.columns if c not in ("run_id", "epoch")
               and pd.api.types.is_numeric_dtype(curves[c]) and varies(curves[c])]
    if curves.empty or not columns:
        return []
    keys = swept(runs)
    groups = list(runs.groupby(keys, dropna=False, sort=True)) if keys else [((), runs)]
    paths = []
    for column in columns:
        fig, ax = plt.subplots(figsize=(6, 4))
        per_group = [(values, quartiles(curves[curves["run_id"].isin(group["run_id"])], "epoch", column))
                     for values, group in groups]
        shown, left_out = _best([(v, q) for v, q in per_group if not q.empty], _final_median, f"final {column}")
        for i, (values, q) in enumerate(shown):
            values = values if isinstance(values, tuple) else (values,)
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, values)) or None
            ax.plot(q.index, q[0.5], label=label, **style(i))
            ax.fill_between(q.index, q[0.25], q[0.75], color=style(i)["color"], alpha=0.2)
        ax.set(xlabel="epoch", ylabel=column, title=f"{column} (median, IQR band over seeds{left_out})")
        if keys:
            ax.legend(fontsize=7)
        paths.append(save(fig, fig_dir / f"curve_{column}.png"))
    return paths


def _final_median(q: pd.DataFrame) -> float:
    """The median at the last epoch with a finite median (NaN if none): how a curve ends."""
    ends = q[0.5].dropna()
    return float(ends.iloc[-1]) if len(ends) else np.nan


def report(runs: pd.DataFrame, curves: pd.DataFrame, fig_dir: Path, title: str) -> tuple[str, list[Path]]:
    """The shared summary (module docstring): text and figure paths."""
    keys = swept(runs)
    summary = table(runs)
    same = [m for m in metrics(runs) if constant(runs.loc[runs["status"] != "failed", m])]
    text = [title, f"{len(runs)} runs over {runs['seed'].nunique()} seed(s); swept: {', '.join(keys) or 'nothing'}",
            "metrics: median [interquartile range] over the runs that finished (ok or diverged)"
            + (f"; the same in every run, not plotted: {', '.join(same)}" if same else ""), "",
            summary.to_string(index=False)]
    return "\n".join(text), _metric_figures(runs, fig_dir) + _curve_figures(runs, curves, fig_dir)
