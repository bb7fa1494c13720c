"""runner.pool: workers forked from the preloaded fork server, pinned to one thread."""
import gc
import os
import sys

from runner.pool import FORK_SERVER, THREAD_VARIABLES, Pool


def worker_state() -> dict:
    """What a worker holds before it runs anything."""
    return {"pid": os.getpid(), "engine_loaded": "kernels.engine" in sys.modules,
            "frozen_objects": gc.get_freeze_count(), "gc_enabled": gc.isenabled(),
            "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES}}


def test_workers_start_loaded_and_pinned():
    assert FORK_SERVER  # Linux: CI and every cluster this runs on
    states = list(Pool(2).imap(worker_state, [()] * 4, lost=lambda args, reason: reason))
    for state in states:
        assert state["pid"] != os.getpid()
        assert state["engine_loaded"]  # imported once, by the server (runner.preload)
        assert state["frozen_objects"] > 10_000 and state["gc_enabled"]
        assert set(state["threads"].values()) == {"1"}
    assert len({s["pid"] for s in states}) <= 2
