"""Compile once per sweep, before the runs: the engines a sweep's runs need, each once.

A study declares the training engines its runs compile (Study.engines: a plan variant and a
dtype, experiments.training.Engine). Before the first run, ``prepare`` finds those that
Numba's on-disk cache does not hold yet, says so in one line, compiles them, and says how long
it took; the workers then load the engines from the cache in a fraction of a second instead of
each compiling the same code at the same time. Engines already cached cost nothing here.

With more than one process the compile goes in two rounds: first every part of every engine
(kernels.engine.PARTS: its evaluation, its step) in a process of its own, into the cache, then
each engine, which finds its parts there and compiles only its own code. On two cores a first
digits CNN run takes about a quarter less time than with one process (benchmarks/bench_compile.py).
"""
import time
from collections.abc import Callable, Iterable

import numba

from experiments.training import Engine
from runner.pool import Pool


def needed(study, configs: Iterable[dict]) -> list[Engine]:
    """The engines of ``study`` that runs of ``configs`` compile, sorted by label. A config
    whose engines cannot be told (its run will fail and say why) adds none."""
    engines = set()
    for config in configs:
        try:
            engines |= study.engines(config)
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(engines, key=Engine.label)


def cache_dir() -> str:
    """Where Numba keeps the compiled engines: NUMBA_CACHE_DIR, else kernels/__pycache__."""
    from kernels.jit import PACKAGE

    return numba.config.CACHE_DIR or str(PACKAGE / "__pycache__")


def cold(engines: list[Engine]) -> list[Engine]:
    """The engines that the on-disk cache does not hold (fresh) yet."""
    from kernels.engine import is_cached

    return [e for e in engines if not is_cached(e.variant, e.dtype)]


def compile_engine(engine: Engine) -> str | None:
    """Compile (or load) one engine in this process; None, or why it could not be compiled
    (the runs that need it then fail with the reason themselves)."""
    from kernels.engine import prepare as prepare_engine

    try:
        prepare_engine(engine.variant, engine.dtype)
    except Exception as err:  # reported, and each run that needs the engine fails with it
        return f"{engine.label()}: {type(err).__name__}: {err}"
    return None


def compile_part(engine: Engine, part: str) -> None:
    """Compile (or load) one part of an engine (kernels.engine.PARTS) in this process. An
    error is left for the engine's own compile to meet and report."""
    from kernels.engine import prepare_part

    try:
        prepare_part(engine.variant, engine.dtype, part)
    except Exception:  # the engine's compile (compile_engine) fails on it and says why
        return


def prepare(engines: list[Engine], processes: int, say: Callable[[str], None]) -> float:
    """Compile the engines of ``engines`` that are not cached, in up to ``processes`` processes
    (in this one when one is enough), saying what and how long; the seconds it took."""
    from kernels.engine import PARTS

    todo = cold(engines)
    if not todo:
        return 0.0
    names = ", ".join(e.label() for e in todo)
    say(f"compiling the engine for {names}: once per machine and version, cached in {cache_dir()} ...")
    t0 = time.perf_counter()
    if processes <= 1:
        errors = [compile_engine(engine) for engine in todo]
    else:
        def lost(args: tuple, reason: str) -> str:
            return f"{args[0].label()}: {reason}"

        parts = [(engine, part) for engine in todo for part in PARTS]
        for _ in Pool(min(processes, len(parts))).imap(compile_part, parts, lost):
            pass  # a part lost is compiled again by its engine
        errors = list(Pool(min(processes, len(todo))).imap(compile_engine, [(e,) for e in todo], lost))
    took = time.perf_counter() - t0
    for error in filter(None, errors):
        say(f"could not compile {error}")
    say(f"compiled in {took:.1f} s")
    return took
