"""The tensor: device storage (a Buffer) plus shape, strides and offset, all in elements.  Views share the Buffer.

Methods that compute forward to ``dispatch/dispatcher.py`` and ``dispatch/functions.py``; this module only knows
about layout.
"""

import numpy as np

from . import errors
from .shapes import MAX_NDIM, as_shape, normalize_axes, normalize_axis

__all__ = ["Tensor", "GradTensor", "make_tensor", "contiguous_strides", "writable_check"]

#: The layout of a tensor: read-only to users (see Note [Read-only layout]).
LAYOUT = ("buffer", "offset", "shape", "strides", "dtype", "device", "size", "is_contiguous")


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
    """A tensor over ``buffer`` with the given layout (in elements): how the core and backends make views."""
    t = _new(_RawTensor)
    t.buffer, t.offset, t.shape, t.strides, t.dtype, t.device = buffer, offset, shape, strides, dtype, device
    if size is None:
        size = 1
        for n in shape:
            size *= n
    t.size = size
    t.is_contiguous = _is_contiguous(shape, strides) if contiguous is None else contiguous
    t.__class__ = Tensor
    return t


def writable_check(op, x):
    """Raise unless ``x`` may be written: broadcast views (from ``broadcast_to``, ``broadcast_arrays``) and every
    view of them are read-only, as in NumPy, since several of their elements are one element of memory.  A write
    that passes moves the buffer's version on (see Note [Version counter])."""
    if type(x) is not Tensor and isinstance(x, ReadOnlyTensor):
        raise errors.ReadOnlyError(
            f"{op}: cannot write into a read-only tensor (shape {x.shape}): a broadcast view or a view of one, "
            f"whose elements share memory, or memory imported read-only from another library. Write into the "
            f"tensor it was made from, or into a copy (ts.asarray(x, copy=True)).")
    x.buffer.version[0] += 1
    if 0 in x.strides:  # internal stride-0 layouts are never handed out writable either
        for n, s in zip(x.shape, x.strides):
            if s == 0 and n > 1:
                raise errors.ReadOnlyError(f"{op}: cannot write into a view whose elements share memory (shape "
                                           f"{x.shape}, strides {x.strides})")


def read_only(t):
    """``t`` marked read-only (a broadcast view): writes into it or into any view of it raise."""
    t.__class__ = ReadOnlyTensor
    return t


# Note [Version counter]
# ~~~~~~~~~~~~~~~~~~~~~~
# Autograd saves some tensors for the backward pass (``x`` for ``x * y``, the result for ``exp``).  An in-place write
# into one of them before ``backward()`` would silently give wrong gradients, so, as in PyTorch, every buffer has a
# version: ``buffer.version``, a one-element list made with the buffer.  Every in-place write goes through
# ``writable_check`` (binary ops in place, setitem, copies into views), which counts it up; a SavedTensor keeps the
# list and the version at save time, and the backward pass compares the two and raises, naming the op that saved
# the tensor.  Saving is then two reads and no bookkeeping to undo (no table of saved buffers, no finalizer), which
# is most of what recording ``x * y`` costs.  Views share their base's buffer, hence its version, as in PyTorch.


# Note [Read-only layout]
# ~~~~~~~~~~~~~~~~~~~~~~~
# Kernels trust a tensor's layout (buffer, offset, shape, strides, dtype, size): a user who wrote ``x.offset = 1 << 40``
# would make the next kernel read outside the buffer.  So ``Tensor.__setattr__`` refuses those names.  The core still
# needs to set them when it makes a tensor, and a Python-level ``__setattr__`` costs ~100 ns a call on the hot path:
# tensors are therefore made as a ``_RawTensor`` (the same slots, plain slot assignment) and then given the class
# ``Tensor``, which costs one assignment.  The cpu kernels also check bounds once per call.

class _RawTensor:
    # the autograd slots are set only on GradTensor objects (see Note [Autograd dispatch] in dispatch/autograd.py)
    __slots__ = LAYOUT + ("_requires_grad", "_grad", "_grad_fn", "_output_nr", "_hooks", "_acc", "__weakref__")


_new = object.__new__


class Tensor(_RawTensor):
    """An n-dimensional array on one device.  Create with ``ts.asarray``, ``ts.zeros`` and friends.

    Attributes (read-only): ``shape``, ``dtype``, ``device``, ``size``, ``ndim``; for kernels, ``buffer`` (the device
    memory), ``offset`` and ``strides`` (in elements, like PyTorch; NumPy counts bytes) and ``is_contiguous``.

    >>> import tensorswitch as ts
    >>> x = ts.asarray([[1.0, 2.0], [3.0, 4.0]])
    >>> (x * 2 + 1).sum().item()
    24.0
    """

    __slots__ = ()
    __array_ufunc__ = None  # numpy_array + tensor calls Tensor.__radd__ instead of iterating

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with ts.asarray(...), ts.zeros(...) and the other creation functions")

    def __setattr__(self, name, value):
        if name in LAYOUT:
            raise AttributeError(f"the tensor attribute {name!r} is read-only (see Note [Read-only layout]); make "
                                 f"views with indexing, reshape or permute_dims, and copies with astype or to()")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if name in LAYOUT:
            raise AttributeError(f"the tensor attribute {name!r} cannot be deleted")
        object.__delattr__(self, name)

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
        if type(self) is Tensor:  # the view made in place: no axis checks, no size to count (STYLE: the hot path)
            t = _new(_RawTensor)
            t.buffer, t.offset, t.dtype, t.device, t.size = self.buffer, self.offset, self.dtype, self.device, self.size
            shape = t.shape = self.shape[::-1]
            strides = t.strides = self.strides[::-1]
            if len(shape) < 2:
                t.is_contiguous = self.is_contiguous
            elif len(shape) == 2 and shape[0] > 1 and shape[1] > 1 and self.is_contiguous:
                t.is_contiguous = False  # a C-ordered matrix's transpose: no walk over the strides needed
            else:
                t.is_contiguous = _is_contiguous(shape, strides)
            t.__class__ = Tensor
            return t
        if isinstance(self, GradTensor):  # recorded as a permute_dims view
            return self.permute_dims(tuple(range(len(self.shape) - 1, -1, -1)))
        return self._view(self.offset, self.shape[::-1], self.strides[::-1])

    @property
    def mT(self):
        """The transpose of the last two axes."""
        shape = self.shape
        if len(shape) < 2:
            raise ValueError("mT needs at least two dimensions")
        if type(self) is not Tensor and isinstance(self, GradTensor):  # recorded as a permute_dims view
            axes = list(range(len(shape)))
            axes[-1], axes[-2] = axes[-2], axes[-1]
            return self.permute_dims(axes)
        st = self.strides  # the view directly: matmul's backward takes a few per layer
        return self._view(self.offset, shape[:-2] + (shape[-1], shape[-2]), st[:-2] + (st[-1], st[-2]))

    @property
    def real(self):
        """The real part as a view (NumPy's and PyTorch's ``x.real``): of a complex tensor, a view of its memory in
        the parts' dtype (writes go through); of a real tensor, the tensor itself.  ``ts.real(x)`` is the copy."""
        return self._part(0) if self.dtype.kind == "complex" else self

    @property
    def imag(self):
        """The imaginary part: of a complex tensor, a view as ``real`` is; of a real tensor, zeros (a new tensor)."""
        if self.dtype.kind == "complex":
            return self._part(1)
        from .functions import zeros_like

        return zeros_like(self)

    def _part(self, which):
        from .dtypes import REAL_OF

        t = make_tensor(self.buffer, 2 * self.offset + which, self.shape, tuple(2 * s for s in self.strides),
                        REAL_OF[self.dtype], self.device)
        if type(self) is not Tensor and isinstance(self, ReadOnlyTensor):
            t.__class__ = ReadOnlyTensor
        return t

    def stride(self):
        """The strides in elements."""
        return self.strides

    def _view(self, offset, shape, strides):
        t = make_tensor(self.buffer, offset, tuple(shape), tuple(strides), self.dtype, self.device)
        if type(self) is not Tensor and isinstance(self, ReadOnlyTensor):  # views of a read-only view stay read-only
            t.__class__ = ReadOnlyTensor
        return t

    # -- views --------------------------------------------------------------------------------------------------

    def __getitem__(self, index):
        layout = self._index(index)
        if layout is None:  # an array or bool index: a gathered copy (Note [Advanced indexing], dispatch/indexing.py)
            from .indexing import getitem

            return getitem(self, index)
        return self._view(*layout)

    def _index(self, index):
        """(offset, shape, strides) of the view ``self[index]`` for basic indexing (integers, slices, None, ...),
        or None when ``index`` holds an array or a bool: that is advanced indexing (dispatch/indexing.py)."""
        if not isinstance(index, tuple):
            index = (index,)
        for item in index:  # the common items first: one type test each
            if type(item) is int or type(item) is slice or item is None or item is Ellipsis:
                continue
            if isinstance(item, (list, tuple, bool, np.bool_)) or \
                    (isinstance(item, np.ndarray) and (item.ndim or item.dtype.kind not in "iu")) or \
                    (isinstance(item, Tensor) and (item.ndim or item.dtype.kind == "bool")):
                return None
        n_ellipsis = sum(1 for i in index if i is Ellipsis)
        if n_ellipsis > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
        if consumed > self.ndim:
            raise IndexError(f"too many indices for a tensor of {self.ndim} dimension{'s' if self.ndim != 1 else ''}: "
                             f"{consumed} were given")
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
                length = len(range(start, stop, step))
                shape.append(length)
                # a dim of one element is never stepped along: keep its stride small (a step of 2**64 would not
                # fit the kernels' 64-bit strides)
                strides.append(self.strides[dim] * step if length > 1 else self.strides[dim])
                if shape[-1]:
                    offset += start * self.strides[dim]
                dim += 1
            elif isinstance(item, Tensor) and item.ndim == 0 and item.dtype.kind in ("int", "uint"):
                i = int(item.item())
                n = self.shape[dim]
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of bounds for axis {dim} with size {n}")
                offset += (i % n) * self.strides[dim]
                dim += 1
            elif isinstance(item, Tensor):  # 0-d and neither integer nor bool
                raise IndexError(f"tensors used as indices must be of integer or boolean type, got "
                                 f"{item.dtype.name} on {item.device}; cast it first (index.astype(ts.int64))")
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
        if len(shape) > MAX_NDIM:
            raise IndexError(f"indexing would give {len(shape)} dimensions; tensors have at most {MAX_NDIM}")
        return offset, shape, strides

    def __setitem__(self, index, value):
        from .dispatcher import copy_into, is_operand

        layout = self._index(index)
        if layout is None:  # an array or bool index: the put kernel (Note [Advanced indexing], dispatch/indexing.py)
            from .indexing import setitem

            return setitem(self, index, value)
        target = self._view(*layout)
        if not is_operand(value):
            if isinstance(value, (list, tuple, np.ndarray)):  # x[:] = [1, 2, 3]: values of the target's dtype
                from .functions import asarray

                try:
                    value = asarray(value, dtype=self.dtype, device=self.device)
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"setitem: {exc}") from None
            else:
                raise TypeError(f"setitem: cannot store {type(value).__name__} in a tensor; pass a tensor, a "
                                f"number, a list or a NumPy array")
        copy_into(target, value)

    def reshape(self, *shape, copy=None):
        """A view with the new shape when the layout allows one, else a copy (``copy=False`` forbids copying).
        ``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` both work."""
        from . import functions

        if len(shape) == 1 and (shape[0] is None or not hasattr(shape[0], "__index__") or
                                getattr(shape[0], "ndim", 0) > 0):  # x.reshape((2, 3)), x.reshape(np.array(...))
            shape = shape[0]
        return functions.reshape(self, shape, copy=copy)

    def permute_dims(self, axes):
        if isinstance(axes, (tuple, list)):
            axes = tuple(normalize_axis("permute_dims", a, self.ndim) for a in axes)
        else:
            raise TypeError(f"permute_dims: axes must be a tuple of ints, got {type(axes).__name__}")
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"permute_dims: {axes} is not a permutation of the {self.ndim} axes")
        return self._view(self.offset, [self.shape[a] for a in axes], [self.strides[a] for a in axes])

    def broadcast_to(self, shape):
        """A read-only view with ``shape`` (stride 0 along broadcast dims; writing into it raises)."""
        from .dispatcher import broadcast_shapes, expand

        shape = as_shape("broadcast_to", shape)
        if len(shape) < self.ndim or broadcast_shapes("broadcast_to", self.shape, shape) != shape:
            raise errors.ShapeError(f"broadcast_to: cannot broadcast shape {self.shape} to {shape}")
        return read_only(self._view(self.offset, self.shape, self.strides) if shape == self.shape else
                         expand(self, shape))

    def squeeze(self, axis=None):
        if axis is None:
            axes = [i for i, n in enumerate(self.shape) if n == 1]
        else:
            axes = normalize_axes("squeeze", axis, self.ndim)
            for a in axes:
                if self.shape[a] != 1:
                    raise ValueError(f"squeeze: axis {a} has size {self.shape[a]}, not 1")
        keep = [i for i in range(self.ndim) if i not in axes]
        return self._view(self.offset, [self.shape[i] for i in keep], [self.strides[i] for i in keep])

    def expand_dims(self, axis=0):
        """A view with new axes of size 1 at ``axis`` (an int or a tuple: positions in the result, as NumPy)."""
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        nd = self.ndim + len(axes)
        if nd > MAX_NDIM:
            raise errors.ShapeError(f"expand_dims: tensors have at most {MAX_NDIM} dimensions")
        axes = normalize_axes("expand_dims", tuple(axes), nd)  # sorted; a repeated axis is a ValueError
        shape, strides = list(self.shape), list(self.strides)
        for a in axes:
            shape.insert(a, 1)
            strides.insert(a, 0)
        return self._view(self.offset, shape, strides)

    def flatten(self, start_dim=0, end_dim=-1):
        """The dims ``start_dim`` to ``end_dim`` (inclusive) merged into one, as ``torch.flatten``: a view when the
        layout allows one.  ``x.flatten()`` is 1-D; ``x.flatten(1)`` keeps the batch dim."""
        if self.ndim == 0:
            return self.reshape((1,))
        start = normalize_axis("flatten", start_dim, self.ndim)
        end = normalize_axis("flatten", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim ({start_dim}) must not come after end_dim ({end_dim})")
        merged = 1
        for n in self.shape[start:end + 1]:
            merged *= n
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

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
        """A NumPy copy of the values (``np.asarray(x)`` instead shares a cpu tensor's memory)."""
        from . import functions

        return functions.to_numpy(self)

    # -- interchange (dispatch/interop.py, Note [DLPack exchange]) --------------------------------------------------

    def __array__(self, dtype=None, copy=None):
        """NumPy 2's protocol: ``np.asarray(x)`` views a cpu tensor's memory (strides included); ``np.array(x)``
        copies; ``np.asarray(x, copy=False)`` raises ValueError where a copy is needed (another device, another
        dtype)."""
        from . import interop

        return interop.array(self, dtype, copy)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule of this tensor (the Array API standard's protocol): ``np.from_dlpack(x)``,
        ``torch.from_dlpack(x)`` and ``cupy.from_dlpack(x)`` share its memory."""
        from . import interop

        return interop.dlpack(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self):
        """(DLPack device type, device index): ``(1, 0)`` on cpu, ``(2, i)`` on cuda:i, ``(4, i)`` on opencl:i."""
        from . import interop

        return interop.dlpack_device(self)

    @property
    def __cuda_array_interface__(self):
        """The CUDA Array Interface (version 3) of a cuda tensor; AttributeError on other devices."""
        from . import interop

        return interop.cuda_array_interface(self)

    def __array_namespace__(self, /, *, api_version=None):
        """The module implementing the Array API standard for this tensor: ``tensorswitch``.  ``api_version`` is
        None or a version of the standard from "2021.12" to "2024.12"."""
        import sys

        if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12", "2024.12"):
            raise ValueError(f"__array_namespace__: tensorswitch implements the Array API standard 2024.12 (and "
                             f"the versions before it from 2021.12), not {api_version!r}")
        return sys.modules["tensorswitch"]

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has {self.size}")
        return self.numpy().reshape(()).item()

    def __float__(self):
        if self.size != 1:
            raise TypeError(f"float(): only a one-element tensor converts to a Python scalar, this one has shape "
                            f"{self.shape}")
        return float(self.item())

    def __int__(self):
        if self.size != 1:
            raise TypeError(f"int(): only a one-element tensor converts to a Python scalar, this one has shape "
                            f"{self.shape}")
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in ("int", "uint"):
            raise TypeError(f"only integer tensors can be used as an index, this one is {self.dtype.name}")
        if self.size != 1:
            raise TypeError(f"only a one-element integer tensor can be used as an int, this one has shape "
                            f"{self.shape}")
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
        shape = f", shape={self.shape}" if self.size == 0 else ""
        grad = ""
        if isinstance(self, GradTensor) and self._requires_grad:  # as PyTorch shows them
            grad = f", grad_fn={self._grad_fn!r}" if self._grad_fn is not None else ", requires_grad=True"
        return f"tensor({values}{shape}, dtype={self.dtype.name}, device='{self.device}'{grad})"

    __str__ = __repr__

    def __reduce__(self):
        from . import functions

        return (functions.asarray, (self.numpy(), self.dtype.name, str(self.device)))

    __hash__ = object.__hash__


class ReadOnlyTensor(Tensor):
    """A tensor that cannot be written: a broadcast view, or a view of one (see ``writable_check``)."""

    __slots__ = ()


class GradTensor(Tensor):
    """A tensor that autograd tracks: a leaf that requires grad, or the result of a recorded op.  Its own class keeps
    every ``type(x) is Tensor`` fast path free of autograd checks; its methods are installed by
    ``dispatch/autograd.py`` (see Note [Autograd dispatch])."""

    __slots__ = ()


class ReadOnlyGradTensor(GradTensor, ReadOnlyTensor):
    """A tracked broadcast view (``x.broadcast_to(shape)`` of a tensor that requires grad)."""

    __slots__ = ()


def _install_operators():
    """Python operators and methods, all forwarding to the dispatcher (one table, not thirty hand-written
    methods)."""
    from . import dispatcher as d

    def inplace(op, target, other):  # looked up per call: autograd wraps d.binary_inplace (Note [Autograd dispatch])
        return d.binary_inplace(op, target, other)

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
    for dunder, op in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")):
        setattr(Tensor, f"__{dunder}__", fwd(op))

    def equality(op):
        fn = d.BINARY[op]
        is_operand = d.is_operand

        def method(self, other):  # x == None, x == "a": not comparable, so Python's own answer (False, True)
            if is_operand(other) or isinstance(other, (list, tuple, np.ndarray)):
                return fn(self, other)  # arrays and lists: the error saying to convert them, never a quiet False
            return NotImplemented
        return method

    Tensor.__eq__ = equality("equal")
    Tensor.__ne__ = equality("not_equal")

    # & | ^ << >> ~ are the standard's bitwise functions (on bool, & | ^ ~ are logical and, or, xor and not).
    # Floats raise Python's TypeError for an operator that does not apply, naming the function and what it takes.
    def not_bitwise(value):
        if isinstance(value, Tensor):
            return value.dtype.kind not in ("bool", "int", "uint")
        return isinstance(value, (float, complex, np.floating, np.complexfloating))

    def bitwise_error(symbol, op, value):
        what = value.dtype.name if isinstance(value, Tensor) else f"a {type(value).__name__}"
        takes = "integer" if "shift" in op else "bool or integer"
        hint = "" if "shift" in op else (", or ts.logical_not(x != 0) for a mask" if op == "bitwise_invert" else
                                         ", or ts.logical_and/logical_or/logical_xor for truth values")
        return TypeError(f"{symbol}: {op} takes {takes} operands, got {what}; cast with .astype(ts.int32) first"
                         + hint)

    def bitwise(op, symbol, form):
        fn = d.BINARY[op]

        def method(self, other):
            if not_bitwise(self) or not_bitwise(other):
                raise bitwise_error(symbol, op, self if not_bitwise(self) else other)
            if form == "inplace":
                return inplace(op, self, other)
            return fn(other, self) if form == "reflected" else fn(self, other)
        return method

    for dunder, op, symbol in (("and", "bitwise_and", "&"), ("or", "bitwise_or", "|"), ("xor", "bitwise_xor", "^"),
                               ("lshift", "bitwise_left_shift", "<<"), ("rshift", "bitwise_right_shift", ">>")):
        setattr(Tensor, f"__{dunder}__", bitwise(op, symbol, "forward"))
        setattr(Tensor, f"__r{dunder}__", bitwise(op, symbol, "reflected"))
        setattr(Tensor, f"__i{dunder}__", bitwise(op, symbol + "=", "inplace"))

    def imatmul(self, other):  # a @= b: in place, when the product keeps a's shape (as in NumPy)
        product = d.matmul(self, other)
        if product.shape != self.shape:
            raise errors.ShapeError(f"matmul: in-place result must keep shape {self.shape}, got {product.shape}")
        d.copy_into(self, product)
        return self

    Tensor.__imatmul__ = imatmul

    from .dtypes import DType

    plain_astype, any_astype = d.plain_astype, Tensor.astype

    def astype(self, dtype, copy=True):
        if type(self) is Tensor and type(dtype) is DType:  # no autograd to record, no dtype name to parse
            return plain_astype(self, dtype, copy)
        return any_astype(self, dtype, copy)

    astype.__doc__ = any_astype.__doc__
    Tensor.astype = astype

    invert_op = d.UNARY["bitwise_invert"]

    def invert(self):
        if not_bitwise(self):
            raise bitwise_error("~", "bitwise_invert", self)
        return invert_op(self)

    Tensor.__invert__ = invert
    Tensor.__neg__ = d.UNARY["negative"]
    Tensor.__pos__ = d.UNARY["positive"]
    Tensor.__abs__ = d.UNARY["abs"]
    plain_matmul = d.plain_matmul

    def matmul_op(self, other):
        if type(self) is Tensor and type(other) is Tensor:  # nothing to record: skip autograd's wrapper
            return plain_matmul(self, other)
        return d.matmul(self, other)

    Tensor.__matmul__ = matmul_op
    Tensor.__rmatmul__ = lambda self, other: d.matmul(other, self)
