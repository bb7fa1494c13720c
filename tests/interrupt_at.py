"""Run the console script with a signal sent to itself at one chosen moment of its start.

``python tests/interrupt_at.py STAGE SIGNUM runner-arguments...``: the signal is delivered
synchronously (``os.kill`` of this process, so the handler runs before the next line), which
makes the test of every moment deterministic instead of timed (test_reliability).

Stages: ``loading`` (while runner.cli imports Typer), ``parsing`` (Typer called, nothing parsed
yet), ``command`` (the sweep command's first line), ``fork-server`` (while the workers' fork
server starts), ``studies`` (while the studies load), ``ended`` (after the command returned).
"""
import builtins
import os
import sys


def main() -> None:
    stage, signum, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

    def hit(*_, **__) -> None:
        os.kill(os.getpid(), signum)

    def before(owner, name: str) -> None:
        real = getattr(owner, name)

        def patched(*a, **k):
            hit()
            return real(*a, **k)
        setattr(owner, name, patched)

    if stage == "loading":
        real_import = builtins.__import__

        def importing(name, *a, **k):
            if name == "typer":
                builtins.__import__ = real_import
                hit()
            return real_import(name, *a, **k)
        builtins.__import__ = importing
    elif stage == "parsing":
        import typer

        before(typer.Typer, "__call__")
    elif stage == "command":
        import runner.pool

        before(runner.pool, "pin_threads")
    elif stage == "fork-server":
        from multiprocessing import forkserver

        before(forkserver, "ensure_running")
    elif stage == "studies":
        import runner.cli

        before(runner.cli, "study_named")
    elif stage == "ended":
        import typer

        real_call = typer.Typer.__call__

        def then_hit(self, *a, **k):
            try:
                return real_call(self, *a, **k)
            finally:
                hit()
        typer.Typer.__call__ = then_hit
    sys.argv = ["runner", *args]
    from runner.__main__ import main as runner_main

    runner_main()


if __name__ == "__main__":
    main()
