"""kernels.views.matrix: the engine's cheap 2-D view of a flat buffer."""
import numpy as np
import pytest

from kernels.views import matrix


def test_matrix_is_a_view_with_the_right_shape():
    buf = np.arange(36.0)
    view = matrix(buf, 12, 4, 3)
    np.testing.assert_array_equal(view, buf[12:24].reshape(4, 3))
    view[0, 0] = -1
    assert buf[12] == -1  # shares memory
    assert matrix(buf, 0, 0, 3).shape == (0, 3) and matrix(buf, 0, 2, 0).shape == (2, 0)
    assert matrix(buf.astype(np.float32), 0, 6, 6).dtype == np.float32


def test_matrix_outside_the_buffer_raises():
    with pytest.raises(IndexError):
        matrix(np.zeros(10), 4, 2, 4)
