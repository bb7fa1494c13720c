"""Grids: parse ``--grid key=values``, expand to configurations, hash them into run ids.

Values: a comma list (``batch_size=1,2,4``) or a range ``start:stop:linK`` / ``start:stop:logK``
(K points, both ends included, evenly spaced or log-spaced; for random search, ``sample``, the
uniform or log-uniform distribution on [start, stop]). Integer parameters take ranges only
where every point is an integer (``1:2048:log12`` = 1, 2, 4, ..., 2048). A ``:`` in the value of a
text parameter is literal (``model=dense8-prelu:0.05``). An empty item (``lr=1e-3,,0.1``) is an
error; the empty text value is written ``""`` (``data="",mine.csv``: the built-in data and a file). A range has at most MAX_RANGE points and
a sweep at most MAX_RUNS runs unless ``expand`` is told more (``runner sweep --max-runs``).
"""
import hashlib
import itertools
import json
import re
from dataclasses import dataclass

import numpy as np

from experiments.study import Param, Study

MAX_RANGE = 10_000
MAX_RUNS = 100_000
EMPTY = ('""', "''")  # the items that stand for the empty text value
RANGE = re.compile(r"^(?P<start>[^:]+):(?P<stop>[^:]+):(?P<kind>lin|log)(?P<count>\d+)$")


class GridError(ValueError):
    """A grid that cannot run; the message is one line for the user."""


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    config: dict
    seed: int


@dataclass(frozen=True)
class Interval:
    """A numeric range ``start:stop:linK`` / ``logK`` of one parameter: K grid points from start
    to stop, both included, evenly or log-spaced (``points``), or, for random search, a
    distribution (``draw``): uniform on [low, high] (lin) or log-uniform (log)."""

    param: Param
    start: float
    stop: float
    log: bool
    count: int

    @property
    def low(self) -> float:
        return min(self.start, self.stop)

    @property
    def high(self) -> float:
        return max(self.start, self.stop)

    def points(self) -> list:
        """The K grid points; GridError if an integer parameter's points are not integers."""
        space = np.geomspace if self.log else np.linspace
        points = space(self.start, self.stop, self.count)
        if self.param.type is int:
            rounded = np.round(points)
            if not np.allclose(points, rounded, rtol=1e-9, atol=0):
                raise GridError(f"{self.param.name}: range {self.text()} does not give integers")
            return [int(v) for v in rounded]
        return [float(v) for v in points]

    def draw(self, rng: np.random.Generator):
        """One value: uniform or log-uniform on [low, high], rounded to an integer for an
        integer parameter and to DRAWN_DIGITS significant digits otherwise (readable values,
        stable run ids)."""
        if self.log:
            value = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        else:
            value = float(rng.uniform(self.low, self.high))
        if self.param.type is int:
            return int(min(max(round(value), self.low), self.high))
        return min(max(float(f"{value:.{DRAWN_DIGITS}g}"), self.low), self.high)  # rounding stays inside

    def ends(self) -> list:
        """[low, high] as the parameter's type: what a sweep over the interval may hold at least."""
        return [self.param.type(round(end) if self.param.type is int else end) for end in (self.low, self.high)]

    def text(self) -> str:
        return f"{self.start:g}:{self.stop:g}:{'log' if self.log else 'lin'}{self.count}"


DRAWN_DIGITS = 4  # significant digits of a float drawn by random search


def _interval(param: Param, text: str, match: re.Match) -> Interval:
    if param.type not in (int, float):
        raise GridError(f"{param.name}: a range needs a numeric parameter, got {text!r}")
    try:
        start, stop = float(match["start"]), float(match["stop"])
    except ValueError:
        raise GridError(f"{param.name}: malformed range {text!r} (use start:stop:linK or start:stop:logK)") from None
    count = int(match["count"])
    if not 1 <= count <= MAX_RANGE:
        raise GridError(f"{param.name}: a range has 1 to {MAX_RANGE} points, got {text!r}")
    if not (np.isfinite(start) and np.isfinite(stop)):
        raise GridError(f"{param.name}: a range needs finite ends, got {text!r}")
    if match["kind"] == "log" and (start <= 0 or stop <= 0):
        raise GridError(f"{param.name}: a log range needs positive ends, got {text!r}")
    for end in (start, stop):
        _validate(param, int(round(end)) if param.type is int else end)
    return Interval(param, start, stop, match["kind"] == "log", count)


def _validate(param: Param, value) -> None:
    try:
        param.validate(value)
    except ValueError as err:
        raise GridError(str(err)) from None


def parse_values(param: Param, text: str, sample: bool = False) -> list | Interval:
    """The typed, validated values of one ``--grid`` right-hand side: a list, or with
    ``sample`` (random search) an Interval for a range."""
    if ":" in text and param.type in (int, float):
        match = RANGE.match(text.strip())
        if match is None:
            raise GridError(f"{param.name}: malformed range {text!r} (use start:stop:linK or start:stop:logK)")
        interval = _interval(param, text, match)
        if sample:
            return interval
        values = interval.points()
        for value in values:
            _validate(param, value)
    else:
        tokens = text.split(",")
        if not text.strip():
            raise GridError(f"{param.name}: no values given")
        if any(not t.strip() for t in tokens):
            hint = "; write \"\" for the empty text" if param.type is str else ""
            raise GridError(f"{param.name}: an empty item in {text!r} (a comma too many?){hint}")
        tokens = ["" if t.strip() in EMPTY else t for t in tokens]
        try:
            values = [param.parse(t) for t in tokens]
        except ValueError as err:
            raise GridError(str(err)) from None
    return list(dict.fromkeys(values))  # drop repeats, keep order


def parse_grid(study: Study, options: list[str], sample: bool = False) -> dict:
    """``["key=values", ...]`` -> {parameter name: values}; GridError on any bad entry. With
    ``sample`` (random search), a range is kept as its Interval."""
    grid = {}
    for option in options:
        key, sep, text = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GridError(f"--grid {option!r}: expected key=values")
        try:
            param = study.param(key)
        except KeyError:
            known = ", ".join(p.name for p in study.params)
            raise GridError(f"--grid: unknown parameter {key!r} for study {study.name} (known: {known})") from None
        if param.name in grid:
            raise GridError(f"--grid: {param.name} given twice")
        grid[param.name] = parse_values(param, text, sample)
    return grid


def run_id(study: Study, config: dict, seed: int) -> str:
    """16 hex digits of SHA-256 over the study name, the normalized configuration and the seed."""
    text = json.dumps({"study": study.name, "config": config, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_id(run_ids: list[str]) -> str:
    """12 hex digits over the sorted run ids: the same sweep always gets the same id."""
    return hashlib.sha256(",".join(sorted(run_ids)).encode()).hexdigest()[:12]


def expand(study: Study, overrides: dict, seeds: int, max_runs: int = MAX_RUNS) -> list[RunSpec]:
    """Every (configuration, seed) of the study's default grid with ``overrides`` replacing
    its lists, parameters outside the grid at their defaults, in a deterministic order.
    Configurations that normalize to the same one are run once. GridError if one is invalid,
    or if the grid has more than ``max_runs`` runs (counted before anything is expanded).
    """
    grid = {**study.default_grid, **overrides}
    names = [p.name for p in study.params if p.name in grid]
    size = seeds * int(np.prod([len(grid[n]) for n in names], dtype=object))
    if size > max_runs:
        raise GridError(f"the sweep has {size} runs, more than {max_runs}; "
                        f"pass --max-runs {size} to run it anyway")
    specs = {}
    for values in itertools.product(*(grid[n] for n in names)):
        try:
            config = study.normalize({**study.defaults(), **dict(zip(names, values))})
        except ValueError as err:
            raise GridError(str(err)) from None
        for seed in range(seeds):
            rid = run_id(study, config, seed)
            specs.setdefault(rid, RunSpec(rid, config, seed))
    return list(specs.values())


def sample(study: Study, space: dict, count: int, sample_seed: int, seeds: int,
           max_runs: int = MAX_RUNS) -> list[RunSpec]:
    """Random search: ``count`` configurations drawn from the study's default grid with
    ``space`` (parse_grid(..., sample=True)) replacing its entries: a list uniformly, an
    Interval uniformly or log-uniformly (Interval.draw), each parameter in the study's order
    from one generator seeded by ``sample_seed``, so the same arguments draw the same runs
    (a resumed or sharded random sweep runs what the whole one would). Each configuration
    runs with seeds 0..seeds−1, as a grid point does; a configuration drawn twice runs once.
    GridError as for ``expand``."""
    if count < 1:
        raise GridError(f"--sample must be >= 1, got {count}")
    if count * seeds > max_runs:
        raise GridError(f"the sweep has {count * seeds} runs, more than {max_runs}; "
                        f"pass --max-runs {count * seeds} to run it anyway")
    grid = {**study.default_grid, **space}
    names = [p.name for p in study.params if p.name in grid]
    rng = np.random.default_rng(sample_seed)
    specs = {}
    for _ in range(count):
        drawn = {}
        for name in names:
            values = grid[name]
            drawn[name] = values.draw(rng) if isinstance(values, Interval) else values[rng.integers(len(values))]
        try:
            config = study.normalize({**study.defaults(), **drawn})
        except ValueError as err:
            raise GridError(str(err)) from None
        for seed in range(seeds):
            rid = run_id(study, config, seed)
            specs.setdefault(rid, RunSpec(rid, config, seed))
    return list(specs.values())


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N; GridError otherwise."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise GridError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise GridError(f"--shard {text!r}: need 0 <= I < N")
    return i, n


def shard(specs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """The index-th of count deterministic slices: every count-th spec of the expanded order
    from ``index`` on, so slices differ in size by at most one and their union is the sweep."""
    return specs[index::count]
