"""Every bad input answered as the README promises: exit 2, one line naming the file, key, row or
column at fault, nothing written; writes that fail exit 1 with one line. One test per category:
data files in their corrupt, empty, huge, truncated and special-file forms; manifest and sweep-file
fields of the wrong type; grids with empty items; sizes that cannot fit; paths."""
import gzip
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from experiments import memory
from runner.cli import app

RNG = np.random.default_rng(5)


@pytest.fixture(autouse=True)
def no_memory_limit(monkeypatch):
    """The machine's limit unless a test sets one; what ``--max-memory`` (which sets the variable
    in this process) leaves behind is undone after each test."""
    monkeypatch.setenv(memory.ENV, "")


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def refused(result, message: str, out=None) -> None:
    """Exit 2, the message on one line, and (when given) ``out`` not created."""
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1, result.output
    assert out is None or not os.path.lexists(out)


def npz_bomb(path, rows: int):
    """A small .npz whose x of (rows, 1) zeros decompresses to 8·rows bytes."""
    np.savez_compressed(path, x=np.zeros((rows, 1)), y=np.arange(rows) % 2)
    return path


def data_files(tmp_path) -> list:
    """(file, message) for data in every broken form."""
    x, y = RNG.random((40, 3)), np.arange(40) % 2
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(RNG.bytes(1000))
    empty_zip = tmp_path / "empty.npz"
    zipfile.ZipFile(empty_zip, "w").close()
    whole = tmp_path / "whole.npz"
    np.savez(whole, x=x, y=y)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([[1], [None]], dtype=object), y=np.arange(2))
    five = tmp_path / "five.npz"
    np.savez(five, x=RNG.random((20, 1, 2, 2, 2)), y=np.arange(20) % 2)
    skip0 = tmp_path / "skip0.npz"
    np.savez(skip0, x=x, y=np.arange(40) % 3 + 1)
    test_only = tmp_path / "test_only.npz"
    np.savez(test_only, x_train=x, y_train=y, x_test=x[:4], y_test=np.array([0, 1, 2, 1]))
    nan = x.copy()
    nan[7, 2] = np.inf
    nan_file = tmp_path / "nan.npz"
    np.savez(nan_file, x=nan, y=y)
    header_only = tmp_path / "header.csv"
    header_only.write_text("f0,f1,label\n")
    words = tmp_path / "words.csv"
    words.write_text("f0,f1,label\n1,2,0\n1,x,1\n")
    bad_parquet = tmp_path / "bad.parquet"
    bad_parquet.write_bytes(b"PAR1" + RNG.bytes(200))
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    idx = tmp_path / "idx"
    idx.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (idx / f"{stem}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + np.array([10, 4, 4], ">i4").tobytes()))
    cut = tmp_path / "cut"
    cut.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (cut / f"{stem}.gz").write_bytes(gzip.compress(bytes(100))[:-12])
    return [
        (garbage, "garbage.npz: cannot be read (BadZipFile"),
        (empty_zip, "empty.npz: holds no arrays"),
        (truncated, "truncated.npz: cannot be read"),
        (objects, "array x holds Python objects (dtype object), which are never loaded"),
        (five, "array x has shape (20, 1, 2, 2, 2)"),
        (skip0, "skip0.npz: class 0 has no training rows"),
        (test_only, "class 2 has no training rows (it occurs in the test set only)"),
        (nan_file, "nan.npz: array x has a non-finite value (inf) in row 7, column 2"),
        (header_only, "header.csv: has a header but no rows"),
        (words, "feature column 'f1' is not numeric (row 1: 'x')"),
        (fifo, "fifo.csv: not a regular file or a directory"),
        (Path("/dev/zero"), "/dev/zero: not a regular file or a directory"),
        (bad_parquet, "bad.parquet: cannot be read"),
        (idx, "train-images-idx3-ubyte.gz: 0 data bytes, the header promises 160"),
        (cut, "train-images-idx3-ubyte.gz: cannot be read (EOFError"),
    ]


def test_every_broken_data_file_exits_2_naming_it(tmp_path):
    out = tmp_path / "out"
    for path, message in data_files(tmp_path):
        refused(invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={path}", "--dry-run",
                       "--out", out), message, out)


def test_a_compressed_array_is_bounded_before_it_is_decompressed(tmp_path):
    """16 MiB of zeros in a file of 16 KiB: refused under a 1 MiB limit from the .npy header alone."""
    bomb = npz_bomb(tmp_path / "bomb.npz", 1 << 21)
    assert bomb.stat().st_size < 1 << 16
    out = tmp_path / "out"
    refused(invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={bomb}", "--dry-run",
                   "--max-memory", "1M", "--out", out), "bomb.npz (x (2097152, 1), y (2097152,), read as float64) "
            "needs about 64.0 MiB, more than the 1.0 MiB of the limit RUNNER_MAX_MEMORY=1M", out)


def test_tables_are_bounded_before_they_are_parsed(tmp_path):
    csv = tmp_path / "big.csv"
    csv.write_text("f0,label\n" + "1,0\n2,1\n" * 100_000)
    parquet = tmp_path / "big.parquet"
    import pandas as pd

    pd.DataFrame({"f0": np.arange(200_000.0), "label": np.arange(200_000) % 2}).to_parquet(parquet)
    for path, message in ((csv, "big.csv (781.3 KiB of text, read as float64) needs about"),
                          (parquet, "big.parquet (200000 rows × 2 columns, read as float64) needs about")):
        refused(invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={path}", "--dry-run",
                       "--max-memory", "1M"), message)


@pytest.mark.parametrize(("study", "grid", "message"), [
    ("batch-size", ["epochs=1000000000000", "batch_size=64"], "(batch_size=64 epochs=1000000000000) needs about"),
    ("batch-size", ["N=1000000000000", "batch_size=64"], "n_samples=1000000000000) needs about"),
    ("digits", ["model=dense1000000000"], "(model=dense1000000000) needs about"),
    ("digits", ["model=conv8x3p100000"], "(model=conv8x3p100000) needs about"),
    ("gd-1d", ["iterations=100000000000"], "iterations=100000000000) needs about"),
    ("lcurve-lambda", ["degree=1000000000"], "degree=1000000000) needs about"),
])
def test_sizes_that_cannot_fit_exit_2_with_the_estimate(tmp_path, study, grid, message):
    out = tmp_path / "out"
    refused(invoke("sweep", study, *(a for g in grid for a in ("--grid", g)), "--out", out), message, out)


def test_a_huge_label_is_refused_before_its_one_hot_targets_exist(tmp_path):
    path = tmp_path / "label.npz"
    np.savez(path, x=RNG.random((20, 2)), y=np.r_[np.arange(19) % 2, 10**9])
    refused(invoke("sweep", "digits", "--grid", "dataset=file", "--grid", f"data={path}", "--grid", "n_classes=0",
                   "--dry-run"), "the largest label 1000000000 gives 1000000001 classes")


def test_the_memory_estimate_passes_the_built_in_defaults_and_follows_the_limit(tmp_path, monkeypatch):
    assert invoke("sweep", "digits", "--dry-run", "--out", tmp_path / "o").exit_code == 0
    refused(invoke("sweep", "digits", "--dry-run", "--max-memory", "10M", "--out", tmp_path / "o"),
            "more than the 10.0 MiB of the limit RUNNER_MAX_MEMORY=10M")
    refused(invoke("sweep", "digits", "--dry-run", "--max-memory", "10x"), "--max-memory: memory size '10x'")
    assert memory.parse_size("1.5G") == 3 << 29 and memory.parse_size("8GiB") == 8 << 30
    monkeypatch.setenv(memory.ENV, "2K")
    with pytest.raises(ValueError, match="needs about 3.0 KiB, more than the 2.0 KiB"):
        memory.check(3072, "this")


def test_an_exact_linear_fit_is_refused_in_the_batch_size_study(tmp_path):
    x = RNG.random((100, 2))
    path = tmp_path / "exact.npz"
    np.savez(path, x=x, y=x @ [1.0, 2.0] + 3)
    refused(invoke("sweep", "batch-size", "--grid", f"data={path}", "--dry-run"),
            "the linear model fits these data exactly, to rounding")


@pytest.mark.parametrize(("grid", "message"), [
    ("lr=1e-3,,0.1", "lr: an empty item in '1e-3,,0.1' (a comma too many?)"),
    ("model=,dense16", "model: an empty item in ',dense16' (a comma too many?); write \"\" for the empty text"),
    ("model=pool0", "pooling needs a window and a stride >= 1, got 0 and 0"),
    ("model=avgpool0", "pooling needs a window and a stride >= 1, got 0 and 0"),
    ("model=pool2s0", "got 2 and 0"),
])
def test_grid_items_that_cannot_run(tmp_path, grid, message):
    out = tmp_path / "out"
    refused(invoke("sweep", "digits", "--grid", grid, "--dry-run", "--out", out), message, out)


def test_an_empty_text_item_is_written_as_two_quotes(tmp_path):
    result = invoke("sweep", "batch-size", "--grid", 'data="",' + str(tmp_path / "none.npz"), "--dry-run")
    refused(result, "none.npz: no such file or directory")  # the second item is read: the first passed


@pytest.mark.parametrize(("record", "message"), [
    ('{"study": "batch-size", "seeds": "3", "grid": []}', "'seeds' must be an integer >= 1, got '3'"),
    ('{"study": "batch-size", "seeds": 1.5, "grid": []}', "'seeds' must be an integer >= 1, got 1.5"),
    ('{"study": "batch-size", "seeds": 0, "grid": [], "run_ids": []}', "'seeds' must be an integer >= 1, got 0"),
    ('{"study": "batch-size", "seeds": 1, "grid": null}', "'grid' must be a list of 'key=values' texts, got None"),
    ('{"study": "batch-size", "seeds": 1, "grid": [3]}', "'grid' must be a list of 'key=values' texts"),
    ('{"study": 7, "seeds": 1, "grid": []}', "'study' must be a text, got 7"),
    ('{"study": "batch-size", "seeds": 1, "grid": [], "run_ids": 3}', "'run_ids' must be a list of run ids"),
    ("[1, 2]", "not a sweep manifest (a JSON list, not an object)"),
    ("{", "not a sweep manifest (not JSON:"),
])
def test_every_manifest_field_of_the_wrong_type(tmp_path, record, message):
    manifest = tmp_path / "sweeps" / "x.json"
    manifest.parent.mkdir()
    manifest.write_text(record)
    refused(invoke("sweep", "--from", manifest, "--dry-run"), message)


def test_sweep_files_that_are_not_text_or_not_files(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'study = "batch-size"\n# \xff\xfe\n')
    refused(invoke("sweep", "--config", binary, "--dry-run"), "binary.toml line 2: not UTF-8 text (byte 0xff)")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    refused(invoke("sweep", "--config", fifo, "--dry-run"), "not a regular file (a FIFO, device or socket)")
    refused(invoke("sweep", "--config", tmp_path, "--dry-run"), "Is a directory")
    empty_out = tmp_path / "empty-out.toml"
    empty_out.write_text('study = "batch-size"\nout = ""\n')
    refused(invoke("sweep", "--config", empty_out, "--dry-run"), "out is empty")


def test_output_paths_that_cannot_exist(tmp_path):
    for args in (["sweep", "batch-size", "--dry-run", "--out", ""], ["status", ""], ["merge", ""], ["report", ""]):
        refused(invoke(*args), "is empty; name a directory (. for the current one)")
    long_name = tmp_path / ("a" * 300)
    for command in ("status", "merge", "report"):
        refused(invoke(command, long_name), "Invalid value for 'out': File name too long")
    refused(invoke("sweep", "batch-size", "--dry-run", "--out", long_name), "File name too long", long_name)
    nested = tmp_path / "x" / ("a" * 300)
    refused(invoke("sweep", "batch-size", "--dry-run", "--out", nested), "at most 255 bytes a name")
    assert not (tmp_path / "x").exists()
    deep = tmp_path / "/".join(["b" * 200] * 25)
    refused(invoke("sweep", "batch-size", "--dry-run", "--out", deep), "File name too long")


def test_usage_errors_are_one_line():
    refused(invoke("sweep", "batch-size", "--seeds", "abc"), "Invalid value for '--seeds'")
    refused(invoke("swep"), "No such command 'swep'")
    refused(invoke("sweep", "--bogus"), "No such option: --bogus")
    assert "Usage" in invoke("sweep", "--help").output
    assert invoke("sweep", "-h").output == invoke("sweep", "--help").output


def test_a_write_that_fails_is_one_line_and_exit_1(tmp_path, monkeypatch):
    out = tmp_path / "res"
    assert invoke("sweep", "batch-size", "--grid", "batch_size=64", "--grid", "epochs=1", "--grid", "N=64",
                  "--grid", "n=2", "--workers", "1", "--out", out).exit_code == 0
    from results import integrity

    def full(*_):
        raise OSError(28, "No space left on device", str(out / ".merge.lock"))

    monkeypatch.setattr(integrity, "clean_temporaries", full)
    result = invoke("merge", out)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "cannot write to" in result.output and "No space left on device" in result.output
