"""The learning rate of gradient descent on 1-D functions, where the book gives numbers.

- Table 8.1 (Berlyand & Jabin L1289-1299): F(x) = x² from x₀ = 1, τ = 0.001, 0.01, 0.1, 0.5,
  1.0; the book lists 3451, 342, 31, 1 and "does not converge". Its header says "smallest N
  such that |xⁿ| < 0.001 for all n > N", but its numbers are the *first* n with |xₙ| < 0.001
  (xₙ = (1 − 2τ)ⁿ; the literal reading gives 3450, 341, 30, 0). We record the first n
  (``first_below``) and report the book's numbers beside it.
- Exercise 8.3 (L1539-1547): F(x) = sin²(10x) from a small x₀: the threshold τ between
  convergence and non-convergence, found by sweeping τ, against the book's bound 1/19 and the
  linear-stability bound 2/F''(0) = 0.01.
  A run is one of the table's when F = x², x₀ = 1, tol = 0.001, τ is one of the five and at
  least 5000 steps are taken (``table_8_1``).
- Exercise 8.1 (L1507): F(x) = λx²: one step decreases F exactly when 0 < τ < 1/λ.

A run is converged when |xₙ| < tol for the last ``TAIL`` iterates (not only once: at τ = 1 the
iterates stay at ±1, and an oscillation can pass near 0).
"""
import numpy as np

from experiments.study import Param, RunOutput, Study, at_least, positive
from kernels.scalar_gd import FUNCTIONS, descend, value

TABLE_8_1 = {0.001: 3451, 0.01: 342, 0.1: 31, 0.5: 1, 1.0: None}  # None: "does not converge"
TAIL = 10


class GradientDescent1D(Study):
    name = "gd-1d"
    title = "The learning rate of gradient descent on x², λx² and sin²(10x)"
    source = "Berlyand & Jabin Table 8.1, Exercises 8.1 and 8.3"
    params = (
        Param("function", str, "quadratic", "F: quadratic (λx²) or sin10-squared (sin²(10x))",
              choices=tuple(FUNCTIONS)),
        Param("lr", float, 0.1, "learning rate τ", check=positive),
        Param("lam", float, 1.0, "λ of the quadratic", check=positive, names=("lambda",)),
        Param("x0", float, 1.0, "starting point x₀"),
        Param("tol", float, 1e-3, "|x| below which x counts as at the minimum 0", check=positive),
        Param("iterations", int, 10_000, "GD steps", check=at_least(1)),
    )
    default_grid = {"lr": list(TABLE_8_1)}
    metrics = {
        "first_below": int,
        "converged": bool,
        "final_x": float,
        "first_step_decreases": bool,
        "table_8_1": bool,
        "book_first_below": int,
    }
    curve_columns = {"x": float, "f": float}

    def normalize(self, config: dict) -> dict:
        config = dict(config)
        if config["function"] != "quadratic":
            config["lam"] = 1.0  # unused: one run id per distinct computation
        return config

    def memory(self, config: dict) -> int:
        """The iterates and their values, float64, and the curves' copies of them."""
        return 4 * 8 * (config["iterations"] + 1)

    def run(self, config: dict, seed: int) -> RunOutput:
        problem = FUNCTIONS[config["function"]]
        xs = np.empty(config["iterations"] + 1)
        first = descend(problem, config["lam"], config["x0"], config["lr"], config["tol"],
                        config["iterations"], xs)
        fs = value(problem, config["lam"], xs)
        tail = xs[-TAIL:]
        converged = bool(np.all(np.abs(tail) < config["tol"]))
        table = (config["function"] == "quadratic" and config["lam"] == 1 and config["x0"] == 1
                 and config["tol"] == 1e-3 and config["iterations"] >= 5000 and config["lr"] in TABLE_8_1)
        book = TABLE_8_1[config["lr"]] if table else None
        metrics = {
            "first_below": first if first >= 0 else None,
            "converged": converged,
            "final_x": float(xs[-1]),
            "first_step_decreases": bool(fs[1] < fs[0]),
            "table_8_1": table,
            "book_first_below": book,
        }
        keep = min(len(xs), 5001)  # curves: 5000 steps show Table 8.1's slowest run (n = 3451) whole
        return RunOutput(status="ok" if np.all(np.isfinite(xs)) else "diverged", metrics=metrics,
                         curves={"x": xs[:keep], "f": fs[:keep]},
                         diverged_epoch=None if np.all(np.isfinite(xs)) else int(np.argmin(np.isfinite(xs))))

    def warm_up(self) -> None:
        xs = np.zeros(3)
        descend(0, 1.0, 1.0, 0.1, 1e-3, 2, xs)
        value(0, 1.0, xs)

    def report(self, runs, curves, figures):
        """Table 8.1 beside the book's numbers (experiments.lr_report)."""
        from experiments import lr_report

        return lr_report.gd_1d_report(runs, curves, figures)
