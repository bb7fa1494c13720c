"""Plug-in studies: loaded from a file, a module or an entry point, checked against the study
contract, and run through every command like a built-in study (the HPC paths: test_hpc)."""
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments import StudyError, builtin_studies, get_study
from experiments.registry import BUILTIN, check_contract
from results import summary
from results.store import load
from runner.cli import app

EXAMPLE = Path(__file__).parents[1] / "examples" / "tabular.py"
RUNNER = Path(sys.executable).with_name("runner")

HEADER = """
from experiments.study import Param, RunOutput, Study

class Tiny(Study):
    name = "tiny"
    title = "a tiny study"
    params = (Param("a", float, 1.0, "a number"), Param("n", int, 3, "curve length"))
    default_grid = {"a": [1.0, 2.0]}
    metrics = {"square": float}
    curve_columns = {"value": float}
"""
GOOD_RUN = """
    def run(self, config, seed):
        a, n = config["a"], config["n"]
        return RunOutput("ok", {"square": a * a + seed}, {"value": [a * k for k in range(n)]})
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_study(directory: Path, body: str = GOOD_RUN, header: str = HEADER, name: str = "tiny.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(header) + textwrap.indent(textwrap.dedent(body), "    "))
    return path


def test_a_study_from_a_file_sweeps_reports_and_resumes(tmp_path):
    study = write_study(tmp_path)
    out = tmp_path / "out"
    result = invoke("sweep", f"{study}:Tiny", "--seeds", 2, "--workers", 1, "--out", out)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs").sort_values(["a", "seed"])
    assert runs["square"].tolist() == [1.0, 2.0, 4.0, 5.0] and set(runs["study"]) == {"tiny"}
    curves = pd.read_parquet(out / "curves")
    assert len(curves) == 4 * 3 and curves.groupby("run_id")["epoch"].max().eq(2).all()
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert manifest["study_ref"] == f"{study.resolve()}:Tiny" and manifest["resolved"]["a"] == [1.0, 2.0]
    again = invoke("sweep", f"{study}:Tiny", "--seeds", 2, "--workers", 1, "--out", out)
    assert "4 done, 0 to run" in again.output
    report = invoke("report", out)
    assert report.exit_code == 0, report.output
    assert "swept: a" in report.output and "square" in report.output
    assert (out / "figures" / "square_vs_a.png").stat().st_size > 5000
    assert (out / "figures" / "curve_value.png").stat().st_size > 5000
    assert invoke("status", out).exit_code == 0
    assert "a number" in invoke("studies", f"{study}:Tiny").output


def test_the_built_in_studies_keep_the_contract():
    for study in builtin_studies().values():
        check_contract(study)
    assert set(builtin_studies()) == set(BUILTIN)


def test_a_study_from_a_module_beside_the_user(tmp_path, monkeypatch):
    write_study(tmp_path, name="my_tiny_module.py")
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", "my_tiny_module:Tiny", "--workers", 1, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "out" / "runs")) == 2


def test_a_study_registered_by_an_installed_package(tmp_path):
    """An entry point in the group nn_batch_runner.studies, as an installed package declares it
    (a dist-info directory on the path), appears in `runner studies` and sweeps by its name."""
    write_study(tmp_path, name="tinypkg.py")
    info = tmp_path / "tinypkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nn_batch_runner.studies]\ntiny = tinypkg:Tiny\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([RUNNER, "studies"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0 and "tiny" in listed.stdout and "tinypkg:Tiny" in listed.stdout, listed.stderr
    done = subprocess.run([RUNNER, "sweep", "tiny", "--workers", "2", "--out", tmp_path / "out"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(pd.read_parquet(tmp_path / "out" / "runs")["square"]) == [1.0, 4.0]


@pytest.mark.parametrize("header, body, message", [
    (HEADER, "x = 1", "does not implement run"),
    (HEADER.replace('name = "tiny"', 'name = "digits"'), GOOD_RUN, "built-in study"),
    (HEADER.replace('name = "tiny"', 'name = "my study"'), GOOD_RUN, "without spaces"),
    (HEADER.replace('{"a": [1.0, 2.0]}', '{"b": [1]}'), GOOD_RUN, "'b', which is not a parameter"),
    (HEADER.replace('{"a": [1.0, 2.0]}', '{"a": []}'), GOOD_RUN, "non-empty list"),
    (HEADER.replace('{"square": float}', '{"square": list}'), GOOD_RUN, "metrics['square']"),
    (HEADER.replace('{"square": float}', '{"status": float}'), GOOD_RUN, "metric 'status' is already"),
    (HEADER.replace('{"square": float}', '{"a": float}'), GOOD_RUN, "metric 'a' is already a parameter"),
    (HEADER.replace('{"value": float}', '{"epoch": int}'), GOOD_RUN, "curve column 'epoch'"),
    (HEADER.replace('Param("n", int, 3,', 'Param("a", int, 3,'), GOOD_RUN, "'a' is declared twice"),
    (HEADER.replace('Param("n", int, 3,', 'Param("n", list, 3,'), GOOD_RUN, "type must be int"),
    (HEADER.replace("class Tiny", "raise RuntimeError('broken')\nclass Tiny"), GOOD_RUN, "RuntimeError: broken"),
])
def test_a_study_that_breaks_the_contract_exits_2(tmp_path, header, body, message):
    study = write_study(tmp_path, body, header)
    result = invoke("sweep", f"{study}:Tiny", "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(StudyError, match=re.escape(message)):
        get_study(f"{study}:Tiny")


@pytest.mark.parametrize("reference, message", [
    ("no-such-study", "unknown study 'no-such-study'"),
    ("missing.py:Tiny", "no such file"),
    ("{tiny}:Nope", "no subclass of experiments.study.Study called 'Nope'"),
    ("{tiny}:Param", "no subclass"),
    ("no_such_module_xyz:Tiny", "ModuleNotFoundError"),
    ("{tiny}:not-a-name", "expected path/to/file.py:ClassName"),
])
def test_a_study_that_cannot_be_found_exits_2(tmp_path, reference, message):
    tiny = write_study(tmp_path)
    result = invoke("sweep", reference.format(tiny=tiny), "--out", tmp_path / "out")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, message", [
    ('def run(self, config, seed):\n    return RunOutput("ok", {"square": 1.0, "cube": 1.0}, {"value": [1.0]})',
     "returned the metric 'cube', which the study does not declare"),
    ('def run(self, config, seed):\n    return RunOutput("ok", {}, {"value": [1.0]})',
     "did not return the declared metric 'square'"),
    ('def run(self, config, seed):\n    return RunOutput("ok", {"square": 1.0}, {})',
     "did not return the declared curve column 'value'"),
    ('def run(self, config, seed):\n    return RunOutput("ok", {"square": 1.0}, {"value": [1.0], "other": [2.0]})',
     "returned the curve column 'other'"),
    ('def run(self, config, seed):\n    return {"square": 1.0}',
     "run returned dict, not a RunOutput"),
    ('def run(self, config, seed):\n    return RunOutput("fine", {"square": 1.0}, {"value": [1.0]})',
     "status 'fine'"),
])
def test_a_run_that_breaks_its_declaration_is_a_failed_row_naming_the_column(tmp_path, body, message):
    study = write_study(tmp_path, body)
    out = tmp_path / "out"
    result = invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out)
    assert result.exit_code == 1
    runs = pd.read_parquet(out / "runs")
    assert (runs["status"] == "failed").all() and runs["error"].str.contains(message, regex=False).all(), runs["error"]


def test_curves_of_one_run_have_one_length(tmp_path):
    header = HEADER.replace('{"value": float}', '{"value": float, "other": float}')
    body = ('def run(self, config, seed):\n'
            '    return RunOutput("ok", {"square": 1.0}, {"value": [1.0, 2.0], "other": [1.0]})')
    study = write_study(tmp_path, body, header)
    invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", tmp_path / "out")
    runs = pd.read_parquet(tmp_path / "out" / "runs")
    assert runs["error"].str.contains("curves of one run differ in length: value 2, other 1").all()


def test_the_example_study_through_the_console_script(tmp_path):
    """examples/tabular.py on its CSV: sweep on 2 workers, report, status, dry run of a shard."""
    out = tmp_path / "out"
    done = subprocess.run([RUNNER, "sweep", f"{EXAMPLE}:TabularStudy", "--seeds", "2", "--workers", "2",
                           "--out", out], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 6 and (runs["status"] == "ok").all() and (runs["n_params"] == 13 * 32 + 32 + 32 * 3 + 3).all()
    assert runs.groupby("lr")["final_test_acc"].median().max() > 0.9  # wine is an easy table
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert manifest["command"][1:] == ["sweep", f"{EXAMPLE}:TabularStudy", "--seeds", "2", "--workers", "2",
                                       "--out", str(out)]
    report = subprocess.run([RUNNER, "report", out], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "final_test_acc" in report.stdout, report.stderr
    assert subprocess.run([RUNNER, "status", out], capture_output=True, timeout=120).returncode == 0
    merged = subprocess.run([RUNNER, "merge", out], capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0 and "runs: 6 files -> 1" in merged.stdout, merged.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs").sort_values("run_id").reset_index(drop=True),
                                  runs.sort_values("run_id").reset_index(drop=True))
    warm = subprocess.run([RUNNER, "warm", f"{EXAMPLE}:TabularStudy"], capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0 and "tabular: compiled" in warm.stdout, warm.stderr


def test_slurm_scripts_name_the_plugin_and_take_the_directives(tmp_path):
    result = invoke("slurm", f"{EXAMPLE}:TabularStudy", "--array-size", 2, "--out", tmp_path / "out",
                    "--max-array-size", 10, "--mem", "4G", "--account", "proj1", "--qos", "short",
                    "--gres", "gpu:1", "--constraint", "avx512", "--sbatch", "#SBATCH --mail-type=END")
    assert result.exit_code == 0, result.output
    script = (tmp_path / "out" / "slurm" / "array-0.sbatch").read_text()
    for line in ("#SBATCH --mem=4G", "#SBATCH --account=proj1", "#SBATCH --qos=short", "#SBATCH --gres=gpu:1",
                 "#SBATCH --constraint=avx512", "#SBATCH --mail-type=END", f"sweep {EXAMPLE}:TabularStudy"):
        assert line in script
    assert f"warm {EXAMPLE}:TabularStudy" in (tmp_path / "out" / "slurm" / "warmup.sbatch").read_text()
    bad = invoke("slurm", "digits", "--array-size", 2, "--out", tmp_path / "o2", "--sbatch", "--mem=4G")
    assert bad.exit_code == 2 and "expected one line '#SBATCH" in bad.output


def test_the_readme_study_runs_as_shown(tmp_path, monkeypatch):
    """The README's "Write your own study" example, copied from the README, swept as shown."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Write your own study")[1]
    (tmp_path / "mystudy.py").write_text(section.split("```python\n")[1].split("```")[0])
    monkeypatch.chdir(tmp_path)
    result = invoke("sweep", "mystudy.py:Quadratic", "--grid", "a=0.5,2", "--seeds", 3, "--workers", 1)
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "out" / "quadratic" / "runs")
    assert len(runs) == 2 * 3 * 3
    one = runs[(runs["a"] == 0.5) & (runs["lr"] == 0.1) & (runs["seed"] == 0)]
    assert one["final"].item() == pytest.approx(0.9**20)  # x ← (1 − 2·a·lr) x, twenty times
    assert invoke("report", tmp_path / "out" / "quadratic").exit_code == 0


def test_a_study_that_gains_a_metric_between_sweeps_still_reads(tmp_path):
    """Version 2 of a study adds a parameter and a metric; its results sit beside version 1's
    in one directory: every reader, report and merge takes both (missing values are null)."""
    study = write_study(tmp_path)
    out = tmp_path / "out"
    assert invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out).exit_code == 0
    header = HEADER.replace('Param("n", int, 3, "curve length"))',
                            'Param("n", int, 3, "curve length"), Param("extra", int, 0, "new"))')
    header = header.replace('{"square": float}', '{"square": float, "cube": float}')
    body = GOOD_RUN.replace('{"square": a * a + seed}', '{"square": a * a + seed, "cube": a ** 3}')
    write_study(tmp_path, body, header, name="tiny2.py")
    assert invoke("sweep", f"{tmp_path / 'tiny2.py'}:Tiny", "--grid", "a=3", "--workers", 1,
                  "--out", out).exit_code == 0
    runs = load(out).sort_values("a")
    assert runs["square"].tolist() == [1.0, 4.0, 9.0] and runs["cube"].isna().tolist() == [True, True, False]
    assert summary.parameters(runs) == ["a", "n", "extra"] and "cube" in summary.metrics(runs)
    assert invoke("report", out).exit_code == 0
    assert invoke("merge", out).exit_code == 0 and len(pd.read_parquet(out / "runs")) == 3


def test_an_edited_plug_in_study_is_refused_until_forced(tmp_path):
    """The study's source digest is in the manifest and every row; finished runs of an older
    version are not skipped silently (dry run included), --force reruns them."""
    study = write_study(tmp_path)
    out = tmp_path / "out"
    assert invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out).exit_code == 0
    digest = hashlib.sha256(study.read_bytes()).hexdigest()
    manifest = json.loads(next((out / "sweeps").glob("*.json")).read_text())
    assert manifest["study_digest"] == digest and set(pd.read_parquet(out / "runs")["study_digest"]) == {digest}
    study.write_text(study.read_text() + "\n# an edit\n")
    get_study.cache_clear()
    for extra in ([], ["--dry-run"]):
        refused = invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out, *extra)
        assert refused.exit_code == 2 and "changed since 2 of its runs" in refused.output, refused.output
        assert "--force" in refused.output and refused.output.count("\n") == 1
    forced = invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out, "--force")
    assert forced.exit_code == 0 and "0 done, 2 to run" in forced.output
    new = hashlib.sha256(study.read_bytes()).hexdigest()
    assert set(pd.read_parquet(out / "runs")["study_digest"]) == {new}
    assert "2 done, 0 to run" in invoke("sweep", f"{study}:Tiny", "--workers", 1, "--out", out).output


def test_the_examples_import_only_the_public_api():
    import ast

    project = ("kernels", "experiments", "runner", "results")
    for path in (Path(__file__).parents[1] / "examples").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        inside = [n for n in names if n.split(".")[0] in project]
        assert inside and set(inside) == {"experiments.api"}, (path, inside)


def test_a_plugin_that_trains_through_the_api_runs_on_the_cuda_target_as_on_the_cpu(tmp_path):
    """examples/tabular.py on numba-cuda's simulator (conftest sets it where there is no GPU)."""
    losses = {}
    for target in ("cpu", "cuda"):
        out = tmp_path / target
        result = invoke("sweep", f"{EXAMPLE}:TabularStudy", "--grid", "epochs=3", "--grid", "lr=0.01",
                        "--target", target, "--workers", 1, "--out", out)
        assert result.exit_code == 0, result.output
        run = pd.read_parquet(out / "runs").iloc[0]
        assert run["status"] == "ok" and run["target"] == target
        losses[target] = pd.read_parquet(out / "curves")["train_loss"].to_numpy()
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-9)


def test_api_train_takes_labels_or_real_targets():
    from experiments.api import train

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    labels = (x[:, 0] > 0).astype(int)
    classify = train("dense8", x, labels, seed=0, epochs=20, batch_size=8, lr=0.05, test=(x[:10], labels[:10]))
    assert classify.status == "ok" and classify.metrics["final_train_acc"] > 0.9
    assert len(classify.curves["train_loss"]) == 21 and classify.metrics["n_params"] == 3 * 8 + 8 + 8 * 2 + 2
    again = train("dense8", x, labels, seed=0, epochs=20, batch_size=8, lr=0.05, test=(x[:10], labels[:10]))
    np.testing.assert_array_equal(again.params, classify.params)  # the seed fixes the run
    regress = train("dense8", x, x @ [1.0, -2.0, 0.5], loss="mse", seed=1, epochs=50, batch_size=40, lr=0.05)
    assert regress.metrics["final_train_loss"] < regress.curves["train_loss"][0] / 10
    assert np.isnan(regress.metrics["final_train_acc"])
    with pytest.raises(ValueError, match="integer class labels"):
        train("dense8", x, x[:, 0], seed=0, epochs=1, batch_size=8)


def test_the_image_example_trains_a_cnn_on_an_own_npz(tmp_path):
    """examples/images.py: bright against dark 6×6 images, (N, H, W) uint8, labels 0 and 1."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 120)
    x = (rng.integers(0, 100, (120, 6, 6)) + 120 * labels[:, None, None]).astype(np.uint8)
    np.savez(tmp_path / "mine.npz", x=x, y=labels)
    example = Path(__file__).parents[1] / "examples" / "images.py"
    out = tmp_path / "out"
    result = invoke("sweep", f"{example}:ImageStudy", "--grid", f"data={tmp_path / 'mine.npz'}", "--grid",
                    "model=conv4x3p1-pool2-dense8", "--grid", "lr=0.01", "--grid", "epochs=8", "--workers", 1,
                    "--out", out)
    assert result.exit_code == 0, result.output
    run = pd.read_parquet(out / "runs").iloc[0]
    assert run["n_params"] == 4 * 9 + 4 + 4 * 3 * 3 * 8 + 8 + 8 * 2 + 2 and run["final_test_acc"] > 0.9
    bad = invoke("sweep", f"{example}:ImageStudy", "--grid", f"data={tmp_path / 'mine.npz'}", "--grid",
                 "batch_size=500", "--dry-run", "--out", out)
    assert bad.exit_code == 2 and "more than the 90 training images" in bad.output
