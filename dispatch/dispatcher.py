"""The per-call path: promote dtypes, check devices, broadcast, allocate, look up the kernel and run it.

Everything that can be decided once is decided at import or registration (the op table below, the registry's flat
``fast`` dict); a call is a few dict lookups and one kernel call.
"""

import logging
import os

from . import errors
from .dtypes import DTYPES, _PROMOTE, default_float, scalar_dtype
from .registry import log, registry
from .tensor import Tensor, contiguous_strides, make_tensor
from ..kernels import optable

_fast = registry.fast
_BOOL = DTYPES[0]
_INT64 = DTYPES[4]
_TRACE = os.environ.get("TENSORSWITCH_TRACE", "") not in ("", "0")
if _TRACE and not log.handlers:
    logging.basicConfig()
    log.setLevel(logging.DEBUG)


def set_trace(on):
    """Log every dispatch (op, device, dtype, kernel, shapes) to the ``tensorswitch.dispatch`` logger."""
    global _TRACE
    _TRACE = bool(on)
    if _TRACE:
        if not logging.getLogger().handlers and not log.handlers:
            logging.basicConfig()
        log.setLevel(logging.DEBUG)


# -- kernel lookup ------------------------------------------------------------------------------------------------

def kernel_for(op, device, dt):
    """The kernel for (op, device type, dtype), the CPU fallback if enabled, or the clear error."""
    k = _fast.get((op, device.type, dt))
    if k is not None:
        return k
    if dt not in device.supported_dtypes():
        raise errors.unsupported_dtype(op, device, dt, device.supported_dtypes())
    fallback = registry.fallback_for(device.type)
    if fallback is not None and (op, fallback, dt) in registry.fast:
        return _fallback_kernel(op, device, fallback, dt)
    raise registry.missing(op, device, dt)


def run(op, dt, out, *args):
    """Run the kernel of ``op`` for ``dt`` on ``out``'s device, unless ``out`` is empty."""
    device = out.device
    kernel = _fast.get((op, device.type, dt)) or kernel_for(op, device, dt)
    if _TRACE:
        log.debug("%s device=%s dtype=%s kernel=%s out=%s inputs=%s", op, device, dt.name,
                  getattr(kernel, "__qualname__", kernel), out.shape,
                  [a.shape if isinstance(a, Tensor) else a for a in args])
    if out.size:
        kernel(out, *args)
    return out


def _fallback_kernel(op, device, fallback, dt):
    from .device import device as get_device

    target = get_device(fallback)

    def fallback_kernel(out, *args):
        registry.warn_fallback(op, device.type, fallback)
        moved = [a.to(target) if isinstance(a, Tensor) else a for a in args]
        tmp = empty(out.shape, out.dtype, target)
        run(op, dt, tmp, *moved)
        copy_into(out, tmp.to(device))

    fallback_kernel.__qualname__ = f"cpu_fallback[{op}]"
    return fallback_kernel


# -- allocation -----------------------------------------------------------------------------------------------------

_layouts = {}  # shape -> (contiguous strides, size): training loops allocate the same few shapes over and over


_new_tensor = Tensor.__new__
_new_buffer = tuple.__new__  # see dispatch/backend.py: a Buffer is a tuple, made without a Python frame


def _fresh(shape, strides, size, dt, device):
    """A new contiguous tensor with the given layout: the one place tensors get new memory."""
    t = _new_tensor(Tensor)
    nbytes = size * dt.itemsize
    t.buffer = _new_buffer(device.buffer_type, (device.raw_allocate(nbytes, device.index), nbytes, device))
    t.offset = 0
    t.shape = shape
    t.strides = strides
    t.dtype = dt
    t.device = device
    t.size = size
    t.is_contiguous = True
    return t


def empty(shape, dt, device):
    """A new contiguous tensor (uninitialised)."""
    layout = _layouts.get(shape)
    if layout is None:
        if len(_layouts) > 8192:
            _layouts.clear()
        size = 1
        for s in shape:
            size *= s
        layout = _layouts[shape] = (contiguous_strides(shape), size)
    return _fresh(shape, layout[0], layout[1], dt, device)


def empty_like(x, dt):
    """A new contiguous tensor shaped like ``x``; a contiguous ``x`` lends its layout (no layout lookup)."""
    if x.is_contiguous:
        return _fresh(x.shape, x.strides, x.size, dt, x.device)
    return empty(x.shape, dt, x.device)


def check_dtype(op, dt, device):
    if dt not in device.supported_dtypes():
        raise errors.unsupported_dtype(op, device, dt, device.supported_dtypes())


# -- scalars --------------------------------------------------------------------------------------------------------

_scalar_cache = {}


def scalar_tensor(value, dt, device):
    """A 0-d tensor holding a Python scalar, cached: training loops reuse the same few constants."""
    key = (type(value), value, dt, device)
    t = _scalar_cache.get(key)
    if t is None:
        if len(_scalar_cache) > 4096:
            _scalar_cache.clear()
        t = empty((), dt, device)
        run("fill", dt, t, value)
        _scalar_cache[key] = t
    return t


_scalar_views = {}


def scalar_view(value, dt, device, shape):
    """``value`` broadcast to ``shape`` (stride 0), cached like ``scalar_tensor``."""
    key = (type(value), value, dt, device, shape)
    v = _scalar_views.get(key)
    if v is None:
        if len(_scalar_views) > 4096:
            _scalar_views.clear()
        v = _scalar_views[key] = expand(scalar_tensor(value, dt, device), shape)
    return v


# -- broadcasting ---------------------------------------------------------------------------------------------------

def broadcast_shapes(op, *shapes):
    ndim = max(len(s) for s in shapes)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != out[i]:
                if out[i] == 1:
                    out[i] = n
                elif n != 1:
                    raise errors.broadcast_error(op, shapes)
    return tuple(out)


def expand(x, shape):
    """``x`` viewed with ``shape`` (stride 0 along broadcast dims)."""
    if x.shape == shape:
        return x
    lead = len(shape) - len(x.shape)
    strides = [0] * lead
    for n, s, target in zip(x.shape, x.strides, shape[lead:]):
        strides.append(s if n == target else 0)
    return make_tensor(x.buffer, x.offset, shape, tuple(strides), x.dtype, x.device, False)


# -- elementwise ----------------------------------------------------------------------------------------------------

class _EW:
    __slots__ = ("name", "to_float", "bool_out")

    def __init__(self, op):
        self.name, self.to_float, self.bool_out = op.name, op.to_float, op.result == "bool"


_ELEMENTWISE = {name: _EW(op) for name, op in optable.ELEMENTWISE.items()}


def astype(x, dt, copy=True):
    """``x`` converted to ``dt`` on its device (a copy unless ``copy=False`` and nothing changes)."""
    if x.dtype is dt and not copy:
        return x
    check_dtype("astype", dt, x.device)
    out = empty(x.shape, dt, x.device)
    return run("astype", x.dtype, out, x)


def contiguous(x):
    return x if x.is_contiguous else astype(x, x.dtype)


def _unary_slow(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")
    info = _ELEMENTWISE[op]
    dt = x.dtype
    if info.to_float and dt.kind != "float":
        dt = default_float
        x = astype(x, dt)
    out = empty(x.shape, _BOOL if info.bool_out else dt, x.device)
    return run(op, dt, out, x)


def _make_unary(op):
    kernels = registry.by_op[op]  # kept in step with registration: no lookup of the op per call
    bool_out = _ELEMENTWISE[op].bool_out
    to_float = _ELEMENTWISE[op].to_float

    def unary_op(x):
        # the fast path: one dict lookup for the kernel, one allocation, one call (see STYLE: the hot path)
        if type(x) is Tensor and not _TRACE:
            dt = x.dtype
            device = x.device
            kernel = kernels.get((device.type, dt))
            if kernel is not None and (not to_float or dt.kind == "float"):
                out = empty_like(x, _BOOL if bool_out else dt)
                if out.size:
                    kernel(out, x)
                return out
        return _unary_slow(op, x)

    unary_op.__name__ = unary_op.__qualname__ = op
    return unary_op


def _make_binary(op):
    kernels = registry.by_op[op]
    bool_out = _ELEMENTWISE[op].bool_out
    to_float = _ELEMENTWISE[op].to_float

    def binary_op(a, b):
        if not _TRACE:
            if type(a) is Tensor:
                dt = a.dtype
                device = a.device
                if type(b) is not Tensor:
                    tb = type(b)
                    if not (tb is float and dt.kind == "float" or tb is int and dt.kind != "bool" and not to_float):
                        return _binary_slow(op, a, b)
                    b = scalar_view(b, dt, device, a.shape)  # a weak scalar that keeps a's dtype
                if b.dtype is dt and b.device is device and a.shape == b.shape:
                    kernel = kernels.get((device.type, dt))
                    if kernel is not None and (not to_float or dt.kind == "float"):
                        out = empty_like(a, _BOOL if bool_out else dt)
                        if out.size:
                            kernel(out, a, b)
                        return out
            elif type(b) is Tensor and (type(a) is float and b.dtype.kind == "float" or
                                        type(a) is int and b.dtype.kind != "bool" and not to_float):
                return binary_op(scalar_view(a, b.dtype, b.device, b.shape), b)
        return _binary_slow(op, a, b)

    binary_op.__name__ = binary_op.__qualname__ = op
    return binary_op


def _operands(op, a, b):
    """Promote two operands (tensors or Python scalars) to one dtype on one device."""
    if type(a) is Tensor or isinstance(a, Tensor):
        device = a.device
        if isinstance(b, Tensor):
            if b.device is not device:
                raise errors.device_mismatch(op, (device, b.device))
            dt = _PROMOTE[(a.dtype, b.dtype)]
        else:
            dt = scalar_dtype(b, a.dtype)
            b = scalar_tensor(b, dt, device)
    elif isinstance(b, Tensor):
        device = b.device
        dt = scalar_dtype(a, b.dtype)
        a = scalar_tensor(a, dt, device)
    else:
        raise TypeError(f"{op}: expected at least one tensor, got {type(a).__name__} and {type(b).__name__}")
    return a, b, dt, device


def _binary_slow(op, a, b):
    info = _ELEMENTWISE[op]
    a, b, dt, device = _operands(op, a, b)
    if info.to_float and dt.kind != "float":
        dt = default_float
    if a.dtype is not dt:
        a = astype(a, dt)
    if b.dtype is not dt:
        b = astype(b, dt)
    shape = a.shape
    if b.shape != shape:
        shape = broadcast_shapes(op, a.shape, b.shape)
        a = expand(a, shape)
        b = expand(b, shape)
    out = empty(shape, _BOOL if info.bool_out else dt, device)
    return run(op, dt, out, a, b)


#: the callable of every elementwise op: ts.add, Tensor.__add__ and friends are these very functions
UNARY = {name: _make_unary(name) for name, op in optable.ELEMENTWISE.items() if op.arity == 1}
BINARY = {name: _make_binary(name) for name, op in optable.ELEMENTWISE.items() if op.arity == 2}


def unary(op, x):
    return UNARY[op](x)


def binary(op, a, b):
    return BINARY[op](a, b)


def _overlaps(x, target):
    return x.buffer is target.buffer and (x.offset != target.offset or x.strides != target.strides)


def binary_inplace(op, target, other):
    """``target op= other``: writes into ``target``'s storage, casting like NumPy's same-kind rule."""
    info = _ELEMENTWISE[op]
    a, b, dt, device = _operands(op, target, other)
    if info.to_float and dt.kind != "float":
        dt = default_float
    result = _BOOL if info.bool_out else dt
    if result is not target.dtype and not _can_cast_inplace(result, target.dtype):
        raise TypeError(f"{op}: cannot write a {result.name} result into a {target.dtype.name} tensor in place; "
                        f"use the out-of-place form or .astype() first")
    if broadcast_shapes(op, target.shape, b.shape) != target.shape:
        raise errors.ShapeError(f"{op}: in-place result must keep shape {target.shape}, "
                                f"but {b.shape} broadcasts it to a larger shape")
    if _overlaps(b, target):
        b = astype(b, b.dtype)
    if result is target.dtype and a.dtype is dt:
        if b.dtype is not dt:
            b = astype(b, dt)
        return run(op, dt, target, a, expand(b, target.shape))
    copy_into(target, binary(op, a, b))
    return target


def _can_cast_inplace(src, dst):
    order = {"bool": 0, "uint": 1, "int": 1, "float": 2}
    return order[src.kind] <= order[dst.kind]


def copy_into(target, value):
    """Write ``value`` (tensor or scalar) into ``target`` (possibly a strided view), broadcasting and casting."""
    if not isinstance(value, Tensor):
        return run("fill", target.dtype, target, value)
    if value.device is not target.device:
        raise errors.device_mismatch("setitem", (target.device, value.device))
    if broadcast_shapes("setitem", target.shape, value.shape) != target.shape:
        raise errors.ShapeError(f"setitem: cannot broadcast a value of shape {value.shape} into {target.shape}")
    if _overlaps(value, target):
        value = astype(value, value.dtype)
    return run("astype", value.dtype, target, expand(value, target.shape))


def where(cond, a, b):
    if not isinstance(cond, Tensor):
        raise TypeError("where: the condition must be a tensor")
    a, b, dt, device = _operands("where", a, b)
    if cond.device is not device:
        raise errors.device_mismatch("where", (cond.device, device))
    if cond.dtype is not _BOOL:
        cond = astype(cond, _BOOL)
    if a.dtype is not dt:
        a = astype(a, dt)
    if b.dtype is not dt:
        b = astype(b, dt)
    shape = broadcast_shapes("where", cond.shape, a.shape, b.shape)
    out = empty(shape, dt, device)
    return run("where", dt, out, expand(cond, shape), expand(a, shape), expand(b, shape))


# -- reductions -----------------------------------------------------------------------------------------------------

def normalize_axes(op, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {a!r}")
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        a = a % max(ndim, 1)
        if a in out:
            raise ValueError(f"{op}: axis {a} is repeated")
        out.append(a)
    return tuple(sorted(out))


def _reduction_dtype(info, dt):
    if info.result == "bool":
        return _BOOL
    if info.result == "index":
        return _INT64
    if info.result == "sum" and dt.kind != "float":
        return _INT64
    return dt


def reduce(op, x, axis=None, keepdims=False):
    info = optable.REDUCTIONS[op]
    if x.ndim == 0:
        x = make_tensor(x.buffer, x.offset, (1,), (1,), x.dtype, x.device, True)
        axes, out_ndim0 = (0,), True
    else:
        axes, out_ndim0 = normalize_axes(op, axis, x.ndim), False
    rdt = _reduction_dtype(info, x.dtype)
    out_shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    extent = 1
    for a in axes:
        extent *= x.shape[a]
    out = empty(out_shape, rdt, x.device)
    if not axes:  # axis=(): nothing is reduced, only the result dtype changes
        if info.result == "index":
            raise ValueError(f"{op}: needs an axis to reduce")
        out = _ne_zero(x) if info.result == "bool" else astype(x, rdt)
    elif extent == 0:
        if info.init is None:
            raise ValueError(f"{op} of an empty reduction (shape {x.shape}, axes {axes}) has no identity; "
                             f"pass a non-empty tensor")
        run("fill", rdt, out, _py_scalar(info.init, rdt))
    else:
        run(op, x.dtype, out, x, axes)
    if keepdims and not out_ndim0:
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        out = make_tensor(out.buffer, out.offset, shape, contiguous_strides(shape), out.dtype, out.device, True)
    return out


def _ne_zero(x):
    return binary("not_equal", x, 0)


def _py_scalar(text, dt):
    v = float(text)
    return bool(v) if dt.kind == "bool" else (v if dt.kind == "float" else int(v))


# -- matmul and softmax ---------------------------------------------------------------------------------------------

def matmul(a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be tensors")
    if a.device is not b.device:
        raise errors.device_mismatch("matmul", (a.device, b.device))
    if a.ndim == 0 or b.ndim == 0:
        raise errors.ShapeError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and "
                                f"{b.shape}; use * for scalars")
    dt = _PROMOTE[(a.dtype, b.dtype)]
    if a.dtype is not dt:
        a = astype(a, dt)
    if b.dtype is not dt:
        b = astype(b, dt)
    a_vector, b_vector = a.ndim == 1, b.ndim == 1
    if a_vector:
        a = make_tensor(a.buffer, a.offset, (1, a.shape[0]), (0, a.strides[0]), dt, a.device, False)
    if b_vector:
        b = make_tensor(b.buffer, b.offset, (b.shape[0], 1), (b.strides[0], 0), dt, b.device, False)
    m, k = a.shape[-2:]
    k2, n = b.shape[-2:]
    if k != k2:
        raise errors.ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not match: the last dimension of the "
                                f"first ({k}) must equal the second-to-last of the second ({k2})")
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    a = expand(a, batch + (m, k))
    b = expand(b, batch + (k, n))
    out = empty(batch + (m, n), dt, a.device)
    if k == 0:
        run("fill", dt, out, 0)
    else:
        run("matmul", dt, out, a, b)
    if a_vector or b_vector:  # drop the dimensions that 1-D operands gained
        shape = batch + ((m,) if not a_vector else ()) + ((n,) if not b_vector else ())
        out = make_tensor(out.buffer, 0, shape, contiguous_strides(shape), dt, out.device, True)
    return out


def softmax_like(op, x, axis):
    if x.dtype.kind != "float":
        x = astype(x, default_float)
    if x.ndim == 0:
        raise ValueError(f"{op}: needs at least one dimension")
    if not -x.ndim <= axis < x.ndim:
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor with {x.ndim} dimensions")
    out = empty(x.shape, x.dtype, x.device)
    return run(op, x.dtype, out, x, axis % x.ndim)


def to_int(value, what):
    try:
        return int(value.__index__())
    except AttributeError:
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}") from None

