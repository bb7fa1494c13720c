"""kernels.views: unowned views, used inside kernels (a kernel never returns one)."""
import numpy as np
import pytest

from kernels.jit import kernel
from kernels.views import matrix, row, vector


@kernel
def _write_through(buf, start, rows, cols):
    """Write -1 through each kind of view; return copies of what the views saw."""
    m = matrix(buf, start, rows, cols)
    v = vector(buf, start, rows * cols)
    r = row(m, rows - 1) if rows > 0 else v[:0]
    seen = (m.copy(), v.copy(), r.copy())
    if rows > 0 and cols > 0:
        m[0, 0] = -1
        r[cols - 1] = -2
    return seen


def test_views_see_and_write_the_buffer():
    buf = np.arange(36.0)
    m, v, r = _write_through(buf, 12, 4, 3)
    np.testing.assert_array_equal(m, np.arange(12.0, 24.0).reshape(4, 3))
    np.testing.assert_array_equal(v, np.arange(12.0, 24.0))
    np.testing.assert_array_equal(r, [21.0, 22.0, 23.0])
    assert buf[12] == -1 and buf[23] == -2  # they share its memory
    assert _write_through(buf, 0, 0, 3)[0].shape == (0, 3)
    assert _write_through(buf.astype(np.float32), 0, 6, 6)[0].dtype == np.float32


@pytest.mark.parametrize("start, rows, cols", [(30, 2, 4), (-1, 1, 1), (0, 37, 1)])
def test_views_outside_the_buffer_raise(start, rows, cols):
    with pytest.raises(IndexError):
        _write_through(np.zeros(36), start, rows, cols)


@kernel
def _row(a, i):
    return row(a, i).copy()


def test_row_outside_the_matrix_raises():
    np.testing.assert_array_equal(_row(np.eye(3), 2), [0.0, 0.0, 1.0])
    for i in (3, -1):
        with pytest.raises(IndexError):
            _row(np.eye(3), i)
