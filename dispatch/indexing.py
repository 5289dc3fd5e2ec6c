"""Integer-array and boolean-mask indexing (NumPy semantics) for ``Tensor.__getitem__``/``__setitem__``, and take.

Note [Advanced indexing]
~~~~~~~~~~~~~~~~~~~~~~~~
An index holding an array (a tensor, list or NumPy array of integers or bools) or a bool scalar is *advanced*, and
``x[index]`` is then a copy with NumPy's rules (basic indexing, integers, slices, None and ..., stays a view: see
``Tensor._index``):

- integer arrays broadcast together to one shape B; once the index holds an array, its integer scalars are arrays
  too (0-d ones), so ``x[0, :, [1, 2]]`` of a (2, 3, 4) tensor has shape (2, 3), as in NumPy;
- a bool array of k dimensions indexes k dimensions of x, whose extents it must have, and stands for the k integer
  arrays of its nonzero() coordinates; a 0-d bool (``True``, a 0-d bool tensor) indexes a new dimension of extent 1
  with ``[0]`` when true and ``[]`` when false;
- slices, None and ... do on the other dimensions what they do in basic indexing;
- the dimensions of B replace the indexed ones where the first array stood when all arrays sit next to each other in
  the index (an ellipsis, a None or a slice between two of them separates them), and come first otherwise;
- negative indices count from the end; an index outside [-n, n) raises IndexError naming the op, the device, the
  axis, its extent and the range of the index values.

The copy is one ``gather`` kernel (Note [Kernel contract]): x viewed over the result's shape, with stride 0 along B,
plus each index array broadcast to that shape and the stride it steps along in x.  ``x[index] = value`` is the same
layout written by the ``put`` kernel, ``value`` (a scalar, tensor, list or NumPy array) cast to x's dtype and
broadcast to the indexed shape; where an index repeats a position, cpu writes in C order (the last value wins, as in
NumPy) and parallel devices any one of them (as NumPy's and PyTorch's documentation allow).  ``x[mask] = scalar``
with a mask of x's full or leading shape is a ``where`` instead: no host sync.

Index tensors must be on the indexed tensor's device (DeviceMismatchError otherwise: tensorswitch never moves data
implicitly).  Lists and NumPy arrays are host data the user typed: they are checked on the host and moved.  The bounds
of device index tensors are checked on the device by min/max reductions, read back in one transfer; a mask costs one
host sync (nonzero's count).
"""

import numpy as np

from . import dispatcher as d
from . import errors
from .dtypes import DTYPES
from .shapes import MAX_NDIM, normalize_axis
from .tensor import Tensor, make_tensor, writable_check

__all__ = ["take"]

_BOOL, _INT64 = DTYPES[0], DTYPES[4]


def is_advanced(index):
    """True when ``index`` (an item or a tuple of items) holds an array or a bool: see Note [Advanced indexing]."""
    for item in index if isinstance(index, tuple) else (index,):
        if isinstance(item, (list, tuple, bool, np.bool_)):
            return True
        if isinstance(item, np.ndarray) and (item.ndim or item.dtype.kind not in "iu"):
            return True
        if isinstance(item, Tensor) and (item.ndim or item.dtype is _BOOL):
            return True
    return False


# -- parsing ------------------------------------------------------------------------------------------------------

class _Layout:
    """What gather and put need: x viewed over the result's ``shape`` (``offset``, ``strides``), and per index array
    its tensor over that shape with the extent and stride of the dimension of x it steps along."""

    __slots__ = ("offset", "shape", "strides", "indices", "sizes", "steps")


def _host_indices(op, item):
    """A list, tuple or NumPy array index as a NumPy array of int64 or bool."""
    try:
        a = np.asarray(item)
    except (ValueError, TypeError) as exc:
        raise IndexError(f"{op}: cannot use {type(item).__name__} {_short(item)} as an index ({exc})") from None
    if a.dtype == np.bool_:
        return a
    if a.dtype.kind in "iu":
        if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
            raise IndexError(f"{op}: index {int(a.max())} does not fit in int64")
        return a.astype(np.int64, copy=False)
    if a.size == 0:  # [] is float64 to NumPy; as an index it is an empty integer array
        return a.astype(np.int64)
    raise IndexError(f"{op}: arrays used as indices must be of integer or boolean type, got {a.dtype} "
                     f"({_short(item)})")


def _short(item):
    text = repr(item)
    return text if len(text) <= 60 else text[:57] + "..."


def _tensor_index(op, x, item):
    if item.device is not x.device:
        raise errors.DeviceMismatchError(
            f"{op}: the index tensor is on {item.device} but the indexed tensor is on {x.device}; index tensors must "
            f"be on the indexed tensor's device. Move it first: index.to({str(x.device)!r}) (lists and NumPy arrays "
            f"are moved for you)")
    if item.dtype.kind not in ("int", "uint", "bool"):
        raise IndexError(f"{op}: tensors used as indices must be of integer or boolean type, got {item.dtype.name} on "
                         f"{item.device}; cast it first (index.astype(ts.int64))")
    return item


def _classify(op, x, index):
    """The index items as (kind, value): slice, none, ellipsis, int (a Python int), array (an int64 NumPy array or an
    integer tensor), mask (a bool NumPy array or tensor of >= 1 dims), bool (a 0-d bool)."""
    out = []
    for item in index if isinstance(index, tuple) else (index,):
        if item is None:
            out.append(("none", None))
        elif item is Ellipsis:
            out.append(("ellipsis", None))
        elif isinstance(item, slice):
            out.append(("slice", item))
        elif isinstance(item, (bool, np.bool_)):
            out.append(("bool", bool(item)))
        elif isinstance(item, Tensor):
            t = _tensor_index(op, x, item)
            if t.dtype is _BOOL:
                out.append(("mask", t) if t.ndim else ("bool", bool(t.item())))
            elif t.ndim == 0:
                out.append(("int", int(t.item())))
            else:
                out.append(("array", t))
        elif isinstance(item, (list, tuple, np.ndarray)):
            a = _host_indices(op, item)
            if a.dtype == np.bool_:
                out.append(("mask", a) if a.ndim else ("bool", bool(a)))
            else:
                out.append(("array", a))
        else:
            try:
                out.append(("int", item.__index__()))
            except (AttributeError, TypeError):
                raise IndexError(f"{op}: only integers, slices, None, ..., and integer or boolean arrays are valid "
                                 f"indices, got {type(item).__name__}") from None
    return out


def _consumed(kind, value):
    if kind in ("slice", "int", "array"):
        return 1
    if kind == "mask":
        return value.ndim
    return 0


def _bounds_error(op, x, axis, size, lo, hi):
    bad = lo if lo < -size else hi
    valid = f"valid: {-size} to {size - 1}" if size else "the axis is empty"
    return IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {size} on {x.device} (the index "
                      f"values range from {lo} to {hi}; {valid})")


def _mask_coordinates(op, x, dim, mask):
    """The integer arrays a bool mask stands for, after checking its shape against the dims it indexes."""
    for k, m in enumerate(mask.shape):
        n = x.shape[dim + k]
        if m != n and m != 0:  # a mask dim of size 0 selects nothing from any dim (the Array API's rule)
            raise IndexError(f"{op}: boolean index did not match indexed array along axis {dim + k}; size of axis is "
                             f"{n} but size of corresponding boolean axis is {m} (it must be {n} or 0)")
    if isinstance(mask, np.ndarray):
        return list(np.nonzero(mask))
    from .searching import nonzero

    return list(nonzero(mask))


def layout(op, x, index):
    """The gather/put layout of ``x[index]`` for an advanced ``index`` (Note [Advanced indexing])."""
    items = _classify(op, x, index)
    if sum(1 for kind, _ in items if kind == "ellipsis") > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    consumed = sum(_consumed(kind, value) for kind, value in items)
    if consumed > x.ndim:
        raise IndexError(f"{op}: too many indices for a tensor of {x.ndim} dimension{'s' if x.ndim != 1 else ''}: "
                         f"{consumed} were given")
    if not any(kind == "ellipsis" for kind, _ in items):
        items.append(("ellipsis", None))

    offset, vshape, vstrides, dim = x.offset, [], [], 0
    arrays = []  # (position in the index, view dim, values, the axis of x it indexes or None)
    in_range = set()  # ids of a mask's coordinates: within their axes by construction, no check needed
    for pos, (kind, value) in enumerate(items):
        if kind == "ellipsis":
            for _ in range(x.ndim - consumed):
                vshape.append(x.shape[dim])
                vstrides.append(x.strides[dim])
                dim += 1
        elif kind == "none":
            vshape.append(1)
            vstrides.append(0)
        elif kind == "slice":
            start, stop, step = value.indices(x.shape[dim])
            if step == 0:
                raise ValueError(f"{op}: slice step cannot be zero")
            length = len(range(start, stop, step))
            vshape.append(length)
            vstrides.append(x.strides[dim] * step if length > 1 else x.strides[dim])
            if length:
                offset += start * x.strides[dim]
            dim += 1
        elif kind == "bool":  # a new dim of extent 1, indexed by [0] or []
            arrays.append((pos, len(vshape), np.zeros(1 if value else 0, np.int64), None))
            vshape.append(1)
            vstrides.append(0)
        else:
            if kind == "int":
                values = [np.array(value, np.int64)]
            elif kind == "array":
                values = [value]
            else:
                values = _mask_coordinates(op, x, dim, value)
                in_range.update(id(v) for v in values)
            for v in values:
                arrays.append((pos, len(vshape), v, dim))
                vshape.append(x.shape[dim])
                vstrides.append(x.strides[dim])
                dim += 1
    return _gather_layout(op, x, offset, vshape, vstrides, arrays, in_range)


def _gather_layout(op, x, offset, vshape, vstrides, arrays, in_range):
    device = x.device
    # bounds: host arrays on the host; device tensors by two reductions each, read back in one transfer
    on_device = []
    for _, vdim, v, axis in arrays:
        if not v.size or id(v) in in_range:
            continue
        size = vshape[vdim]
        if isinstance(v, np.ndarray):
            lo, hi = int(v.min()), int(v.max())
            if lo < -size or hi >= size:
                raise _bounds_error(op, x, axis, size, lo, hi)
        else:
            on_device.append((v, size, axis))
    if on_device:
        _check_on_device(op, x, on_device)
    tensors = []
    for _, vdim, v, _ in arrays:
        if isinstance(v, np.ndarray):
            from .functions import from_numpy

            d.check_dtype(op, _INT64, device)
            v = from_numpy(np.ascontiguousarray(v, np.int64), _INT64, device)
        elif v.dtype is not _INT64:
            v = d.astype(v, _INT64)
        tensors.append(v)
    try:
        batch = d.broadcast_shapes(op, *(t.shape for t in tensors))
    except errors.ShapeError:
        raise IndexError(f"{op}: shape mismatch: indexing arrays could not be broadcast together with shapes "
                         f"{' '.join(str(t.shape) for t in tensors)}") from None
    positions = sorted({pos for pos, _, _, _ in arrays})
    adjacent = positions[-1] - positions[0] + 1 == len(positions)
    advanced = {vdim for _, vdim, _, _ in arrays}
    others = [i for i in range(len(vshape)) if i not in advanced]
    at = sum(1 for i in others if i < min(advanced)) if adjacent else 0
    before, after = others[:at], others[at:]
    shape = tuple([vshape[i] for i in before] + list(batch) + [vshape[i] for i in after])
    if len(shape) > MAX_NDIM:
        raise IndexError(f"{op}: indexing would give {len(shape)} dimensions; tensors have at most {MAX_NDIM}")
    lay = _Layout()
    lay.offset = offset
    lay.shape = shape
    lay.strides = tuple([vstrides[i] for i in before] + [0] * len(batch) + [vstrides[i] for i in after])
    lay.indices = []
    for t in tensors:
        e = d.expand(t, batch)
        strides = (0,) * len(before) + e.strides + (0,) * len(after)
        lay.indices.append(make_tensor(t.buffer, t.offset, shape, strides, _INT64, device, False))
    lay.sizes = tuple(vshape[vdim] for _, vdim, _, _ in arrays)
    lay.steps = tuple(vstrides[vdim] for _, vdim, _, _ in arrays)
    return lay


def _check_on_device(op, x, entries):
    from .functions import stack

    parts = []
    for t, _, _ in entries:
        t = t if t.dtype is _INT64 else d.astype(t, _INT64)
        parts += [d.reduce("min", t), d.reduce("max", t)]
    ranges = stack(parts).numpy()  # one transfer for every index tensor
    for k, (_, size, axis) in enumerate(entries):
        lo, hi = int(ranges[2 * k]), int(ranges[2 * k + 1])
        if lo < -size or hi >= size:
            raise _bounds_error(op, x, axis, size, lo, hi)


# -- getitem, setitem, take ---------------------------------------------------------------------------------------

def getitem(x, index):
    """``x[index]`` for an advanced ``index``: a new tensor (Note [Advanced indexing])."""
    lay = layout("getitem", x, index)
    out = d.empty(lay.shape, x.dtype, x.device)
    view = make_tensor(x.buffer, lay.offset, lay.shape, lay.strides, x.dtype, x.device, False)
    return d.run("gather", x.dtype, out, view, lay.indices, lay.sizes, lay.steps)


def setitem(x, index, value):
    """``x[index] = value`` for an advanced ``index`` (Note [Advanced indexing])."""
    writable_check("setitem", x)
    if not isinstance(value, Tensor) and not d.is_operand(value):
        if not isinstance(value, (list, tuple, np.ndarray)):
            raise TypeError(f"setitem: cannot store {type(value).__name__} in a tensor; pass a tensor, a number, a "
                            f"list or a NumPy array")
        from .functions import asarray

        try:
            value = asarray(value, dtype=x.dtype, device=x.device)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"setitem: {exc}") from None
    if isinstance(value, Tensor) and value.device is not x.device:
        raise errors.device_mismatch("setitem", (x.device, value.device))
    if _masked_fill(x, index, value):
        return
    lay = layout("setitem", x, index)
    if isinstance(value, Tensor):
        if value.dtype is not x.dtype:
            value = d.astype(value, x.dtype)  # NumPy casts the value to the target's dtype
        elif value.buffer is x.buffer:
            value = d.astype(value, value.dtype)  # the writes must not change what is still to be read
        vshape = value.shape
        while len(vshape) > len(lay.shape) and vshape[0] == 1:  # NumPy drops leading 1s of a value with more dims
            vshape = vshape[1:]
        value = make_tensor(value.buffer, value.offset, vshape, value.strides[value.ndim - len(vshape):],
                            value.dtype, value.device) if vshape != value.shape else value
        try:
            fits = len(vshape) <= len(lay.shape) and d.broadcast_shapes("setitem", lay.shape, vshape) == lay.shape
        except errors.ShapeError:
            fits = False
        if not fits:
            raise errors.ShapeError(f"setitem: cannot broadcast a value of shape {value.shape} to the indexed shape "
                                    f"{lay.shape}")
        values = d.expand(value, lay.shape)
    else:
        values = d.expand(d.scalar_tensor(d.fill_value("setitem", value, x.dtype), x.dtype, x.device), lay.shape)
    target = make_tensor(x.buffer, lay.offset, lay.shape, lay.strides, x.dtype, x.device, False)
    d.run("put", x.dtype, target, lay.indices, lay.sizes, lay.steps, values)


def _masked_fill(x, index, value):
    """``x[mask] = scalar`` (or ``x[mask, ...]``) for a bool tensor or array of x's full or leading shape: a where on
    the device, with no host sync for nonzero's count.  True when it did the write."""
    items = index if isinstance(index, tuple) else (index,)
    if len(items) == 2 and items[1] is Ellipsis:
        items = items[:1]
    if len(items) != 1 or (isinstance(value, Tensor) and value.ndim):
        return False
    mask = items[0]
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
        from .functions import from_numpy

        mask = from_numpy(np.ascontiguousarray(mask), _BOOL, x.device)
    if not isinstance(mask, Tensor) or mask.dtype is not _BOOL or not mask.ndim or mask.device is not x.device \
            or mask.shape != x.shape[:mask.ndim] or x.size == 0:
        return False
    if not isinstance(value, Tensor):
        value = d.scalar_tensor(d.fill_value("setitem", value, x.dtype), x.dtype, x.device)
    elif value.dtype is not x.dtype:
        value = d.astype(value, x.dtype)
    full = make_tensor(mask.buffer, mask.offset, mask.shape + (1,) * (x.ndim - mask.ndim),
                       mask.strides + (0,) * (x.ndim - mask.ndim), _BOOL, x.device, False)
    d.copy_into(x, d.where(d.expand(full, x.shape), value, x))
    return True


def take(x, indices, /, *, axis=None):
    """The elements of ``x`` at ``indices`` along ``axis`` (Array API): ``x[..., indices, ...]`` with the index at
    ``axis``.  ``axis`` may be omitted for a 1-D ``x``; with more dimensions, None takes from the flattened tensor
    (NumPy's habit).  ``indices`` is an integer tensor on x's device (or a list / NumPy array); negative ones count
    from the end.

    >>> import tensorswitch as ts
    >>> ts.take(ts.asarray([[1, 2, 3], [4, 5, 6]]), ts.asarray([2, 0]), axis=1).tolist()
    [[3, 1], [6, 4]]
    """
    d.require_tensor("take", x)
    if isinstance(indices, Tensor):
        _tensor_index("take", x, indices)
        if indices.dtype is _BOOL:
            raise IndexError(f"take: indices must have an integer dtype, got bool on {indices.device}; use x[mask] "
                             f"for boolean masks")
    elif isinstance(indices, (list, tuple, np.ndarray)):
        indices = _host_indices("take", indices)
        if indices.dtype == np.bool_:
            raise IndexError("take: indices must be integers, got booleans; use x[mask] for boolean masks")
    else:
        raise TypeError(f"take: indices must be an integer tensor, a list or a NumPy array, got "
                        f"{type(indices).__name__}")
    if axis is None:
        if x.ndim != 1:
            from .functions import reshape

            x = reshape(x, (-1,))
        axis = 0
    if x.ndim == 0:
        raise ValueError("take: x must have at least one dimension, got a 0-d tensor")
    axis = normalize_axis("take", axis, x.ndim)
    if indices.ndim == 0:  # one position: still a copy, as take's results are
        return x[(slice(None),) * axis + (indices.reshape((1,)),)].squeeze(axis)
    return x[(slice(None),) * axis + (indices,)]  # through __getitem__, so that autograd records it
