"""The batch-size study: SGD on a polynomial regression, Berlyand & Jabin §8.6 (L1432-1503).

Model (8.13)-(8.15): f(x, A) = A x̂ with x̂ = (1, x, ..., x^d), A ∈ R^{n×(d+1)}: one dense layer
without bias on the features x̂. Loss (8.14): L(A) = (1/N) Σ ||A x̂_i − y_i||². The exact
minimizer (8.17) gives L_min and the relative loss L̄ = L/L_min − 1 (8.18), recorded on the
full training set at the end of every epoch.

How L is monitored: with the QR factors X̂ = QR of the N × (d+1) feature matrix,
X̂Aᵀ − Y = Q(RAᵀ − QᵀY) − (I − QQᵀ)Y splits into orthogonal parts, the second of which is the
residual of the minimizer. So L(A) − L_min = (1/N) ||RAᵀ − QᵀY||², exactly: the engine
monitors the d+1 rows √((d+1)/N)·(R, QᵀY), whose mean loss is L − L_min. This is the full
training loss at (d+1)/N of the cost, and L̄ = (L − L_min)/L_min has no cancellation.

Choices the book leaves open (recorded in every row through the parameters):
- x_i ~ U(−1, 1), i.i.d.
- y_ij = sin(ω_j x_i + φ_j) + noise·ε_ij with ω_j ~ U(1, 4), φ_j ~ U(0, 2π), ε_ij ~ N(0, 1):
  not a cubic and noisy, so L_min > 0 and (8.18) is defined.
- Data from the run's seed (stream 0); initialization and batch order from the same seed
  (streams 1 and 2): every batch size of one seed sees the same data and the same start.
- A(0): Glorot-uniform (a random start, as in (8.3)).
- Learning rate τ = 1/4 for every batch size. A mini-batch loss is a mean of single-sample
  losses ||A x̂_i − y_i||², whose Hessians have largest eigenvalue d_i = 2||x̂_i||² ≤ 8 on
  x ∈ [−1, 1] (d = 3). A gradient step on a quadratic with curvature ≤ d is non-expansive for
  τ ≤ 2/d, so τ = 2/8 keeps every step of every batch size stable (Thm 8.1.2's τ ≤ 1/d would
  give 1/8, at which the small batches level out below 0.04 and the picture of Fig 8.4 fades).
- Batches without replacement within an epoch (a fresh permutation each epoch); the
  deterministic GD curve of Fig 8.3 is the full batch b = N, written ``batch_size=full``.
- Times are seconds spent in updates only (the end-of-epoch evaluation is timed apart).

Your own regression data (``data=PATH``: a .npz with ``x`` (N, F) and ``y`` (N,) or (N, K),
or a .parquet / .csv with the ``label`` column as y and the others as x; experiments.datasets):
the model is the same linear least squares, f(x) = A x̂ with x̂ = (1, x), every row trains (no
test split), and L_min, L̄ and the monitored excess loss are exactly as above.
``n_samples`` and ``n_outputs`` are then the data's N and K; ``degree`` and ``noise`` do not
apply and are recorded as 0.
"""
import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular

from experiments.datasets import file_digest, load_dataset
from experiments.seeds import DATA, INIT, engine_seed, stream
from experiments.study import Param, RunOutput, Study, at_least, positive
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
from kernels.codes import (
    HIST_FIT_LOSS,
    HIST_REACH_STEP,
    HIST_REACH_TIME,
    HIST_TRAIN_TIME,
    HIST_WALL_TIME,
)
from kernels.plan import Dense, build_plan

# Own data whose L_min is below this share of the zero model's loss (mean ||y||²) are refused: a
# float32 run's excess loss cannot resolve below about (1e-7)² · mean ||y||², so L̄ = excess/L_min
# would be rounding divided by rounding (an exact fit y = x̂A gives L_min ≈ 1e-31).
EXACT_FIT = 1e-10
LOSS = "mse"  # ||A x̂_i − y_i||² summed over the outputs (8.17), the mean over the batch
LAST_EPOCHS = 50  # Fig 8.5a: average relative loss over the last 50 epochs
CHECKS_PER_EPOCH = 64  # Fig 8.4: b ≥ 16 reach L̄ = 0.04 within the first epoch; 1/64 of one resolves them


def features(x: np.ndarray, degree: int) -> np.ndarray:
    """x̂_i = (1, x_i, ..., x_i^d). x: (N,) -> (N, d+1)."""
    return np.vander(x, degree + 1, increasing=True)


def make_data(n_samples: int, n_outputs: int, noise: float, seed: int):
    """The study's regression data (module docstring). Returns x (N,), y (N, n), float64."""
    rng = stream(seed, DATA)
    x = rng.uniform(-1.0, 1.0, n_samples)
    omega = rng.uniform(1.0, 4.0, n_outputs)
    phi = rng.uniform(0.0, 2.0 * np.pi, n_outputs)
    y = np.sin(np.outer(x, omega) + phi) + noise * rng.standard_normal((n_samples, n_outputs))
    return x, y


def exact_minimizer(xhat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A_minᵀ of (8.17), by Householder QR of x̂ (stable; the normal equations square the
    condition number). xhat: (N, d+1), y: (N, n) -> (d+1, n), the engine's W layout."""
    q, r = np.linalg.qr(xhat)
    return solve_triangular(r, q.T @ y)


def excess_loss_set(xhat: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K = min(N, d+1) rows (x', y') whose mean loss is L(A) − L_min for every A (module
    docstring): x' = √(K/N) R (K, d+1), y' = √(K/N) Qᵀy (K, n)."""
    q, r = np.linalg.qr(xhat)
    scale = np.sqrt(r.shape[0] / xhat.shape[0])
    return scale * r, scale * (q.T @ y)


def mse(xhat: np.ndarray, w: np.ndarray, y: np.ndarray) -> float:
    """L of (8.15) with W = Aᵀ: (1/N) Σ ||x̂_i W − y_i||²."""
    return float(np.mean(np.sum((xhat @ w - y) ** 2, axis=1)))


class Problem(NamedTuple):
    """One seed's regression problem, float64, read-only: features x̂ (N, d+1), targets y (N, n),
    L_min, and the excess-loss rows (fit_x (K, d+1), fit_y (K, n)) that the engine monitors."""

    xhat: np.ndarray
    y: np.ndarray
    l_min: float
    fit_x: np.ndarray
    fit_y: np.ndarray


@functools.lru_cache(maxsize=4)
def problem(n_samples: int, n_outputs: int, degree: int, noise: float, seed: int) -> Problem:
    """The data and exact solution of a seed, made once per process: every batch size of a
    sweep trains on the same problem, and a worker reuses it from run to run."""
    x, y = make_data(n_samples, n_outputs, noise, seed)
    xhat = features(x, degree)
    l_min = mse(xhat, exact_minimizer(xhat, y), y)
    arrays = (xhat, y, *excess_loss_set(xhat, y))
    for a in arrays:
        a.flags.writeable = False
    return Problem(xhat, y, l_min, *arrays[2:])


@functools.lru_cache(maxsize=4)
def data_problem(path: str, label: str) -> Problem:
    """The user's data set at ``path`` as a Problem (module docstring), made once per process."""
    data = load_dataset(path, label, task="regression", test_fraction=0)
    xhat = np.ascontiguousarray(np.column_stack([np.ones(len(data.x_train)), data.x_train]))  # a table's is F-ordered
    y = np.ascontiguousarray(data.y_train)
    l_min = mse(xhat, exact_minimizer(xhat, y), y)
    scale = float(np.mean(np.sum(y**2, axis=1)))  # the loss of the zero model
    if not l_min > EXACT_FIT * scale:
        raise ValueError(f"{path}: the linear model fits these data exactly, to rounding (L_min = {l_min:.3g}, "
                         f"{l_min / scale if scale else 0:.2g} of the zero model's loss); the relative loss "
                         "L/L_min - 1 is then rounding noise")
    arrays = (xhat, y, *excess_loss_set(xhat, y))
    for a in arrays:
        a.flags.writeable = False
    return Problem(xhat, y, l_min, *arrays[2:])


def reach_within_epochs(history: np.ndarray, reach: int | None, iters_per_epoch: int,
                        train_times: np.ndarray) -> tuple[int | None, float | None]:
    """(steps, seconds in updates) to the first reach of the target: from the engine's checks
    within epochs where one found it (HIST_REACH_*), else at the end of epoch ``reach`` (the
    epoch curves' resolution: without checks, on the CUDA target, or reached before any check)."""
    found = np.flatnonzero(np.isfinite(history[:, HIST_REACH_STEP]))
    if found.size:
        return int(history[found[0], HIST_REACH_STEP]), float(history[found[0], HIST_REACH_TIME])
    if reach is None:
        return None, None
    return reach * iters_per_epoch, float(train_times[reach])


def first_reach(values: np.ndarray, level: float) -> int | None:
    """Index of the first entry <= level, or None."""
    hits = np.flatnonzero(values <= level)
    return int(hits[0]) if hits.size else None


class BatchSizeStudy(Study):
    name = "batch-size"
    title = "SGD batch size on a polynomial regression"
    source = "Berlyand & Jabin §8.6, Figs 8.3-8.5"
    params = (
        Param("batch_size", int, 32, "SGD batch size b (1..N); 'full' = deterministic GD",
              check=at_least(1), aliases={"full": 0}),
        Param("n_samples", int, 2**13, "N, training samples", check=at_least(1), names=("N",)),
        Param("n_outputs", int, 64, "n, outputs (polynomials)", check=at_least(1), names=("n",)),
        Param("degree", int, 3, "d, polynomial degree", check=at_least(0), names=("d",)),
        Param("noise", float, 0.1, "standard deviation of the noise on y",
              check=lambda v: None if v >= 0 else "must be >= 0"),
        *optimizer_params("sgd", 0.25, step=50),
        Param("epochs", int, 200, "epochs of training", check=at_least(1)),
        *stopping_params(("fit",)),
        Param("rel_loss_target", float, 0.04, "relative loss whose first reach is timed (Fig 8.4)",
              check=positive),
        Param("checks_per_epoch", int, CHECKS_PER_EPOCH, "checks of L̄ within each epoch that time its first "
              "reach of rel_loss_target between epoch ends (0: at epoch ends only)", check=at_least(0)),
        Param("dtype", str, "float64", "floating-point type of the training", choices=("float64", "float32")),
        target_param(),
        Param("data", str, "", "your regression data (.npz, .parquet, .csv) instead of the book's "
              "polynomial problem"),
        Param("label", str, "y", "data=.parquet/.csv: the name of the target column"),
    )
    default_grid = {"batch_size": [2**k for k in range(12)] + [0]}
    metrics = {
        "method": str,
        "l_min": float,
        "final_loss": float,
        "final_rel_loss": float,
        "min_rel_loss": float,
        "mean_rel_loss_last50": float,
        "epochs_to_target": int,
        "steps_to_target": int,
        "time_to_target_s": float,
        "epochs_done": int,
        "iterations": int,
        "train_time_s": float,
        "eval_time_s": float,
        "time_per_iter_s": float,
        "n_features": int,
        "data_sha256": str,
    }
    curve_columns = {
        "loss": float,
        "rel_loss": float,
        "train_time_s": float,
        "wall_time_s": float,
    }

    def normalize(self, config: dict) -> dict:
        config = dict(config)
        defaults = self.defaults()
        if config["data"]:
            for key in ("n_samples", "n_outputs", "degree", "noise"):
                if config[key] != defaults[key]:
                    raise ValueError(f"{key}={config[key]!r} does not apply to data={config['data']!r} "
                                     "(the data set it)")
            config["data"] = str(Path(config["data"]).resolve())
            own = data_problem(config["data"], config["label"])
            config.update(n_samples=own.y.shape[0], n_outputs=own.y.shape[1], degree=0, noise=0.0)
        elif config["label"] != defaults["label"]:
            raise ValueError(f"label={config['label']!r} is read only with data=PATH")
        n = config["n_samples"]
        if config["batch_size"] == 0:  # the "full" alias: deterministic GD
            config["batch_size"] = n
        if config["batch_size"] > n:
            raise ValueError(f"batch_size: {config['batch_size']} is larger than n_samples = {n}")
        return config

    def memory(self, config: dict) -> int:
        """fit_bytes, and the float64 problem: x̂ (N, d+1), y (N, n) and make_data's two
        temporaries of y's size."""
        n, features, outputs = config["n_samples"], config["degree"] + 1, config["n_outputs"]
        if config["data"]:
            features = data_problem(config["data"], config["label"]).xhat.shape[1]
        plan = build_plan(features, self._layers(config))
        return fit_bytes(plan, n, features, config["epochs"], config["batch_size"], config["dtype"]) + (
            8 * n * (features + 3 * outputs))

    def engines(self, config: dict) -> set:
        return engine_for(self._layers(config), config["dtype"], config["target"], loss=LOSS)

    @staticmethod
    def _layers(config: dict) -> list:
        return [Dense(config["n_outputs"], bias=False)]

    def run(self, config: dict, seed: int) -> RunOutput:
        dtype = np.dtype(config["dtype"])
        n_samples, batch_size = config["n_samples"], config["batch_size"]
        if config["data"]:
            xhat, y, l_min, fit_x, fit_y = data_problem(config["data"], config["label"])
        else:
            xhat, y, l_min, fit_x, fit_y = problem(n_samples, config["n_outputs"], config["degree"],
                                                   config["noise"], seed)
        plan = build_plan(xhat.shape[1], self._layers(config))
        params = plan.init_params(stream(seed, INIT), dtype)
        iters_per_epoch = -(-n_samples // batch_size)
        checks = config["checks_per_epoch"]  # the monitored loss is L − L_min: L̄ ≤ target ⇔ it ≤ target·L_min
        result = fit(xhat.astype(dtype), y.astype(dtype), plan, params, loss=LOSS, optimizer=config["optimizer"],
                     hyper=hyper_from(config), schedule=config["schedule"],
                     check_every=max(1, iters_per_epoch // checks) if checks else 0,
                     check_level=config["rel_loss_target"] * l_min,
                     penalize_biases=config["penalize_biases"], epochs=config["epochs"], batch_size=batch_size,
                     seed=engine_seed(seed),
                     fit_set=(fit_x.astype(dtype), fit_y.astype(dtype)), target=config["target"],
                     **stopping_from(config))
        excess = result.column(HIST_FIT_LOSS)
        losses = l_min + excess
        train_times = result.column(HIST_TRAIN_TIME)
        wall_times = result.column(HIST_WALL_TIME)

        rel = excess / l_min
        iterations = iters_per_epoch * result.epochs_done
        train_time = float(train_times[-1])
        reach = first_reach(rel, config["rel_loss_target"])
        steps, seconds = reach_within_epochs(result.history, reach, iters_per_epoch, train_times)
        metrics = {
            "method": "gd" if batch_size == n_samples else "sgd",
            "l_min": l_min,
            "final_loss": float(losses[-1]),
            "final_rel_loss": float(rel[-1]),
            "min_rel_loss": float(np.nanmin(rel)),
            "mean_rel_loss_last50": float(np.mean(rel[1:][-LAST_EPOCHS:])) if result.epochs_done else None,
            "epochs_to_target": reach,
            "steps_to_target": steps,
            "time_to_target_s": seconds,
            "epochs_done": result.epochs_done,
            "iterations": iterations,
            "train_time_s": train_time,
            "eval_time_s": float(wall_times[-1]) - train_time,
            "time_per_iter_s": train_time / iterations if iterations else None,
            "n_features": xhat.shape[1],  # of x̂, the constant 1 included
            "data_sha256": file_digest(config["data"]) if config["data"] else None,
        }
        curves = {"loss": losses, "rel_loss": rel,
                  "train_time_s": train_times, "wall_time_s": wall_times}
        diverged = result.diverged_epoch(config["diverge_factor"])
        return RunOutput(status="ok" if diverged is None else "diverged", metrics=metrics, curves=curves,
                         compile_time_s=result.compile_time_s, diverged_epoch=diverged)

    def report(self, runs, curves, figures):
        """Time to the loss target against b, and its findings (experiments.batch_size_report)."""
        from experiments import batch_size_report

        return batch_size_report.report(runs, curves, figures)
