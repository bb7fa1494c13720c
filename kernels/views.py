"""Two-dimensional views of flat buffers, cheap enough to take on every step.

Numba's ``ndarray.reshape`` calls a runtime helper that costs about 18 ns, and the engine takes
some 16 views per step (parameters, activations, gradients), which at batch size 1 would cost
more than the arithmetic. ``matrix`` builds the same C-contiguous view directly (about 4 ns,
with its bounds check): it shares the buffer's memory and keeps it alive like any view.
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from kernels.jit import inline_kernel


@intrinsic
def _as_matrix(typingctx, flat, rows, cols):
    """The (rows, cols) C-contiguous view of a 1-D C-contiguous array of rows*cols entries."""
    if not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"):
        return None
    result = types.Array(flat.dtype, 2, "C")

    def codegen(context, builder, signature, args):
        src = make_array(signature.args[0])(context, builder, args[0])
        dst = make_array(result)(context, builder)
        n_rows = context.cast(builder, args[1], signature.args[1], types.intp)
        n_cols = context.cast(builder, args[2], signature.args[2], types.intp)
        shape = cgutils.pack_array(builder, [n_rows, n_cols])
        strides = cgutils.pack_array(builder, [builder.mul(n_cols, src.itemsize), src.itemsize])
        populate_array(dst, data=src.data, shape=shape, strides=strides, itemsize=src.itemsize,
                       meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, result, dst._getvalue())

    return result(flat, rows, cols), codegen


@inline_kernel
def matrix(buf, start, rows, cols):
    """buf[start : start + rows*cols] as a (rows, cols) C-contiguous view. buf: 1-D, C."""
    flat = buf[start : start + rows * cols]
    if flat.shape[0] != rows * cols:
        raise IndexError("matrix view outside its buffer")
    return _as_matrix(flat, rows, cols)
