"""NumPy references: what every (op, dtype) must compute, written once for the tests and the conformance suite.

Each reference takes NumPy inputs of the op's key dtype and returns the exact expected result *and dtype*, following
tensorswitch's semantics (kernels/optable.py, Note [Type promotion]).  Floating results are computed in float64 and
rounded to the result dtype, so the reference is at least as accurate as any backend.
"""

import math

import numpy as np

from ..kernels import optable

_WIDE = {"b": np.int64, "i": np.int64, "u": np.int64}


def _float_ref(fn):
    """Apply ``fn`` in float64 and round back: the accuracy bar for float16 and float32 kernels."""
    def ref(*xs):
        dt = xs[0].dtype
        with np.errstate(all="ignore"):  # float16 overflows to inf on rounding, as the kernels do
            return np.asarray(fn(*(x.astype(np.float64) for x in xs))).astype(dt)
    return ref


def _same_int(fn_float, fn_int=lambda x: x):
    def ref(x):
        if x.dtype.kind == "f":
            return _float_ref(fn_float)(x)
        return np.asarray(fn_int(x)).astype(x.dtype)
    return ref


def _ints_or_float(fn):
    """Integer ops run in NumPy's own integer arithmetic (which wraps like ours); float ops in float64."""
    def ref(*xs):
        if xs[0].dtype.kind == "f":
            return _float_ref(fn)(*xs)
        with np.errstate(all="ignore"):
            return np.asarray(fn(*xs)).astype(xs[0].dtype)
    return ref


def _int_pow(a, b):
    with np.errstate(all="ignore"):
        if a.dtype.kind == "f":
            return _float_ref(np.power)(a, b)
        # NumPy refuses negative integer exponents; tensorswitch gives 0 except for bases 1 and -1
        bb = np.where(b < 0, 0, b)
        out = np.power(a, bb).astype(a.dtype)
        if a.dtype.kind == "i":
            neg = b < 0
            special = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 1, -1, 1), 0)).astype(a.dtype)
            out = np.where(neg, special, out)
        return out


def _bool_result(fn):
    def ref(*xs):
        with np.errstate(all="ignore"):
            return np.asarray(fn(*xs)).astype(np.bool_)
    return ref


ELEMENTWISE = {
    "negative": _ints_or_float(np.negative),
    "positive": _ints_or_float(np.positive),
    "abs": _ints_or_float(np.abs),
    "exp": _float_ref(np.exp),
    "log": _float_ref(np.log),
    "sqrt": _float_ref(np.sqrt),
    "sin": _float_ref(np.sin),
    "cos": _float_ref(np.cos),
    "tanh": _float_ref(np.tanh),
    "erf": _float_ref(np.vectorize(math.erf, otypes=[np.float64])),  # NumPy has no erf: math.erf per element
    "sigmoid": _float_ref(lambda x: 1.0 / (1.0 + np.exp(-x))),
    "relu": _ints_or_float(lambda x: np.maximum(x, np.zeros((), x.dtype))),
    "sign": _ints_or_float(np.sign),
    "floor": _same_int(np.floor),
    "ceil": _same_int(np.ceil),
    "square": _ints_or_float(np.square),
    "logical_not": _bool_result(np.logical_not),
    "isnan": _bool_result(np.isnan),
    "isinf": _bool_result(np.isinf),
    "isfinite": _bool_result(np.isfinite),
    "add": _ints_or_float(np.add),
    "subtract": _ints_or_float(np.subtract),
    "multiply": _ints_or_float(np.multiply),
    "divide": _float_ref(np.divide),
    "floor_divide": _ints_or_float(np.floor_divide),
    "remainder": _ints_or_float(np.remainder),
    "pow": _int_pow,
    "maximum": _ints_or_float(np.maximum),
    "minimum": _ints_or_float(np.minimum),
    "equal": _bool_result(np.equal),
    "not_equal": _bool_result(np.not_equal),
    "less": _bool_result(np.less),
    "less_equal": _bool_result(np.less_equal),
    "greater": _bool_result(np.greater),
    "greater_equal": _bool_result(np.greater_equal),
    "logical_and": _bool_result(np.logical_and),
    "logical_or": _bool_result(np.logical_or),
}
assert set(ELEMENTWISE) == set(optable.ELEMENTWISE), "every table op needs a reference (and only those)"


def reduction(op, x, axis):
    """The reference of reduction ``op`` over ``axis`` (None, int or tuple)."""
    with np.errstate(all="ignore"):
        if op in ("sum", "prod"):
            fn = np.sum if op == "sum" else np.prod
            if x.dtype.kind == "f":
                return np.asarray(fn(x.astype(np.float64), axis=axis)).astype(x.dtype)
            return np.asarray(fn(x.astype(np.int64), axis=axis)).astype(np.int64)
        if op in ("max", "min"):
            return np.asarray((np.max if op == "max" else np.min)(x, axis=axis))
        if op in ("argmax", "argmin"):
            fn = np.argmax if op == "argmax" else np.argmin
            if isinstance(axis, tuple):  # flat index in C order over the reduced axes
                keep = [i for i in range(x.ndim) if i not in axis]
                moved = np.transpose(x, keep + list(axis)).reshape([x.shape[i] for i in keep] + [-1])
                return np.asarray(fn(moved, axis=-1)).astype(np.int64)
            return np.asarray(fn(x, axis=axis)).astype(np.int64)
        if op == "all":
            return np.asarray(np.all(x, axis=axis))
        if op == "any":
            return np.asarray(np.any(x, axis=axis))
    raise KeyError(op)


def matmul(a, b):
    if a.dtype.kind == "f":
        return np.asarray(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(a.dtype)
    return np.asarray(np.matmul(a, b)).astype(a.dtype)


def softmax(x, axis, log=False):
    """PyTorch's answer: ``exp(x - max) / sum(exp(x - max))`` with the max of the row itself, so that a row holding a
    NaN, a row whose max is +inf and a row all -inf are NaN in every position, and exp(-inf) = 0 in other rows."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x64, axis=axis, keepdims=True)  # NaN propagates
        shifted = x64 - m  # inf - inf and -inf - -inf are NaN
        e = np.exp(shifted)
        s = np.sum(e, axis=axis, keepdims=True)
        out = (shifted - np.log(s)) if log else e / s
    return out.astype(x.dtype)


def astype(x, dtype):
    with np.errstate(all="ignore"):
        return x.astype(dtype)


# -- Philox4x32-10, see Note [Random numbers] in dispatch/registry.py -------------------------------------------------

def philox(seed, offset, n):
    """The four output words (each a uint64 array holding 32-bit values) for elements 0..n-1."""
    mask = np.uint64(0xFFFFFFFF)
    i = np.arange(n, dtype=np.uint64)
    c0, c1 = i & mask, i >> np.uint64(32)
    c2 = np.full(n, offset & 0xFFFFFFFF, np.uint64)
    c3 = np.full(n, offset >> 32, np.uint64)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & mask
            k1 = (k1 + np.uint64(0xBB67AE85)) & mask
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & mask)
    return c0, c1, c2, c3


def random(op, dtype, n, seed, offset, low=0, high=1):
    x0, x1, _, _ = philox(seed, offset, n)
    dtype = np.dtype(dtype)
    if op == "rand":
        if dtype == np.float64:
            return (((x0 >> np.uint64(5)).astype(np.float64) * 67108864.0 + (x1 >> np.uint64(6)).astype(np.float64))
                    * 2.0 ** -53)
        if dtype == np.float16:
            return ((x0 >> np.uint64(21)).astype(np.float32) * np.float32(2.0 ** -11)).astype(np.float16)
        return ((x0 >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)).astype(dtype)
    if op == "randn":
        u1 = (x0.astype(np.float64) + 1.0) * 2.0 ** -32
        u2 = x1.astype(np.float64) * 2.0 ** -32
        return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(dtype)
    bits = (x1 << np.uint64(32)) | x0
    span = (high - low) & 0xFFFFFFFFFFFFFFFF  # 0 stands for the whole 2**64 range: the bits as they are
    offsets = bits % np.uint64(span) if span else bits
    return (np.uint64(low & 0xFFFFFFFFFFFFFFFF) + offsets).astype(np.int64).astype(dtype)


# -- the nn families (dispatch/nnops.py, Note [Kernel contract] in dispatch/registry.py) -------------------------------
# Each takes the public function's arguments.  Images are NCHW; a 3-D input is one image.  Sums are taken in float64
# and rounded once; im2col and the max pools only move values, so they are exact.

def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _as_batch(x):
    return (x, True) if x.ndim == 4 else (x[None], False)


def _pool_extent(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    n = (span + s - 1) // s + 1
    return n - 1 if (n - 1) * s >= size + p else n


def _windows(xp, oh, ow, k, s, d):
    """The (KH*KW, N, C, OH, OW) stack of every window's elements of padded ``xp``, in window order."""
    (kh, kw), (sh, sw), (dh, dw) = k, s, d
    return np.stack([xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
                     for i in range(kh) for j in range(kw)])


def _padded(x, p, k, s, d, oh, ow, fill):
    """``x`` padded by ``p`` (and on the right as far as ceil_mode's last windows reach) with ``fill``, and a mask of
    the real elements."""
    n, c, h, w = x.shape
    hp = max(h + 2 * p[0], (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1)
    wp = max(w + 2 * p[1], (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1)
    xp = np.full((n, c, hp, wp), fill, x.dtype)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    mask = np.zeros((1, 1, hp, wp), bool)
    mask[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = True
    return xp, mask


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    x4, batched = _as_batch(x)
    k, d, p, s = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    n, c, h, w = x4.shape
    oh, ow = (_pool_extent(h, k[0], s[0], p[0], d[0], False), _pool_extent(w, k[1], s[1], p[1], d[1], False))
    xp, _ = _padded(x4, p, k, s, d, oh, ow, 0)
    win = _windows(xp, oh, ow, k, s, d).reshape(k[0], k[1], n, c, oh * ow)
    out = np.ascontiguousarray(win.transpose(2, 3, 0, 1, 4).reshape(n, c * k[0] * k[1], oh * ow))
    return out if batched else out[0]


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    batched = cols.ndim == 3
    c3 = cols if batched else cols[None]
    (h, w), k, d, p, s = _pair(output_size), _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    n, ckk, _ = c3.shape
    c = ckk // (k[0] * k[1])
    oh, ow = _pool_extent(h, k[0], s[0], p[0], d[0], False), _pool_extent(w, k[1], s[1], p[1], d[1], False)
    acc = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]))
    blocks = c3.astype(np.float64).reshape(n, c, k[0], k[1], oh, ow)
    for i in range(k[0]):
        for j in range(k[1]):
            acc[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]] += blocks[:, :, i, j]
    out = acc[:, :, p[0]:p[0] + h, p[1]:p[1] + w].astype(cols.dtype)
    return out if batched else out[0]


def _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode):
    x4, batched = _as_batch(x)
    k = _pair(kernel_size)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _pair(stride)
    p, d = _pair(padding), _pair(dilation)
    h, w = x4.shape[2:]
    oh, ow = _pool_extent(h, k[0], s[0], p[0], d[0], ceil_mode), _pool_extent(w, k[1], s[1], p[1], d[1], ceil_mode)
    return x4, batched, k, s, p, d, oh, ow


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """PyTorch's max pool: padding never wins (a window wholly outside the input gives -inf), NaN propagates."""
    x4, batched, k, s, p, d, oh, ow = _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp, _ = _padded(x4, p, k, s, d, oh, ow, -np.inf)
    out = np.max(_windows(xp, oh, ow, k, s, d), axis=0)
    return out if batched else out[0]


def max_pool2d_backward(grad, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Each window's grad goes to its first maximum in window order over the real elements; the first NaN beats
    every number (Note [Kernel contract])."""
    x4, batched, k, s, p, d, oh, ow = _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode)
    g4 = grad if batched else grad[None]
    xp, mask = _padded(x4.astype(np.float64), p, k, s, d, oh, ow, -np.inf)
    win = _windows(xp, oh, ow, k, s, d)
    real = np.broadcast_to(_windows(mask, oh, ow, k, s, d), win.shape)
    nan = np.isnan(win) & real
    with np.errstate(invalid="ignore"):
        best = np.max(np.where(real, win, -np.inf), axis=0)
        is_max = real & (win == best)
    first = np.where(nan.any(axis=0), np.argmax(nan, axis=0), np.argmax(is_max, axis=0))
    has = real.any(axis=0)  # a window wholly in the padding passes no grad on
    n_at, c_at, oh_at, ow_at = np.indices(first.shape)
    rows = oh_at * s[0] + (first // k[1]) * d[0]
    cols = ow_at * s[1] + (first % k[1]) * d[1]
    acc = np.zeros(xp.shape)
    np.add.at(acc, (n_at[has], c_at[has], rows[has], cols[has]), g4.astype(np.float64)[has])
    h, w = x4.shape[2:]
    out = acc[:, :, p[0]:p[0] + h, p[1]:p[1] + w].astype(x.dtype)
    return out if batched else out[0]


def _avg_divisors(h, w, k, s, p, oh, ow, count_include_pad, divisor_override):
    """(OH, OW) divisors: the window clipped at the padded input's end (size + padding) with count_include_pad,
    else its real elements; or divisor_override."""
    if divisor_override is not None:
        return np.full((oh, ow), float(divisor_override))

    def axis(n_out, size, kk, ss, pp):
        start = np.arange(n_out) * ss - pp
        stop = np.minimum(start + kk, size + pp)
        return stop - start, np.minimum(stop, size) - np.maximum(start, 0)

    rp, rr = axis(oh, h, k[0], s[0], p[0])
    cp, cr = axis(ow, w, k[1], s[1], p[1])
    return np.outer(rp, cp).astype(np.float64) if count_include_pad else np.outer(rr, cr).astype(np.float64)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    x4, batched, k, s, p, d, oh, ow = _pool_setup(x, kernel_size, stride, padding, 1, ceil_mode)
    xp, _ = _padded(x4.astype(np.float64), p, k, s, d, oh, ow, 0.0)
    total = np.sum(_windows(xp, oh, ow, k, s, d), axis=0)
    div = _avg_divisors(x4.shape[2], x4.shape[3], k, s, p, oh, ow, count_include_pad, divisor_override)
    with np.errstate(all="ignore"):
        out = (total / div).astype(x.dtype)
    return out if batched else out[0]


def avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    batched = len(input_shape) == 4
    n, c, h, w = tuple(input_shape) if batched else (1,) + tuple(input_shape)
    g4 = (grad if batched else grad[None]).astype(np.float64)
    _, _, k, s, p, d, oh, ow = _pool_setup(np.zeros((n, c, h, w)), kernel_size, stride, padding, 1, ceil_mode)
    div = _avg_divisors(h, w, k, s, p, oh, ow, count_include_pad, divisor_override)
    acc, _ = _padded(np.zeros((n, c, h, w)), p, k, s, d, oh, ow, 0.0)
    share = g4 / div
    for i in range(k[0]):
        for j in range(k[1]):
            acc[:, :, i: i + s[0] * (oh - 1) + 1: s[0], j: j + s[1] * (ow - 1) + 1: s[1]] += share
    out = acc[:, :, p[0]:p[0] + h, p[1]:p[1] + w].astype(grad.dtype)
    return out if batched else out[0]


def take_along_axis(x, indices, axis=-1):
    """NumPy's, which broadcasts ``indices`` against ``x`` except along ``axis`` and counts negative indices from
    the end."""
    return np.take_along_axis(x, indices.astype(np.int64), axis=axis)


def scatter_add(x, axis, index, src):
    """``torch.scatter_add``: out[..., index[p], ...] += src[p] over the positions p of ``index`` (src's leading part
    of index's shape); integers wrap, floats add in float64 and round once."""
    axis %= max(x.ndim, 1)
    out = (x.astype(np.float64) if x.dtype.kind == "f" else x.copy()).reshape(x.shape or (1,))
    idx = index.astype(np.int64).reshape(index.shape or (1,))
    part = src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in idx.shape)]
    where = list(np.indices(idx.shape, sparse=True))
    where[axis] = idx
    with np.errstate(all="ignore"):
        np.add.at(out, tuple(where), part.astype(out.dtype))
    return out.astype(x.dtype).reshape(x.shape)


#: the reference of each nn op of the registry (the public function it is reached through takes the same arguments)
NN = {"im2col": unfold, "col2im": fold, "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward,
      "avg_pool2d": avg_pool2d, "avg_pool2d_backward": avg_pool2d_backward, "take_along_axis": take_along_axis,
      "scatter_add": scatter_add}
