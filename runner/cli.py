"""The ``runner`` command line (Typer).

Bad input exits with code 2 and a one-line reason on stderr, before anything is written.
"""
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from experiments import STUDIES, get_study
from runner.grid import GridError, expand, parse_grid, sweep_id

app = typer.Typer(help="Run neural-network training studies with Numba-compiled kernels.",
                  no_args_is_help=True, add_completion=False)

DONE = ("ok", "diverged")  # outcomes that a rerun skips; failed runs are retried


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_writable(out: Path) -> None:
    """Fail unless ``out`` is, or can be created as, a writable directory (writes nothing)."""
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        fail(f"output directory {out}: {probe} is not a directory")
    try:
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as err:
        fail(f"output directory {out} is not writable: {err.strerror}")


@app.command()
def studies() -> None:
    """List the studies with their parameters and default grids."""
    for study in STUDIES.values():
        typer.echo(f"{study.name}: {study.title} ({study.source})")
        typer.echo("  parameters (--grid key=values):")
        for p in study.params:
            names = "/".join((p.name, *p.names))
            extra = f" one of {', '.join(p.choices)};" if p.choices else ""
            extra += f" aliases: {', '.join(p.aliases)};" if p.aliases else ""
            typer.echo(f"    {names:<22} {p.type.__name__:<6} default {p.default!s:<8}{extra} {p.help}")
        typer.echo("  default grid:")
        for key, values in study.default_grid.items():
            shown = [next((a for a, v in study.param(key).aliases.items() if v == x), x) for x in values]
            typer.echo(f"    {key} = {','.join(map(str, shown))}")


@app.command()
def sweep(
    study: Annotated[str, typer.Argument(help="Study name (see `runner studies`).")],
    grid: Annotated[list[str], typer.Option(
        "--grid", "-g", help="Override or sweep a parameter: key=v1,v2 or key=start:stop:logK / linK. "
                             "Repeatable.")] = [],
    seeds: Annotated[int, typer.Option(help="Repeat each grid point with seeds 0..K-1.")] = 1,
    workers: Annotated[int, typer.Option(help="Worker processes (default: the number of cores).")] = 0,
    out: Annotated[Path | None, typer.Option(help="Results directory (default: out/STUDY).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs; run nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rerun runs whose results exist.")] = False,
) -> None:
    """Run a study's grid. Finished runs are skipped; exit code 0 only if every run is ok.

    Example: runner sweep batch-size --grid batch_size=1,32,full --grid lr=1e-3:1e-1:log3 --seeds 2
    """
    try:
        chosen = get_study(study)
    except KeyError as err:
        fail(err.args[0])
    if seeds < 1:
        fail(f"--seeds must be >= 1, got {seeds}")
    if workers < 0:
        fail(f"--workers must be >= 1, got {workers}")
    try:
        specs = expand(chosen, parse_grid(chosen, grid), seeds)
    except GridError as err:
        fail(str(err))
    out = out or Path("out") / chosen.name
    check_writable(out)

    from results.store import run_statuses, studies_in

    others = studies_in(out) - {chosen.name}
    if others:
        fail(f"{out} holds results of another study ({', '.join(sorted(others))}); use another --out")
    statuses = {} if force else run_statuses(out)
    todo = [s for s in specs if statuses.get(s.run_id) not in DONE]
    sid = sweep_id([s.run_id for s in specs])
    typer.echo(f"sweep {sid}: {chosen.name}, {len(specs)} runs, {len(specs) - len(todo)} done, "
               f"{len(todo)} to run -> {out}")
    if dry_run:
        varying = [k for k in specs[0].config if len({s.config[k] for s in specs}) > 1]
        for s in specs:
            state = statuses.get(s.run_id, "todo") if s in todo else "done"
            params = " ".join(f"{k}={s.config[k]}" for k in varying)
            typer.echo(f"  {s.run_id}  seed={s.seed} {params}  [{state}]")
        return
    counts = execute(chosen.name, todo, sid, out, workers or default_workers())
    typer.echo(f"{len(todo)} runs: " + ", ".join(f"{counts[k]} {k}" for k in ("ok", "diverged", "failed"))
               + f". Results: {out}/runs, {out}/curves. Report: runner report {out}")
    if counts["diverged"] or counts["failed"]:
        raise typer.Exit(1)


def execute(study_name: str, todo: list, sid: str, out: Path, workers: int) -> dict:
    """Run ``todo``, writing each run as it finishes; show progress; return status counts."""
    from results.store import write_run
    from runner.execute import run_local

    study = get_study(study_name)
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    if not todo:
        return counts
    results = run_local(study_name, todo, sid, workers)

    def record(row: dict, curves: dict) -> None:
        write_run(out, study, row, curves)
        counts[row["status"]] += 1

    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress() as progress:
            task = progress.add_task(f"{study_name} ({workers} workers)", total=len(todo))
            for row, curves in results:
                record(row, curves)
                progress.advance(task)
    else:
        for k, (row, curves) in enumerate(results, 1):
            record(row, curves)
            typer.echo(f"[{k}/{len(todo)}] {row['run_id']} {row['status']} {row['run_time_s']:.2f}s"
                       + (f" {row['error']}" if row["error"] else ""))
    return counts


@app.command()
def check(
    seed: Annotated[int, typer.Option(help="Seed of the random inputs and directions.")] = 0,
) -> None:
    """Run the Taylor, Jacobian and transpose tests (Treister §6.3) on every kernel.

    Taylor: the first-order error of ½||y(θ+εd) − t||² halves (ratio ≈ 2) and the second-order
    error quarters (≈ 4) as ε halves; Jacobian: the same for y itself ("lin" where the kernel is
    linear along d, so the second-order error is rounding); transpose: |uᵀJv − vᵀJᵀu|, relative.
    Exit code 1 if any kernel fails.
    """
    from kernels.checks import TRANSPOSE_TOL, check_all

    results = check_all(seed)
    typer.echo(f"{'kernel':<30} {'taylor E0':>9} {'taylor E1':>9} {'jacobian':>9} {'transpose':>10}  result")
    for r in results:
        jac = "lin" if r.jacobian.linear else f"{r.jacobian.ratio1:.3f}"
        typer.echo(f"{r.name:<30} {r.taylor.ratio0:>9.3f} {r.taylor.ratio1:>9.3f} {jac:>9} "
                   f"{r.transpose:>10.1e}  {'pass' if r.passed else 'FAIL'}")
    failed = [r.name for r in results if not r.passed]
    typer.echo(f"{len(results) - len(failed)}/{len(results)} kernels pass (ratios 2 and 4 within 10 %, "
               f"transpose error < {TRANSPOSE_TOL:g})")
    if failed:
        raise typer.Exit(1)


@app.command()
def report(
    out: Annotated[Path, typer.Argument(help="Results directory of a sweep.")],
) -> None:
    """Print a study's summary and findings and write its figures to OUT/figures."""
    from results.report import report as make_report

    try:
        text, paths = make_report(out)
    except (FileNotFoundError, ValueError) as err:
        fail(str(err))
    typer.echo(text)
    typer.echo("\nFigures:")
    for path in paths:
        typer.echo(f"  {path}")
