"""A plan's *variant*: what of the engine it uses, the key of the functions compiled per
variant (kernels.specialize).

A plan's variant (``variant_of``) is its kind set, the sorted op codes in its table
(kernels.layers.KINDS), whether it is a single dense layer, which the engine trains by the
fused path (kernels.fused) with no walk at all, and the activation codes that its activation
and residual layers use (the elementwise loops, kernels.activations, are generated for those
codes alone).
"""
from typing import NamedTuple

from kernels.codes import ACTIVATION_NAMES, ACTIVATIONS, COL_CODE, COL_OP
from kernels.layers import KINDS, kind_of


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
        return [KINDS[code].name for code in self.kinds], [ACTIVATION_NAMES[code] for code in self.activations]

    def suffix(self) -> str:
        """The variant in a compiled function's name: ``dense_activation_relu``, ``dense_fused``."""
        kinds, activations = self.names()
        return "_".join(kinds + ["fused"] * self.fused + activations)

    def check(self) -> None:
        """ValueError unless kinds and activations are sorted, distinct codes (and a fused
        variant is the dense kind alone)."""
        if (not self.kinds or not _sorted_codes(self.kinds, len(KINDS))
                or not _sorted_codes(self.activations, len(ACTIVATIONS))
                or (self.fused and [KINDS[code].name for code in self.kinds] != ["dense"])):
            raise ValueError(f"not a variant of a plan: {self}")


def _variant(ops: list[int], activations: set[int]) -> Variant:
    """The Variant of a plan whose layers have the op codes ``ops`` and use ``activations``."""
    fused = len(ops) == 1 and KINDS[ops[0]].name == "dense"
    return Variant(tuple(sorted(set(ops))), fused, tuple(sorted(activations)))


def variant_of(table) -> Variant:
    """The variant of a plan table (L, N_COLS)."""
    ops = [int(op) for op in table[:, COL_OP]]
    return _variant(ops, {int(row[COL_CODE]) for op, row in zip(ops, table) if KINDS[op].activation is not None})


def variant_of_layers(layers: list) -> Variant:
    """The variant of the plan that kernels.plan.build_plan makes of ``layers`` (layer specs),
    without laying it out: the same as variant_of(build_plan(shape, layers).net.table)."""
    ops, activations = [], set()
    for layer in layers:
        op, kind = kind_of(layer)
        ops.append(op)
        if kind.activation is not None:
            activations.add(ACTIVATIONS[kind.activation(layer)][0])
    return _variant(ops, activations)
