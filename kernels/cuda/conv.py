"""2-D convolution on the device (kernels.conv's cross-correlation, NCHW, zero padding p,
stride s, weights (C_out, C_in, k, k)): the forward pass a product of the weights and the
patches, tiled through shared memory where it pays, the patches read in place (no im2col
buffer); the backward pass direct, one thread per weight (its sum split across threads where
the layer has fewer weights than the block has threads) and per input entry.

x: (rows·C_in·H·W,); w: (C_out·C_in·k·k,); b: (C_out,) or (0,); y, dy: (rows·C_out·H_out·W_out,).
"""
from numba import cuda, int64

from kernels.codes import (
    COL_BIAS,
    COL_C_IN,
    COL_C_OUT,
    COL_H_IN,
    COL_H_OUT,
    COL_K,
    COL_P_OFF,
    COL_PAD,
    COL_STRIDE,
    COL_W_IN,
    COL_W_OUT,
)
from kernels.cuda.split import segments, store
from kernels.cuda.tiles import PATCH_H, PATCH_K, PATCH_PAD, PATCH_STRIDE, PATCH_W, PATCH_W_OUT, product, tiled
from kernels.layers.conv import offsets


@cuda.jit(device=True)
def conv2d_forward(x, w, b, y, rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad):
    """y[r, o, i, j] = b[o] + Σ_{c,u,v} w[o, c, u, v] x[r, c, s i + u − p, s j + v − p]: for
    each sample, the (C_out, C_in·k·k) weights times its patches (C_in·k·k, H_out·W_out), in
    tiles through shared memory where that pays (kernels.cuda.tiles.tiled), else one thread an
    output entry."""
    depth = c_in * k * k
    if tiled(c_out, depth, cuda.blockDim.x):
        patch = cuda.local.array(6, int64)
        patch[PATCH_H], patch[PATCH_W], patch[PATCH_W_OUT] = h, wd, w_out
        patch[PATCH_K], patch[PATCH_STRIDE], patch[PATCH_PAD] = k, stride, pad
        image, plane = c_in * h * wd, c_out * h_out * w_out
        for r in range(rows):
            product(w, depth, 1, x[r * image : (r + 1) * image], 0, 0, patch, b, 1, 0,
                    y[r * plane : (r + 1) * plane], c_out, depth, h_out * w_out)
        return
    for idx in range(cuda.threadIdx.x, rows * c_out * h_out * w_out, cuda.blockDim.x):
        j = idx % w_out
        i = idx // w_out % h_out
        o = idx // (w_out * h_out) % c_out
        r = idx // (w_out * h_out * c_out)
        acc = b[o] if b.shape[0] > 0 else y.dtype.type(0)
        for c in range(c_in):
            for u in range(k):
                row = stride * i + u - pad
                if 0 <= row < h:
                    for v in range(k):
                        col = stride * j + v - pad
                        if 0 <= col < wd:
                            acc += w[((o * c_in + c) * k + u) * k + v] * x[((r * c_in + c) * h + row) * wd + col]
        y[idx] = acc


@cuda.jit(device=True)
def conv2d_backward(dy, x, w, dx, dw, db, rows, c_in, h, wd, c_out, h_out, w_out, k, stride, pad):
    """dw[o, c, u, v] = Σ_{r,i,j} dy[r, o, i, j] x[r, c, s i + u − p, s j + v − p];
    db[o] = Σ dy[:, o]; dx[r, c, a, e] = Σ over the outputs that read it of dy · w; dx may
    be (0,) to skip it (first layer). The weight and bias gradients' sums over the (sample,
    output row) pairs are split across threads where the block has more threads than the layer
    has kernel entries (kernels.cuda.split)."""
    zero = dy.dtype.type(0)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    entries, terms = c_out * c_in * k * k, rows * h_out
    parts = segments(entries, terms, threads)
    for base in range(0, entries * parts, threads):
        t = base + tid
        acc = zero
        if t < entries * parts:
            idx = t // parts
            v = idx % k
            u = idx // k % k
            c = idx // (k * k) % c_in
            o = idx // (k * k * c_in)
            for term in range(t % parts, terms, parts):
                r, i = term // h_out, term % h_out
                row = stride * i + u - pad
                if 0 <= row < h:
                    for j in range(w_out):
                        col = stride * j + v - pad
                        if 0 <= col < wd:
                            acc += dy[((r * c_out + o) * h_out + i) * w_out + j] * x[((r * c_in + c) * h + row) * wd + col]
        store(dw, acc, t, entries, parts)
    n_b = db.shape[0]
    parts = segments(n_b, terms, threads)
    for base in range(0, n_b * parts, threads):
        t = base + tid
        acc = zero
        if t < n_b * parts:
            for term in range(t % parts, terms, parts):
                at = ((term // h_out * c_out + t // parts) * h_out + term % h_out) * w_out
                for j in range(w_out):
                    acc += dy[at + j]
        store(db, acc, t, n_b, parts)
    if dx.shape[0] > 0:
        for idx in range(cuda.threadIdx.x, rows * c_in * h * wd, cuda.blockDim.x):
            e = idx % wd
            a = idx // wd % h
            c = idx // (wd * h) % c_in
            r = idx // (wd * h * c_in)
            acc = zero
            for u in range(k):
                t = a + pad - u  # = s i for the output row i that reads row a through kernel row u
                if t >= 0 and t % stride == 0 and t // stride < h_out:
                    i = t // stride
                    for v in range(k):
                        q = e + pad - v
                        if q >= 0 and q % stride == 0 and q // stride < w_out:
                            j = q // stride
                            for o in range(c_out):
                                acc += dy[((r * c_out + o) * h_out + i) * w_out + j] * w[((o * c_in + c) * k + u) * k + v]
            dx[idx] = acc


# The layer kind's device twins (kernels.layers.base gives the contract).


@cuda.jit(device=True)
def layer_forward(row, arg, params, buffers, x, y, cache, icache, capacity, rows, training, seed, step, layer):
    w_at, b_at, n_b = offsets(row[COL_P_OFF], row[COL_C_IN], row[COL_C_OUT], row[COL_K], row[COL_BIAS])
    conv2d_forward(x, params[w_at:b_at], params[b_at : b_at + n_b], y, rows, row[COL_C_IN], row[COL_H_IN],
                   row[COL_W_IN], row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT], row[COL_K], row[COL_STRIDE],
                   row[COL_PAD])


@cuda.jit(device=True)
def layer_backward(row, arg, params, grads, buffers, x, y, dy, dx, cache, icache, capacity, rows, training, first):
    w_at, b_at, n_b = offsets(row[COL_P_OFF], row[COL_C_IN], row[COL_C_OUT], row[COL_K], row[COL_BIAS])
    conv2d_backward(dy, x, params[w_at:b_at], dx, grads[w_at:b_at], grads[b_at : b_at + n_b], rows, row[COL_C_IN],
                    row[COL_H_IN], row[COL_W_IN], row[COL_C_OUT], row[COL_H_OUT], row[COL_W_OUT], row[COL_K],
                    row[COL_STRIDE], row[COL_PAD])
