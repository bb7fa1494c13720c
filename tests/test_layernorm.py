"""Layer normalization (kernels.layers.layernorm) against torch.nn.LayerNorm with affine
parameters, float64, randomized: the whole model's loss to 1e-12 and every parameter's
gradient, the input's gradient through a layer below included, to 1e-9; flat rows and images
((C, H, W) normalized as one); and a sweep through the CLI."""
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from experiments.models import parse_model
from kernels import codes, losses
from kernels.engine import loss_and_gradient, predict
from kernels.layers.layernorm import LayerNorm
from kernels.plan import Conv, Dense, build_plan
from runner.cli import app

SEEDS = range(4)


def _torch_loss_and_gradient(plan, params, x, y, image, eps):
    """Loss and our flat gradient's layout from torch: [Linear or Conv2d (no bias), LayerNorm, Linear]."""
    p = torch.tensor(params)
    table = plan.net.table
    if image:
        c_in, h, w = image
        c, k = table[0, codes.COL_C_OUT], table[0, codes.COL_K]
        first = torch.nn.Conv2d(c_in, c, k, bias=False, dtype=torch.float64)
        first.weight.data = p[: c * c_in * k * k].reshape(c, c_in, k, k).clone()
        at, shape = c * c_in * k * k, (c, table[0, codes.COL_H_OUT], table[0, codes.COL_W_OUT])
    else:
        c = table[0, codes.COL_OUT_DIM]
        first = torch.nn.Linear(plan.n_in, c, bias=False, dtype=torch.float64)
        first.weight.data = p[: plan.n_in * c].reshape(plan.n_in, c).T.clone()
        at, shape = plan.n_in * c, (c,)
    d = int(np.prod(shape))
    norm = torch.nn.LayerNorm(shape, eps=eps, dtype=torch.float64)
    norm.weight.data, norm.bias.data = p[at : at + d].reshape(shape).clone(), p[at + d : at + 2 * d].reshape(shape).clone()
    head = torch.nn.Linear(d, plan.n_out, dtype=torch.float64)
    at += 2 * d
    head.weight.data = p[at : at + d * plan.n_out].reshape(d, plan.n_out).T.clone()
    head.bias.data = p[at + d * plan.n_out :].clone()
    tx = torch.tensor(x.reshape(len(x), *image) if image else x, requires_grad=True)
    pred = head(norm(first(tx)).reshape(len(x), -1))
    loss = ((pred - torch.tensor(y)) ** 2).sum(dim=1).mean()  # kernels.losses: mse
    loss.backward()
    weight = first.weight.grad.reshape(-1) if image else first.weight.grad.T.reshape(-1)
    gradient = np.concatenate([weight.numpy(), norm.weight.grad.reshape(-1).numpy(), norm.bias.grad.reshape(-1).numpy(),
                               head.weight.grad.T.reshape(-1).numpy(), head.bias.grad.numpy()])
    return float(loss.detach()), gradient, pred.detach().numpy()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("image", [None, (2, 5, 4)], ids=["flat", "image"])
def test_layernorm_equals_torch(seed, image):
    rng = np.random.default_rng(seed)
    eps, rows, n_out = float(10.0 ** rng.uniform(-6, -2)), int(rng.integers(1, 7)), 3
    first = Conv(int(rng.integers(1, 4)), 3, bias=False) if image else Dense(int(rng.integers(2, 7)), bias=False)
    plan = build_plan(image or int(rng.integers(2, 6)), [first, LayerNorm(eps), Dense(n_out)])
    params = plan.init_params(rng, np.float64)
    ln = plan.net.table[1, codes.COL_P_OFF]
    d = plan.net.table[1, codes.COL_IN_DIM]
    params[ln : ln + 2 * d] = rng.standard_normal(2 * d)  # γ and β away from their initial 1 and 0
    x, y = rng.standard_normal((rows, plan.n_in)), rng.standard_normal((rows, n_out))
    grads = np.empty_like(params)
    loss = loss_and_gradient(plan.net, losses.CODES["mse"], params, plan.init_buffers(np.float64), x, y, grads)
    expected, expected_grads, pred = _torch_loss_and_gradient(plan, params, x, y, image, eps)
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grads, expected_grads, rtol=1e-9, atol=1e-12)
    out = np.empty((rows, n_out))
    predict(plan.net, params, plan.init_buffers(np.float64), x, out)  # evaluation mode: the same normalization
    np.testing.assert_allclose(out, pred, rtol=1e-12, atol=1e-14)


def test_ln_token_takes_the_activation_after_it():
    assert [type(layer).__name__ for layer in parse_model("dense8-ln-dense4")] == [
        "Dense", "LayerNorm", "Activation", "Dense", "Activation"]
    assert parse_model("ln:0.001")[0] == LayerNorm(0.001)
    with pytest.raises(ValueError, match="ε must be a number"):
        parse_model("ln:abc")
    with pytest.raises(ValueError, match="layer norm ε must be > 0"):
        build_plan(4, [LayerNorm(0.0)])


def test_a_layernorm_model_is_swept_through_the_cli(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "digits", "--grid", "model=dense16-ln,dense16", "--grid", "epochs=4",
                                      "--grid", "optimizer=adamw", "--workers", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "runs").set_index("model")
    assert (runs["status"] == "ok").all() and runs.loc["dense16-ln", "n_params"] == runs.loc["dense16", "n_params"] + 32
    assert runs.loc["dense16-ln", "final_test_acc"] > 0.5  # it trains: 10 classes, 4 epochs
