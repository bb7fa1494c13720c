"""A plug-in study that misbehaves on purpose, for the reliability tests (test_reliability)."""
import os
import signal
import time
from pathlib import Path

import numpy as np

from experiments.study import Param, RunOutput, Study


class FaultyStudy(Study):
    """``mode``: ok (a quick run), die (SIGKILL its own worker), die-once (die on the first
    try only, using a marker file in ``marks``), big (a 4 MB result, after touching
    ``marks``/sending-<index>), sleep (wait ``seconds`` in Python, after touching
    ``marks``/running-<index>)."""

    name = "faulty"
    title = "runs that kill their worker, send large results or sleep"
    params = (Param("mode", str, "ok", "what the run does", choices=("ok", "die", "die-once", "big", "sleep")),
              Param("index", int, 0, "distinguishes runs"),
              Param("marks", str, "", "directory of marker files"),
              Param("seconds", float, 60.0, "sleep mode: how long"))
    default_grid = {"index": [0, 1, 2, 3]}
    metrics = {"value": float}
    curve_columns = {"trace": float}

    def warm_up(self) -> None:
        """Nothing to compile."""

    def run(self, config, seed):
        marks, index = Path(config["marks"]), config["index"]
        mode = config["mode"]
        if mode == "die" or (mode == "die-once" and not (marks / f"died-{index}").exists()):
            (marks / f"died-{index}").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "sleep":
            (marks / f"running-{index}").touch()
            time.sleep(config["seconds"])
        trace = np.arange(500_000 if mode == "big" else 3, dtype=np.float64)
        if mode == "big":
            (marks / f"sending-{index}").touch()
        return RunOutput("ok", {"value": float(index)}, {"trace": trace})
