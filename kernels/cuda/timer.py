"""The GPU's nanosecond clock (PTX %globaltimer), read inside a kernel. The simulator, which
runs kernels as Python, reads time.perf_counter_ns instead."""
import time

from numba import config, cuda, types

if config.ENABLE_CUDASIM:

    def globaltimer():
        """Nanoseconds of a monotonic clock."""
        return time.perf_counter_ns()

else:
    from llvmlite import ir
    from numba.core.extending import intrinsic

    @intrinsic
    def _read_globaltimer(typingctx):
        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.IntType(64), [])
            return builder.call(ir.InlineAsm(fnty, "mov.u64 $0, %globaltimer;", "=l", side_effect=True), [])

        return types.uint64(), codegen

    @cuda.jit(device=True)
    def globaltimer():
        """Nanoseconds of the GPU's global timer."""
        return _read_globaltimer()
