"""Kernel and training-speed benchmarks of issue 3, reported, never asserted.

1. Dense forward + backward at 1024 -> 1024 with batch 256, against numpy's matmul of the same
   three products (goal: at least 80 % of its speed).
2. One epoch of a LeNet-like CNN on 28x28 inputs, batch 64, against PyTorch CPU with the same
   number of threads (goal: not slower).
3. A 3-layer MLP on the 8x8 digits with batch 1, against PyTorch eager (goal: 40x or more).

Run: ``python benchmarks/bench_kernels.py [--threads 1] [--samples 6400]``.
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


def bench_dense(np, repeats=5):
    from kernels.dense import dense_backward, dense_forward

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((256, 1024)), rng.standard_normal((1024, 1024)), rng.standard_normal(1024)
    dy = rng.standard_normal((256, 1024))
    y, dx, dw, db = np.empty((256, 1024)), np.empty_like(x), np.empty_like(w), np.empty(1024)

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
    print(f"dense 1024x1024, batch 256, fwd+bwd: ours {t_ours * 1e3:.1f} ms ({flops / t_ours / 1e9:.1f} GFLOP/s), "
          f"numpy {t_np * 1e3:.1f} ms: {t_np / t_ours:.0%} of numpy's speed")


LENET = "conv6x5-pool2-conv16x5-pool2-dense120-dense84"


def bench_cnn(np, torch, samples):
    from experiments.models import parse_model
    from experiments.training import Hyper, fit
    from kernels.codes import HIST_TRAIN_TIME
    from kernels.plan import Dense, build_plan

    rng = np.random.default_rng(0)
    x = rng.random((samples, 784))
    labels = rng.integers(10, size=samples)
    y = np.eye(10)[labels]
    plan = build_plan((1, 28, 28), parse_model(LENET) + [Dense(10)])
    params = plan.init_params(rng, np.float64)
    result = fit(x, y, plan, params, loss="softmax-ce", optimizer="sgd", hyper=Hyper(lr=0.01), epochs=1,
                 batch_size=64, seed=0)
    ours = result.history[-1, HIST_TRAIN_TIME]

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10)).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    tx = torch.tensor(x.reshape(-1, 1, 28, 28))
    ty = torch.tensor(labels)

    def epoch():
        order = torch.randperm(samples)
        for start in range(0, samples, 64):
            idx = order[start : start + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tx[idx]), ty[idx]).backward()
            opt.step()

    epoch()
    theirs = best_of(epoch, 2)
    print(f"LeNet-like CNN, 28x28, batch 64, {samples} samples, float64: ours {ours:.2f} s, PyTorch {theirs:.2f} s "
          f"-> ours is {theirs / ours:.2f}x PyTorch's speed ({samples / ours:.0f} vs {samples / theirs:.0f} samples/s)")


def bench_mlp_batch1(np, torch):
    from experiments.data import load_digits, one_hot
    from experiments.training import Hyper, fit
    from kernels.codes import HIST_TRAIN_TIME
    from kernels.plan import Activation, Dense, build_plan

    data = load_digits()
    x, labels = data.x_train, data.y_train
    plan = build_plan(64, [Dense(64), Activation("relu"), Dense(64), Activation("relu"), Dense(10)])
    params = plan.init_params(np.random.default_rng(0), np.float64)
    epochs = 5
    result = fit(x, one_hot(labels, 10), plan, params, loss="softmax-ce", optimizer="sgd", hyper=Hyper(lr=0.01),
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
    args = parser.parse_args()
    for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); torch {torch.__version__}")
    bench_dense(np)
    bench_cnn(np, torch, args.samples)
    bench_mlp_batch1(np, torch)


if __name__ == "__main__":
    main()
