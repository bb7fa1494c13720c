"""Classification of images (scikit-learn's 8×8 digits, MNIST, or the user's data) by an MLP or
a CNN.

The model is a spec (experiments.models) of hidden layers; the output layer, dense to the
data's classes, is added. Choices the texts leave open, recorded in every row through the
parameters:
- digits: pixels scaled to [0, 1], a fixed stratified 1347 / 450 train/test split
  (experiments.data); MNIST: its own 60000 / 10000 split, from IDX files in ``data_dir``;
  ``dataset=file``: the user's ``.npz``, ``.parquet`` or ``.csv`` at ``data``
  (experiments.datasets: formats, scaling, split, inferred shape and classes);
- targets: one-hot rows (softmax-ce, logistic, mse) or ±1 one-vs-rest rows (hinge);
- Glorot-uniform weights and zero biases from the run's seed (stream 1), batch order and
  dropout from stream 2, the training subset (``train_size``) from stream 0;
- the losses and accuracies in the curves are the data loss, without the penalty, on the whole
  training and test sets at the end of every epoch.
"""
from pathlib import Path

import numpy as np

from experiments.data import load_digits, one_hot
from experiments.datasets import Dataset, file_digest, load_dataset
from experiments.models import parse_activation, parse_model
from experiments.seeds import DATA, INIT, engine_seed, stream
from experiments.study import Param, RunOutput, Study, at_least
from experiments.training import (
    engine_for,
    fit,
    fit_bytes,
    hyper_from,
    optimizer_params,
    stopping_from,
    stopping_params,
    target_param,
)
from kernels import codes, losses
from kernels.plan import Dense, build_plan

MLP = "dense64"
CNN = "conv8x3p1-pool2-conv16x3p1-pool2-dense64"
TRAINABLE = tuple(name for name, (*_, differentiable) in codes.ACTIVATIONS.items() if differentiable)


def _trainable_activation(value):
    """Check: ``name[:β[:γ]]`` of an activation with a gradient."""
    try:
        layer = parse_activation(value)
    except ValueError as err:
        return str(err)
    if layer is None or layer.name not in TRAINABLE:
        return f"not an activation with a gradient ({', '.join(TRAINABLE)}, optionally :β:γ)"
    return None


def _model_spec(value):
    try:
        parse_model(value)
    except ValueError as err:
        return str(err)
    return None


PATHS = {"mnist": "data_dir", "file": "data"}  # the dataset that reads each path parameter
FILE_OPTIONS = ("label", "test_fraction")  # read only with dataset=file
SHAPE_OPTIONS = ("input_shape", "n_classes")  # read with dataset=mnist or file


def load(config: dict) -> Dataset:
    """The data set of a configuration, checked (experiments.datasets); ValueError if bad."""
    if config["dataset"] == "digits":
        return load_digits()
    path = config[PATHS[config["dataset"]]]
    if not path:
        raise ValueError(f"dataset={config['dataset']} needs {PATHS[config['dataset']]}=PATH")
    return load_dataset(path, config["label"], config["input_shape"], config["n_classes"],
                        "classification", config["test_fraction"])


def model_layers(config: dict, n_classes: int = 1) -> list:
    """The configuration's model, with a dense output layer of ``n_classes``."""
    return parse_model(config["model"], config["activation"]) + [Dense(n_classes)]


def model_plan(config: dict, data: Dataset):
    """The configuration's model on ``data``'s images, with a dense output layer per class."""
    return build_plan(data.shape, model_layers(config, data.n_classes))


def used(config: dict, data: Dataset, rows: int) -> dict:
    """What a run trained on: training rows (after train_size), test rows, features per row,
    classes (the n_classes parameter or, at 0, the largest label + 1), and the sha256 of the
    data file or directory (None for the bundled digits)."""
    path = config[PATHS[config["dataset"]]] if config["dataset"] in PATHS else ""
    return {"n_train": rows, "n_test": len(data.x_test), "n_features": int(np.prod(data.shape)),
            "classes": data.n_classes, "data_sha256": file_digest(path) if path else None}


def targets(labels: np.ndarray, loss: str, n_classes: int, dtype) -> np.ndarray:
    """The rows of labels that the loss kind reads: one-hot, or with its ``negative`` for the
    other classes (±1 one-vs-rest rows for the hinge loss). (N,) -> (N, n_classes)."""
    t = one_hot(labels, n_classes, dtype)
    negative = losses.KINDS[losses.CODES[loss]].negative
    return t if negative == 0 else (1 - negative) * t + negative


class DigitsStudy(Study):
    name = "digits"
    title = "MLP and CNN classifiers on 8x8 digits (or MNIST)"
    source = "Magyar §2-3, Redfern (layer cookbook), Berlyand & Jabin §10 (CNN)"
    params = (
        Param("model", str, MLP, "hidden layers, e.g. dense64-dense32 or conv8x3p1-pool2-dense64",
              check=_model_spec),
        Param("activation", str, "relu", "activation after each dense/conv layer: a name, optionally "
              "with β and γ (sigmoid:2:1)", check=_trainable_activation),
        Param("loss", str, "softmax-ce", "training loss", choices=tuple(losses.CODES)),
        *optimizer_params("adam", 1e-3, step=10),
        Param("batch_size", int, 32, "mini-batch size", check=at_least(1)),
        Param("epochs", int, 30, "epochs of training", check=at_least(1)),
        *stopping_params(),
        Param("train_size", int, 0, "use this many training images (0: all)", check=at_least(0)),
        Param("dataset", str, "digits", "digits (bundled), mnist (IDX files in data_dir) or file "
              "(your .npz, .parquet or .csv at data)", choices=("digits", "mnist", "file")),
        Param("data_dir", str, "", "dataset=mnist: directory of the IDX files (plain or .gz)"),
        Param("data", str, "", "your data: a .npz (x, y or x_train, y_train, x_test, y_test), .parquet or "
              ".csv (sets dataset=file)"),
        Param("label", str, "label", "dataset=file (.parquet, .csv): the name of the label column"),
        Param("test_fraction", float, 0.25, "dataset=file without a test split: the share held out",
              check=lambda v: None if 0 < v < 1 else "must be in (0, 1)"),
        Param("input_shape", str, "", "image shape CxHxW of a row, e.g. 1x28x28 (default: the data's, "
              "else flat)"),
        Param("n_classes", int, 0, "classes (default: the largest label + 1)", check=at_least(0)),
        Param("dtype", str, "float64", "floating-point type of the training", choices=("float64", "float32")),
        target_param(),
    )
    default_grid = {"model": [MLP, CNN]}
    deprecated = {"dataset=file": "--grid dataset=file is no longer needed: data=PATH alone reads your file "
                                  "(the older spelling is accepted until the next release)"}
    metrics = {
        "n_params": int,
        "final_train_loss": float,
        "final_test_loss": float,
        "final_train_acc": float,
        "final_test_acc": float,
        "best_test_acc": float,
        "best_epoch": int,
        "min_train_loss": float,
        "epochs_done": int,
        "steps": int,
        "n_train": int,
        "n_test": int,
        "n_features": int,
        "classes": int,
        "data_sha256": str,
        "train_time_s": float,
        "eval_time_s": float,
        "time_per_epoch_s": float,
    }
    curve_columns = {
        "train_loss": float,
        "train_acc": float,
        "test_loss": float,
        "test_acc": float,
        "lr": float,
        "train_time_s": float,
        "wall_time_s": float,
    }

    def normalize(self, config: dict) -> dict:
        """Check the data set against the model and the batch before anything runs: a path
        for the dataset that reads it (made absolute, so that any worker finds it), options
        only for datasets that use them, the model against the images and classes, and
        batch_size and train_size against the training rows."""
        config = dict(config)
        defaults = self.defaults()
        if config["data"] and config["dataset"] == defaults["dataset"]:
            config["dataset"] = "file"  # data=PATH names the user's file, as in every training study
        dataset = config["dataset"]
        for key, user in PATHS.items():
            if config[user] and dataset != key:
                raise ValueError(f"{user}={config[user]!r} is read only with dataset={key} (got dataset={dataset})")
        unused = FILE_OPTIONS * (dataset != "file") + SHAPE_OPTIONS * (dataset == "digits")
        for key in unused:
            if config[key] != defaults[key]:
                raise ValueError(f"{key}={config[key]!r} is not read with dataset={dataset}")
        if dataset in PATHS and config[PATHS[dataset]]:
            config[PATHS[dataset]] = str(Path(config[PATHS[dataset]]).resolve())
        data = load(config)
        try:
            plan = model_plan(config, data)
        except ValueError as err:
            raise ValueError(f"model {config['model']!r} does not fit the {'x'.join(map(str, data.shape))} "
                             f"inputs: {err}") from None
        if not plan.has_gradient:
            raise ValueError(f"model {config['model']!r} has a layer without gradient (threshold, sign)")
        rows = len(data.x_train)
        if config["train_size"] > rows:
            raise ValueError(f"train_size {config['train_size']} is more than the {rows} training rows")
        rows = config["train_size"] or rows
        if config["batch_size"] > rows:
            raise ValueError(f"batch_size {config['batch_size']} is more than the {rows} training rows")
        return config

    def memory(self, config: dict) -> int:
        data = load(config)
        rows = config["train_size"] or len(data.x_train)
        return fit_bytes(model_plan(config, data), rows, len(data.x_test), config["epochs"], config["batch_size"],
                         config["dtype"])

    def engines(self, config: dict) -> set:
        return engine_for(model_layers(config), config["dtype"], config["target"], loss=config["loss"])

    def run(self, config: dict, seed: int) -> RunOutput:
        dtype = np.dtype(config["dtype"])
        data = load(config)
        x, labels = data.x_train, data.y_train
        if 0 < config["train_size"] < len(x):
            keep = stream(seed, DATA).permutation(len(x))[: config["train_size"]]
            x, labels = x[keep], labels[keep]
        y = targets(labels, config["loss"], data.n_classes, dtype)
        x = np.ascontiguousarray(x, dtype)
        test = (np.ascontiguousarray(data.x_test, dtype), targets(data.y_test, config["loss"], data.n_classes, dtype))
        batch_size = config["batch_size"]

        plan = model_plan(config, data)
        params = plan.init_params(stream(seed, INIT), dtype)
        result = fit(x, y, plan, params, loss=config["loss"], optimizer=config["optimizer"], hyper=hyper_from(config),
                     epochs=config["epochs"], batch_size=batch_size, schedule=config["schedule"],
                     penalize_biases=config["penalize_biases"], test_set=test, target=config["target"],
                     seed=engine_seed(seed), **stopping_from(config))
        h = result.history
        curves = {"train_loss": h[:, codes.HIST_FIT_LOSS], "train_acc": h[:, codes.HIST_FIT_ACC],
                  "test_loss": h[:, codes.HIST_TEST_LOSS], "test_acc": h[:, codes.HIST_TEST_ACC],
                  "lr": h[:, codes.HIST_LR], "train_time_s": h[:, codes.HIST_TRAIN_TIME],
                  "wall_time_s": h[:, codes.HIST_WALL_TIME]}
        done = result.epochs_done
        test_acc = curves["test_acc"]
        best = int(np.nanargmax(test_acc)) if np.any(np.isfinite(test_acc)) else None
        train_time = float(curves["train_time_s"][-1])
        metrics = {
            "n_params": plan.n_params,
            "final_train_loss": float(curves["train_loss"][-1]),
            "final_test_loss": float(curves["test_loss"][-1]),
            "final_train_acc": float(curves["train_acc"][-1]),
            "final_test_acc": float(test_acc[-1]),
            "best_test_acc": float(test_acc[best]) if best is not None else None,
            "best_epoch": best,
            "min_train_loss": float(np.nanmin(curves["train_loss"])),
            "epochs_done": done,
            "steps": done * -(-len(x) // batch_size),
            "train_time_s": train_time,
            "eval_time_s": float(curves["wall_time_s"][-1]) - train_time,
            "time_per_epoch_s": train_time / done if done else None,
            **used(config, data, len(x)),
        }
        diverged = result.diverged_epoch(config["diverge_factor"])
        return RunOutput(status="ok" if diverged is None else "diverged", metrics=metrics, curves=curves,
                         compile_time_s=result.compile_time_s, diverged_epoch=diverged)

    def report(self, runs, curves, figures):
        """The configurations' medians and the curves (experiments.digits_report)."""
        from experiments import digits_report

        return digits_report.report(runs, curves, figures)
