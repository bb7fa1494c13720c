"""Runs packed into CUDA launches (experiments.launches, runner.execute.stream_pack), on the
simulator without a GPU: each packed run equals the same run on the CPU, the runs share as few
launches as their shapes allow, and a failing run fails alone."""
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from experiments import launches
from experiments.training import fit
from kernels import records
from kernels.plan import Activation, Dense, Dropout, build_plan

PLAN = build_plan(3, [Dense(6), Activation("tanh"), Dropout(0.2), Dense(2)])


def _problem(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((12, 3)), rng.standard_normal((12, 2))


RUNS = [  # seed of the data, batch size, optimizer, schedule, epochs
    (0, 4, "sgd", "constant", 3), (0, 12, "adam", "cosine", 2), (1, 1, "adamw", "step", 2),
    (1, 3, "heavy-ball", "constant", 3), (2, 6, "lion", "inverse", 1),
]


def _fit(case, target):
    seed, batch, optimizer, schedule, epochs = case
    x, y = _problem(seed)
    params = PLAN.init_params(np.random.default_rng(seed + 10), np.float64)
    return fit(x, y, PLAN, params, loss="mse", optimizer=optimizer, hyper={"lr": 0.05, "l2": 0.01},
               schedule=schedule, epochs=epochs, batch_size=batch, seed=seed, target=target,
               check_every=2, check_level=0.5)


def _in_threads(cases, work, launcher_memory=None):
    """work(case) for every case, each in its own thread of one pack; (results, launcher)."""
    results = [None] * len(cases)
    with launches.packing(len(cases), device_memory=launcher_memory) as launcher:
        def one(i):
            try:
                results[i] = work(cases[i])
            except Exception as err:  # noqa: BLE001 - the test looks at it
                results[i] = err
            finally:
                launcher.leave()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
    return results, launcher


def test_packed_fits_equal_cpu_fits_in_one_launch_per_block_size():
    """Five fits in five threads of one pack (three data sets, batch sizes 1..12, five optimizers
    and four schedules, 1-3 epochs): each Fit equals the CPU's to rounding, checks within epochs
    included; they share one launch per block size (threads_for), after one compile."""
    packed, launcher = _in_threads(RUNS, lambda case: _fit(case, "cuda"))
    for case, got in zip(RUNS, packed):
        want = _fit(case, "cpu")
        assert got.epochs_done == want.epochs_done == case[-1]
        np.testing.assert_allclose(got.history[:, 0], want.history[:, 0], rtol=1e-10)
        np.testing.assert_allclose(got.params, want.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(got.history[:, 7], want.history[:, 7])  # HIST_REACH_STEP
        assert got.compile_time_s == launcher.compile_time_s["<f8"] > 0
    from kernels.cuda.engine import threads_for

    assert launcher.launches == len({threads_for(PLAN.net, case[1]) for case in RUNS}) == 1


def test_a_launch_is_split_to_fit_the_device_memory():
    """With room for about two runs, five runs take three launches, and still equal the CPU."""
    from kernels.cuda.engine import run_bytes

    x, y = _problem(0)
    each = run_bytes(PLAN.net, np.float64, 1024, 3, 32) + 2 * (x.nbytes + y.nbytes) + 4 * 3 * len(x)  # + data, orders
    packed, launcher = _in_threads(RUNS, lambda case: _fit(case, "cuda"), int(2.5 * each / launches.MEMORY_SHARE))
    assert launcher.launches == 3
    for case, got in zip(RUNS, packed):
        np.testing.assert_allclose(got.history[:, 0], _fit(case, "cpu").history[:, 0], rtol=1e-10)


def test_a_run_that_fails_fails_alone_and_a_second_fit_joins_the_next_round():
    """One thread raises before it fits, one fits twice: the others are not held up, the
    failure is that run's, and the second fits launch in a round of their own."""
    def work(case):
        if case[2] == "lion":
            raise ValueError("this run's own failure")
        first = _fit(case, "cuda")
        return (first, _fit(case, "cuda")) if case[2] == "sgd" else first

    results, launcher = _in_threads(RUNS, work)
    assert isinstance(results[4], ValueError)
    first, second = results[0]
    np.testing.assert_array_equal(first.history[:, 0], second.history[:, 0])  # the same run, twice
    assert launcher.launches == 2


def test_distinct_data_stores_a_copied_data_set_once():
    x, y = _problem(0)
    a = records.Data(x, y, x, y, x[:0], y[:0])
    copy = records.Data(*(v.copy() for v in a))
    other = a._replace(x=x + 1)
    distinct, index = launches.distinct_data([a, copy, other, copy])
    assert index == [0, 0, 1, 0] and len(distinct) == 2


def test_a_sweep_on_cuda_packs_its_runs_and_equals_the_cpu(tmp_path):
    """`runner sweep --target cuda`: every run of a grid over batch sizes, optimizers and seeds
    equals the CPU target's row, steps to the target (checks within epochs) included."""
    common = ["batch-size", "--grid", "batch_size=2,4,full", "--grid", "optimizer=sgd,adam", "--grid", "N=16",
              "--grid", "n=3", "--grid", "epochs=3", "--grid", "rel_loss_target=15", "--seeds", "2",
              "--workers", "1", "--out", str(tmp_path)]
    for extra in ([], ["--target", "cuda"]):
        done = subprocess.run([sys.executable, "-m", "runner", "sweep", *common, *extra], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
    runs = pd.read_parquet(tmp_path / "runs")
    key = ["batch_size", "optimizer", "seed"]
    cpu = runs[runs["target"] == "cpu"].set_index(key).sort_index()
    gpu = runs[runs["target"] == "cuda"].set_index(key).sort_index()
    assert len(cpu) == len(gpu) == 12 and (gpu["status"] == "ok").all()
    np.testing.assert_allclose(gpu["final_rel_loss"], cpu["final_rel_loss"], rtol=1e-9)
    pd.testing.assert_series_equal(gpu["steps_to_target"], cpu["steps_to_target"])
    assert gpu["steps_to_target"].notna().any() and gpu["steps_to_target"].isna().any()


@pytest.mark.parametrize("count, sizes", [(1, [6]), (2, [3, 3]), (4, [2, 2, 2])])
def test_packs_split_the_cuda_runs_and_leave_the_cpu_runs_alone(count, sizes):
    from runner.execute import packs
    from runner.grid import RunSpec

    specs = [RunSpec(str(i), {"target": "cuda" if i % 3 else "cpu"}, 0) for i in range(10)]
    alone, cuda_packs = packs(specs, count)
    assert [s.run_id for s in alone] == ["0", "3", "6", "9"]
    assert [len(p) for p in cuda_packs] == sizes
