"""Reliability: bad input exits 2 before anything runs; the pool survives interrupts, a killed
parent and a killed worker; corrupt and foreign files never crash a reader."""
import json
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
    (["gd-1d", "--grid", "lr=1e-3:1:log5000", "--grid", "x0=1:2:lin2000"],
     "the sweep has 10000000 runs, more than 100000"),
    (["batch-size", "--seeds", "200000"], "more than 100000"),
    (["batch-size", "--max-runs", "0"], "--max-runs must be >= 1"),
    (["gd-1d", "--grid", "lr=1e-3:1:log4", "--grid", "x0=1:2:lin3", "--max-runs", "11"],
     "the sweep has 12 runs, more than 11; pass --max-runs 12"),
    (["batch-size", "--workers", "0"], "--workers must be >= 1"),
    (["digits", "--grid", "activation=sign"], "not an activation with a gradient"),
    (["digits", "--grid", "activation=sigmoid:1:2:3"], "at most two parameters"),
    (["digits", "--grid", "model=dense8-prelu:nan"], "parameters must be finite"),
    (["digits", "--grid", "activation=sigmoid:inf:1"], "parameters must be finite"),
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


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_while_a_worker_sends_a_large_result(tmp_path, attempt):
    """SIGINT while a worker is blocked in the middle of sending 4 MB (made certain by
    stopping the sweep until the worker has filled the pipe): exit 130, no traceback, no hang,
    no process left, the finished runs readable."""
    proc = subprocess.Popen(faulty(tmp_path, "big"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_for(tmp_path / "marks" / "sending-*", attempt + 1)
    os.kill(proc.pid, signal.SIGSTOP)  # the sweep stops reading ...
    time.sleep(0.5)  # ... so the worker fills the 64 kB pipe and blocks mid-message
    below = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, to the whole group
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted: kept the" in err
    time.sleep(0.5)
    assert not alive(below)
    if (tmp_path / "out" / "runs").exists():
        pd.read_parquet(tmp_path / "out" / "runs")


INTERRUPT_AT = Path(__file__).with_name("interrupt_at.py")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("stage, ends", [("loading", "quietly"), ("parsing", "quietly"), ("command", "quietly"),
                                         ("fork-server", "quietly"), ("studies", "quietly"),
                                         ("ended", "normally")])
def test_a_signal_at_any_moment_of_the_start_exits_quietly_with_its_code(tmp_path, stage, ends, signum):
    """The signal is sent at one exact moment (tests/interrupt_at.py), not after a delay."""
    args = [str(a) for a in faulty(tmp_path, "ok")[1:]]
    done = subprocess.run([sys.executable, INTERRUPT_AT, stage, str(int(signum)), *args], capture_output=True,
                          text=True, timeout=120)
    if ends == "normally":  # after the command: ignored, the exit keeps the command's code
        assert done.returncode == 0 and "4 runs: 4 ok" in done.stdout, done.stdout + done.stderr
    else:
        assert done.returncode == 128 + signum and done.stderr == "", done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_mid_sweep_keeps_the_finished_runs_and_a_rerun_equals_an_uninterrupted_sweep(tmp_path):
    """What SLURM sends at a time limit: one line, exit 143, no temporary file, no process left;
    the rerun resumes, and the results are those of a sweep that was never stopped, bit for bit."""
    grid = ["batch-size", "--grid", "N=4096", "--grid", "n=4", "--grid", "epochs=2000", "--grid", "batch_size=1",
            "--grid", "lr=0.01:0.06:lin6", "--workers", "2"]  # about a second per run
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    proc = subprocess.Popen([RUNNER, "sweep", *grid, "--out", stopped], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(stopped / "runs" / "*.parquet", 1)
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.startswith("stopped by SIGTERM: kept the "), err
    assert err.count("\n") == 1 and "Traceback" not in err
    time.sleep(0.5)
    assert not alive(below) and not list(stopped.rglob(".*.tmp"))
    kept = len(list((stopped / "runs").glob("*.parquet")))
    assert 1 <= kept < 6
    rerun = subprocess.run([RUNNER, "sweep", *grid, "--out", stopped], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0 and f"{kept} done, {6 - kept} to run" in rerun.stdout, rerun.stdout
    assert subprocess.run([RUNNER, "sweep", *grid, "--out", whole], capture_output=True).returncode == 0
    for table in ("runs", "curves"):
        a, b = (pd.read_parquet(d / table).sort_values(["run_id", *(["epoch"] * (table == "curves"))])
                for d in (stopped, whole))
        numbers = [c for c in a.columns if c.endswith(("loss", "accuracy", "norm"))]
        assert len(a) == len(b) and a["run_id"].tolist() == b["run_id"].tolist()
        assert a[numbers].to_numpy().tobytes() == b[numbers].to_numpy().tobytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_past_its_time_limit_is_a_failed_row_and_the_sweep_goes_on(tmp_path, workers):
    command = faulty(tmp_path, "sleep", "--grid", "seconds=0.01,60", "--grid", "index=0,1", "--run-timeout", "2",
                     workers=workers)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - t0 < 40  # the two 60 s runs were stopped
    assert done.returncode == 1 and "2 ok, 0 diverged, 2 failed" in done.stdout, done.stdout + done.stderr
    runs = pd.read_parquet(tmp_path / "out" / "runs").set_index("seconds")
    assert (runs.loc[60.0, "error"] == "timed out after 2 s").all() and (runs.loc[0.01, "status"] == "ok").all()


# Results directories with corrupt, foreign and abandoned files.

QUICK = ["batch-size", "--grid", "N=64", "--grid", "n=2", "--grid", "epochs=3", "--grid", "batch_size=1,4,16,full"]


@pytest.fixture
def swept(tmp_path) -> Path:
    out = tmp_path / "out"
    result = invoke("sweep", *QUICK, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_corrupt_and_foreign_files_are_named_rerun_and_quarantined(swept):
    runs = sorted((swept / "runs").glob("*.parquet"))
    curves = sorted((swept / "curves").glob("*.parquet"))
    runs[0].write_bytes(runs[0].read_bytes()[:100])  # truncated
    runs[1].write_bytes(b"garbage" * 100)
    curves[2].write_bytes(curves[2].read_bytes()[:-30])  # a truncated curves file
    (swept / "runs" / "notes.txt").write_text("my notes")
    next((swept / "sweeps").glob("*.json")).with_name("bad.json").write_text("{oops")
    status = invoke("status", swept)
    assert status.exit_code == 1, status.output
    for name in (runs[0].name, runs[1].name, curves[2].name, "notes.txt", "bad.json"):
        assert f"/{name}: " in status.output
    assert "4 runs: 1 ok, 0 diverged, 0 failed, 3 missing; 5 unreadable files" in status.output
    assert len(invoke("report", swept).output) > 0  # readers skip what they cannot read
    again = invoke("sweep", *QUICK, "--workers", 1, "--out", swept)
    assert again.exit_code == 0 and "1 done, 3 to run" in again.output, again.output
    assert again.output.count("quarantined") == 5
    assert len(pd.read_parquet(swept / "runs")) == 4 and len(pd.read_parquet(swept / "curves")) == 4 * 4
    assert sorted(p.name for p in (swept / "quarantine" / "runs").iterdir()) == sorted([runs[0].name, runs[1].name,
                                                                                          "notes.txt"])
    assert invoke("status", swept).exit_code == 0


def test_merge_quarantines_and_merges_lock_each_other(swept):
    (swept / "curves" / "stray.bin").write_bytes(b"\x00" * 10)
    result = invoke("merge", swept)
    assert result.exit_code == 0 and "quarantined" in result.output and "runs: 4 files -> 1" in result.output
    assert (swept / "quarantine" / "curves" / "stray.bin").exists()
    procs = [subprocess.Popen([RUNNER, "merge", swept], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    for _ in range(3):
        redo = invoke("sweep", *QUICK, "--force", "--workers", 1, "--out", swept)
        assert redo.exit_code == 0
    assert all(p.wait(timeout=120) == 0 for p in procs), [p.stderr.read() for p in procs]
    assert subprocess.run([RUNNER, "merge", swept], capture_output=True).returncode == 0
    assert len(pd.read_parquet(swept / "runs")) == 4 and len(pd.read_parquet(swept / "curves")) == 4 * 4


def test_abandoned_temporary_files_are_removed_and_live_ones_kept(swept):
    import socket

    host = socket.gethostname()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names no running process now
    abandoned = swept / "runs" / f".x.parquet.{host}.{dead.pid}.abcd1234.tmp"
    live = swept / "runs" / f".y.parquet.{host}.{os.getpid()}.abcd1234.tmp"
    old_foreign = swept / "curves" / ".z.parquet.elsewhere.example.org.1.abcd1234.tmp"
    for path in (abandoned, live, old_foreign):
        path.write_bytes(b"partial")
    os.utime(old_foreign, (time.time() - 2 * 86400,) * 2)
    assert invoke("sweep", *QUICK, "--workers", 1, "--out", swept).exit_code == 0
    assert not abandoned.exists() and live.exists() and not old_foreign.exists()


def test_a_full_disk_is_one_line_and_keeps_the_finished_runs(tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    write_table, calls = pq.write_table, []

    def filling(table, where, **kwargs):
        calls.append(where)
        if len(calls) > 4:  # two runs' files fit
            Path(where).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_table(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", filling)
    out = tmp_path / "out"
    result = invoke("sweep", *QUICK, "--workers", 1, "--out", out)
    assert result.exit_code == 1 and result.output.count("\n") == 4, result.output  # header, 2 progress, error
    assert "error: cannot write to" in result.output and "No space left on device; kept the 2 finished runs" \
        in result.output
    assert len(pd.read_parquet(out / "runs")) == 2
    assert not [p for p in out.rglob(".*.tmp")]  # the half-written temporary file is gone


def test_same_bits_whatever_the_worker_count_or_executor(tmp_path):
    """A float32 CNN with dropout, the arithmetic most sensitive to threads and order."""
    args = ["digits", "--grid", "model=conv4x3-pool2-dropout0.3-dense16", "--grid", "dtype=float32",
            "--grid", "epochs=2", "--grid", "train_size=300", "--seeds", "2"]
    finals = []
    for options in (["--workers", "1"], ["--workers", "2"], ["--executor", "dask", "--workers", "2"]):
        out = tmp_path / "-".join(options)
        done = subprocess.run([RUNNER, "sweep", *args, *options, "--out", out], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        runs = pd.read_parquet(out / "runs").sort_values("run_id")
        assert (runs["threads"] == 1).all()
        finals.append(runs["final_train_loss"].to_numpy())
    assert finals[0].tobytes() == finals[1].tobytes() == finals[2].tobytes()


def test_a_closed_stdout_does_not_stop_the_sweep(tmp_path):
    """`runner sweep ... | head -2`: the output stops, the sweep goes on to its end."""
    out = tmp_path / "out"
    done = subprocess.run(f"{RUNNER} sweep {' '.join(QUICK)} --workers 2 --out {out} | head -2", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.count("\n") == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(pd.read_parquet(out / "runs")) == 4


# A results directory is data: nothing it names is imported.

EVIL = '''
import pathlib
pathlib.Path(__file__).with_name("PWNED").touch()
from experiments.study import Param, RunOutput, Study


class Evil(Study):
    name = "evil"
    title = "a study that marks its import"
    params = (Param("a", float, 1.0, "a number"),)
    default_grid = {"a": [1.0, 2.0]}
    metrics = {"square": float}
    curve_columns = {}

    def run(self, config, seed):
        return RunOutput("ok", {"square": config["a"] ** 2}, {})
'''


@pytest.fixture
def evil_sweep(tmp_path) -> tuple[Path, Path]:
    """A sweep of a plug-in study in a file that marks every import of it (then removed)."""
    study = tmp_path / "evil.py"
    study.write_text(EVIL)
    out = tmp_path / "out"
    assert invoke("sweep", f"{study}:Evil", "--workers", 1, "--out", out).exit_code == 0
    (tmp_path / "PWNED").unlink()
    return study, out


def test_sweep_from_a_manifest_imports_nothing_it_names(evil_sweep, tmp_path):
    study, out = evil_sweep
    manifest = next((out / "sweeps").glob("*.json"))
    refused = subprocess.run([RUNNER, "sweep", "--from", manifest], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "neither built in nor installed" in refused.stderr, refused.stderr
    assert f"runner sweep '{study}:Evil' --from {manifest}" in refused.stderr
    assert not (tmp_path / "PWNED").exists()
    named = subprocess.run([RUNNER, "sweep", f"{study}:Evil", "--from", manifest], capture_output=True, text=True,
                           timeout=120)
    assert named.returncode == 0 and "2 done, 0 to run" in named.stdout, named.stderr  # typed by the user: loaded
    other = invoke("sweep", "gd-1d", "--from", manifest)
    assert other.exit_code == 2 and "the sweep is of study 'evil', not 'gd-1d'" in other.output


def test_report_and_status_import_nothing_a_results_directory_names(evil_sweep, tmp_path):
    study, out = evil_sweep
    (out / "helper.py").write_text(EVIL)  # a module beside the results, named by the manifest
    manifest = next((out / "sweeps").glob("*.json"))
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**record, "study_ref": "helper:Evil"}))
    for command in (["report", "."], ["status", "."], ["merge", "."], ["report", ".", "--format", "json"]):
        done = subprocess.run([RUNNER, *command], capture_output=True, text=True, timeout=120, cwd=out)
        assert done.returncode == 0, done.stderr
        assert not (tmp_path / "PWNED").exists() and not (out / "PWNED").exists(), command
    text = subprocess.run([RUNNER, "report", "."], capture_output=True, text=True, timeout=120, cwd=out).stdout
    assert "study 'evil' is a plug-in" in text and "--study 'helper:Evil'" in text
    own = invoke("report", out, "--study", f"{study}:Evil")
    assert own.exit_code == 0 and "is a plug-in" not in own.output
    wrong = invoke("report", out, "--study", "gd-1d")
    assert wrong.exit_code == 2 and "holds runs of study 'evil', not of 'gd-1d'" in wrong.output


@pytest.mark.parametrize("link", ["runs", "curves/x.parquet", "quarantine", "figures", ".merge.lock"])
def test_a_symbolic_link_in_the_results_tree_is_refused(swept, tmp_path, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.parquet").write_bytes(b"someone else's file")
    if link == "runs":
        for f in (swept / "runs").iterdir():
            f.rename(elsewhere / f.name)
        (swept / "runs").rmdir()
    (swept / link).symlink_to(elsewhere / "keep.parquet" if link.endswith((".parquet", ".lock")) else elsewhere)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in elsewhere.iterdir())
    for command in (["merge"], ["status"], ["report"], ["sweep", *QUICK, "--workers", 1, "--out"]):
        result = invoke(*command, swept)
        assert result.exit_code == 2 and "is a symbolic link" in result.output, (command, result.output)
        assert result.output.count("\n") == 1
    assert sorted((p.name, p.stat().st_mtime_ns) for p in elsewhere.iterdir()) == before


def test_foreign_parquet_files_are_quarantined_not_merged(swept, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"run_id": ["x"]}), swept / "runs" / "only-an-id.parquet")
    other = tmp_path / "gd"
    assert invoke("sweep", "gd-1d", "--grid", "lr=0.1", "--grid", "x0=1", "--workers", 1, "--out", other).exit_code == 0
    stray = next((other / "runs").glob("*.parquet")).name
    for table in ("runs", "curves"):
        (other / table / stray).rename(swept / table / stray)
    status = invoke("status", swept)
    assert "only-an-id.parquet: not a file of the runs table (no study, status, finished_at column)" in status.output
    assert f"{stray}: runs of study 'gd-1d', not of 'batch-size'" in status.output, status.output
    assert f"curves/{stray}: the curves of a run of another study" in status.output
    merged = invoke("merge", swept)
    assert merged.exit_code == 0 and merged.output.count("quarantined") == 3, merged.output
    assert sorted(p.name for p in (swept / "quarantine" / "runs").iterdir()) == sorted(["only-an-id.parquet", stray])
    runs = pd.read_parquet(swept / "runs")
    assert len(runs) == 4 and set(runs["study"]) == {"batch-size"} and len(pd.read_parquet(swept / "curves")) == 16


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_dask_sweep_with_one_line(tmp_path, signum):
    """The local Dask cluster's threads and processes never see the signal (blocked when
    they start); the sweep closes them and says one line."""
    command = [*faulty(tmp_path, "sleep", "--grid", "index=0,1,2", "--executor", "dask"), "--grid", "seconds=60"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(tmp_path / "marks" / "running-*", 2)
    os.killpg(proc.pid, signum)  # to the whole group, as a terminal's Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert err == f"{'interrupted' if signum == signal.SIGINT else 'stopped by SIGTERM'}: kept the 0 finished runs; " \
                  "run the same command again to resume\n", err
