"""Cold start: a model compiles only what it uses, a cold compile works for every layer kind,
an edit of any kernel module is seen by the cache, and sweeps compile each engine once and
say so. Compiles run in subprocesses with an empty NUMBA_CACHE_DIR: a cold cache for real."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.models import parse_model
from kernels import engine, losses
from kernels.plan import (  # noqa: F401 (EVERY_KIND)
    Activation,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Pool,
    Residual,
    build_plan,
)
from kernels.variants import Variant, variant_of, variant_of_layers

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(sys.executable).with_name("runner")

EVERY_KIND = """
[Conv(3, 3, pad=1), BatchNorm(spatial=True), Activation("tanh"), Pool(2, kind="avg"), Conv(4, 3, pad=1),
 Activation("relu"), Pool(2), Dropout(0.2), Residual(6, "silu"), Dense(5), BatchNorm(), Activation("elu"), Dense(3)]
"""

TRAIN = """
import json, sys
import numpy as np
from kernels import codes, engine, losses, optimizers, records, schedules, steps
from kernels.plan import Activation, BatchNorm, Conv, Dense, Dropout, Pool, Residual, build_plan
from kernels.variants import variant_of

layers, shape = eval(sys.argv[1]), eval(sys.argv[2])  # the test's own literals
plan = build_plan(shape, layers)
rng = np.random.default_rng(0)
x = rng.standard_normal((8, plan.n_in))
y = np.eye(plan.n_out)[rng.integers(0, plan.n_out, 8)]
params = plan.init_params(rng, np.float64)
hyper = steps.vector(np.float64, lr=0.1)
method = records.method(losses.CODES["softmax-ce"], optimizers.CODES["sgd"], schedules.CODES["constant"], hyper,
                        plan.penalty_mask(False, np.float64))
history = np.zeros((3, codes.N_HIST))
done = engine.train(records.Data(x, y, x, y, x[:0], y[:0]), plan.net, method, records.settings(2, 4, True, 0, 8),
                    params, plan.init_buffers(np.float64), history)
compiled = {name: len(dispatcher.signatures) for name, dispatcher in [
    ("conv2d_forward", __import__("kernels.conv", fromlist=["x"]).conv2d_forward),
    ("maxpool_forward", __import__("kernels.pool", fromlist=["x"]).maxpool_forward),
    ("dropout_forward", __import__("kernels.dropout", fromlist=["x"]).dropout_forward),
    ("channel_forward", __import__("kernels.batchnorm", fromlist=["x"]).channel_forward),
    ("dense_forward", __import__("kernels.dense", fromlist=["x"]).dense_forward)] + [
    (f"{kind}_layer_forward", __import__(f"kernels.layers.{kind}", fromlist=["x"]).forward)
    for kind in ("conv", "pool", "dropout", "batchnorm")]}
from kernels.activations import EVERY, forward_for
from kernels import loss
compiled["loss_forward"] = len(loss.loss_forward.signatures)  # every loss kind: for callers outside an engine
print(json.dumps({"done": int(done), "loss": history[done, codes.HIST_FIT_LOSS], "params": params.tolist(),
                  "compiled": compiled, "activations": [list(k) for k in forward_for.made() if k != EVERY],
                  "losses": [list(k.losses) for k, f in loss.loss_forward_for.made().items() if f.signatures],
                  "cached": engine.is_cached(variant_of(plan.net.table, method.loss), "float64")}))
"""


def train_cold(layers: str, shape: str, cache: Path, path: Path = ROOT) -> dict:
    """Run TRAIN in a fresh interpreter with kernels from ``path`` and the Numba cache in ``cache``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(path)}
    done = subprocess.run([sys.executable, "-c", TRAIN, layers, shape], capture_output=True, text=True, env=env,
                          cwd=path, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("layers, shape", [
    ([Dense(1, bias=False)], 4),
    ([Dense(8), Activation("tanh"), Dense(3)], 4),
    ([Dense(3), Dense(2)], 4),
    ([Conv(2, 3, pad=1), Activation("relu"), Pool(2), Residual(3, "silu"), Dense(2)], (1, 6, 6)),
    (eval(EVERY_KIND), (1, 8, 8)),
])
def test_the_variant_of_layers_is_the_variant_of_their_plan(layers, shape):
    assert variant_of_layers(layers) == variant_of(build_plan(shape, layers).net.table)


def test_variants_name_what_they_hold():
    assert variant_of_layers([Dense(1)]) == Variant((0,), fused=True)
    mlp = variant_of_layers(parse_model("dense64-tanh-dense8", "relu") + [Dense(10)], losses.CODES["softmax-ce"])
    assert mlp.suffix() == "dense_activation_tanh_relu_softmax_ce" and not mlp.fused  # codes in order: tanh 4, relu 5
    assert mlp.layers_only().suffix() == "dense_activation_tanh_relu" and mlp.losses_only().suffix() == "softmax_ce"
    for bad in (Variant((1, 0)), Variant((0,), losses=(len(losses.KINDS),))):
        with pytest.raises(ValueError, match="not a variant"):
            bad.check()


def test_an_engine_raises_for_a_loss_it_was_not_compiled_for():
    """An engine holds one loss (kernels.variants): past kernels.engine's entry points, which
    pick the engine of the run's loss, the generated dispatch's ``else`` still fails."""
    plan = build_plan(3, [Dense(4), Activation("tanh"), Dense(2)])
    params = plan.init_params(np.random.default_rng(0), np.float64)
    x, y = np.ones((5, 3)), np.ones((5, 2))
    mse = variant_of(plan.net.table, losses.CODES["mse"])
    with pytest.raises(ValueError, match="a loss code that the variant does not hold"):
        engine._loss_and_gradient[mse](plan.net, losses.CODES["hinge"], params, np.zeros(0), x, y,
                                       np.empty_like(params), False)


def test_a_dense_model_compiles_no_convolution_pooling_dropout_or_batch_norm(tmp_path):
    result = train_cold('[Dense(8), Activation("tanh"), Dense(3)]', "4", tmp_path)
    assert result["done"] == 2 and result["cached"]
    assert result["compiled"] == {"conv2d_forward": 0, "maxpool_forward": 0, "dropout_forward": 0, "channel_forward": 0,
                                  "dense_forward": 1, "conv_layer_forward": 0, "pool_layer_forward": 0,
                                  "dropout_layer_forward": 0, "batchnorm_layer_forward": 0, "loss_forward": 0}
    assert result["activations"] == [[4]]  # tanh alone (kernels.codes.ACT_TANH)
    assert result["losses"] == [[2]]  # softmax-ce alone (kernels.losses.CODES), not every loss kind


def test_the_fused_linear_model_compiles_no_walk_at_all(tmp_path):
    result = train_cold("[Dense(3)]", "4", tmp_path)
    assert result["done"] == 2
    assert result["compiled"]["dense_forward"] == 0 and result["activations"] == []
    assert result["compiled"]["loss_forward"] == 0 and result["losses"] == [[2]]


def test_a_cold_compile_of_every_layer_kind_trains(tmp_path):
    """... and compiles each kernel once: the walks pass constants (training=True in the
    training step, False and step 0 in the evaluation), which must not make a kernel compile
    again per constant value (kernels.jit.Kernel)."""
    result = train_cold(EVERY_KIND, "(1, 8, 8)", tmp_path)
    assert result["done"] == 2 and result["cached"]
    assert result["compiled"].pop("loss_forward") == 0 and result["losses"] == [[2]]  # the run's loss alone
    assert result["compiled"] and all(n == 1 for n in result["compiled"].values()), result["compiled"]
    assert sorted(map(tuple, result["activations"])) == [(4, 5, 7, 8)]  # tanh, relu, elu, silu in one variant


COMPILE = """
import json, sys
from numba.core import event
from kernels import engine
from kernels.plan import Activation, BatchNorm, Conv, Dense, Dropout, Pool, Residual
from kernels.variants import variant_of_layers

layers, dtype, what = eval(sys.argv[1]), sys.argv[2], sys.argv[3]  # the test's own literals
variant = variant_of_layers(layers, 2)  # softmax-ce
compiled = []
class Listener(event.Listener):
    def on_start(self, ev):
        fn = ev.data["dispatcher"].py_func
        compiled.append(f"{fn.__module__}.{fn.__name__}")
    def on_end(self, ev):
        pass
event.register("numba:compile", Listener())
if what == "parts":
    for part in engine.PARTS:
        engine.prepare_part(variant, dtype, part)
else:
    engine.prepare(variant, dtype)
print(json.dumps([name for name in compiled if name.startswith("kernels.")]))
"""


def compile_cold(layers: str, dtype: str, what: str, cache: Path) -> list[str]:
    """The kernels compiled by a fresh interpreter that compiles ``what`` ("parts": every part
    of the engine, else the engine) for ``layers`` and ``dtype`` with the Numba cache in ``cache``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", COMPILE, layers, dtype, what], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("layers, dtype", [(EVERY_KIND, "float64"), ("[Dense(3)]", "float32")])
def test_an_engine_compiled_after_its_parts_compiles_only_its_own_code(layers, dtype, tmp_path):
    """runner.compile compiles an engine's parts (kernels.engine.PARTS) in processes of their
    own first: they must be what the engine calls, with the argument types it calls them with,
    or the engine compiles them again and the parallel round was for nothing. A third
    interpreter compiles nothing: the engine's cache entry loads the kernels it calls by symbol
    (kernels.link), which other processes compiled."""
    parts = compile_cold(layers, dtype, "parts", tmp_path)
    assert any(".evaluate__" in name for name in parts) and "kernels.steps.optimizer_step" in parts
    engine = compile_cold(layers, dtype, "engine", tmp_path)
    assert [name.split("__")[0] for name in engine] == ["kernels.engine._train"]
    assert compile_cold(layers, dtype, "engine", tmp_path) == []  # loaded, with what it calls by symbol


def test_an_edit_of_any_kernel_module_invalidates_the_cached_engine(tmp_path):
    """The engine (kernels/engine.py) is cached; then the SGD update in kernels/optimizers/sgd.py
    is edited to take twice the step. The next run must train with the edit, not the stale cache."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "kernels", tree / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "cache"
    before = train_cold("[Dense(2)]", "3", cache, tree)
    again = train_cold("[Dense(2)]", "3", cache, tree)
    assert again["params"] == before["params"]  # loaded from the cache: the same run
    sgd = tree / "kernels" / "optimizers" / "sgd.py"
    source = sgd.read_text()
    assert source.count("return w - lr * g") == 1
    sgd.write_text(source.replace("return w - lr * g", "return w - (lr + lr) * g"))
    edited = train_cold("[Dense(2)]", "3", cache, tree)
    assert edited["params"] != before["params"]
    sgd.write_text(source)
    restored = train_cold("[Dense(2)]", "3", cache, tree)
    assert restored["params"] == before["params"]


def test_a_sweep_compiles_its_engine_once_before_the_runs_and_says_so(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    command = [str(RUNNER), "sweep", "batch-size", "--grid", "batch_size=64,128", "--grid", "epochs=1",
               "--workers", "2", "--out", str(tmp_path / "out")]
    cold = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert "compiling the engine for float64 dense(fused)" in cold.stdout
    assert str(tmp_path / "cache") in cold.stdout and "compiled in" in cold.stdout
    warm = subprocess.run([*command, "--force"], capture_output=True, text=True, env=env, timeout=600)
    assert warm.returncode == 0 and "compiling" not in warm.stdout, warm.stdout


def test_runner_warm_compiles_what_the_grid_needs(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    command = [str(RUNNER), "warm", "digits", "--grid", "model=dense16", "--grid", "dtype=float64,float32"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "float32 dense+activation (relu) softmax-ce, float64 dense+activation (relu) softmax-ce" in first.stdout
    assert "compiling the engine" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0 and "compiling" not in second.stdout, second.stdout
