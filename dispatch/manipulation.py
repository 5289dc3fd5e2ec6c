"""Manipulation functions of the Array API standard (2024.12) beyond the ones in ``functions.py`` (reshape,
permute_dims, broadcast_to, squeeze, expand_dims, concat, stack): flip, roll, moveaxis, repeat, tile, unstack,
meshgrid, tril, triu, diff.

Each is written in terms of views (a slice with a negative step, ``permute_dims``, ``broadcast_to``, ``reshape``) and
the dispatcher's ops (``concat``, ``where``, ``subtract``), never a kernel of its own.  So every function runs on every
backend and plugin that has those ops, and autograd differentiates it through the ops it is made of (Note [Autograd
dispatch]): nothing here records a graph node itself.  Views are returned where NumPy returns views (``flip``,
``moveaxis``, ``unstack``); the rest are new tensors.
"""

import builtins

import numpy as np

from . import dispatcher as d
from . import errors
from . import functions as F
from .shapes import MAX_NDIM, as_int, normalize_axes, normalize_axis
from .tensor import Tensor

__all__ = ["flip", "roll", "moveaxis", "repeat", "tile", "unstack", "meshgrid", "tril", "triu", "diff",
           "broadcast_shapes"]


def _axes(op, axis, ndim):
    """``axis`` (None for every axis, an int or a tuple of ints) as a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axes(op, axis, ndim)))


def flip(x, /, *, axis=None):
    """The elements of ``x`` in reverse order along ``axis`` (None: every axis), as a view (negative strides).

    >>> import tensorswitch as ts
    >>> ts.flip(ts.asarray([[1, 2], [3, 4]]), axis=1).tolist()
    [[2, 1], [4, 3]]
    """
    d.require_tensor("flip", x)
    axes = _axes("flip", axis, x.ndim)
    if not axes:
        return x[...]
    return x[tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))]


def roll(x, /, shift, *, axis=None):
    """``x`` with its elements shifted by ``shift`` along ``axis``; elements pushed past the end come back at the
    start.  ``axis=None`` rolls the flattened tensor and restores the shape.  ``shift`` and ``axis`` may be tuples of
    the same length (each shift applies to its axis; an axis named twice gets the sum).

    >>> import tensorswitch as ts
    >>> ts.roll(ts.arange(5), 2).tolist()
    [3, 4, 0, 1, 2]
    """
    d.require_tensor("roll", x)
    if axis is None:
        if isinstance(shift, tuple):
            raise ValueError("roll: with axis=None, shift must be an int (the flattened tensor rolls as one axis)")
        flat = F.reshape(x, (-1,))
        rolled = _roll_axis(flat, as_int(shift, "roll: shift"), 0)
        return F.reshape(rolled if rolled is not flat else F.astype(flat, x.dtype), x.shape)
    shifts = shift if isinstance(shift, tuple) else (shift,)
    axes = axis if isinstance(axis, tuple) else (axis,)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} must have the same length")
    total = {}
    for s, a in zip(shifts, axes):
        a = normalize_axis("roll", a, x.ndim)
        total[a] = total.get(a, 0) + as_int(s, "roll: shift")
    out = x
    for a, s in total.items():
        out = _roll_axis(out, s, a)
    return out if out is not x else F.astype(x, x.dtype)  # always a new tensor, as NumPy's roll


def _roll_axis(x, shift, axis):
    n = x.shape[axis]
    if n == 0 or shift % n == 0:
        return x
    k = shift % n
    head = (slice(None),) * axis
    return F.concat([x[head + (slice(n - k, None),)], x[head + (slice(0, n - k),)]], axis=axis)


def moveaxis(x, source, destination, /):
    """``x`` with the axes ``source`` moved to ``destination`` (ints or tuples of the same length); the other axes
    keep their order.  A view.

    >>> import tensorswitch as ts
    >>> ts.moveaxis(ts.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    d.require_tensor("moveaxis", x)
    src = tuple(normalize_axis("moveaxis", a, x.ndim) for a in (source if isinstance(source, tuple) else (source,)))
    dst = tuple(normalize_axis("moveaxis", a, x.ndim)
                for a in (destination if isinstance(destination, tuple) else (destination,)))
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: repeated axis in source {source!r} or destination {destination!r}")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must have the same length")
    order = [a for a in range(x.ndim) if a not in src]
    for s, t in sorted(zip(dst, src)):
        order.insert(s, t)
    return x.permute_dims(tuple(order))


def repeat(x, repeats, /, *, axis=None):
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (None: the flattened tensor).  ``repeats`` is
    an int, or a 1-D integer tensor with one count per element along the axis (or one count for all); counts must not
    be negative.  A tensor of counts is read on the host once (the result's size depends on it).

    >>> import tensorswitch as ts
    >>> ts.repeat(ts.asarray([1, 2, 3]), 2).tolist()
    [1, 1, 2, 2, 3, 3]
    """
    d.require_tensor("repeat", x)
    if axis is None:
        x, axis = F.reshape(x, (-1,)), 0
    else:
        axis = normalize_axis("repeat", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(repeats, Tensor):
        if repeats.dtype.kind not in ("int", "uint"):
            raise TypeError(f"repeat: repeats must be an int or an integer tensor, got a {repeats.dtype.name} tensor")
        if repeats.device is not x.device:
            raise errors.device_mismatch("repeat", (x.device, repeats.device))
        if repeats.ndim > 1:
            raise ValueError(f"repeat: repeats must be an int or a 1-D tensor, got shape {repeats.shape}")
        counts = repeats.numpy().reshape(-1).astype(np.int64)
        if counts.size == 1:
            counts = np.full(n, counts[0], dtype=np.int64)
        elif counts.size != n:
            raise ValueError(f"repeat: {counts.size} counts for an axis of size {n}; pass one count per element "
                             f"or a single count")
    else:
        r = as_int(repeats, "repeat: repeats")
        if r < 0:
            raise ValueError(f"repeat: repeats must not be negative, got {r}")
        # broadcast a new axis after ``axis`` and merge the two: a view plus one copy, no gather
        shape = list(x.shape)
        expanded = x.expand_dims(axis + 1).broadcast_to(tuple(shape[:axis + 1]) + (r,) + tuple(shape[axis + 1:]))
        shape[axis] = n * r
        return F.reshape(expanded, tuple(shape))
    if (counts < 0).any():
        raise ValueError("repeat: repeats must not be negative")
    # one gather along the axis: the source position of every output position, broadcast over the other axes
    from .nnops import take_along_axis

    source = np.repeat(np.arange(n, dtype=np.int64), counts)
    shape = [1] * x.ndim
    shape[axis] = source.size
    index = F.asarray(source.reshape(shape), device=x.device)
    if source.size == 0 or x.size == 0:
        out_shape = list(x.shape)
        out_shape[axis] = source.size
        return F.empty(tuple(out_shape), dtype=x.dtype, device=x.device)
    return take_along_axis(x, index, axis=axis)


def tile(x, repetitions, /):
    """``x`` repeated ``repetitions[i]`` times along each axis i (a tuple of non-negative ints; the shorter of
    ``x.shape`` and ``repetitions`` is padded with leading ones, as in NumPy).

    >>> import tensorswitch as ts
    >>> ts.tile(ts.asarray([1, 2]), (2, 2)).tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    d.require_tensor("tile", x)
    if not isinstance(repetitions, (tuple, list)):
        raise TypeError(f"tile: repetitions must be a tuple of ints, got {type(repetitions).__name__}")
    reps = tuple(as_int(r, "tile: repetitions") for r in repetitions)
    if builtins.any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must not be negative, got {reps}")
    nd = builtins.max(x.ndim, len(reps))
    shape = (1,) * (nd - x.ndim) + x.shape
    reps = (1,) * (nd - len(reps)) + reps
    y = F.reshape(x, shape)
    if 2 * nd > MAX_NDIM:  # the view below needs an extra axis per axis: join copies one axis at a time instead
        for axis, r in enumerate(reps):
            y = F.concat([y] * r, axis=axis) if r else y[(slice(None),) * axis + (slice(0, 0),)]
        return y if y is not x else F.astype(x, x.dtype)
    # (r0, s0, r1, s1, ...): a broadcast view, then one copy into the tiled shape
    interleaved = F.reshape(y, tuple(v for n in shape for v in (1, n)))
    big = interleaved.broadcast_to(tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return F.reshape(big, tuple(r * n for r, n in zip(reps, shape)), copy=True)


def unstack(x, /, *, axis=0):
    """The slices of ``x`` along ``axis``, as a tuple of views.

    >>> import tensorswitch as ts
    >>> [t.tolist() for t in ts.unstack(ts.asarray([[1, 2], [3, 4]]), axis=1)]
    [[1, 3], [2, 4]]
    """
    d.require_tensor("unstack", x)
    if x.ndim == 0:
        raise ValueError("unstack: a 0-d tensor has no axis to unstack along")
    axis = normalize_axis("unstack", axis, x.ndim)
    head = (slice(None),) * axis
    return tuple(x[head + (i,)] for i in range(x.shape[axis]))


def meshgrid(*arrays, indexing="xy"):
    """Coordinate grids from 1-D tensors (one per dimension), new tensors as NumPy's default ``copy=True`` gives.  ``indexing="xy"``
    (Cartesian, the default) swaps the first two output dimensions; ``"ij"`` is matrix indexing.

    >>> import tensorswitch as ts
    >>> X, Y = ts.meshgrid(ts.asarray([1, 2, 3]), ts.asarray([4, 5]))
    >>> X.shape, Y.tolist()
    ((2, 3), [[4, 4, 4], [5, 5, 5]])
    """
    if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)):
        arrays = tuple(arrays[0])
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    for a in arrays:
        d.require_tensor("meshgrid", a)
        if a.ndim != 1:
            raise ValueError(f"meshgrid: every input must be 1-D, got shape {a.shape}")
    if not arrays:
        return []
    first = arrays[0]
    for a in arrays[1:]:
        if a.device is not first.device:
            raise errors.device_mismatch("meshgrid", (first.device, a.device))
        if a.dtype is not first.dtype:
            raise TypeError(f"meshgrid: every input must have the same dtype, got {first.dtype.name} and "
                            f"{a.dtype.name}")
    sizes = [a.shape[0] for a in arrays]
    if indexing == "xy" and len(arrays) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, a in enumerate(arrays):
        pos = i
        if indexing == "xy" and len(arrays) > 1 and i < 2:
            pos = 1 - i
        shape = [1] * len(arrays)
        shape[pos] = a.shape[0]
        out.append(F.astype(F.reshape(a, tuple(shape)).broadcast_to(tuple(sizes)), a.dtype))
    return out


def _triangle(op, x, k, lower):
    d.require_tensor(op, x)
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have at least two dimensions, got shape {x.shape}")
    k = as_int(k, f"{op}: k")
    rows, cols = x.shape[-2:]
    r = F.reshape(F.arange(rows, device=x.device), (rows, 1))
    c = F.arange(cols, device=x.device)
    # keep j - i <= k (tril) or j - i >= k (triu); the mask broadcasts over the batch dims
    keep = (c - r <= k) if lower else (c - r >= k)
    return F.where(keep, x, F.zeros((), dtype=x.dtype, device=x.device))


def tril(x, /, *, k=0):
    """The lower triangle of each matrix of ``x`` (the last two axes): elements above the k-th diagonal are zero.

    >>> import tensorswitch as ts
    >>> ts.tril(ts.ones((3, 3), dtype=ts.int32)).tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    """
    return _triangle("tril", x, k, True)


def triu(x, /, *, k=0):
    """The upper triangle of each matrix of ``x``: elements below the k-th diagonal are zero.

    >>> import tensorswitch as ts
    >>> ts.triu(ts.ones((2, 3), dtype=ts.int32), k=1).tolist()
    [[0, 1, 1], [0, 0, 1]]
    """
    return _triangle("triu", x, k, False)


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    """The n-th discrete difference along ``axis``: ``out[i] = x[i + 1] - x[i]``, applied ``n`` times, after
    ``prepend`` and ``append`` (tensors of x's dtype kind, or scalars broadcast to one slice) are joined to x.  Booleans
    differ by ``!=`` (NumPy's rule); other dtypes subtract.

    >>> import tensorswitch as ts
    >>> ts.diff(ts.asarray([1, 4, 9, 16])).tolist()
    [3, 5, 7]
    """
    d.require_tensor("diff", x)
    if x.ndim == 0:
        raise ValueError("diff: x must have at least one dimension")
    axis = normalize_axis("diff", axis, x.ndim)
    n = as_int(n, "diff: n")
    if n < 0:
        raise ValueError(f"diff: n must not be negative, got {n}")
    parts = []
    for extra, where_ in ((prepend, "prepend"), (append, "append")):
        if extra is None:
            parts.append(None)
            continue
        if not isinstance(extra, Tensor):
            shape = list(x.shape)
            shape[axis] = 1
            extra = F.full(tuple(shape), extra, dtype=x.dtype, device=x.device)
        elif extra.device is not x.device:
            raise errors.device_mismatch("diff", (x.device, extra.device))
        elif extra.ndim == 0:
            shape = list(x.shape)
            shape[axis] = 1
            extra = extra.broadcast_to(tuple(shape))
        parts.append(extra)
    if parts[0] is not None or parts[1] is not None:
        x = F.concat([p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
    head = (slice(None),) * axis
    for _ in range(n):
        m = x.shape[axis]
        if m == 0:
            break
        hi, lo = x[head + (slice(1, None),)], x[head + (slice(0, m - 1),)]
        x = d.binary("not_equal", hi, lo) if x.dtype.kind == "bool" else hi - lo
    return x if n else F.astype(x, x.dtype)


def broadcast_shapes(*shapes):
    """The shape that ``shapes`` (tuples of ints) broadcast to, or a ShapeError saying which do not (the 2025.12
    standard's ``broadcast_shapes``; NumPy's).

    >>> import tensorswitch as ts
    >>> ts.broadcast_shapes((2, 1), (3,), ())
    (2, 3)
    """
    from .shapes import as_shape

    if not shapes:
        return ()
    return tuple(d.broadcast_shapes("broadcast_shapes", *(as_shape("broadcast_shapes", s) for s in shapes)))
