"""Dense layer on the device: y = x W + b (kernels.dense), cooperative over the block.

x: (rows·n_in,) row-major samples; w: (n_in·n_out,) the (n_in, n_out) weights; b: (n_out,) or
(0,) without bias; y: (rows·n_out,). The three products are kernels.cuda.tiles.product's
(tiled where they are large enough to pay, else one thread an entry); a weight gradient of a
layer with fewer weights than the block has threads is a sum split across threads instead
(kernels.cuda.split). Sums run over k, i or j in index
order (the CPU's go through BLAS, in its order), so the targets agree to rounding.
"""
from numba import cuda, int64

from kernels.codes import COL_BIAS, COL_IN_DIM, COL_OUT_DIM, COL_P_OFF
from kernels.cuda.split import segments, store
from kernels.cuda.tiles import product
from kernels.layers.dense import offsets


@cuda.jit(device=True)
def dense_forward(x, w, b, y, rows, n_in, n_out):
    """y[i, j] = Σ_k x[i, k] w[k, j] + b[j]."""
    strided = cuda.local.array(1, int64)[:0]  # no convolution geometry: product reads w through its strides
    product(x, n_in, 1, w, n_out, 1, strided, b, 0, 1, y, rows, n_in, n_out)


@cuda.jit(device=True)
def dense_backward(dy, x, w, dx, dw, db, rows, n_in, n_out):
    """dw = xᵀ dy (n_in·n_out,); db = Σ_i dy_i (n_out,) or (0,); dx = dy wᵀ (rows·n_in,), or
    (0,) to skip it (first layer). dy: (rows·n_out,)."""
    zero = dy.dtype.type(0)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    strided = cuda.local.array(1, int64)[:0]  # as in dense_forward
    parts = segments(n_in * n_out, rows, threads)
    if parts == 1:
        product(x, 1, n_in, dy, n_out, 1, strided, db[:0], 0, 0, dw, n_in, rows, n_out)
    else:
        for base in range(0, n_in * n_out * parts, threads):
            t = base + tid
            acc = zero
            if t < n_in * n_out * parts:
                k, j = t // parts // n_out, t // parts % n_out
                for i in range(t % parts, rows, parts):
                    acc += x[i * n_in + k] * dy[i * n_out + j]
            store(dw, acc, t, n_in * n_out, parts)
    n_b = db.shape[0]
    parts = segments(n_b, rows, threads)
    for base in range(0, n_b * parts, threads):
        t = base + tid
        acc = zero
        if t < n_b * parts:
            for i in range(t % parts, rows, parts):
                acc += dy[i * n_out + t // parts]
        store(db, acc, t, n_b, parts)
    if dx.shape[0] > 0:
        product(dy, n_out, 1, w, 1, n_out, strided, db[:0], 0, 0, dx, rows, n_out, n_in)


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    n_in, n_out = row[COL_IN_DIM], row[COL_OUT_DIM]
    w_at, b_at, n_b = offsets(row[COL_P_OFF], n_in, n_out, row[COL_BIAS])
    dense_forward(x, params[w_at:b_at], params[b_at : b_at + n_b], y, rows, n_in, n_out)


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    n_in, n_out = row[COL_IN_DIM], row[COL_OUT_DIM]
    w_at, b_at, n_b = offsets(row[COL_P_OFF], n_in, n_out, row[COL_BIAS])
    dense_backward(dy, x, params[w_at:b_at], dx, grads[w_at:b_at], grads[b_at : b_at + n_b], rows, n_in, n_out)


@cuda.jit(device=True)
def add_into(y, x, count):
    """y += x elementwise (residual connections)."""
    for idx in range(cuda.threadIdx.x, count, cuda.blockDim.x):
        y[idx] += x[idx]
