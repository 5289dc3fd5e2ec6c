"""The public functions: creation, conversion, shape manipulation, and the Array API names of every op.

The elementwise functions are made from the op table (kernels/optable.py), so a new table line is a new ``ts.<op>``.
"""

import builtins
import functools
import inspect
import math
import threading

import numpy as np

from . import dispatcher as d
from . import errors
from .device import call_hook, device as get_device
from .dtypes import DTYPES, INT_RANGE, REAL_OF, default_complex, default_float, default_int, dtype as to_dtype
from .shapes import as_int, as_shape, check_ndim, normalize_axis
from .tensor import ReadOnlyTensor, Tensor, _install_operators, contiguous_strides, make_tensor, read_only
from ..kernels import optable

_BOOL = DTYPES[0]


def _dt(dtype, fallback):
    return fallback if dtype is None else to_dtype(dtype)


def _shape(shape, op="empty"):
    return as_shape(op, shape)


# -- creation -------------------------------------------------------------------------------------------------------

def _creation(fn):
    """``fn`` with a keyword-only ``requires_grad=False``: the result is a leaf that autograd tracks when True."""
    name = fn.__name__

    def creation(*args, requires_grad=False, **kwargs):
        out = fn(*args, **kwargs)
        if not requires_grad:
            return out
        if out.dtype.kind != "float":
            raise errors.UnsupportedDtypeError(
                f"{name}: only floating-point tensors can require gradients, got {out.dtype.name}; pass a float "
                f"dtype (dtype=ts.float32) or leave requires_grad=False")
        return out.requires_grad_()

    functools.update_wrapper(creation, fn)
    del creation.__wrapped__
    sig = inspect.signature(fn)
    creation.__signature__ = sig.replace(parameters=list(sig.parameters.values()) + [
        inspect.Parameter("requires_grad", inspect.Parameter.KEYWORD_ONLY, default=False)])
    return creation


@_creation
def empty(shape, *, dtype=None, device=None):
    """An uninitialised tensor.

    >>> import tensorswitch as ts
    >>> ts.empty((2, 3)).shape
    (2, 3)
    """
    return _empty("empty", shape, dtype, device)


def _empty(op, shape, dtype, device):
    """``empty`` for the creation function ``op`` (its errors name ``op``)."""
    dev = get_device(device)
    dt = _dt(dtype, default_float)
    d.check_dtype(op, dt, dev)
    out = d.empty(_shape(shape, op), dt, dev)
    if dt is _BOOL and out.size:  # pooled memory holds any bytes; a bool must be 0 or 1
        d.run("fill", _BOOL, out, False)
    return out


@_creation
def full(shape, fill_value, *, dtype=None, device=None):
    """A tensor filled with ``fill_value``; the dtype follows the value (bool, int64, float32 or complex64) unless
    given.

    >>> import tensorswitch as ts
    >>> ts.full((2,), 7).tolist()
    [7, 7]
    """
    return _full("full", shape, fill_value, dtype, device)


def _full(op, shape, fill_value, dtype, device):
    if dtype is None:
        if isinstance(fill_value, Tensor):
            dtype = fill_value.dtype
        else:
            dtype = _BOOL if isinstance(fill_value, (bool, np.bool_)) else \
                default_int if isinstance(fill_value, (int, np.integer)) else \
                default_complex if isinstance(fill_value, (complex, np.complexfloating)) else default_float
    dt = to_dtype(dtype)
    value = d.fill_value(op, fill_value, dt)  # before allocating: a bad value costs nothing
    dev = get_device(device)
    d.check_dtype(op, dt, dev)
    out = d.empty(_shape(shape, op), dt, dev)
    return d.run("fill", dt, out, value)


@_creation
def zeros(shape, *, dtype=None, device=None):
    """A tensor of zeros.

    >>> import tensorswitch as ts
    >>> ts.zeros(3).tolist()
    [0.0, 0.0, 0.0]
    """
    return _full("zeros", shape, 0, _dt(dtype, default_float), device)


@_creation
def ones(shape, *, dtype=None, device=None):
    """A tensor of ones."""
    return _full("ones", shape, 1, _dt(dtype, default_float), device)


@_creation
def empty_like(x, *, dtype=None, device=None):
    d.require_tensor("empty_like", x)
    return empty(x.shape, dtype=_dt(dtype, x.dtype), device=device or x.device)


@_creation
def zeros_like(x, *, dtype=None, device=None):
    d.require_tensor("zeros_like", x)
    return zeros(x.shape, dtype=_dt(dtype, x.dtype), device=device or x.device)


@_creation
def ones_like(x, *, dtype=None, device=None):
    d.require_tensor("ones_like", x)
    return ones(x.shape, dtype=_dt(dtype, x.dtype), device=device or x.device)


@_creation
def full_like(x, fill_value, *, dtype=None, device=None):
    d.require_tensor("full_like", x)
    return full(x.shape, fill_value, dtype=_dt(dtype, x.dtype), device=device or x.device)


def _real(op, name, value):
    """A real Python number (NumPy scalars become Python ones), or a TypeError naming ``op``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


@_creation
def arange(start, stop=None, step=1, *, dtype=None, device=None):
    """Evenly spaced values in [start, stop).

    >>> import tensorswitch as ts
    >>> ts.arange(0, 5, 2).tolist()
    [0, 2, 4]
    """
    if stop is None:
        start, stop = 0, start
    start, stop, step = (_real("arange", name, v) for name, v in (("start", start), ("stop", stop), ("step", step)))
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if builtins.any(isinstance(v, (float, np.floating)) and not math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"arange: start, stop and step must be finite, got {start}, {stop}, {step}")
    if dtype is None:
        dtype = default_float if builtins.any(isinstance(v, (float, np.floating)) for v in (start, stop, step)) \
            else default_int
    dt = to_dtype(dtype)
    if isinstance(start, (int, np.integer)) and isinstance(step, (int, np.integer)):
        n = builtins.max(0, -(-(int(stop) - int(start)) // int(step)) if isinstance(stop, (int, np.integer)) else
                         math.ceil((stop - start) / step))
    else:
        n = builtins.max(0, math.ceil((stop - start) / step))
    if dt.kind in ("int", "uint") and n:
        last = start + (n - 1) * step
        d.fill_value("arange", int(start), dt)  # OverflowError when the values leave the dtype's range
        d.fill_value("arange", int(last), dt)
        d.fill_value("arange", int(step), DTYPES[4])  # the kernels step in int64
        if not builtins.all(float(v).is_integer() for v in (start, step)):
            start, step = int(start), int(step)
    out = _empty("arange", (n,), dt, device)
    return d.run("arange", out.dtype, out, start, step)


@_creation
def linspace(start, stop, num, *, dtype=None, device=None, endpoint=True):
    """``num`` evenly spaced values from ``start`` to ``stop``; computed in floating point, then cast to an integer
    ``dtype`` (truncating, as NumPy does)."""
    num = as_int(num, "linspace: num")
    if num < 0:
        raise ValueError("linspace: num must be non-negative")
    if isinstance(start, (complex, np.complexfloating)) or isinstance(stop, (complex, np.complexfloating)) or \
            (dtype is not None and to_dtype(dtype).kind == "complex"):
        return _complex_linspace(start, stop, num, dtype, device, endpoint)
    start, stop = _real("linspace", "start", start), _real("linspace", "stop", stop)
    dt = _dt(dtype, default_float)
    dev = get_device(device)
    if dt.kind != "float":
        compute = DTYPES[8] if DTYPES[8] in dev.supported_dtypes() else default_float
        return d.astype(linspace(start, stop, num, dtype=compute, device=dev, endpoint=endpoint), dt)
    div = (num - 1) if endpoint else num
    try:
        start, stop = float(start), float(stop)
    except OverflowError:
        raise OverflowError(f"linspace: start and stop must fit a float, got {start} and {stop}") from None
    step = (stop - start) / div if div > 0 else 0.0
    out = _empty("linspace", (num,), dt, dev)
    d.run("arange", out.dtype, out, start, step)
    if endpoint and num > 1:
        out[num - 1] = stop
    return out


def _complex_linspace(start, stop, num, dtype, device, endpoint):
    """linspace of complex numbers: the real and the imaginary parts, each a real linspace written into its half of
    every element (views of the complex tensor's memory as its parts' dtype)."""
    for name, v in (("start", start), ("stop", stop)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, complex, np.number)):
            raise TypeError(f"linspace: {name} must be a number, got {v!r} ({type(v).__name__})")
    start, stop = complex(start), complex(stop)
    dt = _dt(dtype, default_complex)
    if dt.kind != "complex":
        raise TypeError(f"linspace: complex start or stop needs a complex dtype, got dtype={dt.name}")
    dev = get_device(device)
    out = _empty("linspace", (num,), dt, dev)
    part = REAL_OF[dt]
    for i, (a, b) in enumerate(((start.real, stop.real), (start.imag, stop.imag))):
        view = make_tensor(out.buffer, 2 * out.offset + i, (num,), (2,), part, dev, False)
        d.run("astype", part, view, linspace(a, b, num, dtype=part, device=dev, endpoint=endpoint))
    return out


@_creation
def eye(n_rows, n_cols=None, *, k=0, dtype=None, device=None):
    """A 2-D tensor with ones on the ``k``-th diagonal."""
    n_rows = as_int(n_rows, "eye: n_rows")
    n_cols = n_rows if n_cols is None else as_int(n_cols, "eye: n_cols")
    k = as_int(k, "eye: k")
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"eye: n_rows and n_cols must be non-negative, got {n_rows} and {n_cols}")
    out = zeros((n_rows, n_cols), dtype=dtype, device=device)
    start = k if k >= 0 else -k * n_cols
    length = builtins.max(0, builtins.min(n_rows - builtins.max(0, -k), n_cols - builtins.max(0, k)))
    if length:
        diag = make_tensor(out.buffer, start, (length,), (n_cols + 1,), out.dtype, out.device, False)
        d.run("fill", out.dtype, diag, d.fill_value("eye", 1, out.dtype))
    return out


# -- random numbers -------------------------------------------------------------------------------------------------

class Generator:
    """A counter-based generator (Philox4x32-10, see Note [Random numbers]): the same seed draws the same numbers
    on every device."""

    def __init__(self, seed=0):
        self.seed, self.offset = as_int(seed, "seed") & 0xFFFFFFFFFFFFFFFF, 0
        self._lock = threading.Lock()

    def manual_seed(self, seed):
        """Restart the stream at ``seed`` (any int; taken modulo 2**64, so negative seeds work too)."""
        seed = as_int(seed, "manual_seed: seed") & 0xFFFFFFFFFFFFFFFF
        with self._lock:
            self.seed, self.offset = seed, 0
        return self

    def next(self):
        with self._lock:
            self.offset += 1
            return self.seed, self.offset - 1


_generators = {}


def generator(device=None):
    """The generator of ``device`` (one per device, created on first use)."""
    dev = get_device(device)
    g = _generators.get(dev)
    if g is None:
        g = _generators.setdefault(dev, Generator(_default_seed[0]))
    return g


_default_seed = [0x2545F4914F6CDD1D]


def manual_seed(seed):
    """Seed the generators of every device (any int; taken modulo 2**64)."""
    _default_seed[0] = as_int(seed, "manual_seed: seed") & 0xFFFFFFFFFFFFFFFF
    for g in _generators.values():
        g.manual_seed(seed)
    _generators.clear()


def _random(op, shape, dtype, device, *params):
    out = _empty(op, shape, dtype, device)
    seed, offset = generator(out.device).next()
    return d.run(op, out.dtype, out, seed, offset, *params)


@_creation
def rand(*shape, dtype=None, device=None):
    """Uniform samples in [0, 1).  ``ts.rand(2, 3)`` or ``ts.rand((2, 3))``."""
    dt = _dt(dtype, default_float)
    if dt.kind != "float":
        raise TypeError(f"rand: dtype must be floating, got {dt.name}")
    return _random("rand", _varargs_shape("rand", shape), dt, device)


@_creation
def randn(*shape, dtype=None, device=None):
    """Standard normal samples."""
    dt = _dt(dtype, default_float)
    if dt.kind != "float":
        raise TypeError(f"randn: dtype must be floating, got {dt.name}")
    return _random("randn", _varargs_shape("randn", shape), dt, device)


def _varargs_shape(op, shape):
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and (shape[0] is None or not hasattr(shape[0], "__index__") or
                            getattr(shape[0], "ndim", 0) > 0):
        shape = shape[0]
    return as_shape(op, shape)


@_creation
def randint(low, high=None, size=(), *, dtype=None, device=None):
    """Integers in [low, high).  ``ts.randint(10, size=(3,))`` draws from [0, 10)."""
    if high is None:
        low, high = 0, low
    low, high = as_int(low, "randint: low"), as_int(high, "randint: high")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    dt = _dt(dtype, default_int)
    if dt.kind not in ("int", "uint"):
        raise TypeError(f"randint: dtype must be an integer dtype, got {dt.name}")
    lo, hi = INT_RANGE[dt]
    if low < lo or high - 1 > hi:
        raise OverflowError(f"randint: [{low}, {high}) does not fit in {dt.name} (which holds {lo} to {hi})")
    return _random("randint", _shape(size, "randint"), dt, device, low, high)


# -- conversion and transfer ----------------------------------------------------------------------------------------

@_creation
def asarray(obj, dtype=None, device=None, copy=None):
    """A tensor from a list, scalar, NumPy array, tensor, or array of any library that speaks DLPack (PyTorch,
    CuPy, JAX, ...).

    Python floats become float32 (the default float dtype), Python complex numbers complex64, Python ints int64;
    arrays keep their dtype, and
    big-endian NumPy arrays are converted to the machine's byte order.  ``copy``: None (the default) and True give a
    tensor with memory of its own (a tensor passed in is returned as it is when nothing changes, for None);
    False shares the memory of a tensor, a NumPy array or a DLPack producer (``ts.from_dlpack``), on the device it
    is on, and raises ValueError where that cannot be done without a copy (lists, another dtype or device, a
    byte order to convert).

    >>> import tensorswitch as ts
    >>> ts.asarray([1.5, 2.5]).dtype
    ts.float32
    """
    from . import interop

    interop.check_copy("asarray", copy)
    if isinstance(obj, Tensor):
        out = obj
        if device is not None:
            out = out.to(device)
        if dtype is not None:
            out = astype(out, dtype, copy=False)
        if copy is False and out is not obj:
            raise ValueError(f"asarray: copy=False, but this {obj.dtype.name} tensor on {obj.device} as "
                             f"{out.dtype.name} on {out.device} needs a copy; pass copy=None to allow one")
        if copy and out is obj:
            out = d.astype(out, out.dtype)
        return out
    if copy is False:
        return interop.shared(obj, None if dtype is None else _asarray_dtype(dtype), device)
    dev = get_device(device)
    if interop.is_dlpack_producer(obj):  # PyTorch, CuPy, JAX: imported where they are, then copied (as NumPy arrays)
        staged = interop.from_dlpack_or_none(obj)
        if staged is not None:
            out = asarray(staged, dtype=dtype, device=dev)
            return d.astype(out, out.dtype) if out.buffer is staged.buffer else out
    python_data = not isinstance(obj, (np.ndarray, np.generic))
    if dtype is not None:
        dt = _asarray_dtype(dtype)
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # 1e6 as float16 is inf, as in every kernel
                host = np.asarray(obj, dtype=dt.numpy)
        except (OverflowError, TypeError, ValueError) as exc:
            raise _conversion_error(obj, exc, errors.a(dt.name)) from None
    else:
        try:
            host = np.asarray(obj)
        except (OverflowError, TypeError, ValueError) as exc:  # ragged lists, strange objects
            raise _conversion_error(obj, exc, "a") from None
        if python_data and host.dtype == object and _has_big_int(obj):
            raise OverflowError("asarray: a Python integer does not fit in 64 bits; tensorswitch's widest integer "
                                "dtype is int64")
        if host.dtype == np.float64 and python_data:
            host = host.astype(np.float32)  # Python floats take the default float dtype
        elif host.dtype == np.complex128 and python_data:
            host = host.astype(np.complex64)  # and Python complex numbers the default complex dtype
        elif host.dtype.kind in "iu" and host.dtype != np.uint8 and python_data:
            if host.dtype == np.uint64 and host.size and host.max() > np.iinfo(np.int64).max:
                raise OverflowError(f"asarray: {int(host.max())} does not fit in int64, the default integer dtype "
                                    f"Python ints take: pass dtype=ts.uint64 (NumPy would make a uint64 array)")
            host = host.astype(np.int64)
        if host.dtype.kind not in "biufc" or host.dtype == object:
            raise TypeError(f"asarray: cannot make a tensor from {type(obj).__name__} with NumPy dtype "
                            f"{host.dtype}; supported dtypes are {', '.join(x.name for x in DTYPES)}")
        dt = _asarray_dtype(host.dtype)
    return from_numpy(host, dt, dev)


def _conversion_error(obj, exc, what):
    """asarray's own words for what NumPy refused (ragged lists, values that are not numbers, ints too large)."""
    text = repr(obj)
    text = text if len(text) <= 60 else text[:57] + "..."
    if isinstance(exc, OverflowError):
        return OverflowError(f"asarray: a value of {text} does not fit {what.split()[-1]}"
                             if what != "a" else f"asarray: a value of {text} is too large for any tensor dtype")
    if isinstance(exc, ValueError) and ("inhomogeneous" in str(exc) or "sequence" in str(exc)):
        return ValueError(f"asarray: the nested sequences of {text} have different lengths; every row must have "
                          f"the same length")
    return type(exc)(f"asarray: cannot make {what} tensor from {type(obj).__name__} {text}; pass numbers, nested "
                     f"lists of numbers, NumPy arrays or tensors")


def _asarray_dtype(dtype):
    try:
        return to_dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"asarray: {exc}") from None


def _has_big_int(obj):
    if isinstance(obj, int) and not isinstance(obj, bool):
        return not -2**63 <= obj < 2**64
    if isinstance(obj, (list, tuple)):
        return builtins.any(_has_big_int(o) for o in obj)
    return False


tensor = asarray


def from_numpy(host, dt, dev):
    d.check_dtype("asarray", dt, dev)
    host = np.asarray(host, dtype=dt.numpy, order="C")  # ascontiguousarray would make 0-d 1-d; converts byte order
    check_ndim("asarray", host.ndim)
    if dt is _BOOL:  # NumPy bools may hold any byte (np.frombuffer); ours hold 0 or 1
        host = host.view(np.uint8) != 0
    out = d.empty(host.shape, dt, dev)
    if out.size:
        call_hook(dev.backend, "copy_in", out.buffer.handle, 0, host, dev.index)
    return out


def to_numpy(x):
    if not x.is_contiguous and x.size and not _has_astype(x):
        # no astype kernel on this device: gather on the host from the memory span the view touches
        lo, hi = d.span(x)
        flat = np.empty(hi - lo, dtype=x.dtype.numpy)
        call_hook(x.device.backend, "copy_out", x.buffer.handle, lo * x.dtype.itemsize, flat,
                  x.device.index)
        item = x.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[x.offset - lo:], x.shape, tuple(s * item for s in x.strides))
        return np.array(view)
    x = d.contiguous(x)
    host = np.empty(x.shape, dtype=x.dtype.numpy)
    if x.size:
        call_hook(x.device.backend, "copy_out", x.buffer.handle, x.offset * x.dtype.itemsize, host,
                  x.device.index)
    return host


def _has_astype(x):
    return (("astype", x.device.type, x.dtype) in d.registry.fast or
            d.registry.fallback_for(x.device.type) is not None)


def to(x, device=None, dtype=None):
    out = x
    if dtype is not None:
        out = astype(out, dtype, copy=False)
    if device is None:
        return out
    dev = get_device(device)
    if dev is out.device:
        return out
    d.check_dtype("to", out.dtype, dev)
    if not out.is_contiguous and not _has_astype(out):
        return from_numpy(to_numpy(out), out.dtype, dev)
    src = d.contiguous(out)
    result = d.empty(src.shape, src.dtype, dev)
    if src.size:
        itemsize = src.dtype.itemsize
        if dev.backend is src.device.backend:
            call_hook(dev.backend, "copy_between", result.buffer.handle, 0, dev.index, src.buffer.handle,
                      src.offset * itemsize, src.device.index, src.nbytes)
        else:
            host = np.empty(src.shape, dtype=src.dtype.numpy)
            call_hook(src.device.backend, "copy_out", src.buffer.handle, src.offset * itemsize, host,
                      src.device.index)
            call_hook(dev.backend, "copy_in", result.buffer.handle, 0, host, dev.index)
    return result


def astype(x, dtype, /, *, copy=True, device=None):
    """``x`` converted to ``dtype`` (Array API)."""
    out = d.astype(x, to_dtype(dtype), copy=copy)
    return out if device is None else out.to(device)


# -- shapes ---------------------------------------------------------------------------------------------------------

def _view_strides(old_shape, old_strides, new_shape):
    """Strides that view ``old`` as ``new_shape`` without copying, or None (PyTorch's computeStride)."""
    if not old_shape:
        return contiguous_strides(new_shape)
    numel = math.prod(old_shape)
    if numel == 0:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = old_strides[-1]
    tensor_numel, view_numel = 1, 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                             old_strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = old_strides[tensor_d - 1]
                tensor_numel, view_numel = 1, 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def reshape(x, /, shape, *, copy=None):
    """``x`` with a new shape: a view when possible.  One dimension may be -1."""
    d.require_tensor("reshape", x)
    shape = as_shape("reshape", shape, allow_unknown=True)
    if shape.count(-1) > 1:
        raise errors.ShapeError("reshape: only one dimension can be -1")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or x.size % known:
            raise errors.ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} elements) into {shape}")
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if math.prod(shape) != x.size or builtins.any(n < 0 for n in shape):
        raise errors.ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} elements) into {shape}")
    strides = None if copy else _view_strides(x.shape, x.strides, shape)
    if strides is None:
        if copy is False:
            raise ValueError(f"reshape: {x.shape} with strides {x.strides} cannot be viewed as {shape} "
                             f"without a copy")
        x = d.astype(x, x.dtype)
        strides = contiguous_strides(shape)
    out = make_tensor(x.buffer, x.offset, shape, strides, x.dtype, x.device)
    return read_only(out) if type(x) is not Tensor and isinstance(x, ReadOnlyTensor) else out


def permute_dims(x, axes):
    d.require_tensor("permute_dims", x)
    return x.permute_dims(axes)


def broadcast_to(x, shape):
    d.require_tensor("broadcast_to", x)
    return x.broadcast_to(shape)


def broadcast_arrays(*arrays):
    """Read-only views of ``arrays`` broadcast to one shape."""
    for a in arrays:
        d.require_tensor("broadcast_arrays", a)
    shape = d.broadcast_shapes("broadcast_arrays", *(a.shape for a in arrays))
    return [a.broadcast_to(shape) for a in arrays]


def squeeze(x, axis):
    d.require_tensor("squeeze", x)
    return x.squeeze(axis)


def expand_dims(x, axis=0):
    d.require_tensor("expand_dims", x)
    return x.expand_dims(axis)


def concat(arrays, axis=0):
    """Join tensors along an existing axis (``axis=None`` flattens first)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concat needs at least one tensor")
    for a in arrays:
        d.require_tensor("concat", a)
    if axis is None:
        arrays, axis = [reshape(a, (-1,)) for a in arrays], 0
    first = arrays[0]
    for a in arrays[1:]:
        if a.device is not first.device:
            raise errors.device_mismatch("concat", (first.device, a.device))
    dt = first.dtype
    for a in arrays[1:]:
        dt = d._PROMOTE[(dt, a.dtype)]
    nd = first.ndim
    if nd == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = normalize_axis("concat", axis, nd)
    for a in arrays:
        if a.ndim != nd or builtins.any(a.shape[i] != first.shape[i] for i in range(nd) if i != axis):
            raise errors.ShapeError(f"concat: shapes {[x.shape for x in arrays]} differ outside axis {axis}")
    shape = list(first.shape)
    shape[axis] = builtins.sum(a.shape[axis] for a in arrays)
    out = d.empty(tuple(shape), dt, first.device)
    start = 0
    for a in arrays:
        n = a.shape[axis]
        if n:
            index = (slice(None),) * axis + (slice(start, start + n),)
            d.copy_into(out[index], a)
        start += n
    return out


def stack(arrays, axis=0):
    """Join tensors along a new axis."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack needs at least one tensor")
    for a in arrays:
        d.require_tensor("stack", a)
    shape = arrays[0].shape
    for a in arrays:
        if a.shape != shape:
            raise errors.ShapeError(f"stack: all tensors must have the same shape, got "
                                    f"{[x.shape for x in arrays]}")
    axis = normalize_axis("stack", axis, len(shape) + 1)
    return concat([a.expand_dims(axis) for a in arrays], axis=axis)


# -- reductions and statistics ----------------------------------------------------------------------------------------

def _reduction(op):
    fast = d.make_reduction(op)  # Note [Reduction fast path]
    if op in ("sum", "prod"):  # the Array API's dtype= (issue 8): x is cast first, the result is that dtype
        def fn(x, /, *, axis=None, dtype=None, keepdims=False):
            if dtype is None:
                return fast(x, axis, keepdims)
            dt = to_dtype(dtype)
            d.require_tensor(op, x)
            d.check_dtype(op, dt, x.device)
            out = d.reduce(op, x if x.dtype is dt else d.astype(x, dt), axis, keepdims)
            return out if out.dtype is dt else d.astype(out, dt)  # integers summed in int64 wrap to dt, as NumPy's

        doc = ("; ``dtype`` casts x to that dtype first and gives the result in it (None: int64 for integers and "
               "bool, else x's dtype).")
    else:
        def fn(x, /, *, axis=None, keepdims=False):
            return fast(x, axis, keepdims)

        doc = "."
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"{op} over ``axis`` (an int, a tuple, or None for all), optionally keeping reduced dims{doc}"
    fn.fast = fast  # what x.sum() calls directly (dispatch/methods.py)
    return fn


sum = _reduction("sum")  # noqa: A001
prod = _reduction("prod")
max = _reduction("max")  # noqa: A001
min = _reduction("min")  # noqa: A001
all = _reduction("all")  # noqa: A001
any = _reduction("any")  # noqa: A001


def argmax(x, /, *, axis=None, keepdims=False):
    """Index of the first maximum, over the flattened tensor when ``axis`` is None."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, /, *, axis=None, keepdims=False):
    """Index of the first minimum, over the flattened tensor when ``axis`` is None."""
    return _arg("argmin", x, axis, keepdims)


def _arg(op, x, axis, keepdims):
    d.require_tensor(op, x)
    if axis is not None:
        if isinstance(axis, (tuple, list)):
            raise TypeError(f"{op}: axis must be an int or None, got {axis!r}")
        axis = normalize_axis(op, axis, x.ndim)
    out = d.reduce(op, x, axis, False)
    if keepdims:
        shape = (1,) * x.ndim if axis is None else tuple(1 if i == axis else n for i, n in enumerate(x.shape))
        out = reshape(out, shape)
    return out


def _count(x, axis):
    axes = d.normalize_axes("mean", axis, x.ndim) if x.ndim else ()
    return math.prod(x.shape[a] for a in axes)


def _statistic_input(op, x, axis):
    """``x`` in the dtype a mean or variance accumulates in (integers: float32; float16: float32, as NumPy does,
    since float16 cannot even hold a count above 65504), and the result dtype."""
    d.require_tensor(op, x)
    d.normalize_axes(op, axis, x.ndim)
    if x.dtype.kind == "complex":  # complex means stay complex (var and std take the real dtype: see var)
        return x, x.dtype
    result = x.dtype if x.dtype.kind == "float" else default_float
    if x.dtype.kind != "float" or x.dtype is DTYPES[6]:
        x = d.astype(x, default_float)
    return x, result


def _finish(out, result):
    return out if out.dtype is result else d.astype(out, result)


def mean(x, /, *, axis=None, keepdims=False):
    """The arithmetic mean; integer input is computed in the default float dtype, float16 accumulates in float32."""
    x, result = _statistic_input("mean", x, axis)
    return _finish(d.binary("divide", d.reduce("sum", x, axis, keepdims), _count(x, axis) or float("nan")), result)


def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    """The variance, with ``correction`` degrees of freedom removed (Array API).  Complex input gives the real
    variance of ``|x - mean(x)|``, in the dtype of its parts, as NumPy's ``var`` does."""
    x, result = _statistic_input("var", x, axis)
    correction = _real("var", "correction", correction)
    dev = d.binary("subtract", x, mean(x, axis=axis, keepdims=True))
    if dev.dtype.kind == "complex":
        dev = d.unary("abs", dev)
        result = dev.dtype
    total = d.reduce("sum", d.unary("square", dev), axis, keepdims)
    return _finish(d.binary("divide", total, float(builtins.max(_count(x, axis) - correction, 0)) or float("nan")),
                   result)


def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    """The standard deviation (square root of ``var``)."""
    x, result = _statistic_input("std", x, axis)
    out = var(x, axis=axis, correction=correction, keepdims=keepdims)
    return _finish(d.unary("sqrt", out), result if result.kind != "complex" else out.dtype)


# -- the rest ------------------------------------------------------------------------------------------------------

def matmul(x1, x2, /):
    """Matrix product with NumPy's rules for 1-D operands and broadcast batch dimensions."""
    return d.matmul(x1, x2)


def where(condition, x1=None, x2=None, /):
    """Elements of ``x1`` where ``condition`` holds, else of ``x2`` (broadcasting).  ``where(condition)`` alone is
    ``nonzero(condition)`` (NumPy's habit)."""
    if x1 is None and x2 is None:
        from .searching import nonzero

        return nonzero(condition)
    if x1 is None or x2 is None:
        raise TypeError("where: pass both x1 and x2, or neither (where(condition) is nonzero(condition))")
    return d.where(condition, x1, x2)


_softmax = d.make_softmax("softmax")
_log_softmax = d.make_softmax("log_softmax")


def softmax(x, /, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    return _softmax(x, axis)


def log_softmax(x, /, axis=-1):
    """log(softmax(x)) along ``axis``, computed stably."""
    return _log_softmax(x, axis)


#: what each elementwise op computes, for help(ts.<op>)
_SUMMARIES = {
    "negative": "The negation -x.", "positive": "x itself (a copy), as +x.",
    "abs": "The absolute value |x| (integer minimums wrap, as in NumPy).",
    "exp": "The exponential e**x.", "log": "The natural logarithm (NaN below 0, -inf at 0).",
    "sqrt": "The square root (NaN below 0).", "sin": "The sine (radians).", "cos": "The cosine (radians).",
    "tanh": "The hyperbolic tangent.", "sigmoid": "The logistic function 1 / (1 + exp(-x)).",
    "erf": "The error function 2 / sqrt(pi) * integral of exp(-t**2) from 0 to x.",
    "relu": "max(x, 0); NaN stays NaN.", "sign": "-1, 0 or 1 by the sign of x; NaN stays NaN.",
    "floor": "The largest integer <= x.", "ceil": "The smallest integer >= x.", "square": "x * x.",
    "logical_not": "True where x is zero.", "isnan": "True where x is NaN.", "isinf": "True where x is +-inf.",
    "isfinite": "True where x is neither NaN nor infinite.",
    "add": "The sum x1 + x2.", "subtract": "The difference x1 - x2.", "multiply": "The product x1 * x2.",
    "divide": "The true quotient x1 / x2.",
    "floor_divide": "The quotient x1 // x2, rounded towards -inf (integer division by zero gives 0).",
    "remainder": "x1 % x2 with the sign of x2 (integer remainder by zero gives 0).",
    "pow": "x1 ** x2 (integer powers with negative exponents give 0 except for bases 1 and -1).",
    "maximum": "The larger of x1 and x2; NaN wins.", "minimum": "The smaller of x1 and x2; NaN wins.",
    "equal": "x1 == x2.", "not_equal": "x1 != x2.", "less": "x1 < x2.", "less_equal": "x1 <= x2.",
    "greater": "x1 > x2.", "greater_equal": "x1 >= x2.",
    "logical_and": "True where both x1 and x2 are nonzero.", "logical_or": "True where x1 or x2 is nonzero.",
    # the rest of the Array API standard (Note [Elementwise special cases] in kernels/optable.py)
    "acos": "The inverse cosine, in [0, pi] (NaN outside [-1, 1]).", "acosh": "The inverse hyperbolic cosine "
    "(NaN below 1).", "asin": "The inverse sine, in [-pi/2, pi/2] (NaN outside [-1, 1]).",
    "asinh": "The inverse hyperbolic sine.", "atan": "The inverse tangent, in [-pi/2, pi/2].",
    "atanh": "The inverse hyperbolic tangent (+-inf at +-1, NaN outside [-1, 1]).",
    "cosh": "The hyperbolic cosine.", "sinh": "The hyperbolic sine.", "tan": "The tangent (radians).",
    "expm1": "exp(x) - 1, accurate near 0.", "log1p": "log(1 + x), accurate near 0.",
    "log2": "The base-2 logarithm.", "log10": "The base-10 logarithm.", "reciprocal": "1 / x.",
    "round": "The nearest integer; halves round to even (0.5 -> 0, 1.5 -> 2), as in NumPy.",
    "trunc": "The integer part, rounded towards zero.",
    "signbit": "True where the sign bit is set: negative numbers, -0.0 and NaNs with the sign bit.",
    "bitwise_invert": "~x: every bit flipped (logical not for bool).",
    "real": "The real part, in the dtype of the parts (float32 for complex64); a copy of x for real dtypes.",
    "imag": "The imaginary part, in the dtype of the parts; zeros for real dtypes.",
    "conj": "The complex conjugate: a copy of x for real dtypes.",
    "angle": "The argument (phase) of complex x in radians, atan2(imag, real); 0 or pi for real x (NumPy's angle).",
    "atan2": "The angle of the point (x2, x1) in radians, in [-pi, pi]; signed zeros pick the quadrant.",
    "hypot": "sqrt(x1**2 + x2**2) without overflow or underflow on the way; inf if either is infinite.",
    "copysign": "The magnitude of x1 with the sign bit of x2.",
    "logaddexp": "log(exp(x1) + exp(x2)), without overflow.",
    "nextafter": "The next representable value after x1 towards x2 (in x1's own dtype, float16 included).",
    "logical_xor": "True where exactly one of x1 and x2 is nonzero.",
    "bitwise_and": "x1 & x2, bit by bit (bool and integers).", "bitwise_or": "x1 | x2, bit by bit (bool and integers).",
    "bitwise_xor": "x1 ^ x2, bit by bit (bool and integers).",
    "bitwise_left_shift": "x1 << x2; counts below 0 or at least the bit width give 0 (NumPy's rule).",
    "bitwise_right_shift": "x1 >> x2, arithmetic (floor division by 2**x2); counts below 0 or at least the bit width "
                           "give 0, or -1 for negative x1 (NumPy's rule).",
}


def _make_elementwise(op):
    fn = (d.UNARY if op.arity == 1 else d.BINARY)[op.name]
    args = "x" if op.arity == 1 else "x1, x2"
    lines = [f"{op.name}({args}): {_SUMMARIES[op.name]}", ""]
    if op.arity == 2:
        lines.append("Elementwise, with broadcasting; Python scalars are weak (Note [Type promotion]).")
    else:
        lines.append("Elementwise.")
    lines.append(f"Kernels for {', '.join(op.dtypes)}"
                 + ("; integer and bool inputs compute in float32." if op.to_float else "."))
    if "float32" in op.dtypes:
        example = "ts.asarray([1.0, 4.0])" + (", ts.asarray([2.0, 0.5])" if op.arity == 2 else "")
    else:  # the bitwise functions take integers
        example = "ts.asarray([1, 4])" + (", ts.asarray([2, 1])" if op.arity == 2 else "")
    lines += ["", ">>> import tensorswitch as ts", f">>> ts.{op.name}({example}).shape", "(2,)"]
    fn.__doc__ = "\n".join(lines)
    fn.__module__ = "tensorswitch"
    return fn


ELEMENTWISE_FUNCTIONS = {name: _make_elementwise(op) for name, op in optable.ELEMENTWISE.items()}


# -- clip: the standard's one elementwise function of three operands (issue 8) ---------------------------------------

def clip(x, /, min=None, max=None):  # noqa: A002 - the standard's names
    """``x`` clamped to [min, max] elementwise (Array API); ``min`` and ``max`` are None (no bound), Python numbers
    or tensors, broadcast against ``x``.  The result keeps ``x``'s dtype.

    NaN in ``x``, ``min`` or ``max`` gives NaN.  Python integers beyond an integer dtype's range drop the bound they
    cannot reach (``min=-1000`` on int8); a bound that excludes every value of the dtype raises OverflowError.
    Integer ``x`` with float bounds raises TypeError (the standard leaves mixed kinds undefined); tensor bounds of
    another dtype of the same kind are compared in the promoted dtype and the result cast back to ``x``'s.  Where
    ``min > max`` the result is ``max``, as in NumPy and PyTorch (the standard leaves it undefined).

    >>> import tensorswitch as ts
    >>> ts.clip(ts.asarray([-2.0, 0.5, 3.0]), 0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    """
    d.require_tensor("clip", x)
    if x.dtype.kind not in ("int", "uint", "float"):
        raise TypeError(f"clip: x must have a real numeric dtype, got {x.dtype.name}; cast it first "
                        f"(x.astype(ts.int8))")
    low, high = _clip_bound(x, "min", min), _clip_bound(x, "max", max)
    if low is None and high is None:
        return d.astype(x, x.dtype)  # a copy, as every elementwise function returns a new tensor
    out = x
    if low is not None:
        out = d.BINARY["maximum"](out, low)
    if high is not None:
        out = d.BINARY["minimum"](out, high)
    return out if out.dtype is x.dtype else d.astype(out, x.dtype)


def _clip_bound(x, name, bound):
    """``bound`` as an operand of maximum/minimum with ``x`` (None where it bounds nothing), or the clear error."""
    if bound is None:
        return None
    integral = x.dtype.kind in ("int", "uint")
    if isinstance(bound, Tensor):
        if bound.dtype.kind not in ("int", "uint", "float"):
            raise TypeError(f"clip: {name} must have a real numeric dtype, got {bound.dtype.name}")
        if integral and bound.dtype.kind == "float":
            raise TypeError(f"clip: {name} is {bound.dtype.name} but x is {x.dtype.name}; pass integer bounds for "
                            f"integer x, or cast x to a float dtype first")
        if bound.device is not x.device:
            raise errors.device_mismatch("clip", (x.device, bound.device))
        return bound if integral or bound.dtype.kind == "float" else d.astype(bound, x.dtype)
    if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, (int, float, np.integer, np.floating)):
        raise TypeError(f"clip: {name} must be None, a real number or a tensor, got {type(bound).__name__}")
    if not integral:
        return float(bound)
    if isinstance(bound, (float, np.floating)):
        raise TypeError(f"clip: {name}={bound!r} is a float but x is {x.dtype.name}; pass an int, or cast x to a "
                        f"float dtype first")
    bound = int(bound)
    lo, hi = INT_RANGE[x.dtype]
    if (bound <= lo and name == "min") or (bound >= hi and name == "max"):
        return None  # every value of the dtype is inside this bound
    if bound > hi or bound < lo:
        raise OverflowError(f"clip: {name}={bound} excludes every {x.dtype.name} value (which holds {lo} to {hi}); "
                            f"cast x to a wider dtype first")
    return bound


ELEMENTWISE_FUNCTIONS["clip"] = clip
globals().update(ELEMENTWISE_FUNCTIONS)


def _install_methods():
    _install_operators()
    for name in ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean", "var", "std"):
        setattr(Tensor, name, globals()[name])
    for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sign", "floor", "ceil",
                 "square", "isnan", "isinf", "isfinite", "logical_not"):
        setattr(Tensor, name, ELEMENTWISE_FUNCTIONS[name])
    Tensor.matmul = matmul
    Tensor.softmax = softmax
    Tensor.log_softmax = log_softmax


_install_methods()


__all__ = ["empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like", "arange", "linspace",
           "eye", "rand", "randn", "randint", "manual_seed", "generator", "Generator", "asarray", "tensor",
           "astype", "reshape", "permute_dims", "broadcast_to", "broadcast_arrays", "squeeze", "expand_dims",
           "concat", "stack", "sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean", "var", "std",
           "matmul", "where", "softmax", "log_softmax"] + list(ELEMENTWISE_FUNCTIONS)
