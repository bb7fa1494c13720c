"""Functions compiled once per *variant* of a plan: a model compiles only what it uses.

A plan's variant (``variant_of``) is its kind set, the sorted op codes in its table
(kernels.layers.KINDS), and whether it is a single dense layer, which the engine trains by the
fused path (kernels.fused) with no walk at all. The walks (kernels.walks) are generated with
one branch per kind of the set, and every engine function that reaches them is compiled again
for the variant under a name of its own (``_train__dense_fused``,
``_train__dense_activation_conv_pool``), so that a dense-only model never compiles convolution
and Numba caches each variant's code in files of its own.

The activation codes that a plan's activation and residual layers use are part of its variant
too: the elementwise loops (kernels.activations) are generated for those codes alone.

``PerVariant(make, name, compile)[variant]`` is the dispatcher of one variant, made once per
process: ``make(key, name)`` returns the Python function that ``compile`` compiles under
``name``, for the part of the variant that the function depends on (``key(variant)``: the whole
variant by default). ``PerVariant.template(compile)`` decorates a function written once: each variant
gets the same code, with every global that is a PerVariant bound to its specialization for the
same variant, and the global ``FUSED`` to ``variant.fused`` (a constant: Numba prunes the
branch not taken before it infers a single type).
"""
import types
from collections.abc import Callable
from typing import NamedTuple

from kernels.codes import ACTIVATIONS, COL_CODE, COL_OP

ACTIVATION_NAMES = {code: name for name, (code, *_) in ACTIVATIONS.items()}


def _kinds():
    from kernels.layers import KINDS  # the layer modules import this one

    return KINDS


def _sorted_codes(codes, count: int) -> bool:
    return all(0 <= code < count for code in codes) and list(codes) == sorted(set(codes))


class Variant(NamedTuple):
    """kinds: sorted op codes, each once; fused: the plan is one dense layer; activations:
    sorted activation codes (kernels.codes.ACT_*) of its activation and residual layers."""

    kinds: tuple[int, ...]
    fused: bool = False
    activations: tuple[int, ...] = ()

    def names(self) -> tuple[list[str], list[str]]:
        """(names of its layer kinds, names of its activations), in code order."""
        kinds = _kinds()
        return [kinds[code].name for code in self.kinds], [ACTIVATION_NAMES[code] for code in self.activations]

    def suffix(self) -> str:
        """The variant in a compiled function's name: ``dense_activation_relu``, ``dense_fused``."""
        kinds, activations = self.names()
        return "_".join(kinds + ["fused"] * self.fused + activations)

    def check(self) -> None:
        """ValueError unless kinds and activations are sorted, distinct codes (and a fused
        variant is the dense kind alone)."""
        kinds = _kinds()
        if (not self.kinds or not _sorted_codes(self.kinds, len(kinds))
                or not _sorted_codes(self.activations, len(ACTIVATIONS))
                or (self.fused and [kinds[code].name for code in self.kinds] != ["dense"])):
            raise ValueError(f"not a variant of a plan: {self}")


def _variant(ops: list[int], activations: set[int]) -> Variant:
    """The Variant of a plan whose layers have the op codes ``ops`` and use ``activations``."""
    fused = len(ops) == 1 and _kinds()[ops[0]].name == "dense"
    return Variant(tuple(sorted(set(ops))), fused, tuple(sorted(activations)))


def variant_of(table) -> Variant:
    """The variant of a plan table (L, N_COLS)."""
    kinds = _kinds()
    ops = [int(op) for op in table[:, COL_OP]]
    return _variant(ops, {int(row[COL_CODE]) for op, row in zip(ops, table) if kinds[op].activation is not None})


def variant_of_layers(layers: list) -> Variant:
    """The variant of the plan that kernels.plan.build_plan makes of ``layers`` (layer specs),
    without laying it out: the same as variant_of(build_plan(shape, layers).net.table)."""
    from kernels.layers import kind_of

    ops, activations = [], set()
    for layer in layers:
        op, kind = kind_of(layer)
        ops.append(op)
        if kind.activation is not None:
            activations.add(ACTIVATIONS[kind.activation(layer)][0])
    return _variant(ops, activations)


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


def bound(function, variant: "Variant"):
    """``function``, or its specialization for ``variant`` if it is a PerVariant."""
    return function[variant] if isinstance(function, PerVariant) else function


class PerVariant:
    """A function compiled once per plan variant (module docstring). compile: the decorator
    that compiles it (kernels.jit.kernel or inline_kernel)."""

    def __init__(self, make: Callable, name: str, compile: Callable, key: Callable = lambda variant: variant,
                 label: Callable = Variant.suffix):
        self.make, self.name, self.compile, self.key, self.label = make, name, compile, key, label
        self._dispatchers = {}

    @classmethod
    def template(cls, compile: Callable) -> Callable:
        """Decorator: ``fn`` compiled per variant, its PerVariant globals and FUSED bound."""

        def wrap(fn):
            def make(variant, name):
                namespace = dict(fn.__globals__, FUSED=variant.fused)
                for global_name in fn.__code__.co_names:
                    if global_name in namespace:
                        namespace[global_name] = bound(namespace[global_name], variant)
                code = fn.__code__.replace(co_name=name, co_qualname=name)
                return types.FunctionType(code, namespace, name, fn.__defaults__)

            return cls(make, fn.__name__, compile)

        return wrap

    def __getitem__(self, variant: Variant):
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
