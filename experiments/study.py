"""What a study is: typed parameters, a default grid, a run function and its output columns.

A study is declarative: the runner reads ``params`` and ``default_grid`` to expand and validate
a sweep, calls ``run`` once per (configuration, seed) in a worker, and writes what it returns
into the ``runs`` and ``curves`` tables whose extra columns ``metrics`` and ``curve_columns``
declare (plain Python types: int, float, str or bool; results.schema maps them to Parquet's). A study outside this package is a
subclass of :class:`Study` in any file or module (experiments.registry loads and checks it;
the README's "Write your own study" shows one).
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels.hyper import at_least, non_negative, positive, unit_interval  # noqa: F401 - the studies' checks


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its column name, Python type, default and validation.

    check(value) returns an error message or None; choices restricts a str parameter;
    aliases maps tokens accepted on the command line to values (e.g. "full"); names are
    other accepted spellings of the key (e.g. the book's "N").
    """

    name: str
    type: type
    default: Any
    help: str
    check: Callable[[Any], str | None] | None = None
    choices: tuple = ()
    aliases: dict = field(default_factory=dict)
    names: tuple = ()

    def parse(self, token: str):
        """The typed value of a command-line token; raises ValueError with a one-line reason."""
        token = token.strip()
        if token in self.aliases:
            return self.aliases[token]
        try:
            if self.type is int:
                value = int(token)
            elif self.type is float:
                value = float(token)
            elif self.type is bool:
                value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[token.lower()]
            else:
                value = token
        except (ValueError, KeyError):
            raise ValueError(f"{self.name}: {token!r} is not a valid {self.type.__name__}") from None
        self.validate(value)
        return value

    def validate(self, value) -> None:
        """Raise ValueError with a one-line reason if ``value`` is not allowed (a float must
        also be finite)."""
        if self.type is float and not np.isfinite(value):
            raise ValueError(f"{self.name}: must be finite (got {value!r})")
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
        if self.check is not None and (reason := self.check(value)):
            raise ValueError(f"{self.name}: {reason} (got {value!r})")


@dataclass
class RunOutput:
    """What one run returns: status, metrics (the study's declared columns) and curves.

    status: "ok" or "diverged" ("failed" is set by the runner when ``run`` raises);
    metrics: every declared metric column -> a value (None for missing);
    curves: every declared curve column -> array, one entry per recorded epoch, all of one
    length (a study without curve columns returns {}).
    """

    status: str
    metrics: dict
    curves: dict
    compile_time_s: float = 0.0
    diverged_epoch: int | None = None


class Study:
    """Base class of a study. Subclasses set the class attributes and implement ``run``;
    ``normalize``, ``memory``, ``engines``, ``warm_up`` and ``report`` are optional."""

    name: str
    title: str = ""
    source: str = ""
    params: tuple[Param, ...] = ()
    default_grid: dict = {}  # parameter name -> list of values
    metrics: dict = {}  # column name -> int, float, str or bool
    curve_columns: dict = {}  # column name -> int, float, str or bool
    # older spellings still accepted for one release: "key" or "key=value" of a --grid entry ->
    # the one-line notice `runner sweep` prints when it is used
    deprecated: dict = {}

    @property
    def reference(self) -> str:
        """What workers load this study by (experiments.registry.get_study): its name, or
        for a study from a file or module, ``/abs/path.py:Class`` or ``module:Class``."""
        return self.__dict__.get("_reference", self.name)

    @reference.setter
    def reference(self, value: str) -> None:
        self.__dict__["_reference"] = value

    @property
    def source_digest(self) -> str | None:
        """sha256 of the source file that defines a plug-in study (set when the registry
        loads it; None for a built-in study, whose code is the package's): recorded in the
        manifest and in every run's row, and compared by ``runner sweep`` before it skips a
        finished run."""
        return self.__dict__.get("_source_digest")

    @source_digest.setter
    def source_digest(self, value: str | None) -> None:
        self.__dict__["_source_digest"] = value

    def param(self, key: str) -> Param:
        """The parameter called ``key`` (by column name or alias); KeyError if none."""
        for p in self.params:
            if key == p.name or key in p.names:
                return p
        raise KeyError(key)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def normalize(self, config: dict) -> dict:
        """Resolve values that depend on others and check cross-parameter constraints.

        Returns the canonical configuration (the one hashed into the run id); raises
        ValueError with a one-line reason.
        """
        return dict(config)

    def run(self, config: dict, seed: int) -> RunOutput:
        raise NotImplementedError

    def check_output(self, out) -> None:
        """Raise ValueError naming the column if ``out`` of ``run`` is not what the study
        declares: a RunOutput with every declared metric and curve column, no other, and
        curves of one length."""
        if not isinstance(out, RunOutput):
            raise ValueError(f"study {self.name}: run returned {type(out).__name__}, not a RunOutput")
        if out.status not in ("ok", "diverged"):
            raise ValueError(f"study {self.name}: run returned status {out.status!r} (ok or diverged)")
        for what, got, declared in (("metric", out.metrics, self.metrics),
                                    ("curve column", out.curves, self.curve_columns)):
            for column in got.keys() - declared.keys():
                raise ValueError(f"study {self.name}: run returned the {what} {column!r}, which the study "
                                 f"does not declare")
            for column in declared.keys() - got.keys():
                raise ValueError(f"study {self.name}: run did not return the declared {what} {column!r}")
        lengths = {column: len(values) for column, values in out.curves.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"study {self.name}: curves of one run differ in length: "
                             + ", ".join(f"{c} {n}" for c, n in lengths.items()))

    def memory(self, config: dict) -> int | None:
        """An estimate from above of the bytes one run of the normalized ``config`` allocates
        (data, workspaces, parameters, optimizer state, history), or None if unknown (the
        default). ``runner sweep`` refuses a sweep whose largest estimate exceeds the memory
        limit (experiments.memory) before anything runs; a study that trains with ``fit``
        returns experiments.training.fit_bytes of its plan."""
        return None

    def engines(self, config: dict) -> set:
        """The training engines (experiments.training.Engine) that ``run`` compiles for the
        normalized ``config``: a sweep compiles, or loads from the cache, each engine its
        runs need once, before its workers start (runner.compile). A study that trains with
        ``fit`` declares them with experiments.training.engine_for; none by default, and
        then each worker compiles what its runs use."""
        return set()

    def warm_up(self) -> None:
        """Compile (or load from the Numba cache) any kernels ``run`` calls besides its
        engines (``runner warm``); nothing by default."""

    def report(self, runs, curves, figures) -> tuple[str, list]:
        """Summary text and figure paths (written under ``figures``) from the ``runs`` and
        ``curves`` DataFrames: the shared summary of results.summary by default."""
        from results.summary import report

        return report(runs, curves, figures, title=f"{self.name}: {self.title}")
