"""Counter-based random numbers: the same draws on every target, in any order.

A draw is a pure function of a 64-bit key and a counter, ``u = mix(key ^ mix(counter))`` mapped
to [0, 1), with SplitMix64's finalizer as ``mix`` (Steele, Lea & Flood 2014). No generator
state is carried, so a CUDA thread computes draw j as cheaply as the CPU's loop does, and the
two targets agree bit for bit. Keys are int64 bit patterns. Used for dropout masks: key
``stream_key(seed, step, layer)``, counter the entry's index in the batch.
"""
import numpy as np

from kernels.jit import inline_kernel

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53


@inline_kernel
def mix(z):
    """SplitMix64's output function of z + golden ratio: a bijection of uint64 that scrambles
    every bit."""
    z = np.uint64(z) + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@inline_kernel
def stream_key(seed, step, layer):
    """The key of the draws of one layer at one training step of the run ``seed``, as an int64
    holding the 64 bits (a Python int of either sign crosses into compiled code unchanged)."""
    return np.int64(mix(mix(mix(np.uint64(seed)) ^ np.uint64(step)) ^ np.uint64(layer)))


@inline_kernel
def uniform(key, counter):
    """A float64 in [0, 1) with 53 random bits: draw ``counter`` of the stream ``key``."""
    return np.float64(mix(np.uint64(key) ^ mix(np.uint64(counter))) >> _S11) * _TO_UNIT
