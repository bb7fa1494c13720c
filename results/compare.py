"""Two sweeps side by side (``runner compare``): the same groups, each metric's median over
seeds in A and in B, and the difference B − A."""
import pandas as pd

from results.summary import metrics, parameters, quartiles


def side_by_side(a: pd.DataFrame, b: pd.DataFrame, chosen: list[str] | None = None) -> pd.DataFrame:
    """One row per group of the parameters that vary in A or B (the union, so that a key
    swept on one side only still splits the groups), with the runs in A and B and, per metric,
    ``M_A``, ``M_B`` and ``M_diff`` = B − A (medians over the runs that finished; NaN where a
    side has none). ``chosen``: the metrics to show (default: every numeric metric both sides
    have). ValueError for a metric neither side has, or for sweeps of different studies."""
    if set(a["study"]) != set(b["study"]):
        raise ValueError(f"the sweeps are of different studies ({', '.join(sorted(set(a['study'])))} and "
                         f"{', '.join(sorted(set(b['study'])))})")
    both = pd.concat([a.assign(_side="A"), b.assign(_side="B")], ignore_index=True)
    shared = [m for m in metrics(a) if m in set(metrics(b))]
    unknown = [m for m in chosen or [] if m not in shared]
    if unknown:
        raise ValueError(f"not a metric of both sweeps: {', '.join(unknown)} (known: {', '.join(shared)})")
    columns = chosen or shared
    keys = [p for p in parameters(both.drop(columns="_side")) if p in both and both[p].nunique(dropna=False) > 1]
    by = keys or ["_all"]
    both = both.assign(_all=0)
    counts = both.groupby([*by, "_side"], dropna=False).size().unstack("_side").reindex(columns=["A", "B"])
    table = counts.fillna(0).astype(int).rename(columns={"A": "runs_A", "B": "runs_B"})
    finished = both[both["status"] != "failed"]
    for m in columns:
        medians = quartiles(finished, [*by, "_side"], m)[0.5].unstack("_side").reindex(columns=["A", "B"])
        medians = medians.reindex(table.index)
        table[f"{m}_A"], table[f"{m}_B"] = medians["A"], medians["B"]
        table[f"{m}_diff"] = medians["B"] - medians["A"]
    table = table.reset_index()
    return table.drop(columns="_all") if not keys else table
