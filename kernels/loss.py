"""The loss of a batch, its gradient and the accuracy count, for every loss kind
(kernels.losses.KINDS), generated from the list: each dispatch below is one branch per kind
calling the kind's per-sample function, and an ``else`` that raises on a code no kind handles.
pred, target, dpred: (B, n), one dtype; the target encodes the labels: one-hot rows
(softmax-ce), 0/1 (logistic), ±1 (hinge), values (mse). The per-sample functions (``row_*``,
``loss_scale``, ``batch_mean``, ``is_regression``) are the device's too (kernels.cuda.losses).
"""
from kernels.jit import inline_kernel, kernel
from kernels.losses import KINDS
from kernels.specialize import branches, generate

_UNKNOWN = 'raise ValueError("a loss code that no kind handles (kernels.losses.KINDS)")'


def _dispatch(header: str, line, compile=inline_kernel, prelude: tuple = ()):
    """The function ``header`` of ``code``: ``prelude`` lines, then a branch per kind with
    ``line(code, kind)``, then the else that raises."""
    name = header.split("(")[0].removeprefix("def ")
    source = "\n".join([header, *prelude, *branches("code", range(len(KINDS)), lambda c: line(c, KINDS[c]), "    ",
                                                   _UNKNOWN)])
    functions = {}
    for code, kind in enumerate(KINDS):
        functions[f"_row_loss{code}"], functions[f"_row_gradient{code}"] = kind.row_loss, kind.row_gradient
    return compile(generate(source, {**functions, "correct": correct}, globals(), name))


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

row_loss = _dispatch("def row_loss(code, p, t):", lambda c, kind: f"return _row_loss{c}(p, t)")
row_gradient = _dispatch("def row_gradient(code, p, t, scale, dp):", lambda c, kind: f"_row_gradient{c}(p, t, scale, dp)")
loss_scale = _dispatch("def loss_scale(code, n_batch, one):",
                       lambda c, kind: "return scale + scale" if kind.factor == 2 else "return scale",
                       prelude=("    scale = one / n_batch",))
positive = _dispatch("def positive(code):", lambda c, kind: f"return {float(kind.positive)!r}")


@inline_kernel
def row_correct(code, p, t):
    """``correct`` of the sample (p, t: (n,)) under the loss ``code``'s label encoding. One
    call of ``correct`` for every kind (its one-output threshold from ``positive``): with a
    call per kind, Numba inlined and typed it five times (3 s of a cold compile)."""
    return correct(p, t, positive(code))

is_regression = _dispatch("def is_regression(code):", lambda c, kind: f"return {not kind.classifies}")
batch_mean = _dispatch("def batch_mean(code, total, n_batch):",
                       lambda c, kind: f"return total / {'(n_batch + n_batch)' if kind.halved else 'n_batch'}")


@kernel
def loss_forward(code, pred, target):
    """The loss ``code`` of pred against target, both (B, n), as a scalar of their dtype."""
    total = pred.dtype.type(0)
    for i in range(pred.shape[0]):
        total += row_loss(code, pred[i], target[i])
    return batch_mean(code, total, pred.dtype.type(pred.shape[0]))


@kernel
def loss_backward(code, pred, target, dpred):
    """∂L/∂pred of the loss ``code`` into dpred. pred, target, dpred: (B, n)."""
    scale = loss_scale(code, pred.dtype.type(pred.shape[0]), pred.dtype.type(1))
    for i in range(pred.shape[0]):
        row_gradient(code, pred[i], target[i], scale, dpred[i])


@kernel
def n_correct(code, pred, target):
    """How many of the B rows are classified right (``correct``), or -1 for a regression loss."""
    if is_regression(code):
        return -1
    count = 0
    for i in range(pred.shape[0]):
        count += row_correct(code, pred[i], target[i])
    return count
