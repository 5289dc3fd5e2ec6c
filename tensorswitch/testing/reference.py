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
    """Apply ``fn`` in float64 (complex128 for complex inputs) and round back: the accuracy bar for float16, float32
    and complex64 kernels.  A real result of complex inputs (abs, angle) takes the dtype of their parts."""
    def ref(*xs):
        dt = xs[0].dtype
        wide = np.complex128 if dt.kind == "c" else np.float64
        with np.errstate(all="ignore"):  # float16 overflows to inf on rounding, as the kernels do
            r = np.asarray(fn(*(x.astype(wide) for x in xs)))
            return r.astype(dt if r.dtype.kind == "c" or dt.kind != "c" else np.finfo(dt).dtype)
    return ref


def _same_int(fn_float, fn_int=lambda x: x):
    def ref(x):
        if x.dtype.kind in "fc":
            return _float_ref(fn_float)(x)
        return np.asarray(fn_int(x)).astype(x.dtype)
    return ref


def _ints_or_float(fn):
    """Integer ops run in NumPy's own integer arithmetic (which wraps like ours); float ops in float64."""
    def ref(*xs):
        if xs[0].dtype.kind in "fc":
            return _float_ref(fn)(*xs)
        with np.errstate(all="ignore"):
            return np.asarray(fn(*xs)).astype(xs[0].dtype)
    return ref


def _int_pow(a, b):
    with np.errstate(all="ignore"):
        if a.dtype.kind in "fc":
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


# -- the elementwise functions of the Array API standard (issue 8): Note [Elementwise special cases] in
# kernels/optable.py says where tensorswitch follows the standard rather than NumPy --------------------------------

def _floor_divide(a, b):
    """NumPy's floor_divide, except where exactly one float operand is infinite: there the standard's floor(a / b)
    (inf // 2 is inf, not NaN; 1 // -inf is -0, not -1)."""
    if a.dtype.kind != "f":
        return _ints_or_float(np.floor_divide)(a, b)

    def standard(x, y):
        return np.where(np.isinf(x) != np.isinf(y), x / y, np.floor_divide(x, y))
    return _float_ref(standard)(a, b)


def _nextafter(a, b):
    """In the dtype itself: float16 steps by a float16 spacing (float64 would step by its own).  Where a == b the
    result is b, as C's nextafter and the standard say (nextafter(-0.0, +0.0) is +0.0); NumPy's float16 loop
    returns a there."""
    with np.errstate(all="ignore"):  # max towards inf overflows, as it must
        return np.asarray(np.where(a == b, b, np.nextafter(a, b)))


def _copy(x):
    return np.array(x, copy=True)


_ARRAY_API = {
    "acos": _float_ref(np.arccos), "acosh": _float_ref(np.arccosh), "asin": _float_ref(np.arcsin),
    "asinh": _float_ref(np.arcsinh), "atan": _float_ref(np.arctan), "atanh": _float_ref(np.arctanh),
    "cosh": _float_ref(np.cosh), "sinh": _float_ref(np.sinh), "tan": _float_ref(np.tan),
    "expm1": _float_ref(lambda x: complex_expm1(x) if x.dtype.kind == "c" else np.expm1(x)),
    "log1p": _float_ref(lambda x: complex_log1p(x) if x.dtype.kind == "c" else np.log1p(x)),
    "log2": _float_ref(np.log2),
    "log10": _float_ref(np.log10), "reciprocal": _float_ref(lambda x: 1.0 / x),
    "round": _same_int(np.rint), "trunc": _same_int(np.trunc),   # np.rint rounds halves to even
    "signbit": _bool_result(np.signbit),
    "bitwise_invert": _ints_or_float(np.invert),
    "real": lambda x: np.array(np.real(x), copy=True), "imag": lambda x: np.array(np.imag(x), copy=True),
    "conj": lambda x: np.conj(x) if x.dtype.kind == "c" else _copy(x), "angle": _float_ref(np.angle),
    "atan2": _float_ref(np.arctan2), "hypot": _float_ref(np.hypot), "copysign": _float_ref(np.copysign),
    "logaddexp": _float_ref(np.logaddexp), "nextafter": _nextafter,
    "logical_xor": _bool_result(np.logical_xor),
    "bitwise_and": _ints_or_float(np.bitwise_and), "bitwise_or": _ints_or_float(np.bitwise_or),
    "bitwise_xor": _ints_or_float(np.bitwise_xor),
    # NumPy's shifts are tensorswitch's: counts outside [0, bits) shift every bit out
    "bitwise_left_shift": _ints_or_float(np.left_shift), "bitwise_right_shift": _ints_or_float(np.right_shift),
}


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
    "sign": lambda x: _complex_sign(x) if x.dtype.kind == "c" else _ints_or_float(np.sign)(x),
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
    "floor_divide": _floor_divide,  # the standard's infinities (issue 8)
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
    **_ARRAY_API,
}
assert set(ELEMENTWISE) == set(optable.ELEMENTWISE), "every table op needs a reference (and only those)"


def reduction(op, x, axis):
    """The reference of reduction ``op`` over ``axis`` (None, int or tuple)."""
    with np.errstate(all="ignore"):
        if op in ("sum", "prod"):
            fn = np.sum if op == "sum" else np.prod
            if x.dtype.kind in "fc":  # complex in complex128
                wide = np.complex128 if x.dtype.kind == "c" else np.float64
                return np.asarray(fn(x.astype(wide), axis=axis)).astype(x.dtype)
            wide = np.dtype(optable.sum_dtype(x.dtype.name))  # uint64 for unsigned, int64 for signed and bool
            return np.asarray(fn(x.astype(wide), axis=axis, dtype=wide)).astype(wide)
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
    if a.dtype.kind in "fc":  # complex in complex128
        wide = np.complex128 if a.dtype.kind == "c" else np.float64
        return np.asarray(np.matmul(a.astype(wide), b.astype(wide))).astype(a.dtype)
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
    """x cast to ``dtype`` by Note [Float to integer casts]: NumPy's own astype, except float to uint32, which goes
    through int64 (NumPy's scalar path; its SIMD loop answers otherwise for values outside [-2**31, 2**32), and
    which one runs depends on the array's length).  A complex ``x`` casts to bool as "either part nonzero" and to
    every other real dtype as its real part does (NumPy's rules, without its ComplexWarning)."""
    dtype = np.dtype(dtype)
    if x.dtype.kind == "c" and dtype.kind != "c":
        if dtype.kind == "b":
            return np.asarray((x.real != 0) | (x.imag != 0))
        return astype(np.array(x.real, copy=True), dtype)
    with np.errstate(all="ignore"):
        if x.dtype.kind == "f" and np.dtype(dtype) == np.uint32:
            return x.astype(np.int64).astype(np.uint32)
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


def _log_softmax_rows(x):
    """log_softmax over the rows of a 2-D float64 array; a row with NaN, a max of +inf or all -inf is NaN (Note
    [Softmax of non-finite rows])."""
    mx = np.max(x, axis=1, keepdims=True)
    bad = ~np.isfinite(mx) | np.isnan(x).any(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        shifted = x - np.where(bad, 0.0, mx)
        out = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return np.where(bad, np.nan, out)


def nll_log_softmax(x, target, mean=True):
    """The fused cross entropy (Note [Kernel contract] row nll_log_softmax): -sum_i log_softmax(x[i])[target[i]],
    over N for the mean, computed in float64 and rounded once to x's dtype."""
    logp = _log_softmax_rows(x.astype(np.float64))
    total = -np.sum(logp[np.arange(x.shape[0]), target.astype(np.int64)])
    return np.asarray(total / x.shape[0] if mean else total).astype(x.dtype)


def nll_log_softmax_backward(x, target, g, mean=True):
    """Its gradient for an incoming 0-d ``g``: (softmax(x) - one_hot(target)) * g (over N for the mean)."""
    p = np.exp(_log_softmax_rows(x.astype(np.float64)))
    c = float(g) / x.shape[0] if mean else float(g)
    p[np.arange(x.shape[0]), target.astype(np.int64)] -= 1.0
    return (p * c).astype(x.dtype)


#: the reference of each nn op of the registry (the public function it is reached through takes the same arguments)
NN = {"im2col": unfold, "col2im": fold, "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward,
      "avg_pool2d": avg_pool2d, "avg_pool2d_backward": avg_pool2d_backward, "take_along_axis": take_along_axis,
      "scatter_add": scatter_add, "nll_log_softmax": nll_log_softmax,
      "nll_log_softmax_backward": nll_log_softmax_backward}


# -- sorting (issue 8): Note [Sort order] in kernels/cpu/sort.cpp ------------------------------------------------------

def argsort(x, axis=-1, descending=False):
    """NumPy's stable argsort (NaN last, -0.0 equal to +0.0); descending is the same order reversed with ties kept
    in index order (NaNs first): array-api-strict's construction, the stable ascending argsort of the flipped input,
    flipped back and counted from the end."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int64)
    last = x.shape[axis] - 1
    flipped = np.flip(np.argsort(np.flip(x, axis=axis), axis=axis, kind="stable"), axis=axis)
    return (last - flipped).astype(np.int64)


def sort(x, axis=-1, descending=False):
    """The elements of ``x`` in :func:`argsort`'s order: stable, so -0.0 and +0.0 keep their order among themselves
    (np.flip of np.sort would reverse it when descending)."""
    return np.take_along_axis(x, argsort(x, axis, descending), axis=axis)


def searchsorted(x1, x2, side="left", sorter=None):
    """NumPy's, whose order is Note [Sort order]'s (NaN last; -0.0 equal to +0.0)."""
    return np.asarray(np.searchsorted(x1, x2, side=side, sorter=sorter)).astype(np.int64)


SORTING = {"sort": sort, "argsort": argsort, "searchsorted": searchsorted}


# -- linalg (issue 8): dispatch/linalg.py; computed in float64, rounded to the input's float dtype ------------------------

def _linalg_ref(fn):
    def ref(*xs, **kw):
        dt = np.result_type(*[x.dtype for x in xs])
        dt = dt if dt.kind in "fc" else np.dtype(np.float32)  # Note [Linalg dtypes]: integers compute in float32
        wide = np.complex128 if dt.kind == "c" else np.float64

        def back(o):  # real results of complex input (eigenvalues, singular values, logabsdet) in the part's dtype
            o = np.asarray(o)
            return o.astype(dt if o.dtype.kind == "c" else np.finfo(dt).dtype)
        with np.errstate(all="ignore"):  # a determinant past float32's range rounds to inf, as the devices' does
            out = fn(*(x.astype(wide) for x in xs), **kw)
            if isinstance(out, tuple):
                return tuple(back(o) for o in out)
            return back(out)
    return ref


def _slogdet(x):
    sign, logabs = np.linalg.slogdet(x)
    return sign, logabs


def _solve(a, b):
    """The standard's solve: b of shape (M,) is one vector (NumPy 2 agrees); otherwise stacks broadcast."""
    if b.ndim == 1:
        return np.linalg.solve(a, b[:, None])[..., 0] if a.ndim == 2 else np.linalg.solve(a, b)
    return np.linalg.solve(a, b)


LINALG = {
    "cholesky": _linalg_ref(lambda x, upper=False: np.linalg.cholesky(x, upper=upper)),
    "det": _linalg_ref(np.linalg.det),
    "slogdet": _linalg_ref(_slogdet),
    "solve": _linalg_ref(_solve),
    "inv": _linalg_ref(np.linalg.inv),
    "eigvalsh": _linalg_ref(np.linalg.eigvalsh),
    "svdvals": _linalg_ref(np.linalg.svdvals),
    "pinv": _linalg_ref(np.linalg.pinv),
}


# -- scans and array indexing (issue 8): dispatch/statistical.py, searching.py, indexing.py --------------------------

def cumulative(op, x, axis=None, dtype=None, include_initial=False):
    """cumulative_sum (op "cumsum") or cumulative_prod ("cumprod") with the Array API's arguments: the result dtype
    is ``dtype``, else optable.sum_dtype's (uint64 for unsigned integers, int64 for signed ones and bool, else x's); x is cast to it first, integers wrap in it, floats
    accumulate in float64 and round once, bool is a running or / and."""
    if axis is None:
        axis = 0
    result = np.dtype(dtype) if dtype is not None else np.dtype(optable.sum_dtype(x.dtype.name))
    a = x.astype(result)
    with np.errstate(all="ignore"):
        if result.kind == "b":
            out = (np.logical_and if op == "cumprod" else np.logical_or).accumulate(a, axis=axis)
        elif result.kind in "fc":  # complex accumulates in complex128
            wide = np.complex128 if result.kind == "c" else np.float64
            out = (np.cumprod if op == "cumprod" else np.cumsum)(a.astype(wide), axis=axis).astype(result)
        else:
            out = (np.cumprod if op == "cumprod" else np.cumsum)(a, axis=axis, dtype=result)
    if include_initial:
        shape = list(out.shape)
        shape[axis] = 1
        out = np.concatenate([np.full(shape, 1 if op == "cumprod" else 0, result), out], axis=axis)
    return out


def nonzero_stacked(x):
    """np.nonzero(x) as one (ndim, count) int64 array (what ``ts.stack(ts.nonzero(x))`` gives)."""
    return np.stack(np.nonzero(x)).astype(np.int64).reshape(x.ndim, -1)


def getitem(x, index):
    """NumPy's ``x[index]``, a copy."""
    return np.array(x[index])


def setitem(x, index, value):
    """A copy of ``x`` after NumPy's ``x[index] = value`` (value cast to x's dtype)."""
    out = x.copy()
    with np.errstate(all="ignore"):
        out[index] = value
    return out


# -- complex numbers: Note [Complex special values] -----------------------------------------------------------------
#
# Note [Complex special values]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# Complex inputs with random finite parts are checked against NumPy computed in complex128 and rounded (``_float_ref``),
# with the tolerance of Note [Complex tolerances] (samples/core.py).  The special values (samples/core.py
# ``complex_specials``: NaN, infinite, zero, tiny and huge parts, the branch cuts) are checked against
# :func:`complex_special`, which computes in the dtype itself: a special value's fate (an intermediate overflow,
# inf - inf in a product) belongs to the dtype's range, and rounding a complex128 answer would hide it.  What it
# computes:
#
# * the functions of C99 Annex G (exp, log, sqrt, sin, cos, tan, sinh, cosh, tanh, asin, acos, atan, asinh, acosh,
#   atanh, abs, angle): NumPy's, which are the C library's (glibc follows Annex G, and the Array API standard's complex
#   special cases are Annex G's); where Annex G leaves the sign of a part unspecified the C library's sign is taken;
# * arithmetic (add, subtract, multiply, divide, reciprocal, square, pow): the standard leaves complex arithmetic on
#   infinities and NaNs implementation-defined (it keeps no single complex infinity, as C99's recovery branches do), so
#   the reference is the formulas Note [Complex kernels] (kernels/ops_common.h) documents, evaluated by NumPy in the
#   dtype: the schoolbook product without fused multiply-adds (NumPy's SIMD loop fuses them, and so turns some of
#   the formula's NaNs back into infinities), Smith's division (``1 / z`` and ``z * z`` are those formulas too, where
#   NumPy's reciprocal and square use others), and pow as exp(w * log(z)), the standard's own definition, with
#   z ** 0 equal to 1, and 0 ** w equal to 0 where real(w) > 0 and NaN otherwise (NumPy 2's answers; exp(w * log(0))
#   is 0 there too, so 0 ** (2 + 1j) is 0);
# * where NumPy and the standard differ, the standard:
#     expm1   the standard's special cases are those of exp(z) - 1, and expm1(x + 0j) has the imaginary part 0 (with
#             its sign) for every x: NumPy's expm1(inf + 0j) is inf + NaN j, the standard's inf + 0j; and
#             expm1(huge + 0j) is inf + 0j, where e^x * sin(0) would be inf * 0 = NaN
#     log1p   log(1 + z) on special values, and for small z (both parts at most 0.5) log1p(x * (2 + x) + y**2) / 2 +
#             i * atan2(y, 1 + x), which keeps the digits of tiny z: NumPy's log1p is log|1 + z|, 0 for z = 1e-30
#     tanh    tanh(+-inf + yj) is +-1 + 0j with the zero's sign that of y, as the standard says (C99's is that of
#             sin(2y), which NumPy gives); tan z = -i tanh(iz) follows
#     sign    z / |z|, with |z| computed so that it cannot overflow (NumPy's sign(huge + huge j) is 1j, not
#             (1 + 1j) / sqrt(2)); a part that is infinite gives an implementation-defined answer (the standard
#             defers to complex division, whose infinite cases it leaves to the implementation), so those inputs are
#             left out of the special-value samples; NaN in either part gives NaN + NaN j, 0 gives 0

_COMPLEX_NATIVE = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "log2": np.log2, "log10": np.log10, "abs": np.abs, "angle": np.angle,
    "negative": np.negative, "positive": np.positive, "round": np.rint,
    "add": np.add, "subtract": np.subtract, "divide": np.divide,
}


def _complex_parts(real, imag, dtype):
    out = np.empty(np.broadcast(real, imag).shape, dtype)
    out.real, out.imag = real, imag
    return out


def complex_multiply(a, b):
    """The schoolbook product (a.real * b.real - a.imag * b.imag) + (a.real * b.imag + a.imag * b.real)j in the
    inputs' dtype, each product rounded (no fused multiply-add: NumPy's SIMD loop fuses, and so recovers some
    infinities that the formula turns into NaN)."""
    return _complex_parts(a.real * b.real - a.imag * b.imag, a.real * b.imag + a.imag * b.real,
                          np.result_type(a, b))


def _cpow(z, w):
    """exp(w * log(z)) in z's dtype, with z ** 0 = 1 and 0 ** w = 0 where real(w) > 0, NaN otherwise (NumPy 2's
    answers, and exp(w * log(0)) = exp(-inf * real(w) + ...) = 0 too)."""
    dt = z.dtype
    out = np.exp(complex_multiply(w, np.log(z)))
    zero_base = (z.real == 0) & (z.imag == 0)
    positive = w.real > 0
    out = np.where(zero_base, np.where(positive, dt.type(0), dt.type(complex(np.nan, np.nan))), out)
    return np.where((w.real == 0) & (w.imag == 0), dt.type(1), out).astype(dt)


def complex_expm1(z):
    """expm1 of complex ``z`` in its dtype: Note [Complex special values]."""
    dt = z.dtype
    x, y = z.real, z.imag
    s = np.sin(y / 2)
    formula = _complex_parts(np.expm1(x) * np.cos(y) - 2 * s * s, np.exp(x) * np.sin(y), dt)
    e = np.exp(z)
    special = _complex_parts(e.real - 1, e.imag, dt)
    out = np.where(np.isfinite(x) & np.isfinite(y), formula, special)
    real_axis = (y == 0) & ~np.isnan(x)
    out = np.where(real_axis, _complex_parts(np.expm1(x), y, dt), out)
    # the standard: expm1(+-0 + 0j) is +0 + 0j (exp(z) - 1), where the real axis's expm1(-0) would give -0
    return np.where((x == 0) & (y == 0), _complex_parts(np.zeros_like(x), y, dt), out).astype(dt)


def complex_log1p(z):
    """log1p of complex ``z`` in its dtype: Note [Complex special values]."""
    dt = z.dtype
    x, y = z.real, z.imag
    small = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 0.5) & (np.abs(y) <= 0.5)
    accurate = _complex_parts(0.5 * np.log1p(x * (2 + x) + y * y), np.arctan2(y, x + 1), dt)
    return np.where(small, accurate, np.log(_complex_parts(x + 1, y, dt))).astype(dt)


def complex_tanh(z):
    """tanh of complex ``z`` in its dtype: NumPy's, but 1 + 0j (the zero taking the sign of imag(z)) where real(z) is
    infinite (Note [Complex special values])."""
    out = np.tanh(z)
    x, y = z.real, z.imag
    return np.where(np.isinf(x), _complex_parts(np.copysign(1, x), np.copysign(0, y), z.dtype), out).astype(z.dtype)


def complex_tan(z):
    """tan z = -i tanh(iz), with :func:`complex_tanh`'s infinities."""
    w = complex_tanh(_complex_parts(-z.imag, z.real, z.dtype))
    return _complex_parts(w.imag, -w.real, z.dtype)


def _complex_sign(z):
    """z / |z| with |z| scaled so that it cannot overflow (NumPy's sign(huge + huge j) is 1j), computed in
    complex128 and rounded; 0 at 0, NaN + NaN j where a part is NaN."""
    dt = z.dtype
    w = z.astype(np.complex128)
    with np.errstate(all="ignore"):
        m = np.maximum(np.abs(w.real), np.abs(w.imag))
        re, im = w.real / m, w.imag / m
        h = np.hypot(re, im)  # part by part: a complex division would turn -0 parts into +0
        out = np.where(m == 0, 0, _complex_parts(re / h, im / h, np.complex128))
    return np.where(np.isnan(z.real) | np.isnan(z.imag), complex(np.nan, np.nan), out).astype(dt)


_COMPLEX_SPECIAL = {
    "square": lambda z: complex_multiply(z, z), "multiply": complex_multiply,
    "reciprocal": lambda z: np.divide(np.ones((), z.dtype), z),
    "pow": _cpow, "expm1": complex_expm1, "log1p": complex_log1p, "sign": _complex_sign, "tanh": complex_tanh,
    "tan": complex_tan,
}


def complex_special(op):
    """The reference of elementwise ``op`` on complex special values, computed in the inputs' dtype (Note [Complex
    special values]); ops with bool or real results (isnan, equal, real, ...) take their :data:`ELEMENTWISE`
    reference, which is exact for them."""
    fn = _COMPLEX_SPECIAL.get(op) or _COMPLEX_NATIVE.get(op)
    if fn is None:
        return ELEMENTWISE[op]

    def ref(*xs):
        with np.errstate(all="ignore"):
            return np.asarray(fn(*xs))
    return ref
