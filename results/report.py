"""``runner report``: read a results directory, print the study's summary, write its figures."""
from pathlib import Path

from results import batch_size_report, digits_report, lcurve_report, lr_report
from results.store import CURVES, RUNS, load

REPORTS = {"batch-size": batch_size_report.report, "digits": digits_report.report,
           "learning-rate": lr_report.learning_rate_report, "gd-1d": lr_report.gd_1d_report,
           "lcurve-degree": lcurve_report.degree_report, "lcurve-lambda": lcurve_report.lambda_report,
           "lcurve-penalty": lcurve_report.penalty_report, "lcurve-depth": lcurve_report.depth_report}


def report(out_dir: Path) -> tuple[str, list[Path]]:
    """Summary text and figure paths (under out_dir/figures) for the study in out_dir."""
    runs = load(out_dir, RUNS)
    curves = load(out_dir, CURVES)
    studies = runs["study"].unique().tolist()
    if len(studies) != 1:
        raise ValueError(f"{out_dir} holds runs of {len(studies)} studies; expected one")
    return REPORTS[studies[0]](runs, curves, out_dir / "figures")
