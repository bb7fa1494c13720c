"""Sweep files (--config), reruns of a recorded sweep (--from) and the CLI's conventions."""
import json
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from runner.cli import app

SWEEP_TOML = """\
# a small batch-size sweep
study = "batch-size"
seeds = 2
workers = 1

[grid]
N = 256
n = 4
epochs = 5
batch_size = [1, 16, "full"]
lr = "0.1:0.2:lin2"
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str = SWEEP_TOML) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_a_sweep_file_runs_its_sweep(tmp_path):
    out = tmp_path / "out"
    result = invoke("sweep", "--config", write(tmp_path), "--out", out)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 3 * 2 * 2 and set(runs["lr"]) == {0.1, 0.2} and set(runs["n_samples"]) == {256}
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert manifest["resolved"]["batch_size"] == [1, 16, 256] and manifest["seeds"] == 2


def test_the_command_line_overrides_the_file(tmp_path):
    result = invoke("sweep", "--config", write(tmp_path), "--grid", "batch_size=4", "--grid", "lr=0.3",
                    "--seeds", 1, "--dry-run", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "1 runs, 0 done, 1 to run" in result.output
    aliased = invoke("sweep", "--config", write(tmp_path), "--grid", "n_samples=512", "--dry-run",
                     "--out", tmp_path / "o")
    assert "12 runs" in aliased.output  # n_samples replaces the file's N, its alias


@pytest.mark.parametrize("text, message", [
    ("study = \"batch-size\"\nseeds = \n", "sweep.toml: Invalid value (at line 2, column 9)"),
    ("study = \"batch-size\"\n\nworkerz = 2\n", "sweep.toml line 3: workerz: unknown key"),
    ("study = \"batch-size\"\nseeds = \"two\"\n", "sweep.toml line 2: seeds: expected a int, got 'two'"),
    ("study = \"batch-size\"\n[grid]\nN = 256\nlr = -1\n", "sweep.toml line 4: grid.lr: lr: must be > 0"),
    ("study = \"batch-size\"\n[grid]\nbogus = 1\n", "sweep.toml line 3: grid.bogus: --grid: unknown parameter 'bogus'"),
    ("study = \"batch-size\"\n[grid]\nlr = [[1]]\n", "sweep.toml line 3: grid.lr: expected a value or a list"),
    ("seeds = 2\n", "no study given"),
    ("study = \"nope\"\n", "unknown study 'nope'"),
])
def test_a_bad_sweep_file_exits_2_naming_line_and_key(tmp_path, text, message):
    result = invoke("sweep", "--config", write(tmp_path, text), "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_from_a_manifest_reruns_exactly_that_sweep(tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", "--config", write(tmp_path), "--out", out).exit_code == 0
    manifest = next((out / "sweeps").glob("*.json"))
    before = pd.read_parquet(out / "runs").set_index("run_id")
    lost = sorted((out / "runs").glob("*.parquet"))[:3]
    for f in lost:
        f.unlink()
    result = invoke("sweep", "--from", manifest, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert f"sweep {manifest.stem}: batch-size, 12 runs, 9 done, 3 to run -> {out}" in result.output
    after = pd.read_parquet(out / "runs").set_index("run_id").loc[before.index]
    assert (after["final_loss"] == before["final_loss"]).all()
    assert len(list((out / "sweeps").glob("*.json"))) == 1


def test_from_refuses_changes_and_bad_manifests(tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", "--config", write(tmp_path), "--out", out).exit_code == 0
    manifest = next((out / "sweeps").glob("*.json"))
    changed = invoke("sweep", "--from", manifest, "--grid", "lr=0.5")
    assert changed.exit_code == 2 and "--from reruns a recorded sweep: it takes no --grid" in changed.output
    edited = json.loads(manifest.read_text())
    edited["run_ids"] = edited["run_ids"][1:]
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    other = invoke("sweep", "--from", tmp_path / "edited.json", "--out", out)
    assert other.exit_code == 2 and "expands this sweep to other runs" in other.output
    (tmp_path / "junk.json").write_text("{not json")
    junk = invoke("sweep", "--from", tmp_path / "junk.json")
    assert junk.exit_code == 2 and "not a sweep manifest" in junk.output


def test_version_and_completion():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"runner (nn-batch-runner) {version('nn-batch-runner')}"
    assert "--install-completion" in invoke("--help").output


def test_workers_must_be_positive(tmp_path):
    result = invoke("sweep", "batch-size", "--workers", 0, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--workers must be >= 1, got 0" in result.output
