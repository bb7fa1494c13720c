"""Reliability: bad input exits 2 before anything runs; the pool survives interrupts, a killed
parent and a killed worker; corrupt and foreign files never crash a reader."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from runner.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("args, message", [
    (["batch-size", "--grid", "lr=1:2:log99999999999999999999"], "a range has 1 to 10000 points"),
    (["batch-size", "--grid", "lr=1:inf:lin3"], "a range needs finite ends"),
    (["lcurve-degree", "--grid", "delta=1e-12"], "at most 1000000 are allowed"),
    (["lcurve-lambda", "--grid", "delta=1e-9"], "at most 1000000 are allowed"),
    (["lcurve-degree", "--grid", "stop=inf"], "stop: must be finite"),
    (["batch-size", "--grid", "noise=inf"], "noise: must be finite"),
    (["gd-1d", "--grid", "x0=nan"], "x0: must be finite"),
    (["gd-1d", "--grid", "lr=1e-3:1:log5000", "--grid", "x0=1:2:lin2000"], "the sweep has 10000000 runs, more than 100000"),
    (["batch-size", "--seeds", "200000"], "more than 100000"),
    (["batch-size", "--max-runs", "0"], "--max-runs must be >= 1"),
    (["gd-1d", "--grid", "lr=1e-3:1:log4", "--grid", "x0=1:2:lin3", "--max-runs", "11"],
     "the sweep has 12 runs, more than 11; pass --max-runs 12"),
    (["batch-size", "--workers", "0"], "--workers must be >= 1"),
    (["digits", "--grid", "activation=sign"], "not an activation with a gradient"),
    (["digits", "--grid", "activation=sigmoid:1:2:3"], "at most two parameters"),
    (["digits", "--grid", "dataset=mnist"], "dataset=mnist needs data_dir=PATH"),
])
def test_bad_input_exits_2_at_once_with_one_line(tmp_path, args, message):
    t0 = time.perf_counter()
    result = invoke("sweep", *args, "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output
    assert time.perf_counter() - t0 < 10  # refused before expanding anything large
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [
    ["digits", "--grid", "model=dense8-prelu:0.05"],
    ["digits", "--grid", "activation=sigmoid:2:1"],
    ["gd-1d", "--grid", "lr=1e-3:1:log4", "--grid", "x0=1:2:lin3", "--max-runs", "12"],
])
def test_colons_in_text_values_and_an_explicit_max_runs_are_accepted(tmp_path, args):
    result = invoke("sweep", *args, "--dry-run", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output


# The worker pool under faults, through the console script.

FAULTY = f"{Path(__file__).with_name('faulty_study.py')}:FaultyStudy"
RUNNER = Path(sys.executable).with_name("runner")


def faulty(tmp_path, mode, *extra, workers=2):
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    return [RUNNER, "sweep", FAULTY, "--grid", f"mode={mode}", "--grid", f"marks={marks}", *extra,
            "--workers", str(workers), "--out", tmp_path / "out"]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def wait_for(path_glob: Path, count: int = 1, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while len(list(path_glob.parent.glob(path_glob.name))) < count:
        assert time.time() < deadline, f"no {path_glob} after {timeout} s"
        time.sleep(0.02)


def test_a_killed_worker_is_retried_once_then_recorded_failed(tmp_path):
    """Run 0 kills its worker on every try (failed, with the reason), run 1 on its first try
    only (retried, ok); the other runs are not disturbed."""
    done = subprocess.run(faulty(tmp_path, "die-once"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "4 ok" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "b").mkdir()
    done = subprocess.run(faulty(tmp_path / "b", "die"), capture_output=True, text=True, timeout=300)
    runs = pd.read_parquet(tmp_path / "b" / "out" / "runs")
    assert done.returncode == 1 and (runs["status"] == "failed").all() and len(runs) == 4
    assert runs["error"].str.fullmatch(r"the worker process was killed by SIGKILL \(2 tries\)").all()
    assert "Traceback" not in done.stderr


def test_sigkill_of_the_sweep_leaves_no_process(tmp_path):
    proc = subprocess.Popen(faulty(tmp_path, "sleep"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(tmp_path / "marks" / "running-*", 2)
    below = descendants(proc.pid)
    assert len(below) >= 3  # the fork server and two workers (and the resource tracker)
    proc.kill()
    proc.wait()
    deadline = time.time() + 5
    while alive(below) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(below)


@pytest.mark.parametrize("attempt", range(5))
def test_ctrl_c_while_a_worker_sends_a_large_result(tmp_path, attempt):
    """SIGINT to the whole group the moment a worker starts sending 4 MB: exit 130, no
    traceback, no hang, no process left, and the finished runs readable."""
    proc = subprocess.Popen(faulty(tmp_path, "big"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_for(tmp_path / "marks" / "sending-*")
    below = descendants(proc.pid)
    time.sleep(0.002 * attempt)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted: kept the" in err
    time.sleep(0.5)
    assert not alive(below)
    if (tmp_path / "out" / "runs").exists():
        pd.read_parquet(tmp_path / "out" / "runs")


@pytest.mark.parametrize("delay", [0.1, 0.3, 0.8, 1.5])
def test_ctrl_c_at_any_moment_of_the_start_prints_one_line(tmp_path, delay):
    proc = subprocess.Popen(faulty(tmp_path, "ok"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130) and "Traceback" not in err and "Error" not in err, err
