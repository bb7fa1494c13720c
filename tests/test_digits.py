"""Model specs, the image data (digits, IDX files) and the digits study through the CLI."""
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.data import load_digits, read_idx
from experiments.datasets import load_dataset
from experiments.models import parse_model
from kernels.plan import Activation, Conv, Dense, Dropout, Pool, Residual
from runner.cli import app


def test_parse_model_inserts_the_activation():
    assert parse_model("conv8x3p1-pool2-dense64") == [
        Conv(8, 3, 1, 1), Activation("relu"), Pool(2), Dense(64), Activation("relu")]
    assert parse_model("dense32-tanh-dropout0.25-res16-avgpool2s1-prelu:0.05-silu:1:2", "elu") == [
        Dense(32), Activation("tanh"), Dropout(0.25), Residual(16, "elu"), Pool(2, 1, "avg"),
        Activation("prelu", 0.05), Activation("silu", 1.0, 2.0)]
    assert parse_model("dense8-identity") == [Dense(8), Activation("identity")]


@pytest.mark.parametrize("spec", ["", "dens64", "conv8", "dropout", "silu:1:2:3", "relu:x"])
def test_parse_model_rejects_bad_specs(spec):
    with pytest.raises(ValueError):
        parse_model(spec)


def test_digits_split_is_fixed_and_scaled():
    a, b = load_digits(), load_digits()
    assert a.x_train.shape == (1347, 64) and a.x_test.shape == (450, 64) and a.shape == (1, 8, 8)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_train.min() == 0 and a.x_train.max() == 1
    total = np.bincount(a.y_train) + np.bincount(a.y_test)
    assert np.all(np.abs(np.bincount(a.y_test) / total - 0.25) < 0.01)  # stratified


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(directory: Path, n_train=40, n_test=20, gz=True) -> None:
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(10, size=n)
        images = rng.integers(0, 50, size=(n, 28, 28))
        images[np.arange(n), labels * 2 + 4, 4:24] = 255  # a learnable stripe per class
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    data = load_dataset(tmp_path)
    assert data.x_train.shape == (40, 784) and data.x_test.shape == (20, 784) and data.shape == (1, 28, 28)
    assert data.x_train.max() == 1.0 and data.y_train.dtype == np.int64
    raw = read_idx(tmp_path / f"train-labels-idx1-ubyte{'.gz' if gz else ''}")
    np.testing.assert_array_equal(raw, data.y_train)


def test_idx_reader_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((3, 2)))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header promises"):
        read_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="MNIST IDX"):
        load_dataset(tmp_path)


def test_mlp_and_cnn_reach_95_percent_through_runner_sweep(tmp_path):
    """The default grid of the digits study: an MLP and a CNN, both above 95 % test accuracy."""
    out = tmp_path / "digits"
    proc = subprocess.run([Path(sys.executable).with_name("runner"), "sweep", "digits", "--workers", "2",
                           "--out", out], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = pd.read_parquet(out / "runs").set_index("model")
    assert set(runs.index) == {"dense64", "conv8x3p1-pool2-conv16x3p1-pool2-dense64"}
    assert (runs["final_test_acc"] > 0.95).all(), runs["final_test_acc"]
    curves = pd.read_parquet(out / "curves")
    assert len(curves) == 2 * 31 and curves["test_acc"].between(0, 1).all()
    assert (curves.groupby("run_id")["train_loss"].last() < curves.groupby("run_id")["train_loss"].first()).all()


def test_mnist_through_runner_sweep(tmp_path):
    write_mnist(tmp_path)
    result = CliRunner().invoke(app, ["sweep", "digits", "--grid", "dataset=mnist", "--grid", f"data_dir={tmp_path}",
                                      "--grid", "model=conv4x5s2-dense16", "--grid", "epochs=2",
                                      "--workers", "1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert runs["dataset"].tolist() == ["mnist"] and runs["n_params"].item() == 4 * 25 + 4 + 4 * 12 * 12 * 16 + 16 + 170


@pytest.mark.parametrize("args, message", [
    (["--grid", "lr=0"], "lr: must be > 0"),
    (["--grid", "lr=-1"], "lr: must be > 0"),
    (["--grid", "optimizer=lbfgs"], "optimizer: 'lbfgs' is not one of"),
    (["--grid", "schedule=warmup"], "schedule: 'warmup' is not one of"),
    (["--grid", "model=dense64-foo"], "cannot read 'foo'"),
    (["--grid", "model=conv4x9"], "does not fit"),
    (["--grid", "model=dense8-sign"], "without gradient"),
    (["--grid", "bias_correction=maybe"], "not a valid bool"),
])
def test_bad_digits_input_exits_2(tmp_path, args, message):
    result = CliRunner().invoke(app, ["sweep", "digits", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()
