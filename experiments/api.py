"""The public plug-in API: everything a study of your own needs, and the only module it should
import from this package. What is named here keeps its meaning across releases; the modules
behind it (plans, codes, seeds, history columns) may change.

A study declares its parameters, default grid, metrics and curves (``Study``, ``Param``,
``RunOutput``), reads data (``load_dataset``) and trains with ``train``: a model spec, the data,
the optimizer's settings and the run's seed in, curves and metrics out, one compiled call per
run. ``train`` hides the plan, the seeds' streams and the history layout; ``engines`` tells the
sweep what ``train`` will compile, so that it compiles once, before its workers; a study that
declares ``target_param()`` and trains through ``train`` runs on ``--target cuda`` too.

    from experiments.api import Param, RunOutput, Study, load_dataset, train

    class Wine(Study):
        ...
        def run(self, config, seed):
            data = load_dataset(config["data"], "cultivar")
            trained = train(config["hidden"], data.x_train, data.y_train, test=(data.x_test, data.y_test),
                            seed=seed, epochs=config["epochs"], batch_size=16, lr=config["lr"])
            return trained.output()
"""
from dataclasses import dataclass

import numpy as np

from experiments.datasets import Dataset, load_dataset
from experiments.digits import targets
from experiments.models import parse_model
from experiments.seeds import INIT, engine_seed, stream
from experiments.study import Param, RunOutput, Study, at_least, positive
from experiments.training import DIVERGE_FACTOR, engine_for, fit, target_param
from kernels import codes, losses, optimizers, schedules
from kernels.plan import Dense, build_plan

__all__ = ["Dataset", "Param", "RunOutput", "Study", "Trained", "at_least", "engines", "load_dataset", "positive",
           "target_param", "train", "LOSSES", "OPTIMIZERS", "SCHEDULES"]

LOSSES = tuple(losses.CODES)  # softmax-ce, logistic and hinge classify; mse and mse-half regress
OPTIMIZERS = tuple(optimizers.CODES)
SCHEDULES = tuple(schedules.CODES)
CLASSIFYING = tuple(kind.name for kind in losses.KINDS if kind.classifies)
CURVES = {"train_loss": codes.HIST_FIT_LOSS, "train_acc": codes.HIST_FIT_ACC, "test_loss": codes.HIST_TEST_LOSS,
          "test_acc": codes.HIST_TEST_ACC, "lr": codes.HIST_LR, "train_time_s": codes.HIST_TRAIN_TIME}


@dataclass
class Trained:
    """What ``train`` hands back. curves: CURVES' names -> (epochs_done + 1,) arrays, epoch 0
    before training (accuracies NaN for a regression loss, test curves NaN without a test set);
    metrics: n_params, epochs_done, the final and best values of the curves and train_time_s;
    status "ok" or "diverged" (the loss not finite or above diverge_factor × its initial
    value, where the run stopped) with diverged_epoch; params: the trained parameters (P,)."""

    curves: dict
    metrics: dict
    status: str
    diverged_epoch: int | None
    compile_time_s: float
    params: np.ndarray

    def output(self, metrics: dict | None = None, curves: dict | None = None) -> RunOutput:
        """The RunOutput of this run: ``metrics`` and ``curves`` (default: all of them; pass
        the ones the study declares, e.g. ``{k: trained.metrics[k] for k in self.metrics}``)."""
        return RunOutput(status=self.status, metrics=self.metrics if metrics is None else metrics,
                         curves=self.curves if curves is None else curves, compile_time_s=self.compile_time_s,
                         diverged_epoch=self.diverged_epoch)


def _layers(model: str, activation: str, n_out: int) -> list:
    return parse_model(model, activation) + [Dense(n_out)]


def _targets(y: np.ndarray, loss: str, n_classes: int, dtype) -> tuple[np.ndarray, int]:
    """Targets of ``loss`` from y: integer labels (N,) one-hot (±1 for the hinge loss) for a
    classification loss, real values (N,) or (N, K) as columns for a regression loss."""
    y = np.asarray(y)
    if loss in CLASSIFYING:
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"loss {loss} needs integer class labels of shape (N,), got {y.dtype} {y.shape}")
        return targets(y, loss, n_classes, dtype), n_classes
    y = y.reshape(len(y), -1).astype(dtype)
    return y, y.shape[1]


def train(model: str, x, y, *, seed: int, epochs: int, batch_size: int, test=None, loss: str = "softmax-ce",
          optimizer: str = "adam", lr: float = 1e-3, l1: float = 0.0, l2: float = 0.0, schedule: str = "constant",
          activation: str = "relu", input_shape: tuple | None = None, n_classes: int | None = None,
          dtype: str = "float64", target: str = "cpu", patience: int = 0, min_delta: float = 0.0,
          monitor: str = "fit", diverge_factor: float = DIVERGE_FACTOR, **hyper) -> Trained:
    """Train a model of spec ``model`` (hidden layers, e.g. "dense32-dense16" or
    "conv8x3p1-pool2-dense64"; a dense output layer is added) on x (N, F) and y, in one
    compiled call. y: class labels (N,) for a classification loss (n_classes: default the
    largest label + 1), real values (N,) or (N, K) for mse; test: (x, y) held out, monitored
    each epoch. input_shape: (C, H, W) of a row for convolutions (default: flat). The seed
    fixes the initial parameters (Glorot) and the batch order; dropout draws follow from it.
    Early stopping: patience epochs without an improvement of the ``monitor`` loss ("fit" or
    "test") by more than min_delta (0: off); the run stops where it diverges in any case.
    **hyper: any other hyperparameter of the optimizer or the schedule by name (beta1,
    weight_decay, decay, step, ...: ``runner studies`` lists them), else its default."""
    x = np.ascontiguousarray(x, dtype)
    labels_seen = [np.asarray(y)] + ([np.asarray(test[1])] if test is not None else [])
    classes = n_classes or (int(max(v.max() for v in labels_seen)) + 1 if loss in CLASSIFYING else 0)
    targets, n_out = _targets(y, loss, classes, dtype)
    plan = build_plan(input_shape or x.shape[1], _layers(model, activation, n_out))
    params = plan.init_params(stream(seed, INIT), np.dtype(dtype))
    test_set = None
    if test is not None:
        test_set = (np.ascontiguousarray(test[0], dtype), _targets(test[1], loss, classes, dtype)[0])
    result = fit(x, np.ascontiguousarray(targets), plan, params, loss=loss, optimizer=optimizer,
                 hyper={"lr": lr, "l1": l1, "l2": l2, **hyper}, epochs=epochs, batch_size=batch_size, seed=engine_seed(seed),
                 schedule=schedule, test_set=test_set, target=target, stop_factor=diverge_factor, patience=patience,
                 min_delta=min_delta, monitor=monitor)
    curves = {name: result.column(col).copy() for name, col in CURVES.items()}
    metrics = {"n_params": plan.n_params, "epochs_done": result.epochs_done,
               "train_time_s": float(curves["train_time_s"][-1])}
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        metrics[f"final_{name}"] = float(curves[name][-1])
    metrics["min_train_loss"] = float(np.nanmin(curves["train_loss"])) if np.isfinite(curves["train_loss"]).any() \
        else float("nan")
    diverged = result.diverged_epoch(diverge_factor)
    return Trained(curves, metrics, "ok" if diverged is None else "diverged", diverged, result.compile_time_s,
                   result.params)


def engines(model: str, n_out: int = 1, *, loss: str = "softmax-ce", activation: str = "relu",
            dtype: str = "float64", target: str = "cpu") -> set:
    """What ``train`` compiles for ``model`` and ``loss`` (an engine holds the one loss it trains
    with): return it from ``Study.engines``, and a sweep compiles it once, before its runs, and
    says so."""
    return engine_for(_layers(model, activation, n_out), dtype, target, loss=loss)
