"""Calls between kernels by symbol (kernels.link): the caller's code holds a declaration of the
callee, not a copy; errors cross the call; a cache entry loads its callees first, in a fresh
process whose cache holds both; an entry whose callee is unknown or has another symbol is
compiled again; and a cache entry is saved under the lock of its function's index."""
import fcntl
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from numba import types
from numba.core.caching import IndexDataCacheFile

from kernels import link

ROOT = Path(__file__).resolve().parents[1]

KERNELS = '''
from kernels.jit import kernel

@kernel
def halve(x):
    if x < 0:
        raise ValueError("a negative input")
    return x / 2

@kernel
def quarter(x):
    return halve(halve(x))
'''

CALL_QUARTER = """
import json
from quartering import halve, quarter
value = quarter(8.0)
print(json.dumps({"value": value, "quarter": [len(quarter._cache_hits), len(quarter._cache_misses)],
                  "halve": [len(halve._cache_hits), len(halve._cache_misses)]}))
"""


@pytest.fixture
def quartering(tmp_path, monkeypatch):
    """The module of KERNELS, written to ``tmp_path`` and imported under a name of its own per
    test (kernels.link finds kernels by module and name; two of one name are found by neither)."""
    name = f"quartering_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(KERNELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def test_a_kernel_declares_the_kernels_it_calls_and_holds_none_of_their_code(quartering):
    assert quartering.quarter(8.0) == 2.0
    library = quartering.quarter.overloads[(types.float64,)].library
    symbol = quartering.halve.overloads[(types.float64,)].fndesc.mangled_name
    assert link.callees(library) == ((link.name_of(quartering.halve), (types.float64,), symbol),)
    [declared] = [fn for fn in library._get_module_for_linking().functions if fn.name == symbol]
    assert declared.is_declaration


def test_an_error_raised_in_a_callee_reaches_the_caller_of_its_caller(quartering):
    with pytest.raises(ValueError, match="a negative input"):
        quartering.quarter(-1.0)


def test_a_callee_unknown_or_with_another_symbol_fails_the_load(quartering):
    quartering.quarter(8.0)
    [(name, argtypes, symbol)] = link.callees(quartering.quarter.overloads[(types.float64,)].library)
    assert link.load([(name, argtypes, symbol)])
    assert not link.load([(name, argtypes, symbol + "x")])
    assert not link.load([(f"{quartering.__name__}.no_such_kernel", argtypes, symbol)])


def call_quarter(tmp_path: Path) -> dict:
    """CALL_QUARTER in a fresh interpreter: ``quarter`` called first, ``halve`` never from Python."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-c", CALL_QUARTER], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_cached_caller_loads_its_callees_first_and_recompiles_when_one_changed(tmp_path):
    (tmp_path / "quartering.py").write_text(textwrap.dedent(KERNELS))
    assert call_quarter(tmp_path) == {"value": 2.0, "quarter": [0, 1], "halve": [0, 1]}
    assert call_quarter(tmp_path) == {"value": 2.0, "quarter": [1, 0], "halve": [1, 0]}  # both from the cache
    for entry in (tmp_path / "cache").rglob("quartering.halve-*"):
        entry.unlink()  # halve compiles again, under another symbol: quarter's entry must not load
    assert call_quarter(tmp_path) == {"value": 2.0, "quarter": [0, 1], "halve": [0, 1]}


def test_a_cache_entry_is_saved_under_the_lock_of_its_index(quartering, monkeypatch):
    """Two processes saving two signatures of one function at once lost one index entry (an
    engine's two dtypes, compiled in parallel): each save holds an exclusive lock."""
    held = []

    def save(self, key, data):
        with open(f"{self._index_path}.lock", "ab") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
            except BlockingIOError:
                held.append(True)

    monkeypatch.setattr(IndexDataCacheFile, "save", save)
    assert quartering.quarter(8.0) == 2.0
    assert held == [True, True]  # halve's entry, then quarter's
