"""A complete plug-in study: an MLP classifier on a CSV table, trained by the runner's engine.

    runner sweep examples/tabular.py:TabularStudy --grid lr=1e-3:1e-1:log3 --seeds 3
    runner report out/tabular

Nothing here is part of the runner: this file is what a user writes for their own study
(README: "Write your own study"). It declares its parameters, default grid, metrics and curve
columns, and trains through ``experiments.api.train``, one compiled call per run; it imports
nothing but the public API (experiments.api).

Choices: the data is ``data`` (default: ``wine.csv`` beside this file, scikit-learn's wine
recognition table, 178 wines, 13 features, 3 cultivars), the label column ``label``; a
quarter of the rows is held out, stratified (load_dataset); features are standardized with the
training rows' mean and standard deviation; softmax cross-entropy (train's default); losses on
the whole sets at the end of every epoch. ``--target cuda`` trains on a GPU (or numba-cuda's
simulator): a study that declares ``target_param()`` and trains through ``train`` runs on either.
"""
from pathlib import Path

from experiments.api import (
    OPTIMIZERS,
    Param,
    Study,
    at_least,
    engines,
    load_dataset,
    positive,
    target_param,
    train,
)

WINE = Path(__file__).with_name("wine.csv")


class TabularStudy(Study):
    name = "tabular"
    title = "An MLP classifier on a CSV table (example plug-in study)"
    source = "examples/tabular.py"
    params = (
        Param("data", str, "", "a .csv, .parquet or .npz (default: wine.csv beside this file)"),
        Param("label", str, "cultivar", "the label column"),
        Param("hidden", str, "dense32", "hidden layers (a model spec: dense32-dense16, ...)"),
        Param("optimizer", str, "adam", "optimizer", choices=OPTIMIZERS),
        Param("lr", float, 1e-2, "learning rate", check=positive),
        Param("l2", float, 0.0, "L2 penalty λ₂", check=lambda v: None if v >= 0 else "must be >= 0"),
        Param("batch_size", int, 16, "mini-batch size", check=at_least(1)),
        Param("epochs", int, 50, "epochs", check=at_least(1)),
        target_param(),  # --target cuda: train on a GPU
    )
    default_grid = {"lr": [1e-3, 1e-2, 1e-1]}
    metrics = {"n_params": int, "final_train_loss": float, "final_test_loss": float,
               "final_test_acc": float, "train_time_s": float}
    curve_columns = {"train_loss": float, "test_loss": float, "test_acc": float}

    def normalize(self, config: dict) -> dict:
        """Resolve the data path and check the data and the batch before any run."""
        config = {**config, "data": str(Path(config["data"] or WINE).resolve())}
        data = load_dataset(config["data"], config["label"])
        if config["batch_size"] > len(data.x_train):
            raise ValueError(f"batch_size {config['batch_size']} is more than the {len(data.x_train)} training rows")
        return config

    def engines(self, config: dict) -> set:
        """What ``train`` compiles: the sweep prepares it once, before its workers."""
        return engines(config["hidden"], target=config["target"])

    def run(self, config: dict, seed: int):
        data = load_dataset(config["data"], config["label"])
        mean, std = data.x_train.mean(axis=0), data.x_train.std(axis=0) + 1e-12
        trained = train(config["hidden"], (data.x_train - mean) / std, data.y_train,
                        test=((data.x_test - mean) / std, data.y_test), n_classes=data.n_classes, seed=seed,
                        epochs=config["epochs"], batch_size=config["batch_size"], optimizer=config["optimizer"],
                        lr=config["lr"], l2=config["l2"], target=config["target"])
        return trained.output(metrics={k: trained.metrics[k] for k in self.metrics},
                              curves={k: trained.curves[k] for k in self.curve_columns})
