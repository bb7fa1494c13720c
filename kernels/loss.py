"""The loss of a batch, its gradient and the accuracy count, for the loss kinds of a variant
(kernels.losses.KINDS, kernels.variants.Variant.losses), generated from the list: each dispatch
below is one branch per kind calling the kind's per-sample function, and an ``else`` that
raises on a code the variant does not hold. ``*_for[variant]`` is the function of a variant's
losses (an engine compiles the one loss it trains with); the plain names (``loss_forward``,
``row_gradient``, ...) hold every kind, for callers outside an engine (checks, tests, the
device's losses). pred, target, dpred: (B, n), one dtype; the target encodes the labels:
one-hot rows (softmax-ce), 0/1 (logistic), ±1 (hinge), values (mse). The per-sample functions
(``row_*``, ``loss_scale``, ``batch_mean``, ``is_regression``) are the device's too
(kernels.cuda.losses).
"""
from kernels.jit import inline_kernel, kernel
from kernels.losses import KINDS
from kernels.specialize import PerVariant, branches, generate, losses_only
from kernels.variants import Variant

_UNKNOWN = 'raise ValueError("a loss code that the variant does not hold (kernels.losses.KINDS)")'
EVERY = Variant((), losses=tuple(range(len(KINDS))))  # every loss kind: the plain names below


def _dispatch(header: str, line, compile=inline_kernel, prelude: tuple = ()) -> PerVariant:
    """The function ``header`` of ``code`` per variant's losses: ``prelude`` lines, then a
    branch per loss kind of the variant with ``line(code, kind)``, then the else that raises."""
    name = header.split("(")[0].removeprefix("def ")

    def make(key, function_name):
        source = "\n".join([header.replace(f"def {name}(", f"def {function_name}("), *prelude,
                            *branches("code", key.losses, lambda c: line(c, KINDS[c]), "    ", _UNKNOWN)])
        functions = {f"_row_{what}{code}": getattr(KINDS[code], f"row_{what}")
                     for code in key.losses for what in ("loss", "gradient")}
        return generate(source, functions, globals(), function_name)

    return PerVariant(make, name, compile, key=losses_only)


@inline_kernel
def correct(p, t, positive):
    """1 if the sample (p, t: (n,)) is classified right, else 0: with several outputs the class
    is the argmax of the row (of the prediction and of the target: one-hot, 0/1 or ±1
    one-vs-rest rows alike); with one output the side of 0 (the target's: above ``positive``;
    p = 0 counts as the negative class, as Magyar's Sign)."""
    n = p.shape[0]
    if n > 1:
        best_p, best_t = 0, 0
        for j in range(1, n):
            if p[j] > p[best_p]:
                best_p = j
            if t[j] > t[best_t]:
                best_t = j
        return 1 if best_p == best_t else 0
    return 1 if (p[0] > 0) == (t[0] > positive) else 0


for _kind in KINDS:
    if _kind.factor not in (1, 2):
        raise TypeError(f"loss {_kind.name}: factor must be 1 or 2, got {_kind.factor}")

row_loss_for = _dispatch("def row_loss(code, p, t):", lambda c, kind: f"return _row_loss{c}(p, t)")
row_gradient_for = _dispatch("def row_gradient(code, p, t, scale, dp):",
                             lambda c, kind: f"_row_gradient{c}(p, t, scale, dp)")
loss_scale_for = _dispatch("def loss_scale(code, n_batch, one):",
                           lambda c, kind: "return scale + scale" if kind.factor == 2 else "return scale",
                           prelude=("    scale = one / n_batch",))
positive_for = _dispatch("def positive(code):", lambda c, kind: f"return {float(kind.positive)!r}")
is_regression_for = _dispatch("def is_regression(code):", lambda c, kind: f"return {not kind.classifies}")
batch_mean_for = _dispatch("def batch_mean(code, total, n_batch):",
                           lambda c, kind: f"return total / {'(n_batch + n_batch)' if kind.halved else 'n_batch'}")


@PerVariant.template(inline_kernel, key=losses_only)
def row_correct_for(code, p, t):
    """``correct`` of the sample (p, t: (n,)) under the loss ``code``'s label encoding. One
    call of ``correct`` for every kind (its one-output threshold from ``positive``): with a
    call per kind, Numba inlined and typed it five times (3 s of a cold compile)."""
    return correct(p, t, positive_for(code))


@PerVariant.template(kernel, key=losses_only)
def loss_forward_for(code, pred, target):
    """The loss ``code`` of pred against target, both (B, n), as a scalar of their dtype."""
    total = pred.dtype.type(0)
    for i in range(pred.shape[0]):
        total += row_loss_for(code, pred[i], target[i])
    return batch_mean_for(code, total, pred.dtype.type(pred.shape[0]))


@PerVariant.template(kernel, key=losses_only)
def loss_backward_for(code, pred, target, dpred):
    """∂L/∂pred of the loss ``code`` into dpred. pred, target, dpred: (B, n)."""
    scale = loss_scale_for(code, pred.dtype.type(pred.shape[0]), pred.dtype.type(1))
    for i in range(pred.shape[0]):
        row_gradient_for(code, pred[i], target[i], scale, dpred[i])


@PerVariant.template(kernel, key=losses_only)
def n_correct_for(code, pred, target):
    """How many of the B rows are classified right (``correct``), or -1 for a regression loss."""
    if is_regression_for(code):
        return -1
    count = 0
    for i in range(pred.shape[0]):
        count += row_correct_for(code, pred[i], target[i])
    return count


row_loss, row_gradient, loss_scale = row_loss_for.of(EVERY), row_gradient_for.of(EVERY), loss_scale_for.of(EVERY)
positive, is_regression, batch_mean = positive_for.of(EVERY), is_regression_for.of(EVERY), batch_mean_for.of(EVERY)
row_correct, n_correct = row_correct_for.of(EVERY), n_correct_for.of(EVERY)
loss_forward, loss_backward = loss_forward_for.of(EVERY), loss_backward_for.of(EVERY)
