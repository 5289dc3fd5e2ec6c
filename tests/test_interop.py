"""Interchange with NumPy and PyTorch: DLPack both ways, ``__array__``, ``ts.asarray(copy=...)``, foreign memory.

Shared memory is proven by writes on one side being read on the other; lifetimes by deleting the producer (or the
tensor) and using what is left after other allocations.  See Note [DLPack exchange] in dispatch/interop.py.
"""

import ctypes
import gc
import weakref

import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.dispatch import interop

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
          "float64"]
CPU = ts.device("cpu")
OPENCL = next((d for d in ts.devices() if d.type == "opencl"), None)
needs_opencl = pytest.mark.skipif(OPENCL is None, reason="no opencl device")


def _values(dtype, shape=(2, 3)):
    n = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    return (np.arange(n) % 7 - (0 if dtype.startswith("uint") else 2)).astype(dtype).reshape(shape)


def _other(value):
    """A value of the same dtype that differs from ``value``."""
    return not value if isinstance(value, (bool, np.bool_)) else value + 1


def _capsule_name(capsule):
    get = ctypes.pythonapi.PyCapsule_GetName
    get.restype, get.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get(capsule).decode()


def _address(t):
    return _cpu.address(t.buffer.handle) + t.offset * t.dtype.itemsize


# -- NumPy: __array__ -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_asarray_of_a_cpu_tensor_shares_memory(dtype):
    x = ts.asarray(_values(dtype))
    a = np.asarray(x)
    assert a.dtype == np.dtype(dtype) and a.shape == (2, 3) and a.ctypes.data == _address(x)
    a[1, 2] = _other(a[1, 2])            # NumPy writes, the tensor sees it
    assert x[1, 2].item() == a[1, 2]
    x[0, 0] = _other(x[0, 0].item())     # the tensor writes, NumPy sees it
    assert a[0, 0] == x[0, 0].item()
    np.testing.assert_array_equal(x.numpy(), a)


def test_asarray_views_strided_tensors_without_copying():
    base = ts.asarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    host = base.numpy()
    for index in [(slice(None), slice(None, None, 2)), (slice(1, None, 2), slice(None, None, -1)),
                  (slice(None, None, -1), slice(None, None, -3)), (2,), (Ellipsis, 1), (None, slice(None), 3)]:
        view = base[index]
        a = np.asarray(view)
        np.testing.assert_array_equal(a, host[index])
        assert a.strides == tuple(s * 4 for s, n in zip(view.strides, view.shape)) or view.size <= 1 or \
            any(n == 1 for n in view.shape)
    t = base.T
    a = np.asarray(t)
    assert a.strides == (4, 24)
    a[5, 3] = -1.0                          # through the transposed view, into base[3, 5]
    assert base[3, 5].item() == -1.0
    flipped = np.asarray(base[::-1, ::-2])  # negative strides: a view too (NumPy reverses the axes back)
    flipped[0, 0] = 100.0
    assert base[3, 5].item() == 100.0


def test_asarray_of_0d_empty_and_broadcast_tensors():
    s = ts.asarray(3.5)
    a = np.asarray(s)
    assert a.shape == () and a == 3.5
    a[()] = 4.5
    assert s.item() == 4.5
    e = np.asarray(ts.zeros((2, 0, 3)))
    assert e.shape == (2, 0, 3) and e.dtype == np.float32
    b = ts.asarray([1.0, 2.0, 3.0]).broadcast_to((2, 3))
    a = np.asarray(b)                       # read-only views stay read-only in NumPy
    assert not a.flags.writeable and a.strides == (0, 4)
    np.testing.assert_array_equal(a, [[1, 2, 3], [1, 2, 3]])


def test_array_copy_semantics_follow_numpy_2():
    x = ts.asarray([1.0, 2.0])
    c = np.array(x)                         # copy=True
    c[0] = 9.0
    assert x[0].item() == 1.0
    v = np.asarray(x, copy=False)           # no copy needed on cpu
    v[0] = 5.0
    assert x[0].item() == 5.0
    d = np.asarray(x, dtype=np.float64)     # another dtype: a copy
    assert d.dtype == np.float64 and d.tolist() == [5.0, 2.0]
    with pytest.raises(ValueError, match="float32 tensor as NumPy float64 needs a copy"):
        np.asarray(x, dtype=np.float64, copy=False)
    assert x.numpy() is not x.numpy() and x.numpy().base is None  # .numpy() stays a copy, as tests rely on
    y = ts.asarray([1.0, 2.0], requires_grad=True)
    assert np.asarray(y).tolist() == [1.0, 2.0]


def test_numpy_view_keeps_the_memory_alive():
    x = ts.asarray(np.arange(1000, dtype=np.float64))
    a = np.asarray(x)
    del x
    gc.collect()
    others = [ts.full((1000,), -7.0, dtype=ts.float64) for _ in range(4)]  # would reuse a freed block
    np.testing.assert_array_equal(a, np.arange(1000))
    del others


# -- NumPy: DLPack both ways ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_from_dlpack_of_numpy_shares_memory(dtype):
    a = _values(dtype, (3, 4))
    t = ts.from_dlpack(a)
    assert t.dtype == ts.dtype(dtype) and t.shape == (3, 4) and _address(t) == a.ctypes.data
    a[2, 3] = _other(a[2, 3])
    assert t[2, 3].item() == a[2, 3]
    t[0, 1] = _other(t[0, 1].item())
    assert a[0, 1] == t[0, 1].item()
    assert _cpu.is_foreign(t.buffer.handle)


def test_from_dlpack_of_strided_numpy_arrays():
    host = np.arange(30, dtype=np.int32).reshape(5, 6)
    for view in [host[:, ::2], host[::-1], host[1::2, ::-3], host.T, host[3], host[2:2], host[..., None]]:
        t = ts.from_dlpack(view)
        assert t.shape == view.shape
        np.testing.assert_array_equal(t.numpy(), view)
        if view.size:
            assert t.strides == tuple(s // 4 for s in view.strides) or 1 in view.shape
    t = ts.from_dlpack(host[::-1, 1::2])
    t[0, 0] = -5                          # host[4, 1]
    assert host[4, 1] == -5
    np.testing.assert_array_equal((t * 2).numpy(), host[::-1, 1::2] * 2)  # kernels read foreign memory
    z = ts.from_dlpack(np.array(2.5))
    assert z.shape == () and z.item() == 2.5


def test_imported_memory_lives_as_long_as_the_tensor():
    a = np.arange(100_000, dtype=np.float32)  # past the threading grain
    alive = weakref.ref(a)
    t = ts.from_dlpack(a)
    view = t[10:]
    del a, t
    gc.collect()
    assert alive() is not None               # the tensor still holds the producer
    junk = [np.full(100_000, -1.0, dtype=np.float32) for _ in range(3)]
    assert view.sum().item() == pytest.approx(float(np.arange(10, 100_000, dtype=np.float64).sum()), rel=1e-6)
    del view, junk
    gc.collect()
    assert alive() is None                   # and lets it go with the last tensor


def test_read_only_numpy_imports_read_only():
    a = np.arange(4.0)
    a.flags.writeable = False
    t = ts.from_dlpack(a)
    assert not _cpu.is_writable(t.buffer.handle)
    with pytest.raises(ts.ReadOnlyError):
        t += 1
    with pytest.raises(ts.ReadOnlyError):
        t[0] = 2.0
    with pytest.raises(ts.ReadOnlyError):
        t[t > 1.0] = 0.0                     # masks and index arrays write through the same check
    np.testing.assert_array_equal(a, np.arange(4.0))
    with pytest.raises(ValueError, match="read-only"):  # the C++ copies refuse it too
        _cpu.copy_in(t.buffer.handle, 0, np.zeros(1))
    assert (t + 1).tolist() == [1.0, 2.0, 3.0, 4.0]  # reading is fine
    assert not np.asarray(t).flags.writeable
    with pytest.raises(BufferError, match="before 1.0 cannot mark it"):
        t.__dlpack__()                       # a legacy capsule cannot say read-only


def test_export_to_numpy_and_round_trip():
    x = ts.asarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    a = np.from_dlpack(x)
    assert a.ctypes.data == _address(x)
    a[0, 0] = 42
    assert x[0, 0].item() == 42
    back = ts.from_dlpack(a)                 # ts -> NumPy -> ts: the same memory
    assert _address(back) == _address(x)
    back[2, 3] = -3
    assert x[2, 3].item() == -3


def test_big_endian_and_non_native_arrays_are_converted():
    for be in [np.arange(5, dtype=">f8"), np.arange(6, dtype=">i4").reshape(2, 3)[:, ::2], np.array([1, 0], ">i2")]:
        t = ts.asarray(be)
        assert t.dtype == ts.dtype(be.dtype.newbyteorder("=")) and t.numpy().dtype.isnative
        np.testing.assert_array_equal(t.numpy(), be)
        assert ts.asarray(be, copy=True).tolist() == be.tolist()
        with pytest.raises(ValueError, match="other byte order"):
            ts.asarray(be, copy=False)  # converting is a copy
    assert ts.asarray(np.arange(3, dtype=">f4"), dtype="float64").dtype == ts.float64


def test_misaligned_numpy_arrays():
    raw = np.zeros(33, dtype=np.uint8)
    misaligned = raw[1:].view(np.float64)    # 8-byte elements at an odd address
    misaligned[:] = np.arange(4)
    assert not misaligned.flags.aligned
    np.testing.assert_array_equal(ts.asarray(misaligned).numpy(), np.arange(4))  # a copy is fine
    with pytest.raises(ValueError, match="cannot be shared"):
        ts.asarray(misaligned, copy=False)


# -- PyTorch both ways ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_from_dlpack_shares_memory(dtype):
    x = ts.asarray(_values(dtype))
    t = torch.from_dlpack(x)
    assert t.shape == (2, 3) and t.data_ptr() == _address(x)
    assert str(t.dtype) == "torch." + dtype
    t[1, 1] = _other(t[1, 1].item())
    assert x[1, 1].item() == t[1, 1].item()
    x[0, 2] = _other(x[0, 2].item())
    assert t[0, 2].item() == x[0, 2].item()


def test_torch_sees_strides_and_keeps_the_tensor_alive():
    x = ts.asarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    t = torch.from_dlpack(x.T)
    assert t.shape == (6, 4) and t.stride() == (1, 6)
    s = torch.from_dlpack(x[1:, ::2])
    assert s.stride() == (6, 2) and s.data_ptr() == _address(x[1:, ::2])
    del x
    gc.collect()
    junk = [ts.full((24,), -1.0) for _ in range(4)]
    assert t[5, 3].item() == 23.0 and s[0, 0].item() == 6.0
    del junk
    z = torch.from_dlpack(ts.asarray(7))
    assert z.shape == () and z.item() == 7
    e = torch.from_dlpack(ts.zeros((0, 3), dtype=ts.int64))
    assert e.shape == (0, 3)


def test_negative_strides_reach_torch_as_a_copy():
    # PyTorch <= 2.13 aborts the process on a negative DLPack stride (pytorch#188023): we export a copy instead
    x = ts.asarray(np.arange(6, dtype=np.float32))
    t = torch.from_dlpack(x[::-1])
    assert t.tolist() == [5, 4, 3, 2, 1, 0] and t.stride() == (1,)
    t[0] = -1.0
    assert x[5].item() == 5.0               # a copy: as the protocol allows for copy=None
    with pytest.raises(BufferError, match="negative stride"):
        torch.from_dlpack(x[::-1], copy=False)
    with pytest.raises(BufferError, match="negative stride"):
        np.from_dlpack(x[::-1], copy=False)
    assert np.from_dlpack(x[::-1]).tolist() == [5, 4, 3, 2, 1, 0]


def test_from_dlpack_of_torch_shares_memory_and_outlives_it():
    t = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    x = ts.from_dlpack(t)
    assert _address(x) == t.data_ptr() and x.dtype == ts.float64
    t[1, 2] = -8.0
    assert x[1, 2].item() == -8.0
    x[0, 0] = 100.0
    assert t[0, 0].item() == 100.0
    y = ts.from_dlpack(t.t())               # strided
    assert y.strides == (1, 4) and y[2, 1].item() == -8.0
    del t
    gc.collect()
    junk = [torch.full((12,), -5.0, dtype=torch.float64) for _ in range(4)]
    assert x.numpy().ravel().tolist()[:3] == [100.0, 1.0, 2.0] and y[2, 1].item() == -8.0
    del junk
    for dtype in (torch.bool, torch.int8, torch.uint8, torch.int32, torch.float16, torch.float32):
        src = torch.ones(3, dtype=dtype)
        assert ts.from_dlpack(src).dtype == ts.dtype(str(dtype).split(".")[1])


def test_torch_dtypes_tensorswitch_lacks_are_refused_clearly():
    t = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(BufferError, match="no dtype for DLPack type code 4"):
        ts.from_dlpack(t)
    assert t.sum().item() == 3.0           # the refused capsule was not consumed, t is intact


def test_bare_capsules_and_capsule_versions():
    x = ts.asarray([1, 2, 3])
    assert _capsule_name(x.__dlpack__()) == "dltensor"
    assert _capsule_name(x.__dlpack__(max_version=(1, 0))) == "dltensor_versioned"
    assert _capsule_name(x.__dlpack__(max_version=(0, 8))) == "dltensor"
    assert _capsule_name(x.__dlpack__(max_version=(2, 3))) == "dltensor_versioned"
    t = torch.utils.dlpack.from_dlpack(x.__dlpack__())  # the legacy path, a capsule in hand
    t[0] = 10
    assert x[0].item() == 10
    capsule = torch.utils.dlpack.to_dlpack(torch.tensor([4.0, 5.0]))
    y = ts.from_dlpack(capsule)
    assert y.tolist() == [4.0, 5.0]
    with pytest.raises(BufferError, match="consumed already"):
        ts.from_dlpack(capsule)
    unused = x.__dlpack__(max_version=(1, 0))
    del unused                              # an unconsumed capsule frees its reference by itself
    gc.collect()


def test_export_flags():
    supported = interop.dlpack_dtypes()
    x = ts.asarray([1.0, 2.0])
    _, _, _, _, _, _, read_only, copied, dev, _ = _cpu.from_dlpack(x.__dlpack__(max_version=(1, 0)), supported)
    assert (read_only, copied, dev) == (False, False, 1)
    _, _, _, _, _, _, read_only, copied, _, _ = _cpu.from_dlpack(x.__dlpack__(max_version=(1, 0), copy=True),
                                                                 supported)
    assert (read_only, copied) == (False, True)
    b = x.broadcast_to((3, 2))
    _, _, shape, strides, _, _, read_only, _, _, _ = _cpu.from_dlpack(b.__dlpack__(max_version=(1, 0)), supported)
    assert read_only and shape == [3, 2] and strides == [0, 1]
    copy = np.from_dlpack(b, copy=True)     # a legacy consumer may have a writable copy
    assert copy.flags.writeable and copy.strides == (8, 4)


def test_dlpack_argument_checks():
    x = ts.asarray([1.0])
    assert x.__dlpack_device__() == (1, 0)
    assert x.__dlpack__(dl_device=(1, 0)) is not None
    with pytest.raises(BufferError, match="not to \\(kDLCUDA, 0\\)"):
        x.__dlpack__(dl_device=(2, 0))
    with pytest.raises(ValueError, match="stream must be None"):
        x.__dlpack__(stream=5)
    with pytest.raises(TypeError, match="max_version"):
        x.__dlpack__(max_version="1.0")
    with pytest.raises(ValueError, match="copy must be"):
        x.__dlpack__(copy="yes")
    with pytest.raises(TypeError, match="no __dlpack__"):
        ts.from_dlpack([1, 2])
    assert not hasattr(x, "__cuda_array_interface__")


def test_cuda_stream_values_are_checked_before_cupy_is_needed():
    from tensorswitch.backends import cuda

    for ok in (None, 1, -1):
        cuda._consumer_waits(None, ok)       # the legacy default stream waits for ours: nothing to do
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="stream"):
            cuda._consumer_waits(None, bad)


def test_cuda_dlpack_hooks_with_a_stand_in_for_cupy(monkeypatch):
    # no GPU here: the cuda backend's DLPack and __cuda_array_interface__ code runs against a stand-in for the few
    # CuPy calls it makes (cupy.from_dlpack, cuda.Event, cuda.ExternalStream, MemoryPointer arithmetic)
    import contextlib
    import types

    from tensorswitch.backends import cuda

    class Pointer:
        def __init__(self, ptr):
            self.ptr = ptr

        def __add__(self, n):
            return Pointer(self.ptr + n)

    class Stream:
        ptr = 1234

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    log = []

    class Event:
        def __init__(self, disable_timing):
            assert disable_timing

        def record(self, stream):
            log.append(("record", stream.ptr))

    class ExternalStream:
        def __init__(self, ptr):
            self.ptr = ptr

        def wait_event(self, event):
            log.append(("wait", self.ptr))

    class Array:  # float64 (3, 4), rows reversed: element 0 at 10000, rows 32 bytes apart going down
        shape, strides, itemsize, size, dtype, data = (3, 4), (-32, 8), 8, 12, np.dtype("float64"), Pointer(10_000)

    asked = {}

    def from_dlpack(obj, **kwargs):
        asked.clear()
        asked.update(kwargs)
        return Array()

    monkeypatch.setattr(cuda, "_cp", types.SimpleNamespace(
        from_dlpack=from_dlpack, cuda=types.SimpleNamespace(Event=Event, ExternalStream=ExternalStream)))
    monkeypatch.setattr(cuda, "_device", lambda index: types.SimpleNamespace(ctx=contextlib.nullcontext(),
                                                                             stream=Stream()))
    got = cuda._dlpack_import(object(), 0, None, None)
    assert (got.handle.ptr, got.nbytes, got.offset, got.strides) == (10_000 - 64, 96, 8, (-4, 1))
    assert got.dtype is ts.float64 and not got.copied and asked == {}
    assert cuda._dlpack_import(object(), 0, None, True).copied and asked == {"copy": True}
    capsule = cuda._dlpack_export(Pointer(5000), 2, (3,), (1,), ts.float32, 0, (2, 32), True, 1, 0, 77)
    assert _capsule_name(capsule) == "dltensor_versioned" and log == [("record", 1234), ("wait", 77)]
    cuda._dlpack_export(Pointer(5000), 0, (3,), (1,), ts.float32, 0, (2, 32), False, 0, 0, None)
    assert len(log) == 2                     # the legacy default stream waits by itself
    assert cuda._cuda_array_interface(Pointer(5000), 8, 0) == (5008, 1234)


# -- ts.from_dlpack and ts.asarray: devices and copies ------------------------------------------------------------

def test_from_dlpack_copy_and_tensor_inputs():
    a = np.arange(3.0)
    c = ts.from_dlpack(a, copy=True)
    a[0] = 9.0
    assert c[0].item() == 0.0              # NumPy made the copy (DLPack's copy=True): its memory, not a's
    src = torch.arange(3.0)
    c2 = ts.from_dlpack(src, copy=True)
    src[1] = -1.0
    assert c2.tolist() == [0.0, 1.0, 2.0]
    x = ts.asarray([1, 2])
    assert ts.from_dlpack(x) is x
    y = ts.from_dlpack(x, copy=True)
    y[0] = 5
    assert x[0].item() == 1
    with pytest.raises(ValueError, match="copy must be"):
        ts.from_dlpack(a, copy=1)


def test_asarray_copy_false_shares_numpy_and_torch_memory():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = ts.asarray(a, copy=False)
    a[1, 1] = 50
    assert t[1, 1].item() == 50
    tt = torch.zeros(4)
    s = ts.asarray(tt, copy=False)
    tt[2] = 3.0
    assert s[2].item() == 3.0
    s += 1.0                                # in place, into torch's memory
    assert tt.tolist() == [1.0, 1.0, 4.0, 1.0]
    assert ts.asarray(a, dtype="int64", copy=False)[1, 1].item() == 50
    m = ts.asarray(memoryview(bytearray(b"\x01\x02")), copy=False)  # the buffer protocol
    assert m.dtype == ts.uint8 and m.tolist() == [1, 2]
    x = ts.asarray([1.0, 2.0])
    assert ts.asarray(x, copy=False) is x
    with pytest.raises(ValueError, match="Python list has no memory"):
        ts.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="int64 data as float64 needs a copy"):
        ts.asarray(a, dtype=ts.float64, copy=False)
    with pytest.raises(ValueError, match="needs a copy"):
        ts.asarray(x, dtype=ts.float64, copy=False)


def test_asarray_default_and_copy_true_own_their_memory():
    a = np.arange(3.0)
    for t in (ts.asarray(a), ts.asarray(a, copy=True), ts.asarray(torch.arange(3.0)),
              ts.asarray(torch.arange(3.0), copy=True)):
        assert not _cpu.is_foreign(t.buffer.handle)
    d = ts.asarray(torch.arange(3, dtype=torch.float64))  # torch tensors keep their dtype
    assert d.dtype == ts.float64
    i = ts.asarray(torch.arange(3, dtype=torch.int32), dtype="float32")
    assert i.dtype == ts.float32 and i.tolist() == [0.0, 1.0, 2.0]


def test_foreign_memory_is_not_pool_memory():
    before = ts.memory_stats("cpu")["allocated_bytes"]
    a = np.ones(1 << 16)
    t = ts.from_dlpack(a)
    assert ts.memory_stats("cpu")["allocated_bytes"] == before
    assert _cpu.size(t.buffer.handle) == a.nbytes
    with pytest.raises(IndexError):          # bounds checks hold on foreign memory too
        _cpu.unary_contig(0, 8, 8, (1 << 16) + 1, t.buffer.handle, 0, t.buffer.handle, 0)
    np.testing.assert_allclose((t @ t).item(), float(1 << 16))
    del t
    gc.collect()
    assert ts.memory_stats("cpu")["allocated_bytes"] == before


# -- OpenCL: host copies only where allowed ---------------------------------------------------------------------

@needs_opencl
def test_opencl_exports_only_through_an_allowed_host_copy():
    x = ts.asarray([[1.0, 2.0], [3.0, 4.0]], device=OPENCL)
    assert x.__dlpack_device__() == (4, OPENCL.index)
    with pytest.raises(BufferError, match="copy=True or dl_device"):
        np.from_dlpack(x)
    with pytest.raises(BufferError, match="copy=True or dl_device"):
        torch.from_dlpack(x)
    with pytest.raises(BufferError, match="copy=False forbids"):
        x.__dlpack__(dl_device=(1, 0), copy=False)
    np.testing.assert_array_equal(np.from_dlpack(x, device="cpu"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(np.from_dlpack(x, copy=True), [[1, 2], [3, 4]])
    assert torch.from_dlpack(x, copy=True).tolist() == [[1, 2], [3, 4]]
    a = np.asarray(x)                        # __array__ with copy=None: a host copy
    a[0, 0] = 9.0
    assert x[0, 0].item() == 1.0
    with pytest.raises(ValueError, match="copy=False forbids"):
        np.asarray(x, copy=False)
    np.testing.assert_array_equal(np.asarray(x.T), [[1, 3], [2, 4]])


@needs_opencl
def test_from_dlpack_onto_opencl_copies():
    a = np.arange(4, dtype=np.float32)
    t = ts.from_dlpack(a, device=OPENCL)
    assert t.device is OPENCL and t.tolist() == [0, 1, 2, 3]
    with pytest.raises(BufferError, match="copy=False forbids"):
        ts.from_dlpack(a, device=OPENCL, copy=False)
    with pytest.raises(ValueError, match="cannot be shared"):
        ts.asarray(a, device=OPENCL, copy=False)
    x = ts.asarray([1.0], device=OPENCL)
    with pytest.raises(ValueError, match="needs a copy"):
        ts.asarray(x, device="cpu", copy=False)
    assert ts.from_dlpack(x) is x


def test_devices_without_dlpack_export_through_host_copies_only():
    from limited_backend import LIMITED

    x = ts.ones((2,), device=LIMITED)
    assert x.__dlpack_device__()[0] == interop.DLDeviceType.kDLExtDev
    with pytest.raises(BufferError):
        np.from_dlpack(x)
    assert np.from_dlpack(x, copy=True).tolist() == [1.0, 1.0]


# -- the namespace -------------------------------------------------------------------------------------------------

def test_array_namespace():
    import array_api_compat

    x = ts.asarray([1.0])
    assert x.__array_namespace__() is ts
    assert x.__array_namespace__(api_version="2023.12") is ts
    with pytest.raises(ValueError, match="2024.12"):
        x.__array_namespace__(api_version="2025.12")
    assert array_api_compat.array_namespace(x) is ts
    assert array_api_compat.array_namespace(x, ts.asarray([2])) is ts
    assert array_api_compat.is_array_api_obj(x)
    assert ts.__array_api_version__ == "2024.12"


def test_docstring_examples():
    import doctest

    result = doctest.testmod(interop, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 8


def test_readme_example_runs():
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text().split("## Interchange", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(code, str(readme), "exec"), {})
