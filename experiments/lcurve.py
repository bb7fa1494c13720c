"""The L-curve studies: model degree, regularization λ and depth (Treister §1, L35-162).

Data (Treister L39, L82-98): y_true(x) = 0.3x + sin(10x) + 0.5 exp(2x) on x = 0.01:δ:stop
(101 points by default), y = y_true + 0.5·N(0, 1), and a test set on the same x with an
independent draw of the noise (streams DATA and TEST_DATA, experiments.seeds).

Errors, both recorded: the notes' "MSE", which is the unsquared 2-norm of the residual
(``*_norm``, L137-143), and the true mean squared error ||r||²/n (``*_mse``); plus the error
against the noiseless y_true (``truth_mse``).

- ``lcurve-degree``: least squares on an orthonormal basis of the polynomials of degree ≤ k
  (the notes' QR of [1, x, ..., x^k], L115-124, computed stably: see poly_basis), degrees 1, 3,
  ..., 100; ``basis=oracle`` fits the true basis
  [x, sin 10x, exp 2x] instead (L99, L106-110) and records the coefficient error.
- ``lcurve-lambda``: Tikhonov / ridge, min ||Aα − y||² + λ||α||², on the raw monomial basis of
  degree 20 (ill-conditioned, where λ matters; on an orthonormal basis ridge would only shrink
  every coefficient alike), solved through the SVD filter factors s/(s² + λ).
- ``lcurve-penalty``: the same question for λ₂ (and λ₁) as a penalty in gradient training of
  an MLP on the digits (experiments.digits).
- ``lcurve-depth``: MLPs of depth 1 ... 8 on this regression (full-batch Adam, a fixed budget of
  epochs), on the digits, or on your regression data (``data=file --grid data_file=PATH``:
  experiments.datasets; ``test_fraction`` held out, ``truth_mse`` empty).
"""
from pathlib import Path

import numpy as np

from experiments.datasets import file_digest, load_dataset
from experiments.digits import DigitsStudy
from experiments.seeds import DATA, INIT, TEST_DATA, stream
from experiments.study import Param, RunOutput, Study, at_least, positive
from experiments.training import (
    diverge_param,
    engine_for,
    fit,
    fit_bytes,
    stopping_from,
    stopping_params,
)
from kernels import codes
from kernels.engine import predict
from kernels.plan import Activation, Dense, build_plan

ALPHA_TRUE = np.array([0.3, 1.0, 0.5])  # Treister L95-L97
NOISE = 0.5  # L85
DEGREES = [1, 3, 5, 7, 10, 15, 20, 50, 100]  # L125


LOSS = "mse"  # the squared misfit of Treister L85-L97, for the trained (depth) models
MAX_POINTS = 10**6  # of the grid x: beyond it the bases (n × k) outgrow memory


def n_points(delta: float, stop: float) -> int:
    """The number of points of x = 0.01:δ:stop."""
    return int(np.floor((stop - 0.01) / delta + 1e-9)) + 1


def check_points(config: dict) -> None:
    """ValueError unless the configuration's grid has at most MAX_POINTS points."""
    n = (config["stop"] - 0.01) / config["delta"]
    if n >= MAX_POINTS:
        raise ValueError(f"delta={config['delta']:g} and stop={config['stop']:g} give {n:.3g} points; "
                         f"at most {MAX_POINTS} are allowed")


def grid(delta: float, stop: float) -> np.ndarray:
    """x = start:δ:stop as Julia's range, start = 0.01, both ends included when on the grid."""
    return 0.01 + delta * np.arange(n_points(delta, stop))


def true_basis(x: np.ndarray) -> np.ndarray:
    """A_true = [x | sin(10x) | exp(2x)] (L83). (n,) -> (n, 3)."""
    return np.column_stack([x, np.sin(10 * x), np.exp(2 * x)])


def make_data(x: np.ndarray, seed: int):
    """(y_true, y_train, y_test) on x: one noise draw for training, an independent one for test."""
    y_true = true_basis(x) @ ALPHA_TRUE
    y_train = y_true + NOISE * stream(seed, DATA).standard_normal(len(x))
    y_test = y_true + NOISE * stream(seed, TEST_DATA).standard_normal(len(x))
    return y_true, y_train, y_test


def poly_basis(x: np.ndarray, degree: int) -> np.ndarray:
    """An orthonormal basis of the polynomials of degree ≤ k on x: (n,) -> (n, k+1).

    The notes orthonormalize the monomials [1 | x | ... | x^k] by QR (L115-124). In exact
    arithmetic that is this basis; in floating point the monomials on [0.01, 1.01] are
    numerically dependent beyond degree ~30 (condition number > 1e16), and the QR basis then
    stops being nested: the training residual rises with the degree at some seeds. So the
    basis is built by Vandermonde with Arnoldi (Brubeck, Nakatsukasa & Trefethen, SIAM Review
    2021): q₀ = 1/√n, then q_{k+1} = x ⊙ q_k orthogonalized twice against q₀ … q_k. Column k
    spans the degree-k polynomials exactly as the QR's, and every basis is nested in the next.
    """
    n = len(x)
    q = np.empty((n, degree + 1))
    q[:, 0] = 1 / np.sqrt(n)
    for k in range(degree):
        v = x * q[:, k]
        for _ in range(2):  # classical Gram-Schmidt, twice: orthogonal to rounding
            v -= q[:, : k + 1] @ (q[:, : k + 1].T @ v)
        q[:, k + 1] = v / np.linalg.norm(v)
    return q


def ridge(a: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """argmin ||Aα − y||² + λ||α||² = V diag(s / (s² + λ)) Uᵀ y, by the SVD (stable for
    ill-conditioned A; λ = 0 gives the minimum-norm least-squares solution)."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        filt = np.where(s > s[0] * 1e-15, s / (s * s + lam), 0.0)
    return vt.T @ (filt * (u.T @ y))


def errors(pred: np.ndarray, pred_test: np.ndarray, y_train, y_test, y_true=None) -> dict:
    """The notes' norms and the true mean squared errors of a fit's predictions on the training
    and test points (the same grid in the notes' studies), and against the noiseless y_true."""
    r_train, r_test = pred - y_train, pred_test - y_test
    return {"train_norm": float(np.linalg.norm(r_train)), "test_norm": float(np.linalg.norm(r_test)),
            "train_mse": float(np.mean(r_train**2)), "test_mse": float(np.mean(r_test**2)),
            "truth_mse": None if y_true is None else float(np.mean((pred - y_true) ** 2))}


ERROR_COLUMNS = {name: float for name in ("train_norm", "test_norm", "train_mse", "test_mse", "truth_mse")}
DATA_PARAMS = (
    Param("delta", float, 0.01, "grid step δ of x = 0.01:δ:stop", check=positive),
    Param("stop", float, 1.01, "last grid point (1.01 in the degree study, 1.0 in the oracle loop)",
          check=lambda v: None if v > 0.01 else "must be > 0.01"),
)


class LCurveDegree(Study):
    name = "lcurve-degree"
    title = "Over-fitting against polynomial degree, and the oracle fit"
    source = "Treister §1 (L35-162), Fig. 2"
    params = (
        Param("basis", str, "polynomial", "polynomial (QR-orthonormal monomials) or oracle (the true basis)",
              choices=("polynomial", "oracle")),
        Param("degree", int, 5, "polynomial degree k", check=at_least(0)),
        *DATA_PARAMS,
    )
    default_grid = {"degree": DEGREES}
    metrics = {**ERROR_COLUMNS, "n_points": int, "n_basis": int, "coef_error": float}
    curve_columns = {}

    def normalize(self, config: dict) -> dict:
        config = dict(config)
        check_points(config)
        points = n_points(config["delta"], config["stop"])
        if config["basis"] == "oracle":
            config["degree"] = 0  # unused
        elif config["degree"] + 1 > points:
            raise ValueError(f"degree {config['degree']} needs more than {points} points")
        return config

    def warm_up(self) -> None:
        """Nothing to compile: least squares by LAPACK."""

    def run(self, config: dict, seed: int) -> RunOutput:
        x = grid(config["delta"], config["stop"])
        y_true, y_train, y_test = make_data(x, seed)
        if config["basis"] == "oracle":
            a = true_basis(x)
            alpha = np.linalg.lstsq(a, y_train, rcond=None)[0]
            coef_error = float(np.linalg.norm(alpha - ALPHA_TRUE))
        else:
            a = poly_basis(x, config["degree"])
            alpha = a.T @ y_train  # QᵀQ = I: the least-squares fit is Qᵀy
            coef_error = None
        metrics = {**errors(a @ alpha, a @ alpha, y_train, y_test, y_true), "n_points": len(x), "n_basis": a.shape[1],
                   "coef_error": coef_error}
        return RunOutput(status="ok", metrics=metrics, curves={})

    def report(self, runs, curves, figures):
        """Treister's Figs 1 and 2 (experiments.lcurve_report)."""
        from experiments import lcurve_report

        return lcurve_report.degree_report(runs, curves, figures, (grid, make_data, poly_basis))


class LCurveLambda(Study):
    name = "lcurve-lambda"
    title = "Tikhonov regularization: the L-curve over λ"
    source = "Treister §1 data; the classic L-curve (Hansen), an extension of the notes"
    params = (
        Param("lam", float, 1e-6, "λ of min ||Aα − y||² + λ||α||²",
              check=lambda v: None if np.isfinite(v) and v >= 0 else "must be >= 0", names=("lambda",)),
        Param("degree", int, 20, "degree of the monomial basis", check=at_least(0)),
        *DATA_PARAMS,
    )
    default_grid = {"lam": [float(f"{v:.3g}") for v in np.logspace(-12, 2, 29)]}
    metrics = {**ERROR_COLUMNS, "residual_norm": float, "solution_norm": float,
               "condition_number": float}
    curve_columns = {}

    def normalize(self, config: dict) -> dict:
        check_points(config)
        return dict(config)

    def memory(self, config: dict) -> int:
        """The basis (points × (degree + 1)) and the copies lstsq and cond make of it."""
        return 8 * 4 * n_points(config["delta"], config["stop"]) * (config["degree"] + 1)

    def warm_up(self) -> None:
        """Nothing to compile: least squares by LAPACK."""

    def run(self, config: dict, seed: int) -> RunOutput:
        x = grid(config["delta"], config["stop"])
        y_true, y_train, y_test = make_data(x, seed)
        a = np.vander(x, config["degree"] + 1, increasing=True)
        alpha = ridge(a, y_train, config["lam"])
        metrics = {**errors(a @ alpha, a @ alpha, y_train, y_test, y_true),
                   "residual_norm": float(np.linalg.norm(a @ alpha - y_train)),
                   "solution_norm": float(np.linalg.norm(alpha)), "condition_number": float(np.linalg.cond(a))}
        return RunOutput(status="ok", metrics=metrics, curves={})

    def report(self, runs, curves, figures):
        """The L-curve over λ and its corner (experiments.lcurve_report)."""
        from experiments import lcurve_report

        return lcurve_report.lambda_report(runs, curves, figures)


class LCurvePenalty(DigitsStudy):
    name = "lcurve-penalty"
    title = "L2 / L1 penalty λ in gradient training of an MLP on the digits"
    source = "Magyar §3.3 (24)-(29); the λ question of Treister §1 carried to training"
    default_grid = {"model": ["dense128-dense64"], "l2": [0.0] + [float(f"{v:.3g}") for v in np.logspace(-5, 0, 11)],
                    "train_size": [300], "epochs": [100]}

    def report(self, runs, curves, figures):
        """Errors against λ₁ and λ₂ (experiments.lcurve_report)."""
        from experiments import lcurve_report

        return lcurve_report.penalty_report(runs, curves, figures)


DEPTH_DATA = ("regression", "digits", "file")  # lcurve-depth's named data; anything else in data= is a path


def _depth_data(value: str) -> str | None:
    return None if value in DEPTH_DATA or value.strip() else "must be regression, digits or a data file's path"


class LCurveDepth(Study):
    name = "lcurve-depth"
    title = "Train and test error against MLP depth"
    source = "Treister §1's question carried to depth; Redfern §4 (width and depth)"
    params = (
        Param("data", str, "regression", "regression (Treister §1 data), digits, or the path of your regression "
              "data: a .npz (x, y or x_train, y_train, x_test, y_test), .parquet or .csv", check=_depth_data),
        Param("data_file", str, "", "the older spelling of data=PATH, with data=file (kept for one release)"),
        Param("label", str, "y", "data=file (.parquet, .csv): the name of the target column"),
        Param("test_fraction", float, 0.25, "data=file without a test split: the share held out",
              check=lambda v: None if 0 < v < 1 else "must be in (0, 1)"),
        Param("depth", int, 1, "hidden layers", check=at_least(0)),
        Param("width", int, 32, "units per hidden layer", check=at_least(1)),
        Param("activation", str, "tanh", "hidden activation", choices=("tanh", "relu", "softplus", "silu", "elu")),
        Param("lr", float, 3e-3, "Adam learning rate", check=positive),
        Param("epochs", int, 2000, "full-batch epochs (regression) or epochs of batch 32 (digits)",
              check=at_least(1)),
        Param("train_size", int, 300, "digits: training images used (0: all)", check=at_least(0)),
        diverge_param(),
        *stopping_params(),
        *DATA_PARAMS,
    )
    default_grid = {"depth": list(range(1, 9))}
    deprecated = {"data_file": "write --grid data=PATH: data=file with data_file=PATH is the older spelling, "
                               "accepted until the next release"}
    metrics = {**ERROR_COLUMNS, "n_params": int, "final_train_loss": float,
               "final_test_loss": float, "final_test_acc": float, "epochs_done": int, "train_time_s": float,
               "n_train": int, "n_test": int, "n_features": int, "data_sha256": str}
    curve_columns = {"train_loss": float, "test_loss": float}

    def normalize(self, config: dict) -> dict:
        config = dict(config)
        defaults = self.defaults()
        if config["data"] not in DEPTH_DATA:  # data=PATH: the same run as data=file data_file=PATH
            if config["data_file"]:
                raise ValueError(f"data={config['data']!r} names the file; data_file is its older spelling, not both")
            config["data"], config["data_file"] = "file", config["data"]
        if config["data"] != "file":
            for key in ("data_file", "label", "test_fraction"):
                if config[key] != defaults[key]:
                    raise ValueError(f"{key}={config[key]!r} is read only with data=file (got data={config['data']})")
        else:
            if not config["data_file"]:
                raise ValueError("data=file needs data_file=PATH")
            config["data_file"] = str(Path(config["data_file"]).resolve())
            self._file(config)  # read and checked once here, before any run
        if config["data"] == "regression":
            check_points(config)
        if config["data"] != "digits":
            config["train_size"] = 0  # unused
        return config

    @staticmethod
    def _file(config: dict):
        return load_dataset(config["data_file"], config["label"], task="regression",
                            test_fraction=config["test_fraction"])

    def run(self, config: dict, seed: int) -> RunOutput:
        if config["data"] == "digits":
            return self._digits(config, seed)
        if config["data"] == "file":
            data = self._file(config)
            xs, y_train, x_test, y_test, y_true = data.x_train, data.y_train, data.x_test, data.y_test, None
        else:
            x = grid(config["delta"], config["stop"])
            y_true, y_train, y_test = (y[:, None] for y in make_data(x, seed))
            xs = x_test = x[:, None]
        plan = build_plan(xs.shape[1], self._layers(config, y_train.shape[1]))
        params = plan.init_params(stream(seed, INIT), np.float64)
        result = fit(xs, y_train, plan, params, loss=LOSS, optimizer="adam", hyper={"lr": config["lr"]},
                     epochs=config["epochs"], batch_size=len(xs), seed=seed, test_set=(x_test, y_test),
                     **stopping_from(config))
        pred, pred_test = np.empty_like(y_train), np.empty_like(y_test)
        predict(plan.net, params, result.buffers, xs, pred)
        predict(plan.net, params, result.buffers, x_test, pred_test)
        h = result.history
        metrics = {**errors(pred, pred_test, y_train, y_test, y_true), "n_params": plan.n_params,
                   "final_train_loss": float(h[-1, codes.HIST_FIT_LOSS]),
                   "final_test_loss": float(h[-1, codes.HIST_TEST_LOSS]), "final_test_acc": None,
                   "epochs_done": result.epochs_done, "train_time_s": float(h[-1, codes.HIST_TRAIN_TIME]),
                   "n_train": len(xs), "n_test": len(x_test), "n_features": xs.shape[1],
                   "data_sha256": file_digest(config["data_file"]) if config["data"] == "file" else None}
        diverged = result.diverged_epoch(config["diverge_factor"])
        return RunOutput(status="ok" if diverged is None else "diverged", metrics=metrics,
                         curves={"train_loss": h[:, codes.HIST_FIT_LOSS], "test_loss": h[:, codes.HIST_TEST_LOSS]},
                         compile_time_s=result.compile_time_s,
                         diverged_epoch=diverged)

    @staticmethod
    def _layers(config: dict, n_out: int = 1) -> list:
        """The MLP of ``depth`` hidden layers, with ``n_out`` outputs."""
        layers = []
        for _ in range(config["depth"]):
            layers += [Dense(config["width"]), Activation(config["activation"])]
        return layers + [Dense(n_out)]

    def memory(self, config: dict) -> int:
        if config["data"] == "digits":
            return DigitsStudy().memory(self._digits_config(config))
        if config["data"] == "file":
            data = self._file(config)
            rows, test, n_in, n_out = len(data.x_train), len(data.x_test), data.x_train.shape[1], data.y_train.shape[1]
        else:
            rows = test = n_points(config["delta"], config["stop"])
            n_in = n_out = 1
        return fit_bytes(build_plan(n_in, self._layers(config, n_out)), rows, test, config["epochs"], rows, np.float64)

    def engines(self, config: dict) -> set:
        if config["data"] == "digits":
            return DigitsStudy().engines(self._digits_config(config))
        return engine_for(self._layers(config), np.float64, loss=LOSS)

    @staticmethod
    def _digits_config(config: dict) -> dict:
        digits = DigitsStudy()
        model = "-".join([f"dense{config['width']}"] * config["depth"]) or "identity"
        return digits.normalize({**digits.defaults(), "model": model, "activation": config["activation"],
                                 "lr": config["lr"], "epochs": config["epochs"], "train_size": config["train_size"],
                                 "diverge_factor": config["diverge_factor"],
                                 **{k: config[k] for k in ("patience", "min_delta", "monitor")}})

    def _digits(self, config: dict, seed: int) -> RunOutput:
        out = DigitsStudy().run(self._digits_config(config), seed)
        m = out.metrics
        metrics = {**dict.fromkeys(ERROR_COLUMNS), "n_params": m["n_params"],
                   "final_train_loss": m["final_train_loss"], "final_test_loss": m["final_test_loss"],
                   "final_test_acc": m["final_test_acc"], "epochs_done": m["epochs_done"],
                   "train_time_s": m["train_time_s"], **{k: m[k] for k in ("n_train", "n_test", "n_features")},
                   "data_sha256": None}
        return RunOutput(status=out.status, metrics=metrics,
                         curves={"train_loss": out.curves["train_loss"], "test_loss": out.curves["test_loss"]},
                         compile_time_s=out.compile_time_s, diverged_epoch=out.diverged_epoch)

    def report(self, runs, curves, figures):
        """Errors against depth (experiments.lcurve_report)."""
        from experiments import lcurve_report

        return lcurve_report.depth_report(runs, curves, figures)
