"""kernels.fused: the one-dense-layer model's gradient in one pass, against the layer-by-layer
composition, through the Taylor test (Treister §6.3), and inside the training loop."""
import numpy as np
import pytest

from experiments.training import fit
from kernels import codes, losses
from kernels.dense import dense_backward, dense_forward
from kernels.fused import dense_loss_gradient
from kernels.gradcheck import taylor_test
from kernels.loss import loss_backward, loss_forward
from kernels.plan import Activation, Dense, build_plan

RNG = np.random.default_rng(11)


def targets(loss: str, n: int, n_out: int) -> np.ndarray:
    """Targets that encode labels the way each loss reads them (kernels.losses)."""
    if loss == "softmax-ce":
        return np.eye(n_out)[RNG.integers(n_out, size=n)]
    if loss == "logistic":
        return RNG.integers(2, size=(n, n_out)).astype(float)
    if loss == "hinge":
        return RNG.choice([-1.0, 1.0], size=(n, n_out))
    return RNG.standard_normal((n, n_out))


def fused(code, x, y, index, start, rows, w, b):
    dw, db = np.empty_like(w), np.empty_like(b)
    dense_loss_gradient(code, x, y, index, start, rows, w, b, dw, db, np.empty((2, w.shape[1]), w.dtype))
    return dw, db


@pytest.mark.parametrize("loss", losses.CODES)
@pytest.mark.parametrize("rows, n_in, n_out", [(1, 4, 64), (3, 1, 5), (7, 6, 3), (13, 9, 1)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_fused_gradient_is_the_layer_composition(loss, rows, n_in, n_out, bias, dtype, tol):
    code, n = losses.CODES[loss], 20
    x, y = RNG.standard_normal((n, n_in)).astype(dtype), targets(loss, n, n_out).astype(dtype)
    w = RNG.standard_normal((n_in, n_out)).astype(dtype)
    b = RNG.standard_normal(n_out if bias else 0).astype(dtype)
    index, start = RNG.permutation(n), 5
    dw, db = fused(code, x, y, index, start, rows, w, b)

    batch = index[start : start + rows]
    pred, dpred = np.empty((rows, n_out), dtype), np.empty((rows, n_out), dtype)
    dense_forward(x[batch], w, b, pred)
    loss_backward(code, pred, y[batch], dpred)
    dw_ref, db_ref = np.empty_like(w), np.empty_like(b)
    dense_backward(dpred, x[batch], w, np.empty((0, n_in), dtype), dw_ref, db_ref)
    np.testing.assert_allclose(dw, dw_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, db_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("loss", losses.CODES)
def test_fused_gradient_taylor(loss):
    code, n, n_in, n_out, rows = losses.CODES[loss], 12, 5, 4, 9
    x, y = RNG.standard_normal((n, n_in)), targets(loss, n, n_out)
    index = RNG.permutation(n)
    batch = index[2 : 2 + rows]

    def f(theta):
        w, b = theta[:-n_out].reshape(n_in, n_out), theta[-n_out:]
        return float(loss_forward(code, x[batch] @ w + b, y[batch]))

    def grad(theta):
        dw, db = fused(code, x, y, index, 2, rows, theta[:-n_out].reshape(n_in, n_out), theta[-n_out:])
        return np.concatenate([dw.ravel(), db])

    result = taylor_test(f, grad, RNG.standard_normal(n_in * n_out + n_out), RNG)
    assert result.passed, (result.ratio0, result.ratio1)


@pytest.mark.parametrize("loss", ["mse", "softmax-ce"])
@pytest.mark.parametrize("batch_size", [1, 7, 40])
def test_fused_training_equals_the_layer_walk(loss, batch_size):
    """A one-dense-layer plan takes the fused path; followed by an identity activation it takes
    the general walk. Same seed, same batches: the same run up to rounding."""
    x, y = RNG.standard_normal((40, 6)), targets(loss, 40, 3)
    fused_plan = build_plan(6, [Dense(3)])
    walked_plan = build_plan(6, [Dense(3), Activation("identity")])
    params = fused_plan.init_params(np.random.default_rng(0), np.float64)
    runs = [fit(x, y, plan, params.copy(), loss=loss, optimizer="adam", hyper=dict(lr=0.01, l2=0.1),
                epochs=5, batch_size=batch_size, seed=3) for plan in (fused_plan, walked_plan)]
    np.testing.assert_allclose(runs[0].params, runs[1].params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(runs[0].column(codes.HIST_FIT_LOSS), runs[1].column(codes.HIST_FIT_LOSS),
                               rtol=1e-10)
