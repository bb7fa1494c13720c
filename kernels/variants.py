"""A plan's *variant*: what of the engine it uses, the key of the functions compiled per
variant (kernels.specialize).

A plan's variant (``variant_of``) is its kind set, the sorted op codes in its table
(kernels.layers.KINDS), whether it is a single dense layer, which the engine trains by the
fused path (kernels.fused) with no walk at all, and the activation codes that its activation
and residual layers use (the elementwise loops, kernels.activations, are generated for those
codes alone). An engine's variant also holds the loss it trains with (kernels.loss generates
the loss, its gradient and the accuracy count for that loss alone: the dispatch over every
loss kind was a fifth of a cold compile of the batch-size engine); the walks depend on the
layers alone (``layers_only``) and the loss functions on the loss alone (``losses_only``).
"""
from typing import NamedTuple

from kernels.codes import ACTIVATION_NAMES, ACTIVATIONS, COL_CODE, COL_OP
from kernels.layers import KINDS, kind_of
from kernels.losses import KINDS as LOSS_KINDS


def _sorted_codes(codes, count: int) -> bool:
    return all(0 <= code < count for code in codes) and list(codes) == sorted(set(codes))


class Variant(NamedTuple):
    """kinds: sorted op codes, each once; fused: the plan is one dense layer; activations:
    sorted activation codes (kernels.codes.ACT_*) of its activation and residual layers;
    losses: sorted loss codes (kernels.losses.CODES) the engine trains with (one; none for a
    function that computes no loss, e.g. the prediction)."""

    kinds: tuple[int, ...]
    fused: bool = False
    activations: tuple[int, ...] = ()
    losses: tuple[int, ...] = ()

    def names(self) -> tuple[list[str], list[str]]:
        """(names of its layer kinds, names of its activations), in code order."""
        return [KINDS[code].name for code in self.kinds], [ACTIVATION_NAMES[code] for code in self.activations]

    def loss_names(self) -> list[str]:
        """Names of its losses, in code order."""
        return [LOSS_KINDS[code].name for code in self.losses]

    def suffix(self) -> str:
        """The variant in a compiled function's name: ``dense_activation_relu``,
        ``dense_fused_mse``, ``softmax_ce``."""
        kinds, activations = self.names()
        return "_".join(kinds + ["fused"] * self.fused + activations + self.loss_names()).replace("-", "_")

    def layers_only(self) -> "Variant":
        """The variant without its losses: the key of what depends on the layers alone (the walks)."""
        return self._replace(losses=())

    def losses_only(self) -> "Variant":
        """The variant of its losses alone: the key of the loss functions (kernels.loss)."""
        return Variant((), losses=self.losses)

    def check(self) -> None:
        """ValueError unless kinds, activations and losses are sorted, distinct codes (and a
        fused variant is the dense kind alone)."""
        if (not self.kinds or not _sorted_codes(self.kinds, len(KINDS))
                or not _sorted_codes(self.activations, len(ACTIVATIONS))
                or not _sorted_codes(self.losses, len(LOSS_KINDS))
                or (self.fused and [KINDS[code].name for code in self.kinds] != ["dense"])):
            raise ValueError(f"not a variant of a plan: {self}")


def _variant(ops: list[int], activations: set[int], loss: int | None) -> Variant:
    """The Variant of a plan whose layers have the op codes ``ops`` and use ``activations``,
    trained with the loss code ``loss`` (None: no loss)."""
    fused = len(ops) == 1 and KINDS[ops[0]].name == "dense"
    return Variant(tuple(sorted(set(ops))), fused, tuple(sorted(activations)), () if loss is None else (int(loss),))


def variant_of(table, loss: int | None = None) -> Variant:
    """The variant of a plan table (L, N_COLS) trained with the loss code ``loss`` (None: a
    function of the plan alone)."""
    ops = [int(op) for op in table[:, COL_OP]]
    activations = {int(row[COL_CODE]) for op, row in zip(ops, table) if KINDS[op].activation is not None}
    return _variant(ops, activations, loss)


def variant_of_layers(layers: list, loss: int | None = None) -> Variant:
    """The variant of the plan that kernels.plan.build_plan makes of ``layers`` (layer specs),
    without laying it out: the same as variant_of(build_plan(shape, layers).net.table, loss)."""
    ops, activations = [], set()
    for layer in layers:
        op, kind = kind_of(layer)
        ops.append(op)
        if kind.activation is not None:
            activations.add(ACTIVATIONS[kind.activation(layer)][0])
    return _variant(ops, activations, loss)
