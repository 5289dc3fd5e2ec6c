"""Dtypes and type promotion.

Note [Type promotion]
~~~~~~~~~~~~~~~~~~~~~
Tensor-with-tensor promotion follows the Array API standard's lattice: within a kind (signed int, unsigned int, float)
the wider type wins; a signed with an unsigned integer gives the smallest signed type holding both (int8 with uint8 is
int16, int32 with uint32 int64); bool only promotes with bool.  Pairs the standard leaves undefined promote as in
NumPy (``np.promote_types``), and these are NumPy's answers:

* uint64 with any signed integer (int8..int64): float64, since no integer type holds both ranges (NumPy's choice;
  PyTorch refuses to promote uint64 and int64);
* integer with float: the float type, widened until it holds the integer's range where NumPy says so: int8, uint8
  with float16 stay float16; int16, uint16 with float16 give float32; int32, int64, uint32 and uint64 with float16 or
  float32 give float64;
* bool with a number: the number's type;
* complex64 and complex128 follow the standard's lattice with each other and with floats (float64 with complex64 is
  complex128, the complex type whose parts hold both); integers with a complex type take NumPy's answer (int8, int16,
  uint8, uint16 with complex64 stay complex64; wider integers give complex128).
Python scalars are *weak*: they take the tensor's dtype when their kind fits (``x_float32 + 1.0`` stays float32,
``x_float16 + 1.0`` float16, ``x_int8 + 1`` int8), a float scalar with an integer or bool tensor gives the default
float dtype (float32), and an int scalar with a bool tensor the default int dtype (int64).  A complex scalar takes a
complex tensor's dtype, makes a float tensor's dtype the complex one of its precision (float16 and float32 give
complex64, float64 complex128) and gives the default complex dtype (complex64) next to integers and bool; a float or
int scalar takes a complex tensor's dtype.  One table, ``WEAK``, holds
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
* to int8, int16, int32, uint8 and uint16: first to int32 the same way (``trunc(v)`` when -2**31 <= trunc(v) <
  2**31, else -2**31), then wrapped to the target's width (its low bits): 300.7 -> int8 44, -1.0 -> uint8 255,
  -300.7 -> uint8 212, 1e10 -> int8 0, NaN -> int8 0, 70000.3 -> uint16 4464, -1.0 -> uint16 65535;
* to uint32: first to int64 the same way, then wrapped to 32 bits: -1.0 -> 4294967295, 1e10 -> 1410065408,
  2**32 -> 0, NaN and +-inf -> 0.  That is NumPy's scalar path (NumPy scalars, arrays of fewer than 4 elements,
  strided arrays, and every float16 source); NumPy's contiguous SIMD loop gives other answers for values outside
  [-2**31, 2**32) (2**31 for NaN, -inf and values below -2**31; 0 at 2**32 and above), so that its result depends
  on the array's length: we take the scalar path's everywhere;
* to uint64: ``trunc(v)`` when 0 <= trunc(v) < 2**64; otherwise the int64 rule's result as uint64 bits: negative
  values that fit int64 wrap (-1.0 -> 2**64 - 1), NaN, -inf and values below -2**63 give 2**63, and 2**64 and above
  (+inf included) give 0.  This is NumPy's answer on every path: x86-64 converts a value from 2**63 up as
  int64(v - 2**63) with the top bit set, which is 0 where that does not fit either;
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
          ("float32", "float", np.float32), ("float64", "float", np.float64),
          # appended, so that every earlier code stays as it was (codes 0..8 are in saved kernels and C++ tables)
          ("uint16", "uint", np.uint16), ("uint32", "uint", np.uint32), ("uint64", "uint", np.uint64),
          ("complex64", "complex", np.complex64), ("complex128", "complex", np.complex128)]
DTYPES = tuple(DType(name, i, kind, npd) for i, (name, kind, npd) in enumerate(_SPECS))
_BY_NAME = {d.name: d for d in DTYPES}
_BY_NUMPY = {d.numpy: d for d in DTYPES}
_BY_PYTYPE = {bool: _BY_NAME["bool"], int: _BY_NAME["int64"], float: _BY_NAME["float32"],
              complex: _BY_NAME["complex64"]}
default_float = _BY_NAME["float32"]
default_int = _BY_NAME["int64"]
default_complex = _BY_NAME["complex64"]  # the complex dtype whose parts are the default float dtype

#: the real dtype of each complex dtype's parts (what abs, real and imag give), and back
REAL_OF = {_BY_NAME["complex64"]: _BY_NAME["float32"], _BY_NAME["complex128"]: _BY_NAME["float64"]}
COMPLEX_OF = {_BY_NAME["float16"]: _BY_NAME["complex64"], _BY_NAME["float32"]: _BY_NAME["complex64"],
              _BY_NAME["float64"]: _BY_NAME["complex128"]}


def real_dtype(d):
    """The dtype of ``d``'s real part: ``d`` itself for real dtypes, the part's dtype for complex ones."""
    return REAL_OF.get(d, d)

#: (lowest, highest) value of each integer dtype
INT_RANGE = {d: (int(np.iinfo(d.numpy).min), int(np.iinfo(d.numpy).max)) for d in DTYPES if d.kind in ("int", "uint")}


def _weak(pytype, other):
    if pytype is bool:
        return other
    if pytype is int:
        return other if other.kind != "bool" else default_int
    if pytype is float:
        return other if other.kind in ("float", "complex") else default_float
    # complex: the complex dtype whose parts hold a float tensor's dtype, the default complex dtype next to integers
    return other if other.kind == "complex" else COMPLEX_OF.get(other, default_complex)


#: (Python scalar type, tensor dtype) -> the dtype the scalar takes: see Note [Type promotion]
WEAK = {(t, d): _weak(t, d) for t in (bool, int, float, complex) for d in DTYPES}


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
    if t is bool or t is int or t is float or t is complex:
        return WEAK[(t, other)]
    if isinstance(value, (bool, np.bool_)):
        return WEAK[(bool, other)]
    if isinstance(value, (int, np.integer)):
        return WEAK[(int, other)]
    if isinstance(value, (float, np.floating)):
        return WEAK[(float, other)]
    if isinstance(value, (complex, np.complexfloating)):
        return WEAK[(complex, other)]
    raise TypeError(f"unsupported operand type {type(value).__name__!r}: expected a tensor or a Python scalar. "
                    f"Convert arrays explicitly with ts.asarray(value, device=...); tensorswitch never moves data "
                    f"implicitly")


def result_type(*arrays_and_dtypes):
    """The dtype an op computes in for these tensors, dtypes and scalars (the Array API's ``result_type``).

    Tensors and dtypes promote with each other first (Note [Type promotion]); then each scalar (bool, int, float,
    complex, NumPy scalars alike) takes part as a weak scalar does in arithmetic: it takes the dtype when its kind
    fits.  A complex scalar makes a real floating dtype the complex one of its precision (float16 and float32 give
    complex64) and an integer or bool one the default complex dtype.  At least one tensor or dtype is needed.

    >>> import tensorswitch as ts
    >>> ts.result_type(ts.int8, ts.uint8), ts.result_type(ts.float16, 1.0), ts.result_type(ts.uint8, 1)
    (ts.int16, ts.float16, ts.uint8)
    """
    from .tensor import Tensor

    typed, scalars = [], []
    for a in arrays_and_dtypes:
        if isinstance(a, Tensor):
            typed.append(a.dtype)
        elif isinstance(a, (bool, int, float, complex, np.bool_, np.number)):
            scalars.append(a)
        elif isinstance(a, (DType, str, np.dtype, type)):
            try:
                typed.append(dtype(a))
            except TypeError as exc:
                raise TypeError(f"result_type: {exc}") from None
        else:
            raise TypeError(f"result_type: expected tensors, dtypes and Python scalars (bool, int, float, complex), "
                            f"got {type(a).__name__} {a!r}")
    if not typed:
        raise TypeError("result_type needs at least one tensor or dtype (scalars alone have no dtype to take)")
    out = typed[0]
    for t in typed[1:]:
        out = promote_types(out, t)
    for value in scalars:
        out = scalar_dtype(value, out)
    return out


def check_dtype_name(name):
    if name not in _BY_NAME:
        raise RegistrationError(f"unknown dtype {name!r}.{did_you_mean(name, _BY_NAME)}")
    return _BY_NAME[name]
