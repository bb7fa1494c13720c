"""The sweep pipeline: grid → runs → what is done → manifest → execute → record.

Used by ``runner sweep``, ``runner tune`` and ``runner slurm`` (runner.cli), which parse the
command line, print and map errors to exit codes; here nothing is printed. Bad input raises
SweepError (one line: exit 2, nothing written); progress goes to a ``Progress`` (runner.progress
shows it); an interrupted or failing write raises Stopped or WriteFailed with the count of
runs kept.

    sweep = plan(study, grid, seeds, out, ...)    # expanded, sharded, checked; nothing written
    outcomes = run(sweep, executor, progress)     # skips what is done, writes every run
"""
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

DONE = ("ok", "diverged")  # outcomes that a rerun skips; failed runs are retried


class SweepError(ValueError):
    """Bad input, in one line: the command exits 2 and writes nothing."""


class WriteError(Exception):
    """The results could not be written (``__cause__``: the OSError, e.g. a full disk)."""


class Stopped(Exception):
    """Ctrl-C, SIGTERM or SIGHUP stopped the runs: ``code`` is the exit code (runner.console),
    ``kept`` the finished runs written."""

    def __init__(self, code: int, how: str, kept: int):
        super().__init__(how)
        self.code, self.how, self.kept = code, how, kept


class WriteFailed(Exception):
    """Writing under ``out`` failed (``cause``: the OSError); ``kept`` runs are written whole."""

    def __init__(self, out: Path, cause: OSError, kept: int):
        super().__init__(str(cause))
        self.out, self.cause, self.kept = out, cause, kept


class Progress(Protocol):
    """Where the pipeline reports: a status line, and each run as it is written."""

    def say(self, line: str) -> None: ...

    def warn(self, line: str) -> None:
        """A line about something set right on the way (a file quarantined)."""

    def runs(self, label: str, todo: list, counts: dict):
        """A context manager around the runs of ``todo``, yielding ``ran(row)``, called once
        a run's row is written; ``counts`` (status -> runs) is updated before each call."""


def study_named(reference: str):
    """The study that ``reference`` names (experiments.registry), or SweepError. The studies
    (with Numba and the kernels) are imported under runner.pool.frozen_imports: a quarter of a
    second less per command."""
    from runner.pool import frozen_imports

    with frozen_imports():
        from experiments import StudyError, builtin_studies, get_study

        builtin_studies()
        try:
            return get_study(reference)
        except StudyError as err:
            raise SweepError(str(err)) from None


def check_writable(out: Path) -> None:
    """SweepError unless ``out`` is, or can be created as, a writable directory (writes
    nothing): a name or path too long for the file system (ENAMETOOLONG) is refused here, not
    when a run is done."""
    shown = str(out) if len(str(out)) <= 80 else f"{str(out)[:40]}...{str(out)[-20:]} ({len(str(out))} characters)"
    try:
        probe, missing = out.absolute(), []
        while not probe.exists():  # ENAMETOOLONG from an existing directory's entry or PATH_MAX
            missing.append(probe.name)
            probe = probe.parent
        name_max, path_max = os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
    except OSError as err:
        raise SweepError(f"output directory {shown}: {err.strerror}") from None
    if any(len(os.fsencode(name)) > name_max for name in missing) or len(os.fsencode(str(out.absolute()))) >= path_max:
        raise SweepError(f"output directory {shown}: File name too long (at most {name_max} bytes a name, "
                         f"{path_max} a path)")
    if not probe.is_dir():
        raise SweepError(f"output directory {out}: {probe} is not a directory")
    try:
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as err:
        raise SweepError(f"output directory {out} is not writable: {err.strerror}") from None


def refuse_links(out: Path) -> None:
    """SweepError if the part of ``out`` that the runner touches holds a symbolic link
    (results.integrity.symlinks): nothing outside OUT is read as results, moved or deleted."""
    from results.integrity import symlinks

    if found := symlinks(out):
        raise SweepError(f"{found[0]} is a symbolic link, which could lead outside {out}; the runner works only on "
                         "the directory's own files (replace the link by what it points to)")


def specs_of(study, grid: list[str], seeds: int, sample: int | None = None, sample_seed: int = 0,
             max_runs: int | None = None) -> list:
    """The runs of ``grid``: every configuration (runner.grid.expand), or ``sample`` drawn
    from it (runner.grid.sample); SweepError for a grid that cannot be read."""
    from runner.grid import MAX_RUNS, GridError, expand, parse_grid
    from runner.grid import sample as draw

    if max_runs is not None and max_runs < 1:
        raise SweepError(f"--max-runs must be >= 1, got {max_runs}")
    try:
        if sample is None:
            return expand(study, parse_grid(study, grid), seeds, max_runs or MAX_RUNS)
        return draw(study, parse_grid(study, grid, sample=True), sample, sample_seed, seeds, max_runs or MAX_RUNS)
    except GridError as err:
        raise SweepError(str(err)) from None


def deprecated_notices(study, grid: list[str]) -> list[str]:
    """The study's notice (Study.deprecated) for each older spelling among the --grid entries."""
    notices = []
    for option in grid:
        key, _, text = option.partition("=")
        notice = study.deprecated.get(f"{key.strip()}={text.strip()}") or study.deprecated.get(key.strip())
        if notice:
            notices.append(notice)
    return notices


def check_memory(study, specs: list) -> None:
    """SweepError if the largest run's estimate (Study.memory) exceeds the memory limit
    (experiments.memory), naming the run and what it sets apart from the defaults."""
    from experiments import memory

    defaults, estimates = study.defaults(), {}
    for spec in specs:  # one estimate per configuration: the seeds share it
        key = repr(sorted(spec.config.items()))
        if key not in estimates:
            estimates[key] = (study.memory(spec.config) or 0, spec)
    if not estimates:
        return
    needed, spec = max(estimates.values(), key=lambda e: e[0])
    settings = " ".join(f"{k}={v}" for k, v in spec.config.items() if v != defaults.get(k))
    try:
        memory.check(needed, f"run {spec.run_id}{' (' + settings[:120] + ')' if settings else ''}")
    except ValueError as err:
        raise SweepError(str(err)) from None


def merge_config(path: Path, options: dict, grid: list[str]) -> tuple[dict, list[str]]:
    """The sweep file's options under those given on the command line (runner.sweepfile)."""
    from runner.grid import GridError, parse_grid
    from runner.sweepfile import SweepFileError, grid_key, read

    try:
        data, lines = read(path)
    except SweepFileError as err:
        raise SweepError(str(err)) from None
    merged = {k: data.get(k) if v is None else v for k, v in options.items()}
    if merged["study"] is None:
        return merged, grid
    chosen = study_named(merged["study"])
    for option in data["grid"]:  # each entry alone, so that an error names its line
        key = grid_key(option)
        try:
            parse_grid(chosen, [option], sample=merged.get("sample") is not None)
        except GridError as err:
            raise SweepError(f"{path} line {lines[key]}: grid.{key}: {err}") from None

    def name(option: str) -> str:
        try:
            return chosen.param(grid_key(option)).name
        except KeyError:
            return grid_key(option)

    overridden = {name(o) for o in grid}
    return merged, [o for o in data["grid"] if name(o) not in overridden] + grid


MANIFEST = {"study": (str, "a text"), "grid": (list, "a list of 'key=values' texts"),
            "seeds": (int, "an integer >= 1"), "run_ids": (list, "a list of run ids")}


def read_manifest(path: Path) -> dict:
    """The sweep manifest at ``path`` (OUT/sweeps/SWEEP_ID.json, ``record``), its fields
    checked; SweepError with the field at fault. Data only: nothing in it is imported or run."""
    from runner.sweepfile import read_regular

    def bad(reason: str) -> SweepError:
        return SweepError(f"--from {path}: {reason}")

    try:
        record = json.loads(read_regular(path))
    except OSError as err:
        raise bad(err.strerror) from None
    except ValueError as err:
        raise bad(f"not a sweep manifest (not JSON: {str(err).splitlines()[0]})") from None
    if not isinstance(record, dict):
        raise bad(f"not a sweep manifest (a JSON {type(record).__name__}, not an object)")
    for key, (kind, what) in MANIFEST.items():
        if key == "run_ids" and key not in record:  # optional: compared only where recorded
            continue
        value = record.get(key)
        items_ok = not isinstance(value, list) or all(isinstance(v, str) for v in value)
        if not isinstance(value, kind) or isinstance(value, bool) or not items_ok:
            raise bad(f"not a sweep manifest: {key!r} must be {what}, got {value!r:.60}")
    if record["seeds"] < 1:
        raise bad(f"not a sweep manifest: 'seeds' must be an integer >= 1, got {record['seeds']}")
    for key, low in (("sample", 1), ("sample_seed", 0)):  # a random search's; absent or null for a grid
        value = record.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise bad(f"not a sweep manifest: {key!r} must be null or an integer >= {low}, got {value!r:.60}")
    return record


def from_manifest(path: Path, options: dict) -> tuple[dict, list[str]]:
    """The study, grid and seeds of a recorded sweep; its OUT unless --out is given. A
    manifest is data: the study is the one typed on the command line, or the manifest's
    study name where that is built in or installed; the code it names is never imported."""
    from experiments.registry import BUILTIN, registered

    record = read_manifest(path)
    if record.get("tune"):
        raise SweepError(f"--from {path}: a tune's manifest; run the same `runner tune` command again to resume it")
    name, grid, seeds = record["study"], record["grid"], record["seeds"]
    study = options["study"]
    if study is None and name not in BUILTIN and name not in registered():
        raise SweepError(f"--from {path}: study {name!r} is neither built in nor installed, and a manifest's code is "
                         f"never run; name the study first: runner sweep "
                         f"{record.get('study_ref', 'path/to/file.py:Class')!r} --from {path}")
    out = options["out"] or (path.parent.parent if path.parent.name == "sweeps" else None)
    return {**options, "study": study or name, "seeds": seeds, "out": out, "recorded": name,
            "sample": record.get("sample"), "sample_seed": record.get("sample_seed")}, list(grid)


def check_same_sweep(path: Path, specs: list) -> None:
    """SweepError unless ``specs`` are the runs of the manifest at ``path`` (the study's
    defaults or its code may have changed since)."""
    from runner.grid import sweep_id

    record = read_manifest(path)
    if sorted(s.run_id for s in specs) != sorted(record.get("run_ids", [])):
        raise SweepError(f"--from {path}: the study now expands this sweep to other runs (sweep "
                         f"{sweep_id([s.run_id for s in specs])}, not {record.get('sweep_id')}); its defaults or "
                         "parameters changed since")


@dataclass
class Sweep:
    """A sweep ready to run: its study, grid entries, seeds, expanded runs, this process's
    shard (I, N) or None, results directory and search record ({"sample", "sample_seed"},
    "tag", or a tune's)."""

    study: object
    grid: list[str]
    seeds: int
    specs: list
    out: Path
    part: tuple[int, int] | None = None
    search: dict = field(default_factory=lambda: {"sample": None, "sample_seed": None})

    @property
    def id(self) -> str:
        from runner.grid import sweep_id

        return sweep_id([s.run_id for s in self.specs])


def plan(study, grid: list[str], seeds: int, out: Path | None, *, shard: str | None = None, sample: int | None = None,
         sample_seed: int | None = None, tag: str | None = None, max_runs: int | None = None,
         manifest: Path | None = None, environ=os.environ) -> Sweep:
    """The Sweep of ``study`` over ``grid`` (its runs expanded, or drawn with ``sample``),
    with the shard ``I/N`` (else the array task's, runner.arrays), into ``out`` (default
    out/STUDY), checked (memory, the directory, a --from manifest's run ids); SweepError
    otherwise. Writes nothing."""
    from runner.arrays import shard_from
    from runner.grid import GridError, parse_shard

    if seeds < 1:
        raise SweepError(f"--seeds must be >= 1, got {seeds}")
    search = {"sample": sample, "sample_seed": sample_seed}
    if tag is not None:
        if not tag.strip() or any(not c.isprintable() for c in tag) or len(tag) > 200:
            raise SweepError("--tag must be printable text of 1 to 200 characters")
        search["tag"] = tag
    if sample is None and sample_seed is not None:
        raise SweepError("--sample-seed needs --sample N")
    if sample is not None and sample_seed is None:
        search["sample_seed"] = 0
    specs = specs_of(study, grid, seeds, sample, search["sample_seed"], max_runs)
    try:
        part = parse_shard(shard) if shard else shard_from(environ)
    except GridError as err:
        raise SweepError(str(err)) from None
    check_memory(study, specs)
    out = Path(out) if out is not None else Path("out") / study.name
    check_writable(out)
    refuse_links(out)
    if manifest is not None:
        check_same_sweep(manifest, specs)
    return Sweep(study, grid, seeds, specs, out, part, search)


def record(sweep: Sweep, sweep_id: str | None = None) -> dict:
    """The manifest of a sweep (results.store.write_manifest); ``sweep_id`` in place of the
    runs' (a tune's id)."""
    return {"sweep_id": sweep_id or sweep.id, "study": sweep.study.name, "study_ref": sweep.study.reference,
            "study_digest": sweep.study.source_digest, "grid": sweep.grid, "resolved": resolved_grid(sweep.specs),
            "seeds": sweep.seeds, **sweep.search, "run_ids": sorted(s.run_id for s in sweep.specs),
            "command": sys.argv}


def resolved_grid(specs: list) -> dict:
    """Every parameter of the sweep -> its values, in the order they first appear."""
    return {key: list(dict.fromkeys(s.config[key] for s in specs)) for key in specs[0].config}


def refuse_stale(study, out: Path, done: list[str]) -> None:
    """SweepError if a finished run in ``done`` was computed by other source code of the
    plug-in study than the one loaded now (results.store.run_digests): skipping it would mix
    results of two versions of the study."""
    from results.store import run_digests

    recorded = run_digests(out)
    stale = [rid for rid in done if recorded.get(rid) not in (None, study.source_digest)]
    if stale:
        raise SweepError(
            f"the code of study {study.name} ({study.reference.rpartition(':')[0]}) changed since {len(stale)} of "
            f"its runs in {out} were computed (sha256 {recorded[stale[0]][:12]} then, {study.source_digest[:12]} now); "
            "rerun them with the new code with --force, or sweep into another --out")


def set_aside(out: Path, progress: Progress, study: str | None = None) -> None:
    """Quarantine the files under OUT that no reader can use or that are not of ``study``
    (default: the one its manifests name), telling ``progress``."""
    from results.integrity import problems, quarantine

    found = problems(out, study)
    for (path, reason), moved in zip(found, quarantine(out, found)):
        progress.warn(f"quarantined {path} ({reason}) -> {moved}")


def one_row_per_run(out: Path) -> None:
    """Take the runs written again out of OUT's merged parts (results.store.deduplicate), so
    that ``pandas.read_parquet`` sees each run once; a failure to write is left to the next
    sweep or merge, which does the same."""
    from results.integrity import merge_lock
    from results.store import deduplicate

    if any(next((out / table).glob("part-*.parquet"), None) for table in ("runs", "curves")):  # merged before
        try:
            with merge_lock(out):
                deduplicate(out)
        except OSError:
            pass


def to_run(sweep: Sweep, progress: Progress, force: bool = False, tidy: bool = True) -> tuple[list, list, dict]:
    """(this shard's runs, those still to run, run id -> status of those with one). SweepError
    if OUT holds another study's results or stale runs of this one. ``tidy``: first set OUT
    right (temporaries, files of another study, rows written twice); no result is written."""
    from results.integrity import clean_temporaries
    from results.store import manifests, run_statuses, studies_in
    from runner.grid import shard as select_shard

    out, study = sweep.out, sweep.study
    named = {m["study"] for m in manifests(out)}  # a stray run of another study is quarantined, below
    others = (named or studies_in(out)) - {study.name}
    if others:
        raise SweepError(f"{out} holds results of another study ({', '.join(sorted(others))}); use another --out")
    if tidy and out.is_dir():
        clean_temporaries(out)
        set_aside(out, progress, study.name)
        one_row_per_run(out)  # after a sweep or merge killed midway
    mine = select_shard(sweep.specs, *sweep.part) if sweep.part else sweep.specs
    statuses = {} if force else run_statuses(out)
    if statuses and study.source_digest is not None:
        refuse_stale(study, out, [s.run_id for s in mine if statuses.get(s.run_id) in DONE])
    return mine, [s for s in mine if statuses.get(s.run_id) not in DONE], statuses


def run(sweep: Sweep, executor, progress: Progress, force: bool = False, sweep_id: str | None = None) -> dict:
    """Run what is left of ``sweep`` (of its shard) on ``executor`` (runner.executors, opened
    here), writing each run as it finishes; returns run id -> status of every run of the
    shard that has one now. ``sweep_id``: the id the rows and manifest carry (a tune's)."""
    mine, todo, statuses = to_run(sweep, progress, force)
    sid = sweep_id or sweep.id
    progress.say(headline(sweep, mine, todo))
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    outcomes = {s.run_id: statuses[s.run_id] for s in mine if s.run_id in statuses}
    try:
        write(sweep.out, record(sweep, sid))
        with executor.open(len(todo)):
            execute(sweep.study, todo, sid, sweep.out, executor, outcomes, counts, progress)
    finally:
        one_row_per_run(sweep.out)
    progress.say(f"{len(todo)} runs: " + ", ".join(f"{counts[k]} {k}" for k in ("ok", "diverged", "failed"))
                 + f". Results: {sweep.out}/runs, {sweep.out}/curves. Report: runner report {sweep.out}")
    return outcomes


def headline(sweep: Sweep, mine: list, todo: list) -> str:
    """``sweep ID: STUDY, [shard I/N:] R runs, D done, T to run -> OUT``."""
    where = f" shard {sweep.part[0]}/{sweep.part[1]}:" if sweep.part else ""
    if sweep.search.get("sample") is not None:
        where += f" random search ({sweep.search['sample']} draws, seed {sweep.search['sample_seed']}):"
    return (f"sweep {sweep.id}: {sweep.study.name},{where} {len(mine)} runs, {len(mine) - len(todo)} done, "
            f"{len(todo)} to run -> {sweep.out}")


def write(out: Path, manifest: dict) -> None:
    """Write a sweep's manifest; WriteFailed (no run written yet) if it cannot be."""
    from results.store import write_manifest

    try:
        write_manifest(out, manifest)
    except OSError as err:
        raise WriteFailed(out, err, 0) from None


def execute(study, todo: list, sid: str, out: Path, executor, outcomes: dict, counts: dict,
            progress: Progress) -> None:
    """Run ``todo`` of ``study`` on ``executor`` (opened), writing each run as it finishes
    (its status in ``outcomes[run_id]``, counted in ``counts``) and telling ``progress``.
    Stopped on Ctrl-C or SIGTERM, WriteFailed if a run cannot be written: the runs written
    before are whole and kept."""
    from results.store import write_run
    from runner.compile import needed, prepare
    from runner.console import exit_code
    from runner.pool import usable_cores

    if not todo:
        return
    try:
        if executor.compiles_here:  # workers elsewhere compile what they run
            prepare(needed(study, [s.config for s in todo]), usable_cores(), progress.say)  # before any run: every core
        with progress.runs(executor.label(study.name), todo, counts) as ran:
            for row, curves in executor.run(study, todo, sid):
                try:
                    write_run(out, study, row, curves)
                except OSError as err:
                    raise WriteFailed(out, err, sum(counts.values())) from None
                outcomes[row["run_id"]] = row["status"]
                counts[row["status"]] += 1
                ran(row)
    except KeyboardInterrupt as stop:
        code = exit_code(stop)
        raise Stopped(code, "interrupted" if code == 130 else f"stopped by {stop}", sum(counts.values())) from None
