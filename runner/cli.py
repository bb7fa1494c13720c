"""The ``runner`` command line (Typer).

Bad input exits with code 2 and a one-line reason on stderr, before anything is written.
The commands import the studies (and with them Numba) when they run: ``sweep`` first starts
its workers' fork server (runner.pool), which then loads while the studies load here.
"""
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from runner.executors import EXECUTORS
from runner.pool import usable_cores
from runner.progress import Console, say
from runner.sweep import (
    DONE,
    Stopped,
    SweepError,
    WriteFailed,
    check_writable,
    refuse_links,
    study_named,
)

try:  # the click that parses the command line: vendored in newer Typers (typer._click)
    from typer._click.exceptions import ClickException
except ImportError:
    from click import ClickException


@contextmanager
def _one_line():
    """A usage error (an option value of the wrong type, an unknown option or command) and any
    other bad input (runner.sweep.SweepError) as one line on stderr and exit code 2; the help
    itself passes."""
    try:
        yield
    except SweepError as err:  # bad input found past the parser (runner.sweep)
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    except ClickException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # the help, shown for a bare `runner`
            raise
        ctx = getattr(err, "ctx", None)
        see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = " ".join(err.format_message().split())
        typer.echo(f"error: {message}{see}", err=True)
        raise typer.Exit(err.exit_code) from None


class OneLineErrors(TyperGroup):
    """The command group with usage errors on one line (_one_line): both the group's own
    options and its commands' are parsed inside it."""

    def parse_args(self, ctx, args):
        with _one_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with _one_line():
            return super().invoke(ctx)


app = typer.Typer(help="Run neural-network training studies with Numba-compiled kernels.",
                  no_args_is_help=True, cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]},
                  rich_markup_mode=None)  # help text is plain: "[default: ...]" and ".[optuna]" print as written



def complete_study(incomplete: str) -> list[str]:
    """Shell completion of a study argument: the built-in and installed studies' names."""
    from experiments.registry import BUILTIN, registered

    return [name for name in (*BUILTIN, *registered()) if name.startswith(incomplete)]


def complete_grid(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of --grid: ``key=`` for every parameter of the study already typed, if
    it is built in or installed (completion imports no file a user names)."""
    from experiments.registry import BUILTIN, get_study, registered

    name = ctx.params.get("study") or next(iter(ctx.args), None)  # click may leave it unparsed here
    if name not in (*BUILTIN, *registered()):
        return []
    return [f"{p.name}=" for p in get_study(name).params if f"{p.name}=".startswith(incomplete)]


STUDY_HELP = ("Study: a name (see `runner studies`), path/to/file.py:ClassName or "
              "package.module:ClassName (README: Write your own study).")


EXECUTOR_HELP = "; ".join(f"{name} ({cls.summary})" for name, cls in EXECUTORS.items())


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit with code 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def writing(out: Path, kept: str):
    """Turn an OSError while writing under OUT (a full disk, a read-only or immutable
    directory) into one line on stderr and exit code 1; ``kept`` says what is intact."""
    try:
        yield
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        typer.echo(f"error: cannot write to {out}{where}: {err.strerror or err}; {kept}", err=True)
        raise typer.Exit(1) from None


def directory(text: str) -> Path:
    """A results directory from the command line: a path that is not empty (``.`` names the
    current directory; an empty ``--out ''`` is a mistake, not a way to say it)."""
    if not text.strip():
        raise typer.BadParameter("is empty; name a directory (. for the current one)")
    try:
        os.stat(text)
    except (FileNotFoundError, NotADirectoryError):
        pass  # `sweep` creates it; the other commands say what is missing
    except OSError as err:  # ENAMETOOLONG, ELOOP, EACCES
        raise typer.BadParameter(f"{err.strerror} ({len(text)} characters)") from None
    return Path(text)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"runner (nn-batch-runner) {version('nn-batch-runner')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Run neural-network training studies with Numba-compiled kernels.

    Shell completion: `runner --install-completion` (bash, zsh, fish, PowerShell).
    """


@app.command()
def studies(
    name: Annotated[str | None, typer.Argument(help="Show this study in full (a name or a reference).")] = None,
) -> None:
    """List the studies (built in and registered by installed packages), or show one with its
    parameters and default grid."""
    if name is not None:
        _show_study(study_named(name))
        return
    from experiments import StudyError, builtin_studies, get_study
    from experiments.registry import registered

    for study in builtin_studies().values():
        typer.echo(f"{study.name:<16} {study.title}")
    for plugin, where in registered().items():
        try:
            typer.echo(f"{plugin:<16} {get_study(plugin).title} [{where}]")
        except StudyError as err:
            typer.echo(f"{plugin:<16} (cannot be loaded: {err})")
    typer.echo("\n`runner studies NAME` shows a study's parameters and default grid.")


def _show_study(study) -> None:
    typer.echo(f"{study.name}: {study.title}" + (f" ({study.source})" if study.source else ""))
    if study.reference != study.name:
        typer.echo(f"  loaded from {study.reference}")
    typer.echo("  parameters (--grid key=values):")
    for p in study.params:
        names = "/".join((p.name, *p.names))
        extra = f" one of {', '.join(map(str, p.choices))};" if p.choices else ""
        extra += f" aliases: {', '.join(p.aliases)};" if p.aliases else ""
        typer.echo(f"    {names:<22} {p.type.__name__:<6} default {p.default!s:<8}{extra} {p.help}")
    typer.echo("  default grid:")
    for key, values in study.default_grid.items():
        shown = [next((a for a, v in study.param(key).aliases.items() if v == x), x) for x in values]
        typer.echo(f"    {key} = {','.join(map(str, shown))}")
    typer.echo(f"  metrics: {', '.join(study.metrics) or 'none'}")
    typer.echo(f"  curves: {', '.join(study.curve_columns) or 'none'}")


@app.command()
def sweep(
    study: Annotated[str | None, typer.Argument(help=STUDY_HELP + " May come from --config or --from.",
                                                autocompletion=complete_study,
                                                show_default=False)] = None,
    grid: Annotated[list[str], typer.Option(
        "--grid", "-g", autocompletion=complete_grid,
        help="Override or sweep a parameter: key=v1,v2 or key=start:stop:logK / linK. "
             "Repeatable.")] = [],
    seeds: Annotated[int | None, typer.Option(help="Repeat each grid point with seeds 0..K-1 [default: 1].",
                                              show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes [default: the number of cores; with --executor dask and no "
             "--scheduler, local Dask workers].", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(parser=directory, help="Results directory [default: out/STUDY].",
                                             show_default=False)] = None,
    shard: Annotated[str | None, typer.Option(
        help="Run only slice I of N (I/N, 0 <= I < N) of the sweep; inside a SLURM array task the "
             "slice is taken from SLURM_ARRAY_TASK_ID / _MIN / _COUNT when this is not given.")] = None,
    executor: Annotated[str | None, typer.Option(help=f"Where the runs execute: {EXECUTOR_HELP} [default: local].",
                                                 show_default=False)] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); default: a local cluster of --workers processes.")] = None,
    target: Annotated[str | None, typer.Option(
        help="Train on cpu or cuda (numba-cuda on an NVIDIA GPU; NUMBA_ENABLE_CUDASIM=1 for the "
             "simulator); the same as --grid target=VALUE.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="A TOML sweep file (README: Sweep files); options given here override it.")] = None,
    from_manifest: Annotated[Path | None, typer.Option(
        "--from", help="Rerun (resume) the sweep recorded in OUT/sweeps/SWEEP_ID.json. A plug-in study is "
                       "named as the first argument: nothing a manifest names is imported.")] = None,
    max_runs: Annotated[int | None, typer.Option(
        help="Refuse a sweep of more runs than this [default: 100000].", show_default=False)] = None,
    sample: Annotated[int | None, typer.Option(
        help="Random search: run N configurations drawn from the grid instead of all of it: each list "
             "uniformly, each range start:stop:logK (linK) log-uniformly (uniformly) on [start, stop]. "
             "Reproducible: the same command draws the same runs, so it resumes and shards as a grid does.",
        show_default=False, metavar="N")] = None,
    sample_seed: Annotated[int | None, typer.Option(
        help="Seed of the random search's draws [default: 0].", show_default=False)] = None,
    tag: Annotated[str | None, typer.Option(
        help="A label for this sweep, kept in its manifest: `runner status` shows it, and `report --sweep`, "
             "`compare --sweep` and `forget` take it in place of the sweep id.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs; run nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Rerun runs whose results exist.")] = False,
    run_timeout: Annotated[float | None, typer.Option(
        help="Stop a run after this many seconds: it becomes a failed row ('timed out after ...'), its "
             "worker is replaced and the sweep goes on [default: no limit; local executor only].",
        show_default=False)] = None,
    fail_on_diverged: Annotated[bool, typer.Option(
        "--fail-on-diverged", help="Exit with code 1 when a run diverged, too.")] = False,
    max_memory: Annotated[str | None, typer.Option(
        help="Memory one run may use, e.g. 4G (K, M, G, T: powers of 1024); a sweep whose largest run is "
             "estimated to need more exits 2 before anything runs [default: $RUNNER_MAX_MEMORY, else the "
             "machine's memory or its cgroup's limit].", show_default=False)] = None,
) -> None:
    """Run a study's grid. Finished runs (ok or diverged) are skipped, failed ones retried.

    Example: runner sweep batch-size --grid batch_size=1,32,full --grid lr=1e-3:1e-1:log3 --seeds 2

    Exit codes, the same for a sweep and its resume: 0 when every run of the sweep (of its
    shard) ended ok or diverged (divergence is a result; --fail-on-diverged makes it 1), 1 when
    a run failed or the results could not be written, 2 for bad input, 130 on Ctrl-C, 143 on
    SIGTERM (SLURM's time limit, scancel), 129 on SIGHUP. An interrupted sweep keeps every
    finished run; rerunning the same command resumes.
    """
    from runner import sweep as sweeping
    from runner.executors import executor_named
    from runner.pool import pin_threads

    pin_threads()  # before NumPy and Numba load here: --workers 1 computes as a worker does
    if max_memory is not None:  # before the fork server starts: workers read data under the same limit
        from experiments.memory import ENV, parse_size

        try:
            parse_size(max_memory)
        except ValueError as err:
            fail(f"--max-memory: {err}")
        os.environ[ENV] = max_memory
    options = {"study": study, "seeds": seeds, "out": out, "workers": workers, "executor": executor,
               "scheduler": scheduler, "shard": shard, "target": target, "sample": sample,
               "sample_seed": sample_seed}
    if from_manifest is not None:
        given = [f"--{k.replace('_', '-')}" for k in ("seeds", "target", "sample", "sample_seed")
                 if options[k] is not None]
        given += ["--grid"] * bool(grid) + ["--config"] * (config is not None)
        if given:
            fail(f"--from reruns a recorded sweep: it takes no {', '.join(given)}")
        options, grid = sweeping.from_manifest(from_manifest, options)
    elif config is not None:
        options, grid = sweeping.merge_config(config, options, grid)
    if options["study"] is None:
        fail("no study given (as the first argument, or `study` in --config)")
    workers = usable_cores() if options["workers"] is None else options["workers"]
    try:
        runs_on = executor_named(options["executor"] or "local", workers, options["scheduler"], run_timeout)
    except ValueError as err:
        fail(str(err))
    if not dry_run:
        runs_on.begin()  # the fork server, while this process is light
    chosen = study_named(options["study"])
    if options.get("recorded", chosen.name) != chosen.name:
        fail(f"--from {from_manifest}: the sweep is of study {options['recorded']!r}, not {chosen.name!r}")
    if options["target"] is not None:
        if "target" not in chosen.defaults():
            fail(f"--target: study {chosen.name} has no target parameter (it does not run the training engine)")
        grid = [*grid, f"target={options['target']}"]
    if options["out"] is not None and not str(options["out"]).strip():
        fail(f"{config}: out is empty; name a directory (. for the current one)")
    planned = sweeping.plan(chosen, grid, 1 if options["seeds"] is None else options["seeds"], options["out"],
                            shard=options["shard"], sample=options["sample"], sample_seed=options["sample_seed"],
                            tag=tag, max_runs=max_runs, manifest=from_manifest)
    for notice in sweeping.deprecated_notices(chosen, grid):
        typer.echo(f"note: {notice}", err=True)
    if dry_run:
        _list_runs(planned)
        return
    outcomes = _run(lambda: sweeping.run(planned, runs_on, Console(), force), planned.out)
    failed = {"failed"} | ({"diverged"} if fail_on_diverged else set())
    if failed & set(outcomes.values()):
        raise typer.Exit(1)


def _list_runs(planned) -> None:
    """What a sweep would run (--dry-run): each run of the shard with its swept values and state."""
    from runner import sweep as sweeping

    mine, todo, statuses = sweeping.to_run(planned, Console(), tidy=False)
    say(sweeping.headline(planned, mine, todo))
    specs = planned.specs
    varying = [k for k in specs[0].config if len({s.config[k] for s in specs}) > 1]
    for s in mine:
        state = statuses.get(s.run_id, "todo") if s in todo else "done"
        params = " ".join(f"{k}={s.config[k]}" for k in varying)
        typer.echo(f"  {s.run_id}  seed={s.seed} {params}  [{state}]")


def _run(work, out: Path, what: str = "runs"):
    """``work()``, with an interruption (exit 130, 143, 129) or a failed write (exit 1) said in
    one line on stderr: what was kept (the finished ``what``), and that the same command
    resumes."""
    try:
        return work()
    except Stopped as stop:
        typer.echo(f"{stop.how}: kept the {stop.kept} finished {what}; run the same command again to resume", err=True)
        raise typer.Exit(stop.code) from None
    except KeyboardInterrupt as stop:  # outside the runs (a tune's sampler)
        from runner.console import exit_code

        how = "interrupted" if exit_code(stop) == 130 else f"stopped by {stop}"
        typer.echo(f"{how}: kept the finished {what}; run the same command again to resume", err=True)
        raise typer.Exit(exit_code(stop)) from None
    except WriteFailed as err:  # a full disk, a file system gone: the written runs are whole and kept
        cause = err.cause
        typer.echo(f"error: cannot write to {out}: {cause.strerror or cause}; kept the {err.kept} finished {what}; "
                   "run the same command again to resume", err=True)
        raise typer.Exit(1) from None


@app.command()
def tune(
    study: Annotated[str, typer.Argument(help=STUDY_HELP, show_default=False, autocompletion=complete_study)],
    metric: Annotated[str, typer.Option(help="The runs column to optimize, e.g. final_test_loss.",
                                        show_default=False)],
    trials: Annotated[int, typer.Option(help="Trials to run in all (a resumed tune counts those told before).")] = 30,
    direction: Annotated[str, typer.Option(help="min or max.")] = "min",
    grid: Annotated[list[str], typer.Option(
        "--grid", "-g", autocompletion=complete_grid,
        help="The space, as for `runner sweep --sample`: a list is a choice, a range "
             "start:stop:logK (linK) a log-scaled (linear) interval. Repeatable.")] = [],
    seeds: Annotated[int, typer.Option(help="Runs per trial (seeds 0..K-1); the trial's value is their mean.")] = 1,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes, and trials asked for at once [default: the number of cores].",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(parser=directory, help="Results directory [default: out/STUDY].",
                                             show_default=False)] = None,
    sampler: Annotated[str, typer.Option(help="Optuna sampler: tpe or random.")] = "tpe",
    tune_seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
    executor: Annotated[str, typer.Option(help=f"Where the runs execute: {EXECUTOR_HELP}.")] = "local",
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, as for `runner sweep`.")] = None,
) -> None:
    """Adaptive search with Optuna (pip install -e '.[optuna]'): each trial's configuration is
    proposed by Optuna's sampler from the --grid space, runs as ordinary runs (rows of runs and
    curves) and is scored by the mean of --metric over its seeds. The Optuna study is kept in
    OUT/optuna (a journal file), so the same command resumes. Example:

    runner tune digits --metric final_test_loss --grid lr=1e-4:1:log5 --grid batch_size=8,32,128 --trials 30
    """
    import importlib.util

    from runner import sweep as sweeping
    from runner.executors import executor_named
    from runner.pool import pin_threads

    pin_threads()
    if importlib.util.find_spec("optuna") is None:
        fail("runner tune needs Optuna: pip install -e '.[optuna]'")
    from runner import tune as tuning

    if direction not in tuning.DIRECTIONS:
        fail(f"--direction must be min or max, got {direction!r}")
    workers = usable_cores() if workers is None else workers
    if trials < 1 or seeds < 1 or workers < 1:
        fail("--trials, --seeds and --workers must be >= 1")
    if sampler not in tuning.SAMPLERS:
        fail(f"--sampler must be tpe or random, got {sampler!r}")
    try:
        runs_on = executor_named(executor, workers, scheduler)
    except ValueError as err:
        fail(str(err))
    runs_on.begin()
    from results.store import load, run_statuses
    from runner.grid import GridError, parse_grid

    chosen = study_named(study)
    if metric not in chosen.metrics:
        fail(f"--metric {metric!r} is not a metric of study {chosen.name} (known: {', '.join(chosen.metrics)})")
    try:
        space = parse_grid(chosen, grid, sample=True)
    except GridError as err:
        fail(str(err))
    out = out if out is not None else Path("out") / chosen.name
    check_writable(out)
    refuse_links(out)
    tid = tuning.tune_id(chosen, grid, seeds, metric, direction)
    search = {"sample": None, "sample_seed": None,
              "tune": {"metric": metric, "direction": direction, "trials": trials, "sampler": sampler,
                       "tune_seed": tune_seed}}
    every, counts, outcomes = {}, {"ok": 0, "diverged": 0, "failed": 0}, {}

    def run(specs: list, run_them: bool) -> dict:
        every.update({s.run_id: s for s in specs})
        if not every:
            return {}
        sweeping.write(out, sweeping.record(sweeping.Sweep(chosen, grid, seeds, list(every.values()), out,
                                                           search=search), tid))
        if not run_them:
            return {}
        statuses = run_statuses(out)
        todo = list({s.run_id: s for s in specs if statuses.get(s.run_id) not in DONE}.values())
        sweeping.execute(chosen, todo, tid, out, runs_on, outcomes, counts, Console())
        rows = load(out).set_index("run_id")
        return {s.run_id: rows.loc[s.run_id, ["status", metric]].to_dict() for s in specs}

    say(f"tune {tid}: {chosen.name}, {trials} trials of {seeds} run(s), {direction} {metric} -> {out} "
        f"(Optuna {sampler}, journal {out / 'optuna'})")

    def tune_all():
        with runs_on.open(None):
            return tuning.tune(chosen, space, trials, metric, direction, seeds, out, workers, sampler, tune_seed,
                               run, say)

    try:
        result = _run(tune_all, out, "runs (and their trials)")
    except GridError as err:
        fail(str(err))
    finally:
        sweeping.one_row_per_run(out)
    if result["best"] is None:
        say(f"{result['trials']} trials, none with a finite {metric}")
        raise typer.Exit(1)
    best = " ".join(f"--grid {k}={v}" for k, v in result["best"].items())
    say(f"{result['trials']} trials; best {metric} = {result['value']:.6g}: {best}. Report: runner report {out}")


@app.command()
def status(
    out: Annotated[Path, typer.Argument(parser=directory, help="Results directory of one or more sweeps.")],
) -> None:
    """Count done, diverged, failed and missing runs against the grids of the sweeps in OUT
    (their manifests under OUT/sweeps), and list the files no reader can use (a run whose file
    is unreadable counts as missing; `runner sweep` reruns it, `runner merge` quarantines the
    file). Exit code 0 when every run is done (ok or diverged) and no file is unreadable."""
    from results.integrity import problems
    from results.store import manifests, run_statuses

    refuse_links(out)
    found = problems(out)
    for path, reason in found:
        typer.echo(f"unreadable: {path}: {reason}")
    sweeps = manifests(out)
    if not sweeps:
        fail(f"{out}: no sweep manifests under {out / 'sweeps'}")
    statuses = run_statuses(out)
    expected, pending = set(), set()
    for m in sweeps:
        expected |= set(m["run_ids"])
        command = " ".join([m["study"], *(f"--grid {g}" for g in m["grid"]), f"--seeds {m['seeds']}"]
                           + ([f"--sample {m['sample']} --sample-seed {m['sample_seed']}"] if m.get("sample") else [])
                           + ([f"(tune: {m['tune']['direction']} {m['tune']['metric']})"] if m.get("tune") else []))
        if m.get("tag"):
            command = f"[{m['tag']}] {command}"
        if jobs := submitted(out, m["sweep_id"]):
            pending |= set(m["run_ids"])
            command += f" [submitted to SLURM {jobs['at']}: squeue --jobs {','.join(jobs['jobs'])}]"
        typer.echo(f"sweep {m['sweep_id']}: {command}: {_show(_count(m['run_ids'], statuses, pending))}")
    counts = _count(expected, statuses, pending)
    typer.echo(f"all: {_show(counts)}" + (f"; {len(found)} unreadable files" if found else ""))
    if counts["failed"] or counts["missing"] or counts.get("pending") or found:
        raise typer.Exit(1)


def submitted(out: Path, sid: str) -> dict | None:
    """{"jobs": [ids], "at": time} of the SLURM jobs that `runner slurm --submit` sent for
    sweep ``sid``, or None."""
    import json

    try:
        record = json.loads((out / "slurm" / f"submitted-{sid}.json").read_text())
        return {"jobs": [str(j) for j in record["jobs"]], "at": str(record["at"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _count(run_ids, statuses: dict, pending: set) -> dict:
    """Runs by status; one without a row is "pending" if a submitted job will run it, else
    "missing"."""
    counts = dict.fromkeys(("ok", "diverged", "failed", "missing"), 0)
    for rid in run_ids:
        status = statuses.get(rid, "pending" if rid in pending else "missing")
        counts[status] = counts.get(status, 0) + 1
    return counts


def _show(counts: dict) -> str:
    return f"{sum(counts.values())} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items())


@app.command()
def slurm(
    study: Annotated[str, typer.Argument(help=STUDY_HELP, autocompletion=complete_study)],
    array_size: Annotated[int, typer.Option(help="Array tasks: the sweep is split into this many shards.")],
    grid: Annotated[list[str], typer.Option("--grid", "-g", autocompletion=complete_grid,
                                                            help="As for `runner sweep`.")] = [],
    seeds: Annotated[int, typer.Option(help="As for `runner sweep`.")] = 1,
    out: Annotated[Path | None, typer.Option(parser=directory, help="Results directory, on a file system every node sees "
                                                  "(default: out/STUDY).")] = None,
    partition: Annotated[str | None, typer.Option(help="SLURM partition.")] = None,
    time: Annotated[str | None, typer.Option(help="Time limit per task, e.g. 01:00:00.")] = None,
    cpus_per_task: Annotated[int, typer.Option(help="CPUs per task = worker processes per task.")] = 1,
    mem: Annotated[str | None, typer.Option(help="Memory per node, e.g. 4G (#SBATCH --mem).")] = None,
    account: Annotated[str | None, typer.Option(help="Account to charge (#SBATCH --account).")] = None,
    qos: Annotated[str | None, typer.Option(help="Quality of service (#SBATCH --qos).")] = None,
    gres: Annotated[str | None, typer.Option(help="Generic resources per task, e.g. gpu:1 (#SBATCH --gres).")] = None,
    constraint: Annotated[str | None, typer.Option(help="Node features, e.g. avx512 (#SBATCH --constraint).")] = None,
    sbatch: Annotated[list[str], typer.Option(
        "--sbatch", help="Any other directive, as a whole line: --sbatch '#SBATCH --mail-type=END'. "
                         "Repeatable.")] = [],
    max_array_size: Annotated[int, typer.Option(
        help="Largest array the cluster accepts (default: MaxArraySize from scontrol, else 1001).")] = 0,
    cache_dir: Annotated[Path | None, typer.Option(help="NUMBA_CACHE_DIR (default: OUT/.numba-cache).")] = None,
    setup: Annotated[list[str], typer.Option(
        "--setup", help="A line that prepares the job's environment before the runner starts, e.g. "
                        "--setup 'module load python/3.11' --setup 'source ~/venv/bin/activate' (one command: "
                        "module, ml, source, ., conda, mamba, micromamba, spack or export, and plain words). "
                        "Repeatable.")] = [],
    python: Annotated[str | None, typer.Option(
        help="The Python that runs the jobs [default: after --setup, the python3 the job's environment finds; "
             "else this command's own Python].", show_default=False)] = None,
    max_runs: Annotated[int | None, typer.Option(
        help="As for `runner sweep` [default: 100000].", show_default=False)] = None,
    sample: Annotated[int | None, typer.Option(
        help="Random search, as for `runner sweep`: N configurations drawn from the grid; every task "
             "draws the same ones and runs its shard of them.", show_default=False, metavar="N")] = None,
    sample_seed: Annotated[int, typer.Option(help="Seed of the random search's draws.")] = 0,
    submit: Annotated[bool, typer.Option("--submit", help="Submit with sbatch (else only write the scripts).")] = False,
) -> None:
    """Write (and with --submit, submit) sbatch scripts: a warm-up job that compiles the engine
    into the shared Numba cache, then job arrays, dependent on it, whose tasks run one shard of
    the sweep each. Arrays larger than MaxArraySize are split."""
    from runner import slurm as slurm_jobs
    from runner import sweep as sweeping

    chosen = study_named(study)
    search = {"sample": None, "sample_seed": None} if sample is None else {"sample": sample, "sample_seed": sample_seed}
    specs = sweeping.specs_of(chosen, grid, seeds, sample, sample_seed, max_runs)
    if array_size < 1 or cpus_per_task < 1 or seeds < 1:
        fail("--array-size, --cpus-per-task and --seeds must be >= 1")
    out = (out or Path("out") / chosen.name).absolute()
    shards = min(array_size, len(specs))
    try:
        lines = slurm_jobs.directives({"partition": partition, "time": time, "mem": mem, "account": account,
                                       "qos": qos, "gres": gres, "constraint": constraint}, sbatch)
        setup_lines = slurm_jobs.setup_lines(setup)
        if python is not None and (slurm_jobs.CONTROL.search(python) or slurm_jobs.SHELL_SYNTAX.search(python)
                                   or not python.strip()):
            raise ValueError(f"--python {python!r}: a path or command name without shell syntax")
        slurm_jobs.check_path("--out", out)
        slurm_jobs.check_path("--cache-dir", cache_dir or out)
        slurm_jobs.check_path("the current directory", Path.cwd())
    except ValueError as err:
        fail(str(err))
    check_writable(out)
    sweep_args = [chosen.reference, *(a for g in grid for a in ("--grid", g)), "--seeds", str(seeds),
                  *(["--max-runs", str(max_runs)] if max_runs else []),
                  *(["--sample", str(sample), "--sample-seed", str(sample_seed)] if sample is not None else [])]
    job = slurm_jobs.Job(out, chosen.name, sweep_args, shards, cpus_per_task, lines, cache_dir, setup_lines, python)
    limit = max_array_size or slurm_jobs.max_array_size()
    warm_script, arrays = slurm_jobs.write_scripts(job, limit)
    typer.echo(f"{len(specs)} runs in {shards} shards, {len(arrays)} array job(s) of at most {limit} tasks:")
    for path in (warm_script, *arrays):
        typer.echo(f"  {path}")
    if submit:
        import json
        from datetime import datetime

        from results.store import write_manifest, write_text

        try:
            ids = slurm_jobs.submit(warm_script, arrays)
        except slurm_jobs.SubmitError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        record = sweeping.record(sweeping.Sweep(chosen, grid, seeds, specs, out, search=search))
        write_manifest(out, record)  # the array tasks find it as they would have written it
        write_text(out / "slurm" / f"submitted-{record['sweep_id']}.json",
                   json.dumps({"jobs": ids, "at": datetime.now().isoformat(timespec="seconds")}))
        typer.echo(f"submitted: warm-up {ids[0]}, arrays {', '.join(ids[1:])}; follow with `runner status {out}`")


@app.command()
def warm(
    study: Annotated[str, typer.Argument(help="Study whose kernels to compile.", autocompletion=complete_study)],
    grid: Annotated[list[str], typer.Option(
        "--grid", "-g", autocompletion=complete_grid,
        help="The sweep's grid, as `runner sweep` takes it: compile what its runs need. "
             "Repeatable.")] = [],
    workers: Annotated[int | None, typer.Option(
        help="Processes compiling at once [default: the number of cores].", show_default=False)] = None,
) -> None:
    """Compile the engines that a sweep of STUDY over --grid needs (each plan variant and
    dtype once; their parts in parallel, then the engines) into the Numba cache
    (NUMBA_CACHE_DIR), so that the sweep and the tasks of a job array load them instead of
    compiling. Engines already cached are loaded."""
    import time as clock

    from runner.compile import needed, prepare
    from runner.grid import GridError, Interval, expand, parse_grid

    workers = usable_cores() if workers is None else workers
    if workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    chosen = study_named(study)
    try:  # a range as a random search takes it (any integer range): its ends stand for it
        space = parse_grid(chosen, grid, sample=True)
        specs = expand(chosen, {k: v.ends() if isinstance(v, Interval) else v for k, v in space.items()}, 1)
    except GridError as err:
        fail(str(err))
    t0 = clock.perf_counter()
    engines = needed(chosen, [s.config for s in specs])
    prepare(engines, workers, say)
    chosen.warm_up()
    listed = f" ({', '.join(e.label() for e in engines)})" if engines else ""
    typer.echo(f"{chosen.name}: compiled in {clock.perf_counter() - t0:.1f} s{listed}")


@app.command()
def merge(
    out: Annotated[Path, typer.Argument(parser=directory, help="Results directory.")],
) -> None:
    """Compact the per-run Parquet files of OUT into one file per table, dropping duplicate run
    ids (the newest row wins). Reading the tables gives the same data before and after.
    Unreadable or foreign files are first moved to OUT/quarantine, abandoned temporary files
    removed; merges of one OUT wait for each other."""
    from results.integrity import clean_temporaries, merge_lock
    from results.store import merge as merge_tables
    from runner.sweep import set_aside

    refuse_links(out)
    if not (out / "runs").is_dir():
        fail(f"{out}: no runs table")
    with writing(out, "the tables hold what they held (each file is written whole, then replaces others)"):
        with merge_lock(out):
            clean_temporaries(out)
            set_aside(out, Console())
            for table, (before, after) in merge_tables(out).items():
                typer.echo(f"{table}: {before} files -> {after}")


@app.command()
def check(
    seed: Annotated[int, typer.Option(help="Seed of the random inputs and directions.")] = 0,
    timing: Annotated[bool, typer.Option(
        "--timing", help="Instead: time backpropagation against finite differences on Berlyand & Jabin "
                         "Exercise 9.8's network of 30 one-neuron layers, then 60.")] = False,
) -> None:
    """Run the Taylor, Jacobian and transpose tests (Treister §6.3) on every kernel.

    Taylor: the first-order error of ½||y(θ+εd) − t||² halves (ratio ≈ 2) and the second-order
    error quarters (≈ 4) as ε halves; Jacobian: the same for y itself ("lin" where the kernel is
    linear along d, so the second-order error is rounding); transpose: |uᵀJv − vᵀJᵀu|, relative.
    Exit code 1 if any kernel fails.
    """
    if timing:
        _exercise_9_8(seed)
        return
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


def _exercise_9_8(seed: int) -> None:
    """``runner check --timing`` (kernels.timing)."""
    from kernels.timing import EPS, exercise_9_8

    rows = [exercise_9_8(layers, seed) for layers in (30, 60)]
    typer.echo(f"{'layers':>6} {'backprop µs':>12} {'differences µs':>15} {'ratio':>7} {'max |BP − FD|':>14}")
    for r in rows:
        typer.echo(f"{r.layers:>6} {1e6 * r.backprop_s:>12.2f} {1e6 * r.differences_s:>15.2f} "
                   f"{r.differences_s / r.backprop_s:>7.1f} {r.max_difference:>14.2e}")
    small, large = rows
    typer.echo(f"doubling the layers: backpropagation ×{large.backprop_s / small.backprop_s:.2f} (O(layers): 2), "
               f"finite differences ×{large.differences_s / small.differences_s:.2f} (O(layers²): 4); "
               f"the gradients agree to O(ε = {EPS:g}) relative to their scale "
               f"{max(r.gradient_scale for r in rows):.3g}.")


@app.command()
def report(
    out: Annotated[Path, typer.Argument(parser=directory, help="Results directory of a sweep.")],
    study: Annotated[str | None, typer.Option(
        help="The plug-in study (path/to/file.py:ClassName or package.module:ClassName) whose own report "
             "to make. A results directory is data: without this, a study that is neither built in nor "
             "installed gets the shared summary.")] = None,
    format: Annotated[str, typer.Option(
        "--format", help="text: the study's summary, findings and figure paths; markdown, csv or json: "
                         "the table of every swept key's groups (seeds, ok/diverged/failed counts, each "
                         "metric's median, first and third quartile), for notebooks and scripts.")] = "text",
    sweep: Annotated[str | None, typer.Option(
        help="Report only this sweep's runs (its id, a prefix of it, or its --tag); figures go to "
             "OUT/figures/SWEEP_ID.", show_default=False)] = None,
) -> None:
    """Print a study's summary and findings and write its figures to OUT/figures."""
    if format not in ("text", "markdown", "csv", "json"):
        fail(f"--format must be text, markdown, csv or json, got {format!r}")
    from results.summary import markdown
    from runner.report import report as make_report

    refuse_links(out)
    chosen = None if study is None else study_named(study)
    with writing(out / "figures", "the results are untouched; only the figures are missing"):
        try:
            made = make_report(out, chosen, sweep)
        except (FileNotFoundError, ValueError) as err:
            fail(str(err))
    if format == "markdown":
        typer.echo(markdown(made.numbers))
    elif format == "csv":
        typer.echo(made.numbers.to_csv(index=False), nl=False)
    elif format == "json":
        typer.echo(made.numbers.to_json(orient="records", indent=1, double_precision=15))
    else:
        typer.echo(made.text)
        typer.echo("\nFigures:")
        for path in made.figures:
            typer.echo(f"  {path}")


@app.command()
def compare(
    first: Annotated[Path, typer.Argument(parser=directory, help="A results directory.")],
    second: Annotated[Path | None, typer.Argument(
        parser=directory, help="Another results directory (or none, with two --sweep of FIRST).",
        show_default=False)] = None,
    sweep: Annotated[list[str], typer.Option(
        help="A sweep of FIRST (id, prefix or tag): give two to compare two sweeps of one directory, or one "
             "per directory.")] = [],
    metric: Annotated[list[str], typer.Option(help="Metrics to show [default: every one]. Repeatable.")] = [],
    format: Annotated[str, typer.Option("--format", help="text, markdown, csv or json.")] = "text",
) -> None:
    """The same groups of two sweeps side by side: each metric's median over seeds in A and in
    B and the difference B - A, grouped by every parameter that varies in either."""
    from results.compare import side_by_side
    from results.store import RUNS, find_sweep, load
    from results.summary import markdown

    if format not in ("text", "markdown", "csv", "json"):
        fail(f"--format must be text, markdown, csv or json, got {format!r}")
    if (second is None) != (len(sweep) == 2) or len(sweep) > 2:
        fail("compare two directories (each optionally with one --sweep), or two --sweep of one directory")
    sides = []
    for k, directory_ in enumerate([first, first] if second is None else [first, second]):
        refuse_links(directory_)
        try:
            runs = load(directory_, RUNS)
            if k < len(sweep):
                runs = runs[runs["run_id"].isin(find_sweep(directory_, sweep[k])["run_ids"])]
        except (FileNotFoundError, ValueError) as err:
            fail(str(err))
        sides.append(runs)
    try:
        table = side_by_side(*sides, metric)
    except ValueError as err:
        fail(str(err))
    if format == "markdown":
        typer.echo(markdown(table))
    elif format == "csv":
        typer.echo(table.to_csv(index=False), nl=False)
    elif format == "json":
        typer.echo(table.to_json(orient="records", indent=1, double_precision=15))
    else:
        typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@app.command()
def forget(
    out: Annotated[Path, typer.Argument(parser=directory, help="Results directory.")],
    sweep: Annotated[str, typer.Argument(help="The sweep to remove: its id, a prefix of it, or its --tag.",
                                         show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")] = False,
) -> None:
    """Remove a sweep from OUT: its manifest and the rows and files of its runs, except runs that
    another sweep of OUT also holds (they stay, and are named). Merged files are rewritten in
    place, atomically, under the merge lock."""
    from results.integrity import merge_lock
    from results.store import find_sweep, manifests
    from results.store import forget as remove

    refuse_links(out)
    try:
        chosen = find_sweep(out, sweep)
    except ValueError as err:
        fail(str(err))
    others = set().union(*(m["run_ids"] for m in manifests(out) if m["sweep_id"] != chosen["sweep_id"]))
    mine = set(chosen["run_ids"]) - others
    shared = len(chosen["run_ids"]) - len(mine)
    kept = f"; {shared} runs also belong to another sweep and stay" if shared else ""
    if dry_run:
        typer.echo(f"would remove sweep {chosen['sweep_id']}: its manifest and {len(mine)} runs{kept}")
        return
    with writing(out, "the tables hold what they held, or less the sweep's runs"):
        with merge_lock(out):
            rows = remove(out, mine)
            (out / "sweeps" / f"{chosen['sweep_id']}.json").unlink()
    typer.echo(f"removed sweep {chosen['sweep_id']}: its manifest, {len(mine)} runs ({rows} rows){kept}")
