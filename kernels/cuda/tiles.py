"""A matrix product on the device, tiled through shared memory where it is large enough to
pay: the dense layer's three products and the convolution's forward pass.

out (m, n) = a (m, depth) · b (depth, n) (+ a bias), the operands read through strides so that
a transposed operand costs nothing: a[i, k] = a[i·a_i + k·a_k], b[k, j] = b[k·b_k + j·b_j]; or,
for a convolution, b the patches of an image (the im2col matrix, never formed).

Tiled (``tiled``: a block of at least MIN_SIDE² threads and m, depth >= the tile's side): the
block computes ``out`` in tiles of side × cols entries, one entry a thread (tile_shape). For each
slice of ``side`` along the depth it first stages the tile's rows of ``a`` and columns of ``b``
in shared memory, each operand entry read from global memory once per tile instead of once per
output entry, then every thread reads its row and column from there: ``side`` products per two
barriers. Smaller products (the batch-size model at b = 1: one row) would pay more in barriers
than they save in reads, and go direct: one thread an entry, reading a and b in place. Either
way each entry's sum runs over k in index order and the bias is added last, as the CPU's
x @ W + b does.

The stage is the start of the block's dynamic shared memory, side² + blockDim <= 2 · blockDim
entries of the operands' dtype (stage_bytes; kernels.cuda.engine.fast_memory leaves it free). It
does not outlive a call: the split's scratch (kernels.cuda.split) uses the same place.
"""
from numba import cuda

from kernels.jit import inline_kernel

MIN_SIDE = 8  # the smallest tile side that is used: 8 products per two barriers, 8x fewer reads
# A convolution's geometry for ``product``'s patches (an int64 array; empty: b is strided).
PATCH_H, PATCH_W, PATCH_W_OUT, PATCH_K, PATCH_STRIDE, PATCH_PAD = range(6)


@inline_kernel
def tile_shape(threads):
    """(side, cols) of a tile for a block of ``threads``: side the largest power of two whose
    square is at most threads, cols = threads // side (256 threads: 16 × 16; 64: 8 × 8; 32: 4 × 8).
    A CPU kernel of scalars, compiled for the device where a device function calls it."""
    side = 1
    while 4 * side * side <= threads:
        side *= 2
    return side, threads // side


@inline_kernel
def tiled(m, depth, threads):
    """Whether a product of m rows and ``depth`` goes in tiles (module docstring)."""
    side = tile_shape(threads)[0]
    return side >= MIN_SIDE and m >= side and depth >= side


def stage_bytes(threads: int, itemsize: int) -> int:
    """Bytes of the stage for a block of ``threads`` (side² + threads <= 2 · threads entries)
    and operands of ``itemsize`` bytes."""
    return 2 * threads * itemsize


@cuda.jit(device=True)
def _b_entry(b, b_k, b_j, patch, k, j):
    """b[k, j]: strided, or entry k = (c, u, v) of output position j = (i', j')'s patch of the
    image b (C_in, H, W): b[c, s i' + u − p, s j' + v − p], 0 in the padding."""
    if patch.shape[0] == 0:
        return b[k * b_k + j * b_j]
    size = patch[PATCH_K]
    h, wd, stride, pad = patch[PATCH_H], patch[PATCH_W], patch[PATCH_STRIDE], patch[PATCH_PAD]
    row = stride * (j // patch[PATCH_W_OUT]) + k // size % size - pad
    col = stride * (j % patch[PATCH_W_OUT]) + k % size - pad
    if 0 <= row < h and 0 <= col < wd:
        return b[(k // (size * size) * h + row) * wd + col]
    return b.dtype.type(0)


@cuda.jit(device=True)
def product(a, a_i, a_k, b, b_k, b_j, patch, bias, bias_i, bias_j, out, m, depth, n):
    """out[i·n + j] = Σ_k a[i·a_i + k·a_k] b[k, j] (+ bias[i·bias_i + j·bias_j] where bias is
    not (0,)) for i < m, j < n; b[k, j] = b[k·b_k + j·b_j], or the patches of the image b where
    ``patch`` is a convolution's geometry (PATCH_*; (0,) for none). Called by every thread of
    the block."""
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    zero = out.dtype.type(0)
    if not tiled(m, depth, threads):
        for idx in range(tid, m * n, threads):
            i, j = idx // n, idx % n
            acc = zero
            for k in range(depth):
                acc += a[i * a_i + k * a_k] * _b_entry(b, b_k, b_j, patch, k, j)
            out[idx] = acc + bias[i * bias_i + j * bias_j] if bias.shape[0] > 0 else acc
        return
    side, cols = tile_shape(threads)
    stage = cuda.shared.array(0, out.dtype)
    a_tile, b_tile = stage[: side * side], stage[side * side : side * side + side * cols]
    r, c = tid // cols, tid % cols  # this thread's entry of the tile (none for tid >= side · cols)
    for i0 in range(0, m, side):
        for j0 in range(0, n, cols):
            acc = zero
            for k0 in range(0, depth, side):
                for e in range(tid, side * side, threads):
                    i, k = i0 + e // side, k0 + e % side
                    a_tile[e] = a[i * a_i + k * a_k] if i < m and k < depth else zero
                for e in range(tid, side * cols, threads):
                    k, j = k0 + e // cols, j0 + e % cols
                    b_tile[e] = _b_entry(b, b_k, b_j, patch, k, j) if k < depth and j < n else zero
                cuda.syncthreads()
                if r < side:
                    for kk in range(min(side, depth - k0)):
                        acc += a_tile[r * side + kk] * b_tile[kk * cols + c]
                cuda.syncthreads()  # before the next slice is staged
            i, j = i0 + r, j0 + c
            if r < side and i < m and j < n:
                out[i * n + j] = acc + bias[i * bias_i + j * bias_j] if bias.shape[0] > 0 else acc
