"""``runner report``: read a results directory, print the study's summary, write its figures.

The built-in studies have their own reports (the texts' figures and findings); any other study
gives its ``Study.report``, by default the shared summary of results.summary. The study is
found by the reference its sweep manifests record; where it cannot be loaded any more (a
plug-in file moved), the shared summary is made from the tables alone.
"""
from pathlib import Path

from results import batch_size_report, digits_report, lcurve_report, lr_report, summary
from results.store import CURVES, RUNS, load, manifests

REPORTS = {"batch-size": batch_size_report.report, "digits": digits_report.report,
           "learning-rate": lr_report.learning_rate_report, "gd-1d": lr_report.gd_1d_report,
           "lcurve-degree": lcurve_report.degree_report, "lcurve-lambda": lcurve_report.lambda_report,
           "lcurve-penalty": lcurve_report.penalty_report, "lcurve-depth": lcurve_report.depth_report}


def report(out_dir: Path) -> tuple[str, list[Path]]:
    """Summary text and figure paths (under out_dir/figures) for the study in out_dir."""
    from experiments import StudyError, get_study

    runs = load(out_dir, RUNS)
    curves = load(out_dir, CURVES)
    studies = runs["study"].unique().tolist()
    if len(studies) != 1:
        raise ValueError(f"{out_dir} holds runs of {len(studies)} studies; expected one")
    name = studies[0]
    if name in REPORTS:
        return REPORTS[name](runs, curves, out_dir / "figures")
    refs = [m.get("study_ref", m["study"]) for m in manifests(out_dir) if m["study"] == name]
    try:
        study = get_study(refs[-1] if refs else name)
    except StudyError as err:
        text, paths = summary.report(runs, curves, out_dir / "figures", title=name)
        return f"(the study's own report is unavailable: {err})\n{text}", paths
    return study.report(runs, curves, out_dir / "figures")
