"""How the ``runner`` console script (runner.__main__) stops on a signal.

SIGINT (Ctrl-C), SIGTERM (what SLURM sends at a time limit, on ``scancel`` and, with the
generated scripts' ``--signal``, shortly before the limit) and SIGHUP (a closed terminal) all
stop a command the same way: the handler raises :class:`Interrupted`, a KeyboardInterrupt
that carries the exit code 128 + signal number (130, 143, 129). ``runner sweep`` catches it,
keeps every finished run, removes its temporary files, kills its workers and prints one line.

The handlers are installed before anything else is imported, so the window in which a signal
could meet Python's default handler (and a traceback) is closed: a signal while the command
line loads exits quietly with its code. Once the command has ended (its SystemExit is on its
way out) the signals are ignored, so the exit keeps the command's code.
"""
import signal
import sys

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A stop asked for by signal ``signum``; ``code`` = 128 + signum, the shell's convention."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.code = 128 + signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """The exit code of a command stopped by ``stop`` (130 for a plain KeyboardInterrupt)."""
    return getattr(stop, "code", 128 + signal.SIGINT)


def interruption(err: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that ``err`` is or wraps (Numba turns one raised in an
    object-mode callback into a SystemError; Typer turns one into exit code 130), or None."""
    while err is not None:
        if isinstance(err, KeyboardInterrupt):
            return err
        err = err.__cause__ or err.__context__
    return None


def interrupt(signum, frame) -> None:
    """The handler of the STOPPING signals: raise Interrupted, unless the command has ended."""
    if isinstance(sys.exc_info()[1], SystemExit):
        return  # the command has ended (Typer exits through SystemExit): keep its exit code
    raise Interrupted(signum)
