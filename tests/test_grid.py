"""Grid parsing, validation and expansion."""
import pytest

from experiments import get_study
from runner.grid import GridError, Interval, expand, parse_grid, run_id, sample

STUDY = get_study("batch-size")


def test_lists_ranges_and_aliases():
    grid = parse_grid(STUDY, ["batch_size=1,2,full", "lr=1e-3:1e-1:log3", "N=512", "noise=0:1:lin3"])
    assert grid["batch_size"] == [1, 2, 0]
    assert grid["lr"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert grid["n_samples"] == [512]
    assert grid["noise"] == [0.0, 0.5, 1.0]
    assert parse_grid(STUDY, ["batch_size=1:2048:log12"])["batch_size"] == [2**k for k in range(12)]


@pytest.mark.parametrize("option, message", [
    ("nope=1", "unknown parameter 'nope'"),
    ("batch_size=two", "not a valid int"),
    ("batch_size=0", "must be >= 1"),
    ("lr=0", "must be > 0"),
    ("lr=-0.1", "must be > 0"),
    ("lr=1:2", "malformed range"),
    ("lr=1:2:log0", "a range has 1 to 10000 points"),
    ("lr=0:1:log3", "positive ends"),
    ("batch_size=1:10:lin3", "does not give integers"),
    ("dtype=float16", "not one of"),
    ("lr", "expected key=values"),
    ("lr=", "no values"),
])
def test_bad_grid(option, message):
    with pytest.raises(GridError, match=message):
        parse_grid(STUDY, [option])


def test_batch_size_larger_than_n_is_rejected_on_expansion():
    with pytest.raises(GridError, match="larger than n_samples"):
        expand(STUDY, parse_grid(STUDY, ["N=1024"]), seeds=1)  # the default grid has 2048


def test_expansion_order_seeds_and_ids():
    specs = expand(STUDY, parse_grid(STUDY, ["batch_size=4,8", "lr=0.1,0.2"]), seeds=2)
    assert [(s.config["batch_size"], s.config["lr"], s.seed) for s in specs][:3] == [
        (4, 0.1, 0), (4, 0.1, 1), (4, 0.2, 0)]
    assert len({s.run_id for s in specs}) == 8
    again = expand(STUDY, parse_grid(STUDY, ["lr=0.1,0.2", "batch_size=4,8"]), seeds=2)
    assert {s.run_id for s in specs} == {s.run_id for s in again}


def test_run_id_depends_on_config_and_seed_only():
    config = STUDY.normalize(STUDY.defaults())
    assert run_id(STUDY, config, 0) == run_id(STUDY, dict(reversed(config.items())), 0)
    assert run_id(STUDY, config, 0) != run_id(STUDY, config, 1)
    assert run_id(STUDY, config, 0) != run_id(STUDY, {**config, "lr": 0.1}, 0)


def test_full_and_explicit_n_are_the_same_run():
    specs = expand(STUDY, parse_grid(STUDY, ["N=64", "batch_size=full,64"]), seeds=1)
    assert len(specs) == 1 and specs[0].config["batch_size"] == 64


def test_random_search_draws_from_lists_and_ranges_reproducibly():
    space = parse_grid(STUDY, ["lr=1e-3:1e-1:log3", "batch_size=1,8,64", "noise=0:1:lin2"], sample=True)
    assert isinstance(space["lr"], Interval) and space["lr"].log and space["batch_size"] == [1, 8, 64]
    specs = sample(STUDY, space, 200, sample_seed=7, seeds=1)
    lrs = [s.config["lr"] for s in specs]
    assert all(1e-3 <= lr <= 1e-1 for lr in lrs)
    assert 0.3 < sum(lr < 1e-2 for lr in lrs) / len(lrs) < 0.7  # log-uniform: half below the geometric middle
    assert all(float(f"{lr:.4g}") == lr for lr in lrs)  # DRAWN_DIGITS significant digits
    assert {s.config["batch_size"] for s in specs} == {1, 8, 64}
    noises = [s.config["noise"] for s in specs]
    assert all(0 <= v <= 1 for v in noises) and 0.3 < sum(v < 0.5 for v in noises) / len(noises) < 0.7
    again = sample(STUDY, space, 200, sample_seed=7, seeds=1)
    assert [s.run_id for s in again] == [s.run_id for s in specs]
    other = sample(STUDY, space, 200, sample_seed=8, seeds=1)
    assert {s.run_id for s in other} != {s.run_id for s in specs}


def test_random_search_repeats_seeds_and_runs_a_repeated_draw_once():
    space = parse_grid(STUDY, ["batch_size=4,8"], sample=True)
    specs = sample(STUDY, space, 10, sample_seed=0, seeds=2)
    assert len(specs) == 4 and {s.seed for s in specs} == {0, 1}  # at most 2 configurations × 2 seeds


def test_an_integer_range_is_sampled_as_integers_and_checked():
    specs = sample(STUDY, parse_grid(STUDY, ["batch_size=1:100:log5"], sample=True), 50, 0, 1)
    assert all(isinstance(s.config["batch_size"], int) and 1 <= s.config["batch_size"] <= 100 for s in specs)
    with pytest.raises(GridError, match="does not give integers"):
        parse_grid(STUDY, ["batch_size=1:100:log5"])  # as a grid it is not a list of integers
    with pytest.raises(GridError, match="must be > 0"):
        parse_grid(STUDY, ["lr=0:1:lin3"], sample=True)
    with pytest.raises(GridError, match="more than 10"):
        sample(STUDY, {}, 6, 0, 2, max_runs=10)
