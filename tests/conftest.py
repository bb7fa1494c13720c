"""Test-session set-up: the CUDA target's tests run on numba-cuda's simulator unless the machine
has an NVIDIA driver (nvidia-smi) or NUMBA_ENABLE_CUDASIM is set. Set before Numba is imported."""
import os
import shutil

if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
