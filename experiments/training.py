"""Run the compiled engine once from Python: build the hyper vector, time the compile, call
``train`` and hand back its history."""
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from experiments import launches
from experiments.study import Param, at_least, non_negative
from kernels import codes, engine, losses, optimizers, records, schedules, steps
from kernels.plan import Plan
from kernels.variants import Variant, variant_of_layers

EVAL_ROWS = 1024  # chunk size of the monitor evaluation at the end of each epoch
DIVERGE_FACTOR = 10.0  # a run diverged when its training loss exceeds this × its initial loss


def optimizer_params(optimizer: str, lr: float, step: int) -> tuple[Param, ...]:
    """The parameters every training study shares, with the given defaults for the optimizer,
    τ₀ and the step schedule's period: the optimizer and the schedule (their kinds' names), every
    hyperparameter a kind reads (kernels.steps.HYPERPARAMETERS: the rate, the penalties, each
    kind's own, as declared), whether biases are penalized, and the divergence criterion."""
    defaults = {"lr": lr, "step": step}
    return (
        Param("optimizer", str, optimizer, "optimizer (kernels.optimizers)", choices=tuple(optimizers.CODES)),
        Param("schedule", str, "constant", "learning-rate schedule (kernels.schedules)", choices=tuple(schedules.CODES)),
        *(Param(h.name, h.type, defaults.get(h.name, h.default), h.doc, check=h.check) for h in steps.HYPERPARAMETERS),
        Param("penalize_biases", bool, False, "apply the penalties to biases too"),
        diverge_param(),
    )


MONITORS = {"fit": codes.HIST_FIT_LOSS, "test": codes.HIST_TEST_LOSS}  # what patience watches


def stopping_params(monitors: tuple[str, ...] = ("fit", "test")) -> tuple[Param, ...]:
    """Early stopping by patience (kernels.stopping), off by default; ``monitors``: the losses a
    study has (fit only where it holds no test set)."""
    return (
        Param("patience", int, 0, "stop after this many epochs in a row without an improvement of the monitored "
              "loss by more than min_delta (0: never)", check=at_least(0)),
        Param("min_delta", float, 0.0, "the least decrease of the monitored loss that counts as an improvement",
              check=non_negative),
        Param("monitor", str, "fit", "the loss that patience watches: " + " or ".join(monitors), choices=monitors),
    )


def stopping_from(config: dict) -> dict:
    """``fit``'s early-stopping arguments from a configuration with diverge_param and
    stopping_params: the engine stops a run where it diverges, and by patience."""
    return {"stop_factor": config["diverge_factor"], "patience": config["patience"],
            "min_delta": config["min_delta"], "monitor": config["monitor"]}


def diverge_param() -> Param:
    """The divergence criterion of a training study (Fit.diverged_epoch), recorded in every row."""
    return Param("diverge_factor", float, DIVERGE_FACTOR, "a run diverged, and stops, when its training loss "
                 "exceeds this × its initial loss, or is not finite",
                 check=lambda v: None if v >= 1 else "must be >= 1")


def _target_available(target):
    if target == "cuda":
        from kernels.cuda import unavailable

        return unavailable()
    return None


def target_param() -> Param:
    """Where a run trains: the CPU engine, or the CUDA one (one thread block per run; needs
    numba-cuda and a GPU, or the simulator, NUMBA_ENABLE_CUDASIM=1). Both give the same
    results to rounding; the times are the device's."""
    return Param("target", str, "cpu", "where the training runs: cpu, or cuda (numba-cuda, an NVIDIA GPU)",
                 choices=("cpu", "cuda"), check=_target_available)


def hyper_from(config: dict) -> dict:
    """The hyperparameters (kernels.steps.SLOTS) of a configuration that has the optimizer_params."""
    return {name: config[name] for name in steps.SLOTS}


@dataclass
class Fit:
    """A finished training run: the trained parameters (P,) and buffers (B,: batch norm's running
    statistics). History columns are kernels.codes.HIST_*; (epochs_done + 1) rows, row 0 before
    training."""

    params: np.ndarray
    buffers: np.ndarray
    history: np.ndarray
    epochs_done: int
    compile_time_s: float

    def column(self, col: int) -> np.ndarray:
        return self.history[:, col]

    def diverged_epoch(self, factor: float = DIVERGE_FACTOR) -> int | None:
        """The first epoch whose training loss is not finite or exceeds ``factor`` times the
        initial loss (row 0); 0 if the initial loss itself is not finite (a NaN activation
        parameter, data that overflow the loss); None if there is none. The definition of a
        diverged run."""
        loss = self.history[:, codes.HIST_FIT_LOSS]
        if not np.isfinite(loss[0]):
            return 0
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(loss[1:]) | (loss[1:] > factor * loss[0])
        return int(np.argmax(bad)) + 1 if bad.any() else None


def fit_bytes(plan: Plan, rows: int, monitored: int, epochs: int, batch_size: int, dtype) -> int:
    """An estimate from above of the bytes one ``fit`` allocates: the training rows and the
    monitored (fit and test) rows in ``dtype`` (x and y: n_in + n_out entries a row, counted
    twice for the float64 data they are cast from); the engine's workspaces of
    max(batch_size, EVAL_ROWS) rows (kernels.engine._workspaces: activations and their
    gradients, caches, scratch, targets); the parameters with their gradient, optimizer state,
    penalty mask and the copies ``fit`` makes (6 P); and the history ((epochs + 1) × N_HIST
    float64). Python integers: no overflow for sizes that cannot fit."""
    item = np.dtype(dtype).itemsize
    width, cache, icache, scratch, n_params = (int(plan.net.sizes[k]) for k in (
        codes.SIZE_WIDTH, codes.SIZE_CACHE, codes.SIZE_ICACHE, codes.SIZE_SCRATCH, codes.SIZE_PARAMS))
    capacity = max(int(batch_size), EVAL_ROWS)
    data = (rows + monitored) * (plan.n_in + plan.n_out) * (item + 8)
    work = capacity * ((2 * width + cache + plan.n_out) * item + 8 * icache) + scratch * item
    return data + work + 6 * n_params * item + (int(epochs) + 1) * codes.N_HIST * 8


def _call(target, data, plan, method, epochs, batch_size, seed, params, buffers, history, stopping=()):
    """One run of the engine of ``target``: kernels.engine.train, or on "cuda" the run's share of
    a launch: of the pack this process runs (experiments.launches), or one of its own.
    stopping: the early-stopping and check fields of kernels.records.settings. Returns the
    epochs completed."""
    settings = records.settings(epochs, batch_size, batch_size < len(data.x), seed, EVAL_ROWS, *stopping)
    if target != "cuda":
        return engine.train(data, plan.net, method, settings, params, buffers, history)
    if (launcher := launches.current()) is not None:
        return launcher.submit(launches.Job(data, plan.net, method, settings, params, buffers, history))
    from kernels.cuda import engine as cuda_engine

    run = cuda_engine.Run(0, plan.net, method, settings)
    return int(cuda_engine.train([data], [run], params[None], buffers[None], history[None])[0])


def fit(x, y, plan: Plan, params, *, loss: str, optimizer: str, hyper: dict, epochs: int,
        batch_size: int, seed: int, schedule: str = "constant", penalize_biases: bool = False,
        fit_set=None, test_set=None, target: str = "cpu", stop_factor: float = np.inf, patience: int = 0,
        min_delta: float = 0.0, monitor: str = "fit", check_every: int = 0, check_level: float = 0.0) -> Fit:
    """Train ``params`` (P,) on x (N, n_in), y (N, n_out), all of one dtype, in one compiled call
    on ``target`` ("cpu" or "cuda": the backend-neutral entry point of the engine). The plan's
    buffers start from their initial values (Plan.init_buffers).

    batch_size = N gives deterministic full-batch gradient descent (no shuffling). fit_set: the
    (x, y) monitored as the training loss (default: the training data); test_set: a held-out
    (x, y) monitored each epoch (default: none). The run stops early (kernels.stopping) when its
    fit loss is not finite or exceeds stop_factor × the initial one (stopping_from passes the
    study's diverge_factor), or after ``patience`` epochs (0: never) in which the ``monitor``
    loss ("fit" or "test") improved by no more than min_delta; the history ends there.

    hyper: the rate τ₀ as "lr" and any other hyperparameter by name (kernels.steps.SLOTS; the
    kinds' defaults fill the rest). check_every > 0: the fit loss is checked every that many
    steps until it first reaches check_level (kernels.engine.train).

    On "cuda" inside a pack (experiments.launches), the run joins the pack's next launch;
    compile_time_s is then the pack's compile (or load) of the device engine for the dtype.
    """
    dtype = params.dtype
    empty = (np.zeros((0, plan.n_in), dtype), np.zeros((0, plan.n_out), dtype))
    fit_set = (x, y) if fit_set is None else fit_set
    test_set = empty if test_set is None else test_set
    method = records.method(losses.CODES[loss], optimizers.CODES[optimizer], schedules.CODES[schedule],
                            steps.vector(dtype, **hyper), plan.penalty_mask(penalize_biases, dtype))
    buffers = plan.init_buffers(dtype)

    launcher = launches.current() if target == "cuda" else None
    if launcher is None:
        t0 = time.perf_counter()  # compile, or load from the on-disk cache, with a zero-epoch call
        _call(target, records.Data(x[:1], y[:1], *empty, *empty), plan, method, 0, 1, 0, params.copy(),
              buffers.copy(), np.zeros((1, codes.N_HIST)))
        compile_time = time.perf_counter() - t0

    history = np.full((epochs + 1, codes.N_HIST), np.nan)
    done = _call(target, records.Data(x, y, *fit_set, *test_set), plan, method, epochs, batch_size, seed, params,
                 buffers, history, (stop_factor, patience, min_delta, MONITORS[monitor], check_every, check_level))
    if launcher is not None:  # the pack compiled the device engine for this dtype before its first launch
        compile_time = launcher.compile_time_s[dtype.str]
    return Fit(params, buffers, history[: done + 1], done, compile_time)


class Engine(NamedTuple):
    """One compiled training engine (kernels.engine.prepare): a plan variant (with the loss it
    trains with) and a dtype name."""

    variant: Variant
    dtype: str

    def label(self) -> str:
        """``float64 dense+activation (relu) softmax-ce``: the dtype, what the plan holds, the loss."""
        kinds, activations = self.variant.names()
        fused = "(fused)" if self.variant.fused else ""
        uses = f" ({','.join(activations)})" if activations else ""
        return f"{self.dtype} {'+'.join(kinds)}{fused}{uses} {'+'.join(self.variant.loss_names())}"


def engine_for(layers: list, dtype, target: str = "cpu", *, loss: str) -> set:
    """{the Engine that ``fit`` compiles for a model of ``layers`` trained with ``loss``} on the
    CPU target (the CUDA engine compiles on its device: nothing to prepare here)."""
    return {Engine(variant_of_layers(layers, losses.CODES[loss]), np.dtype(dtype).name)} if target == "cpu" else set()
