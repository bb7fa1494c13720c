"""The L-curve studies: least squares over degree, ridge over λ, the corner finder, and the
penalty and depth sweeps through the CLI."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.lcurve import (
    ALPHA_TRUE,
    LCurveDegree,
    grid,
    make_data,
    poly_basis,
    ridge,
    true_basis,
)
from experiments.lcurve_report import corner, menger_curvature
from runner.cli import app

DEGREE = LCurveDegree()


def run_degree(degree, seed=0, **extra):
    config = DEGREE.normalize({**DEGREE.defaults(), "degree": degree, **extra})
    return DEGREE.run(config, seed).metrics


def test_the_notes_grid_and_data():
    x = grid(0.01, 1.01)
    assert len(x) == 101 and x[0] == 0.01 and x[-1] == pytest.approx(1.01)
    assert [len(grid(d, 1.0)) for d in (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)] == [10, 20, 50, 100, 199, 496, 991]
    y_true, y_train, y_test = make_data(x, 0)
    np.testing.assert_allclose(y_true, 0.3 * x + np.sin(10 * x) + 0.5 * np.exp(2 * x))
    assert np.std(y_train - y_true) == pytest.approx(0.5, rel=0.2) and not np.allclose(y_train, y_test)


def test_degree_100_on_101_points_interpolates():
    assert run_degree(100)["train_norm"] < 1e-10
    assert run_degree(100)["test_norm"] > 5  # and generalizes badly


def test_training_residual_never_increases_with_degree():
    norms = [run_degree(k, seed=3)["train_norm"] for k in range(0, 101, 3)]
    assert np.all(np.diff(norms) <= 1e-12)


def test_qr_basis_is_orthonormal_and_spans_the_monomials():
    x = grid(0.01, 1.01)
    q = poly_basis(x, 7)
    np.testing.assert_allclose(q.T @ q, np.eye(8), atol=1e-12)
    v = np.vander(x, 8, increasing=True)
    np.testing.assert_allclose(q @ (q.T @ v), v, atol=1e-8)


def test_oracle_recovers_the_coefficients_better_on_finer_grids():
    errors = [np.median([run_degree(0, seed=s, basis="oracle", delta=d, stop=1.0)["coef_error"] for s in range(10)])
              for d in (0.1, 0.01, 0.001)]
    assert errors[0] > errors[1] > errors[2]
    x = grid(0.001, 1.0)
    exact = np.linalg.lstsq(true_basis(x), true_basis(x) @ ALPHA_TRUE, rcond=None)[0]
    np.testing.assert_allclose(exact, ALPHA_TRUE, rtol=1e-10)


@pytest.mark.parametrize("lam", [0.0, 1e-3, 0.5, 10.0])
def test_ridge_equals_the_closed_form(lam):
    rng = np.random.default_rng(0)
    a, y = rng.standard_normal((30, 6)), rng.standard_normal(30)
    closed = np.linalg.solve(a.T @ a + lam * np.eye(6), a.T @ y)
    np.testing.assert_allclose(ridge(a, y, lam), closed, rtol=1e-10)


def test_corner_of_a_synthetic_l():
    """A vertical arm and a horizontal arm in log-log coordinates meeting at a known point."""
    vertical = [(1.0, 10.0**k) for k in range(6, 0, -1)]  # ρ fixed, η falls
    horizontal = [(10.0**k, 1.0) for k in np.linspace(0.3, 3, 8)]  # η fixed, ρ grows
    points = np.array(vertical + [(1.0, 1.0)] + horizontal)
    assert corner(points[:, 0], points[:, 1]) == len(vertical)
    # a smooth L: the hyperbola-like curve (t, 1/t⁴) turns hardest near its bend
    t = np.geomspace(0.1, 10, 41)
    rho, eta = 1 + t, 1 + 1 / t**4
    at = corner(rho, eta)
    assert 0.5 < t[at] < 2
    assert menger_curvature(np.arange(3.0), np.arange(3.0))[1] == 0  # a straight line has none


def sweep(*args):
    return CliRunner().invoke(app, ["sweep", *map(str, args)])


def report(out):
    return CliRunner().invoke(app, ["report", str(out)])


def test_degree_and_lambda_studies_through_the_cli(tmp_path):
    assert sweep("lcurve-degree", "--seeds", 5, "--workers", 1, "--out", tmp_path / "d").exit_code == 0
    runs = pd.read_parquet(tmp_path / "d" / "runs")
    assert sorted(runs["degree"].unique()) == [1, 3, 5, 7, 10, 15, 20, 50, 100] and len(runs) == 45
    text = report(tmp_path / "d").output
    assert "Turn of the training curve" in text and (tmp_path / "d" / "figures" / "lcurve_degree.png").exists()
    assert (tmp_path / "d" / "figures" / "lcurve_fitted_polynomials.png").stat().st_size > 20_000  # Fig 1
    oracle = sweep("lcurve-degree", "--grid", "basis=oracle", "--grid", "delta=0.1,0.01", "--grid", "stop=1.0",
                   "--seeds", 2, "--workers", 1, "--out", tmp_path / "d")
    assert oracle.exit_code == 0 and "lcurve_oracle_grid.png" in report(tmp_path / "d").output

    assert sweep("lcurve-lambda", "--seeds", 2, "--workers", 1, "--out", tmp_path / "l").exit_code == 0
    text = report(tmp_path / "l").output
    assert "corner of the L-curve" in text and (tmp_path / "l" / "figures" / "lcurve_lambda.png").exists()


def test_penalty_and_depth_studies_through_the_cli(tmp_path):
    result = sweep("lcurve-penalty", "--grid", "l2=0,0.01,1", "--grid", "epochs=3", "--grid", "model=dense16",
                   "--workers", 1, "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "p" / "runs").set_index("l2")
    assert runs.loc[1.0, "final_train_loss"] > runs.loc[0.0, "final_train_loss"]  # λ = 1 crushes the weights
    assert "against l2" in report(tmp_path / "p").output

    result = sweep("lcurve-depth", "--grid", "depth=0,1,3", "--grid", "data=regression,digits", "--grid", "epochs=5",
                   "--grid", "width=8", "--workers", 1, "--out", tmp_path / "h")
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(tmp_path / "h" / "runs")
    reg = runs[runs["data"] == "regression"].set_index("depth")
    assert reg.loc[0, "n_params"] == 2 and reg.loc[3, "n_params"] == 16 + 2 * 72 + 9
    assert reg["train_mse"].notna().all() and runs.loc[runs["data"] == "digits", "final_test_acc"].notna().all()
    text = report(tmp_path / "h").output
    assert "regression" in text and "digits" in text


@pytest.mark.parametrize("study, args, message", [
    ("lcurve-degree", ["--grid", "degree=101"], "needs more than 101 points"),
    ("lcurve-lambda", ["--grid", "lam=-1"], "lam: must be >= 0"),
    ("lcurve-depth", ["--grid", "depth=-1"], "depth: must be >= 0"),
    ("lcurve-penalty", ["--grid", "l2=-0.1"], "l2: must be >= 0"),
])
def test_bad_lcurve_input_exits_2(tmp_path, study, args, message):
    result = sweep(study, *args, "--out", tmp_path / "o")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()
