"""``runner report``: read a results directory, print the study's summary, write its figures.

Every study gives its ``Study.report``: the built-in ones their own (the texts' figures and
findings, next to each study in experiments/), any other by default the shared summary of
results.summary. A results
directory is data, never code: a plug-in study's report comes from the study the user names
(``runner report OUT --study REF``) or, for a study that an installed package registers, from
its name; nothing a manifest or a table names is imported. Without either, or where the study
cannot be loaded, the shared summary is made from the tables alone. Every report also gives
the shared table of numbers (results.summary.numbers), which ``--format`` prints.
"""
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from results import summary
from results.store import CURVES, RUNS, _files, find_sweep, load, manifests

MERGE_HINT_SECONDS = 1.0  # reading took longer, from more than one file per table: say how to read faster


@dataclass
class Report:
    """What ``runner report`` shows: the study's text, its figures and the shared table."""

    text: str
    figures: list[Path]
    numbers: pd.DataFrame


def report(out_dir: Path, study: "Study | None" = None, sweep: str | None = None) -> Report:  # noqa: F821
    """The report of the study in out_dir, figures written under out_dir/figures; ``study``:
    the plug-in study the user named (ValueError unless it is the one in out_dir); ``sweep``:
    report the runs of that sweep alone (an id, a prefix of one, or a tag: store.find_sweep),
    with figures under out_dir/figures/SWEEP_ID."""
    from experiments import StudyError, get_study
    from experiments.registry import BUILTIN, registered

    t0 = time.perf_counter()
    runs = load(out_dir, RUNS)
    curves = load(out_dir, CURVES)
    fig_dir = out_dir / "figures"
    if sweep is not None:
        chosen = find_sweep(out_dir, sweep)
        runs = runs[runs["run_id"].isin(chosen["run_ids"])]
        curves = curves[curves["run_id"].isin(chosen["run_ids"])]
        fig_dir = fig_dir / chosen["sweep_id"]
        if runs.empty:
            raise ValueError(f"sweep {chosen['sweep_id']} has no runs in {out_dir} yet")
    files = len(_files(out_dir, RUNS)) + len(_files(out_dir, CURVES))
    seconds = time.perf_counter() - t0
    studies = runs["study"].unique().tolist()
    if len(studies) != 1:
        raise ValueError(f"{out_dir} holds runs of {len(studies)} studies; expected one")
    name = studies[0]
    if study is not None and study.name != name:
        raise ValueError(f"{out_dir} holds runs of study {name!r}, not of {study.name!r}")
    if study is None and name not in BUILTIN and name not in registered():
        refs = [m["study_ref"] for m in manifests(out_dir) if m["study"] == name and isinstance(m.get("study_ref"), str)]
        text, paths = summary.report(runs, curves, fig_dir, title=name)
        text = (f"(the shared summary: study {name!r} is a plug-in, and a results directory's code is never run; "
                f"its own report: runner report {out_dir} --study {refs[-1] if refs else 'path/to/file.py:Class'!r})"
                f"\n{text}")
    else:
        try:
            text, paths = (study or get_study(name)).report(runs, curves, fig_dir)
        except StudyError as err:
            text, paths = summary.report(runs, curves, fig_dir, title=name)
            text = f"(the study's own report is unavailable: {err})\n{text}"
    if seconds > MERGE_HINT_SECONDS and files > 2:
        text += (f"\n\nRead {files} per-run files in {seconds:.1f} s. `runner merge {out_dir}` compacts them "
                 "into one file per table (the same data), which reads in a fraction of that.")
    return Report(text, paths, summary.numbers(runs))
