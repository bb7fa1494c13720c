"""Benchmark: `runner report` on 2000 runs, per-run files against merged ones.

Sweeps 2000 tiny gd-1d runs (4000 Parquet files: runs and curves), times the whole
`runner report` command REPEATS times, merges, and times it again. Nothing is asserted.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNNER = Path(sys.executable).with_name("runner")


def timed(args: list, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([RUNNER, *map(str, args)], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp()) / "report"
    subprocess.run([RUNNER, "sweep", "gd-1d", "--grid", f"lr=0.001:1:log{args.runs}", "--grid", "iterations=10",
                    "--out", out], check=True, capture_output=True)
    for state in ("per-run files", "merged"):
        if state == "merged":
            subprocess.run([RUNNER, "merge", out], check=True, capture_output=True)
        times = timed(["report", out], args.repeats)
        print(f"`runner report`, {args.runs} runs, {state}: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.repeats} runs)")


if __name__ == "__main__":
    main()
