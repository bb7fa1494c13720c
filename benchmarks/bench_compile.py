"""Benchmark: the cold start. Each case is a whole command, run first with an empty Numba cache
(a new machine, node, Numba version or kernel edit) and then again with the cache it filled,
in the same script, so every cold figure stands next to its warm one. Wall seconds from
process start to exit; the machine should be otherwise idle.

Cases (the goals of issue 21 in brackets):
- one batch-size run, one worker, float64 and float32 [cold <= 8 s each];
- one run of the digits CNN conv8x3p1-pool2-conv16x3p1-pool2-dense64 [<= 15 s];
- ``runner warm batch-size --grid dtype=float64,float32`` [<= 15 s];
- ``make run``'s two commands (the default batch-size sweep, 13 runs, and its report) [<= 45 s].

``--profile SPEC`` instead compiles one model (``linear``: the batch-size model, or a digits
model spec) with an empty cache and lists where the compile went, per compiled function,
exclusive and inclusive seconds (Numba's compile events).

Measured on the project's 2-core machine (see the README for the table of every case):
- Before (efca45b): one batch-size run 58.6 s cold; the walks held every layer kind and every
  activation, so a one-layer linear model compiled convolution, pooling, batch norm and
  dropout (113 functions). Per variant (kernels.specialize): 6.1 s to compile the fused linear
  engine (23 functions), 27.5 s the digits CNN (from 31.9 s with every activation in it).
- Inlining: Numba-IR inlining (``inline="always"``) against plain calls that LLVM may inline,
  for every helper at once: 17.7 s against 18.6 s for a dense model, the same within noise;
  the walks as separate kernels instead of inlined: 32.7 s against 27.5 s for the CNN (each
  compiled function re-optimizes and re-emits the code it links in). Optimizer, loss and
  fused-gradient dispatch as separate kernels: 13.3 s against 15.1 s (dense, walks still
  compiled). Kept: walks and layer wrappers inlined, the loss's forward and backward as
  kernels; the optimizer step and the fused gradient stay inlined (called every step: as
  kernels, b = 1 on the fused path looked slower, within this machine's noise).
- NumPy slice assignment between arrays in compiled code (``a[:, :] = b``) compiles its
  shape-error formatting: 4.0 s in a fresh process for a one-line function; replaced by
  element loops (kernels.views.copy).
- LLVM's share: with NUMBA_OPT=0 the CNN compiles in 19.0 s against 27.5 s; the rest is
  Numba's type inference and lowering.
- Literal arguments (a later session, on a machine where the CNN engine took 38-46 s): a call
  from compiled code with a constant argument (the walks pass ``training=True``, ``False``,
  step ``0``) is typed as a literal, and Numba compiled the callee once per literal: conv and
  pool forward twice per CNN. kernels.jit.Kernel types them as plain types.
- ``raise`` in an inlined helper releases every variable live in the caller first: in the
  CNN's ``_train`` a third of the LLVM IR (34.2k lines, 23.4k after kernels.fail's out-of-line
  raises; evaluate 9.8k to 7.5k). With both: 35-39 s against 38-46 s, paired, in-process.
- Tried on that machine and left out: the forward walk as its own kernel, shared by the
  training step and the evaluation (+11 %); the layer wrappers inlined at Numba-IR level
  (±0: the LLVM time moves into type inference); the views' whole bounds check out of line
  (−3 %, noise). NUMBA_OPT=1 or 2: −18 % of the compile, run speed not measured.

- The accuracy count (kernels.loss.n_correct) called ``correct`` once per loss kind, each call
  inlined and typed apart: 3.2-4.4 s exclusive in the CNN's profile (three runs), 0.7 s with
  one call whose threshold comes from the kind. Whole cold CNN commands, alternated with the
  tree before it on a machine whose noise is larger than that: 40.4 and 47.4 s before, 42.7 and
  37.7 s after.
- Two processes for one engine (a spawned helper compiling the evaluation into the cache while
  this process compiles the gradient template, then ``_train``): 46.7 s against 33.8 s. The
  gradient template costs 23 s by itself (its own walks and LLVM over every kernel it links)
  and ``_train`` still 16 s after both; not kept.

- Two rounds over the cores (runner.compile, kernels.engine.PARTS; a later session, machine
  about 1.5x slower than the README table's). Where the digits CNN's compile went, in one
  process: the layers' kernels and the other leaves about 23 s, ``evaluate`` 3.3 s, ``_train``
  12 s; the leaves do not call each other, so a process of its own compiles the evaluation
  (``evaluate`` with the forward walk's kernels) and another the step (the backward walk's
  kernels, optimizer, loss gradient, schedule, penalty, workspaces), each typed as ``_train``
  calls them, and ``_train`` then loads them: the engine in about 25 s against 38-46 s.
- The walks as kernels of their own (not inlined): in one process the CNN compiles in 41.2 s
  against 38.7 s, but ``_train`` alone, its parts cached, in 8-10 s against 12-14 s, and in two
  rounds that is what waits. With the parts cached, LLVM re-optimizing and emitting the code
  ``_train`` links (the evaluation, the walks, every kernel) is 6.6 s of its 9.7 s; Numba's
  own implementations that it types (np.empty, np.arange, shuffle) about 1 s more: left.
  Run speed, warm, alternated with the inlined walks three times (best of each process): the
  LeNet-like CNN's float32 epoch at b = 64 (6400 samples) 0.61, 0.59, 0.64 s against 0.63,
  0.68, 0.59 s; the 3-layer MLP at b = 1 5.6, 6.0, 6.0 us a step against 8.2, 5.5, 7.3 us (the
  known bimodal figure): no difference beyond the noise.
- Tried and not kept: the fused gradient (kernels.fused) as a kernel compiled with the step's
  part: the fused ``_train`` alone 4.9 s against 7.4 s, but the b = 1 step of the batch-size
  model 0.28-0.42 us against 0.20-0.32 us (three alternated pairs): it stays inlined.

- The loss per engine (kernels.variants.Variant.losses; a later session, the same kind of
  machine): the fused training loop inlined the gradient of all five loss kinds and the
  evaluation typed all five losses and accuracy counts. Truncating the loss list to one kind
  first, as an estimate: both rounds 12.3-12.6 s before, 8.8-10.5 s after; truncating the
  optimizer list to one kind as well gained nothing measurable beside it, and the
  learning-rate study sweeps every optimizer with one engine: optimizers stay one dispatch.
  Whole cold commands, alternated five times with the version before (README): one batch-size
  run 12.3 -> 10.6 s (float64) and 12.2 -> 10.3 s (float32) on average, the CNN unchanged.
- Tried and not kept: Numba's own implementations (np.empty, np.zeros, np.arange, seed,
  shuffle, builtin max) moved out of ``_train`` into small kernels compiled with the parts.
  ``_train`` alone then compiled in 3.7-4.4 s against 4.2-5.4 s, but the step part grew by as
  much: both rounds 7.9-9.0 s against 7.6-8.5 s (four alternated runs, the parts rebalanced
  once). The work moves, it does not shrink.

- Calls by symbol (kernels.link; a later session, on a machine that ran the version before
  about twice as fast as the one above: the CNN 15.3-15.9 s, a batch-size run 5.6-5.8 s).
  Numba linked every callee's code into its caller and LLVM re-optimized and re-emitted it at
  each level: in one process the CNN's ``_train`` 4.2 s, ``evaluate`` 1.9 s and each walk
  1.8 s of their own, 22.3 s in all; called by symbol 1.3, 0.6 and 0.7-0.8 s, 14.5 s in all
  (the batch-size model 5.9 -> 5.5 s). Whole cold commands, alternated three times: the CNN
  15.3-15.9 -> 10.4-10.7 s, a batch-size run 5.6-5.8 -> 5.2-5.6 s, ``runner warm`` and
  ``make run`` unchanged within the noise (README). Kernels called per sample or row inside
  another (im2col, col2im, the norms' rows) by symbol made the float32 CNN epoch about a
  tenth slower: they stay linked (kernels.jit.inner_kernel), as do the raise helpers
  (kernels.fail), which every part calls.

Run with ``python benchmarks/bench_compile.py`` (``make bench`` runs it too). Nothing is asserted.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNNER = str(Path(sys.executable).with_name("runner"))
CNN = "conv8x3p1-pool2-conv16x3p1-pool2-dense64"


def cases(out: Path) -> list[tuple[str, list[list[str]]]]:
    one = ["sweep", "batch-size", "--grid", "batch_size=64", "--grid", "epochs=1", "--workers", "1", "--force"]
    return [
        ("one batch-size run, float64", [[RUNNER, *one, "--out", str(out / "b64")]]),
        ("one batch-size run, float32", [[RUNNER, *one, "--grid", "dtype=float32", "--out", str(out / "b32")]]),
        ("one digits CNN run", [[RUNNER, "sweep", "digits", "--grid", f"model={CNN}", "--grid", "epochs=1",
                                 "--workers", "1", "--force", "--out", str(out / "cnn")]]),
        ("runner warm batch-size, both dtypes", [[RUNNER, "warm", "batch-size", "--grid", "dtype=float64,float32"]]),
        ("make run (sweep + report)", [[RUNNER, "sweep", "batch-size", "--force", "--out", str(out / "run")],
                                       [RUNNER, "report", str(out / "run")]]),
    ]


def timed(commands: list[list[str]], cache: Path) -> float:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    t0 = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return time.perf_counter() - t0


def bench(only: str | None) -> None:
    out = Path(tempfile.mkdtemp())
    print(f"{'case':40} {'cold s':>8} {'warm s':>8}")
    for k, (name, commands) in enumerate(cases(out)):
        if only and only not in name:
            continue
        cache = out / f"cache{k}"  # empty: a cold start
        cold, warm = timed(commands, cache), timed(commands, cache)
        print(f"{name:40} {cold:8.1f} {warm:8.1f}", flush=True)


def profile(spec: str, dtype: str) -> None:
    """Compile one model's engine in this process (run with an empty NUMBA_CACHE_DIR) and list
    the compiled functions by exclusive time."""
    from collections import Counter

    from numba.core import event

    inclusive, exclusive, stack = Counter(), Counter(), []

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append([time.perf_counter(), 0.0])

        def on_end(self, ev):
            fn = ev.data["dispatcher"].py_func
            start, children = stack.pop()
            took = time.perf_counter() - start
            name = f"{fn.__module__}.{fn.__qualname__}"
            inclusive[name] += took
            exclusive[name] += took - children
            if stack:
                stack[-1][1] += took

    from experiments.models import parse_model
    from kernels import losses
    from kernels.engine import prepare
    from kernels.plan import Dense
    from kernels.variants import variant_of_layers

    layers = [Dense(64, bias=False)] if spec == "linear" else parse_model(spec, "relu") + [Dense(10)]
    event.register("numba:compile", Listener())
    t0 = time.perf_counter()
    prepare(variant_of_layers(layers, losses.CODES["mse" if spec == "linear" else "softmax-ce"]), dtype)
    print(f"{spec} {dtype}: {time.perf_counter() - t0:.1f} s, {len(exclusive)} functions compiled")
    for name, seconds in exclusive.most_common(25):
        print(f"{seconds:7.2f} s exclusive {inclusive[name]:7.2f} s inclusive  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--profile", metavar="SPEC", help="profile the compile of one model instead")
    parser.add_argument("--dtype", default="float64", help="dtype of --profile")
    args = parser.parse_args()
    if args.profile:
        os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp())
        if os.listdir(os.environ["NUMBA_CACHE_DIR"]):
            raise SystemExit("--profile needs an empty NUMBA_CACHE_DIR (unset: a new one is made)")
        profile(args.profile, args.dtype)
    else:
        bench(args.only)


if __name__ == "__main__":
    main()
