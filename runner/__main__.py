"""The ``runner`` console script: the signal handlers (runner.console) first, then the
command line (runner.cli)."""
import signal
import sys

from runner.console import STOPPING, Interrupted, exit_code, interrupt, interruption


def main() -> None:
    for signum in STOPPING:
        signal.signal(signum, interrupt)
    try:
        from runner.cli import app

        app(prog_name="runner")
    except Interrupted as stop:  # outside a command (loading, parsing): nothing to say
        sys.exit(stop.code)
    except SystemExit as done:  # Typer turns an interrupt outside `sweep` into exit code 130
        stop = interruption(done.__context__)
        sys.exit(exit_code(stop) if stop is not None and done.code == 130 else done.code)
    finally:  # the command has ended: a signal now must not kill the exit
        for signum in STOPPING:
            signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    main()
