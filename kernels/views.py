"""Views into buffers, cheap enough to take on every step and for every sample.

Every Numba view (``x[i]``, ``buf[a:b]``, ``reshape``) holds a reference to its buffer: an
atomic increment when it is made and a decrement when it dies. The compiler removes such pairs
only within simple control flow, and in the training loop they stay: at batch size 1 the
atomics took about 40 % of a step, and a view per sample made a dense layer's pass over a batch
twice as slow. The views here are *unowned*, like ``numba.carray`` of a pointer: no reference,
so no atomics. A view is valid while its buffer is alive: take views of a kernel's arguments,
or of a local array that the kernel goes on using after the view's last use (Numba frees a
local array after its last use by name), and never return one.
"""
from numba import types
from numba.core.imputils import impl_ret_untracked
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from kernels.fail import outside_buffer, shapes_differ
from kernels.jit import inline_kernel


def _is_c_array(ty) -> bool:
    return isinstance(ty, types.Array) and ty.layout == "C"


@intrinsic
def _unowned(typingctx, buf, start, rows, cols):
    """The C-contiguous (rows, cols) view starting at element ``start`` of the C-contiguous
    array buf (any number of dimensions, read as flat); no bounds check (callers check)."""
    if not _is_c_array(buf):
        return None
    result = types.Array(buf.dtype, 2, "C")

    def codegen(context, builder, signature, args):
        src = make_array(signature.args[0])(context, builder, args[0])
        dst = make_array(result)(context, builder)
        start_, n_rows, n_cols = (context.cast(builder, value, ty, types.intp)
                                  for value, ty in zip(args[1:], signature.args[1:]))
        populate_array(dst, data=builder.gep(src.data, [start_]), shape=[n_rows, n_cols],
                       strides=[builder.mul(n_cols, src.itemsize), src.itemsize],
                       itemsize=src.itemsize, meminfo=None)
        return impl_ret_untracked(context, builder, result, dst._getvalue())

    return result(buf, start, rows, cols), codegen


@inline_kernel
def matrix(buf, start, rows, cols):
    """buf[start : start + rows*cols] as an unowned (rows, cols) C-contiguous view.
    buf: 1-D, C-contiguous."""
    if start < 0 or rows < 0 or cols < 0 or start + rows * cols > buf.shape[0]:
        outside_buffer()
    return _unowned(buf, start, rows, cols)


@inline_kernel
def vector(buf, start, n):
    """buf[start : start + n] as an unowned view. buf: 1-D, C-contiguous."""
    if start < 0 or n < 0 or start + n > buf.shape[0]:
        outside_buffer()
    return _unowned(buf, start, 1, n)[0]


@inline_kernel
def row(a, i):
    """a[i] as an unowned view. a: (rows, cols), C-contiguous."""
    if i < 0 or i >= a.shape[0]:
        outside_buffer()
    return _unowned(a, i * a.shape[1], 1, a.shape[1])[0]


@inline_kernel
def block(buf, capacity, col_off, rows, cols):
    """The (rows, cols) view of one per-sample region of a flat workspace of ``capacity`` rows
    (kernels.plan: region ``col_off`` starts at ``capacity * col_off``)."""
    return matrix(buf, capacity * col_off, rows, cols)


@inline_kernel
def images(rows_block, channels, height, width):
    """A (rows, C·H·W) block as (rows, C, H, W)."""
    return rows_block.reshape((rows_block.shape[0], channels, height, width))


@inline_kernel
def copy(src, dst):
    """dst[i, j] = src[i, j] for two 2-D arrays of one shape. An element loop: NumPy's slice
    assignment (dst[:, :] = src) compiles its shape-error formatting, about 4 s of a cold
    compile."""
    if src.shape[0] != dst.shape[0] or src.shape[1] != dst.shape[1]:
        shapes_differ()
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]
