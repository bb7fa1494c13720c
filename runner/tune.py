"""Adaptive search with Optuna (the ``optuna`` extra): ``runner tune``.

Optuna's sampler (TPE by default, seeded) proposes each trial's configuration from the same
space as a random search (runner.grid.parse_grid(..., sample=True)): a list is a categorical
choice, a range ``start:stop:logK`` / ``linK`` a float (or integer) on [start, stop], log-scaled
or not. A trial runs as ordinary runs of the study (one per seed: rows of ``runs`` and
``curves``, run ids from the configuration, as a grid point's), and its value is the mean of
the chosen metric over those runs; a trial whose runs give no finite value fails (Optuna's
TrialState.FAIL: the sampler leaves it out).

The Optuna study is kept in OUT/optuna/METRIC-DIRECTION.journal (Optuna's JournalStorage with
its open lock, which holds on NFS where the default symlink lock may not: optuna#5138), so a
tune resumes: the trials a killed tune left running are run again first (their runs that
finished are skipped, by run id), and the trials told count toward ``--trials``. Trials are
asked for in batches of the workers' number (TPE's constant liar keeps a batch's proposals
apart) and run on the local pool or Dask as a sweep's runs are.

Early stopping happens inside each run (the studies' ``patience``): the engine runs all of a
run's epochs in one compiled call, so Optuna's pruners, which judge a trial between epochs,
have nothing to act on.
"""
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

from experiments.study import Study
from runner.grid import GridError, Interval, RunSpec, run_id

DIRECTIONS = {"min": "minimize", "max": "maximize"}
SAMPLERS = ("tpe", "random")


def distributions(study: Study, space: dict) -> dict:
    """The Optuna distribution of each parameter that varies: the study's default grid with
    ``space`` replacing its entries; a list of one value is fixed, not searched."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    grid = {**study.default_grid, **space}
    found = {}
    for param in study.params:
        values = grid.get(param.name)
        if isinstance(values, Interval):
            kind = IntDistribution if param.type is int else FloatDistribution
            low, high = values.ends()
            found[param.name] = kind(low, high, log=values.log)
        elif values is not None and len(values) > 1:
            found[param.name] = CategoricalDistribution(values)
    return found


def fixed(study: Study, space: dict) -> dict:
    """The parameters of the space that take one value."""
    grid = {**study.default_grid, **space}
    return {name: values[0] for name, values in grid.items() if not isinstance(values, Interval) and len(values) == 1}


def tune_id(study: Study, grid: list[str], seeds: int, metric: str, direction: str) -> str:
    """12 hex digits naming a tune: its study, space, seeds, metric and direction."""
    text = json.dumps({"study": study.name, "grid": sorted(grid), "seeds": seeds, "metric": metric,
                       "direction": direction})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _sampler(name: str, seed: int):
    import optuna

    return (optuna.samplers.TPESampler(seed=seed, constant_liar=True) if name == "tpe"
            else optuna.samplers.RandomSampler(seed=seed))


def open_study(out: Path, metric: str, direction: str, sampler: str, seed: int):
    """The Optuna study of this metric and direction in OUT/optuna, created or loaded. Its
    sampler is seeded by ``seed`` plus the number of trials already in it: a resumed tune goes
    on drawing instead of replaying the draws of the first session."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = out / "optuna" / f"{metric}-{direction}.journal"
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    study = optuna.create_study(storage=storage, sampler=_sampler(sampler, seed), study_name=f"{metric}-{direction}",
                                direction=DIRECTIONS[direction], load_if_exists=True)
    if study.trials:
        study.sampler = _sampler(sampler, seed + len(study.trials))
    return study


def trial_specs(study: Study, params: dict, constants: dict, seeds: int) -> list[RunSpec]:
    """The runs of one trial: its configuration with seeds 0..seeds−1. GridError if the
    configuration is not valid."""
    try:
        config = study.normalize({**study.defaults(), **constants, **params})
    except ValueError as err:
        raise GridError(str(err)) from None
    return [RunSpec(run_id(study, config, seed), config, seed) for seed in range(seeds)]


def value_of(rows: list[dict], metric: str) -> float | None:
    """The trial's value: the mean of ``metric`` over its runs that finished with a finite
    value; None if none did."""
    values = [row[metric] for row in rows if row.get("status") != "failed" and row.get(metric) is not None
              and math.isfinite(row[metric])]
    return sum(values) / len(values) if values else None


def tune(study: Study, space: dict, trials: int, metric: str, direction: str, seeds: int, out: Path,
         batch: int, sampler: str, seed: int, run: Callable[[list[RunSpec], bool], dict[str, dict]],
         progress: Callable[[str], None]) -> dict:
    """Run the tune until ``trials`` trials are told; return {"best": params, "value": v,
    "trials": n}. ``run(specs, execute)`` records the specs as the tune's runs and, with
    ``execute``, runs those that have no finished result yet and returns run id -> runs row
    (metric and status) for all of them; the runs of trials told before are recorded only."""
    from optuna.trial import TrialState

    searched, constants = distributions(study, space), fixed(study, space)
    if not searched:
        raise GridError("nothing to tune: give --grid a range or a list of several values")
    optuna_study = open_study(out, metric, direction, sampler, seed)

    def settle(numbered: list[tuple[int, dict]]) -> None:
        per_trial = [trial_specs(study, params, constants, seeds) for _, params in numbered]
        rows = run([spec for specs in per_trial for spec in specs], True)
        for (number, params), specs in zip(numbered, per_trial):
            value = value_of([rows[s.run_id] for s in specs], metric)
            if value is None:
                optuna_study.tell(number, state=TrialState.FAIL)
            else:
                optuna_study.tell(number, value)
            shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
            progress(f"trial {number}: {shown} -> {metric} = {'failed' if value is None else f'{value:.6g}'}")

    def told() -> list:
        return optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))

    run([spec for t in told() for spec in trial_specs(study, t.params, constants, seeds)], False)
    stale = optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if stale:  # left running by a tune that was stopped: run again (their finished runs are skipped)
        settle([(t.number, t.params) for t in stale])
    while len(told()) < trials:
        asked = [optuna_study.ask(searched) for _ in range(min(batch, trials - len(told())))]
        settle([(t.number, t.params) for t in asked])
    complete = optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = optuna_study.best_trial if complete else None
    return {"best": None if best is None else best.params, "value": None if best is None else best.value,
            "trials": len(told())}
