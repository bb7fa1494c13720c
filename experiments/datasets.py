"""A user's own data set, read and checked before any compiled code sees it.

Formats (by the path):
- ``*.npz``: arrays ``x`` and ``y`` (split here), or ``x_train``, ``y_train``, ``x_test``,
  ``y_test``; ``x`` of shape (N, F), (N, H, W) or (N, C, H, W);
- ``*.parquet``, ``*.csv``: one row per sample, the ``target`` column as y and every other
  column as a feature (all numeric);
- a directory: MNIST's four IDX files (experiments.data.MNIST_FILES, plain or .gz), of any
  image size.

Choices: integer images (uint8, as IDX and most image arrays) are scaled to [0, 1] by 1/255;
other features are used as given. Without a test split, ``test_fraction`` of the rows is held
out (stratified by label for classification; scikit-learn's ``random_state=0``); with
``test_fraction=0`` every row trains and the test set is empty. The image
shape is the arrays' (N, H, W) -> (1, H, W), or ``shape`` ("CxHxW"), or flat (F,); the number of
classes is the largest label + 1 unless given, and then every class must occur in the training
set (a label set 1..K, or a class only in the test set, is refused; give ``n_classes`` to allow
empty classes). Only regular files and directories are read (never a FIFO or device); each
array's size, from the file's headers, passes experiments.memory.check before it is read or
decompressed. Every mismatch raises ValueError with a one-line reason naming the file (and the
row and column of a bad value).
"""
import functools
import hashlib
import stat
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from experiments import memory
from experiments.data import MNIST_FILES, Dataset, read_idx  # noqa: F401 - Dataset: read from here too
from experiments.memory import show

SUFFIXES = (".npz", ".parquet", ".csv")
TASKS = ("classification", "regression")


def parse_shape(text: str) -> tuple[int, ...]:
    """"1x28x28" -> (1, 28, 28); "" -> (); ValueError if malformed."""
    if not text:
        return ()
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"input_shape {text!r}: expected CxHxW, e.g. 1x28x28") from None
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"input_shape {text!r}: expected three positive sizes CxHxW, e.g. 1x28x28")
    return dims


READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


@contextmanager
def _reading(path: Path, errors=READ_ERRORS):
    """``errors`` raised while reading ``path`` as a ValueError naming it; the ValueErrors of
    this module and experiments.memory, which name it already, pass unchanged."""
    try:
        yield
    except errors as err:
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        lines = str(err).splitlines()
        raise ValueError(f"{path}: cannot be read ({type(err).__name__}{': ' + lines[0] if lines else ''})") from None


def _npy_header(member) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from the header of an .npy stream, read without its data."""
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    return shape, dtype


def _read_npz(path: Path) -> dict:
    """The arrays x, y or x_train, y_train, x_test, y_test of an .npz file; their sizes (from the
    .npy headers) pass experiments.memory.check before anything is decompressed."""
    with _reading(path), zipfile.ZipFile(path) as archive:
        names = {n.removesuffix(".npy"): n for n in archive.namelist() if n.endswith(".npy")}
        for keys in (("x_train", "y_train", "x_test", "y_test"), ("x", "y")):
            if all(k in names for k in keys):
                break
        else:
            raise ValueError(f"{path}: holds {', '.join(names) or 'no arrays'}; expected x, y or "
                             "x_train, y_train, x_test, y_test")
        headers = {}
        for key in keys:
            with archive.open(names[key]) as member:
                headers[key] = _npy_header(member)
        for key, (shape, dtype) in headers.items():
            if dtype.hasobject:
                raise ValueError(f"{path}: array {key} holds Python objects (dtype {dtype}), which are never "
                                 "loaded (pickle would run code); save numbers only")
        count = sum(int(np.prod(shape, dtype=object)) for shape, _ in headers.values())
        raw = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize for shape, dtype in headers.values())
        memory.check(raw + 8 * count, f"{path} ({', '.join(f'{k} {s}' for k, (s, _) in headers.items())}, "
                                      "read as float64)")
        arrays = {}
        for key in keys:
            with archive.open(names[key]) as member:
                arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
        return arrays


def _read_table(path: Path, target: str) -> dict:
    import pandas as pd

    with _reading(path, Exception):  # pandas' and pyarrow's parser errors have no common base
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            meta = pq.read_metadata(path)
            memory.check(16 * meta.num_rows * meta.num_columns,
                         f"{path} ({meta.num_rows} rows × {meta.num_columns} columns, read as float64)")
            frame = pd.read_parquet(path)
        else:  # each value takes at least 2 bytes of text ("0,"), so at most 4 float64 bytes per byte
            memory.check(5 * path.stat().st_size, f"{path} ({show(path.stat().st_size)} of text, read as float64)")
            frame = pd.read_csv(path)
    if target not in frame.columns:
        raise ValueError(f"{path}: no target column {target!r} (columns: {', '.join(map(str, frame.columns))})")
    if len(frame) == 0:
        raise ValueError(f"{path}: has a header but no rows")
    features = frame.drop(columns=[target])
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])
           or pd.api.types.is_bool_dtype(features[c])]
    if bad:
        column = features[bad[0]]
        row = int(np.argmax(pd.to_numeric(column, errors="coerce").isna() & column.notna()))
        raise ValueError(f"{path}: feature column {bad[0]!r} is not numeric (row {row}: {column.iloc[row]!r})")
    return {"x": features.to_numpy(np.float64), "y": frame[target].to_numpy(),
            "columns": [str(c) for c in features.columns]}


def _read_idx_dir(path: Path) -> dict:
    arrays = {}
    for key, stem in MNIST_FILES.items():
        found = [path / name for name in (stem, stem + ".gz") if (path / name).is_file()]
        if not found:
            raise ValueError(f"{path}: no {stem} or {stem}.gz (the four MNIST IDX files)")
        with _reading(found[0]):
            arrays[key] = read_idx(found[0])
    return arrays


def _nonfinite(values: np.ndarray, path: Path, what: str, columns=None) -> ValueError:
    row, column = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
    name = repr(columns[column]) if columns else column
    return ValueError(f"{path}: {what} has a non-finite value ({values[row, column]}) in row {row}, column {name}")


def _features(x: np.ndarray, path: Path, what: str, columns=None) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} has dtype {x.dtype}, not a number type")
    if not 2 <= x.ndim <= 4:
        raise ValueError(f"{path}: {what} has shape {x.shape}; expected (N, F), (N, H, W) or (N, C, H, W)")
    if len(x) == 0 or x.size == 0:
        raise ValueError(f"{path}: {what} has shape {x.shape}: 0 rows or 0 features")
    flat = x.reshape(len(x), -1).astype(np.float64)
    if x.dtype == np.uint8:
        flat /= 255.0
    if not np.isfinite(flat).all():
        raise _nonfinite(flat, path, what, columns)
    return flat


def _labels(y: np.ndarray, path: Path, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{path}: {what} has shape {y.shape}; classification needs one label per row")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} has dtype {y.dtype}; labels must be integers 0 .. n_classes-1")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.all(y == np.round(y))):
        row = int(np.argmax(~np.isfinite(y) | (y != np.round(y))))
        raise ValueError(f"{path}: {what} has the label {y[row]} in row {row}; labels must be integers "
                         "0 .. n_classes-1")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{path}: {what} has the negative label {labels.min()} in row {int(np.argmin(labels))}")
    return labels


def _targets(y: np.ndarray, path: Path, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} has dtype {y.dtype}, not a number type")
    y = y.reshape(len(y), -1).astype(np.float64)
    if not np.isfinite(y).all():
        raise _nonfinite(y, path, what)
    return y


def _split(x, y, fraction: float, stratify: bool):
    from sklearn.model_selection import train_test_split

    counts = np.unique(y, return_counts=True)[1] if stratify else None
    strata = y if stratify and counts.min() >= 2 else None
    return train_test_split(x, y, test_size=fraction, random_state=0, stratify=strata)


def load_dataset(path: str | Path, target: str = "label", shape: str = "", n_classes: int = 0,
                 task: str = "classification", test_fraction: float = 0.25) -> Dataset:
    """The data set at ``path`` (module docstring), checked; ValueError with a one-line reason."""
    path = Path(path)
    if task not in TASKS:
        raise ValueError(f"task {task!r}: expected one of {', '.join(TASKS)}")
    try:
        info = path.stat()
    except OSError as err:
        raise ValueError(f"{path}: {err.strerror.lower() if err.strerror else err}") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise ValueError(f"{path}: not a regular file or a directory (a FIFO, device or socket is never read)")
    return _load(path.resolve(), info.st_mtime_ns, info.st_size, target, shape, n_classes, task, test_fraction)


def file_digest(path: str | Path) -> str:
    """sha256 of the file at ``path`` (of every file under a directory, by name), computed once
    per file version in a process: which data a run used, recorded with it."""
    path = Path(path).resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return _digest(tuple((p, p.stat().st_mtime_ns, p.stat().st_size) for p in files))


@functools.lru_cache(maxsize=8)
def _digest(files: tuple) -> str:
    digest = hashlib.sha256()
    for path, *_ in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _load(path: Path, _mtime: int, _size: int, target: str, shape: str, n_classes: int, task: str,
          test_fraction: float) -> Dataset:
    """load_dataset, once per file version and options (a sweep checks every grid point)."""
    if path.is_dir():
        arrays = _read_idx_dir(path)
    elif path.suffix == ".npz":
        arrays = _read_npz(path)
    elif path.suffix in SUFFIXES:
        arrays = _read_table(path, target)
    else:
        raise ValueError(f"{path}: unknown format (expected {', '.join(SUFFIXES)} or a directory of IDX files)")
    image = arrays.get("x_train", arrays.get("x"))
    given = parse_shape(shape)
    inferred = (1, *image.shape[1:]) if image.ndim == 3 else tuple(image.shape[1:]) if image.ndim == 4 else ()
    label = _labels if task == "classification" else _targets
    columns = arrays.pop("columns", None)
    parts = {}
    for key in arrays:
        what = "the features" if columns else f"array {key}"
        parts[key] = (_features(arrays[key], path, what, columns) if key.startswith("x")
                      else label(arrays[key], path, "the target column" if columns else what))
    if "x" in parts:
        if len(parts["x"]) != len(parts["y"]):
            raise ValueError(f"{path}: {len(parts['x'])} rows of x but {len(parts['y'])} of y")
        if not 0 <= test_fraction < 1:
            raise ValueError(f"test_fraction {test_fraction}: must be in [0, 1)")
        if test_fraction == 0:
            x, y = parts["x"], parts["y"]
            parts = {"x_train": x, "y_train": y, "x_test": x[:0], "y_test": y[:0]}
        elif len(parts["x"]) < 2:
            raise ValueError(f"{path}: {len(parts['x'])} rows; need at least 2 to split off a test set")
        else:
            split = _split(parts["x"], parts["y"], test_fraction, task == "classification")
            parts = dict(zip(("x_train", "x_test", "y_train", "y_test"), split))
    for part in ("train", "test"):
        x, y = parts[f"x_{part}"], parts[f"y_{part}"]
        if len(x) == 0 and (part == "train" or test_fraction > 0):
            raise ValueError(f"{path}: the {part} set is empty")
        if len(x) != len(y):
            raise ValueError(f"{path}: {len(x)} rows of x_{part} but {len(y)} of y_{part}")
    width = parts["x_train"].shape[1]
    if parts["x_test"].shape[1] != width:
        raise ValueError(f"{path}: x_test has {parts['x_test'].shape[1]} features, x_train {width}")
    if task == "regression" and parts["y_test"].shape[1] != parts["y_train"].shape[1]:
        raise ValueError(f"{path}: y_test has {parts['y_test'].shape[1]} columns, y_train {parts['y_train'].shape[1]}")
    input_shape = given or inferred or (width,)
    if int(np.prod(input_shape)) != width:
        raise ValueError(f"{path}: input_shape {'x'.join(map(str, input_shape))} has {int(np.prod(input_shape))} "
                         f"entries, the data {width} features")
    classes = 0
    if task == "classification":
        largest = int(np.concatenate([parts["y_train"], parts["y_test"]]).max())
        classes = n_classes or largest + 1
        if largest >= classes:
            raise ValueError(f"{path}: label {largest} does not fit n_classes = {classes} (labels 0 .. {classes - 1})")
        if classes < 2:
            raise ValueError(f"{path}: only one class (label 0); classification needs at least 2")
        rows = len(parts["y_train"]) + len(parts["y_test"])
        memory.check(8 * rows * classes, f"{path}: the largest label {largest} gives {classes} classes, whose one-hot "
                                         f"targets of {rows} rows")
        trained = np.zeros(classes, bool)
        trained[parts["y_train"]] = True
        if not n_classes and not trained.all():
            missing = int(np.argmin(trained))
            where = " (it occurs in the test set only)" if (parts["y_test"] == missing).any() else ""
            raise ValueError(f"{path}: class {missing} has no training rows{where}; labels must be 0 .. K-1 with "
                             "every class in the training set (or give n_classes to allow empty classes)")
    data = Dataset(parts["x_train"], parts["y_train"], parts["x_test"], parts["y_test"], input_shape, classes)
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        a.flags.writeable = False
    return data
