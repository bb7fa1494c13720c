"""Sums split across the block, for weight gradients at a large batch.

A weight gradient is a sum over the batch (dense: dw[k, j] = Σ_i x[i, k] dy[i, j]). One thread
per gradient entry leaves most of a block idle where a layer has fewer entries than the block
has threads: a first dense layer of 4 × 64 weights at b = 1024, or a first convolution's
8 × 1 × 3 × 3 kernels summed over 64 × 28 × 28 positions (72 of 256 threads busy, each adding
50 176 products). Here each such sum is split into ``parts`` segments, one thread each: the
thread of slot t takes entry t // parts and the terms t % parts, t % parts + parts, ...; the
segments' partial sums meet in the block's shared memory and are added in segment order, so the
result does not depend on timing (it is the CPU's to rounding, as every device sum).

The meeting place is the first blockDim float64 entries of the block's dynamic shared memory
(kernels.cuda.engine.fast_memory leaves them to it; a launch of a kernel that calls ``store``
gives at least 8 · blockDim bytes). A static shared array would be simpler, but numba-cuda
defines one in every module that links the function, and NVVM refuses to link the engine whose
dense and convolution twins both call it ("symbol multiply defined").

Protocol, for every thread of the block (the loop bounds are the same for all, so the barriers
inside ``store`` are reached by all):

    parts = segments(entries, terms, cuda.blockDim.x)
    for base in range(0, entries * parts, cuda.blockDim.x):
        t = base + cuda.threadIdx.x
        value = 0
        if t < entries * parts:
            value = Σ over the terms t % parts, t % parts + parts, ... of entry t // parts
        store(out, value, t, entries, parts)
"""
from numba import cuda, float64

from kernels.jit import inline_kernel


@inline_kernel
def segments(entries, terms, threads):
    """Segments per sum: as many as the block has threads per entry, at most one per term, at
    least one (no split once the entries fill the block). A CPU kernel of scalars, compiled for
    the device where a device function calls it."""
    if entries == 0:
        return 1
    return max(1, min(threads // entries, terms))


@cuda.jit(device=True)
def store(out, value, t, entries, parts):
    """out[t] = value (parts = 1), or, for parts > 1 (then entries · parts <= blockDim, one
    pass): out[e] = Σ_s the value of slot e · parts + s. out: (entries,). Called by every thread
    of the block in the same pass."""
    if parts == 1:
        if t < entries:
            out[t] = value
        return
    scratch = cuda.shared.array(0, float64)  # the first blockDim entries (module docstring)
    if t < entries * parts:
        scratch[t] = value
    cuda.syncthreads()
    if t < entries:
        acc = 0.0
        for s in range(parts):
            acc += scratch[t * parts + s]
        out[t] = acc
    cuda.syncthreads()  # before the next sum's slots are written
