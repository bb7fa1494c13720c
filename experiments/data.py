"""Image data: scikit-learn's bundled 8×8 digits, and LeCun's IDX format (MNIST's files).

The digits come as a :class:`Dataset` with images flattened to rows in
NCHW order (C = 1) and scaled to [0, 1] (Magyar L147: pixel luminosity "scaled to the [0,1]
interval"), and labels as integers; ``one_hot`` makes the softmax-ce targets. MNIST, or any
data set of IDX files, is read by experiments.datasets.load_dataset from its directory.
"""
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
               "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
DIGITS_TEST_FRACTION = 0.25  # the fixed split: stratified, scikit-learn's random_state=0


@dataclass(frozen=True)
class Dataset:
    """x_*: (N, F) float64 with F = prod(shape); y_*: (N,) int64 labels in [0, n_classes)
    (classification) or (N, K) float64 targets (regression, n_classes = 0)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, ...]
    n_classes: int


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """(N,) integer labels -> (N, n_classes) one-hot rows."""
    return np.eye(n_classes, dtype=dtype)[labels]


def load_digits():
    """The 1797 8×8 digits bundled with scikit-learn (no download), split 1347 / 450."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y.astype(np.int64), test_size=DIGITS_TEST_FRACTION, random_state=0, stratify=y)
    return Dataset(x_train, y_train, x_test, y_test, (1, 8, 8), 10)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format; gzip-compressed when the name ends in .gz).

    Header: two zero bytes, a type code (IDX_TYPES), the number of dimensions, then each
    dimension as a big-endian int32; then the data, big-endian, row-major. The data are read
    only after their size (from the header) passed experiments.memory.check, and only as
    many bytes as the header promises: a compressed file cannot expand beyond it.
    """
    from experiments import memory

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES:
            raise ValueError(f"{path}: not an IDX file")
        ndim = head[3]
        raw_dims = f.read(4 * ndim)
        if len(raw_dims) != 4 * ndim:
            raise ValueError(f"{path}: the IDX header is cut short")
        dims = tuple(int(d) for d in np.frombuffer(raw_dims, ">i4"))
        if min(dims, default=0) < 0:
            raise ValueError(f"{path}: the IDX header gives the negative size {min(dims)}")
        dtype = np.dtype(IDX_TYPES[head[2]])
        expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
        memory.check(expected + 8 * expected // dtype.itemsize, f"{path} (shape {dims}, read as float64)")
        raw = f.read(expected + 1)
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)}{'+' * (len(raw) > expected)} data bytes, the header promises {expected}")
    return np.frombuffer(raw, dtype).reshape(dims)
