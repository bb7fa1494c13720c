"""The registry of layer kinds: one module per kind (kernels.layers.base says what a kind
declares), listed once in ``KINDS``. A kind's op code is its position here.

The walks of both targets (kernels.walks, kernels.cuda.walks) are generated from this list:
one branch per kind, and an ``else`` that fails on an op code no kind handles. Adding a layer
kind is writing its module and adding it here; no walk is edited.
"""
from kernels.layers import (
    activation,
    batchnorm,
    conv,
    dense,
    dropout,
    layernorm,
    pool,
    residual,
)
from kernels.layers.base import LayerKind
from kernels.specialize import branches

KINDS: tuple[LayerKind, ...] = (dense.KIND, activation.KIND, conv.KIND, pool.KIND, dropout.KIND, residual.KIND,
                                batchnorm.KIND, layernorm.KIND)

OP_CODES = {kind.spec: code for code, kind in enumerate(KINDS)}


def kind_of(layer) -> tuple[int, LayerKind]:
    """(op code, kind) of a layer spec, or TypeError."""
    code = OP_CODES.get(type(layer))
    if code is None:
        raise TypeError(f"not a layer: {layer!r}")
    return code, KINDS[code]


def switch(call: str, indent: str, otherwise: str, codes=None) -> list[str]:
    """Source lines of ``if op == c0: <call of kind c0> elif ...`` over the op codes ``codes``
    (default: every kind), then ``else: otherwise``. ``call`` names the kind's function as {fn}
    (bound to ``_fn{code}``)."""
    return branches("op", range(len(KINDS)) if codes is None else codes, lambda code: call.format(fn=f"_fn{code}"),
                    indent, otherwise)
