"""Random search through the command line: drawn configurations are ordinary runs, reproducible
by their seed, resumable, shardable and rerun from their manifest."""
import json

import pandas as pd
from typer.testing import CliRunner

from runner.cli import app

SPACE = ["--grid", "lr=0.01:1:log3", "--grid", "x0=-2:2:lin3", "--grid", "iterations=50"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_a_dry_run_lists_the_draws_and_writes_nothing(tmp_path):
    result = invoke("sweep", "gd-1d", *SPACE, "--sample", 5, "--dry-run", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "random search (5 draws, seed 0): 5 runs, 0 done, 5 to run" in result.output
    lines = [line for line in result.output.splitlines() if "[todo]" in line]
    assert len(lines) == 5
    lrs = [float(line.split("lr=")[1].split()[0]) for line in lines]
    assert all(0.01 <= lr <= 1 for lr in lrs) and len(set(lrs)) == 5  # drawn, not the 3 grid points
    assert not (tmp_path / "o").exists()
    again = invoke("sweep", "gd-1d", *SPACE, "--sample", 5, "--dry-run", "--out", tmp_path / "o")
    assert again.output == result.output
    other = invoke("sweep", "gd-1d", *SPACE, "--sample", 5, "--sample-seed", 1, "--dry-run", "--out", tmp_path / "o")
    assert other.output != result.output


def test_a_sharded_random_sweep_resumes_to_the_whole_one_and_reruns_from_its_manifest(tmp_path):
    out, whole = tmp_path / "o", tmp_path / "whole"
    first = invoke("sweep", "gd-1d", *SPACE, "--sample", 4, "--shard", "0/2", "--workers", 1, "--out", out)
    assert first.exit_code == 0, first.output
    rest = invoke("sweep", "gd-1d", *SPACE, "--sample", 4, "--workers", 1, "--out", out)
    assert rest.exit_code == 0 and "4 runs, 2 done, 2 to run" in rest.output, rest.output
    fresh = invoke("sweep", "gd-1d", *SPACE, "--sample", 4, "--workers", 1, "--out", whole)
    assert fresh.exit_code == 0, fresh.output
    resumed, uninterrupted = pd.read_parquet(out / "runs"), pd.read_parquet(whole / "runs")
    assert sorted(resumed.run_id) == sorted(uninterrupted.run_id) and len(resumed) == 4
    columns = ["run_id", "lr", "x0", "status", "final_x"]
    columns = [c for c in columns if c in resumed]
    pd.testing.assert_frame_equal(resumed[columns].sort_values("run_id").reset_index(drop=True),
                                  uninterrupted[columns].sort_values("run_id").reset_index(drop=True))
    manifest = next((out / "sweeps").glob("*.json"))
    record = json.loads(manifest.read_text())
    assert (record["sample"], record["sample_seed"]) == (4, 0)
    rerun = invoke("sweep", "--from", manifest, "--workers", 1)
    assert rerun.exit_code == 0 and "random search (4 draws, seed 0): 4 runs, 4 done, 0 to run" in rerun.output, \
        rerun.output


def test_search_options_that_do_not_fit(tmp_path):
    for args, message in [(["--sample-seed", 3], "--sample-seed needs --sample N"),
                          (["--sample", 0], "--sample must be >= 1"),
                          (["--sample", 3, "--grid", "lr=0:1:lin3"], "must be > 0")]:
        result = invoke("sweep", "gd-1d", *args, "--dry-run", "--out", tmp_path / "o")
        assert result.exit_code == 2 and message in result.output, result.output


def test_a_sweep_file_asks_for_a_random_search(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text('study = "gd-1d"\nsample = 3\nsample_seed = 2\n\n[grid]\nlr = "0.01:1:log2"\n'
                    'iterations = 50\nx0 = "-1:1:lin7"\n')
    from_file = invoke("sweep", "--config", path, "--dry-run", "--out", tmp_path / "o")
    typed = invoke("sweep", "gd-1d", "--grid", "lr=0.01:1:log2", "--grid", "iterations=50", "--grid", "x0=-1:1:lin7",
                   "--sample", 3, "--sample-seed", 2, "--dry-run", "--out", tmp_path / "o")
    assert from_file.exit_code == 0 and "random search (3 draws, seed 2)" in from_file.output, from_file.output
    assert from_file.output == typed.output


def test_a_random_search_on_a_slurm_array_draws_the_same_runs_in_every_task(tmp_path):
    out = tmp_path / "o"
    result = invoke("slurm", "gd-1d", *SPACE, "--sample", 6, "--sample-seed", 3, "--array-size", 3,
                    "--max-array-size", 10, "--out", out)
    assert result.exit_code == 0 and "6 runs in 3 shards" in result.output, result.output
    array = next((out / "slurm").glob("array-*.sbatch")).read_text()
    assert "--sample 6 --sample-seed 3" in array
    warmup = (out / "slurm" / "warmup.sbatch").read_text()
    assert "--sample" not in warmup and "lr=0.01:1:log3" in warmup
