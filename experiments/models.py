"""Models from a short text spec, e.g. ``conv8x3p1-pool2-conv16x3p1-pool2-dense64``.

Tokens, joined by ``-``, in order (the output layer is added by the study):
- ``dense64``           fully connected, 64 outputs
- ``conv8x3``           convolution, 8 channels, 3×3 kernel; optional ``s2`` (stride) and
                        ``p1`` (zero padding), e.g. ``conv16x5s1p2``
- ``pool2``, ``maxpool2``, ``avgpool2``   pooling over 2×2 windows; optional ``s1`` (stride;
                        default the window)
- ``res64``             residual block y = x + W₂σ(W₁x + b) with 64 hidden units
- ``dropout0.5``        inverted dropout of half the entries (training only)
- ``flatten``           accepted and ignored: images are stored flat already
- an activation name (``relu``, ``tanh``, ``prelu:0.05``, ``silu:1:2``, ...; kernels.codes) with
  optional β and γ after colons.
After every ``dense`` and ``conv`` token the default activation is inserted unless the next
token is an activation (write ``identity`` for none).
"""
import re

from kernels.codes import ACTIVATIONS
from kernels.plan import Activation, Conv, Dense, Dropout, Pool, Residual

_CONV = re.compile(r"conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?")
_POOL = re.compile(r"(max|avg)?pool(\d+)(?:s(\d+))?")
_NUMBER = r"(\d+(?:\.\d*)?(?:e-?\d+)?)"


def parse_activation(token: str) -> Activation | None:
    """``name[:β[:γ]]`` -> an Activation; None if ``name`` is not an activation."""
    name, *values = token.split(":")
    if name not in ACTIVATIONS:
        return None
    if len(values) > 2:
        raise ValueError(f"activation {token!r}: at most two parameters (β, γ)")
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"activation {token!r}: parameters must be numbers") from None
    return Activation(name, *numbers)


def parse_model(spec: str, activation: str = "relu") -> list:
    """The layers of ``spec`` (module docstring), with ``activation`` after dense and conv."""
    tokens = [t for t in spec.strip().lower().split("-") if t]
    if not tokens:
        raise ValueError("empty model spec")
    default = parse_activation(activation)
    if default is None:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    layers = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        needs_activation = parse_activation(following) is None
        if m := re.fullmatch(r"dense(\d+)", token):
            layers.append(Dense(int(m[1])))
        elif m := _CONV.fullmatch(token):
            layers.append(Conv(int(m[1]), int(m[2]), int(m[3] or 1), int(m[4] or 0)))
        elif m := _POOL.fullmatch(token):
            layers.append(Pool(int(m[2]), int(m[3]) if m[3] else None, m[1] or "max"))
            needs_activation = False
        elif m := re.fullmatch(r"res(\d+)", token):
            layers.append(Residual(int(m[1]), activation.split(":")[0]))
            needs_activation = False
        elif m := re.fullmatch(r"dropout" + _NUMBER, token):
            layers.append(Dropout(float(m[1])))
            needs_activation = False
        elif token == "flatten":
            continue
        elif (act := parse_activation(token)) is not None:
            layers.append(act)
            needs_activation = False
        else:
            raise ValueError(f"model spec {spec!r}: cannot read {token!r} (see `runner studies`)")
        if needs_activation and default.name != "identity":
            layers.append(default)
    return layers
