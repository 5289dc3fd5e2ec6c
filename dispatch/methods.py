"""Tensor methods beyond the Array API's own: the namespace's functions as methods, and PyTorch's habits where they do
not conflict with the standard (issue 8, section 2).

Note [PyTorch habits]
~~~~~~~~~~~~~~~~~~~~~
The standard wins every conflict; a habit is accepted only where its meaning is the same or the standard has nothing
to say:

* reductions take the axis positionally and as ``dim=``, and ``keepdim=`` for ``keepdims=`` (``x.sum(1)``,
  ``x.mean(dim=0, keepdim=True)``).  ``x.max(dim=1)`` returns the values only (PyTorch returns values and indices:
  use ``x.argmax(axis=1)`` for those), and ``x.var()``/``x.std()`` keep the standard's ``correction=0`` default
  (PyTorch's is 1).
* ``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)``, ``x.to(other_tensor)``; ``x.float()``, ``double()``,
  ``half()``, ``int()``, ``long()``, ``short()``, ``char()``, ``byte()``, ``bool()``; ``x.cpu()``, ``x.cuda(i)``.
* ``x.numel()``, ``x.dim()``, ``x.t()``, ``x.unsqueeze(d)``, ``x.view(*shape)`` (a view or an error, never a copy),
  ``x.permute(*dims)``, ``x.transpose(d0, d1)``, ``x.expand(*sizes)`` (read-only, as every broadcast view here),
  ``x.clamp(min, max)``, ``x.masked_fill(mask, v)``, ``x.fill_(v)``, ``x.zero_()``, ``x.add_(y, alpha=)`` and
  ``sub_``/``mul_``/``div_``, ``x.new_zeros(shape)`` and friends, ``x.cumsum(dim)``.
* every elementwise function of the namespace as a method (``x.exp()``, ``x.atan2(y)``) unless the name is taken.

``x.size`` stays the standard's attribute (an int), so PyTorch's ``x.size()`` is not available: use ``x.shape``.
"""

from . import dispatcher as d
from . import functions as F
from .dtypes import DType
from .tensor import Tensor

__all__ = []


def _reduction_method(fn):
    fast = getattr(fn, "fast", None)  # the reduction's own fast path (Note [Reduction fast path]): one frame less

    def method(self, axis=None, keepdims=False, *, dim=None, keepdim=None, **options):
        if fast is not None and dim is None and keepdim is None and not options and type(axis) is not list:
            return fast(self, axis, keepdims)
        if dim is not None:
            if axis is not None:
                raise TypeError(f"{fn.__name__}: pass axis or dim, not both")
            axis = dim
        if keepdim is not None:
            keepdims = keepdim
        if isinstance(axis, list):
            axis = tuple(axis)
        return fn(self, axis=axis, keepdims=keepdims, **options)

    method.__name__ = method.__qualname__ = fn.__name__
    method.__doc__ = (f"``ts.{fn.__name__}(self, axis=..., keepdims=...)``; the axis may be positional and is also "
                      f"spelled ``dim=`` (with ``keepdim=``), as in PyTorch (Note [PyTorch habits]).")
    return method


def _shape_args(op, args):
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
    """This tensor on another device and/or as another dtype (itself when nothing changes, unless ``copy=True``):
    ``x.to("opencl")``, ``x.to(ts.float64)``, ``x.to("cuda", ts.float16)``, ``x.to(other)`` (other's device and
    dtype), ``x.to(device=..., dtype=...)``."""
    if len(args) > 2:
        raise TypeError(f"to() takes at most a device and a dtype positionally, got {len(args)} arguments")
    for a in args:
        if a is None:  # x.to(device, None): nothing to change there
            continue
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif _is_dtype(a):
            if dtype is not None:
                raise TypeError("to(): the dtype is given twice")
            dtype = a
        else:
            if device is not None:
                raise TypeError("to(): the device is given twice")
            device = a
    out = F.to(self, device, dtype)
    if copy and out is self:
        out = F.astype(self, self.dtype, copy=True)
    return out


def _is_dtype(value):
    if isinstance(value, DType):
        return True
    if isinstance(value, str):
        from .dtypes import _BY_NAME

        return value in _BY_NAME
    if isinstance(value, type):
        return True  # float, int, bool, np.float32: device specs are never types
    try:
        import numpy as np

        return isinstance(value, np.dtype)
    except ImportError:  # pragma: no cover
        return False


def _t(self):
    """The transpose of a matrix (0-d and 1-d tensors come back as they are), as ``torch.Tensor.t``."""
    if self.ndim > 2:
        raise ValueError(f"t() expects a tensor of at most 2 dimensions, got {self.ndim}; use x.mT or "
                         f"x.permute_dims(...)")
    return self.permute_dims((1, 0)) if self.ndim == 2 else self


def _view(self, *shape):
    """A view with a new shape (``x.view(2, -1)``); raises where the layout needs a copy (use ``reshape``)."""
    if len(shape) == 1 and _is_dtype(shape[0]):
        raise TypeError("view(dtype) (reinterpreting the bytes) is not supported; use astype to convert values")
    return F.reshape(self, _shape_args("view", shape), copy=False)


def _transpose(self, dim0, dim1):
    """The view with axes ``dim0`` and ``dim1`` swapped."""
    from .shapes import normalize_axis

    a, b = normalize_axis("transpose", dim0, self.ndim), normalize_axis("transpose", dim1, self.ndim)
    axes = list(range(self.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return self.permute_dims(tuple(axes))


def _expand(self, *sizes):
    """A read-only broadcast view; -1 keeps a dimension's size (``torch.Tensor.expand``)."""
    sizes = _shape_args("expand", sizes)
    lead = len(sizes) - self.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor of {self.ndim} dimensions")
    shape = tuple(self.shape[i - lead] if (n == -1 and i >= lead) else n for i, n in enumerate(sizes))
    return self.broadcast_to(shape)


def _clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's and the standard's names
    """``ts.clip(self, min, max)``."""
    import tensorswitch as ts

    return ts.clip(self, min, max)


def _masked_fill(self, mask, value):
    """``value`` where ``mask`` is True, else this tensor's values (a new tensor)."""
    if not isinstance(value, Tensor):
        value = F.asarray(value, dtype=self.dtype, device=self.device)
    return F.where(mask, value, self)


def _fill_(self, value):
    """Write ``value`` into every element, in place; returns self."""
    self[...] = value
    return self


def _zero_(self):
    """Write zeros into every element, in place; returns self."""
    self[...] = 0
    return self


def _inplace(op):
    def method(self, other, *, alpha=1):
        if alpha != 1:
            other = other * alpha
        return d.binary_inplace(op, self, other)

    method.__name__ = f"{op}_"
    method.__doc__ = f"``self = {op}(self, alpha * other)`` in place; returns self."
    return method


def _new(creator):
    def method(self, *shape, fill_value=None, dtype=None, device=None):
        shape = _shape_args(creator.__name__, shape)
        kw = {"dtype": self.dtype if dtype is None else dtype, "device": self.device if device is None else device}
        if fill_value is not None:
            return creator(shape, fill_value, **kw)
        return creator(shape, **kw)

    method.__name__ = f"new_{creator.__name__}"
    method.__doc__ = f"``ts.{creator.__name__}`` with this tensor's dtype and device unless given."
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None):
    """``ts.full`` with this tensor's dtype and device unless given."""
    return F.full(_shape_args("new_full", (size,)), fill_value, dtype=self.dtype if dtype is None else dtype,
                  device=self.device if device is None else device)


def _cumsum(self, dim, *, dtype=None):
    """``ts.cumulative_sum(self, axis=dim, dtype=dtype)``."""
    import tensorswitch as ts

    return ts.cumulative_sum(self, axis=dim, dtype=dtype)


def _cumprod(self, dim, *, dtype=None):
    """``ts.cumulative_prod(self, axis=dim, dtype=dtype)``."""
    import tensorswitch as ts

    return ts.cumulative_prod(self, axis=dim, dtype=dtype)


def _cast(dtype_name):
    def method(self):
        return F.astype(self, dtype_name, copy=False)

    method.__name__ = dtype_name
    method.__doc__ = f"This tensor as {dtype_name} (itself if it already is)."
    return method


def _complex(self):
    """complex(x) of a one-element tensor (the Array API's ``__complex__``)."""
    if self.size != 1:
        raise TypeError(f"complex(): only a one-element tensor converts to a Python scalar, this one has shape "
                        f"{self.shape}")
    return complex(self.item())


def install(namespace):
    """Put the methods on Tensor; ``namespace`` is the public module, whose functions the methods call (so the ones
    autograd wraps are the ones that run)."""
    for name in ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean", "var", "std"):
        setattr(Tensor, name, _reduction_method(getattr(namespace, name)))
    for name in ("count_nonzero",):
        fn = getattr(namespace, name, None)
        if fn is not None:
            setattr(Tensor, name, _reduction_method(fn))
    Tensor.to = _to
    Tensor.__complex__ = _complex
    for method_name, dtype_name in (("float", "float32"), ("double", "float64"), ("half", "float16"),
                                    ("int", "int32"), ("long", "int64"), ("short", "int16"), ("char", "int8"),
                                    ("byte", "uint8"), ("bool", "bool")):
        setattr(Tensor, method_name, _cast(dtype_name))
    Tensor.cpu = lambda self: self.to("cpu")
    Tensor.cpu.__doc__ = "This tensor on the cpu (itself if it is there)."
    Tensor.cuda = lambda self, device=None: self.to("cuda" if device is None else f"cuda:{int(device)}")
    Tensor.cuda.__doc__ = "This tensor on a cuda device (the default one, or index ``device``)."
    Tensor.numel = lambda self: self.size
    Tensor.numel.__doc__ = "The number of elements (``x.size``)."
    Tensor.dim = lambda self: self.ndim
    Tensor.dim.__doc__ = "The number of dimensions (``x.ndim``)."
    Tensor.t = _t
    Tensor.unsqueeze = lambda self, dim: self.expand_dims(dim)
    Tensor.unsqueeze.__doc__ = "``x.expand_dims(dim)``: a view with a new axis of size 1."
    Tensor.view = _view
    Tensor.permute = lambda self, *dims: self.permute_dims(_shape_args("permute", dims))
    Tensor.permute.__doc__ = "``x.permute_dims(dims)``; the dims may be given one by one."
    Tensor.transpose = _transpose
    Tensor.swapaxes = _transpose
    Tensor.expand = _expand
    Tensor.clamp = Tensor.clip = _clamp
    Tensor.masked_fill = _masked_fill
    Tensor.fill_ = _fill_
    Tensor.zero_ = _zero_
    for op in ("add", "subtract", "multiply", "divide"):
        short = {"subtract": "sub", "multiply": "mul", "divide": "div"}.get(op, op)
        setattr(Tensor, f"{short}_", _inplace(op))
    Tensor.new_zeros = _new(F.zeros)
    Tensor.new_ones = _new(F.ones)
    Tensor.new_empty = _new(F.empty)
    Tensor.new_full = _new_full
    Tensor.cumsum = _cumsum
    Tensor.cumprod = _cumprod
    Tensor.flip = lambda self, axis=None, *, dims=None: namespace.flip(self, axis=dims if dims is not None else axis)
    Tensor.flip.__doc__ = "``ts.flip(self, axis=...)`` (also ``dims=``)."
    Tensor.roll = lambda self, shift, axis=None, *, dims=None: namespace.roll(
        self, shift, axis=dims if dims is not None else axis)
    Tensor.roll.__doc__ = "``ts.roll(self, shift, axis=...)`` (also ``dims=``)."
    Tensor.tril = lambda self, k=0, *, diagonal=None: namespace.tril(self, k=k if diagonal is None else diagonal)
    Tensor.triu = lambda self, k=0, *, diagonal=None: namespace.triu(self, k=k if diagonal is None else diagonal)
    for name, fn in F.ELEMENTWISE_FUNCTIONS.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, getattr(namespace, name, fn))
