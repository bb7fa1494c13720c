"""Early stopping in the compiled engines (kernels.stopping), against an oracle: training is
deterministic, so a stopped run's history is the unstopped run's history up to the epoch where
Keras' rule (or the divergence bound), applied in Python to that history, says stop."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kernels import codes, engine, losses, optimizers, records, schedules, steps
from kernels.plan import Activation, Dense, build_plan
from runner.cli import app

EPOCHS = 40
LAYERS = [Dense(6), Activation("tanh"), Dense(3)]
CURVES = [codes.HIST_FIT_LOSS, codes.HIST_FIT_ACC, codes.HIST_TEST_LOSS, codes.HIST_TEST_ACC, codes.HIST_LR]


def keras_stop(history, monitor, patience, min_delta, epochs):
    """Keras' EarlyStopping(min_delta, patience, mode="min") on a full history: the epoch it stops at."""
    best, wait = history[0, monitor], 0
    for epoch in range(1, epochs + 1):
        if history[epoch, monitor] < best - min_delta:
            best, wait = history[epoch, monitor], 0
        else:
            wait += 1
            if wait >= patience:
                return epoch
    return epochs


def problem(lr):
    """A small classification run that overfits (few training rows, a test set)."""
    rng = np.random.default_rng(5)
    plan = build_plan(4, LAYERS)
    x, x_test = rng.standard_normal((12, 4)), rng.standard_normal((30, 4))
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    y, y_test = np.eye(3)[labels], np.eye(3)[rng.integers(0, 3, 30)]
    method = records.method(losses.CODES["softmax-ce"], optimizers.CODES["adam"], schedules.CODES["constant"],
                            steps.vector(np.float64, lr=lr), plan.penalty_mask(False, np.float64))
    return plan, records.Data(x, y, x, y, x_test, y_test), method, plan.init_params(rng, np.float64)


def train_cpu(lr, **stopping):
    plan, data, method, p0 = problem(lr)
    history = np.full((EPOCHS + 1, codes.N_HIST), np.nan)
    params = p0.copy()
    done = engine.train(data, plan.net, method, records.settings(EPOCHS, 4, True, 1, 64, **stopping), params,
                        plan.init_buffers(np.float64), history)
    return done, history, params


def train_cuda(lr, **stopping):
    from kernels.cuda import engine as g_engine

    plan, data, method, p0 = problem(lr)
    history = np.full((1, EPOCHS + 1, codes.N_HIST), np.nan)
    params = p0[None].copy()
    run = g_engine.Run(0, plan.net, method, records.settings(EPOCHS, 4, True, 1, 64, **stopping))
    done = g_engine.train([data], [run], params, plan.init_buffers(np.float64)[None], history, threads=32)
    return int(done[0]), history[0], params[0]


TARGETS = [train_cpu, pytest.param(train_cuda, id="cuda-simulator")]


@pytest.mark.parametrize("train", TARGETS)
@pytest.mark.parametrize("monitor, patience, min_delta", [
    (codes.HIST_TEST_LOSS, 3, 0.0), (codes.HIST_FIT_LOSS, 2, 0.05), (codes.HIST_TEST_LOSS, 1, 0.0)])
def test_patience_stops_where_keras_rule_says_on_the_unstopped_history(train, monitor, patience, min_delta):
    full_done, full, _ = train(0.05)
    assert full_done == EPOCHS
    expected = keras_stop(full, monitor, patience, min_delta, EPOCHS)
    assert expected < EPOCHS  # the case stops early at all
    done, history, _ = train(0.05, patience=patience, min_delta=min_delta, monitor=monitor)
    assert done == expected
    np.testing.assert_array_equal(history[: done + 1][:, CURVES], full[: done + 1][:, CURVES])
    assert np.isnan(history[done + 1 :, codes.HIST_FIT_LOSS]).all()  # nothing trained after the stop


@pytest.mark.parametrize("train", TARGETS)
def test_a_run_stops_at_the_divergence_bound(train):
    full_done, full, _ = train(30.0)  # a rate that blows the loss up
    loss = full[: full_done + 1, codes.HIST_FIT_LOSS]
    with np.errstate(invalid="ignore"):
        above = np.flatnonzero(~np.isfinite(loss[1:]) | (loss[1:] > 3 * loss[0])) + 1
    assert above.size and above[0] < EPOCHS
    done, history, _ = train(30.0, stop_factor=3.0)
    assert done == above[0]
    np.testing.assert_array_equal(history[: done + 1][:, CURVES], full[: done + 1][:, CURVES])


def test_bad_stopping_settings_are_refused():
    plan, data, method, p0 = problem(0.05)
    history = np.zeros((3, codes.N_HIST))
    for stopping, message in [({"patience": -1}, "patience >= 0"), ({"stop_factor": 0.0}, "stop_factor must be > 0"),
                              ({"monitor": codes.HIST_LR}, "monitor must be"),
                              ({"patience": 2, "monitor": codes.HIST_TEST_LOSS}, "needs a test set")]:
        no_test = data._replace(x_test=data.x[:0], y_test=data.y[:0])
        with pytest.raises(ValueError, match=message):
            engine.train(no_test, plan.net, method, records.settings(2, 4, True, 0, 64, **stopping), p0.copy(),
                         plan.init_buffers(np.float64), history)


def test_a_sweep_with_patience_records_where_each_run_stopped(tmp_path):
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["sweep", "digits", "--grid", "model=dense16", "--grid", "epochs=60",
                                      "--grid", "train_size=100", "--grid", "lr=0.03", "--grid", "patience=0,2",
                                      "--grid", "monitor=test",
                                      "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_parquet(out / "runs").set_index("patience")
    curves = pd.read_parquet(out / "curves")
    assert runs.loc[0, "epochs_done"] == 60 and 0 < runs.loc[2, "epochs_done"] < 60
    for _, run in runs.iterrows():
        assert (curves.run_id == run.run_id).sum() == run.epochs_done + 1  # the curves end where the run stopped
    bad = CliRunner().invoke(app, ["sweep", "batch-size", "--grid", "monitor=test", "--dry-run", "--out", str(out)])
    assert bad.exit_code == 2 and "not one of" in bad.output
