"""Sorting functions of the Array API standard (sort, argsort), and searchsorted, which binary-searches what they sort.

Every backend sorts by one order, Note [Sort order] (kernels/cpu/sort.cpp): NumPy's, with -0.0 equal to +0.0 and
NaN above everything, stable in both directions.  A descending sort is that order reversed with equal elements still
in their original order, so NaNs come first: array-api-strict's ``argsort(descending=True)`` gives the same indices
(and the standard's test suite, which compares with Python's stable ``sorted(..., reverse=True)``, the same result).
``stable=False`` is accepted and sorts stably too (the standard allows it).

The kernels ("sort", "argsort", "searchsorted") follow Note [Kernel contract] in dispatch/registry.py: these
functions check the arguments, promote, allocate and dispatch.  ``searchsorted`` lives here rather than with the
searching functions (dispatch/searching.py) because it shares the sort kernels' order and their op family.

>>> import tensorswitch as ts
>>> x = ts.asarray([3.0, float("nan"), -1.0, 3.0])
>>> ts.sort(x).tolist()
[-1.0, 3.0, 3.0, nan]
>>> ts.argsort(x, descending=True).tolist()
[1, 0, 3, 2]
>>> ts.searchsorted(ts.asarray([1, 2, 2, 5]), ts.asarray([2, 6]), side="right").tolist()
[3, 4]
"""

import numpy as np

from . import errors
from .dispatcher import _operands, astype, empty, reduce, require_tensor, run
from .dtypes import DTYPES
from .shapes import as_int
from .tensor import Tensor

__all__ = ["sort", "argsort", "searchsorted"]

_INT64 = DTYPES[4]


def _flag(op, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _sort_axis(op, x, axis):
    if x.ndim == 0:
        raise errors.AxisError(f"{op}: a 0-d tensor has no axis to sort along (axis={axis!r}); the standard needs "
                               f"at least one dimension: reshape it first, for example x.reshape((1,))")
    a = as_int(axis, f"{op}: axis")
    if not -x.ndim <= a < x.ndim:
        raise errors.AxisError(f"{op}: axis {a} is out of range for a tensor with {x.ndim} "
                               f"dimension{'s' if x.ndim != 1 else ''} (valid: {-x.ndim} to {x.ndim - 1})")
    return a % x.ndim


def _sorted(op, x, axis, descending, stable, out_dtype):
    require_tensor(op, x)
    axis = _sort_axis(op, x, axis)
    descending = _flag(op, "descending", descending)
    _flag(op, "stable", stable)  # every kernel is stable: stable=False may keep ties in order, so it does
    out = empty(x.shape, out_dtype or x.dtype, x.device)
    return run(op, x.dtype, out, x, axis, descending)


def sort(x, /, *, axis=-1, descending=False, stable=True):
    """A sorted copy of ``x`` along ``axis`` (the Array API's ``sort``).

    axis: the axis to sort along (default the last); x needs at least one dimension.  descending: largest first.
    stable: accepted; the sort is always stable (equal elements keep their order, in both directions).
    NaNs sort last, and first when descending; -0.0 and +0.0 are equal (Note [Sort order]).

    >>> import tensorswitch as ts
    >>> ts.sort(ts.asarray([[3, 1, 2], [0, 5, 4]]), axis=1, descending=True).tolist()
    [[3, 2, 1], [5, 4, 0]]
    """
    return _sorted("sort", x, axis, descending, stable, None)


def argsort(x, /, *, axis=-1, descending=False, stable=True):
    """The int64 indices that sort ``x`` along ``axis`` (the Array API's ``argsort``): ``take_along_axis(x,
    argsort(x, axis=a), axis=a)`` is ``sort(x, axis=a)``.  Arguments as for :func:`sort`; ties keep their order.

    >>> import tensorswitch as ts
    >>> ts.argsort(ts.asarray([2, 1, 2, 0])).tolist()
    [3, 1, 0, 2]
    """
    if isinstance(x, Tensor) and _INT64 not in x.device.supported_dtypes():
        raise errors.unsupported_dtype("argsort", x.device, _INT64, x.device.supported_dtypes())
    return _sorted("argsort", x, axis, descending, stable, _INT64)


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    """For each element of ``x2``, the index at which inserting it into the sorted 1-D ``x1`` keeps it sorted (the
    Array API's ``searchsorted``): with side="left" the first such index (the count of x1's elements before it),
    with side="right" the last.  x1 is sorted by Note [Sort order] (as ``ts.sort`` leaves it: NaNs last, NumPy's
    convention), or ``sorter`` (integer indices, as from ``ts.argsort(x1)``) says in which order to read it.  x1 and
    x2 are promoted to one dtype; x2 may be a Python scalar.  The result is int64, of x2's shape.

    >>> import tensorswitch as ts
    >>> x1 = ts.asarray([0.5, 1.5, float("nan")])
    >>> ts.searchsorted(x1, ts.asarray([[1.0, 2.0], [float("nan"), -1.0]])).tolist()
    [[1, 2], [2, 0]]
    """
    op = "searchsorted"
    require_tensor(op, x1)
    if not isinstance(x2, Tensor) and not isinstance(x2, (bool, int, float, np.bool_, np.integer, np.floating)):
        raise TypeError(f"{op}: x2 must be a tensor or a real number, got {type(x2).__name__}")
    if side not in ("left", "right"):
        raise ValueError(f"{op}: side must be 'left' or 'right', got {side!r}")
    if x1.ndim != 1:
        raise errors.ShapeError(f"{op}: x1 must be 1-D, got shape {x1.shape}; sort a flattened copy "
                                f"(ts.sort(ts.reshape(x1, (-1,)))) to search in all of it")
    x1, x2, dt, device = _operands(op, x1, x2)
    if x1.dtype is not dt:
        x1 = astype(x1, dt)
    if x2.dtype is not dt:
        x2 = astype(x2, dt)
    if _INT64 not in device.supported_dtypes():
        raise errors.unsupported_dtype(op, device, _INT64, device.supported_dtypes())
    if sorter is not None:
        sorter = _sorter(op, sorter, x1)
    out = empty(x2.shape, _INT64, device)
    if x1.shape[0] == 0:  # nothing to search in: every insertion point is 0
        return run("fill", _INT64, out, 0)
    return run(op, dt, out, x1, x2, side == "right", sorter)


def _sorter(op, sorter, x1):
    if not isinstance(sorter, Tensor):
        raise TypeError(f"{op}: sorter must be a tensor of indices (for example ts.argsort(x1)), got "
                        f"{type(sorter).__name__}")
    if sorter.device is not x1.device:
        raise errors.device_mismatch(op, (x1.device, sorter.device))
    if sorter.dtype.kind not in ("int", "uint"):
        raise TypeError(f"{op}: sorter must have an integer dtype, got {sorter.dtype.name} on {sorter.device}; "
                        f"cast it first, for example sorter.astype(ts.int64)")
    if sorter.shape != x1.shape:
        raise errors.ShapeError(f"{op}: sorter must have x1's shape {x1.shape}, got {sorter.shape}")
    if sorter.dtype is not _INT64:
        sorter = astype(sorter, _INT64)
    n = x1.shape[0]
    if n:  # the kernels read x1 at these indices: one outside it is the caller's IndexError, never a wild read
        lo, hi = reduce("min", sorter).item(), reduce("max", sorter).item()
        if lo < 0 or hi >= n:
            raise IndexError(f"{op}: sorter index {lo if lo < 0 else hi} is out of bounds for x1 of size {n} "
                             f"(valid: 0 to {n - 1})")
    return sorter

