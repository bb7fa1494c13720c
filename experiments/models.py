"""Models from a short text spec, e.g. ``conv8x3p1-pool2-conv16x3p1-pool2-dense64``.

Tokens, joined by ``-``, in order (the output layer is added by the study); each layer kind
(kernels.layers) reads its own:
- ``dense64``           fully connected, 64 outputs
- ``conv8x3``           convolution, 8 channels, 3×3 kernel; optional ``s2`` (stride) and
                        ``p1`` (zero padding), e.g. ``conv16x5s1p2``
- ``pool2``, ``maxpool2``, ``avgpool2``   pooling over 2×2 windows; optional ``s1`` (stride;
                        default the window)
- ``res64``             residual block y = x + W₂σ(W₁x + b) with 64 hidden units
- ``dropout0.5``        inverted dropout of half the entries (training only)
- ``bn``, ``bn2d``      batch normalization per feature (after dense) or per channel (after
                        conv); optional momentum and ε, e.g. ``bn:0.01:0.001``
- ``ln``                layer normalization over each sample's features; optional ε, ``ln:0.001``
- ``flatten``           accepted and ignored: images are stored flat already
- an activation name (``relu``, ``tanh``, ``prelu:0.05``, ``silu:1:2``, ...; kernels.codes) with
  optional β and γ after colons.
After every ``dense`` and ``conv`` token the default activation is inserted unless the next
token is an activation or a normalization (a kind with ``normalizes``: bn, ln; the activation
then follows it), e.g. ``dense64-bn`` is dense, batch norm, ReLU; write ``identity`` for no
activation.
"""
from kernels.codes import ACTIVATIONS
from kernels.layers import KINDS, kind_of
from kernels.layers.activation import Activation
from kernels.layers.activation import parse as parse_activation

__all__ = ["parse_activation", "parse_model"]


def _read(token: str, activation: str):
    """The layer spec of ``token`` and whether its kind takes the default activation after it."""
    for kind in KINDS:
        layer = kind.parse(token, activation)
        if layer is not None:
            return layer, kind.activated
    return None, False


def parse_model(spec: str, activation: str = "relu") -> list:
    """The layers of ``spec`` (module docstring), with ``activation`` after dense and conv."""
    tokens = [t for t in spec.strip().lower().split("-") if t and t != "flatten"]
    if not tokens:
        raise ValueError("empty model spec")
    default = parse_activation(activation)
    if default is None:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    layers = []
    implicit = [] if default.name == "identity" else [default]
    pending = False  # a dense or conv layer waits for its activation
    for token in tokens:
        layer, activated = _read(token, activation)
        if layer is None:
            known = "; ".join(kind.tokens for kind in KINDS)
            raise ValueError(f"model spec {spec!r}: cannot read {token!r}; known tokens: {known}; flatten")
        normalizes = kind_of(layer)[1].normalizes
        if pending and not (isinstance(layer, Activation) or normalizes):
            layers += implicit
        pending = activated or (pending and normalizes)
        layers.append(layer)
    return layers + implicit if pending else layers
