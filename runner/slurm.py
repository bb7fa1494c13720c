"""SLURM job arrays for a sweep: sbatch scripts, MaxArraySize splitting and submission.

One sweep of N shards becomes a warm-up job, which fills the Numba compile cache once, and one
or more array jobs that depend on it (``afterok``): each array task runs
``exec runner sweep ... --shard I/N`` (``exec``: the sweep is the batch shell, which gets
SLURM's warning signal, ``--signal=B:TERM@WARNING_S``, and ends cleanly before the limit; its
rerun resumes), its runs on ``--cpus-per-task`` worker processes pinned to one
thread each, writing its own files into the shared results directory. A sweep with more shards
than the cluster's MaxArraySize is split into arrays of at most that many tasks, each adding an
offset to SLURM_ARRAY_TASK_ID.
"""
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from runner.pool import THREAD_VARIABLES

DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's default MaxArraySize
WARNING_S = 120  # SIGTERM this long before the time limit (#SBATCH --signal), to end cleanly
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Job:
    """Where the scripts go and what the jobs ask for."""

    out: Path
    name: str  # the study's name, for the job names
    sweep_args: list[str]  # study reference and sweep options, without --out / --shard / --workers
    shards: int
    cpus_per_task: int = 1
    directives: tuple[str, ...] = ()  # further "#SBATCH ..." lines (partition, time, mem, ...)
    cache_dir: Path | None = None
    setup: tuple[str, ...] = ()  # shell lines that prepare the environment (setup_lines)
    python: str | None = None  # the Python that runs the job (default: python_for)

    def python_for(self) -> str:
        """``python``; else, after a --setup, the ``python3`` the job's environment finds; else
        the Python of this login-node command (a virtual environment on a shared file system)."""
        return self.python or ("python3" if self.setup else sys.executable)

    @property
    def script_dir(self) -> Path:
        return self.out / "slurm"


def directives(options: dict[str, str | None], extra: list[str]) -> tuple[str, ...]:
    """``#SBATCH --key=value`` for every option given (key with '_' as '-'), then the ``extra``
    lines as given. ValueError (naming the option) for a value with a space or a control
    character (a newline would start a shell line of the script), or an extra line that is not
    one ``#SBATCH ...`` directive."""
    lines = []
    for key, value in options.items():
        if value:
            option = f"--{key.replace('_', '-')}"
            if CONTROL.search(value) or any(c.isspace() for c in value):
                raise ValueError(f"{option} {value!r}: a job-script value may hold no space or control character")
            lines.append(f"#SBATCH {option}={value}")
    for line in extra:
        if not line.startswith("#SBATCH ") or CONTROL.search(line) or len(line.split()) < 2:
            raise ValueError(f"--sbatch {line!r}: expected one line '#SBATCH --option=value'")
    return tuple(lines + list(extra))


SETUP_COMMANDS = ("module", "ml", "source", ".", "conda", "mamba", "micromamba", "spack", "export")
SHELL_SYNTAX = re.compile(r"[;&|<>`$(){}*?\[\]!#\\\"']")


def setup_lines(lines: list[str]) -> tuple[str, ...]:
    """Each ``--setup`` line as one simple shell command of the job script, ``module load
    python/3.11``, ``source ~/venv/bin/activate``, ``conda activate torch``: its first word one of
    SETUP_COMMANDS, its words free of shell syntax (no ; & | redirection, substitution, quotes or
    globs, so a line cannot run anything else), a leading ~ expanded here. ValueError naming the
    line otherwise."""
    checked = []
    for line in lines:
        words = line.split()
        if CONTROL.search(line) or SHELL_SYNTAX.search(line) or not words or words[0] not in SETUP_COMMANDS:
            raise ValueError(f"--setup {line!r}: expected one command ({', '.join(SETUP_COMMANDS)}) and plain "
                             "words, e.g. 'module load python/3.11' or 'source ~/venv/bin/activate'")
        if words[0] == "export" and not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", w) for w in words[1:]):
            raise ValueError(f"--setup {line!r}: export takes NAME=value words")
        checked.append(" ".join(str(Path(w).expanduser()) if w.startswith("~") else w for w in words))
    return tuple(checked)


def check_path(option: str, path: Path) -> None:
    """ValueError unless ``path`` can be written into a job script (no control character)."""
    if CONTROL.search(str(path)):
        raise ValueError(f"{option} {str(path)!r}: a path in a job script may hold no control character")


def directive_quote(text: str) -> str:
    """``text`` as one argument of an ``#SBATCH`` line: sbatch splits those lines at spaces
    and takes double quotes and backslashes as the shell does."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def max_array_size() -> int:
    """The cluster's MaxArraySize from ``scontrol show config`` (default 1001 if unknown)."""
    try:
        text = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", text, re.MULTILINE)
    return int(match[1]) if match else DEFAULT_MAX_ARRAY_SIZE


def array_chunks(shards: int, max_size: int) -> list[tuple[int, int]]:
    """(offset, tasks) of each array: task indices 0 … tasks−1 run shards offset … offset+tasks−1
    (array indices must stay below MaxArraySize, so every array starts at 0)."""
    return [(start, min(max_size, shards - start)) for start in range(0, shards, max_size)]


def _header(job: Job, name: str, log: str, cpus: int) -> list[str]:
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --cpus-per-task={cpus}",
             f"#SBATCH --output={directive_quote(str(job.script_dir / 'logs' / log))}",
             f"#SBATCH --signal=B:TERM@{WARNING_S}", *job.directives]
    cache = job.cache_dir or job.out / ".numba-cache"
    # -u only after the setup: environment modules and conda read unset variables
    lines += ["set -eo pipefail", *job.setup, "set -u", f"cd {shlex.quote(str(Path.cwd()))}",
              f"export NUMBA_CACHE_DIR={shlex.quote(str(cache))}"]
    lines += [f"export {v}=1" for v in THREAD_VARIABLES]
    return lines


def write_scripts(job: Job, max_size: int) -> tuple[Path, list[Path]]:
    """Write the warm-up script and one array script per chunk; return their paths."""
    (job.script_dir / "logs").mkdir(parents=True, exist_ok=True)
    runner = f"{shlex.quote(job.python_for())} -m runner"
    grid = [a for flag, value in zip(job.sweep_args[1::2], job.sweep_args[2::2]) if flag == "--grid"
            for a in (flag, value)]
    warm_args = " ".join(shlex.quote(a) for a in [job.sweep_args[0], *grid])
    warm = job.script_dir / "warmup.sbatch"
    warm.write_text("\n".join(_header(job, f"{job.name}-warmup", "warmup-%j.out", 1)
                              + [f"exec {runner} warm {warm_args}", ""]))
    arrays = []
    args = " ".join(shlex.quote(a) for a in job.sweep_args)
    for k, (offset, tasks) in enumerate(array_chunks(job.shards, max_size)):
        path = job.script_dir / f"array-{k}.sbatch"
        lines = _header(job, f"{job.name}-sweep", f"array-{k}-%A_%a.out", job.cpus_per_task)
        lines.insert(2, f"#SBATCH --array=0-{tasks - 1}")
        lines.append(f"exec {runner} sweep {args} --out {shlex.quote(str(job.out))} "
                     f"--workers {job.cpus_per_task} --shard $((SLURM_ARRAY_TASK_ID + {offset}))/{job.shards}")
        path.write_text("\n".join(lines + [""]))
        arrays.append(path)
    return warm, arrays


class SubmitError(Exception):
    """sbatch is missing or refused a script; the message is one line (sbatch's own words)."""


def submit(warm: Path, arrays: list[Path]) -> list[str]:
    """sbatch the warm-up job, then every array after it; return the job ids. SubmitError
    when sbatch is missing or refuses a script (naming the jobs submitted before it)."""
    ids = []

    def sbatch(*args) -> str:
        try:
            done = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise SubmitError("sbatch not found: is this a SLURM login node? The scripts are written; "
                              f"submit them there with sbatch {warm}") from None
        except subprocess.TimeoutExpired:
            raise SubmitError(f"sbatch {args[-1]} did not answer in 120 s") from None
        if done.returncode != 0:
            said = " ".join(done.stderr.split()) or f"exit code {done.returncode}"
            before = f" (submitted before it: {', '.join(ids)})" if ids else ""
            raise SubmitError(f"sbatch refused {args[-1]}: {said}{before}")
        ids.append(done.stdout.strip().split(";")[0])
        return ids[-1]

    first = sbatch(str(warm))
    for path in arrays:
        sbatch(f"--dependency=afterok:{first}", str(path))
    return ids
