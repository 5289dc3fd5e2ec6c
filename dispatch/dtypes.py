"""Dtypes and type promotion.

Note [Type promotion]
~~~~~~~~~~~~~~~~~~~~~
Tensor-with-tensor promotion follows the Array API standard's lattice: within a kind (signed int, unsigned int, float)
the wider type wins; int8..int64 with uint8 give the smallest signed type holding both; bool only promotes with bool.
Pairs the standard leaves undefined (integer with float, bool with numbers) promote as in NumPy.
Python scalars are *weak*: they take the tensor's dtype when their kind fits (``x_float32 + 1.0`` stays float32,
``x_float16 + 1.0`` float16, ``x_int8 + 1`` int8), a float scalar with an integer or bool tensor gives the default
float dtype (float32), and an int scalar with a bool tensor the default int dtype (int64).  One table, ``WEAK``, holds
this rule; the dispatcher's fast path and ``scalar_dtype`` both read it.  NumPy scalars (``np.float64(1.5)``,
``np.int16(3)``) count as Python scalars here, as in PyTorch; NumPy 2 itself treats them as typed (strong).

A Python int that does not fit the dtype it takes (``x_uint8 + 300``, ``x_int64 + 2**63``) raises ``OverflowError``
in arithmetic and creation, as NumPy 2 does; comparisons against it give the mathematically right answer
(``x_uint8 < -1`` is all False) and ``logical_and``/``logical_or`` treat it as the nonzero value it is.

Note [Float to integer casts]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
C leaves float-to-integer conversion of NaN and out-of-range values undefined, so every backend implements this rule
instead, in every kernel that converts (astype, fill, setitem).  It is NumPy's result on x86-64:

* to bool: ``v != 0`` (NaN is True);
* to int64: ``trunc(v)`` when -2**63 <= trunc(v) < 2**63, else -2**63 (NaN, infinities, out of range);
* to int8, int16, int32 and uint8: first to int32 the same way (``trunc(v)`` when -2**31 <= trunc(v) < 2**31, else
  -2**31), then wrapped to the target's width (its low bits): 300.7 -> int8 44, -1.0 -> uint8 255,
  -300.7 -> uint8 212, 1e10 -> int8 0, NaN -> int8 0;
* float16 converts exactly to float first; float to float rounds once, to nearest even (float64 -> float16
  directly: 65519.999 -> 65504, not inf).
"""

import numpy as np

from .errors import RegistrationError, did_you_mean

__all__ = ["DType", "dtype", "promote_types", "result_type", "DTYPES", "default_float", "default_int"]


class DType:
    """A tensor element type: ``ts.float32`` and friends.  Compares equal to its name and to the NumPy dtype."""

    __slots__ = ("name", "code", "kind", "itemsize", "numpy")

    def __init__(self, name, code, kind, numpy_dtype):
        self.name, self.code, self.kind = name, code, kind
        self.numpy = np.dtype(numpy_dtype)
        self.itemsize = self.numpy.itemsize

    def __repr__(self):
        return f"ts.{self.name}"

    __str__ = lambda self: self.name  # noqa: E731

    # DTypes are singletons, so identity hashing is exact, and it runs in C: every dispatch hashes a dtype
    __hash__ = object.__hash__

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        try:
            return dtype(other) is self
        except (TypeError, ValueError):
            return NotImplemented

    def __reduce__(self):
        return (dtype, (self.name,))


# The codes are shared with kernels/codegen.py (DTYPE_NAMES order) and the C++ module.
_SPECS = [("bool", "bool", np.bool_), ("int8", "int", np.int8), ("int16", "int", np.int16), ("int32", "int", np.int32),
          ("int64", "int", np.int64), ("uint8", "uint", np.uint8), ("float16", "float", np.float16),
          ("float32", "float", np.float32), ("float64", "float", np.float64)]
DTYPES = tuple(DType(name, i, kind, npd) for i, (name, kind, npd) in enumerate(_SPECS))
_BY_NAME = {d.name: d for d in DTYPES}
_BY_NUMPY = {d.numpy: d for d in DTYPES}
_BY_PYTYPE = {bool: _BY_NAME["bool"], int: _BY_NAME["int64"], float: _BY_NAME["float32"]}
default_float = _BY_NAME["float32"]
default_int = _BY_NAME["int64"]

#: (lowest, highest) value of each integer dtype
INT_RANGE = {d: (int(np.iinfo(d.numpy).min), int(np.iinfo(d.numpy).max)) for d in DTYPES if d.kind in ("int", "uint")}


def _weak(pytype, other):
    if pytype is bool:
        return other
    if pytype is int:
        return other if other.kind != "bool" else default_int
    return other if other.kind == "float" else default_float


#: (Python scalar type, tensor dtype) -> the dtype the scalar takes: see Note [Type promotion]
WEAK = {(t, d): _weak(t, d) for t in (bool, int, float) for d in DTYPES}


def dtype(x):
    """The DType for ``x``: a DType, a name ("float32"), a NumPy dtype or scalar type, or ``bool``/``int``/``float``.

    >>> import tensorswitch as ts
    >>> ts.dtype("float32") is ts.float32
    True
    """
    if isinstance(x, DType):
        return x
    try:
        hash(x)
    except TypeError:
        raise TypeError(f"a dtype is a ts.DType, a name such as 'float32', or a NumPy dtype; got {x!r}") from None
    if isinstance(x, str):
        d = _BY_NAME.get(x)
        if d is None and x[:1] in "<>=|":  # a NumPy type string such as '>f4'
            try:
                return dtype(np.dtype(x))
            except TypeError:
                pass
        if d is None:
            raise TypeError(f"unknown dtype {x!r}.{did_you_mean(x, _BY_NAME)} "
                            f"Known dtypes: {', '.join(_BY_NAME)}.")
        return d
    if x in _BY_PYTYPE:
        return _BY_PYTYPE[x]
    if x is None:  # np.dtype(None) is float64: never a dtype here (``ts.float64 == None`` is False)
        raise TypeError("a dtype is a ts.DType, a name such as 'float32', or a NumPy dtype; got None")
    try:
        npd = np.dtype(x)
        d = _BY_NUMPY.get(npd)
        if d is None and npd.byteorder not in ("=", "|"):  # big-endian and other non-native orders: same dtype
            d = _BY_NUMPY.get(npd.newbyteorder("="))
    except TypeError:
        d = None
    if d is None:
        raise TypeError(f"unsupported dtype {x!r}; tensorswitch supports {', '.join(_BY_NAME)}.")
    return d


def _build_promotion():
    # NumPy 2 follows the Array API lattice for every pair the standard defines, and its choices for the rest
    # (int with float, bool with numbers) are what NumPy users expect; see Note [Type promotion].
    return {(x, y): _BY_NUMPY[np.promote_types(x.numpy, y.numpy)] for x in DTYPES for y in DTYPES}


_PROMOTE = _build_promotion()


def promote_types(a, b):
    """The dtype two tensor operands compute in (see Note [Type promotion]); dtypes or anything ``ts.dtype`` takes.

    >>> import tensorswitch as ts
    >>> ts.promote_types("int8", ts.uint8)
    ts.int16
    """
    return _PROMOTE[(dtype(a), dtype(b))]


def scalar_dtype(value, other):
    """The dtype a Python scalar takes next to a tensor of dtype ``other`` (weak scalars, Note [Type promotion])."""
    t = type(value)
    if t is bool or t is int or t is float:
        return WEAK[(t, other)]
    if isinstance(value, (bool, np.bool_)):
        return WEAK[(bool, other)]
    if isinstance(value, (int, np.integer)):
        return WEAK[(int, other)]
    if isinstance(value, (float, np.floating)):
        return WEAK[(float, other)]
    raise TypeError(f"unsupported operand type {type(value).__name__!r}: expected a tensor or a Python scalar. "
                    f"Convert arrays explicitly with ts.asarray(value, device=...); tensorswitch never moves data "
                    f"implicitly")


def result_type(*args):
    """The promoted dtype of tensors, dtypes and Python scalars, as an op would compute it."""
    from .tensor import Tensor

    tensors = [a.dtype if isinstance(a, Tensor) else dtype(a) for a in args
               if isinstance(a, (Tensor, DType, str, np.dtype, type))]
    scalars = [a for a in args if isinstance(a, (bool, int, float))]
    others = [a for a in args if not isinstance(a, (Tensor, DType, str, np.dtype, type, bool, int, float))]
    if others:
        raise TypeError(f"result_type: expected tensors, dtypes and Python bool/int/float scalars, got "
                        f"{type(others[0]).__name__} {others[0]!r}")
    if not tensors:
        raise TypeError("result_type needs at least one tensor or dtype")
    out = tensors[0]
    for t in tensors[1:]:
        out = promote_types(out, t)
    for s in scalars:
        out = scalar_dtype(s, out)
    return out


def check_dtype_name(name):
    if name not in _BY_NAME:
        raise RegistrationError(f"unknown dtype {name!r}.{did_you_mean(name, _BY_NAME)}")
    return _BY_NAME[name]
