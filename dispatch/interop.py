"""Interchange: DLPack (``__dlpack__``, ``from_dlpack``), NumPy's ``__array__``, ``__cuda_array_interface__``.

    >>> import numpy as np, tensorswitch as ts
    >>> x = ts.asarray([1.0, 2.0, 3.0])
    >>> a = np.asarray(x)          # no copy: a views x's memory
    >>> a[0] = 5.0
    >>> x[0].item()
    5.0
    >>> y = ts.from_dlpack(a)      # no copy either way
    >>> float(y[0])
    5.0

Note [DLPack exchange]
~~~~~~~~~~~~~~~~~~~~~~
DLPack (https://dmlc.github.io/dlpack/latest/) is how array libraries hand each other memory without copying: the
producer's ``__dlpack__`` returns a capsule describing its memory (pointer, shape, strides in elements, dtype,
device) and a deleter; the consumer wraps the memory and calls the deleter when done.  What each side does here:

* Export (``Tensor.__dlpack__``, the Array API standard 2024.12's signature).  A backend that can hand out its memory
  registers an exporter (``register_dlpack``): cpu (a capsule over the pool's memory, kernels/cpu/dlpack.h) and cuda
  (the same capsule over device memory, the consumer's stream made to wait for ours).  The capsule keeps the tensor's
  buffer alive until the consumer calls the deleter.  ``max_version`` of (1, 0) or later gets a DLPack 1.x
  ("dltensor_versioned") capsule, which can say read-only and copied; older consumers get the legacy "dltensor".
  ``copy=True`` exports a fresh copy; ``dl_device=(kDLCPU, 0)`` a host copy of a tensor on another device, unless
  ``copy=False``.  OpenCL buffers are not addresses another library can use, so opencl tensors export only through a
  host copy, and only where the caller allows one (``copy=True`` or ``dl_device`` host); otherwise BufferError says
  how to ask for it.
* Read-only tensors (broadcast views and views of them, read-only imports) export with DLPack 1.x's read-only flag;
  a legacy capsule cannot carry it, so that export is a BufferError unless ``copy=True``.
* Negative strides: DLPack allows them, but PyTorch up to 2.13 aborts the whole process on importing one
  (pytorch/pytorch#188023), and a consumer cannot be told apart before it imports.  So a view with a negative
  stride is exported as a contiguous copy, and ``copy=False`` is a BufferError saying so.  NumPy needs no copy:
  ``__array__`` (``np.asarray(x)``) exports the view with those axes reversed and reverses them back in NumPy.
  Strides of size-1 dims are exported as the contiguous ones (their value is never used, and consumers then see
  contiguous tensors as contiguous).
* Import (``ts.from_dlpack``).  The producer is asked for a capsule on the device the result goes to (its own, or
  host memory for ``device="cpu"``), with ``copy`` passed on.  The cpu importer wraps the capsule's memory as a
  foreign buffer (Note [Foreign memory] in kernels/cpu/module.cpp) that frees the producer's tensor when the last
  tensor on it goes: the producer may be deleted at once.  A read-only capsule gives a read-only tensor.  The cuda
  importer goes through ``cupy.from_dlpack`` with our stream current, so the producer orders its work before ours.
  A tensor asked for on another device (``device="opencl"``) is imported where it lives and copied there.
"""

import enum
from collections import namedtuple

import numpy as np

from . import dispatcher as d
from .backend import Buffer
from .device import device as get_device
from .dtypes import DTYPES
from .shapes import check_ndim
from .tensor import ReadOnlyTensor, Tensor, make_tensor, read_only

__all__ = ["from_dlpack"]


class DLDeviceType(enum.IntEnum):
    """DLPack's device types (those tensorswitch names; ``__dlpack_device__`` answers with these)."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14


FLAG_READ_ONLY = 1 << 0  # DLPACK_FLAG_BITMASK_READ_ONLY
FLAG_IS_COPIED = 1 << 1  # DLPACK_FLAG_BITMASK_IS_COPIED
MAX_MINOR = 1            # the DLPack 1.x minor version our capsules follow
_HOST = (DLDeviceType.kDLCPU, 0)

# DLPack's type codes by our dtype kinds; the dtype is (code, bits), lanes always 1
_CODES = {"int": 0, "uint": 1, "float": 2, "complex": 5, "bool": 6}


def dlpack_dtype(dt):
    """(type code, bits) of a ts dtype in DLPack."""
    return _CODES[dt.kind], dt.itemsize * 8


def dlpack_dtypes():
    """Every (type code, bits) pair that has a ts dtype (what importers accept)."""
    return [dlpack_dtype(dt) for dt in DTYPES if dt.kind in _CODES]


def dtype_from_dlpack(code, bits):
    for dt in DTYPES:
        if dt.kind in _CODES and dlpack_dtype(dt) == (code, bits):
            return dt
    raise BufferError(f"from_dlpack: tensorswitch has no dtype for DLPack type code {code} with {bits} bits")


# -- what backends register ---------------------------------------------------------------------------------------

#: What an importer returns: ``handle`` (the backend's buffer handle over the memory, keeping the producer's memory
#: alive), its ``nbytes``, and the layout in elements from it; ``copied`` when the memory is a copy already.
Imported = namedtuple("Imported", "handle nbytes offset shape strides dtype read_only copied")

_DLPackHooks = namedtuple("_DLPackHooks", "dl_device_type export import_ imports cuda_array_interface")
_HOOKS = {}  # device type -> _DLPackHooks


def register_dlpack(device_type, dl_device_type, *, export=None, import_=None, imports=(),
                    cuda_array_interface=None):
    """Tell the interchange protocols what a backend can do (see Note [DLPack exchange]).

    ``dl_device_type`` is what ``__dlpack_device__`` answers for this device type.
    ``export(handle, offset, shape, strides, dtype, index, dl_dtype, versioned, minor, flags, stream)`` returns a
    capsule over a tensor's memory (offset and strides in elements, ``dl_dtype`` the (code, bits) pair); without it,
    tensors of this device type export only through a host copy.
    ``import_(obj, index, dl_device, copy)`` takes a producer whose data is on a DLPack device type in ``imports``
    and returns an :data:`Imported`; ``request_capsule`` asks the producer.
    ``cuda_array_interface(handle, byte_offset, index)`` returns (pointer, stream) for ``__cuda_array_interface__``.
    """
    _HOOKS[device_type] = _DLPackHooks(DLDeviceType(dl_device_type), export, import_, tuple(imports),
                                       cuda_array_interface)


def request_capsule(obj, *, stream=None, dl_device=None, copy=None):
    """``obj.__dlpack__(...)`` asking for a DLPack 1.x capsule, falling back to the arguments older producers know
    (as NumPy and PyTorch consumers do).  Returns (capsule, whether the producer took ``copy``)."""
    kwargs = {"max_version": (1, 0)}
    if stream is not None:
        kwargs["stream"] = stream
    if dl_device is not None:
        kwargs["dl_device"] = dl_device
    if copy is not None:
        kwargs["copy"] = copy
    for drop in (None, "max_version", "copy", "dl_device"):
        if drop is not None:
            kwargs.pop(drop, None)
        try:
            return obj.__dlpack__(**kwargs), "copy" in kwargs
        except TypeError:  # a producer from before that keyword: try without it
            if drop == "dl_device":
                raise
    raise AssertionError("unreachable")


# -- export -------------------------------------------------------------------------------------------------------

def dlpack_device(x):
    """``x.__dlpack_device__()``: (DLPack device type, device index)."""
    hooks = _HOOKS.get(x.device.type)
    kind = hooks.dl_device_type if hooks is not None else DLDeviceType.kDLExtDev
    return kind, x.device.index


def check_copy(op, copy):
    if copy is not None and copy is not True and copy is not False and not isinstance(copy, np.bool_):
        raise ValueError(f"{op}: copy must be True, False or None, got {copy!r}")


def _version(max_version):
    """(versioned, minor) of the capsule to make for a consumer that reads up to ``max_version``."""
    if max_version is None:
        return False, 0
    try:
        major, minor = max_version
        major, minor = major.__index__(), minor.__index__()
    except (AttributeError, TypeError, ValueError):
        raise TypeError(f"__dlpack__: max_version must be a (major, minor) tuple of ints, got {max_version!r}") \
            from None
    if major < 1:
        return False, 0
    return True, MAX_MINOR if major > 1 else min(minor, MAX_MINOR)


def _dl_pair(dl_device):
    try:
        kind, index = dl_device
        return DLDeviceType(int(kind)), int(index)
    except (TypeError, ValueError):
        raise BufferError(f"__dlpack__: dl_device must be a (DLPack device type, index) pair such as (1, 0) for the "
                          f"host, got {dl_device!r}") from None


def _describe(pair):
    kind, index = pair
    return f"({kind.name if isinstance(kind, DLDeviceType) else kind}, {index})"


def _has_negative_stride(t):
    strides = t.strides
    return bool(strides) and min(strides) < 0 and any(n > 1 and s < 0 for n, s in zip(t.shape, strides))


def _export_strides(shape, strides):
    """Strides as consumers should see them: the contiguous value for size-1 dims, and all contiguous when empty."""
    if not shape or min(shape) > 1:
        return strides
    out, acc = list(strides), 1
    empty = 0 in shape
    for i in range(len(shape) - 1, -1, -1):
        if empty or shape[i] == 1:
            out[i] = acc
        acc *= max(shape[i], 1)
    return out


def _is_read_only(t):
    return type(t) is not Tensor and isinstance(t, ReadOnlyTensor)


def dlpack(x, stream=None, max_version=None, dl_device=None, copy=None):
    """``x.__dlpack__(...)``: see Note [DLPack exchange]."""
    versioned, minor = _version(max_version)
    check_copy("__dlpack__", copy)
    own = dlpack_device(x)
    want = own if dl_device is None else _dl_pair(dl_device)
    hooks = _HOOKS.get(x.device.type)
    t, copied = x, False
    if want != own:
        if want[0] != DLDeviceType.kDLCPU:
            raise BufferError(f"__dlpack__: a tensor on {x.device} exports to its own device {_describe(own)} or to "
                              f"host memory (kDLCPU, 0), not to {_describe(want)}")
        if copy is False:
            raise BufferError(f"__dlpack__: exporting a tensor on {x.device} to host memory (dl_device=(kDLCPU, 0)) "
                              f"needs a copy, which copy=False forbids")
        t, copied = x.to("cpu"), True
    elif hooks is None or hooks.export is None:
        if copy is not True:
            raise BufferError(
                f"__dlpack__: a tensor on {x.device} cannot be shared without a copy (its memory is not an address "
                f"another library can use); allow a host copy with copy=True or dl_device=(kDLCPU, 0): "
                f"np.from_dlpack(x, device='cpu'), torch.from_dlpack(x, copy=True), or move it first with "
                f"x.to('cpu')")
        t, copied = x.to("cpu"), True
    elif copy is True:
        t, copied = d.astype(x, x.dtype), True
    if t.device.type == "cpu" and stream is not None and stream != -1:
        raise ValueError(f"__dlpack__: stream must be None for a tensor exported to host memory, got {stream!r}")
    if not copied and _has_negative_stride(t):  # see "Negative strides" in Note [DLPack exchange]
        if copy is False:
            raise BufferError("__dlpack__: this view has a negative stride, which some consumers cannot import "
                              "(PyTorch up to 2.13 aborts the process), so it is exported only as a copy, which "
                              "copy=False forbids; np.asarray(x) views it without copying")
        t, copied = d.astype(t, t.dtype), True
    flags = FLAG_IS_COPIED if copied else 0
    if _is_read_only(t):
        if not versioned:
            raise BufferError(
                "__dlpack__: this tensor is read-only (a broadcast view, a view of one, or memory imported read-only) "
                "and a DLPack capsule before 1.0 cannot mark it so: ask for max_version=(1, 0) or later "
                "(np.from_dlpack and torch.from_dlpack do), or for a writable copy with copy=True")
        flags |= FLAG_READ_ONLY
    hooks = _HOOKS[t.device.type]
    code_bits = dlpack_dtype(t.dtype)
    return hooks.export(t.buffer.handle, t.offset, t.shape, _export_strides(t.shape, t.strides), t.dtype,
                        t.device.index, code_bits, versioned, minor, flags if versioned else 0, stream)


def cuda_array_interface(x):
    """``x.__cuda_array_interface__`` (version 3) for a tensor of a backend that registered one (cuda)."""
    hooks = _HOOKS.get(x.device.type)
    if hooks is None or hooks.cuda_array_interface is None:
        raise AttributeError(f"__cuda_array_interface__ exists for cuda tensors only; this tensor is on {x.device}")
    item = x.dtype.itemsize
    pointer, stream = hooks.cuda_array_interface(x.buffer.handle, x.offset * item, x.device.index)
    return {"shape": tuple(x.shape), "typestr": x.dtype.numpy.str, "descr": [("", x.dtype.numpy.str)],
            "data": (pointer if x.size else 0, _is_read_only(x)), "version": 3,
            "strides": None if x.is_contiguous else tuple(s * item for s in x.strides), "stream": stream}


# -- NumPy --------------------------------------------------------------------------------------------------------

class _HostView:
    """The DLPack producer ``__array__`` hands NumPy: a tensor without negative strides (see Note [DLPack
    exchange]), always exported without copying."""

    __slots__ = ("view",)

    def __init__(self, view):
        self.view = view

    def __dlpack__(self, **kwargs):
        kwargs["copy"] = False
        return dlpack(self.view, **kwargs)

    def __dlpack_device__(self):
        return dlpack_device(self.view)


def array(x, dtype=None, copy=None):
    """``x.__array__(dtype, copy)`` with NumPy 2's meaning of ``copy``: a view of a cpu tensor's memory unless
    ``copy=True``; a copy for other devices or another dtype, which ``copy=False`` refuses with ValueError."""
    check_copy("__array__", copy)
    hooks = _HOOKS.get(x.device.type)
    host_view = hooks is not None and hooks.export is not None and hooks.dl_device_type == DLDeviceType.kDLCPU
    if dtype is None and copy is not True and host_view and not _has_negative_stride(x):
        return np.from_dlpack(_HostView(x))  # the common case first: a view
    from .functions import to_numpy

    target = None if dtype is None else np.dtype(dtype)
    if copy is True or not host_view:
        if copy is False:
            raise ValueError(f"__array__: a tensor on {x.device} cannot be seen by NumPy without copying it to the "
                             f"host, which copy=False forbids; use np.asarray(x) (a copy) or x.to('cpu') first")
        a = to_numpy(x)
        return a if target is None or target == a.dtype else a.astype(target)
    if target is not None and target != x.dtype.numpy:
        if copy is False:
            raise ValueError(f"__array__: a {x.dtype.name} tensor as NumPy {target} needs a copy, which copy=False "
                             f"forbids")
        return array(x).astype(target)  # one copy, from the view
    flip = tuple(i for i, (n, s) in enumerate(zip(x.shape, x.strides)) if n > 1 and s < 0)
    if not flip:
        return np.from_dlpack(_HostView(x))
    offset, strides = x.offset, list(x.strides)
    for i in flip:
        offset += (x.shape[i] - 1) * strides[i]
        strides[i] = -strides[i]
    view = x._view(offset, x.shape, strides)
    a = np.from_dlpack(_HostView(view))
    return a[tuple(slice(None, None, -1) if i in flip else slice(None) for i in range(x.ndim))]


# -- import -------------------------------------------------------------------------------------------------------

class _Capsule:
    """A bare DLPack capsule (``torch.utils.dlpack.to_dlpack(t)``) as a producer: host memory only."""

    __slots__ = ("capsule",)

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        if kwargs.get("copy"):
            raise TypeError("a bare capsule cannot copy")  # request_capsule then copies after the import
        return self.capsule

    def __dlpack_device__(self):
        return _HOST


def _importer(kind, index):
    """(device type, hooks) of the backend that imports data on DLPack device ``kind``, or None."""
    for device_type, hooks in _HOOKS.items():
        if hooks.import_ is not None and kind in hooks.imports:
            return device_type, hooks
    return None


def _import(obj, target, hooks, dl_device, copy):
    imported = hooks.import_(obj, target.index, dl_device, copy)
    dt = imported.dtype
    check_ndim("from_dlpack", len(imported.shape))
    d.check_dtype("from_dlpack", dt, target)
    # a plain Buffer whatever the backend: the handle frees the producer's memory itself (never the backend's free)
    t = make_tensor(Buffer(imported.handle, imported.nbytes, target), imported.offset, tuple(imported.shape),
                    tuple(imported.strides), dt, target)
    if imported.read_only:
        read_only(t)
    if copy is True and not imported.copied:
        t = d.astype(t, dt)
    return t


def from_dlpack(x, /, *, device=None, copy=None):
    """A tensor over the data of ``x``, an array of any library that speaks DLPack (NumPy, PyTorch, CuPy, JAX, ...):
    its memory is shared, not copied, where it lives on a device of ours (host memory, a cuda GPU), and stays alive
    as long as the tensor does.

    ``device``: where the result goes (default: where the data is); another device means a copy.  ``copy``: True
    always copies, False never (BufferError where a copy would be needed), None copies only where needed.  Writes to
    a shared tensor are seen by the producer and the other way round; read-only producers give read-only tensors.

    >>> import numpy as np, tensorswitch as ts
    >>> a = np.arange(6.0).reshape(2, 3)[:, ::2]   # strided: still shared
    >>> t = ts.from_dlpack(a)
    >>> a[1, 1] = -1.0
    >>> t.tolist()
    [[0.0, 2.0], [3.0, -1.0]]
    """
    check_copy("from_dlpack", copy)
    target = None if device is None else get_device(device)
    if isinstance(x, Tensor):
        out = x if target is None or target is x.device else x.to(target)
        if out is not x and copy is False:
            raise BufferError(f"from_dlpack: moving a tensor from {x.device} to {target} needs a copy, which "
                              f"copy=False forbids")
        return d.astype(x, x.dtype) if copy is True and out is x else out
    if type(x).__name__ == "PyCapsule":
        x = _Capsule(x)
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(x).__name__} has no __dlpack__ method; pass an array of a library that "
                        f"speaks DLPack (NumPy, PyTorch, CuPy, JAX), or use ts.asarray for lists and other objects")
    get_dl_device = getattr(x, "__dlpack_device__", None)
    source = _dl_pair(get_dl_device()) if get_dl_device is not None else _HOST
    found = _importer(source[0], source[1])
    here = None
    if found is not None:
        here = get_device(found[0] if found[0] == "cpu" else f"{found[0]}:{source[1]}")
    if target is None:
        if here is None:
            raise BufferError(f"from_dlpack: the data is on DLPack device {_describe(source)}, where no tensorswitch "
                              f"backend can use it; pass device='cpu' to import a host copy")
        target = here
    if target is here:
        return _import(x, target, found[1], None, copy)
    cpu = get_device("cpu")
    if target is cpu:  # ask the producer for host memory: shared where it is host-readable, else a copy of it
        try:
            return _import(x, cpu, _HOOKS["cpu"], _HOST, copy)
        except BufferError:  # a producer that cannot copy to the host itself: import it where it is, then copy
            if here is None or copy is False:
                raise
        return from_dlpack(x, device=here).to(cpu)
    if copy is False:
        raise BufferError(f"from_dlpack: the data is on DLPack device {_describe(source)} and device={target} was "
                          f"asked for: moving it needs a copy, which copy=False forbids")
    staged = from_dlpack(x, device=here if here is not None else cpu)
    return staged.to(target)


# -- ts.asarray's DLPack paths --------------------------------------------------------------------------------------

def is_dlpack_producer(obj):
    """An array of another library that exports through DLPack (NumPy arrays go NumPy's own way in asarray)."""
    return not isinstance(obj, (np.ndarray, np.generic)) and hasattr(obj, "__dlpack__") and \
        hasattr(obj, "__dlpack_device__")


def from_dlpack_or_none(obj):
    """``from_dlpack(obj)`` on the device the data is on, or None where DLPack cannot take it (a dtype we lack, a
    device no backend imports): asarray then tries NumPy's conversion."""
    try:
        return from_dlpack(obj)
    except BufferError:
        return None


def shared(obj, dt, device):
    """``ts.asarray(obj, dtype=dt, device=device, copy=False)`` for anything but a tensor: a tensor over ``obj``'s
    memory, or ValueError saying why there is none."""
    if isinstance(obj, (list, tuple, bool, int, float, complex)):
        raise ValueError(f"asarray: copy=False, but a Python {type(obj).__name__} has no memory a tensor can share; "
                         f"making one from it copies: pass copy=None")
    if not hasattr(obj, "__dlpack__"):  # the buffer protocol (memoryview, bytes, array.array): NumPy views it
        try:
            obj = np.asarray(obj, copy=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"asarray: copy=False, but {type(obj).__name__} memory cannot be shared ({exc}); pass "
                             f"copy=None") from None
    if isinstance(obj, np.ndarray) and not obj.dtype.isnative:
        raise ValueError(f"asarray: copy=False, but this NumPy array is in the other byte order ({obj.dtype.str}): "
                         f"converting it copies; pass copy=None")
    try:
        t = from_dlpack(obj, device=device, copy=False)
    except BufferError as exc:
        raise ValueError(f"asarray: copy=False, but the memory of this {type(obj).__name__} cannot be shared: "
                         f"{exc}") from None
    if dt is not None and dt is not t.dtype:
        raise ValueError(f"asarray: copy=False, but {t.dtype.name} data as {dt.name} needs a copy; pass copy=None")
    return t
