"""The batch-size study: data, the exact minimizer (8.17), metrics of a run."""
import numpy as np
import pytest

from experiments import get_study
from experiments.batch_size import (
    exact_minimizer,
    features,
    first_reach,
    make_data,
    mse,
)

STUDY = get_study("batch-size")


def small(**overrides):
    return STUDY.normalize({**STUDY.defaults(), "n_samples": 256, "n_outputs": 4, "epochs": 30, **overrides})


def test_exact_minimizer_matches_lstsq_and_normal_equations():
    x, y = make_data(500, 6, 0.1, seed=0)
    xhat = features(x, 3)
    w = exact_minimizer(xhat, y)
    np.testing.assert_allclose(w, np.linalg.lstsq(xhat, y, rcond=None)[0], rtol=1e-10, atol=1e-12)
    a_min = (y.T @ xhat) @ np.linalg.inv(xhat.T @ xhat)  # (8.17), A = Wᵀ
    np.testing.assert_allclose(w.T, a_min, rtol=1e-8, atol=1e-10)
    gradient = (2 / len(x)) * (xhat @ w - y).T @ xhat  # (8.16) vanishes at the minimizer
    assert np.abs(gradient).max() < 1e-12
    assert mse(xhat, w, y) > 0  # L_min > 0: (8.18) is defined


def test_data_depends_on_seed_only():
    a, b, c = make_data(10, 2, 0.1, 1), make_data(10, 2, 0.1, 1), make_data(10, 2, 0.1, 2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_full_alias_is_gd_and_batch_larger_than_n_is_rejected():
    assert small(batch_size=0)["batch_size"] == 256
    with pytest.raises(ValueError, match="larger than n_samples"):
        small(batch_size=512)


def test_first_reach():
    assert first_reach(np.array([1.0, 0.5, 0.03, 0.05, 0.01]), 0.04) == 2
    assert first_reach(np.array([1.0, 0.5]), 0.04) is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_run_metrics(dtype):
    out = STUDY.run(small(batch_size=16, dtype=dtype), seed=0)
    m = out.metrics
    assert out.status == "ok" and m["method"] == "sgd"
    assert m["iterations"] == 30 * 256 // 16 and m["epochs_done"] == 30
    rel = out.curves["rel_loss"]
    assert len(rel) == 31 and rel.min() > -1e-6  # never below the exact minimum
    assert rel[-1] < rel[0] / 10
    np.testing.assert_allclose(out.curves["loss"] / m["l_min"] - 1, rel)
    assert m["final_rel_loss"] == rel[-1]
    assert m["mean_rel_loss_last50"] == pytest.approx(np.mean(rel[1:]))  # 30 < 50 epochs: all
    reach = m["epochs_to_target"]
    assert reach == first_reach(rel, 0.04)
    # checked after every step (16 steps per epoch, 64 checks asked): reached at or before the
    # end of epoch `reach`, after the end of the epoch before it
    assert (reach - 1) * 16 < m["steps_to_target"] <= reach * 16
    times = out.curves["train_time_s"]
    assert times[reach - 1] <= m["time_to_target_s"] <= times[reach]
    assert m["time_per_iter_s"] == pytest.approx(m["train_time_s"] / m["iterations"])


def test_without_checks_the_target_is_timed_at_epoch_ends():
    out = STUDY.run(small(batch_size=16, checks_per_epoch=0), seed=0)
    reach = out.metrics["epochs_to_target"]
    assert out.metrics["steps_to_target"] == reach * 16
    assert out.metrics["time_to_target_s"] == out.curves["train_time_s"][reach]


def test_checks_find_the_reach_an_epoch_end_would_miss():
    """SGD's loss fluctuates: with a check after every step, b = 8 at N = 256 first dips below
    the target inside an epoch, earlier than (or in epochs where) an epoch's end shows it."""
    checked = STUDY.run(small(batch_size=8, checks_per_epoch=32, rel_loss_target=0.1), seed=0).metrics
    ends = STUDY.run(small(batch_size=8, checks_per_epoch=0, rel_loss_target=0.1), seed=0).metrics
    assert checked["epochs_to_target"] == ends["epochs_to_target"] == 5  # the same trajectory
    assert ends["steps_to_target"] == 5 * 32
    assert checked["steps_to_target"] <= 4 * 32  # a dip within an epoch before: only a check sees it


def test_gd_is_deterministic_and_smooth():
    cfg = small(batch_size=0, epochs=20)
    a, b = STUDY.run(cfg, 0), STUDY.run(cfg, 0)
    np.testing.assert_array_equal(a.curves["loss"], b.curves["loss"])
    assert a.metrics["method"] == "gd"
    assert np.all(np.diff(a.curves["loss"]) <= 0)  # GD with a stable step never goes up


def test_too_large_learning_rate_diverges():
    out = STUDY.run(small(lr=50.0), seed=0)
    assert out.status == "diverged" and out.diverged_epoch is not None
    assert out.diverged_epoch <= out.metrics["epochs_done"] < 30  # stopped where the loss became inf


def test_divergence_is_a_loss_above_a_factor_of_the_initial_one():
    """GD at τ = 1.5 grows the loss without bound but stays finite for 5 epochs: diverged at the
    first epoch above diverge_factor × the initial loss, ok for a factor no loss reaches."""
    out = STUDY.run(small(batch_size=0, lr=1.5, epochs=5), seed=0)
    loss = out.curves["loss"] - out.metrics["l_min"]  # the monitored excess loss
    assert np.isfinite(loss).all() and loss[-1] > 10 * loss[0]
    assert out.status == "diverged" and out.diverged_epoch == int(np.argmax(loss > 10 * loss[0]))
    assert STUDY.run(small(batch_size=0, lr=1.5, epochs=5, diverge_factor=1e300), seed=0).status == "ok"


@pytest.mark.parametrize("first", [np.nan, np.inf])
def test_a_non_finite_initial_loss_is_divergence_at_epoch_0(first):
    from experiments.training import Fit
    from kernels import codes

    history = np.ones((4, codes.N_HIST))
    history[0, codes.HIST_FIT_LOSS] = first  # then "finite": the engine stopped, or the rows look fine
    fit = Fit(np.zeros(1), np.zeros(0), history, epochs_done=3, compile_time_s=0.0)
    assert fit.diverged_epoch() == 0
    history[0, codes.HIST_FIT_LOSS] = 1.0
    assert fit.diverged_epoch() is None
