"""Shapes and axes as users pass them: validated once, in one place, with errors that say what would have worked.

A shape is an int or a sequence of non-negative ints; an axis is an int (or, where an op takes several, a sequence of
ints, or None).  "Int" means anything with ``__index__`` (Python ints, NumPy integers, 0-d integer tensors) except
bools, which NumPy and PyTorch also refuse as sizes.  Tensors have at most ``MAX_NDIM`` dimensions on every backend.
"""

import numpy as np

from . import errors

__all__ = ["MAX_NDIM", "MAX_SIZE", "as_int", "as_shape", "normalize_axis", "normalize_axes", "check_ndim"]

#: The most dimensions a tensor may have, on every backend (the cpu kernels' ``kMaxDims``; NumPy 2 allows 64).
MAX_NDIM = 32


def _describe(value):
    return f"{value!r} ({type(value).__name__})"


#: the largest dimension and element count: offsets and strides (in elements) are signed 64-bit in every kernel
MAX_SIZE = 2 ** 63 - 1


def as_int(value, what):
    """``value`` as a Python int, or a TypeError naming ``what`` was expected."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, not a bool ({value!r})")
    if type(value) is int:
        return value
    if getattr(value, "ndim", 0) and hasattr(value, "shape"):  # a tensor or array of several elements
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} of shape {tuple(value.shape)}")
    try:
        return int(value.__index__())
    except AttributeError:
        raise TypeError(f"{what} must be an integer, got {_describe(value)}") from None
    except TypeError as exc:  # a float tensor's __index__ says why
        raise TypeError(f"{what} must be an integer, got {_describe(value)}: {exc}") from None


def check_ndim(op, ndim):
    if ndim > MAX_NDIM:
        raise errors.ShapeError(f"{op}: {ndim} dimensions asked for; tensors have at most {MAX_NDIM} on every "
                                f"device")


def as_shape(op, shape, allow_unknown=False):
    """A shape as a tuple of ints: ``3``, ``(2, 3)``, ``[2, 3]``, ``np.int64(3)``.  ``allow_unknown`` admits one
    -1 (reshape)."""
    if type(shape) is int:  # the common cases first, each checked in one step
        if 0 <= shape <= MAX_SIZE:
            return (shape,)
    elif type(shape) is tuple and len(shape) <= 2:
        if all(type(n) is int and 0 <= n < 2 ** 31 for n in shape):
            return shape  # two dims below 2**31 cannot overflow
    if shape is None or isinstance(shape, (str, bytes, float, complex)):
        raise TypeError(f"{op}: a shape is an int or a sequence of ints, such as 3 or (2, 3); got "
                        f"{_describe(shape)}")
    if hasattr(shape, "__index__") and not (hasattr(shape, "ndim") and shape.ndim > 0):
        shape = (shape,)
    try:
        items = tuple(shape)
    except TypeError:
        raise TypeError(f"{op}: a shape is an int or a sequence of ints, such as 3 or (2, 3); got "
                        f"{_describe(shape)}") from None
    out = []
    for n in items:
        try:
            n = as_int(n, "a dimension")
        except TypeError as exc:
            raise TypeError(f"{op}: shape {items!r}: {exc}") from None
        if n < 0 and not (allow_unknown and n == -1):
            raise ValueError(f"{op}: negative dimensions are not allowed: {items!r}"
                             + (" (only one -1, for a size to infer, is)" if allow_unknown else ""))
        out.append(n)
    check_ndim(op, len(out))
    size = 1
    for n in out:
        if n > 0:
            size *= n
    if size > MAX_SIZE or any(n > MAX_SIZE for n in out):
        raise ValueError(f"{op}: shape {tuple(out)} has more than 2**63 - 1 elements, the most any tensor can index")
    return tuple(out)


def normalize_axis(op, axis, ndim):
    """One axis in [-ndim, ndim) as a non-negative int."""
    a = as_int(axis, f"{op}: axis")
    if not -ndim <= a < ndim:
        if ndim == 0:
            raise errors.AxisError(f"{op}: axis {a} is out of range for a 0-d tensor (it has no axes; pass "
                                   f"axis=None)")
        raise errors.AxisError(f"{op}: axis {a} is out of range for a tensor with {ndim} "
                               f"dimension{'s' if ndim != 1 else ''} (valid: {-ndim} to {ndim - 1})")
    return a % ndim


def normalize_axes(op, axis, ndim):
    """``axis`` (None, an int or a sequence of ints) as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        items = axis
    elif hasattr(axis, "__index__") and not isinstance(axis, (bool, np.bool_)):
        items = (axis,)
    else:
        raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {_describe(axis)}")
    out = []
    for a in items:
        try:
            a = normalize_axis(op, a, ndim)
        except TypeError:
            raise TypeError(f"{op}: axis must be an int, a tuple of ints or None, got {_describe(a)}") from None
        if a in out:
            raise ValueError(f"{op}: axis {a} is repeated in {tuple(items)!r}")
        out.append(a)
    return tuple(sorted(out))
