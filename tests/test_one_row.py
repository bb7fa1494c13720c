"""One run, one row: after any sequence of sweeps, reruns, --force, interrupts, kills, merges
and quarantines, ``pandas.read_parquet`` of each table holds every run exactly once, equal to
results.store.load and, once the sweep is complete, to a sweep that was never disturbed."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import results.store
from results.store import load
from runner.cli import app

GRID = ["batch-size", "--grid", "N=64", "--grid", "n=2", "--grid", "epochs=3", "--grid", "batch_size=1,4,16,full",
        "--seeds", "2", "--workers", "1"]
RUNNER = Path(sys.executable).with_name("runner")
OPERATIONS = ("sweep", "force", "merge", "interrupt", "corrupt", "kill")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def read(out: Path, table: str, order: list[str]) -> pd.DataFrame:
    """``pd.read_parquet`` of a table as the README shows it (empty if a quarantine emptied it)."""
    if not list((out / table).glob("*.parquet")):
        return pd.DataFrame(columns=order)
    return pd.read_parquet(out / table).sort_values(order).reset_index(drop=True)


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read(out, "runs", ["run_id"]), read(out, "curves", ["run_id", "epoch"])


def assert_each_run_once(out: Path) -> None:
    runs, curves = tables(out)
    assert runs["run_id"].is_unique, runs["run_id"].value_counts().head()
    assert not curves.duplicated(["run_id", "epoch"]).any()
    loaded = load(out).sort_values("run_id").reset_index(drop=True)
    assert runs["run_id"].tolist() == loaded["run_id"].tolist()
    assert runs["status"].tolist() == loaded["status"].tolist()
    assert len(curves) == (len(load(out, "curves")) if len(curves) else 0)


def interrupted_sweep(out: Path, after: int, monkeypatch) -> None:
    """A --force sweep stopped by Ctrl-C after ``after`` runs are written."""
    real, written = results.store.write_run, []

    def write_then_stop(*args):
        if len(written) == after:
            raise KeyboardInterrupt
        real(*args)
        written.append(1)
    with monkeypatch.context() as patch:
        patch.setattr(results.store, "write_run", write_then_stop)
        assert invoke("sweep", *GRID, "--force", "--out", out).exit_code == 130


def killed_sweep(out: Path) -> None:
    """A --force sweep killed with SIGKILL once it has written a run."""
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")} if (out / "runs").is_dir() else {}
    proc = subprocess.Popen([RUNNER, "sweep", *GRID, "--force", "--out", out], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        now = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("[!p]*.parquet") if p.exists()}
        if any(before.get(p) != t for p, t in now.items()):
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = tmp_path_factory.mktemp("whole") / "out"
    assert invoke("sweep", *GRID, "--out", out).exit_code == 0
    return tables(out)


NUMBERS = ["run_id", "status", "final_loss", "final_rel_loss", "iterations"]


@pytest.mark.parametrize("seed", range(8))
def test_random_sequences_of_operations_keep_one_row_per_run(tmp_path, monkeypatch, undisturbed, seed):
    rng = random.Random(seed)
    out = tmp_path / "out"
    assert invoke("sweep", *GRID, "--out", out).exit_code == 0
    done = []
    for _ in range(7):
        operation = rng.choice(OPERATIONS)
        done.append(operation)
        if operation == "sweep":
            assert invoke("sweep", *GRID, "--out", out).exit_code == 0
        elif operation == "force":
            assert invoke("sweep", *GRID, "--force", "--out", out).exit_code == 0
        elif operation == "merge":
            assert invoke("merge", out).exit_code == 0
        elif operation == "interrupt":
            interrupted_sweep(out, rng.randrange(8), monkeypatch)
        elif operation == "corrupt":  # a truncated file: the next sweep or merge quarantines it
            victim = rng.choice(sorted((out / rng.choice(["runs", "curves"])).glob("*.parquet")))
            victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
        else:
            killed_sweep(out)
        if operation in ("sweep", "force", "merge", "interrupt"):
            assert_each_run_once(out)
    assert invoke("sweep", *GRID, "--out", out).exit_code == 0, done
    assert_each_run_once(out)
    runs, curves = tables(out)
    pd.testing.assert_frame_equal(runs[NUMBERS], undisturbed[0][NUMBERS])
    timing = [c for c in curves.columns if c.endswith("_time_s")]
    pd.testing.assert_frame_equal(curves.drop(columns=timing), undisturbed[1].drop(columns=timing))


def test_a_rerun_after_a_merge_replaces_the_merged_row(tmp_path):
    """The README's pandas recipe after merge, then --force, then a retry of a lost curves part."""
    out = tmp_path / "out"
    assert invoke("sweep", *GRID, "--out", out).exit_code == 0
    assert invoke("merge", out).exit_code == 0
    assert invoke("sweep", *GRID, "--force", "--out", out).exit_code == 0
    assert_each_run_once(out)
    assert len(list((out / "runs").glob("part-*.parquet"))) == 0  # every merged row was written again
    assert invoke("merge", out).exit_code == 0
    next((out / "curves").glob("part-*.parquet")).write_bytes(b"truncated")
    again = invoke("sweep", *GRID, "--out", out)
    assert again.exit_code == 0 and "0 done, 8 to run" in again.output, again.output
    assert_each_run_once(out)
    assert len(pd.read_parquet(out / "runs")) == 8 and len(pd.read_parquet(out / "curves")) == 8 * 4
