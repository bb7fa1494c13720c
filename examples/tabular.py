"""A complete plug-in study: an MLP classifier on a CSV table, trained by the runner's engine.

    runner sweep examples/tabular.py:TabularStudy --grid lr=1e-3:1e-1:log3 --seeds 3
    runner report out/tabular

Nothing here is part of the runner: this file is what a user writes for their own study
(README: "Write your own study"). It declares its parameters, default grid, metrics and curve
columns, and trains through ``experiments.training.fit``, one compiled call per run.

Choices: the data is ``data`` (default: ``wine.csv`` beside this file, scikit-learn's wine
recognition table, 178 wines, 13 features, 3 cultivars), the label column ``target``; a
quarter of the rows is held out, stratified (experiments.datasets); features are standardized
with the training rows' mean and standard deviation; Glorot-uniform weights from stream
INIT, batch order from ORDER (experiments.seeds); softmax cross-entropy; losses on the whole
sets at the end of every epoch.
"""
from pathlib import Path

import numpy as np

from experiments.data import one_hot
from experiments.datasets import load_dataset
from experiments.models import parse_model
from experiments.seeds import INIT, engine_seed, stream
from experiments.study import Param, RunOutput, Study, at_least, positive
from experiments.training import Hyper, engine_for, fit
from kernels import codes
from kernels.plan import Dense, build_plan

WINE = Path(__file__).with_name("wine.csv")


def _layers(config: dict, n_classes: int = 1) -> list:
    """The hidden layers of ``config`` and a dense output layer of ``n_classes``."""
    return parse_model(config["hidden"]) + [Dense(n_classes)]


class TabularStudy(Study):
    name = "tabular"
    title = "An MLP classifier on a CSV table (example plug-in study)"
    source = "examples/tabular.py"
    params = (
        Param("data", str, "", "a .csv, .parquet or .npz (default: wine.csv beside this file)"),
        Param("target", str, "cultivar", "the label column"),
        Param("hidden", str, "dense32", "hidden layers (a model spec: dense32-dense16, ...)"),
        Param("optimizer", str, "adam", "optimizer", choices=tuple(codes.OPTIMIZERS)),
        Param("lr", float, 1e-2, "learning rate", check=positive),
        Param("l2", float, 0.0, "L2 penalty λ₂", check=lambda v: None if v >= 0 else "must be >= 0"),
        Param("batch_size", int, 16, "mini-batch size", check=at_least(1)),
        Param("epochs", int, 50, "epochs", check=at_least(1)),
    )
    default_grid = {"lr": [1e-3, 1e-2, 1e-1]}
    metrics = {"n_params": int, "final_train_loss": float, "final_test_loss": float,
               "final_test_acc": float, "train_time_s": float}
    curve_columns = {"train_loss": float, "test_loss": float, "test_acc": float}

    def normalize(self, config: dict) -> dict:
        """Resolve the data path and check the data, the model and the batch before any run."""
        config = {**config, "data": str(Path(config["data"] or WINE).resolve())}
        data = load_dataset(config["data"], config["target"])
        build_plan(data.shape, _layers(config, data.n_classes))
        if config["batch_size"] > len(data.x_train):
            raise ValueError(f"batch_size {config['batch_size']} is more than the {len(data.x_train)} training rows")
        return config

    def engines(self, config: dict) -> set:
        """The engine that ``fit`` compiles: the sweep prepares it once, before its workers."""
        return engine_for(_layers(config), np.float64)

    def run(self, config: dict, seed: int) -> RunOutput:
        data = load_dataset(config["data"], config["target"])
        mean, std = data.x_train.mean(axis=0), data.x_train.std(axis=0) + 1e-12
        x, x_test = (data.x_train - mean) / std, (data.x_test - mean) / std
        y, y_test = one_hot(data.y_train, data.n_classes), one_hot(data.y_test, data.n_classes)
        plan = build_plan(data.shape, _layers(config, data.n_classes))
        params = plan.init_params(stream(seed, INIT), np.float64)
        result = fit(x, y, plan, params, loss="softmax-ce", optimizer=config["optimizer"],
                     hyper=Hyper(lr=config["lr"], l2=config["l2"]), epochs=config["epochs"],
                     batch_size=config["batch_size"], test_set=(x_test, y_test),
                     seed=engine_seed(seed))
        h = result.history
        curves = {"train_loss": h[:, codes.HIST_FIT_LOSS], "test_loss": h[:, codes.HIST_TEST_LOSS],
                  "test_acc": h[:, codes.HIST_TEST_ACC]}
        metrics = {"n_params": plan.n_params, "final_train_loss": float(h[-1, codes.HIST_FIT_LOSS]),
                   "final_test_loss": float(h[-1, codes.HIST_TEST_LOSS]),
                   "final_test_acc": float(h[-1, codes.HIST_TEST_ACC]),
                   "train_time_s": float(h[-1, codes.HIST_TRAIN_TIME])}
        diverged = result.diverged_epoch()  # the engine's definition: not finite, or 10× the initial loss
        return RunOutput(status="ok" if diverged is None else "diverged", metrics=metrics, curves=curves,
                         compile_time_s=result.compile_time_s, diverged_epoch=diverged)
