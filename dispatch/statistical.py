"""Statistical functions of the Array API standard beyond the reductions: cumulative_sum, cumulative_prod.

Both are scans along one axis, run by the ``cumsum`` and ``cumprod`` kernels of every backend (Note [Kernel contract]
in dispatch/registry.py).  The result dtype follows the standard and ``ts.sum``: unsigned integers give uint64 and
signed integers and bool int64 (the default integer dtype of their kind), floats keep their dtype, and ``dtype=`` casts
the input first, so
that the scan runs in that dtype (integers wrap in it, as NumPy's do).  Floats accumulate in at least float32 (double
on cpu and cuda, and on opencl where the device has fp64), rounding each output once.
"""

from . import dispatcher as d
from .dtypes import DTYPES, dtype as to_dtype
from .shapes import normalize_axis

__all__ = ["cumulative_sum", "cumulative_prod"]

_UINT64 = DTYPES[11]
_INT64 = DTYPES[4]


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    """The running sum of ``x`` along ``axis`` (Array API 2024.12).

    axis: optional for a 1-D ``x``, required otherwise.  dtype: the result's (None: uint64 for unsigned integers,
    int64 for signed integers and bool, else x's).  include_initial: start each running sum with its zero, so the axis grows by one.

    >>> import tensorswitch as ts
    >>> ts.cumulative_sum(ts.asarray([1, 2, 3])).tolist()
    [1, 3, 6]
    >>> ts.cumulative_sum(ts.asarray([[1.0, 2.0], [3.0, 4.0]]), axis=0, include_initial=True).tolist()
    [[0.0, 0.0], [1.0, 2.0], [4.0, 6.0]]
    """
    return _scan("cumsum", "cumulative_sum", x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    """The running product of ``x`` along ``axis`` (Array API 2024.12); the arguments as for cumulative_sum, the
    initial value being one.

    >>> import tensorswitch as ts
    >>> ts.cumulative_prod(ts.asarray([1, 2, 3, 4])).tolist()
    [1, 2, 6, 24]
    """
    return _scan("cumprod", "cumulative_prod", x, axis, dtype, include_initial)


def _scan(op, name, x, axis, dtype, include_initial):
    d.require_tensor(name, x)
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least one dimension (the Array API standard), got a 0-d tensor on "
                         f"{x.device}; use x.reshape((1,))")
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"{name}: axis is required for a tensor of {x.ndim} dimensions (shape {x.shape}); "
                             f"pass axis=0 ... axis={x.ndim - 1}, or flatten it first (x.reshape((-1,)))")
        axis = 0
    elif isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: axis must be an int, got {axis!r}")
    axis = normalize_axis(name, axis, x.ndim)
    if dtype is None:
        # as ts.sum: kernels/optable.py's sum_dtype
        dt = x.dtype if x.dtype.kind in ("float", "complex") else (_UINT64 if x.dtype.kind == "uint" else _INT64)
    else:
        dt = to_dtype(dtype)
    d.check_dtype(name, dt, x.device)
    if x.dtype is not dt:
        x = d.astype(x, dt)
    shape = x.shape
    if include_initial:
        shape = shape[:axis] + (shape[axis] + 1,) + shape[axis + 1:]
    out = d.empty(shape, dt, x.device)
    if include_initial:
        lead = (slice(None),) * axis
        identity = 1 if op == "cumprod" else 0
        d.run("fill", dt, out[lead + (slice(0, 1),)], bool(identity) if dt.kind == "bool" else identity)
        target = out[lead + (slice(1, None),)]
    else:
        target = out
    d.run(op, dt, target, x, axis)  # nothing runs for an empty target
    return out
