"""Exceptions raised out of line, for the helpers that the training loop inlines.

A ``raise`` in compiled code first releases every variable live at that point, and a helper
inlined into the training loop (a view's bounds check, a walk's unknown op code while the walks
were inlined) raises with the whole loop's variables live: in the CNN's ``_train`` these
releases were a third of the Numba IR, compiled and optimized for nothing. A call of one of
these kernels costs its caller a status test instead. They never return.

They are inner kernels (kernels.jit), linked into each caller rather than called by symbol:
every part of an engine calls them, and two processes compiling two parts at once would each
compile them under a symbol of their own, of which the cache keeps one; the other part's code
would then not load (kernels.link) and would be compiled again.
"""
from kernels.jit import inner_kernel


@inner_kernel
def outside_buffer():
    raise IndexError("a view outside its buffer")


@inner_kernel
def shapes_differ():
    raise ValueError("copy between arrays of different shapes")


@inner_kernel
def unknown_op():
    raise ValueError("the plan has an op code that its kind set does not hold")


@inner_kernel
def unknown_optimizer():
    raise ValueError("an optimizer code that no kind handles (kernels.optimizers.KINDS)")


@inner_kernel
def unknown_schedule():
    raise ValueError("a schedule code that no kind handles (kernels.schedules.KINDS)")
