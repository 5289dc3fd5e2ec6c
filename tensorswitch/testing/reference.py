"""NumPy references: what every (op, dtype) must compute, written once for the tests and the conformance suite.

Each reference takes NumPy inputs of the op's key dtype and returns the exact expected result *and dtype*, following
tensorswitch's semantics (kernels/optable.py, Note [Type promotion]).  Floating results are computed in float64 and
rounded to the result dtype, so the reference is at least as accurate as any backend.
"""

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
