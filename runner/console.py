"""The ``runner`` console script: a Ctrl-C while the command line is still loading exits
with code 130 and prints nothing (once loaded, Typer turns Ctrl-C into exit code 130 too), and
one that arrives after the command has ended is ignored, so the exit keeps the command's code
(Python would otherwise end its shutdown by killing itself with SIGINT)."""
import signal
import sys


def _exit_quietly(signum, frame) -> None:
    sys.exit(130)


def main() -> None:
    previous = signal.signal(signal.SIGINT, _exit_quietly)
    from runner.cli import app

    signal.signal(signal.SIGINT, previous)
    try:
        app(prog_name="runner")
    finally:  # the command has ended: a Ctrl-C now must not kill the exit with a signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
