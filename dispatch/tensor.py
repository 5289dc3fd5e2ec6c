"""The tensor: device storage (a Buffer) plus shape, strides and offset, all in elements.  Views share the Buffer.

Methods that compute forward to ``dispatch/dispatcher.py`` and ``dispatch/functions.py``; this module only knows
about layout.
"""

import numpy as np

from . import errors

__all__ = ["Tensor", "make_tensor", "contiguous_strides"]


def contiguous_strides(shape):
    strides = []
    acc = 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n if n else 1
    return tuple(reversed(strides))


def _is_contiguous(shape, strides):
    acc = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 0:
            return True
        if n != 1 and s != acc:
            return False
        acc *= n
    return True


def make_tensor(buffer, offset, shape, strides, dtype, device, contiguous=None, size=None):
    t = Tensor.__new__(Tensor)
    t.buffer, t.offset, t.shape, t.strides, t.dtype, t.device = buffer, offset, shape, strides, dtype, device
    if size is None:
        size = 1
        for n in shape:
            size *= n
    t.size = size
    t.is_contiguous = _is_contiguous(shape, strides) if contiguous is None else contiguous
    return t


class Tensor:
    """An n-dimensional array on one device.  Create with ``ts.asarray``, ``ts.zeros`` and friends.

    Attributes (read-only by convention): ``shape``, ``dtype``, ``device``, ``size``, ``ndim``; for kernels,
    ``buffer`` (the device memory), ``offset`` and ``strides`` (in elements, like PyTorch; NumPy counts bytes) and
    ``is_contiguous``.

    >>> import tensorswitch as ts
    >>> x = ts.asarray([[1.0, 2.0], [3.0, 4.0]])
    >>> (x * 2 + 1).sum().item()
    24.0
    """

    __slots__ = ("buffer", "offset", "shape", "strides", "dtype", "device", "size", "is_contiguous", "__weakref__")
    __array_ufunc__ = None  # numpy_array + tensor calls Tensor.__radd__ instead of iterating

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with ts.asarray(...), ts.zeros(...) and the other creation functions")

    # -- basic properties ---------------------------------------------------------------------------------------

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def T(self):
        """The transpose (axes reversed, as in NumPy)."""
        return self.permute_dims(tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The transpose of the last two axes."""
        if self.ndim < 2:
            raise ValueError("mT needs at least two dimensions")
        axes = list(range(self.ndim))
        axes[-1], axes[-2] = axes[-2], axes[-1]
        return self.permute_dims(axes)

    def stride(self):
        """The strides in elements."""
        return self.strides

    def _view(self, offset, shape, strides):
        return make_tensor(self.buffer, offset, tuple(shape), tuple(strides), self.dtype, self.device)

    # -- views --------------------------------------------------------------------------------------------------

    def __getitem__(self, index):
        offset, shape, strides = self._index(index)
        return self._view(offset, shape, strides)

    def _index(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        n_ellipsis = sum(1 for i in index if i is Ellipsis)
        if n_ellipsis > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
        if consumed > self.ndim:
            raise IndexError(f"too many indices for a tensor of {self.ndim} dimensions: {consumed} were given")
        if n_ellipsis == 0:
            index = index + (Ellipsis,)
        offset, shape, strides, dim = self.offset, [], [], 0
        for item in index:
            if item is Ellipsis:
                for _ in range(self.ndim - consumed):
                    shape.append(self.shape[dim])
                    strides.append(self.strides[dim])
                    dim += 1
            elif item is None:
                shape.append(1)
                strides.append(0)
            elif isinstance(item, slice):
                start, stop, step = item.indices(self.shape[dim])
                if step == 0:
                    raise ValueError("slice step cannot be zero")
                shape.append(len(range(start, stop, step)))
                strides.append(self.strides[dim] * step)
                if shape[-1]:
                    offset += start * self.strides[dim]
                dim += 1
            elif isinstance(item, Tensor) or isinstance(item, (list, np.ndarray)):
                raise IndexError("indexing with tensors, lists or arrays (advanced indexing) is not supported yet; "
                                 "use integers, slices, None and ...")
            else:
                try:
                    i = item.__index__()
                except AttributeError:
                    raise IndexError(f"only integers, slices, None and ... are valid indices, got "
                                     f"{type(item).__name__}") from None
                n = self.shape[dim]
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {dim} with size {n}")
                offset += (i % n) * self.strides[dim]
                dim += 1
        return offset, shape, strides

    def __setitem__(self, index, value):
        from .dispatcher import copy_into

        copy_into(self[index], value)

    def reshape(self, *shape, copy=None):
        """A view with the new shape when the layout allows one, else a copy (``copy=False`` forbids copying).
        ``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both work."""
        from . import functions

        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return functions.reshape(self, shape, copy=copy)

    def permute_dims(self, axes):
        axes = tuple(a % self.ndim if self.ndim else a for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute_dims: {axes} is not a permutation of the {self.ndim} axes")
        return self._view(self.offset, [self.shape[a] for a in axes], [self.strides[a] for a in axes])

    def broadcast_to(self, shape):
        from .dispatcher import broadcast_shapes, expand

        shape = tuple(shape)
        if broadcast_shapes("broadcast_to", self.shape, shape) != shape:
            raise errors.ShapeError(f"broadcast_to: cannot broadcast shape {self.shape} to {shape}")
        return expand(self, shape)

    def squeeze(self, axis=None):
        if axis is None:
            axes = [i for i, n in enumerate(self.shape) if n == 1]
        else:
            from .dispatcher import normalize_axes

            axes = normalize_axes("squeeze", axis, self.ndim)
            for a in axes:
                if self.shape[a] != 1:
                    raise ValueError(f"squeeze: axis {a} has size {self.shape[a]}, not 1")
        keep = [i for i in range(self.ndim) if i not in axes]
        return self._view(self.offset, [self.shape[i] for i in keep], [self.strides[i] for i in keep])

    def expand_dims(self, axis=0):
        nd = self.ndim + 1
        if not -nd <= axis < nd:
            raise IndexError(f"expand_dims: axis {axis} is out of range for a result with {nd} dimensions")
        axis %= nd
        shape, strides = list(self.shape), list(self.strides)
        shape.insert(axis, 1)
        strides.insert(axis, 0)
        return self._view(self.offset, shape, strides)

    def flatten(self):
        return self.reshape((-1,))

    def contiguous(self):
        """This tensor if it is C-contiguous, else a C-contiguous copy."""
        from .dispatcher import contiguous

        return contiguous(self)

    # -- devices, dtypes and the host ---------------------------------------------------------------------------

    def to(self, device=None, dtype=None):
        """This tensor on ``device`` and/or as ``dtype`` (itself when nothing changes)."""
        from . import functions

        return functions.to(self, device, dtype)

    def to_device(self, device, /, *, stream=None):
        """The Array API spelling of ``to``."""
        return self.to(device)

    def astype(self, dtype, copy=True):
        from . import functions

        return functions.astype(self, dtype, copy=copy)

    def numpy(self):
        """A NumPy copy of the values."""
        from . import functions

        return functions.to_numpy(self)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has {self.size}")
        return self.numpy().reshape(()).item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in ("int", "uint"):
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.dtype.name}")
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.size} elements is ambiguous; "
                             f"use ts.any(x) or ts.all(x)")
        return bool(self.item())

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        values = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({values}, dtype={self.dtype.name}, device='{self.device}')"

    __str__ = __repr__

    def __reduce__(self):
        from . import functions

        return (functions.asarray, (self.numpy(), self.dtype.name, str(self.device)))

    __hash__ = object.__hash__


def _install_operators():
    """Python operators and methods, all forwarding to the dispatcher (one table, not thirty hand-written
    methods)."""
    from . import dispatcher as d

    inplace = d.binary_inplace

    def fwd(op):
        return d.BINARY[op]

    def rev(op):
        fn = d.BINARY[op]
        return lambda self, other: fn(other, self)

    def ip(op):
        return lambda self, other: inplace(op, self, other)

    for dunder, op in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
                       ("floordiv", "floor_divide"), ("mod", "remainder"), ("pow", "pow")):
        setattr(Tensor, f"__{dunder}__", fwd(op))
        setattr(Tensor, f"__r{dunder}__", rev(op))
        setattr(Tensor, f"__i{dunder}__", ip(op))
    for dunder, op in (("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"),
                       ("gt", "greater"), ("ge", "greater_equal")):
        setattr(Tensor, f"__{dunder}__", fwd(op))

    def logical(op):
        fn = d.BINARY[op]

        def method(self, other):
            if self.dtype.kind != "bool" or (isinstance(other, Tensor) and other.dtype.kind != "bool"):
                raise TypeError(f"bitwise operators are only supported on bool tensors (as {op})")
            return fn(self, other)
        return method

    Tensor.__and__ = Tensor.__rand__ = logical("logical_and")
    Tensor.__or__ = Tensor.__ror__ = logical("logical_or")

    def invert(self):
        if self.dtype.kind != "bool":
            raise TypeError("~ is only supported on bool tensors (as logical_not)")
        return d.unary("logical_not", self)

    Tensor.__invert__ = invert
    Tensor.__neg__ = d.UNARY["negative"]
    Tensor.__pos__ = d.UNARY["positive"]
    Tensor.__abs__ = d.UNARY["abs"]
    Tensor.__matmul__ = lambda self, other: d.matmul(self, other)
    Tensor.__rmatmul__ = lambda self, other: d.matmul(other, self)
