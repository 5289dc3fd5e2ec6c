"""The op table: every elementwise op, defined once for every backend.

Each entry gives the op's arity, the dtypes it has kernels for, its result dtype and a C expression over the inputs
``a`` (and ``b``).  A C expression such as ``a + b`` or ``exp(a)`` is valid C++, CUDA C and OpenCL C alike, so
``kernels/codegen.py`` turns one line of this table into the C++ kernel (at build time) and the OpenCL and CUDA kernels
(at run time).  Expressions see the *compute* type of the dtype (float16 computes in float) and may call the helpers of
``kernels/ops_common.h``, whose names end in the dtype name; ``{T}`` in an expression stands for that name.

Adding an elementwise op: one line here, its NumPy reference in ``tensorswitch/testing/reference.py``
(``ELEMENTWISE``; the conformance samples then cover it on every backend) and its one-line summary in
``dispatch/functions.py`` (``_SUMMARIES``, for ``help(ts.<name>)``).  ``ts.<name>`` itself is made from this table.

This module imports nothing from the package: the C++ build runs it as a plain script.
"""

DTYPE_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")

# dtype categories an expression can be specialised for
KIND = {
    "bool": "bool",
    "int8": "int", "int16": "int", "int32": "int", "int64": "int",
    "uint8": "uint",
    "float16": "float", "float32": "float", "float64": "float",
}

ALL = DTYPE_NAMES
NUMERIC = DTYPE_NAMES[1:]
INTEGER = ("int8", "int16", "int32", "int64", "uint8")
FLOAT = ("float16", "float32", "float64")


class Elementwise:
    """One elementwise op.

    name:     the public name (``ts.<name>``) and the registry key
    arity:    1 or 2
    dtypes:   input dtypes (after promotion) that get a kernel on every built-in backend
    result:   "same" (the input dtype) or "bool"
    expr:     a C expression, or a dict from dtype kind ("bool", "int", "uint", "float") to one
    to_float: integer and bool inputs are first cast to the default float dtype (exp, divide, ...)
    """

    __slots__ = ("name", "arity", "dtypes", "result", "expr", "to_float")

    def __init__(self, name, arity, dtypes, expr, result="same", to_float=False):
        self.name, self.arity, self.dtypes, self.result = name, arity, tuple(dtypes), result
        self.expr, self.to_float = expr, to_float

    def expression(self, dtype):
        """The C expression for inputs of ``dtype`` (a dtype name)."""
        e = self.expr if isinstance(self.expr, str) else self.expr[KIND[dtype]]
        return e.replace("{T}", dtype)

    def result_dtype(self, dtype):
        return "bool" if self.result == "bool" else dtype


def _unary(name, dtypes, expr, **kw):
    return Elementwise(name, 1, dtypes, expr, **kw)


def _binary(name, dtypes, expr, **kw):
    return Elementwise(name, 2, dtypes, expr, **kw)


_float_nan_max = "((a > b || a != a) ? a : b)"
_float_nan_min = "((a < b || a != a) ? a : b)"

ELEMENTWISE = {op.name: op for op in (
    # unary
    _unary("negative", NUMERIC, "-a"),
    _unary("positive", NUMERIC, "a"),
    _unary("abs", NUMERIC, {"int": "(a < 0 ? -a : a)", "uint": "a", "float": "fabs(a)"}),
    _unary("exp", FLOAT, "exp(a)", to_float=True),
    _unary("log", FLOAT, "log(a)", to_float=True),
    _unary("sqrt", FLOAT, "sqrt(a)", to_float=True),
    _unary("sin", FLOAT, "sin(a)", to_float=True),
    _unary("cos", FLOAT, "cos(a)", to_float=True),
    _unary("tanh", FLOAT, "tanh(a)", to_float=True),
    _unary("erf", FLOAT, "erf(a)", to_float=True),
    _unary("sigmoid", FLOAT, "(1 / (1 + exp(-a)))", to_float=True),
    _unary("relu", NUMERIC, {"int": "(a > 0 ? a : 0)", "uint": "a", "float": "((a > 0 || a != a) ? a : 0)"}),
    _unary("sign", NUMERIC, {"int": "((a > 0) - (a < 0))", "uint": "(a > 0)",
                             "float": "(a != a ? a : (a > 0) - (a < 0))"}),
    _unary("floor", NUMERIC, {"int": "a", "uint": "a", "float": "floor(a)"}),
    _unary("ceil", NUMERIC, {"int": "a", "uint": "a", "float": "ceil(a)"}),
    _unary("square", NUMERIC, "(a * a)"),
    _unary("logical_not", ALL, "(a == 0)", result="bool"),
    _unary("isnan", ALL, {"bool": "0", "int": "0", "uint": "0", "float": "isnan(a)"}, result="bool"),
    _unary("isinf", ALL, {"bool": "0", "int": "0", "uint": "0", "float": "isinf(a)"}, result="bool"),
    _unary("isfinite", ALL, {"bool": "1", "int": "1", "uint": "1", "float": "isfinite(a)"}, result="bool"),
    # binary
    _binary("add", NUMERIC, "(a + b)"),
    _binary("subtract", NUMERIC, "(a - b)"),
    _binary("multiply", NUMERIC, "(a * b)"),
    _binary("divide", FLOAT, "(a / b)", to_float=True),
    _binary("floor_divide", NUMERIC, "ts_floor_divide_{T}(a, b)"),
    _binary("remainder", NUMERIC, "ts_remainder_{T}(a, b)"),
    _binary("pow", NUMERIC, {"int": "ts_ipow_{T}(a, b)", "uint": "ts_ipow_{T}(a, b)", "float": "pow(a, b)"}),
    _binary("maximum", NUMERIC, {"int": "(a > b ? a : b)", "uint": "(a > b ? a : b)", "float": _float_nan_max}),
    _binary("minimum", NUMERIC, {"int": "(a < b ? a : b)", "uint": "(a < b ? a : b)", "float": _float_nan_min}),
    _binary("equal", ALL, "(a == b)", result="bool"),
    _binary("not_equal", ALL, "(a != b)", result="bool"),
    _binary("less", ALL, "(a < b)", result="bool"),
    _binary("less_equal", ALL, "(a <= b)", result="bool"),
    _binary("greater", ALL, "(a > b)", result="bool"),
    _binary("greater_equal", ALL, "(a >= b)", result="bool"),
    _binary("logical_and", ALL, "((a != 0) && (b != 0))", result="bool"),
    _binary("logical_or", ALL, "((a != 0) || (b != 0))", result="bool"),
)}


class Reduction:
    """One reduction: ``init`` is the identity (None: the op has none and refuses empty input), ``combine`` folds
    ``v`` into the accumulator ``acc``; ``result`` is "same", "bool", "index" (int64) or "sum" (Array API sum/prod:
    integers widen to int64)."""

    __slots__ = ("name", "dtypes", "init", "combine", "result")

    def __init__(self, name, dtypes, init, combine, result):
        self.name, self.dtypes, self.init, self.combine, self.result = name, tuple(dtypes), init, combine, result


REDUCTIONS = {r.name: r for r in (
    Reduction("sum", NUMERIC + ("bool",), "0", "acc + v", "sum"),
    Reduction("prod", NUMERIC + ("bool",), "1", "acc * v", "sum"),
    Reduction("max", NUMERIC, None, "((v > acc || v != v) && acc == acc) ? v : acc", "same"),
    Reduction("min", NUMERIC, None, "((v < acc || v != v) && acc == acc) ? v : acc", "same"),
    Reduction("argmax", NUMERIC, None, "", "index"),
    Reduction("argmin", NUMERIC, None, "", "index"),
    Reduction("all", ALL, "1", "acc && (v != 0)", "bool"),
    Reduction("any", ALL, "0", "acc || (v != 0)", "bool"),
)}


#: The dtypes every built-in backend has kernels for, per op: one claim that the backends' ``register()`` and the
#: table tests read.  Elementwise ops and reductions claim what their table line says.
COVERAGE = {
    "where": ALL, "astype": ALL, "fill": ALL, "arange": NUMERIC, "rand": FLOAT, "randn": FLOAT, "randint": INTEGER,
    "matmul": NUMERIC, "softmax": FLOAT, "log_softmax": FLOAT,
    # the nn kernel families (Note [Kernel contract] in dispatch/registry.py)
    "im2col": FLOAT, "col2im": FLOAT, "max_pool2d": FLOAT, "max_pool2d_backward": FLOAT, "avg_pool2d": FLOAT,
    "avg_pool2d_backward": FLOAT, "take_along_axis": ALL, "scatter_add": NUMERIC,
    **{name: op.dtypes for name, op in ELEMENTWISE.items()},
    **{name: r.dtypes for name, r in REDUCTIONS.items()},
}
