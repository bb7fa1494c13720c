"""Calls between kernels by symbol: each compiled function is optimized and emitted once.

Numba links the code of every function that a compiled function calls into the caller's own
LLVM module, and LLVM then optimizes and emits all of it again. Our engines call in levels
(layer kernel, walk, evaluation, training loop), so each level re-made everything below it.
The digits CNN's engine compiled in one process (``bench_compile.py --profile``, float64): 22.3 s
in all, of which the walks 1.8 s each, ``evaluate`` 1.9 s and ``_train`` 4.2 s of their own,
most of it code they linked; with calls by symbol 14.5 s (0.7-0.8, 0.6 and 1.3 s). The
batch-size model's engine: 5.9 s against 5.5 s.

Here a call from compiled code to a kernel (kernels.jit.kernel) is a call to the kernel's own
symbol, compiled once and loaded in this process's JIT, where LLVM resolves it when the caller
is loaded. The call keeps Numba's calling convention, so an error raised in the callee reaches
the caller's caller as before. LLVM can no longer inline such a kernel into its caller: these
are whole layers, losses, walks and loops, called once per layer and batch. A kernel called in
another kernel's loop, once per sample, row or channel (``im2col``, the layer norm's rows), is
an ``inner_kernel``, linked and inlined by LLVM as before: called by symbol, im2col and col2im
made the LeNet-like CNN's float32 epoch about a tenth slower (bench_kernels.py, b = 64: 0.33,
0.34, 0.36 s against 0.29, 0.30, 0.30 s, alternated); as inner kernels, 0.30, 0.32, 0.32 s
against 0.30, 0.31, 0.33 s. Inline helpers are inlined at Numba-IR level, as before.

The price is an order: a caller can be loaded only once its callees are, or LLVM stops the
process ("Symbol not found"). Compiling keeps the order by itself: typing a call compiles or
loads the callee first. A load from Numba's on-disk cache does not, so each cache entry
(kernels.jit.PackageCache) holds what its code calls, as data: the callee's name, argument
types and symbol (``callees``), and loading an entry loads those first (``load``). Where a
callee is not known in this process or now has another symbol (compiled again since: symbols
hold a per-process number), the entry counts as missing and is compiled again. Code compiled
by Numba's own ``njit(cache=True)`` has no such list: a cached function that calls kernels is
compiled with kernels.jit.
"""
from numba.core import types
from numba.core.dispatcher import Dispatcher

KERNELS: dict[str, Dispatcher | None] = {}  # a kernel's module.qualname -> it; None where two share it
_SYMBOLS: dict[str, tuple[str, tuple[types.Type, ...]]] = {}  # symbol -> (kernel name, argument types)


def name_of(dispatcher: Dispatcher) -> str:
    fn = dispatcher.py_func
    return f"{fn.__module__}.{fn.__qualname__}"


def register(dispatcher: Dispatcher) -> None:
    """Make ``dispatcher`` (a kernel) findable by name when a cache entry calls it."""
    name = name_of(dispatcher)
    KERNELS[name] = None if name in KERNELS else dispatcher


def call_by_symbol(dispatcher: Dispatcher, cres) -> None:
    """From now on, compiled code calls this overload (``cres``, just compiled or loaded) of
    ``dispatcher`` by its symbol: Numba's call, without the callee's library to link in."""
    context, fndesc = dispatcher.targetctx, cres.fndesc
    context.remove_user_function(cres.entry_point)
    context.insert_user_function(cres.entry_point, fndesc, libs=())
    _SYMBOLS[fndesc.mangled_name] = (name_of(dispatcher), tuple(fndesc.argtypes))


def callees(library) -> tuple[tuple[str, tuple[types.Type, ...], str], ...]:
    """(kernel name, argument types, symbol) of each kernel that ``library``'s code (a
    compiled caller) calls by symbol."""
    module = library._get_module_for_linking()  # what Numba serializes with the library's object code
    return tuple((*_SYMBOLS[fn.name], fn.name) for fn in module.functions if fn.is_declaration and fn.name in _SYMBOLS)


def load(calls) -> bool:
    """Compile or load each callee of ``calls`` (from ``callees``) in this process; whether
    each now has the symbol that the caller's code calls."""
    for name, argtypes, symbol in calls:
        kernel = KERNELS.get(name)
        if kernel is None:
            return False
        kernel.compile(argtypes)
        if kernel.overloads[argtypes].fndesc.mangled_name != symbol:
            return False
    return True
