"""The CUDA engine compiles for a real GPU (sm_90, an H100), without one: numba-cuda's NVVM
types, lowers and compiles the whole training kernel to PTX, for both dtypes and a model of
every layer kind. The simulator runs the kernels as Python and checks none of that: a device
function that does not type (an integer mixed with the clock's unsigned one, a shared array of
an unknown dtype) passes every simulator test and fails here.

It runs in a subprocess without the simulator (tests/conftest.py sets it for this process).
The compile asks the current device for its compute capability; with no GPU, the script
answers for it (9.0)."""
import os
import subprocess
import sys

SCRIPT = """
import types
import numpy as np
import numba.cuda.dispatcher
from numba import cuda, typeof
from kernels import codes, records, steps
from kernels.checks import EVERY_KIND
from kernels.cuda import engine
from kernels.plan import build_plan

numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
for dtype in (np.float64, np.float32):
    plan = build_plan((2, 6, 6), list(EVERY_KIND))
    x, y = np.zeros((12, plan.n_in), dtype), np.zeros((12, plan.n_out), dtype)
    method = records.method(0, 0, 0, steps.vector(dtype, lr=0.1), plan.penalty_mask(False, dtype))
    run = engine.Run(0, plan.net, method, records.settings(1, 4, True, 0, 16))
    _, _, _, arguments = engine.launch([records.Data(x, y, x, y, x[:5], y[:5])], [run],
                                    plan.init_params(np.random.default_rng(0), dtype)[None],
                                    plan.init_buffers(dtype)[None], np.zeros((1, 2, codes.N_HIST)))
    signature = tuple(typeof(np.zeros((1,) * len(a.shape), a.dtype)) if isinstance(a, engine.Workspace)
                      else typeof(a) for a in arguments)
    ptx, _ = cuda.compile_ptx(engine.train_kernel.py_func, signature, cc=(9, 0))
    assert ".entry" in ptx and ".target sm_90" in ptx
    print(np.dtype(dtype).name, ptx.count(chr(10)), "lines of PTX")
"""


def test_the_training_kernel_compiles_to_ptx_for_sm_90():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "float64" in done.stdout and "float32" in done.stdout
