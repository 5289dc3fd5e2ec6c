"""The op table: every elementwise op, defined once for every backend.

Each entry gives the op's arity, the dtypes it has kernels for, its result dtype and a C expression over the inputs
``a`` (and ``b``).  A C expression such as ``a + b`` or ``exp(a)`` is valid C++, CUDA C and OpenCL C alike, so
``kernels/codegen.py`` turns one line of this table into the C++ kernel (at build time) and the OpenCL and CUDA kernels
(at run time).  Expressions see the *compute* type of the dtype (float16 computes in float) and may call the helpers of
``kernels/ops_common.h``, whose names end in the dtype name; ``{T}`` in an expression stands for that name.

Adding an elementwise op: one line here (a helper in ``kernels/ops_common.h`` where one C expression is not enough),
its NumPy reference in ``tensorswitch/testing/reference.py`` (``ELEMENTWISE``; the conformance samples then cover it
on every backend; special values of its own go in ``tensorswitch/testing/samples/elementwise.py``), its one-line
summary in ``dispatch/functions.py`` (``_SUMMARIES``, for ``help(ts.<name>)``), its kernel in the NumPy plugin
(``examples/numpy_backend/src/ts_numpy_backend/kernels.py``) and, if it is differentiable, its derivative in
``dispatch/derivatives.py`` with a case in ``tensorswitch/testing/gradients.py``.  ``ts.<name>`` itself is made from
this table.

This module imports nothing from the package: the C++ build runs it as a plain script.
"""

# The order is the dtype codes (dispatch/dtypes.py): uint16, uint32 and uint64 came later and were appended, then
# complex64 and complex128.
DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64",
               "uint16", "uint32", "uint64", "complex64", "complex128")

# dtype categories an expression can be specialised for
KIND = {
    "bool": "bool",
    "int8": "int", "int16": "int", "int32": "int", "int64": "int",
    "uint8": "uint", "uint16": "uint", "uint32": "uint", "uint64": "uint",
    "float16": "float", "float32": "float", "float64": "float",
    "complex64": "complex", "complex128": "complex",
}

# The dtype groups.  ALL and NUMERIC are the *real* dtypes (every op that orders its values stops there); ops that
# take complex numbers add COMPLEX to their line, so that each claim of a complex kernel is written where it is made.
COMPLEX = ("complex64", "complex128")
ALL = tuple(d for d in DTYPE_NAMES if d not in COMPLEX)
NUMERIC = tuple(d for d in ALL if d != "bool")
INTEGER = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
FLOAT = ("float16", "float32", "float64")
INEXACT = FLOAT + COMPLEX  # the standard's "floating-point" functions: exp, log, sqrt, ...
#: the real dtype of a complex dtype's parts
REAL_PART = {"complex64": "float32", "complex128": "float64"}


class Elementwise:
    """One elementwise op.

    name:     the public name (``ts.<name>``) and the registry key
    arity:    1 or 2
    dtypes:   input dtypes (after promotion) that get a kernel on every built-in backend
    result:   "same" (the input dtype), "bool", or "real" (the input dtype, and for complex inputs the dtype of their
              parts: abs, real, imag, angle)
    expr:     a C expression, or a dict from dtype kind ("bool", "int", "uint", "float", "complex") to one; a dtype
              name as a key overrides its kind for that dtype (nextafter of float16).  Complex expressions call the
              ``ts_c*_{T}`` helpers of kernels/ops_common.h (Note [Complex kernels]): C's operators mean something
              else on OpenCL's float2
    to_float: integer and bool inputs are first cast to the default float dtype (exp, divide, ...)
    """

    __slots__ = ("name", "arity", "dtypes", "result", "expr", "to_float")

    def __init__(self, name, arity, dtypes, expr, result="same", to_float=False):
        self.name, self.arity, self.dtypes, self.result = name, arity, tuple(dtypes), result
        self.expr, self.to_float = expr, to_float

    def expression(self, dtype):
        """The C expression for inputs of ``dtype`` (a dtype name)."""
        e = self.expr if isinstance(self.expr, str) else self.expr.get(dtype) or self.expr[KIND[dtype]]
        return e.replace("{T}", dtype)

    def result_dtype(self, dtype):
        if self.result == "real":
            return REAL_PART.get(dtype, dtype)
        return "bool" if self.result == "bool" else dtype


def _unary(name, dtypes, expr, **kw):
    return Elementwise(name, 1, dtypes, expr, **kw)


def _binary(name, dtypes, expr, **kw):
    return Elementwise(name, 2, dtypes, expr, **kw)


BITWISE = ("bool",) + INTEGER  # the standard's bitwise and, or, xor and invert (shifts take integers only)

_float_nan_max = "((a > b || a != a) ? a : b)"
_float_nan_min = "((a < b || a != a) ? a : b)"

# Note [Elementwise special cases]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# The Array API standard (2024.12) lists special cases for most functions; C99's math library (which C++, CUDA and
# OpenCL C follow) gives most of them, NumPy is the oracle where the standard is silent.  The expressions below
# choose where those differ or C's answer is undefined:
#   floor_divide  floor(a / b) where exactly one operand is infinite, as the standard prefers: inf // 2 = inf and
#                 1 // -inf = -0 (NumPy and Python give NaN and -1); npy_divmod otherwise (ops_common.h)
#   remainder     npy_divmod, which is every special case of the standard
#   sign          0 for -0 and +0 (the standard's +0), NaN for NaN
#   round         half to even: C's rint (OpenCL C's round rounds halves away from zero)
#   signbit       the sign bit: -0 and -NaN are True; integers are True below 0 (as NumPy), bool never
#   nextafter     float16 steps by a float16 spacing, not the float it computes in (TS_HALF_HELPERS); float32 on
#                 CUDA steps the bits (TS_NEXTAFTER_FLOAT), since CuPy's -ftz=true flushes libdevice's subnormals,
#                 and float32 and float64 on cpu too, with selects that vectorise (kernels/ops_common.h)
#   shifts        NumPy's: a count below 0 or at least the width shifts every bit out (0, or -1 for a negative
#                 number shifted right); the standard leaves negative counts undefined
#   pow           integers with a negative exponent give 0, except bases 1 (1) and -1 (+-1 by the exponent's parity):
#                 C's truncated 1 / a**-b.  The standard leaves it unspecified and NumPy raises, which would need a
#                 look at the data (a device round trip) on every call
#   maximum, minimum  NaN wins; which zero of (-0, +0) is unspecified
#   real, conj, imag  real dtypes: copies of x, and zeros (complex dtypes will add a "complex" expression and a
#                 result dtype of the real part)

_and, _or, _xor = "((a != 0) && (b != 0))", "((a != 0) || (b != 0))", "((a != 0) != (b != 0))"

ELEMENTWISE = {op.name: op for op in (
    # unary
    _unary("negative", NUMERIC + COMPLEX, {"bool": "-a", "int": "-a", "uint": "-a", "float": "-a",
                                         "complex": "ts_cneg_{T}(a)"}),
    _unary("positive", NUMERIC + COMPLEX, "a"),
    _unary("abs", NUMERIC + COMPLEX, {"int": "(a < 0 ? -a : a)", "uint": "a", "float": "fabs(a)",
                                    "complex": "ts_cabs_{T}(a)"}, result="real"),
    _unary("exp", INEXACT, {"float": "exp(a)", "complex": "ts_cexp_{T}(a)"}, to_float=True),
    _unary("log", INEXACT, {"float": "log(a)", "complex": "ts_clog_{T}(a)"}, to_float=True),
    _unary("sqrt", INEXACT, {"float": "sqrt(a)", "complex": "ts_csqrt_{T}(a)"}, to_float=True),
    _unary("sin", INEXACT, {"float": "sin(a)", "complex": "ts_csin_{T}(a)"}, to_float=True),
    _unary("cos", INEXACT, {"float": "cos(a)", "complex": "ts_ccos_{T}(a)"}, to_float=True),
    _unary("tanh", INEXACT, {"float": "tanh(a)", "complex": "ts_ctanh_{T}(a)"}, to_float=True),
    _unary("erf", FLOAT, "erf(a)", to_float=True),
    _unary("sigmoid", FLOAT, "(1 / (1 + exp(-a)))", to_float=True),
    _unary("relu", NUMERIC, {"int": "(a > 0 ? a : 0)", "uint": "a", "float": "((a > 0 || a != a) ? a : 0)"}),
    _unary("sign", NUMERIC + COMPLEX, {"int": "((a > 0) - (a < 0))", "uint": "(a > 0)",
                                       "float": "(a != a ? a : (a > 0) - (a < 0))", "complex": "ts_csign_{T}(a)"}),
    _unary("floor", NUMERIC, {"int": "a", "uint": "a", "float": "floor(a)"}),
    _unary("ceil", NUMERIC, {"int": "a", "uint": "a", "float": "ceil(a)"}),
    _unary("square", NUMERIC + COMPLEX, {"int": "(a * a)", "uint": "(a * a)", "float": "(a * a)",
                                       "complex": "ts_cmul_{T}(a, a)"}),
    _unary("logical_not", ALL + COMPLEX, {"bool": "(a == 0)", "int": "(a == 0)", "uint": "(a == 0)", "float": "(a == 0)",
                                         "complex": "(!ts_cnonzero_{T}(a))"}, result="bool"),
    _unary("isnan", ALL + COMPLEX, {"bool": "0", "int": "0", "uint": "0", "float": "isnan(a)",
                                   "complex": "ts_cisnan_{T}(a)"}, result="bool"),
    _unary("isinf", ALL + COMPLEX, {"bool": "0", "int": "0", "uint": "0", "float": "isinf(a)",
                                   "complex": "ts_cisinf_{T}(a)"}, result="bool"),
    _unary("isfinite", ALL + COMPLEX, {"bool": "1", "int": "1", "uint": "1", "float": "isfinite(a)",
                                      "complex": "ts_cisfinite_{T}(a)"}, result="bool"),
    # unary, the rest of the Array API standard (Note [Elementwise special cases])
    _unary("acos", INEXACT, {"float": "acos(a)", "complex": "ts_cacos_{T}(a)"}, to_float=True),
    _unary("acosh", INEXACT, {"float": "acosh(a)", "complex": "ts_cacosh_{T}(a)"}, to_float=True),
    _unary("asin", INEXACT, {"float": "asin(a)", "complex": "ts_casin_{T}(a)"}, to_float=True),
    _unary("asinh", INEXACT, {"float": "asinh(a)", "complex": "ts_casinh_{T}(a)"}, to_float=True),
    _unary("atan", INEXACT, {"float": "atan(a)", "complex": "ts_catan_{T}(a)"}, to_float=True),
    _unary("atanh", INEXACT, {"float": "atanh(a)", "complex": "ts_catanh_{T}(a)"}, to_float=True),
    _unary("cosh", INEXACT, {"float": "cosh(a)", "complex": "ts_ccosh_{T}(a)"}, to_float=True),
    _unary("sinh", INEXACT, {"float": "sinh(a)", "complex": "ts_csinh_{T}(a)"}, to_float=True),
    _unary("tan", INEXACT, {"float": "tan(a)", "complex": "ts_ctan_{T}(a)"}, to_float=True),
    _unary("expm1", INEXACT, {"float": "expm1(a)", "complex": "ts_cexpm1_{T}(a)"}, to_float=True),
    _unary("log1p", INEXACT, {"float": "log1p(a)", "complex": "ts_clog1p_{T}(a)"}, to_float=True),
    _unary("log2", INEXACT, {"float": "log2(a)", "complex": "ts_clog2_{T}(a)"}, to_float=True),
    _unary("log10", INEXACT, {"float": "log10(a)", "complex": "ts_clog10_{T}(a)"}, to_float=True),
    _unary("reciprocal", INEXACT, {"float": "(1 / a)", "complex": "ts_creciprocal_{T}(a)"}, to_float=True),
    _unary("round", NUMERIC + COMPLEX, {"int": "a", "uint": "a", "float": "rint(a)", "complex": "ts_cround_{T}(a)"}),
    _unary("trunc", NUMERIC, {"int": "a", "uint": "a", "float": "trunc(a)"}),
    _unary("signbit", ALL, {"bool": "0", "int": "(a < 0)", "uint": "0", "float": "signbit(a)"}, result="bool"),
    _unary("bitwise_invert", BITWISE, {"bool": "(a == 0)", "int": "(~a)", "uint": "(~a)"}),
    _unary("real", ALL + COMPLEX, {"bool": "a", "int": "a", "uint": "a", "float": "a", "complex": "ts_creal_{T}(a)"},
           result="real"),
    _unary("imag", ALL + COMPLEX, {"bool": "0", "int": "0", "uint": "0", "float": "0", "complex": "ts_cimag_{T}(a)"},
           result="real"),
    _unary("conj", ALL + COMPLEX, {"bool": "a", "int": "a", "uint": "a", "float": "a", "complex": "ts_cconj_{T}(a)"}),
    _unary("angle", INEXACT, {"float": "ts_angle_{T}(a)", "complex": "ts_cangle_{T}(a)"}, result="real",
           to_float=True),
    # binary
    _binary("add", NUMERIC + COMPLEX, {"int": "(a + b)", "uint": "(a + b)", "float": "(a + b)",
                                      "complex": "ts_cadd_{T}(a, b)"}),
    _binary("subtract", NUMERIC + COMPLEX, {"int": "(a - b)", "uint": "(a - b)", "float": "(a - b)",
                                           "complex": "ts_csub_{T}(a, b)"}),
    _binary("multiply", NUMERIC + COMPLEX, {"int": "(a * b)", "uint": "(a * b)", "float": "(a * b)",
                                           "complex": "ts_cmul_{T}(a, b)"}),
    _binary("divide", INEXACT, {"float": "(a / b)", "complex": "ts_cdiv_{T}(a, b)"}, to_float=True),
    _binary("floor_divide", NUMERIC, "ts_floor_divide_{T}(a, b)"),
    _binary("remainder", NUMERIC, "ts_remainder_{T}(a, b)"),
    _binary("pow", NUMERIC + COMPLEX, {"int": "ts_ipow_{T}(a, b)", "uint": "ts_ipow_{T}(a, b)", "float": "pow(a, b)",
                                      "complex": "ts_cpow_{T}(a, b)"}),
    _binary("maximum", NUMERIC, {"int": "(a > b ? a : b)", "uint": "(a > b ? a : b)", "float": _float_nan_max}),
    _binary("minimum", NUMERIC, {"int": "(a < b ? a : b)", "uint": "(a < b ? a : b)", "float": _float_nan_min}),
    _binary("equal", ALL + COMPLEX, {"bool": "(a == b)", "int": "(a == b)", "uint": "(a == b)", "float": "(a == b)",
                                     "complex": "ts_ceq_{T}(a, b)"}, result="bool"),
    _binary("not_equal", ALL + COMPLEX, {"bool": "(a != b)", "int": "(a != b)", "uint": "(a != b)", "float": "(a != b)",
                                         "complex": "(!ts_ceq_{T}(a, b))"}, result="bool"),
    _binary("less", ALL, "(a < b)", result="bool"),
    _binary("less_equal", ALL, "(a <= b)", result="bool"),
    _binary("greater", ALL, "(a > b)", result="bool"),
    _binary("greater_equal", ALL, "(a >= b)", result="bool"),
    _binary("logical_and", ALL + COMPLEX, {"bool": _and, "int": _and, "uint": _and, "float": _and,
                                           "complex": "(ts_cnonzero_{T}(a) && ts_cnonzero_{T}(b))"}, result="bool"),
    _binary("logical_or", ALL + COMPLEX, {"bool": _or, "int": _or, "uint": _or, "float": _or,
                                          "complex": "(ts_cnonzero_{T}(a) || ts_cnonzero_{T}(b))"}, result="bool"),
    # binary, the rest of the Array API standard (Note [Elementwise special cases])
    _binary("atan2", FLOAT, "atan2(a, b)", to_float=True),
    _binary("hypot", FLOAT, "hypot(a, b)", to_float=True),
    _binary("copysign", FLOAT, "copysign(a, b)", to_float=True),
    _binary("logaddexp", FLOAT, "ts_logaddexp_{T}(a, b)", to_float=True),
    _binary("nextafter", FLOAT, {"float16": "ts_nextafter_half(a, b)", "float32": "TS_NEXTAFTER_FLOAT(a, b)",
                                 "float64": "TS_NEXTAFTER_DOUBLE(a, b)"}, to_float=True),
    _binary("logical_xor", ALL + COMPLEX, {"bool": _xor, "int": _xor, "uint": _xor, "float": _xor,
                                           "complex": "(ts_cnonzero_{T}(a) != ts_cnonzero_{T}(b))"}, result="bool"),
    _binary("bitwise_and", BITWISE, "(a & b)"),
    _binary("bitwise_or", BITWISE, "(a | b)"),
    _binary("bitwise_xor", BITWISE, "(a ^ b)"),
    _binary("bitwise_left_shift", INTEGER, "ts_left_shift_{T}(a, b)"),
    _binary("bitwise_right_shift", INTEGER, "ts_right_shift_{T}(a, b)"),
)}


class Reduction:
    """One reduction: ``init`` is the identity (None: the op has none and refuses empty input), ``combine`` folds
    ``v`` into the accumulator ``acc``; ``result`` is "same", "bool", "index" (int64) or "sum" (Array API sum/prod:
    signed integers and bool widen to int64, unsigned integers to uint64, the default integer dtypes of their kind:
    ``sum_dtype``)."""

    __slots__ = ("name", "dtypes", "init", "combine", "result")

    def __init__(self, name, dtypes, init, combine, result):
        self.name, self.dtypes, self.init, self.combine, self.result = name, tuple(dtypes), init, combine, result


def sum_dtype(dtype):
    """The dtype sum, prod and the cumulative ones give for input ``dtype`` (a name) when none is asked for: the
    standard's rule (floats keep theirs, unsigned integers widen to uint64, signed integers and bool to int64)."""
    kind = KIND[dtype]
    return dtype if kind in ("float", "complex") else ("uint64" if kind == "uint" else "int64")


REDUCTIONS = {r.name: r for r in (
    Reduction("sum", NUMERIC + ("bool",) + COMPLEX, "0", "acc + v", "sum"),
    Reduction("prod", NUMERIC + ("bool",) + COMPLEX, "1", "acc * v", "sum"),
    Reduction("max", NUMERIC, None, "((v > acc || v != v) && acc == acc) ? v : acc", "same"),
    Reduction("min", NUMERIC, None, "((v < acc || v != v) && acc == acc) ? v : acc", "same"),
    Reduction("argmax", NUMERIC, None, "", "index"),
    Reduction("argmin", NUMERIC, None, "", "index"),
    Reduction("all", ALL + COMPLEX, "1", "acc && (v != 0)", "bool"),
    Reduction("any", ALL + COMPLEX, "0", "acc || (v != 0)", "bool"),
)}


#: The dtypes the built-in backends have kernels for, per op: one claim that the backends' ``register()`` and the
#: table tests read (less what COVERAGE_GAPS lists for one backend: ``coverage(op, device_type)``).  Elementwise ops
#: and reductions claim what their table line says.
COVERAGE = {
    "where": ALL + COMPLEX, "astype": ALL + COMPLEX, "fill": ALL + COMPLEX, "arange": NUMERIC, "rand": FLOAT,
    "randn": FLOAT, "randint": INTEGER, "matmul": NUMERIC + COMPLEX, "softmax": FLOAT, "log_softmax": FLOAT,
    # the nn kernel families (Note [Kernel contract] in dispatch/registry.py)
    "im2col": FLOAT, "col2im": FLOAT, "max_pool2d": FLOAT, "max_pool2d_backward": FLOAT, "avg_pool2d": FLOAT,
    "avg_pool2d_backward": FLOAT, "take_along_axis": ALL + COMPLEX, "scatter_add": NUMERIC,
    # -- sorting (issue 8): Note [Sort order] in kernels/cpu/sort.cpp
    "sort": ALL, "argsort": ALL, "searchsorted": ALL,
    **{name: op.dtypes for name, op in ELEMENTWISE.items()},
    **{name: r.dtypes for name, r in REDUCTIONS.items()},
}
# -- scans and array indexing (issue 8): Note [Kernel contract] rows cumsum to put ---------------------------------
COVERAGE.update({"cumsum": ALL + COMPLEX, "cumprod": ALL + COMPLEX, "nonzero": ALL + COMPLEX, "gather": ALL + COMPLEX,
                 "put": ALL + COMPLEX})
# -- linalg (issue 8): LAPACK-style factorizations (Note [Kernel contract]), float32 and float64, and complex64 and
# complex128 on cpu (LAPACK's c and z routines), cuda (cuSOLVER) and opencl (but its eigh and svd: COVERAGE_GAPS)
LINALG = ("cholesky", "lu", "lu_solve", "qr", "eigh", "svd")
COVERAGE.update({name: ("float32", "float64") + COMPLEX for name in LINALG})
#: {device type: {op: the dtypes of COVERAGE[op] that built-in backend leaves out}}: those raise the not-implemented
#: error there (naming op, device and dtype) and run with ts.set_fallback(device, "cpu").  opencl factors complex
#: matrices (lu, lu_solve, cholesky, qr: Note [OpenCL complex factorizations] in kernels/opencl/linalg.cl), but its
#: eigh and svd are real Jacobi kernels (Note [OpenCL Jacobi]): no complex eigh, eigvalsh, svd, svdvals, pinv,
#: matrix_rank or 2-, -2- and nuclear matrix norms there.
COVERAGE_GAPS = {"opencl": {name: COMPLEX for name in ("eigh", "svd")}}
# -- fused ops (Note [Kernel contract], "Fused ops"): one kernel where the composition takes several, optional for a
# backend, which without one runs the composition.  cross_entropy's common case, forward and backward (Note [Fused
# cross entropy] in kernels/cpu/module.cpp; log_softmax, take_along_axis and sum composed, scatter_add backward):
# every built-in backend (opencl and cuda in their softmax programs).  linear, x @ w.T + b as PyTorch's addmm:
# cpu only; opencl and cuda compose it (matmul, then the bias added in place), a gap.
FUSED = ("nll_log_softmax", "nll_log_softmax_backward", "linear")
COVERAGE.update({name: FLOAT for name in FUSED})
for _device in ("opencl", "cuda"):
    COVERAGE_GAPS.setdefault(_device, {})["linear"] = FLOAT


def coverage(op, device_type):
    """The dtypes built-in backend ``device_type`` registers ``op`` for: COVERAGE[op] less its COVERAGE_GAPS.

    >>> coverage("eigh", "opencl"), coverage("eigh", "cpu")[2:]
    (('float32', 'float64'), ('complex64', 'complex128'))
    """
    gaps = COVERAGE_GAPS.get(device_type, {}).get(op, ())
    return tuple(d for d in COVERAGE[op] if d not in gaps)

