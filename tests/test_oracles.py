"""Exact values from the source texts, and identities the texts state."""
import numpy as np
import pytest

from kernels import codes, losses
from kernels.activations import activation_backward, activation_forward
from kernels.conv import conv2d_backward, conv2d_forward
from kernels.loss import loss_backward, loss_forward
from kernels.pool import maxpool_forward

RNG = np.random.default_rng(5)


def conv(x, k, stride=1, pad=0):
    """Single-channel convolution (cross-correlation) of a 2-D x with a 2-D kernel k."""
    size = k.shape[0]
    h_out = (x.shape[0] + 2 * pad - size) // stride + 1
    w_out = (x.shape[1] + 2 * pad - size) // stride + 1
    y = np.empty((1, 1, h_out, w_out))
    conv2d_forward(x[None, None], k[None, None], np.zeros(0), stride, pad,
                   np.empty((1, size * size, h_out * w_out)), y)
    return y[0, 0]


def test_example_10_1_2():
    """Berlyand & Jabin Example 10.1.2 (L2422-2444)."""
    a = np.array([[0, 1, 0, 1, 0], [1, 2, 1, 2, 1]] * 2 + [[0, 1, 0, 1, 0]], float)
    k = np.array([[0, 1, 0], [1, 2, 1], [0, 1, 0]], float)
    np.testing.assert_array_equal(conv(a, k), [[8, 6, 8], [6, 4, 6], [8, 6, 8]])


def test_example_10_1_4_and_its_max_pooling():
    """Example 10.1.4 (L2478-2508): every row (0, 2, 0, 0); Example 10.4.1: pooled [[2, 0], [2, 0]]."""
    a = np.tile([0, 0, 1, 1, 1.0], (5, 1))
    k = np.array([[-1, 1], [-1, 1.0]])
    y = conv(a, k)
    np.testing.assert_array_equal(y, np.tile([0, 2, 0, 0.0], (4, 1)))
    pooled = np.empty((1, 1, 2, 2))
    maxpool_forward(2, 2, y[None, None], pooled, np.empty((1, 1, 2, 2), np.int64))
    np.testing.assert_array_equal(pooled[0, 0], [[2, 0], [2, 0]])


def conv_matrix(shape, k, stride, pad):
    """The dense matrix 𝒦 with vec(K ∗ X) = 𝒦 vec(X) (10.31), column by column from unit inputs."""
    n = int(np.prod(shape))
    return np.stack([conv(e.reshape(shape), k, stride, pad).ravel() for e in np.eye(n)], axis=1)


def test_example_10_2_1_sparse_matrix():
    """Example 10.2.1: a 2×2 kernel on a 3×3 input is a 4×9 matrix with 16 non-zeros (the text
    says 15; the notes list the erratum), each row holding the kernel's entries."""
    k = np.array([[1.0, 2.0], [3.0, 4.0]])
    m = conv_matrix((3, 3), k, 1, 0)
    assert m.shape == (4, 9) and np.count_nonzero(m) == 16
    np.testing.assert_array_equal(m[0], [1, 2, 0, 3, 4, 0, 0, 0, 0])


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (1, 2)])
def test_conv_backward_is_the_transpose_of_its_matrix(stride, pad):
    shape, k = (5, 4), RNG.standard_normal((3, 3))
    m = conv_matrix(shape, k, stride, pad)
    h_out, w_out = (shape[0] + 2 * pad - 3) // stride + 1, (shape[1] + 2 * pad - 3) // stride + 1
    cols = np.empty((1, 9, h_out * w_out))
    x = RNG.standard_normal(shape)
    conv2d_forward(x[None, None], k[None, None], np.zeros(0), stride, pad, cols, np.empty((1, 1, h_out, w_out)))
    np.testing.assert_allclose(conv(x, k, stride, pad).ravel(), m @ x.ravel(), atol=1e-13)
    back = np.empty((m.shape[0], x.size))
    for i, e in enumerate(np.eye(m.shape[0])):
        dx = np.empty((1, 1, *shape))
        conv2d_backward(e.reshape(1, 1, h_out, w_out), cols, k[None, None], stride, pad,
                        np.empty((9, h_out * w_out)), np.empty((1, 9)), dx, np.empty((1, 1, 3, 3)), np.zeros(0))
        back[i] = dx.ravel()
    np.testing.assert_allclose(back, m, atol=1e-13)


def test_max_pooling_is_positively_homogeneous():
    """p(λM) = λ p(M) for λ ≥ 0 (Ex 10.8.8-9); not for λ < 0."""
    m = RNG.standard_normal((1, 2, 6, 6))
    p, scaled = np.empty((1, 2, 3, 3)), np.empty((1, 2, 3, 3))
    argmax = np.empty((1, 2, 3, 3), np.int64)
    maxpool_forward(2, 2, m, p, argmax)
    for lam in (0.0, 0.5, 3.0):
        maxpool_forward(2, 2, lam * m, scaled, argmax)
        np.testing.assert_allclose(scaled, lam * p)
    maxpool_forward(2, 2, -m, scaled, argmax)
    assert not np.allclose(scaled, -p)


def test_softmax_sums_to_one_and_its_fused_gradient_to_zero():
    logits = RNG.standard_normal((6, 5)) * 50 + 1000  # large: the shift keeps exp finite
    target = np.eye(5)[RNG.integers(5, size=6)]
    d = np.empty_like(logits)
    loss_backward(losses.CODES["softmax-ce"], logits, target, d)
    p = d * 6 + target  # (1/B)(p − t) -> p
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-15)
    assert np.isfinite(loss_forward(losses.CODES["softmax-ce"], logits, target))


def test_softmax_is_shift_invariant_and_two_class_softmax_is_logistic():
    """Treister L270-272: softmax with the second logit fixed at 0 is the logistic loss."""
    z = RNG.standard_normal((7, 1))
    labels = RNG.integers(2, size=7)
    two = np.hstack([z, np.zeros_like(z)])
    onehot = np.eye(2)[1 - labels]  # class 0 (logit z) is the positive one
    ce = loss_forward(losses.CODES["softmax-ce"], two, onehot)
    assert ce == pytest.approx(loss_forward(losses.CODES["softmax-ce"], two + 3.0, onehot), rel=1e-12)
    assert ce == pytest.approx(loss_forward(losses.CODES["logistic"], z, labels[:, None].astype(float)), rel=1e-12)


@pytest.mark.parametrize("name, x, value, slope", [
    ("sigmoid", 0.0, 0.5, 0.25), ("softplus", 0.0, np.log(2), 0.5), ("mish", 0.0, 0.0, 0.6),
    ("squareplus", 0.0, 0.5, 0.5), ("elu", 0.0, 0.0, 1.0), ("silu", 0.0, 0.0, 0.5),
    ("silu", 0.7, 0.7 / (1 + np.exp(-0.7)), 0.823386), ("prelu", -2.0, -0.02, 0.01),
])
def test_magyar_activation_values(name, x, value, slope):
    """Magyar §2.1.1 at its plot parameters (the notes' derived values). SiLU'(0) = 0.5: the
    text's printed derivative gives 0.25."""
    code, beta, gamma, _ = codes.ACTIVATIONS[name]
    xs = np.array([[x]])
    y, dx = np.empty((1, 1)), np.empty((1, 1))
    activation_forward(code, beta, gamma, xs, y)
    activation_backward(code, beta, gamma, np.ones((1, 1)), xs, y, dx)
    assert y[0, 0] == pytest.approx(value, abs=1e-12)
    assert dx[0, 0] == pytest.approx(slope, abs=1e-6)


def test_threshold_and_sign_are_forward_only():
    x = np.array([[-1.0, 0.0, 2.0]])
    y = np.empty_like(x)
    activation_forward(codes.ACT_SIGN, 0.0, 0.0, x, y)
    np.testing.assert_array_equal(y, [[-1, -1, 1]])  # Sign(0) = −1
    activation_forward(codes.ACT_THRESHOLD, 0.0, 0.0, x, y)
    np.testing.assert_array_equal(y, [[0, 0, 1]])
    with pytest.raises(ValueError, match="no gradient"):
        activation_backward(codes.ACT_SIGN, 0.0, 0.0, x, x, y, np.empty_like(x))
