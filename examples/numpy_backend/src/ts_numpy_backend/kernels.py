"""The kernels of the ``numpy`` device, one NumPy function per op, and the dtypes each one claims (the neural-network
families, im2col to scatter_add, are in ``nn.py``).

Each kernel follows Note [Kernel contract] (tensorswitch/dispatch/registry.py): the dispatcher has already promoted,
broadcast and allocated, so a kernel views its tensors with :func:`as_array` and writes the answer into ``out`` (which
may be a strided view: in-place ops and setitem write through it).  NumPy's ufuncs take ``out=`` directly and handle
overlapping inputs and outputs themselves.

Elementwise ops come from one dict, ``ELEMENTWISE``: op name -> a NumPy function called as ``fn(*inputs, out=out)``.
Most entries are the NumPy ufunc of the same name; the few written out below are where NumPy's own semantics differ
from tensorswitch's op table (kernels/optable.py).  The dtypes each op claims are the table's, except:

Note [No float16 transcendentals]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
This example deliberately claims no float16 kernel for exp, log, sqrt, sin, cos, tanh, sigmoid, softmax and
log_softmax, although NumPy could compute them.  A plugin only claims what it has checked, and leaving these out shows
what a partial backend looks like: the conformance matrix marks the cells "not implemented", and calling one raises
``ts.KernelNotFoundError`` naming the op, the device and the dtype (and which dtypes do work).  Cast to float32 first.

Note [NumPy complex kernels]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
complex64 and complex128 are claimed for every op the op table gives them.  NumPy's complex functions (exp, log, sqrt,
the trigonometric and hyperbolic ones and their inverses, abs, angle) are the C library's, which is what the cpu
backend calls too (C99 Annex G special values).  Where NumPy's answer is not tensorswitch's (Note [Complex kernels] in
kernels/ops_common.h, Note [Complex special values] in tensorswitch/testing/reference.py) this file writes the formula
out: multiply and square are the schoolbook product without fused multiply-adds (NumPy's SIMD loop fuses), pow is
exp(w * log(z)) with z ** 0 = 1 and 0 ** w = 0 (real(w) > 0) or NaN, sign is z / |z| without overflow in |z|, expm1
and log1p keep the digits of small z and the standard's special values, reciprocal is Smith's division of 1 by z;
real, imag and conj give the parts, astype takes the real part (bool: either part nonzero), and sums, products and
scans accumulate in complex128.
"""

import math

import numpy as np

import tensorswitch as ts
from tensorswitch.kernels import optable

from . import nn, philox, sorting
from . import scans  # the scan family (issue 8)
from . import linalg  # the linalg family (issue 8)
from .backend import DTYPES, NumPyBackend, as_array

__all__ = ["ELEMENTWISE", "register_kernels"]

DEVICE = NumPyBackend.name

# see Note [No float16 transcendentals]
NO_FLOAT16 = frozenset({"exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "softmax", "log_softmax", "erf"})


# -- elementwise: where NumPy's function differs from the op table ---------------------------------------------------

def _keep_integers(fn):
    """floor and ceil are the identity on integers and keep the integer dtype (NumPy before 2.3 returned floats)."""
    def run(x, out):
        if x.dtype.kind in "fc":  # round of complex: both parts
            fn(x, out=out)
        else:
            np.copyto(out, x)
    return run


def _float_test(fn, value_for_non_floats):
    """isnan, isinf, isfinite: a constant for bool and integers (they have no NaN or infinity)."""
    def run(x, out):
        if x.dtype.kind in "fc":  # complex: either part
            fn(x, out=out)
        else:
            out[...] = value_for_non_floats
    return run


def _signed_zeros_as_float32(fn):
    """NumPy's float16 maximum and minimum pick the other zero of (-0.0, 0.0) than its float32/float64 loops (and
    the op table): compute float16 in float32, where the sign of a zero result matches every other device."""
    def run(*args, out):
        if out.dtype == np.float16:
            out[...] = fn(*[a.astype(np.float32) for a in args])
        else:
            fn(*args, out=out)
    return run


@_signed_zeros_as_float32
def _relu(x, out=None):
    return np.maximum(x, x.dtype.type(0), out=out)   # maximum keeps NaN, as the table's relu does


def _sigmoid(x, out):
    np.divide(1, 1 + np.exp(-x), out=out)      # exp(-x) = inf gives 0, not NaN


def _parts(real, imag, dtype):
    """The complex array with these parts (``real + 1j * imag`` would make NaN of inf * 1j)."""
    z = np.empty(np.broadcast(real, imag).shape, dtype)
    z.real, z.imag = real, imag
    return z


def _schoolbook(a, b):
    """a * b as (ac - bd) + (ad + bc)j, each product rounded: Note [NumPy complex kernels]."""
    return _parts(a.real * b.real - a.imag * b.imag, a.real * b.imag + a.imag * b.real, np.result_type(a, b))


def _multiply(a, b, out):
    if out.dtype.kind == "c":
        out[...] = _schoolbook(a, b)
    else:
        np.multiply(a, b, out=out)


def _square(x, out):
    if out.dtype.kind == "c":
        out[...] = _schoolbook(x, x)
    else:
        np.square(x, out=out)


def _reciprocal(x, out):
    if out.dtype.kind == "c":
        np.divide(np.ones((), x.dtype), x, out=out)  # NumPy's complex division is Smith's, as ops_common.h's
    else:
        np.reciprocal(x, out=out)


def _complex_pow(a, b):
    """exp(b * log(a)), with a ** 0 = 1, and 0 ** b = 0 where real(b) > 0, NaN otherwise (NumPy 2's answers)."""
    dt = a.dtype
    out = np.exp(_schoolbook(b, np.log(a)))
    zero = (a.real == 0) & (a.imag == 0)
    out = np.where(zero, np.where(b.real > 0, dt.type(0), dt.type(complex(np.nan, np.nan))), out)
    return np.where((b.real == 0) & (b.imag == 0), dt.type(1), out)


def _sign(x, out):
    """Complex: z / |z| with |z| of the scaled parts (no overflow for huge z), 0 at 0, NaN + NaN j for a NaN part,
    and for infinite parts the direction of the infinite ones (ts_csign)."""
    if out.dtype.kind != "c":
        np.sign(x, out=out)
        return
    re, im = x.real.astype(np.float64), x.imag.astype(np.float64)
    inf = np.isinf(re) | np.isinf(im)
    re = np.where(inf, np.where(np.isinf(re), np.copysign(1.0, re), 0.0), re)
    im = np.where(inf, np.where(np.isinf(im), np.copysign(1.0, im), 0.0), im)
    m = np.maximum(np.abs(re), np.abs(im))
    re, im = re / m, im / m
    h = np.hypot(re, im)
    z = _parts(re / h, im / h, np.complex128)
    z = np.where(m == 0, 0, z)
    out[...] = np.where(np.isnan(x.real) | np.isnan(x.imag), complex(np.nan, np.nan), z)


def _expm1(x, out):
    """Complex: expm1(a) cos(b) - 2 sin^2(b / 2) + i e^a sin(b) for finite z, exp(z) - 1 otherwise, and
    expm1(a) + bj on the real axis (ts_cexpm1; the standard's special values)."""
    if out.dtype.kind != "c":
        np.expm1(x, out=out)
        return
    a, b = x.real, x.imag
    s = np.sin(b / 2)
    formula = _parts(np.expm1(a) * np.cos(b) - 2 * s * s, np.exp(a) * np.sin(b), x.dtype)
    e = np.exp(x)
    z = np.where(np.isfinite(a) & np.isfinite(b), formula, _parts(e.real - 1, e.imag, x.dtype))
    z = np.where((b == 0) & ~np.isnan(a), _parts(np.expm1(a), b, x.dtype), z)
    out[...] = np.where((a == 0) & (b == 0), _parts(np.zeros_like(a), b, x.dtype), z)  # +0 for -0 + 0j too


def _log1p(x, out):
    """Complex: log1p(a (2 + a) + b^2) / 2 + i atan2(b, 1 + a) for small z (both parts at most 0.5), log(1 + z)
    elsewhere (ts_clog1p)."""
    if out.dtype.kind != "c":
        np.log1p(x, out=out)
        return
    a, b = x.real, x.imag
    small = np.isfinite(a) & np.isfinite(b) & (np.abs(a) <= 0.5) & (np.abs(b) <= 0.5)
    accurate = _parts(0.5 * np.log1p(a * (2 + a) + b * b), np.arctan2(b, a + 1), x.dtype)
    out[...] = np.where(small, accurate, np.log(_parts(a + 1, b, x.dtype)))


def _power(a, b, out):
    """Integer powers as ts_ipow in kernels/ops_common.h: NumPy refuses negative integer exponents, the table gives
    1 for a base of 1, +-1 for -1 (by the exponent's parity) and 0 otherwise.  Complex: :func:`_complex_pow`."""
    if a.dtype.kind == "c":
        out[...] = _complex_pow(a, b)
        return
    if a.dtype.kind != "i":
        np.power(a, b, out=out)
        return
    negative = b < 0
    special = None
    if negative.any():  # computed before ``out`` is written: ``out`` may be ``a`` (a **= b)
        special = np.where(a == 1, 1, np.where(a == -1, np.where(b & 1, -1, 1), 0))
    np.power(a, np.where(negative, 0, b), out=out)
    if special is not None:
        np.copyto(out, special, where=negative, casting="unsafe")


#: op name -> the NumPy function computing it, called as fn(*inputs, out=out)
def _erf(x, out):
    out[...] = np.vectorize(math.erf, otypes=[np.float64])(x)  # NumPy has no erf ufunc


# -- the elementwise functions of the Array API standard (issue 8): Note [Elementwise special cases] in
# tensorswitch/kernels/optable.py --------------------------------------------------------------------------------

def _floor_divide(a, b, out):
    """NumPy's floor_divide, except where exactly one float operand is infinite: there the standard's floor(a / b)
    (inf // 2 is inf, 1 // -inf is -0), as in the op table."""
    if a.dtype.kind != "f":
        np.floor_divide(a, b, out=out)
        return
    one_infinite = np.isinf(a) != np.isinf(b)  # before ``out`` is written: ``out`` may be ``a`` (a //= b)
    quotient = a / b
    np.floor_divide(a, b, out=out)
    np.copyto(out, quotient, where=one_infinite)


def _nextafter(a, b, out):
    """NumPy's nextafter, in the dtype itself (float16 steps in float16), but b where a == b, as C and the standard
    say (nextafter(-0.0, +0.0) is +0.0; NumPy's float16 loop returns a there)."""
    equal = a == b  # before ``out`` is written: ``out`` may be ``a``
    b = b.copy() if np.shares_memory(b, out) else b
    np.nextafter(a, b, out=out)
    np.copyto(out, b, where=equal)


def _real(x, out):
    """The real part: x itself for real dtypes."""
    np.copyto(out, np.real(x))


def _imag(x, out):
    """The imaginary part: zeros for real dtypes."""
    if x.dtype.kind == "c":
        np.copyto(out, x.imag)
    else:
        out[...] = 0


def _conj(x, out):
    """The conjugate: x itself for real dtypes."""
    if x.dtype.kind == "c":
        np.conjugate(x, out=out)
    else:
        np.copyto(out, x)


def _tanh(x, out):
    """Complex: NumPy's tanh, but +-1 + 0j where the real part is infinite, the zero taking the imaginary part's sign
    (the standard's special case; NumPy's C library gives the sign of sin(2b))."""
    if out.dtype.kind != "c":
        np.tanh(x, out=out)
        return
    a, b = x.real, x.imag
    out[...] = np.where(np.isinf(a), _parts(np.copysign(1, a), np.copysign(0, b), x.dtype), np.tanh(x))


def _tan(x, out):
    """tan z = -i tanh(iz) for complex z, so that it has _tanh's special cases (as the standard defines tan)."""
    if out.dtype.kind != "c":
        np.tan(x, out=out)
        return
    w = np.empty_like(out)
    _tanh(_parts(-x.imag, x.real, x.dtype), w)
    out[...] = _parts(w.imag, -w.real, x.dtype)


def _angle(x, out):
    """atan2(imag, real): 0 or pi for real x (NumPy's angle)."""
    np.copyto(out, np.arctan2(np.imag(x), np.real(x)), casting="unsafe")


_ARRAY_API = {
    "acos": np.arccos, "acosh": np.arccosh, "asin": np.arcsin, "asinh": np.arcsinh, "atan": np.arctan,
    "atanh": np.arctanh, "cosh": np.cosh, "sinh": np.sinh, "tan": _tan, "expm1": _expm1, "log1p": _log1p,
    "log2": np.log2, "log10": np.log10, "reciprocal": _reciprocal,
    "round": _keep_integers(np.rint),   # rint rounds halves to even, as the table's round
    "trunc": _keep_integers(np.trunc),
    "signbit": np.signbit, "bitwise_invert": np.invert, "real": _real, "imag": _imag, "conj": _conj,
    "angle": _angle,
    "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign, "logaddexp": np.logaddexp,
    "nextafter": _nextafter,
    "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
    "bitwise_left_shift": np.left_shift,    # counts outside [0, bits) shift every bit out, as in the table
    "bitwise_right_shift": np.right_shift,
}


ELEMENTWISE = {
    "erf": _erf,
    "negative": np.negative,
    "positive": np.positive,
    "abs": np.absolute,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "sign": _sign,
    "floor": _keep_integers(np.floor),
    "ceil": _keep_integers(np.ceil),
    "square": _square,
    "logical_not": np.logical_not,
    "isnan": _float_test(np.isnan, False),
    "isinf": _float_test(np.isinf, False),
    "isfinite": _float_test(np.isfinite, True),
    "add": np.add,
    "subtract": np.subtract,
    "multiply": _multiply,
    "divide": np.divide,
    "floor_divide": _floor_divide,     # integer x // 0 is 0 in NumPy too (with a warning, silenced below)
    "remainder": np.remainder,         # integer x % 0 is 0; floats follow npy_divmod, as ops_common.h does
    "pow": _power,
    "maximum": _signed_zeros_as_float32(np.maximum),   # NumPy's maximum and minimum propagate NaN, as the table's
    "minimum": _signed_zeros_as_float32(np.minimum),   # do
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    **_ARRAY_API,
}


def _elementwise(name, fn):
    def kernel(out, *inputs):
        with np.errstate(all="ignore"):   # overflow wraps and x / 0 is inf or 0, silently, as on every device
            fn(*[as_array(x) for x in inputs], out=as_array(out))
    kernel.__qualname__ = f"numpy_{name}"
    return kernel


# -- where, astype, fill, arange ---------------------------------------------------------------------------------------

def where(out, cond, a, b):
    np.copyto(as_array(out), np.where(as_array(cond), as_array(a), as_array(b)))


def astype(out, x):
    """NumPy's C cast, like ndarray.astype, which is Note [Float to integer casts] (tensorswitch/dispatch/dtypes.py)
    but for float to uint32: that goes through int64, as NumPy's scalar loop does (its SIMD loop answers otherwise
    for values outside [-2**31, 2**32), depending on the array's length)."""
    src = as_array(x)
    if src.dtype.kind == "c" and out.dtype.kind != "complex":  # the real part; bool: either part nonzero
        src = (src.real != 0) | (src.imag != 0) if out.dtype.kind == "bool" else src.real
    with np.errstate(all="ignore"):   # float -> int out of range
        if src.dtype.kind == "f" and out.dtype.numpy == np.uint32:
            src = src.astype(np.int64)
        np.copyto(as_array(out), src, casting="unsafe")


def fill(out, value):
    """``value`` is a Python scalar that fits the dtype: bool, an int in the dtype's range, float, or complex for a
    complex dtype (the dispatcher checks the range before any kernel runs)."""
    kind = out.dtype.kind
    if kind == "complex":
        scalar = complex(value)
    elif kind == "float":
        scalar = float(value)
    elif kind == "bool":
        scalar = bool(value)
    else:
        scalar = np.array(int(value) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64).astype(out.dtype.numpy)
    with np.errstate(all="ignore"):   # 1e10 into float16 is inf, silently
        as_array(out)[...] = scalar


def arange(out, start, step):
    """out[i] = start + i * step, in float64, uint64 (unsigned dtypes: it wraps, and holds uint64's range) or int64,
    then cast (out is 1-D and contiguous)."""
    i = np.arange(out.shape[0], dtype=np.int64)
    if out.dtype.kind == "float":
        values = float(start) + i * float(step)
    elif out.dtype.kind == "uint":
        mask = 0xFFFFFFFFFFFFFFFF
        values = np.uint64(int(start) & mask) + i.astype(np.uint64) * np.uint64(int(step) & mask)
    else:
        values = int(start) + i * int(step)
    with np.errstate(all="ignore"):
        np.copyto(as_array(out), values, casting="unsafe")


# -- random: Note [Random numbers] ---------------------------------------------------------------------------------

def rand(out, seed, offset):
    as_array(out)[...] = philox.uniform(out.dtype.numpy, out.size, seed, offset).reshape(out.shape)


def randn(out, seed, offset):
    as_array(out)[...] = philox.normal(out.dtype.numpy, out.size, seed, offset).reshape(out.shape)


def randint(out, seed, offset, low, high):
    as_array(out)[...] = philox.integers(out.dtype.numpy, out.size, seed, offset, low, high).reshape(out.shape)


# -- reductions: axes is a sorted non-empty tuple, out is x.shape without them ----------------------------------

def _sum_like(fn):
    """sum and prod: unsigned integers accumulate in uint64, signed ones and bool in int64 (the result dtype,
    optable.sum_dtype); floats in float64 and complex numbers in complex128, then round."""
    def kernel(out, x, axes):
        with np.errstate(all="ignore"):
            if x.dtype.kind in ("float", "complex"):
                wide = np.complex128 if x.dtype.kind == "complex" else np.float64
                np.copyto(as_array(out), fn(as_array(x), axis=axes, dtype=wide), casting="unsafe")
            else:
                fn(as_array(x), axis=axes, dtype=out.dtype.numpy, out=as_array(out))
    return kernel


def _reduce_into(fn):
    """max and min (NaN wins, as in the table; out has x's dtype), all and any (out is bool)."""
    def kernel(out, x, axes):
        fn(as_array(x), axis=axes, out=as_array(out))
    return kernel


def _arg(fn):
    """argmax, argmin: the first index; over several axes, the flat index in C order of the reduced axes, so move
    them last and merge them into one."""
    def kernel(out, x, axes):
        a = as_array(x)
        if len(axes) > 1:
            keep = [i for i in range(a.ndim) if i not in axes]
            a = a.transpose(keep + list(axes)).reshape([a.shape[i] for i in keep] + [-1])
            axis = -1
        else:
            axis = axes[0]
        np.copyto(as_array(out), fn(a, axis=axis), casting="unsafe")
    return kernel


REDUCTIONS = {"sum": _sum_like(np.sum), "prod": _sum_like(np.prod), "max": _reduce_into(np.max),
              "min": _reduce_into(np.min), "argmax": _arg(np.argmax), "argmin": _arg(np.argmin),
              "all": _reduce_into(np.all), "any": _reduce_into(np.any)}


# -- matmul and softmax ------------------------------------------------------------------------------------------

def matmul(out, a, b):
    """a (*B, M, K) @ b (*B, K, N), batch dims already broadcast (stride 0).  NumPy's matmul takes any strides; it
    accumulates float16 in float32 and wraps integers, as a C loop does."""
    np.matmul(as_array(a), as_array(b), out=as_array(out))


def _softmax(log):
    def kernel(out, x, axis):
        a = as_array(x)
        with np.errstate(all="ignore"):
            # PyTorch's answer: a row whose max is +inf, that holds a NaN or that is all -inf is NaN throughout
            # (x - max is NaN there), which subtracting the max as it is gives
            m = np.max(a, axis=axis, keepdims=True)
            shifted = a - m
            e = np.exp(shifted)
            s = np.sum(e, axis=axis, keepdims=True)
            if log:
                np.subtract(shifted, np.log(s), out=as_array(out))
            else:
                np.divide(e, s, out=as_array(out))
    kernel.__qualname__ = "numpy_log_softmax" if log else "numpy_softmax"
    return kernel


# -- registration -----------------------------------------------------------------------------------------------

def _claim(op, dtypes):
    """The dtypes ``op`` registers: ``dtypes`` that the device holds, less float16 where Note [No float16
    transcendentals] says so."""
    names = {d.name for d in DTYPES}
    return [d for d in dtypes if d in names and not (d == "float16" and op in NO_FLOAT16)]


def register_kernels():
    """Register every kernel of this module for the ``numpy`` device (``ts.register_kernel``, override=False).

    Elementwise ops and reductions claim the dtypes the op table lists for them, so an op added to the table but not
    to ``ELEMENTWISE`` is simply not claimed here: the conformance matrix shows it as not implemented.
    """
    for name, op in optable.ELEMENTWISE.items():
        fn = ELEMENTWISE.get(name)
        if fn is not None:
            ts.register_kernel(name, DEVICE, _claim(name, op.dtypes), _elementwise(name, fn))
    for name, red in optable.REDUCTIONS.items():
        if name in REDUCTIONS:
            ts.register_kernel(name, DEVICE, _claim(name, red.dtypes), REDUCTIONS[name])
    for name, fn in (("where", where), ("astype", astype), ("fill", fill)):
        ts.register_kernel(name, DEVICE, _claim(name, optable.COVERAGE[name]), fn)
    ts.register_kernel("arange", DEVICE, _claim("arange", optable.NUMERIC), arange)
    ts.register_kernel("rand", DEVICE, _claim("rand", optable.FLOAT), rand)
    ts.register_kernel("randn", DEVICE, _claim("randn", optable.FLOAT), randn)
    ts.register_kernel("randint", DEVICE, _claim("randint", optable.INTEGER), randint)
    ts.register_kernel("matmul", DEVICE, _claim("matmul", optable.COVERAGE["matmul"]), matmul)
    ts.register_kernel("softmax", DEVICE, _claim("softmax", optable.FLOAT), _softmax(log=False))
    ts.register_kernel("log_softmax", DEVICE, _claim("log_softmax", optable.FLOAT), _softmax(log=True))
    nn.register_kernels(DEVICE)  # im2col, pooling, take_along_axis, scatter_add: nn.py
    sorting.register_kernels(DEVICE)  # sort, argsort, searchsorted: sorting.py (issue 8)
    scans.register_kernels(DEVICE)  # cumsum, cumprod, nonzero, gather, put: scans.py (issue 8)
    linalg.register_kernels(DEVICE)  # cholesky, lu, lu_solve, qr, eigh, svd: linalg.py (issue 8)
