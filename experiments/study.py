"""What a study is: typed parameters, a default grid, a run function and its output columns.

A study is declarative: the runner reads ``params`` and ``default_grid`` to expand and validate
a sweep, calls ``run`` once per (configuration, seed) in a worker, and writes what it returns
into the ``runs`` and ``curves`` tables whose extra columns ``metrics`` and ``curve_columns``
declare.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

PA_TYPES = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}


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
        """Raise ValueError with a one-line reason if ``value`` is not allowed."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")
        if self.check is not None and (reason := self.check(value)):
            raise ValueError(f"{self.name}: {reason} (got {value!r})")


def positive(value):
    """Check: strictly positive and finite."""
    return None if np.isfinite(value) and value > 0 else "must be > 0"


def at_least(low):
    """Check: an integer of at least ``low``."""
    return lambda value: None if value >= low else f"must be >= {low}"


@dataclass
class RunOutput:
    """What one run returns: status, metrics (the study's declared columns) and curves.

    status: "ok" or "diverged" ("failed" is set by the runner when ``run`` raises);
    curves: column name -> array, one entry per recorded epoch.
    """

    status: str
    metrics: dict
    curves: dict
    compile_time_s: float = 0.0
    diverged_epoch: int | None = None


class Study:
    """Base class of a study. Subclasses set the class attributes and implement ``run``."""

    name: str
    title: str
    source: str
    params: tuple[Param, ...]
    default_grid: dict  # parameter name -> list of values
    metrics: dict  # column name -> pyarrow type
    curve_columns: dict  # column name -> pyarrow type

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

    def warm_up(self) -> None:
        """Compile (or load from the Numba cache) the kernels ``run`` calls, for every dtype:
        the training engine by default."""
        from experiments.training import warm_up

        warm_up()
