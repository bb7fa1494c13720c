"""Image data: scikit-learn's bundled 8×8 digits, and LeCun's IDX format (MNIST's files).

The digits come as an :class:`experiments.datasets.Dataset` with images flattened to rows in
NCHW order (C = 1) and scaled to [0, 1] (Magyar L147: pixel luminosity "scaled to the [0,1]
interval"), and labels as integers; ``one_hot`` makes the softmax-ce targets. MNIST, or any
data set of IDX files, is read by experiments.datasets.load_dataset from its directory.
"""
import gzip
from pathlib import Path

import numpy as np

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
               "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
DIGITS_TEST_FRACTION = 0.25  # the fixed split: stratified, scikit-learn's random_state=0


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """(N,) integer labels -> (N, n_classes) one-hot rows."""
    return np.eye(n_classes, dtype=dtype)[labels]


def load_digits():
    """The 1797 8×8 digits bundled with scikit-learn (no download), split 1347 / 450."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    from experiments.datasets import Dataset

    x, y = sk_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y.astype(np.int64), test_size=DIGITS_TEST_FRACTION, random_state=0, stratify=y)
    return Dataset(x_train, y_train, x_test, y_test, (1, 8, 8), 10)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format; gzip-compressed when the name ends in .gz).

    Header: two zero bytes, a type code (IDX_TYPES), the number of dimensions, then each
    dimension as a big-endian int32; then the data, big-endian, row-major.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    count = int(np.prod(dims))
    start = 4 + 4 * ndim
    if len(raw) - start != count * dtype.itemsize:
        raise ValueError(f"{path}: {len(raw) - start} data bytes, the header promises {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype, count=count, offset=start).reshape(dims)
