"""Kernel and training-speed benchmarks (issues 3 and 17), reported, never asserted.

0. The machine's peak: GFLOP/s of a large ``np.dot`` (2048 x 2048) in each dtype, the
   reference for the fractions below.
1. Dense forward + backward at 1024 -> 1024 with batch 256, against numpy's matmul of the same
   three products, in float64 and float32 (goal: at least 95 % of numpy's speed).
2. One epoch of a LeNet-like CNN on 28x28 inputs at batch 1, 16, 64 and 256, in float32 and
   float64, against PyTorch CPU with the same number of threads (goals at batch 64: float32
   >= 1.0x, float64 >= 1.2x PyTorch's speed), with the fraction of the peak each reaches
   (forward, backward and update: 3 x 2 FLOP per multiply-add of the forward pass).
3. A 3-layer MLP on the 8x8 digits with batch 1, against PyTorch eager (goal: 40x or more).

Run: ``python benchmarks/bench_kernels.py [--threads 1] [--samples 6400] [--batches 1,16,64,256]``.
"""
import argparse
import os
import time


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_peak(np) -> dict:
    """GFLOP/s of np.dot on 2048 x 2048 matrices, per dtype (best of 5)."""
    peak = {}
    for dtype in (np.float64, np.float32):
        a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)
        np.dot(a, a)
        peak[dtype] = 2 * 2048**3 / best_of(lambda: np.dot(a, a), 5) / 1e9
        print(f"peak ({np.dtype(dtype).name}): np.dot 2048x2048 {peak[dtype]:.1f} GFLOP/s")
    return peak


def bench_dense(np, dtype, peak: float, repeats=5):
    from kernels.dense import dense_backward, dense_forward

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((256, 1024)).astype(dtype), rng.standard_normal((1024, 1024)).astype(dtype)
    b, dy = rng.standard_normal(1024).astype(dtype), rng.standard_normal((256, 1024)).astype(dtype)
    y, dx, dw, db = np.empty_like(dy), np.empty_like(x), np.empty_like(w), np.empty_like(b)

    def ours():
        dense_forward(x, w, b, y)
        dense_backward(dy, x, w, dx, dw, db)

    def numpy():
        np.matmul(x, w, out=y)
        y.__iadd__(b)
        np.matmul(x.T, dy, out=dw)
        dy.sum(axis=0, out=db)
        np.matmul(dy, w.T, out=dx)

    ours()
    t_ours, t_np = best_of(ours, repeats), best_of(numpy, repeats)
    flops = 3 * 2 * 256 * 1024 * 1024
    print(f"dense 1024x1024, batch 256, fwd+bwd, {np.dtype(dtype).name}: ours {t_ours * 1e3:.1f} ms "
          f"({flops / t_ours / 1e9:.1f} GFLOP/s, {flops / t_ours / 1e9 / peak:.0%} of peak), numpy "
          f"{t_np * 1e3:.1f} ms: {t_np / t_ours:.0%} of numpy's speed")


def multiply_adds(plan) -> int:
    """Multiply-adds of one sample's forward pass through the plan's dense and conv layers."""
    from kernels import codes
    from kernels.layers import KINDS

    total = 0
    for row in plan.net.table:
        kind = KINDS[row[codes.COL_OP]].name
        if kind == "dense":
            total += row[codes.COL_IN_DIM] * row[codes.COL_OUT_DIM]
        elif kind == "conv":
            total += (row[codes.COL_C_OUT] * row[codes.COL_H_OUT] * row[codes.COL_W_OUT]
                      * row[codes.COL_C_IN] * row[codes.COL_K] ** 2)
    return int(total)


LENET = "conv6x5-pool2-conv16x5-pool2-dense120-dense84"


def bench_cnn(np, torch, samples: int, batch: int, dtype, peak: float) -> None:
    from experiments.models import parse_model
    from experiments.training import fit
    from kernels.codes import HIST_TRAIN_TIME
    from kernels.plan import Dense, build_plan

    rng = np.random.default_rng(0)
    x = rng.random((samples, 784)).astype(dtype)
    labels = rng.integers(10, size=samples)
    y = np.eye(10, dtype=dtype)[labels]
    plan = build_plan((1, 28, 28), parse_model(LENET) + [Dense(10)])
    params = plan.init_params(rng, dtype)
    times = []
    for _ in range(2):  # the first also loads the compiled engine
        result = fit(x, y, plan, params.copy(), loss="softmax-ce", optimizer="sgd", hyper=dict(lr=0.01), epochs=1,
                     batch_size=batch, seed=0)
        times.append(result.history[-1, HIST_TRAIN_TIME])
    ours = min(times)

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10)).to(torch.float64 if dtype == np.float64 else torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx = torch.tensor(x.reshape(-1, 1, 28, 28))
    ty = torch.tensor(labels)

    def epoch():
        order = torch.randperm(samples)
        for start in range(0, samples, batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tx[idx]), ty[idx]).backward()
            opt.step()

    epoch()
    theirs = best_of(epoch, 2)
    flops = 6 * multiply_adds(plan) * samples
    print(f"LeNet-like CNN, batch {batch:>3}, {samples} samples, {np.dtype(dtype).name}: ours {ours:.3f} s "
          f"({flops / ours / 1e9 / peak:.0%} of peak), PyTorch {theirs:.3f} s ({flops / theirs / 1e9 / peak:.0%}) "
          f"-> ours is {theirs / ours:.2f}x PyTorch's speed")


def bench_mlp_batch1(np, torch):
    from experiments.data import load_digits, one_hot
    from experiments.training import fit
    from kernels.codes import HIST_TRAIN_TIME
    from kernels.plan import Activation, Dense, build_plan

    data = load_digits()
    x, labels = data.x_train, data.y_train
    plan = build_plan(64, [Dense(64), Activation("relu"), Dense(64), Activation("relu"), Dense(10)])
    params = plan.init_params(np.random.default_rng(0), np.float64)
    epochs = 5
    result = fit(x, one_hot(labels, 10), plan, params, loss="softmax-ce", optimizer="sgd", hyper=dict(lr=0.01),
                 epochs=epochs, batch_size=1, seed=0)
    ours = result.history[-1, HIST_TRAIN_TIME] / (epochs * len(x))

    nn = torch.nn
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx, ty = torch.tensor(x), torch.tensor(labels)

    def epoch():
        for i in torch.randperm(len(x)).tolist():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tx[i : i + 1]), ty[i : i + 1]).backward()
            opt.step()

    epoch()
    theirs = best_of(epoch, 1) / len(x)
    print(f"3-layer MLP on digits, batch 1: ours {ours * 1e6:.2f} us/step, PyTorch eager {theirs * 1e6:.0f} us/step "
          f"-> {theirs / ours:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads for BLAS, Numba and PyTorch")
    parser.add_argument("--samples", type=int, default=6400, help="samples in the CNN epoch")
    parser.add_argument("--batches", default="1,16,64,256", help="CNN batch sizes")
    args = parser.parse_args()
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); torch {torch.__version__}")
    peak = bench_peak(np)
    for dtype in (np.float32, np.float64):
        bench_dense(np, dtype, peak[dtype])
    for dtype in (np.float32, np.float64):
        for batch in map(int, args.batches.split(",")):
            bench_cnn(np, torch, args.samples, batch, dtype, peak[dtype])
    bench_mlp_batch1(np, torch)


if __name__ == "__main__":
    main()
