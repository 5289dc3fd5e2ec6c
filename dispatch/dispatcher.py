"""The per-call path: promote dtypes, check devices, broadcast, allocate, look up the kernel and run it.

Everything that can be decided once is decided at import or registration (the op table below, the registry's flat
``fast`` dict); a call is a few dict lookups and one kernel call.
"""

import logging
import math
import os
import re
import struct

import numpy as np

from . import errors
from .device import call_hook
from .dtypes import DTYPES, INT_RANGE, REAL_OF, WEAK, _PROMOTE, default_float, default_int, scalar_dtype
from .registry import BUILTIN_CPU_BINARY as _CPU_BINARY, BUILTIN_CPU_MATMUL as _CPU_MATMUL
from .registry import BUILTIN_CPU_REDUCE as _CPU_REDUCE
from .registry import LAUNCHED_BINARY as _LAUNCHED_BINARY, log, registry
from .shapes import MAX_NDIM, normalize_axes, normalize_axis  # noqa: F401  (normalize_axes: re-exported)
from .tensor import GradTensor, Tensor, _RawTensor, contiguous_strides, make_tensor, writable_check
from ..kernels import optable

_fast = registry.fast
_BOOL = DTYPES[0]
_INT64 = DTYPES[4]
_UINT64 = DTYPES[11]
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
        try:
            kernel(out, *args)
        except errors.TensorSwitchError:
            raise
        except MemoryError as exc:  # a kernel's own temporaries (a plugin's NumPy arrays, a device's scratch)
            raise errors.out_of_memory(device, out.nbytes, f"{op} on shape {out.shape}, {dt.name}: the kernel's "
                                       f"working memory", None, str(exc) or "MemoryError") from None
    return out


def _fallback_kernel(op, device, fallback, dt):
    from .device import device as get_device

    target = get_device(fallback)

    def fallback_kernel(out, *args):
        # Data moves with the backends' copy hooks only (never with a kernel of ``device``, which may be missing
        # too: a backend with no kernels at all works this way).
        registry.warn_fallback(op, device.type, fallback)
        moved = [mirror(a, target) if isinstance(a, Tensor) else a for a in args]
        if out.is_contiguous:
            tmp = empty(out.shape, out.dtype, target)
            run(op, dt, tmp, *moved)
            _copy_span(tmp, 0, tmp.size, out.buffer, out.offset)
        else:  # a strided view: compute into a mirror of the memory it spans, then write that span back
            lo, hi = span(out)
            tmp = mirror(out, target)
            run(op, dt, tmp, *moved)
            _copy_span(tmp, tmp.offset - (out.offset - lo), hi - lo, out.buffer, lo)

    fallback_kernel.__qualname__ = f"cpu_fallback[{op}]"
    return fallback_kernel


def span(x):
    """(lowest, one past the highest) element index of ``x``'s buffer that ``x`` touches (needs x.size > 0)."""
    lo = hi = x.offset
    for n, s in zip(x.shape, x.strides):
        if s > 0:
            hi += (n - 1) * s
        else:
            lo += (n - 1) * s
    return lo, hi + 1


def mirror(x, target):
    """``x`` as a view with the same layout over a copy, on ``target``, of the memory span it touches: moved with
    the two backends' copy_out and copy_in hooks only."""
    if x.size == 0:
        return empty(x.shape, x.dtype, target)
    lo, hi = span(x)
    copy = empty((hi - lo,), x.dtype, target)
    host = np.empty(hi - lo, dtype=x.dtype.numpy)
    call_hook(x.device.backend, "copy_out", x.buffer.handle, lo * x.dtype.itemsize, host,
              x.device.index)
    call_hook(target.backend, "copy_in", copy.buffer.handle, 0, host, target.index)
    return make_tensor(copy.buffer, x.offset - lo, x.shape, x.strides, x.dtype, target, x.is_contiguous, x.size)


def _copy_span(src, src_start, count, dst_buffer, dst_start):
    """Elements [src_start, src_start + count) of contiguous memory ``src`` into ``dst_buffer`` at ``dst_start``."""
    if not count:
        return
    itemsize = src.dtype.itemsize
    host = np.empty(count, dtype=src.dtype.numpy)
    call_hook(src.device.backend, "copy_out", src.buffer.handle, src_start * itemsize, host,
              src.device.index)
    dst = dst_buffer.device
    call_hook(dst.backend, "copy_in", dst_buffer.handle, dst_start * itemsize, host, dst.index)


# -- allocation -----------------------------------------------------------------------------------------------------

_layouts = {}  # shape -> (contiguous strides, size): training loops allocate the same few shapes over and over


_new_tensor = object.__new__  # made as _RawTensor, then given the class Tensor (Note [Read-only layout])
_new_buffer = tuple.__new__  # see dispatch/backend.py: a Buffer is a tuple, made without a Python frame


def _fresh(shape, strides, size, dt, device, grad=False):
    """A new contiguous tensor with the given layout: the one place tensors get new memory.  ``grad=True`` makes it a
    GradTensor that requires grad, for autograd's fast paths to attach its node to (track(..., made=True))."""
    t = _new_tensor(_RawTensor)
    nbytes = size * dt.itemsize
    try:
        handle = device.raw_allocate(nbytes, device.index)
    except _ALLOCATION_ERRORS as exc:
        handle = _allocate_again(device, nbytes, shape, dt, exc)
    except errors.TensorSwitchError:
        raise
    except Exception as exc:  # a backend bug: say whose
        raise errors.BackendError(f"the {device.type} backend's allocate({nbytes}, {device.index}) raised "
                                  f"{type(exc).__name__}: {exc}") from exc
    t.buffer = _new_buffer(device.buffer_type, (handle, nbytes, device, [0]))
    t.offset = 0
    t.shape = shape
    t.strides = strides
    t.dtype = dt
    t.device = device
    t.size = size
    t.is_contiguous = True
    if grad:  # the autograd slots as plain stores, before the class is set (Note [Read-only layout])
        t._requires_grad = True
        t._grad_fn = t._hooks = t._acc = t._grad = None
        t._output_nr = 0
        t.__class__ = GradTensor
        return t
    t.__class__ = Tensor  # see Note [Read-only layout] in dispatch/tensor.py
    return t


# what a backend's allocate raises for memory it cannot give: MemoryError by Note [Backend contract]; OverflowError
# and ValueError for sizes its API cannot even express (NumPy's "Maximum allowed dimension exceeded")
_ALLOCATION_ERRORS = (MemoryError, OverflowError, ValueError)


def _allocate_again(device, nbytes, shape, dt, exc):
    """After a failed allocation: give the pool's cached memory back and try once more, else the clear error."""
    limit = None
    try:
        limit = call_hook(device.backend, "memory_limit", device.index)
        if limit is None or nbytes <= limit:
            call_hook(device.backend, "empty_cache", device.index)
            return device.raw_allocate(nbytes, device.index)
    except _ALLOCATION_ERRORS as again:
        exc = again
    what = f"shape {shape}, {dt.name}"
    if isinstance(exc, OverflowError):
        cause = "the size does not fit a 64-bit count of bytes"
    else:
        cause = re.sub(r"^.*?cannot allocate \d+ bytes[:;,]?\s*", "", str(exc)) or type(exc).__name__
    raise errors.out_of_memory(device, nbytes, what, limit, cause) from None


def _layout(shape):
    """(contiguous strides, size) of ``shape``, from the cache."""
    layout = _layouts.get(shape)
    if layout is None:
        if len(_layouts) > 8192:
            _layouts.clear()
        size = 1
        for s in shape:
            size *= s
        layout = _layouts[shape] = (contiguous_strides(shape), size)
    return layout


def empty(shape, dt, device, grad=False):
    """A new contiguous tensor (uninitialised); ``grad``: see ``_fresh``."""
    layout = _layouts.get(shape) or _layout(shape)
    return _fresh(shape, layout[0], layout[1], dt, device, grad)


def empty_like(x, dt, grad=False):
    """A new tensor shaped like ``x`` for an elementwise result: a contiguous ``x`` lends its layout (no layout
    lookup); a dense ``x`` in another dim order (``a.T``, ``permute_dims``) gives its order, as NumPy's ``order='K'``
    and PyTorch do, so the kernel walks every operand in one contiguous run (Note [Elementwise result layout]); any
    other ``x`` (slices with gaps, broadcasts) gives a contiguous tensor."""
    if x.is_contiguous:
        return _fresh(x.shape, x.strides, x.size, dt, x.device, grad)
    strides = _dense_layouts.get((x.shape, x.strides), False)
    if strides is False:
        if len(_dense_layouts) > 8192:
            _dense_layouts.clear()
        strides = dense_order_strides(x.shape, x.strides) or memory_order_strides(x.shape, x.strides)
        _dense_layouts[(x.shape, x.strides)] = strides
    if strides is None:
        return empty(x.shape, dt, x.device, grad)
    t = _fresh(x.shape, strides, x.size, dt, x.device, grad)
    _set_contiguous(t, False)
    return t


def empty_for(a, b, dt, grad=False):
    """The result of an elementwise op on ``a`` and ``b`` of one shape: ``a``'s order when ``b`` shares its layout or
    is a broadcast scalar (and ``b``'s in the mirror case), else contiguous, as NumPy does for mixed layouts."""
    if a.is_contiguous or a.strides == b.strides or not any(b.strides):
        return empty_like(a, dt, grad)
    if not any(a.strides):
        return empty_like(b, dt, grad)
    return empty(a.shape, dt, a.device, grad)


_dense_layouts = {}  # (shape, strides) of a non-contiguous tensor -> strides of a new one in its order, or None
_set_contiguous = _RawTensor.is_contiguous.__set__


def dense_order_strides(shape, strides):
    """Contiguous strides in the dim order of ``strides`` (largest first), when ``shape``/``strides`` cover their
    elements without gaps or repeats in some order of the dims (a permuted contiguous tensor, flipped or not); None
    otherwise.  Size-1 dims take the stride they would have in that order."""
    dims = sorted((i for i in range(len(shape)) if shape[i] != 1), key=lambda i: -abs(strides[i]))
    acc = 1
    for i in reversed(dims):
        if abs(strides[i]) != acc:
            return None
        acc *= shape[i]
    out = list(contiguous_strides(shape))
    acc = 1
    for i in reversed(dims):
        out[i] = acc
        acc *= shape[i]
    for i in range(len(shape) - 1, -1, -1):  # size-1 dims: the stride of the next dim in that order, inward
        if shape[i] == 1:
            out[i] = out[i + 1] * shape[i + 1] if i + 1 < len(shape) else 1
    return tuple(out)


def memory_order_strides(shape, strides):
    """Contiguous strides in the order ``strides`` walk memory (largest first; NumPy's ``order='K'``) for a view
    with gaps (``x.T[:10, :10]``), or None when that order is C order or a dim is broadcast (stride 0)."""
    if any(s == 0 and n > 1 for s, n in zip(strides, shape)):
        return None
    order = sorted(range(len(shape)), key=lambda i: -abs(strides[i]))  # stable: ties keep C order
    if order == sorted(order):
        return None
    out, acc = [0] * len(shape), 1
    for i in reversed(order):
        out[i] = acc
        acc *= shape[i]
    out = tuple(out)
    return None if out == contiguous_strides(shape) else out


# Note [Elementwise result layout]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# ``a.T + a.T`` used to write a C-ordered result, so the kernel read both inputs across their rows, one cache line an
# element (5x slower than the contiguous add at 64K elements).  NumPy (``order='K'``) and PyTorch give the result the
# inputs' layout instead: the kernels then walk every operand in memory order (the cpu ones sort the dims by the
# output's strides, Note [Elementwise dimension order] in kernels/cpu/loops.h, and merge them into one run).  We do
# the same for unary and binary ops when the inputs share one layout (or the other is a scalar): a dense one, or one
# with gaps whose dims walk memory in another order than C's (``x.T[:1000, :1000]``, NumPy and PyTorch alike; the
# opencl kernels otherwise read a column per work-item, 25x slower); mixed layouts give a C-ordered result, as in
# NumPy.  Such a result is not ``is_contiguous``;
# ``reshape`` copies it where it must, as for any view, and ``ts.asarray(x, copy=True)``/``astype`` give C order.


def check_dtype(op, dt, device):
    if dt not in device.supported_dtypes():
        raise errors.unsupported_dtype(op, device, dt, device.supported_dtypes())


# -- scalars --------------------------------------------------------------------------------------------------------

def fill_value(op, value, dt):
    """``value`` (a Python or NumPy scalar, or a one-element tensor) as the Python scalar a ``fill`` kernel of
    ``dt`` receives: bool, an int within the dtype's range, or float.  Out-of-range ints raise OverflowError (see
    Note [Type promotion])."""
    if isinstance(value, Tensor):
        if value.size != 1:
            raise ValueError(f"{op}: a fill value must be a scalar or a one-element tensor, got a tensor of shape "
                             f"{value.shape}")
        value = value.item()
    if not isinstance(value, (bool, int, float, complex, np.bool_, np.number)):
        raise TypeError(f"{op}: cannot store {type(value).__name__} {value!r} in {errors.a(dt.name)} tensor; "
                        f"pass a number")
    kind = dt.kind
    if kind == "bool":
        if isinstance(value, complex):
            raise TypeError(f"{op}: cannot store the complex value {value!r} in a bool tensor")
        return bool(value)
    if kind == "complex":
        try:
            return complex(value)
        except OverflowError:
            raise OverflowError(f"{op}: {value} is too large to be {errors.a(dt.name)} (it does not fit a "
                                f"float)") from None
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{op}: cannot store the complex value {value!r} in {errors.a(dt.name)} tensor; take its "
                        f".real or .imag, or use a complex dtype (complex64, complex128)")
    if kind == "float":
        try:
            return float(value)
        except OverflowError:
            raise OverflowError(f"{op}: {value} is too large to be {errors.a(dt.name)} (it does not fit a "
                                f"float)") from None
        except TypeError:
            raise TypeError(f"{op}: cannot store {type(value).__name__} {value!r} in {errors.a(dt.name)} "
                            f"tensor") from None
    if isinstance(value, (float, np.floating)):
        if value != value:
            raise ValueError(f"{op}: cannot store NaN in an integer ({dt.name}) tensor")
        if math.isinf(value):
            raise OverflowError(f"{op}: cannot store {value} in an integer ({dt.name}) tensor")
        value = int(value)
    elif not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op}: cannot store {type(value).__name__} {value!r} in {errors.a(dt.name)} tensor")
    value = int(value)
    lo, hi = INT_RANGE[dt]
    if not lo <= value <= hi:
        raise errors.scalar_out_of_range(op, value, dt, lo, hi)
    return value


def _key(value):
    """A cache key that keeps signed zeros and NaN payloads apart (0.0 == -0.0, and NaN equals nothing)."""
    if type(value) is float and (value == 0.0 or value != value):
        return struct.pack("<d", value)
    if type(value) is complex:  # 1+0j == 1-0j, and the sign of either zero part shows in complex functions
        return struct.pack("<dd", value.real, value.imag)
    return value


_scalar_cache = {}


def scalar_tensor(value, dt, device):
    """A 0-d tensor holding a Python scalar, cached: training loops reuse the same few constants."""
    key = (type(value), value if value and value == value and type(value) is not complex else _key(value), dt,
           device)
    t = _scalar_cache.get(key)
    if t is None:
        fill = fill_value("scalar", value, dt)
        t = empty((), dt, device)
        run("fill", dt, t, fill)
        if len(_scalar_cache) > 4096:
            _scalar_cache.clear()
        _scalar_cache[key] = t
    return t


_scalar_views = {}


def scalar_view(value, dt, device, shape):
    """``value`` broadcast to ``shape`` (stride 0), cached like ``scalar_tensor``."""
    # ``_key`` only for zeros and NaN (0.0 == -0.0): a truth test and a comparison inline, cheaper than a call
    key = (type(value), value if value and value == value and type(value) is not complex else _key(value), dt,
           device, shape)
    v = _scalar_views.get(key)
    if v is None:
        v = expand(scalar_tensor(value, dt, device), shape)
        if len(_scalar_views) > 4096:
            _scalar_views.clear()
        _scalar_views[key] = v
    return v


# -- broadcasting ---------------------------------------------------------------------------------------------------

def broadcast_shapes(op, *shapes):
    ndim = max(len(s) for s in shapes)
    if ndim > MAX_NDIM:
        raise errors.ShapeError(f"{op}: the result would have {ndim} dimensions; tensors have at most {MAX_NDIM}")
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != out[i]:
                if out[i] == 1:
                    out[i] = n
                elif n != 1:
                    raise errors.broadcast_error(op, shapes)
    return tuple(out)


_broadcasts = {}  # (a.shape, a.strides, b.shape, b.strides) -> _broadcast_plan's answer


def _broadcast_plan(a, b):
    """(shape, a's strides or None, contiguous, b's strides or None, contiguous, size): the broadcast result's
    shape and each operand's view of it (None: already that shape) for binary_op's fast path, cached; None when the
    shapes do not broadcast or the result would have too many dims."""
    try:
        shape = broadcast_shapes("", a.shape, b.shape)
    except errors.ShapeError:
        return None
    views = []
    for x in (a, b):
        if x.shape == shape:
            views += [None, None]
        else:
            v = expand(x, shape)
            views += [v.strides, v.is_contiguous]
    size = 1
    for n in shape:
        size *= n
    if len(_broadcasts) > 8192:
        _broadcasts.clear()
    plan = _broadcasts[(a.shape, a.strides, b.shape, b.strides)] = (shape, *views, size)
    return plan


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
    __slots__ = ("name", "to_float", "bool_out", "real_out")

    def __init__(self, op):
        self.name, self.to_float, self.bool_out = op.name, op.to_float, op.result == "bool"
        self.real_out = op.result == "real"  # abs, real, imag, angle: complex inputs give their parts' dtype

    def out_dtype(self, dt):
        return _BOOL if self.bool_out else (REAL_OF.get(dt, dt) if self.real_out else dt)


_ELEMENTWISE = {name: _EW(op) for name, op in optable.ELEMENTWISE.items()}


def astype(x, dt, copy=True):
    """``x`` converted to ``dt`` on its device (a copy unless ``copy=False`` and nothing changes)."""
    if type(x) is Tensor and not _TRACE:  # the fast path: a contiguous x, its kernel looked up, a dtype it holds
        device = x.device
        kernel = _fast.get(("astype", device.type, x.dtype))
        if kernel is not None and x.is_contiguous and (copy or x.dtype is not dt) and \
                dt in (device._dtypes or device.supported_dtypes()):
            out = _fresh(x.shape, x.strides, x.size, dt, device)
            if out.size:
                kernel(out, x)
            return out
    if not isinstance(x, Tensor):
        require_tensor("astype", x)
    if x.dtype is dt and not copy:
        return x
    check_dtype("astype", dt, x.device)
    out = empty(x.shape, dt, x.device)
    return run("astype", x.dtype, out, x)


def contiguous(x):
    return x if x.is_contiguous else astype(x, x.dtype)


plain_astype = astype  # before autograd wraps ``astype``: Tensor.astype of a plain Tensor calls it


def _unary_slow(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")
    info = _ELEMENTWISE[op]
    dt = x.dtype
    if info.to_float and dt.kind != "float" and dt.kind != "complex":
        dt = default_float
        x = astype(x, dt)
    out = empty(x.shape, info.out_dtype(dt), x.device)
    return run(op, dt, out, x)


def _make_unary(op):
    kernels = registry.by_op[op]  # kept in step with registration: no lookup of the op per call
    bool_out = _ELEMENTWISE[op].bool_out
    real_out = _ELEMENTWISE[op].real_out
    to_float = _ELEMENTWISE[op].to_float

    def unary_op(x):
        # the fast path: one dict lookup for the kernel, one allocation, one call (see STYLE: the hot path)
        if type(x) is Tensor and not _TRACE:
            dt = x.dtype
            device = x.device
            kernel = kernels.get((device.type, dt))
            if kernel is not None and (not to_float or dt.kind == "float" or dt.kind == "complex"):
                out = empty_like(x, _BOOL if bool_out else (REAL_OF.get(dt, dt) if real_out else dt))
                if out.size:
                    kernel(out, x)
                return out
        return _unary_slow(op, x)

    unary_op.__name__ = unary_op.__qualname__ = op
    return unary_op


_COMPARISONS = {  # op -> (result when the scalar on the right is above the dtype's range, when below)
    "equal": (False, False), "not_equal": (True, True), "less": (True, False), "less_equal": (True, False),
    "greater": (False, True), "greater_equal": (False, True)}
_MIRRORED = {"less": "greater", "less_equal": "greater_equal", "greater": "less", "greater_equal": "less_equal",
             "equal": "equal", "not_equal": "not_equal"}


def _out_of_range_int(op, a, b):
    """For ``op(a, b)`` with a Python int outside the integer dtype it meets: the answer when there is one
    (comparisons, logical ops), None when the op can go ahead, else the OverflowError of Note [Type promotion]."""
    tensor, scalar, right = (a, b, True) if isinstance(a, Tensor) else (b, a, False)
    if not isinstance(tensor, Tensor) or isinstance(scalar, (bool, np.bool_)) or \
            not isinstance(scalar, (int, np.integer)):
        return None
    dt = WEAK[(int, tensor.dtype)]
    if dt.kind not in ("int", "uint") or _ELEMENTWISE[op].to_float:
        return None
    lo, hi = INT_RANGE[dt]
    value = int(scalar)
    if lo <= value <= hi:
        return None
    if op in _COMPARISONS:
        above, below = _COMPARISONS[op if right else _MIRRORED[op]]
        result = above if value > hi else below
        out = empty(tensor.shape, _BOOL, tensor.device)
        return run("fill", _BOOL, out, result)
    if op in ("logical_and", "logical_or", "logical_xor"):
        return _binary_slow(op, a, 1) if right else _binary_slow(op, 1, b)
    raise errors.scalar_out_of_range(op, value, dt, lo, hi)


def _bound_on_first_use(name):
    """kernels/cpu/module.cpp's one-call entry point ``name``, loaded on first use (the extension loads with the cpu
    backend; init_track fills the classes and slot offsets it writes, Note [Recording in C]): the first call rebinds
    the module global ``_name`` to the C function, so later calls go straight to it."""
    def first_call(*args):
        from .. import _cpu
        from .autograd import _load_track_fast

        _load_track_fast()
        fn = getattr(_cpu, name)
        globals()["_" + name] = fn
        return fn(*args)

    first_call.__name__ = first_call.__qualname__ = "_" + name
    return first_call


_binary_new = _bound_on_first_use("binary_new")        # a cpu elementwise op: memory, tensor and loop
_launch_binary = _bound_on_first_use("launch_binary")  # a launched (opencl) binary op: memory, tensor and launch
_reduce_new = _bound_on_first_use("reduce_new")        # a cpu reduction of all or the last axis
_matmul_new = _bound_on_first_use("matmul_new")        # a cpu product of two BLAS-ready matrices


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
                    # a Python float meets a float tensor: the common case, without the WEAK lookup
                    if not (tb is float and dt.kind == "float") and WEAK.get((tb, dt)) is not dt:
                        return _binary_slow(op, a, b)  # see Note [Type promotion]
                    # scalar_view's cache, looked up inline (a call costs as much as the lookup)
                    view = _scalar_views.get((tb, b if b and b == b and tb is not complex else _key(b), dt, device,
                                              a.shape))
                    if view is None:
                        try:
                            view = scalar_view(b, dt, device, a.shape)  # a weak scalar that keeps a's dtype
                        except (OverflowError, errors.KernelNotFoundError):  # an int outside dt's range
                            return _binary_slow(op, a, b)  # (comparisons still have an answer), or no fill
                    b = view
                if b.dtype is dt and b.device is device:
                    kernel = kernels.get((device.type, dt))
                    if kernel is not None and (not to_float or dt.kind == "float" or dt.kind == "complex"):
                        if a.shape == b.shape:
                            if a.is_contiguous and (b.is_contiguous or not any(b.strides)):
                                codes = _CPU_BINARY.get(kernel)
                                if codes is not None:
                                    # the built-in cpu kernel: memory, tensor and loop in one call (binary_new)
                                    out = _binary_new(codes[0], codes[1], codes[2], a, b, 1 if b.is_contiguous else 0,
                                                      device.buffer_type, _BOOL if bool_out else dt)
                                    if out is not NotImplemented:
                                        return out
                                else:  # (a.T + b.T of a permuted dense layout: below)
                                    launches = _LAUNCHED_BINARY.get(kernel)
                                    spec = launches.get(device.index) if launches is not None else None
                                    if spec is not None:  # a launched kernel: memory, tensor and launch in one call
                                        out = _launch_binary(spec, a, b, 1 if b.is_contiguous else 0,
                                                             device.buffer_type, _BOOL if bool_out else dt)
                                        if out is not NotImplemented:
                                            return out
                            elif (b.strides == a.strides or not any(b.strides)) and kernel in _CPU_BINARY and \
                                    _dense_layouts.get((a.shape, a.strides)) == a.strides:
                                # a dense in a permuted order (a.T), b alike or a scalar: still one run (binary_new)
                                codes = _CPU_BINARY[kernel]
                                out = _binary_new(codes[0], codes[1], codes[2], a, b, 3 if any(b.strides) else 2,
                                                  device.buffer_type, _BOOL if bool_out else dt)
                                if out is not NotImplemented:
                                    return out
                            out = empty_for(a, b, _BOOL if bool_out else dt)
                        else:  # broadcasting (a bias row added to a batch): the views from a cached plan
                            plan = _broadcasts.get((a.shape, a.strides, b.shape, b.strides))
                            if plan is None:
                                plan = _broadcast_plan(a, b)
                                if plan is None:  # shapes that do not broadcast: the slow path says so
                                    return _binary_slow(op, a, b)
                            shape, sa, ca, sb, cb, size = plan
                            if sa is not None:
                                a = make_tensor(a.buffer, a.offset, shape, sa, dt, device, ca, size)
                            if sb is not None:
                                b = make_tensor(b.buffer, b.offset, shape, sb, dt, device, cb, size)
                            out = empty(shape, _BOOL if bool_out else dt, device)
                        if out.size:
                            kernel(out, a, b)
                        return out
            elif type(b) is Tensor and WEAK.get((type(a), b.dtype)) is b.dtype and type(a) is not bool:
                try:
                    return binary_op(scalar_view(a, b.dtype, b.device, b.shape), b)
                except (OverflowError, errors.KernelNotFoundError):
                    pass
        return _binary_slow(op, a, b)

    binary_op.__name__ = binary_op.__qualname__ = op
    return binary_op


def _as_float(op, value):
    try:
        return float(value)
    except OverflowError:
        raise OverflowError(f"{op}: {value} is too large to be a float") from None


def _operands(op, a, b):
    """Promote two operands (tensors or Python scalars) to one dtype on one device."""
    if type(a) is Tensor or isinstance(a, Tensor):
        device = a.device
        if isinstance(b, Tensor):
            if b.device is not device:
                raise errors.device_mismatch(op, (device, b.device))
            dt = _PROMOTE[(a.dtype, b.dtype)]
        else:
            dt = _scalar_dtype(op, b, a.dtype)
            b = _scalar_operand(op, b, dt, device)
    elif isinstance(b, Tensor):
        device = b.device
        dt = _scalar_dtype(op, a, b.dtype)
        a = _scalar_operand(op, a, dt, device)
    else:
        raise TypeError(f"{op}: expected at least one tensor, got {type(a).__name__} and {type(b).__name__}")
    return a, b, dt, device


def _scalar_dtype(op, value, other):
    try:
        return scalar_dtype(value, other)
    except TypeError as exc:
        raise TypeError(f"{op}: {exc}") from None


def is_operand(value):
    """A tensor or a Python/NumPy scalar: what binary ops take (``x == None`` is then left to Python)."""
    return isinstance(value, (Tensor, bool, int, float, complex, np.bool_, np.integer, np.floating,
                              np.complexfloating))


def require_tensor(op, x):
    """Raise a TypeError naming ``op`` unless ``x`` is a tensor (NumPy arrays and lists are not: convert them)."""
    if not isinstance(x, Tensor):
        hint = " Convert it with ts.asarray(...) first." if isinstance(x, (list, tuple, np.ndarray, np.generic,
                                                                          int, float)) else ""
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}.{hint}")
    return x


def _scalar_operand(op, value, dt, device):
    try:
        return scalar_tensor(value, dt, device)
    except OverflowError:
        fill_value(op, value, dt)  # the same error, naming the op
        raise
    except errors.KernelNotFoundError as exc:
        raise errors.KernelNotFoundError(f"{op}: a Python scalar operand becomes a 0-d tensor on {device}, which "
                                         f"needs the fill kernel there: {exc}") from None


def _binary_slow(op, a, b):
    info = _ELEMENTWISE[op]
    if type(a) is not Tensor or type(b) is not Tensor:
        if info.to_float:  # x_int8 / 300: the scalar meets the float the op computes in, not int8
            if isinstance(b, (int, np.integer)) and not isinstance(b, (bool, np.bool_)) and isinstance(a, Tensor) \
                    and a.dtype.kind not in ("float", "complex"):
                b = _as_float(op, b)
            elif isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) and \
                    isinstance(b, Tensor) and b.dtype.kind not in ("float", "complex"):
                a = _as_float(op, a)
        answer = _out_of_range_int(op, a, b)
        if answer is not None:
            return answer
    a, b, dt, device = _operands(op, a, b)
    if info.to_float and dt.kind != "float" and dt.kind != "complex":
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
    out = empty(shape, info.out_dtype(dt), device)
    return run(op, dt, out, a, b)


#: the callable of every elementwise op: ts.add, Tensor.__add__ and friends are these very functions
UNARY = {name: _make_unary(name) for name, op in optable.ELEMENTWISE.items() if op.arity == 1}
BINARY = {name: _make_binary(name) for name, op in optable.ELEMENTWISE.items() if op.arity == 2}


def _binary_in_c():
    """BINARY's functions as tensorswitch._cpu.FastBinary objects, whose common case runs in C and which hand every
    other call to the function here (Note [Binary ops in C] in kernels/cpu/module.cpp); the functions themselves
    where the extension cannot be loaded.  TENSORSWITCH_C_DISPATCH=0 keeps the functions (for debugging)."""
    if os.environ.get("TENSORSWITCH_C_DISPATCH", "1") == "0":
        return
    try:
        from .. import _cpu
        fast = _cpu.FastBinary
    except (ImportError, AttributeError):
        return
    for name, fn in BINARY.items():
        info = _ELEMENTWISE[name]
        if info.real_out:  # a result dtype of its own: the Python function's
            continue
        BINARY[name] = fast(fn, registry.by_op[name], _CPU_BINARY, _LAUNCHED_BINARY, globals(),
                            _BOOL if info.bool_out else None, bool(info.to_float))


_binary_in_c()


# Note [Scalar powers]
# ~~~~~~~~~~~~~~~~~~~~
# x ** 2 is the most common power in model code (squared errors, variances, norms), and pow is the dearest
# elementwise kernel: libm's powf on the cpu backend (1M float32: 1.0 ms against square's 0.05), a scalar call per
# element on PoCL (70 ms).  So, as NumPy's fast_scalar_power does, a float tensor raised to a Python 2, 0.5 or -1
# takes square, sqrt or reciprocal: the same correctly rounded values (sqrt's -0 and NaN at -0 and -inf are NumPy's
# answers for x ** 0.5 of float32 and float64, and PyTorch's for every float dtype; NumPy's float16 power, a float32
# powf, says +0 and inf there).  A tensor that requires grad records that op, whose derivative is pow's at
# that exponent.  Where the device has no kernel for the op (a plugin backend with pow alone) pow runs.
_SCALAR_POWERS = {2: "square", 0.5: "sqrt", -1: "reciprocal"}


def _scalar_powers(pow_):
    unary_ops = {e: UNARY[op] for e, op in _SCALAR_POWERS.items()}
    kernels = {e: registry.by_op[op] for e, op in _SCALAR_POWERS.items()}

    def pow(a, b):  # noqa: A001 (the op's own name)
        tb = type(b)
        if (tb is float or tb is int) and b in unary_ops and isinstance(a, Tensor) and a.dtype.kind == "float" \
                and (a.device.type, a.dtype) in kernels[b]:
            return unary_ops[b](a)
        return pow_(a, b)

    return pow


BINARY["pow"] = _scalar_powers(BINARY["pow"])


def unary(op, x):
    return UNARY[op](x)


def binary(op, a, b):
    return BINARY[op](a, b)


def _overlaps(x, target):
    """True when ``x`` shares memory with ``target`` in another layout (a transposed, shifted or broadcast view of
    it): writing ``target`` element by element would then change what is still to be read from ``x``."""
    return x.buffer is target.buffer and (x.offset != target.offset or x.strides != target.strides or
                                          x.shape != target.shape)


def binary_inplace(op, target, other):
    """``target op= other``: writes into ``target``'s storage, casting like NumPy's same-kind rule."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: the in-place target must be a tensor")
    if not _TRACE:  # the fast path (optimiser updates): same dtype, device and shape, or a weak scalar
        dt = target.dtype
        device = target.device
        b = other
        if not isinstance(b, Tensor) and WEAK.get((type(b), dt)) is dt and type(b) is not bool:
            try:
                b = scalar_view(b, dt, device, target.shape)
            except (OverflowError, errors.KernelNotFoundError):
                b = other
        if isinstance(b, Tensor) and b.dtype is dt and b.device is device and b.shape == target.shape and \
                (b.buffer is not target.buffer or (b.offset == target.offset and b.strides == target.strides)):
            info = _ELEMENTWISE[op]
            kernel = _fast.get((op, device.type, dt))
            if kernel is not None and not info.bool_out and (not info.to_float or dt.kind == "float" or dt.kind == "complex"):
                writable_check(op, target)
                if target.size:
                    kernel(target, target, b)
                return target
        elif isinstance(b, Tensor) and b.dtype is dt and b.device is device and b.buffer is not target.buffer:
            # a smaller operand broadcast into the target (a bias added to a batch): binary_op's cached plan
            plan = _broadcasts.get((target.shape, target.strides, b.shape, b.strides)) or _broadcast_plan(target, b)
            info = _ELEMENTWISE[op]
            kernel = _fast.get((op, device.type, dt))
            if plan is not None and plan[0] == target.shape and kernel is not None and not info.bool_out and \
                    (not info.to_float or dt.kind == "float" or dt.kind == "complex"):
                writable_check(op, target)
                if target.size:
                    kernel(target, target, make_tensor(b.buffer, b.offset, plan[0], plan[3], dt, device, plan[4],
                                                       plan[5]))
                return target
    writable_check(op, target)
    info = _ELEMENTWISE[op]
    a, b, dt, device = _operands(op, target, other)
    if info.to_float and dt.kind != "float" and dt.kind != "complex":
        dt = default_float
    result = info.out_dtype(dt)
    if result is not target.dtype and not _can_cast_inplace(result, target.dtype):
        raise TypeError(f"{op}: cannot write {errors.a(result.name)} result into {errors.a(target.dtype.name)} "
                        f"tensor in place; "
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
    order = {"bool": 0, "uint": 1, "int": 1, "float": 2, "complex": 3}  # same kind: a complex result never into reals
    return order[src.kind] <= order[dst.kind]


def copy_into(target, value):
    """Write ``value`` (tensor or scalar) into ``target`` (possibly a strided view), broadcasting and casting."""
    writable_check("setitem", target)
    if not isinstance(value, Tensor):
        return run("fill", target.dtype, target, fill_value("setitem", value, target.dtype))
    if value.device is not target.device:
        raise errors.device_mismatch("setitem", (target.device, value.device))
    if broadcast_shapes("setitem", target.shape, value.shape) != target.shape:
        raise errors.ShapeError(f"setitem: cannot broadcast a value of shape {value.shape} into {target.shape}")
    if _overlaps(value, target):
        value = astype(value, value.dtype)
    return run("astype", value.dtype, target, expand(value, target.shape))


def where(cond, a, b):
    if type(cond) is Tensor and type(a) is Tensor and not _TRACE and cond.dtype is _BOOL:
        # the fast path (a backward pass's masks, where(mask, g, 0.0)): a bool mask and a tensor of its shape and
        # device, and a tensor of that dtype and shape or a float for a float tensor (a cached scalar view)
        shape, dt, device = a.shape, a.dtype, a.device
        if cond.shape == shape and cond.device is device:
            if type(b) is float and dt.kind == "float":
                b = scalar_view(b, dt, device, shape)
            if type(b) is Tensor and b.dtype is dt and b.shape == shape and b.device is device:
                kernel = _fast.get(("where", device.type, dt))
                if kernel is not None:
                    out = empty_for(a, b, dt)
                    if out.size:
                        kernel(out, cond, a, b)
                    return out
    if not isinstance(cond, Tensor):
        raise TypeError("where: the condition must be a tensor")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two scalars: the first takes its default dtype
        if not is_operand(a):
            raise TypeError(f"where: x1 must be a tensor or a number, got {type(a).__name__}")
        dt = _BOOL if isinstance(a, (bool, np.bool_)) else \
            default_int if isinstance(a, (int, np.integer)) else \
            DTYPES[12] if isinstance(a, (complex, np.complexfloating)) else default_float  # complex64: the default
        a = scalar_tensor(a, dt, cond.device)
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

def _reduction_dtype(info, dt):
    if info.result == "bool":
        return _BOOL
    if info.result == "index":
        return _INT64
    if info.result == "sum" and dt.kind not in ("float", "complex"):  # the standard's default integer of the kind: optable.sum_dtype
        return _UINT64 if dt.kind == "uint" else _INT64
    return dt


def reduce(op, x, axis=None, keepdims=False):
    info = optable.REDUCTIONS[op]
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")
    if x.ndim == 0:
        normalize_axes(op, axis, 0)  # None and () are the only axes a 0-d tensor has
        if axis is not None:  # axis=(): nothing is reduced
            if info.result == "index":
                raise ValueError(f"{op}: needs an axis to reduce")
            rdt = _reduction_dtype(info, x.dtype)
            return _ne_zero(x) if info.result == "bool" else astype(x, rdt)
        x = make_tensor(x.buffer, x.offset, (1,), (1,), x.dtype, x.device, True)
        axes, out_ndim0 = (0,), True
    else:
        axes, out_ndim0 = normalize_axes(op, axis, x.ndim), False
    rdt = _reduction_dtype(info, x.dtype)
    if rdt is not x.dtype:
        check_dtype(op, rdt, x.device)  # int64 sums and indices, bool all/any: the device must hold them
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


_ALL_AXES = tuple(tuple(range(n)) for n in range(MAX_NDIM + 1))
_ONES_SHAPES = tuple((1,) * n for n in range(MAX_NDIM + 1))


def make_reduction(op):
    """The public ``op(x, axis=None, keepdims=False)``: the general ``reduce`` behind a fast path for what inference
    and training loops call most (STYLE: the hot path): a plain tensor with elements reduced over all its axes or one
    int axis, when the kernel is registered and the device holds the result dtype.  Everything else (autograd's
    tracked tensors, tuples of axes, empty or 0-d tensors, errors) takes ``reduce``, which is what decides; the fast
    path only skips work whose answer it knows (Note [Reduction fast path])."""
    info = optable.REDUCTIONS[op]
    kernels = registry.by_op[op]
    result = {dt: _reduction_dtype(info, dt) for dt in DTYPES}

    def reduce_op(x, axis=None, keepdims=False):
        if type(x) is Tensor and not _TRACE:
            shape = x.shape
            ndim = len(shape)
            if axis is None:
                axes = _ALL_AXES[ndim]
                out_shape = ()
            elif type(axis) is int and -ndim <= axis < ndim:
                a = axis + ndim if axis < 0 else axis
                axes = (a,)
                out_shape = shape[:a] + shape[a + 1:]
            else:
                axes = None
            dt = x.dtype
            device = x.device
            kernel = kernels.get((device.type, dt))
            rdt = result[dt]
            if axes and kernel is not None and x.size and (rdt is dt or rdt in device.supported_dtypes()):
                if not keepdims and x.is_contiguous and (axis is None or axes[0] == ndim - 1):
                    code = _CPU_REDUCE.get(kernel)
                    if code is not None:  # the built-in cpu kernel: memory, tensor and loop in one call
                        if axis is None:
                            out = _reduce_new(code, dt.code, rdt.code, x, device.buffer_type, rdt, 1, (), ())
                        else:  # the last axis: rows of contiguous elements
                            strides, size = _layout(out_shape)
                            out = _reduce_new(code, dt.code, rdt.code, x, device.buffer_type, rdt, size, out_shape,
                                              strides)
                        if out is not NotImplemented:
                            return out
                out = _fresh((), (), 1, rdt, device) if axis is None else empty(out_shape, rdt, device)
                kernel(out, x, axes)
                if keepdims:
                    kept = _ONES_SHAPES[ndim] if axis is None else shape[:axes[0]] + (1,) + shape[axes[0] + 1:]
                    return make_tensor(out.buffer, out.offset, kept, contiguous_strides(kept), rdt, device, True)
                return out
        return reduce(op, x, axis, keepdims)  # the module's reduce: autograd's wrapper once it is installed

    reduce_op.__name__ = reduce_op.__qualname__ = op
    return reduce_op


# Note [Reduction fast path]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# ``x.sum()`` of 10 elements spent about 4 us in ``reduce`` (axis normalisation, dtype rules, an ``empty`` lookup,
# ``run``) around a 0.8 us kernel call; PyTorch's whole call is about 2 us.  ``make_reduction`` decides the common
# cases with a few comparisons and precomputed tables: ``axis`` None or one in-range int, at least one element, a
# registered kernel and a result dtype the device holds.  Anything it does not recognise goes to ``reduce`` unchanged,
# so errors (a bad axis, a dtype without a kernel, an empty reduction without identity) keep their one source, and
# ``GradTensor`` (``type(x) is not Tensor``) is recorded by autograd as before.  tests/test_dispatch_fast_paths.py
# compares both paths on every device, dtype, axis and keepdims.


def _ne_zero(x):
    return binary("not_equal", x, 0)


def _py_scalar(text, dt):
    v = float(text)
    return bool(v) if dt.kind == "bool" else (v if dt.kind == "float" else int(v))


# -- matmul and softmax ---------------------------------------------------------------------------------------------

def matmul(a, b):
    # any tensor class: autograd's wrapper has decided before this runs (a tracked operand here is read, untracked)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype is b.dtype and a.device is b.device and \
            not _TRACE:
        shape_a, shape_b = a.shape, b.shape  # the fast path: two matrices of one dtype (Linear's, a step's many)
        if len(shape_a) == 2 and len(shape_b) == 2 and shape_a[1] == shape_b[0] and shape_a[1]:
            device = a.device
            kernel = _fast.get(("matmul", device.type, a.dtype))
            if kernel is not None:
                if kernel in _CPU_MATMUL:  # the built-in cpu kernel: memory, tensor and product in one call
                    out = _matmul_new(a.dtype.code, a, b, device.buffer_type, a.dtype)
                    if out is not NotImplemented:
                        return out
                out = empty((shape_a[0], shape_b[1]), a.dtype, device)
                if out.size:
                    kernel(out, a, b)
                return out
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


def linear(x, w, b=None):
    """``x @ w.mT + b`` for a 2-D ``w`` (out_features, in_features) as one op, PyTorch's addmm: the bias is added
    into the product's own tensor, and autograd records one node (derivatives.py _linear) where the composition
    recorded a transpose view, a matmul and a broadcast add.  nn.functional.linear checks the arguments first."""
    wt = make_tensor(w.buffer, w.offset, (w.shape[1], w.shape[0]), (w.strides[1], w.strides[0]), w.dtype, w.device)
    if b is not None and len(x.shape) == 2 and b.shape == wt.shape[1:] and x.shape[1] == wt.shape[0] and \
            x.dtype is w.dtype is b.dtype and x.device is w.device is b.device and x.shape[0] and not _TRACE:
        kernel = _fast.get(("linear", x.device.type, x.dtype))  # the fused op, where the backend has it
        if kernel is not None:
            out = empty((x.shape[0], wt.shape[1]), x.dtype, x.device)
            if out.size:
                kernel(out, x, wt, b)
            return out
    out = matmul(x, wt)
    if b is None:
        return out
    if b.dtype is out.dtype and b.device is out.device and b.ndim <= out.ndim and \
            all(n == 1 or n == m for n, m in zip(b.shape[::-1], out.shape[::-1])):
        return binary_inplace("add", out, b)
    return binary("add", out, b)  # a bias of another dtype promotes, one of a larger shape broadcasts the result


plain_matmul = matmul  # before autograd wraps ``matmul``: the @ of two plain Tensors calls it


def softmax_like(op, x, axis):
    require_tensor(op, x)
    if x.dtype.kind == "complex":  # never the real part quietly: softmax orders its inputs (by their maximum)
        raise errors.KernelNotFoundError(f"{op} has no kernel for {x.dtype.name} on {x.device} (or any device): "
                                         f"it is defined for real floating dtypes; pass float32 or float64")
    if x.dtype.kind != "float":
        x = astype(x, default_float)
    if x.ndim == 0:
        raise ValueError(f"{op}: needs at least one dimension")
    axis = normalize_axis(op, axis, x.ndim)
    out = empty(x.shape, x.dtype, x.device)
    return run(op, x.dtype, out, x, axis)


def make_softmax(op):
    """The public ``softmax``/``log_softmax(x, axis)``: ``softmax_like`` behind a fast path for a plain tensor with a
    kernel for its dtype and an in-range int axis (what models call), as ``make_reduction`` (Note [Reduction fast
    path]): integer and complex inputs, tracked tensors and bad axes take ``softmax_like``, which decides."""
    kernels = registry.by_op[op]

    def softmax_op(x, axis=-1):
        if type(x) is Tensor and not _TRACE and type(axis) is int:
            shape = x.shape
            ndim = len(shape)
            if -ndim <= axis < ndim:
                dt = x.dtype
                device = x.device
                kernel = kernels.get((device.type, dt)) if dt.kind == "float" else None
                if kernel is not None:
                    # a contiguous x lends its layout (no lookup: softmax of 10 floats is a few microseconds)
                    out = _fresh(shape, x.strides, x.size, dt, device) if x.is_contiguous else empty(shape, dt, device)
                    if out.size:
                        kernel(out, x, axis + ndim if axis < 0 else axis)
                    return out
        return softmax_like(op, x, axis)  # the module's: autograd's wrapper once it is installed

    softmax_op.__name__ = softmax_op.__qualname__ = op
    return softmax_op


def to_int(value, what):
    from .shapes import as_int

    return as_int(value, what)

