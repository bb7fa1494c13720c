"""How every kernel is compiled: one set of flags, one cache that is never stale and never loses an entry.

``reassoc`` lets LLVM vectorize the inner reductions (dot products over a contiguous axis) and
``contract`` allows fused multiply-add. Neither assumes finite values, so NaN and inf still
propagate and a diverging run is detected.

Numba's on-disk cache (``cache=True``) checks only the source file of the function it caches,
but a compiled function holds the code of the inline helpers it calls and was typed against the
kernels it calls by symbol (kernels.link): after an edit of ``kernels/views.py`` the cached
training loop of ``kernels/engine.py`` would still run the old helpers. Here every kernel's
cache entry is stamped with a hash of the source of the whole ``kernels`` package as well as its
own file, so an edit of any kernel module recompiles what was cached before it
(numba.core.caching's locators, with ``get_source_stamp`` extended).

A kernel is compiled once per argument *type*, never once per constant value: Numba types a
constant argument at a call site inside compiled code as a literal (``Literal[bool](True)``
where the training step passes ``training=True`` to a walk) and would compile the callee
again for each literal (the convolution's forward twice per CNN, once for training and once
for evaluation: about 4 s of a cold compile). ``Kernel`` types such arguments as their plain
types.
"""
import fcntl
import hashlib
from functools import cache
from pathlib import Path

from numba import types
from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile
from numba.core.registry import CPUDispatcher

from kernels import link

FASTMATH = {"reassoc", "contract"}
PACKAGE = Path(__file__).resolve().parent


@cache
def package_stamp() -> str:
    """sha256 of every .py file of the kernels package, by relative path, in path order."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stamped(locator: type) -> type:
    """``locator`` (a Numba cache locator class) with the package stamp in its source stamp."""

    def get_source_stamp(self):
        return locator.get_source_stamp(self), package_stamp()

    return type(f"Package{locator.__name__}", (locator,), {"get_source_stamp": get_source_stamp})


class _PackageCacheImpl(CompileResultCacheImpl):
    """Numba's cache entries, stamped, each with the kernels its code calls by symbol, loaded
    before it (kernels.link)."""

    _locator_classes = tuple(_stamped(cls) for cls in CompileResultCacheImpl._locator_classes)

    def reduce(self, cres):
        return super().reduce(cres), link.callees(cres.library)

    def rebuild(self, target_context, payload):
        compiled, calls = payload
        return super().rebuild(target_context, compiled) if link.load(calls) else None


class _LockedCacheFile(IndexDataCacheFile):
    """Numba's index and data files of one function, written by one process at a time.

    Numba reads the index, adds its entry and writes the index back, and numbers the new data
    file after the entries it read. Two processes that save two signatures of one function at
    once (an engine's two dtypes, compiled in parallel by runner.compile) each write an index
    without the other's entry, and may write the same data file: an exclusive lock on a file
    beside the index (``flock``, which also holds on NFS v4) makes the save one step."""

    def save(self, key, data):
        with open(f"{self._index_path}.lock", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            super().save(key, data)


class PackageCache(FunctionCache):
    """Numba's function cache, invalidated by an edit of any module of the kernels package,
    saved one process at a time."""

    _impl_class = _PackageCacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _LockedCacheFile(self._cache_path, self._impl.filename_base,
                                            self._impl.locator.get_source_stamp())


class Kernel(CPUDispatcher):
    """Numba's CPU dispatcher, compiled once per argument type (module docstring); compiled code
    calls it by symbol (kernels.link) where ``by_symbol``."""

    by_symbol = False  # linked, as Numba does, unless made by kernel() (which registers it with kernels.link)

    def add_overload(self, cres):
        super().add_overload(cres)
        if self.by_symbol:
            link.call_by_symbol(self, cres)

    def get_call_template(self, args, kws):
        return super().get_call_template(tuple(types.unliteral(a) for a in args),
                                         {name: types.unliteral(a) for name, a in kws.items()})


def _compile(fn, by_symbol: bool, **options):
    dispatcher = Kernel(py_func=fn, locals={}, targetoptions={"nopython": True, "fastmath": FASTMATH, **options})
    dispatcher._cache = PackageCache(fn)  # what Dispatcher.enable_caching sets
    dispatcher.by_symbol = by_symbol
    if by_symbol:
        link.register(dispatcher)
    return dispatcher


def cached(dispatcher, signature: tuple) -> bool:
    """Whether the on-disk cache holds a fresh compilation of ``dispatcher`` (made by kernel,
    inner_kernel or inline_kernel) for the argument types ``signature``, without loading it."""
    cache = dispatcher._cache
    key = cache._index_key(signature, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


def kernel(fn):
    """Compile ``fn`` in nopython mode, cached on disk; compiled code calls it by symbol."""
    return _compile(fn, by_symbol=True)


def inner_kernel(fn):
    """A kernel called in another kernel's loop (once per sample, row or channel): compiled on
    its own, its code linked into each caller's, where LLVM may inline it (kernels.link)."""
    return _compile(fn, by_symbol=False)


def inline_kernel(fn):
    """A small helper called on every step: inlined into its callers at Numba IR level."""
    return _compile(fn, by_symbol=False, inline="always")
