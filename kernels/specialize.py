"""Functions compiled once per *variant* of a plan (kernels.variants): a model compiles only
what it uses.

Every engine function that reaches the walks (kernels.walks, generated with one branch per
kind of the variant's set) is compiled again for the variant under a name of its own
(``_train__dense_fused``, ``_train__dense_activation_conv_pool``), so that a dense-only model
never compiles convolution and Numba caches each variant's code in files of its own.

``PerVariant(make, name, compile)[variant]`` is the dispatcher of one variant, made once per
process: ``make(key, name)`` returns the Python function that ``compile`` compiles under
``name``, for the part of the variant that the function depends on (``key(variant)``: the whole
variant by default). ``PerVariant.template(compile, key)`` decorates a function written once:
each key gets the same code, with every global that is a PerVariant bound to its specialization
for the key (itself a variant: kernels.variants.Variant.layers_only, losses_only), and the
global ``FUSED`` to its ``fused`` (a constant: Numba prunes the branch not taken before it
infers a single type). This module knows no layer kind: the
variants are kernels.variants'.
"""
import types
from collections.abc import Callable
from operator import methodcaller

layers_only = methodcaller("layers_only")  # a key: what depends on the layers alone (the walks)
losses_only = methodcaller("losses_only")  # a key: what depends on the losses alone (kernels.loss)


def generate(source: str, functions: dict, module: dict, name: str):
    """Compile the generated ``source`` as if written in ``module`` (its globals, its file: so
    Numba can cache what calls it) with ``functions`` bound, and return ``name`` from it."""
    namespace = {**module, **functions}
    exec(compile(source, module["__file__"], "exec"), namespace)  # our own source text, never data
    return namespace[name]


def branches(variable: str, codes, line: Callable[[int], str], indent: str, otherwise: str) -> list[str]:
    """Source lines of ``if variable == c0: line(c0) elif ...`` over ``codes``, then ``else:
    otherwise``: the dispatch of generated walks and loops."""
    lines = []
    for i, code in enumerate(codes):
        lines += [f"{indent}{'if' if i == 0 else 'elif'} {variable} == {code}:", f"{indent}    {line(code)}"]
    return lines + [f"{indent}else:", f"{indent}    {otherwise}"]


def bound(function, variant):
    """``function``, or its specialization for ``variant`` if it is a PerVariant."""
    return function.of(function.key(variant)) if isinstance(function, PerVariant) else function


class PerVariant:
    """A function compiled once per plan variant (module docstring). compile: the decorator
    that compiles it (kernels.jit.kernel or inline_kernel)."""

    def __init__(self, make: Callable, name: str, compile: Callable, key: Callable = lambda variant: variant,
                 label: Callable = lambda variant: variant.suffix()):
        self.make, self.name, self.compile, self.key, self.label = make, name, compile, key, label
        self._dispatchers = {}

    @classmethod
    def template(cls, compile: Callable, key: Callable = lambda variant: variant) -> Callable:
        """Decorator: ``fn`` compiled per variant, its PerVariant globals and FUSED bound; per
        ``key(variant)`` (a variant itself: the part that ``fn`` depends on) if given."""

        def wrap(fn):
            def make(variant, name):
                namespace = dict(fn.__globals__, FUSED=variant.fused)
                for global_name in fn.__code__.co_names:
                    if global_name in namespace:
                        namespace[global_name] = bound(namespace[global_name], variant)
                code = fn.__code__.replace(co_name=name, co_qualname=name)
                return types.FunctionType(code, namespace, name, fn.__defaults__)

            return cls(make, fn.__name__, compile, key)

        return wrap

    def __getitem__(self, variant):
        key = self.key(variant)
        if key not in self._dispatchers:
            variant.check()
        return self.of(key)

    def of(self, key):
        """The dispatcher for ``key`` (the part of a variant this function depends on)."""
        dispatcher = self._dispatchers.get(key)
        if dispatcher is None:
            dispatcher = self._dispatchers[key] = self.compile(self.make(key, f"{self.name}__{self.label(key)}"))
        return dispatcher

    def made(self) -> dict:
        """{key: dispatcher} of the keys made so far in this process."""
        return dict(self._dispatchers)
