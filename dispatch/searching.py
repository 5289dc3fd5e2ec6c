"""Searching functions of the Array API standard: nonzero, count_nonzero, and where with one argument (NumPy's habit
for nonzero; the three-argument where is in dispatch/functions.py).

nonzero is a stream compaction on the device: count_nonzero gives the size of the result (the one host sync: the
result's shape depends on the data), then the ``nonzero`` kernel of the backend (Note [Kernel contract]) writes the
coordinates in C order, scanning the mask and scattering each nonzero element's coordinates to its place.
"""

from . import dispatcher as d
from .dtypes import DTYPES

__all__ = ["nonzero", "count_nonzero"]

_BOOL, _INT64 = DTYPES[0], DTYPES[4]


def nonzero(x, /):
    """The indices of the nonzero elements of ``x``: a tuple of ``x.ndim`` int64 tensors, one per dimension, the
    coordinates in C order (NaN counts as nonzero).  A 0-d ``x`` raises ValueError, as the standard says.

    >>> import tensorswitch as ts
    >>> rows, cols = ts.nonzero(ts.asarray([[0, 3], [4, 0]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1], [1, 0])
    """
    d.require_tensor("nonzero", x)
    if x.ndim == 0:
        raise ValueError(f"nonzero: x must have at least one dimension (the Array API standard does not define "
                         f"nonzero of a 0-d tensor), got one on {x.device}; use x.reshape((1,))")
    count = int(count_nonzero(x).item())  # the one host sync: the result's size
    out = d.empty((x.ndim, count), _INT64, x.device)
    d.run("nonzero", x.dtype, out, x)  # nothing runs when count is 0
    return tuple(out[i] for i in range(x.ndim))


def count_nonzero(x, /, *, axis=None, keepdims=False):
    """The number of nonzero elements of ``x`` over ``axis`` (an int, a tuple, or None for all), as int64.

    >>> import tensorswitch as ts
    >>> ts.count_nonzero(ts.asarray([[0, 3], [4, 5]]), axis=1).tolist()
    [1, 2]
    """
    d.require_tensor("count_nonzero", x)
    mask = x if x.dtype is _BOOL else d.binary("not_equal", x, 0)
    return d.reduce("sum", mask, axis, keepdims)
