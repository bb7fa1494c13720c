"""A user's own data in the training studies: formats, inferred shape and classes, and every
mismatch caught before compiled code runs (CLI: exit 2, nothing written; API: ValueError)."""
from functools import partial

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.datasets import load_dataset
from experiments.training import fit
from kernels import codes, engine, losses, optimizers, records, schedules, steps
from kernels.layers import KINDS, OP_CODES
from kernels.plan import Activation, Conv, Dense, build_plan
from kernels.variants import variant_of
from runner.cli import app

RNG = np.random.default_rng(0)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def images(n=90, size=16, classes=3):
    """(n, size, size) uint8 images of ``classes`` classes, each a bright row at its own place."""
    labels = np.arange(n) % classes
    x = RNG.integers(0, 40, size=(n, size, size)).astype(np.uint8)
    x[np.arange(n), labels * size // classes, :] = 255
    return x, labels


@pytest.fixture
def npz(tmp_path):
    x, y = images()
    path = tmp_path / "own.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture
def csv(tmp_path):
    x, y = images(60, 4, 2)
    frame = pd.DataFrame(x.reshape(60, -1) / 255.0, columns=[f"f{i}" for i in range(16)]).assign(kind=y)
    path = tmp_path / "own.csv"
    frame.to_csv(path, index=False)
    return path


def test_npz_images_infer_shape_and_classes(npz):
    data = load_dataset(npz)
    assert data.shape == (1, 16, 16) and data.n_classes == 3
    assert data.x_train.shape == (67, 256) and data.x_test.shape == (23, 256)  # a quarter held out
    assert data.x_train.max() == 1.0  # uint8 scaled by 1/255
    assert sorted(np.bincount(data.y_test)) == [7, 8, 8]  # stratified


def test_a_cnn_on_own_images_through_runner_sweep(tmp_path, npz):
    out = tmp_path / "out"
    result = invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={npz}",
                    "--grid", "model=conv4x3p1-pool2-dense16", "--grid", "epochs=15", "--grid", "batch_size=8",
                    "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    run = pd.read_parquet(out / "runs").iloc[0]
    assert run["n_params"] == 4 * 9 + 4 + 4 * 8 * 8 * 16 + 16 + 16 * 3 + 3  # 16x16 input, 3 classes
    assert run["final_test_acc"] > 0.9 and run["data"] == str(npz.resolve())


def test_data_path_alone_is_own_data_and_the_same_run_as_the_older_keys(tmp_path, npz):
    """One own-data interface: data=PATH in every training study; the older spellings
    (digits' dataset=file, lcurve-depth's data=file data_file=PATH) give the same runs."""
    from experiments import get_study
    from runner.grid import expand, parse_grid

    def run_ids(study, options):
        chosen = get_study(study)
        return [s.run_id for s in expand(chosen, parse_grid(chosen, options), 1)]

    assert run_ids("digits", [f"data={npz}", "model=dense8"]) == run_ids(
        "digits", ["dataset=file", f"data={npz}", "model=dense8"])
    table = tmp_path / "reg.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.standard_normal(40), "b": rng.standard_normal(40), "y": rng.standard_normal(40)}).to_csv(
        table, index=False)
    assert run_ids("lcurve-depth", [f"data={table}", "depth=1"]) == run_ids(
        "lcurve-depth", ["data=file", f"data_file={table}", "depth=1"])
    both = invoke("sweep", "lcurve-depth", "--grid", f"data={table}", "--grid", f"data_file={table}", "--dry-run",
                  "--out", tmp_path / "o")
    assert both.exit_code == 2 and "not both" in both.output


def test_csv_and_parquet_give_the_same_runs(tmp_path, csv):
    parquet = tmp_path / "own.parquet"
    pd.read_csv(csv).to_parquet(parquet)
    finals = []
    for path in (csv, parquet):
        out = tmp_path / path.suffix[1:]
        result = invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={path}", "--grid", "label=kind",
                        "--grid", "model=dense8", "--grid", "epochs=5", "--workers", 1, "--out", out)
        assert result.exit_code == 0, result.output
        finals.append(pd.read_parquet(out / "runs")["final_train_loss"].item())
    assert finals[0] == finals[1]


def test_npz_with_its_own_split(tmp_path):
    x, y = images(40)
    path = tmp_path / "split.npz"
    np.savez(path, x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    data = load_dataset(path, shape="1x16x16", n_classes=5)
    assert len(data.x_train) == 30 and len(data.x_test) == 10 and data.n_classes == 5


def bad_npz(tmp_path, name, **arrays):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def mismatches(tmp_path, npz, csv):
    """(grid options, message) of data that cannot run: each must exit 2 before anything runs."""
    x, y = images()
    nan = x.astype(float)
    nan[3, 3, 3] = np.nan
    text = tmp_path / "words.csv"
    pd.DataFrame({"a": ["x", "y", "z", "w"], "label": [0, 1, 0, 1]}).to_csv(text, index=False)
    return [
        (["dataset=file"], "dataset=file needs data=PATH"),
        (["dataset=mnist", f"data={npz}"], "is read only with dataset=file (got dataset=mnist)"),
        (["dataset=file", f"data={npz}", f"data_dir={tmp_path}"], "is read only with dataset=mnist"),
        (["n_classes=3"], "n_classes=3 is not read with dataset=digits"),
        (["label=kind"], "label='kind' is not read with dataset=digits"),
        (["dataset=file", f"data={tmp_path / 'nope.npz'}"], "no such file or directory"),
        (["dataset=file", f"data={csv.with_suffix('.txt')}"], "no such file"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'keys', a=x)}"], "expected x, y or x_train"),
        (["dataset=file", f"data={csv}"], "no target column 'label'"),
        (["dataset=file", f"data={text}"], "feature column 'a' is not numeric"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'nan', x=nan, y=y)}"], "non-finite value (nan) in row 3, column"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'neg', x=x, y=y - 1)}"], "negative label -1"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'frac', x=x, y=y + 0.5)}"], "in row 0; labels must be integers"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'rows', x=x, y=y[:-1])}"], "90 rows of x but 89 of y"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'one', x=x, y=0 * y)}"], "only one class"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'str', x=x.astype(str), y=y)}"], "not a number type"),
        (["dataset=file", f"data={bad_npz(tmp_path, 'empty', x=x[:0], y=y[:0])}"], "0 rows or 0 features"),
        (["dataset=file", f"data={npz}", "n_classes=2"], "label 2 does not fit n_classes = 2"),
        (["dataset=file", f"data={npz}", "input_shape=1x8x8"], "input_shape 1x8x8 has 64 entries, the data 256"),
        (["dataset=file", f"data={npz}", "input_shape=16x16"], "expected three positive sizes"),
        (["dataset=file", f"data={csv}", "label=kind", "model=conv4x3"], "does not fit the 16 inputs"),
        (["dataset=file", f"data={npz}", "batch_size=100"], "batch_size 100 is more than the 67 training rows"),
        (["dataset=file", f"data={npz}", "train_size=500"], "train_size 500 is more than the 67 training rows"),
        (["dataset=mnist"], "dataset=mnist needs data_dir=PATH"),
        (["dataset=mnist", f"data_dir={tmp_path}"], "no train-images-idx3-ubyte"),
    ]


def test_mismatched_data_exits_2_with_nothing_written(tmp_path, npz, csv):
    cases = mismatches(tmp_path, npz, csv)
    assert len(cases) >= 15
    for options, message in cases:
        for dry in ([], ["--dry-run"]):
            out = tmp_path / "out"
            result = invoke("sweep", "digits", *(a for o in options for a in ("--grid", o)), *dry, "--out", out)
            assert result.exit_code == 2, (options, result.output)
            assert message in result.output and result.output.count("\n") == 1, (options, result.output)
            assert not out.exists()


def test_the_other_training_studies_take_own_data(tmp_path, npz):
    dense = {"learning-rate": [256, 64, 3], "lcurve-penalty": [256, 128, 64, 3]}  # their default models
    for study, widths in dense.items():
        result = invoke("sweep", study, "--grid", "dataset=file", "--grid", f"data={npz}", "--grid", "epochs=2",
                        "--grid", "lr=0.01", "--grid", "optimizer=adam", "--grid", "l2=0", "--grid", "train_size=0",
                        "--workers", 1, "--out", tmp_path / study)
        assert result.exit_code == 0, result.output
        n_params = sum(a * b + b for a, b in zip(widths, widths[1:]))
        assert pd.read_parquet(tmp_path / study / "runs")["n_params"].item() == n_params


# The API: fit and the engine's entry points check what they are given.

PLAN = build_plan(4, [Dense(5), Activation("tanh"), Dense(2)])


def fit_args(**changes):
    x, y = RNG.standard_normal((10, 4)), RNG.standard_normal((10, 2))
    args = dict(x=x, y=y, plan=PLAN, params=PLAN.init_params(RNG, np.float64), loss="mse", optimizer="sgd",
                hyper=dict(lr=0.1), epochs=2, batch_size=5, seed=0)
    return {**args, **changes}


@pytest.mark.parametrize("changes, message", [
    ({"x": np.zeros((10, 20))}, "x of the training data has 20 columns; the model takes 4 inputs"),
    ({"y": np.zeros((10, 3))}, "y of the training data has 3 columns; the model has 2 outputs"),
    ({"y": np.zeros((9, 2))}, "x has 10 rows, y 9"),
    ({"x": np.zeros((10, 4), np.float32)}, "dtype float32; expected float64"),
    ({"params": np.zeros(7)}, "params has 7 entries; the plan lays out 37"),
    ({"params": np.zeros(37, np.int64)}, "params must be a float32 or float64 array"),
    ({"x": np.zeros((4, 10)).T}, "not C-contiguous"),
    ({"x": [[0.0] * 4] * 10}, "must be a NumPy array"),
    ({"batch_size": 11}, "batch_size 11 is not in 1 .. 10"),
    ({"batch_size": 0}, "batch_size 0 is not in 1 .. 10"),
    ({"epochs": -1}, "epochs must be >= 0"),
    ({"x": np.zeros((0, 4)), "y": np.zeros((0, 2))}, "has 0 rows; needs at least 1"),
    ({"test_set": (np.zeros((3, 5)), np.zeros((3, 2)))}, "x of the test monitor set has 5 columns"),
    ({"fit_set": (np.zeros((3, 4)), np.zeros((3, 1)))}, "y of the fit monitor set has 1 columns"),
])
def test_fit_rejects_what_does_not_fit_the_plan(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit(**fit_args(**changes))


def test_engine_entry_points_check_their_arguments():
    params, buffers = PLAN.init_params(RNG, np.float64), PLAN.init_buffers(np.float64)
    x, y = RNG.standard_normal((10, 4)), RNG.standard_normal((10, 2))
    method = records.method(losses.CODES["mse"], 0, 0, steps.vector(np.float64, lr=0.1), PLAN.penalty_mask(False, np.float64))
    data = records.Data(x, y, x, y, x[:0], y[:0])
    settings = records.settings(1, 5, True, 0, 16)
    history = np.zeros((2, codes.N_HIST))

    def train(net=PLAN.net, method=method, settings=settings, history=history):
        return engine.train(data, net, method, settings, params.copy(), buffers, history)

    assert train() == 1
    bad_op = PLAN.net.table.copy()
    bad_op[1, codes.COL_OP] = 99
    for changes, message in [({"history": np.zeros((1, codes.N_HIST))}, "history has shape"),
                             ({"method": method._replace(mask=method.mask[:-1])}, "mask has 36 entries"),
                             ({"method": method._replace(hyper=method.hyper[:3])}, "hyper has 3 entries"),
                             ({"settings": settings._replace(eval_rows=0)}, "eval_rows must be >= 1"),
                             ({"settings": settings._replace(check_every=-1)}, "check_every must be >= 0"),
                             ({"method": method._replace(optimizer=np.int64(99))}, r"optimizer code 99 is not one of"),
                             ({"method": method._replace(schedule=np.int64(-1))}, r"schedule code -1 is not one of"),
                             ({"method": method._replace(loss=np.int64(5))}, r"loss code 5 is not one of"),
                             ({"net": PLAN.net._replace(table=PLAN.net.table[:, :5].copy())}, "table has shape"),
                             ({"net": PLAN.net._replace(table=bad_op)}, r"op codes \[99\] that no layer kind")]:
        with pytest.raises(ValueError, match=message):
            train(**changes)
    with pytest.raises(ValueError, match="predict's x and out"):
        engine.predict(PLAN.net, params, buffers, x, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="grads has 36 entries"):
        engine.loss_and_gradient(PLAN.net, losses.CODES["mse"], params, buffers, x, y, np.zeros(36))
    for check in (engine.loss_and_gradient, partial(engine.forward_differences, eps=1e-6)):
        with pytest.raises(ValueError, match="loss code 5 is not one of"):  # an engine is compiled per loss
            check(PLAN.net, 5, params, buffers, x, y, grads=np.empty_like(params))


@pytest.mark.parametrize("op", [len(KINDS), OP_CODES[Conv]])
def test_an_op_code_the_variant_does_not_hold_raises_from_compiled_code(op):
    """Past the guard (kernels.guard), the generated walks' ``else`` still fails: no silent gap,
    for an op code no kind handles and for a kind the compiled variant does not hold."""
    variant = variant_of(PLAN.net.table, losses.CODES["mse"])
    bad_op = PLAN.net.table.copy()
    bad_op[1, codes.COL_OP] = op
    x, y = RNG.standard_normal((10, 4)), RNG.standard_normal((10, 2))
    params = PLAN.init_params(RNG, np.float64)
    with pytest.raises(ValueError, match="its kind set does not hold"):
        engine._loss_and_gradient[variant](PLAN.net._replace(table=bad_op), losses.CODES["mse"], params, np.zeros(0), x,
                                           y, np.empty_like(params), False)
    with pytest.raises(ValueError, match="its kind set does not hold"):
        engine._predict[variant](PLAN.net._replace(table=bad_op), params, np.zeros(0), x, np.empty_like(y))


def test_an_optimizer_or_schedule_code_no_kind_handles_raises_from_compiled_code():
    """The generated optimizer step and learning rate (kernels.steps) end in an ``else`` that fails."""
    hyper, params = steps.vector(np.float64, lr=0.1), np.ones(3)
    with pytest.raises(ValueError, match="an optimizer code that no kind handles"):
        steps.optimizer_step(len(optimizers.KINDS), hyper, 0.1, 1, params, params.copy(),
                             np.zeros((steps.STATE_ROWS, 3)))
    with pytest.raises(ValueError, match="a schedule code that no kind handles"):
        steps.learning_rate(len(schedules.KINDS), hyper, 0, 1)


def test_each_row_records_the_data_its_run_used(tmp_path, npz):
    import hashlib

    out = tmp_path / "out"
    result = invoke("sweep", "digits", "--grid", f"data={npz}", "--grid", "model=dense8", "--grid", "epochs=1",
                    "--grid", "train_size=40", "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    run = pd.read_parquet(out / "runs").iloc[0]
    assert (run["n_train"], run["n_test"], run["n_features"], run["classes"]) == (40, 23, 256, 3)
    assert run["data_sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    bundled = invoke("sweep", "digits", "--grid", "model=dense8", "--grid", "epochs=1", "--workers", 1,
                     "--out", tmp_path / "b")
    assert bundled.exit_code == 0
    row = pd.read_parquet(tmp_path / "b" / "runs").iloc[0]
    assert (row["n_train"], row["n_test"], row["n_features"], row["classes"]) == (1347, 450, 64, 10)
    assert pd.isna(row["data_sha256"])


def test_an_older_own_data_spelling_works_with_a_one_line_notice(tmp_path, npz):
    result = CliRunner().invoke(app, ["sweep", "digits", "--grid", "dataset=file", "--grid",
                                                      f"data={npz}", "--grid", "model=dense8", "--dry-run",
                                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "data=PATH alone reads your file" in notes[0]
    plain = CliRunner().invoke(app, ["sweep", "digits", "--grid", f"data={npz}", "--grid",
                                                     "model=dense8", "--dry-run", "--out", str(tmp_path / "o")])
    assert plain.exit_code == 0 and "note:" not in plain.stderr


def test_regression_rows_record_the_data_too(tmp_path):
    import hashlib

    rng = np.random.default_rng(0)
    table = tmp_path / "reg.csv"
    x = rng.standard_normal((40, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x @ [1.0, -1.0] + 0.1 * rng.standard_normal(40)}).to_csv(
        table, index=False)
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    for study, grid in (("lcurve-depth", ["depth=1", "epochs=5"]), ("batch-size", ["epochs=2", "batch_size=8"])):
        out = tmp_path / study
        result = invoke("sweep", study, "--grid", f"data={table}", *(a for g in grid for a in ("--grid", g)),
                        "--workers", 1, "--out", out)
        assert result.exit_code == 0, result.output
        run = pd.read_parquet(out / "runs").iloc[0]
        assert run["data_sha256"] == digest
        if study == "lcurve-depth":
            assert (run["n_train"] + run["n_test"], run["n_features"]) == (40, 2)
        else:
            assert run["n_features"] == 3  # x̂ = (1, a, b)
