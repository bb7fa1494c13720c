"""A plug-in study of a CNN on images of your own, through the public API alone.

    runner sweep examples/images.py:ImageStudy --grid data=my_images.npz --grid lr=1e-3:1e-1:log3
    runner sweep examples/images.py:ImageStudy --grid model=conv8x3p1-pool2-conv16x3p1-pool2-dense64
    runner report out/images

The data: a ``.npz`` of images ``x`` (N, H, W) or (N, C, H, W) and integer labels ``y`` (or the
split arrays x_train, y_train, x_test, y_test; load_dataset holds a quarter out otherwise);
``uint8`` pixels are scaled by 1/255. Without ``data``, scikit-learn's 8×8 digits (1797 images,
10 classes, pixels 0..16 scaled to 0..1, a quarter held out, stratified). The model is a spec
of hidden layers (convolutions, pooling, dense; a dense output layer per class is added),
trained with Adam on softmax cross-entropy; ``patience`` stops a run whose test loss stalls.
"""
from pathlib import Path

import numpy as np

from experiments.api import (
    Param,
    Study,
    at_least,
    engines,
    load_dataset,
    positive,
    target_param,
    train,
)


def _digits():
    """scikit-learn's 8×8 digits as (N, 1, 8, 8) images in [0, 1], split 3:1, stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=0,
                                                        stratify=digits.target)
    return x_train, y_train, x_test, y_test, 10


def _images(config: dict):
    """(x_train, y_train, x_test, y_test, classes), images (N, C, H, W)."""
    if not config["data"]:
        return _digits()
    data = load_dataset(config["data"], "label")
    shape = (-1, *data.shape)
    return (data.x_train.reshape(shape), data.y_train, data.x_test.reshape(shape), data.y_test, data.n_classes)


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) images as the (N, C·H·W) rows that ``train`` takes with ``input_shape``."""
    return np.ascontiguousarray(images.reshape(len(images), -1))


class ImageStudy(Study):
    name = "images"
    title = "A CNN on images of your own (example plug-in study)"
    source = "examples/images.py"
    params = (
        Param("data", str, "", "a .npz of images x and labels y (default: scikit-learn's 8x8 digits)"),
        Param("model", str, "conv8x3p1-pool2-dense32", "hidden layers: convolutions, pooling, dense"),
        Param("lr", float, 1e-2, "Adam's learning rate", check=positive),
        Param("batch_size", int, 32, "mini-batch size", check=at_least(1)),
        Param("epochs", int, 10, "epochs", check=at_least(1)),
        Param("patience", int, 0, "stop after this many epochs without a better test loss (0: never)",
              check=at_least(0)),
        target_param(),
    )
    default_grid = {"lr": [1e-3, 1e-2]}
    metrics = {"n_params": int, "final_test_loss": float, "final_test_acc": float, "epochs_done": int}
    curve_columns = {"train_loss": float, "test_loss": float, "test_acc": float}

    def normalize(self, config: dict) -> dict:
        """Resolve the data path; check the model against the images before any run."""
        config = {**config, "data": str(Path(config["data"]).resolve()) if config["data"] else ""}
        x_train, *_ = _images(config)
        if config["batch_size"] > len(x_train):
            raise ValueError(f"batch_size {config['batch_size']} is more than the {len(x_train)} training images")
        return config

    def engines(self, config: dict) -> set:
        return engines(config["model"], target=config["target"])

    def run(self, config: dict, seed: int):
        x_train, y_train, x_test, y_test, classes = _images(config)
        trained = train(config["model"], _rows(x_train), y_train, test=(_rows(x_test), y_test), n_classes=classes,
                        input_shape=x_train.shape[1:], seed=seed, epochs=config["epochs"],
                        batch_size=config["batch_size"], lr=config["lr"], patience=config["patience"],
                        monitor="test", target=config["target"])
        return trained.output(metrics={k: trained.metrics[k] for k in self.metrics},
                              curves={k: trained.curves[k] for k in self.curve_columns})
