"""How the command line shows a sweep's progress (runner.sweep.Progress): status lines on
stdout; on a terminal rich's bar with n/N, the ok/diverged/failed counts, the time elapsed and
the ETA; in a log (SLURM's, a pipe) one line per run with its swept values, the counts, the
time elapsed and the ETA."""
import os
import sys
import time
from contextlib import contextmanager

import typer


def say(line: str) -> None:
    """Print a line on stdout; once stdout is closed (``runner sweep ... | head``), print
    nothing more and go on: the results are in files, the output is only progress."""
    try:
        typer.echo(line)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # for the rest of the process


def _tally(counts: dict) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in ("ok", "diverged", "failed"))


class Console:
    """The Progress of a command run in a shell or a batch job."""

    say = staticmethod(say)

    @staticmethod
    def warn(line: str) -> None:
        typer.echo(line, err=True)

    @contextmanager
    def runs(self, label: str, todo: list, counts: dict):
        if sys.stderr.isatty():
            from rich import progress as bar

            columns = (bar.TextColumn("{task.description}"), bar.BarColumn(), bar.MofNCompleteColumn(),
                       bar.TextColumn("{task.fields[tally]}"), bar.TimeElapsedColumn(), bar.TextColumn("ETA"),
                       bar.TimeRemainingColumn())
            with bar.Progress(*columns) as shown:
                task = shown.add_task(label, total=len(todo), tally=_tally(counts))
                yield lambda row: shown.update(task, advance=1, tally=_tally(counts))
            return
        yield self._logger(todo, counts)

    @staticmethod
    def _logger(todo: list, counts: dict):
        varying = [k for k in todo[0].config if len({repr(s.config[k]) for s in todo}) > 1]
        seeded = len({s.seed for s in todo}) > 1
        configs = {s.run_id: s for s in todo}
        t0 = time.monotonic()
        done = 0

        def ran(row: dict) -> None:
            nonlocal done
            done += 1
            took = "" if row["run_time_s"] is None else f" {row['run_time_s']:.2f}s"
            error = f" {row['error']}" if row["error"] else ""
            spec = configs.get(row["run_id"])
            values = "".join(f" {key}={spec.config[key]}" for key in varying) if spec else ""
            seed = f" seed={spec.seed}" if spec and seeded else ""
            elapsed = time.monotonic() - t0
            eta = "" if done == len(todo) else f", ETA {elapsed / done * (len(todo) - done):.0f} s"
            say(f"[{done}/{len(todo)}] {row['run_id']} {row['status']}{took}{values}{seed}{error} "
                f"({_tally(counts)}; {elapsed:.0f} s{eta})")

        return ran
