"""Data type and namespace inspection: finfo, iinfo, isdtype, can_cast, the constants, __array_namespace_info__.

The Array API standard's "data type functions", "constants" and "inspection" sections (2024.12).  Every answer about
a device comes from that device's ``supported_dtypes()`` (STYLE.md: capability lives in one place), so an OpenCL
device without ``cl_khr_fp64`` lists no float64.

>>> import tensorswitch as ts
>>> ts.finfo(ts.float32).eps
1.1920928955078125e-07
>>> ts.isdtype(ts.int8, ("signed integer", "real floating"))
True
>>> ts.__array_namespace_info__().default_dtypes(device="cpu")["indexing"]
ts.int64
"""

import math
import sys

import numpy as np

from . import dtypes as _dtypes
from .device import device as _device, devices as _devices, get_default_device
from .dtypes import DType, promote_types
from .shapes import MAX_NDIM
from .tensor import Tensor

__all__ = ["finfo", "iinfo", "isdtype", "can_cast", "e", "pi", "inf", "nan", "newaxis"]

e = math.e
pi = math.pi
inf = math.inf
nan = math.nan
newaxis = None  # x[ts.newaxis] adds a dimension, as x[None] does

#: the standard's dtype kinds (isdtype, __array_namespace_info__().dtypes(kind=...)) as sets of our DType.kind
KINDS = {
    "bool": {"bool"},
    "signed integer": {"int"},
    "unsigned integer": {"uint"},
    "integral": {"int", "uint"},
    "real floating": {"float"},
    "complex floating": {"complex"},
    "numeric": {"int", "uint", "float", "complex"},
}

# the promotion categories of the standard: promotion (and so can_cast) stays inside one
_CATEGORY = {"bool": "bool", "int": "integer", "uint": "integer", "float": "inexact", "complex": "inexact"}


def _as_dtype(op, x):
    if isinstance(x, DType):
        return x
    if isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a dtype, got a tensor; pass x.dtype")
    try:
        return _dtypes.dtype(x)
    except TypeError as exc:
        raise TypeError(f"{op}: {exc}") from None


def _dtype_or_tensor(op, x):
    return x.dtype if isinstance(x, Tensor) else _as_dtype(op, x)


class FInfo:
    """What ``ts.finfo`` answers: ``bits``, ``eps``, ``max``, ``min``, ``smallest_normal`` (Python floats) and
    ``dtype``, the real floating dtype they describe."""

    __slots__ = ("bits", "eps", "max", "min", "smallest_normal", "dtype")

    def __init__(self, dt):
        info = np.finfo(dt.numpy)
        self.bits = int(info.bits)
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.smallest_normal = float(info.smallest_normal)
        self.dtype = dt

    def __repr__(self):
        return (f"finfo(bits={self.bits}, eps={self.eps!r}, max={self.max!r}, min={self.min!r}, "
                f"smallest_normal={self.smallest_normal!r}, dtype={self.dtype.name})")


class IInfo:
    """What ``ts.iinfo`` answers: ``bits``, ``max``, ``min`` (Python ints) and ``dtype``."""

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, dt):
        info = np.iinfo(dt.numpy)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), int(info.min), dt

    def __repr__(self):
        return f"iinfo(bits={self.bits}, max={self.max}, min={self.min}, dtype={self.dtype.name})"


_INFO = {}  # dtype -> FInfo / IInfo: made once, as NumPy caches its own


def finfo(type, /):  # noqa: A002  (the standard's name)
    """Machine limits of a floating-point dtype, or of the real dtype of a complex one (``type``: a dtype or a
    tensor).

    >>> import tensorswitch as ts
    >>> ts.finfo(ts.float16).max
    65504.0
    """
    dt = _dtype_or_tensor("finfo", type)
    if dt.kind == "complex":  # the standard: the real floating dtype of the same precision
        dt = next(r for r in _dtypes.DTYPES if r.kind == "float" and 2 * r.itemsize == dt.itemsize)
    elif dt.kind != "float":
        raise TypeError(f"finfo: {dt.name} is not a floating-point dtype; use ts.iinfo for integer dtypes")
    info = _INFO.get(dt)
    if info is None:
        info = _INFO[dt] = FInfo(dt)
    return info


def iinfo(type, /):  # noqa: A002
    """Machine limits of an integer dtype (``type``: a dtype or a tensor).

    >>> import tensorswitch as ts
    >>> ts.iinfo(ts.uint8).max
    255
    """
    dt = _dtype_or_tensor("iinfo", type)
    if dt.kind not in ("int", "uint"):
        raise TypeError(f"iinfo: {dt.name} is not an integer dtype; use ts.finfo for floating-point dtypes")
    info = _INFO.get(dt)
    if info is None:
        info = _INFO[dt] = IInfo(dt)
    return info


def _kind_matches(op, dt, kind):
    if isinstance(kind, str):
        kinds = KINDS.get(kind)
        if kinds is None:
            hint = ""
            try:
                named = _dtypes.dtype(kind)
                hint = f"; to compare with the dtype {named.name}, pass ts.{named.name}"
            except TypeError:
                pass
            raise ValueError(f"{op}: unknown kind {kind!r}; the kinds are {', '.join(map(repr, KINDS))}, a dtype, "
                             f"or a tuple of those{hint}")
        return dt.kind in kinds
    if isinstance(kind, DType):
        return dt is kind
    raise TypeError(f"{op}: kind must be a dtype, a kind name such as 'real floating', or a tuple of those; got "
                    f"{type(kind).__name__}")


def isdtype(dtype, kind):
    """Whether ``dtype`` is of ``kind``: a dtype, one of 'bool', 'signed integer', 'unsigned integer', 'integral',
    'real floating', 'complex floating', 'numeric', or a tuple of those (any of them).

    >>> import tensorswitch as ts
    >>> ts.isdtype(ts.uint8, "integral"), ts.isdtype(ts.float32, ts.float64)
    (True, False)
    """
    dt = _as_dtype("isdtype", dtype)
    if isinstance(kind, tuple):
        return any(_kind_matches("isdtype", dt, k) for k in kind)
    return _kind_matches("isdtype", dt, kind)


def can_cast(from_, to, /):
    """Whether ``from_`` (a dtype or a tensor) casts to ``to`` under the standard's promotion rules: ``to`` is what
    the two promote to, within one category (bool, integer, floating).  Casts between categories (int to float,
    bool to int) are never promotions, so False, as in the standard's reference implementation; ``astype`` does
    them.

    >>> import tensorswitch as ts
    >>> ts.can_cast(ts.uint8, ts.int16), ts.can_cast(ts.int64, ts.int32), ts.can_cast(ts.int8, ts.float32)
    (True, False, False)
    """
    src = _dtype_or_tensor("can_cast", from_)
    dst = _as_dtype("can_cast", to)
    if _CATEGORY.get(src.kind, src.kind) != _CATEGORY.get(dst.kind, dst.kind):
        return False
    return promote_types(src, dst) is dst


# -- the inspection namespace -------------------------------------------------------------------------------------

_DATA_DEPENDENT = ("nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values")
_probed = {}


def _boolean_indexing():
    """Whether ``x[mask]`` works, found by trying it once (so the answer stays true as the implementation grows)."""
    answer = _probed.get("boolean indexing")
    if answer is None:
        from .functions import asarray

        try:
            cpu = _device("cpu")
            got = asarray([1, 2, 3], device=cpu)[asarray([True, False, True], device=cpu)]
            answer = got.shape == (2,) and got.tolist() == [1, 3]
        except Exception:  # IndexError today's "not supported yet"; anything else is no support either
            answer = False
        _probed["boolean indexing"] = answer
    return answer


def _resolve(device):
    return get_default_device() if device is None else _device(device)


#: the Array API standard's dtypes (2024.12); ``dtypes()`` answers among these
_STANDARD = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
                       "float64", "complex64", "complex128"})


class ArrayNamespaceInfo:
    """What ``ts.__array_namespace_info__()`` returns: the standard's inspection API.

    >>> import tensorswitch as ts
    >>> info = ts.__array_namespace_info__()
    >>> info.capabilities()["max dimensions"]
    32
    >>> sorted(info.dtypes(device="cpu", kind="real floating"))  # the standard's dtypes (float16 is an extra)
    ['float32', 'float64']
    """

    __slots__ = ()

    def capabilities(self):
        """{"boolean indexing", "data-dependent shapes", "max dimensions"}: what this implementation supports."""
        ts = sys.modules["tensorswitch"]
        boolean = _boolean_indexing()
        return {"boolean indexing": boolean,
                "data-dependent shapes": boolean and all(hasattr(ts, name) for name in _DATA_DEPENDENT),
                "max dimensions": MAX_NDIM}

    def default_device(self):
        """The device new tensors go to (``ts.get_default_device()``)."""
        return get_default_device()

    def default_dtypes(self, *, device=None):
        """{"real floating", "complex floating", "integral", "indexing"}: the dtypes creation functions use on
        ``device`` (default: the default device); "complex floating" is None where the device has no complex
        dtype."""
        supported = _resolve(device).supported_dtypes()

        def pick(preferred, kind, itemsize=None):
            if preferred is not None and preferred in supported:
                return preferred
            # a device without the preferred dtype: the widest it has of that kind
            found = [dt for dt in _dtypes.DTYPES if dt.kind == kind and dt in supported and
                     (itemsize is None or dt.itemsize == itemsize)]
            return max(found, key=lambda dt: dt.itemsize) if found else None

        real = pick(_dtypes.default_float, "float")
        complex_ = pick(None, "complex", 2 * real.itemsize if real is not None else None)
        return {"real floating": real, "complex floating": complex_,
                "integral": pick(_dtypes.default_int, "int"), "indexing": pick(_dtypes.default_int, "int")}

    def dtypes(self, *, device=None, kind=None):
        """{name: dtype} of the dtypes ``device`` supports (default: the default device), of ``kind`` (a kind name
        as ``isdtype`` takes, or a tuple of them; None: every dtype)."""
        supported = _resolve(device).supported_dtypes()
        if kind is not None and not isinstance(kind, (str, tuple)):
            raise ValueError(f"dtypes: kind must be None, a kind name or a tuple of them, got {kind!r}")
        if isinstance(kind, tuple) and not all(isinstance(k, str) for k in kind):
            raise ValueError(f"dtypes: kind must be None, a kind name or a tuple of them, got {kind!r}")
        kinds = kind if isinstance(kind, tuple) else (kind,)
        out = {}
        for dt in _dtypes.DTYPES:
            if dt.name not in _STANDARD:  # float16 is ours, not the standard's: its dtypes() lists only its own
                continue
            if dt in supported and (kind is None or any(_kind_matches("dtypes", dt, k) for k in kinds)):
                out[dt.name] = dt
        if kind is not None and not out:  # still check the kind names when the device has no dtype of them
            for k in kinds:
                _kind_matches("dtypes", _dtypes.DTYPES[0], k)
        return out

    def devices(self):
        """Every usable device (``ts.devices()``), cpu first."""
        return list(_devices())

    def __repr__(self):
        return "tensorswitch.__array_namespace_info__()"
