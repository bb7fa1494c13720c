"""The ``runner`` console script: a Ctrl-C while the command line is still loading exits
with code 130 and prints nothing (once loaded, Typer turns Ctrl-C into exit code 130 too)."""
import signal
import sys


def _exit_quietly(signum, frame) -> None:
    sys.exit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _exit_quietly)
    from runner.cli import app

    signal.signal(signal.SIGINT, previous)
    app(prog_name="runner")
