"""Find a study by name or reference, and check that it keeps the study contract.

A study is named on the command line in one of four ways:

- a built-in name (``batch-size``, ``digits``, ...);
- the name of a study that an installed package registers under the entry-point group
  ``nn_batch_runner.studies`` (``name = "package.module:ClassName"``);
- ``path/to/file.py:ClassName``: a class in a Python file, imported by path;
- ``package.module:ClassName``: a class in an importable module (the current directory is
  searched first, as ``python -m`` does).

Every study that is not built in is checked against the contract (:func:`check_contract`)
when it is loaded. Its *reference* (``Study.reference``: the name for built-in and registered
studies, the absolute file path or the module otherwise) is what workers, shards and SLURM
array tasks load it by.
"""
import functools
import hashlib
import importlib
import importlib.util
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from experiments.study import Param, Study

ENTRY_POINT_GROUP = "nn_batch_runner.studies"
BUILTIN = ("batch-size", "digits", "learning-rate", "gd-1d",
           "lcurve-degree", "lcurve-lambda", "lcurve-penalty", "lcurve-depth")


class StudyError(ValueError):
    """A study that cannot be found or breaks the contract; the message is one line."""


@functools.cache
def builtin_studies() -> dict[str, Study]:
    """The studies of this package, by name."""
    from experiments.batch_size import BatchSizeStudy
    from experiments.digits import DigitsStudy
    from experiments.gd_1d import GradientDescent1D
    from experiments.lcurve import (
        LCurveDegree,
        LCurveDepth,
        LCurveLambda,
        LCurvePenalty,
    )
    from experiments.learning_rate import LearningRateStudy

    studies = (BatchSizeStudy(), DigitsStudy(), LearningRateStudy(), GradientDescent1D(),
               LCurveDegree(), LCurveLambda(), LCurvePenalty(), LCurveDepth())
    return {s.name: s for s in studies}


def registered() -> dict[str, str]:
    """Entry-point name -> ``module:Class`` of every study that installed packages register."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def get_study(reference: str) -> Study:
    """The study that ``reference`` names (module docstring); StudyError with a one-line reason."""
    studies = builtin_studies()
    if reference in studies:
        return studies[reference]
    plugins = registered()
    if reference in plugins:
        study = _instantiate(plugins[reference], reference)
        if study.name != reference:
            raise StudyError(f"entry point {reference!r} ({plugins[reference]}) loads a study named {study.name!r}")
        study.reference = reference
        return study
    if ":" not in reference:
        known = ", ".join([*studies, *plugins])
        raise StudyError(f"unknown study {reference!r}; known: {known} "
                         "(or path/to/file.py:ClassName, package.module:ClassName)")
    study = _instantiate(reference, reference)
    study.reference = absolute_reference(reference)
    return study


def absolute_reference(reference: str) -> str:
    """``reference`` with a file path made absolute, so that it loads from any directory."""
    where, _, name = reference.rpartition(":")
    return f"{Path(where).resolve()}:{name}" if where.endswith(".py") else reference


def _instantiate(reference: str, shown: str) -> Study:
    where, _, class_name = reference.rpartition(":")
    if not where or not class_name.isidentifier():
        raise StudyError(f"study {shown!r}: expected path/to/file.py:ClassName or package.module:ClassName")
    module = _import_file(Path(where), shown) if where.endswith(".py") else _import_module(where, shown)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Study)):
        raise StudyError(f"study {shown!r}: {where} has no subclass of experiments.study.Study "
                         f"called {class_name!r}")
    try:
        study = cls()
    except Exception as err:
        raise StudyError(f"study {shown!r}: {class_name}() raised {type(err).__name__}: {err}") from None
    check_contract(study)
    study.source_digest = _digest(sys.modules[cls.__module__])
    if study.name in BUILTIN:
        raise StudyError(f"study {shown!r}: the name {study.name!r} is a built-in study's; choose another")
    return study


def _digest(module) -> str | None:
    """sha256 of the file a module was loaded from (only that file, not what it imports)."""
    try:
        return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
    except (AttributeError, TypeError, OSError):
        return None


def _import_file(path: Path, shown: str):
    if not path.is_file():
        raise StudyError(f"study {shown!r}: no such file {path}")
    path = path.resolve()
    # A module name unique to the file, so that two plug-ins called study.py do not collide,
    # and registered in sys.modules, so that pickle and dataclasses find the module.
    name = f"nn_batch_runner_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise StudyError(f"study {shown!r}: importing {path} raised {type(err).__name__}: {err}") from None
    return module


def _import_module(name: str, shown: str):
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: a module beside the user
    try:
        return importlib.import_module(name)
    except Exception as err:
        raise StudyError(f"study {shown!r}: importing {name} raised {type(err).__name__}: {err}") from None


def check_contract(study: Study) -> None:
    """Raise StudyError naming the first thing about ``study`` that breaks the contract of
    experiments.study.Study; the runner relies on each of these."""
    def fail(message: str):
        raise StudyError(f"study {getattr(study, 'name', type(study).__name__)!r}: {message}")

    name = getattr(study, "name", None)
    if not isinstance(name, str) or not name or any(c.isspace() or c in ":/\\" for c in name):
        fail("name must be a non-empty string without spaces, ':' or '/'")
    params = getattr(study, "params", None)
    if not isinstance(params, tuple) or not all(isinstance(p, Param) for p in params):
        fail("params must be a tuple of experiments.study.Param")
    names = [n for p in params for n in (p.name, *p.names)]
    for n in names:
        if names.count(n) > 1:
            fail(f"parameter {n!r} is declared twice")
    for p in params:
        if p.type not in (int, float, str, bool):
            fail(f"parameter {p.name!r}: type must be int, float, str or bool, got {p.type!r}")
        try:
            p.validate(p.default)
        except ValueError as err:
            fail(f"the default of parameter {p.name!r} is invalid: {err}")
    from results.schema import arrow_type, reserved_columns

    metrics, curves = getattr(study, "metrics", None), getattr(study, "curve_columns", None)
    for what, columns in (("metrics", metrics), ("curve_columns", curves)):
        if not isinstance(columns, dict):
            fail(f"{what} must be a dict of column name -> type")
        for column, kind in columns.items():
            try:
                arrow_type(kind)
            except TypeError:
                fail(f"{what}[{column!r}]: {kind!r} is not int, float, str or bool")
    taken = {**dict.fromkeys(reserved_columns(), "a column the runner writes"),
             **{p.name: "a parameter" for p in params}}
    for column in metrics:
        if column in taken:
            fail(f"metric {column!r} is already {taken[column]}")
    for column in curves:
        if column in ("run_id", "epoch"):
            fail(f"curve column {column!r} is a column the runner writes")
    grid = getattr(study, "default_grid", None)
    if not isinstance(grid, dict):
        fail("default_grid must be a dict of parameter name -> list of values")
    for key, values in grid.items():
        try:
            param = study.param(key)
        except KeyError:
            fail(f"default_grid names {key!r}, which is not a parameter")
        if not isinstance(values, list | tuple) or not values:
            fail(f"default_grid[{key!r}] must be a non-empty list")
        for value in values:
            if value in param.aliases.values():
                continue  # e.g. batch_size "full", which the check of batch sizes does not take
            try:
                param.validate(value)
            except ValueError as err:
                fail(f"default_grid[{key!r}]: {err}")
    if type(study).run is Study.run:
        fail("it does not implement run(config, seed)")
