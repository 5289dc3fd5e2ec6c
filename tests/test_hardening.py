"""Regression tests for the hardening issue, core side: no silent wrong answers from Python scalars, signed zeros,
bool memory or broadcast views; validated shapes and axes; read-only layouts; clear out-of-memory errors; a plugin
path with no traps.  Device-generic where the behaviour is the core's (the ``device`` fixture runs each on every
usable device)."""

import math
import struct
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.dispatch.tensor import make_tensor

from limited_backend import CPUMemoryBackend

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
COMPARISONS = {"equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
               "greater": np.greater, "greater_equal": np.greater_equal}


# -- 1. Python integer scalars outside the dtype's range ----------------------------------------------------------

def _edges(dtype):
    info = np.iinfo(dtype)
    edges = [int(info.min) - 1, int(info.max) + 1, -(2 ** 63) - 1, 2 ** 63, 2 ** 64, 2 ** 70, -(2 ** 70)]
    return [v for v in edges if not info.min <= v <= info.max]  # 2**63 fits uint64


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_comparisons_with_out_of_range_ints_are_mathematically_right(device, dtype):
    host = np.array([np.iinfo(dtype).min, 0, 5, np.iinfo(dtype).max], dtype)
    x = ts.asarray(host, device=device)
    for value in _edges(dtype):
        for op, ref in COMPARISONS.items():
            fn = getattr(ts, op)
            expected = ref(host.astype(object), value).astype(bool)
            assert fn(x, value).numpy().tolist() == expected.tolist(), (op, value)
            mirrored = ref(value, host.astype(object)).astype(bool)
            assert fn(value, x).numpy().tolist() == mirrored.tolist(), (op, value, "scalar on the left")
        # operators too, and the strided path
        assert (x[::2] < value).numpy().tolist() == (host[::2].astype(object) < value).tolist()
        assert (x == value).numpy().tolist() == [False] * 4


def test_the_issue_repros():
    x = ts.asarray(np.array([0, 5], np.uint8))
    assert (x < -1).tolist() == [False, False]
    y = ts.asarray(np.array([44, 1], np.int8))
    assert (y == 300).tolist() == [False, False]
    with pytest.raises(OverflowError, match="300.*int8"):
        ts.full((2,), 300, dtype="int8")
    with pytest.raises(OverflowError, match="1000.*int8"):
        y[0] = 1000
    with pytest.raises(OverflowError, match="add"):
        y + 300
    with pytest.raises(OverflowError, match="int64"):
        ts.asarray([1, 2]) + 2 ** 63
    with pytest.raises(OverflowError, match="int64"):
        ts.asarray([1, 2]).__setitem__(0, 2 ** 70)
    with pytest.raises(OverflowError):
        ts.asarray([2 ** 63])
    assert y.tolist() == [44, 1]  # nothing was written by the refused operations


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_arithmetic_and_creation_with_out_of_range_ints_raise(device, dtype):
    x = ts.asarray(np.array([1, 2], dtype), device=device)
    for value in _edges(dtype):
        for fn in (ts.add, ts.subtract, ts.multiply, ts.maximum, ts.minimum, ts.floor_divide, ts.remainder):
            with pytest.raises(OverflowError):
                fn(x, value)
            with pytest.raises(OverflowError):
                fn(value, x)
        with pytest.raises(OverflowError):
            x += value
        with pytest.raises(OverflowError):
            x[0] = value
        with pytest.raises(OverflowError):
            ts.full((3,), value, dtype=dtype, device=device)
        with pytest.raises(OverflowError):
            ts.where(ts.asarray([True, False], device=device), x, value)
    assert x.tolist() == [1, 2]
    # the edges themselves are fine
    info = np.iinfo(dtype)
    assert ts.full((1,), int(info.max), dtype=dtype, device=device).tolist() == [info.max]
    assert (x * 0 + int(info.min)).tolist() == [info.min] * 2


def test_logical_ops_treat_a_big_int_as_nonzero():
    x = ts.asarray(np.array([0, 3], np.int8))
    assert ts.logical_and(x, 300).tolist() == [False, True]
    assert ts.logical_or(x, -1000).tolist() == [True, True]


def test_in_range_scalars_keep_the_weak_rule():
    x8 = ts.asarray(np.array([1, 2], np.int8))
    assert (x8 + 127).dtype == ts.int8 and (x8 - 127).dtype == ts.int8 and (-128 + x8).dtype == ts.int8
    assert (x8 * 1.5).dtype == ts.float32
    h = ts.asarray(np.array([1, 2], np.float16))
    assert (h + 1.5).dtype == ts.float16 and (2.0 * h).dtype == ts.float16
    b = ts.asarray([True, False])
    assert (b + 1).dtype == ts.int64 and (b * 1.5).dtype == ts.float32
    f = ts.ones(2)
    assert (f + 2 ** 70).tolist() == [float(2 ** 70 + 1)] * 2  # a big int is fine next to floats
    with pytest.raises(OverflowError):
        f + 10 ** 400


def test_python_floats_into_integer_tensors():
    x = ts.zeros(3, dtype="int8")
    x[0] = 3.7
    x[1] = -2.9
    assert x.tolist() == [3, -2, 0]
    assert ts.full((2,), 3.7, dtype="int8").tolist() == [3, 3]
    with pytest.raises(ValueError, match="NaN"):
        x[0] = float("nan")
    with pytest.raises(OverflowError):
        x[0] = float("inf")
    with pytest.raises(OverflowError):
        x[0] = 1e10


def test_arange_values_must_fit_the_dtype():
    assert ts.arange(0, 128, dtype="int8").numpy()[-1] == 127
    with pytest.raises(OverflowError):
        ts.arange(0, 300, dtype="int8")
    with pytest.raises(OverflowError):
        ts.arange(-1, 3, dtype="uint8")


# -- signed zeros and NaN payloads in the scalar cache ----------------------------------------------------------------

def test_signed_zeros_key_apart(device):
    x = ts.ones(3, device=device)
    assert (1 / (x * 0.0)).tolist() == [math.inf] * 3
    assert (1 / (x * -0.0)).tolist() == [-math.inf] * 3
    assert (1 / (x * 0.0)).tolist() == [math.inf] * 3
    assert (1 / (-0.0 * x)).tolist() == [-math.inf] * 3
    assert (1 / ts.where(x > 0, -0.0, x)).tolist() == [-math.inf] * 3
    assert (1 / ts.where(x > 0, 0.0, x)).tolist() == [math.inf] * 3


def test_nan_payloads_key_apart():
    a = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]
    b = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000002))[0]
    x = ts.zeros(2, dtype="float64")
    ra, rb = (x + a).numpy(), (x + b).numpy()
    assert ra.view(np.uint64)[0] == 0x7FF8000000000001 and rb.view(np.uint64)[0] == 0x7FF8000000000002


# -- bool memory, broadcast views -----------------------------------------------------------------------------------

def test_bool_memory_only_holds_0_and_1(device):
    for _ in range(3):
        junk = ts.full((4096,), 77, dtype="uint8", device=device)
        del junk
        b = ts.empty(4096, dtype="bool", device=device)
        assert int(b.sum().item()) <= 4096 and set(np.unique(b.numpy().view(np.uint8))) <= {0, 1}
        assert int(ts.empty_like(b).astype("uint8").max().item()) <= 1
    weird = np.frombuffer(bytes([0, 1, 2, 255]), dtype=np.bool_)
    t = ts.asarray(weird, device=device)
    assert t.numpy().view(np.uint8).tolist() == [0, 1, 1, 1] and int(t.sum().item()) == 3


def test_broadcast_views_are_read_only(device):
    base = ts.zeros(3, device=device)
    for view in (ts.broadcast_to(base, (40000, 3)), base.broadcast_to((2, 3)), ts.broadcast_arrays(base,
                 ts.ones((2, 3), device=device))[0], ts.broadcast_to(base, (3,))):
        for write in (lambda v: v.__setitem__((0, 0) if v.ndim == 2 else 0, 5.0),
                      lambda v: v.__setitem__(..., 1.0),
                      lambda v: v.__iadd__(1.0),
                      lambda v: v[0].__imul__(2.0),
                      lambda v: v.T.__setitem__(0, 1.0),
                      lambda v: ts.asarray(v).__setitem__(0, 1.0)):
            with pytest.raises(ts.ReadOnlyError):
                write(view)
        assert base.tolist() == [0.0, 0.0, 0.0]
        copy = ts.asarray(view, copy=True)
        copy[0] = 7.0  # a copy is writable
        assert float((view + 1).sum().item()) == view.size  # and reading works
    # views that only add size-1 dims stay writable
    e = base.expand_dims(0)
    e[0, 1] = 2.0
    base[None][0, 2] = 3.0
    assert base.tolist() == [0.0, 2.0, 3.0]


# -- layouts are read-only, kernels check bounds ------------------------------------------------------------------------

def test_layout_attributes_are_read_only(device):
    x = ts.ones(4, device=device)
    for name, value in [("offset", 1 << 40), ("strides", (1 << 40,)), ("shape", (1 << 20,)), ("buffer", None),
                        ("dtype", ts.float64), ("device", ts.device("cpu")), ("size", 10 ** 9),
                        ("is_contiguous", False)]:
        with pytest.raises(AttributeError, match="read-only"):
            setattr(x, name, value)
        with pytest.raises(AttributeError):
            delattr(x, name)
    assert (x + 1).tolist() == [2.0] * 4


def test_cpu_kernels_check_bounds():
    x = ts.ones(4)
    for offset, shape, strides in [(1 << 40, (4,), (1,)), (0, (4,), (1 << 40,)), (2, (4,), (1,)), (-1, (4,), (1,)),
                                   (0, (4,), (-1,)), (0, (2, 4), (4, 1))]:
        bad = make_tensor(x.buffer, offset, shape, strides, x.dtype, x.device)
        with pytest.raises((IndexError, ValueError)):
            ts.add(bad, 1.0)
        with pytest.raises((IndexError, ValueError)):
            bad.sum()
    assert (x + 1).tolist() == [2.0] * 4


# -- out of memory ------------------------------------------------------------------------------------------------------

def test_out_of_memory_is_clear_and_recoverable(device):
    for shape in [(1 << 40,), (2 ** 62,), (1 << 31, 1 << 31)]:
        with pytest.raises(ts.OutOfMemoryError) as info:
            ts.empty(shape, device=device)
        text = str(info.value)
        assert str(device) in text and "allocate" in text, text
        assert isinstance(info.value, MemoryError)
    with pytest.raises(ts.OutOfMemoryError):  # a result too large to hold, from broadcasting
        ts.ones((1 << 20, 1), device=device) + ts.ones((1, 1 << 20), device=device)
    assert (ts.ones(3, device=device) * 2).tolist() == [2.0] * 3


def test_memory_statistics_and_empty_cache(device):
    stats = ts.memory_stats(device)
    assert isinstance(stats, dict) and "memory_limit_bytes" in stats
    ts.empty_cache(device)
    ts.empty_cache()
    x = ts.ones(1 << 16, device=device)
    assert float(x.sum().item()) == 1 << 16


# -- 3. input validation ------------------------------------------------------------------------------------------------

def test_shapes_are_validated():
    for bad in [(-5,), (2, -1), -3]:
        with pytest.raises(ValueError, match="negative"):
            ts.zeros(bad)
    with pytest.raises(ValueError, match="negative"):
        ts.ones(3).broadcast_to((-5,))
    with pytest.raises(ValueError, match="negative"):
        ts.broadcast_to(ts.ones(3), (-1, 3))
    for bad in [(2.0, 3.0), (True, 6), (np.bool_(True), 6), ("2", 3), 2.5]:
        with pytest.raises(TypeError):
            ts.ones(6).reshape(bad)
        with pytest.raises(TypeError):
            ts.zeros(bad)
    with pytest.raises(TypeError):
        ts.ones(6).reshape(2.0, 3.0)
    with pytest.raises(TypeError, match="shape.*None"):
        ts.empty(None)
    # anything with __index__ works: NumPy integers and 0-d integer tensors
    assert ts.zeros((np.int64(2), np.int32(3))).shape == (2, 3)
    assert ts.ones(6).reshape(np.int64(2), ts.asarray(3)).shape == (2, 3)
    assert ts.zeros(ts.asarray(4)).shape == (4,)
    assert ts.ones(3).broadcast_to([np.int8(2), 3]).shape == (2, 3)


def test_axes_are_validated():
    x = ts.ones((2, 3))
    assert x.sum(axis=np.int64(1)).tolist() == [3.0, 3.0]
    assert x.sum(axis=(np.int64(0), 1)).item() == 6.0
    assert ts.argmax(x, axis=np.int64(1)).tolist() == [0, 0]
    assert ts.softmax(x, axis=np.int64(0)).shape == (2, 3)
    for bad in [1.0, "1", True, [1.5]]:
        with pytest.raises(TypeError, match="axis"):
            x.sum(axis=bad)
    with pytest.raises(IndexError):
        x.sum(axis=2)
    with pytest.raises(ts.AxisError):
        x.permute_dims((0, 5))
    zero_d = ts.asarray(3.0)
    for axis in (5, 0, -1):
        with pytest.raises(ts.AxisError):
            zero_d.sum(axis=axis)
        with pytest.raises(ts.AxisError):
            ts.max(zero_d, axis=axis)
    assert zero_d.sum().item() == 3.0 and zero_d.sum(axis=()).item() == 3.0
    assert ts.argmax(zero_d).item() == 0


def test_zero_d_integer_tensors_index_like_ints():
    x = ts.arange(10)
    assert x[ts.asarray(3)].item() == 3
    assert x[ts.asarray(np.int8(-1))].item() == 9
    m = ts.arange(12).reshape(3, 4)
    assert m[ts.asarray(1), ts.asarray(2)].item() == 6
    m[ts.asarray(0), 0] = 100
    assert m[0, 0].item() == 100
    with pytest.raises(IndexError):
        x[ts.asarray(10)]
    with pytest.raises((IndexError, TypeError)):
        x[ts.asarray(1.0)]


def test_non_native_byte_orders_are_converted(device):
    for dt in (">f4", ">f8", ">i2", ">i4", ">i8", ">u1", "<f4", ">f2"):
        host = np.arange(5, dtype=dt)
        t = ts.asarray(host, device=device) if np.dtype(dt).newbyteorder("=") in \
            [d.numpy for d in device.supported_dtypes()] else None
        if t is None:
            continue
        assert t.numpy().tolist() == host.tolist() and t.dtype == ts.dtype(np.dtype(dt).newbyteorder("="))
    assert ts.dtype(">f4") is ts.float32


def test_the_dimension_limit_is_stated_and_enforced():
    assert ts.MAX_NDIM == 32
    ts.zeros((1,) * 32)
    with pytest.raises(ts.ShapeError, match="32"):
        ts.zeros((1,) * 33)
    with pytest.raises(ts.ShapeError, match="32"):
        ts.zeros((1,) * 32).expand_dims(0)
    with pytest.raises(ts.ShapeError, match="32"):
        ts.ones(1).reshape((1,) * 33)
    with pytest.raises(ts.ShapeError, match="32"):
        ts.asarray(np.zeros((1,) * 33))
    with pytest.raises(IndexError, match="32"):
        ts.zeros((1,) * 32)[None]


def test_repr_of_an_empty_tensor_shows_its_shape():
    assert "shape=(0, 3)" in repr(ts.empty((0, 3)))


def test_help_describes_the_op():
    assert "sum" in ts.add.__doc__.lower() and "broadcast" in ts.add.__doc__.lower()
    assert "(a + b)" not in ts.add.__doc__.split("\n")[0]


# -- 4. the plugin path -------------------------------------------------------------------------------------------------

@pytest.fixture
def bare_device():
    """A backend with the memory hooks only: no kernel at all, not even fill or astype."""
    name = "barehooks"
    ts.register_backend(CPUMemoryBackend(name, dtypes=("float32", "int64", "bool")), override=True)
    yield ts.device(name)
    ts.registry.set_fallback(name, None)
    ts.registry.unregister(device=name)
    ts.dispatch.device.unregister_backend(name)


def test_a_backend_with_only_memory_hooks_works_with_the_fallback(bare_device):
    with pytest.raises(ts.KernelNotFoundError, match="set_fallback"):
        ts.zeros(3, device=bare_device)
    ts.set_fallback(bare_device.type, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = ts.zeros((4, 5), device=bare_device)
        x = ts.asarray(np.arange(20, dtype=np.float32).reshape(4, 5), device=bare_device)
        y = (x + 1) * z + x.T.T
        assert y.device == bare_device and y.numpy().tolist() == np.arange(20).reshape(4, 5).tolist()
        v = x[::2, 1:]  # a strided view: copies, setitem and in-place ops through the fallback
        assert v.numpy().tolist() == np.arange(20).reshape(4, 5)[::2, 1:].tolist()
        v[0, 0] = -1.0
        v += 100
        expected = np.arange(20, dtype=np.float32).reshape(4, 5)
        expected[0, 1] = -1
        expected[::2, 1:] += 100
        assert x.numpy().tolist() == expected.tolist()
        assert x.T.to("cpu").numpy().tolist() == expected.T.tolist()
        assert float(x.sum().item()) == float(expected.sum())
        assert (x.astype("int64") > 5).numpy().tolist() == (expected.astype(np.int64) > 5).tolist()
        assert ts.matmul(x, x.T).numpy().tolist() == (expected @ expected.T).tolist()
        r = ts.rand(3, device=bare_device)
        assert r.shape == (3,)
        assert repr(x[1])


def test_fallback_never_to_itself():
    with pytest.raises(ValueError):
        ts.set_fallback("cpu", "cpu")


def test_register_backend_rejects_stub_hooks():
    class Skeleton(ts.Backend):
        name = "skeletondev"

        def device_count(self):
            return 1

        def supported_dtypes(self, index):
            return frozenset({ts.float32})

        def allocate(self, nbytes, index):
            ...

        def copy_in(self, handle, offset, host, index):
            ...

        def copy_out(self, handle, offset, host, index):
            """Copy device memory to host."""

    with pytest.raises(ts.RegistrationError, match=r"allocate\(\), copy_in\(\), copy_out\(\).*stub"):
        ts.register_backend(Skeleton())


def test_missing_hooks_and_bad_answers_are_clear():
    class NoAlloc(ts.Backend):
        name = "noallocdev"

        def device_count(self):
            return 1

        def supported_dtypes(self, index):
            return ["float32", "bool"]  # names are accepted too

    ts.register_backend(NoAlloc(), override=True)
    try:
        dev = ts.device("noallocdev")
        assert ts.float32 in dev.supported_dtypes()
        with pytest.raises(ts.BackendError, match="allocate"):
            ts.empty(3, device=dev)
    finally:
        ts.dispatch.device.unregister_backend("noallocdev")

    class BadDtypes(NoAlloc):
        name = "baddtypesdev"

        def supported_dtypes(self, index):
            return 42

    ts.register_backend(BadDtypes(), override=True)
    try:
        with pytest.raises(ts.BackendError, match="supported_dtypes"):
            ts.device("baddtypesdev").supported_dtypes()
    finally:
        ts.dispatch.device.unregister_backend("baddtypesdev")


def test_kernel_not_found_lists_only_real_devices_and_sensible_advice():
    with pytest.raises(ts.KernelNotFoundError) as info:
        ts.asarray([True, False]) + ts.asarray([True, True])
    text = str(info.value)
    assert "set_fallback('cpu', 'cpu')" not in text and "set_fallback" not in text
    assert "limited" not in text and "cuda" not in {d.type for d in ts.devices()} or True
    for name in ts.dispatch.device.backend_names():
        if name not in {d.type for d in ts.devices()}:
            assert f" {name}" not in text.split("Devices with")[-1], (name, text)


def test_unsupported_dtype_advice_is_about_what_exists():
    dev = ts.device("limited")
    with pytest.raises(ts.UnsupportedDtypeError) as info:
        ts.zeros(3, dtype="float64", device=dev)
    text = str(info.value)
    assert "dtype=ts.float32" in text and ".astype" not in text
    with pytest.raises(ts.UnsupportedDtypeError) as info:
        ts.ones(3, device=dev).astype("int8")
    assert "float16" not in str(info.value) and "float64" not in str(info.value).split("supports")[1]


def test_registry_coverage_is_public():
    cov = ts.registry.coverage()
    assert cov["add"] == tuple(ts.dispatch.registry.optable.COVERAGE["add"])
    assert set(cov) == set(ts.OPS)
    assert "float32" in ts.registry.coverage("cpu")["add"]
    assert ts.registry.coverage("limited")["add"] == ("float32",)


def test_a_plugin_that_fails_half_way_is_rolled_back(monkeypatch):
    from tensorswitch.dispatch import plugins

    def half_way():
        ts.register_backend(CPUMemoryBackend("halfwaydev"))
        ts.register_kernel("add", "halfwaydev", ["float32"], lambda out, a, b: None)
        ts.register_kernel("add", "cpu", ["float32"], lambda out, a, b: None, override=True)
        raise RuntimeError("the driver went away")

    class EP:
        name, value = "halfwaydev", "halfway_pkg:register"

        def load(self):
            return half_way

    before = ts.registry.kernels(op="add", device="cpu", dtype="float32")[0].fn
    monkeypatch.setattr(plugins, "_entry_points", lambda: {"halfwaydev": EP()})
    monkeypatch.setattr(plugins, "_loaded", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = {d.type for d in ts.devices()}
    assert "halfwaydev" not in names and "halfwaydev" not in ts.dispatch.device.backend_names()
    assert not ts.registry.kernels(device="halfwaydev")
    assert ts.registry.kernels(op="add", device="cpu", dtype="float32")[0].fn is before
    assert (ts.ones(2) + 1).tolist() == [2.0, 2.0]
    message = [w for w in caught if "halfwaydev" in str(w.message)][0]
    assert message.filename == __file__, message.filename  # the warning points at the user's line
    with pytest.raises(ts.DeviceError) as info:
        ts.device("halfwaydev")
    text = str(info.value)
    assert "failed to load" in text and "the driver went away" in text and "Did you mean" not in text


def test_autoload_off_says_how_to_load():
    code = textwrap.dedent("""
        import tensorswitch as ts
        from tensorswitch.dispatch import plugins
        class EP:
            name, value = "offplugin", "off_pkg:register"
            def load(self):
                return lambda: None
        plugins._entry_points = lambda: {"offplugin": EP()}
        try:
            ts.device("offplugin")
        except ts.DeviceError as exc:
            print(exc)
    """)
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "TENSORSWITCH_AUTOLOAD_PLUGINS": "0"})
    assert "ts.load_plugin('offplugin')" in out.stdout and "Did you mean" not in out.stdout, out.stdout + out.stderr


def test_fallback_warning_points_at_the_user(bare_device):
    ts.set_fallback(bare_device.type, "cpu")
    ts.registry._warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts.zeros(2, device=bare_device)
    assert caught and all(w.filename == __file__ for w in caught), [w.filename for w in caught]


def test_testing_is_reachable_from_the_package():
    assert ts.testing.__name__ == "tensorswitch.testing"


def test_seeds_of_any_int_and_bad_fill_values():
    ts.manual_seed(-1)
    a = ts.rand(4).numpy()
    ts.manual_seed(2 ** 64 - 1)
    assert ts.rand(4).numpy().tolist() == a.tolist()  # -1 is 2**64 - 1 modulo 2**64
    ts.manual_seed(2 ** 70)
    ts.rand(2)
    with pytest.raises(TypeError):
        ts.manual_seed(1.5)
    for bad in ("a", None, b"x"):
        with pytest.raises(TypeError):
            ts.full((2,), bad, dtype="float32")
        with pytest.raises(TypeError):
            ts.zeros(2)[0] = bad
    with pytest.raises(TypeError):
        ts.zeros(2, dtype="int8")[0] = 1 + 2j


def test_first_use_from_many_threads_in_a_fresh_process():
    """Plugin loading, device creation, the registry's and the dispatcher's caches, all first touched by 16 threads
    at once (the opencl and cuda device state has its own stress test in tests/test_threads.py)."""
    code = textwrap.dedent("""
        import threading
        import tensorswitch as ts
        barrier = threading.Barrier(16)
        errors = []
        def work(i):
            try:
                barrier.wait()
                names = sorted(d.type for d in ts.devices())
                dev = ts.device("numpy") if "numpy" in names else ts.device("cpu")
                x = ts.asarray([1.0, 2.0, 3.0], device=dev)
                for k in range(50):
                    y = (x * (k % 7) + 0.5 * i - (-0.0 if k % 2 else 0.0)) > 1
                    assert y.shape == (3,)
                    ts.full((2,), k % 5, dtype="int8", device="cpu")
                assert float((x + 1).sum().item()) == 9.0
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("errors:", errors)
    """)
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "errors: []" in out.stdout, out.stdout + out.stderr


# -- found by fuzzing (tests/test_fuzz.py keeps the contract; these pin the answers) --------------------------------

def test_float16_statistics_accumulate_in_float32(device):
    if ts.float16 not in device.supported_dtypes():
        pytest.skip(f"{device} has no float16")
    x = ts.full((70000,), 0.5, dtype="float16", device=device)
    assert x.mean().dtype == ts.float16 and float(x.mean().item()) == 0.5
    assert float(ts.mean(ts.ones(100000, dtype="float16", device=device)).item()) == 1.0
    h = np.linspace(-1, 1, 70001).astype(np.float16)
    t = ts.asarray(h, device=device)
    assert abs(float(t.var().item()) - float(h.astype(np.float32).var())) < 1e-3
    assert abs(float(t.std().item()) - float(h.astype(np.float32).std())) < 1e-3


def test_linspace_into_integers_truncates_like_numpy(device):
    for args, dt in [((0, 10, 5), "int64"), ((-1, 1, 5), "int32"), ((0, 255, 7), "uint8"), ((0, 1, 3), "bool")]:
        assert ts.linspace(*args, dtype=dt, device=device).tolist() == np.linspace(*args).astype(dt).tolist()
    with pytest.raises(TypeError, match="linspace"):
        ts.linspace("a", "b", 3)


def test_fill_values_must_be_numbers():
    for dt in ("bool", "int8", "float32"):
        for bad in ([0], object(), {}, "1"):
            with pytest.raises(TypeError):
                ts.full((3,), bad, dtype=dt)
    with pytest.raises(ValueError, match="one-element"):
        ts.full((2,), ts.ones(2))
    x = ts.zeros(3, dtype="bool")
    x[:] = [0, 1, 0]  # a list is a sequence of values, not one truthy object
    assert x.tolist() == [False, True, False]
    y = ts.zeros((2, 3))
    y[0] = np.array([1.0, 2.0, 3.0])
    y[1] = [4, 5, 6]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_in_place_logical_and_matmul_operators_write_in_place():
    m = ts.asarray([True, True, False])
    v = m[:2]
    v &= ts.asarray([False, True])
    assert m.tolist() == [False, True, False]
    v |= True
    assert m.tolist() == [True, True, False]
    a = ts.asarray([[1.0, 2.0], [3.0, 4.0]])
    view = a[:]
    view @= ts.eye(2) * 2
    assert a.tolist() == [[2.0, 4.0], [6.0, 8.0]]
    with pytest.raises(ts.ShapeError):
        view @= ts.ones((2, 3))


def test_equality_with_non_operands_is_pythons_answer():
    x = ts.ones(2)
    assert (x == None) is False and (x != None) is True  # noqa: E711
    assert (x == "a") is False
    with pytest.raises(TypeError, match="add"):
        ts.add(x, "a")


def test_true_division_of_integers_by_big_ints():
    x = ts.asarray(np.array([3, 6], np.int8))
    assert (x / 300).tolist() == pytest.approx([0.01, 0.02])
    assert (600 / x).tolist() == pytest.approx([200.0, 100.0])
    assert (ts.asarray(np.array([3], np.uint8)) / -3).tolist() == [-1.0]


def test_where_with_two_scalars():
    c = ts.asarray([True, False])
    assert ts.where(c, 1, 0).tolist() == [1, 0] and ts.where(c, 1, 0).dtype == ts.int64
    assert ts.where(c, 1.5, 0).dtype == ts.float32 and ts.where(c, True, False).dtype == ts.bool


def test_set_fallback_checks_its_devices():
    with pytest.raises(ts.DeviceError):
        ts.set_fallback("limited", "nonexistent")
    with pytest.raises(ts.DeviceError):
        ts.set_fallback("nosuchdevice", "cpu")
    with pytest.raises(TypeError):
        ts.set_fallback("limited", 5)


def test_fallback_results_stay_in_the_devices_dtypes():
    ts.set_fallback("limited", "cpu")
    try:
        x = ts.asarray([1.0, 3.0], device="limited")
        for fn in (ts.argmax, ts.argmin):
            with pytest.raises(ts.UnsupportedDtypeError, match="int64"):
                fn(x)
        with pytest.raises(ts.UnsupportedDtypeError):
            ts.sum(ts.asarray([True, False], device="limited"))
    finally:
        ts.set_fallback("limited", None)


def test_sizes_and_strides_stay_within_64_bits():
    with pytest.raises(ValueError, match="2\\*\\*63"):
        ts.zeros((0, 2 ** 63))
    with pytest.raises(ValueError):
        ts.ones(1).broadcast_to((2 ** 64,))
    with pytest.raises(ValueError):
        ts.ones(1).broadcast_to((2 ** 62, 2 ** 62))
    x = ts.ones((3, 3))
    assert (x[:: 2 ** 64, ::2] + 1).tolist() == [[2.0, 2.0]]
    x[:: -2 ** 63] = 2.0
    assert x[2].tolist() == [2.0] * 3 and x[0].tolist() == [1.0] * 3
    with pytest.raises(OverflowError):
        ts.arange(0, 5, 2 ** 63)
    with pytest.raises(TypeError, match="eye"):
        ts.eye(3, k=0.5)
    with pytest.raises(ValueError, match="eye"):
        ts.eye(-3)


def test_errors_name_the_op_the_user_called():
    x = ts.ones((2, 3))
    for fn in (ts.mean, ts.var, ts.std):
        with pytest.raises(ts.AxisError, match=fn.__name__):
            fn(x, axis=5)
    for call in (lambda: ts.zeros_like([1]), lambda: ts.mean([1.0]), lambda: ts.reshape([1, 2], (2,)),
                 lambda: ts.concat([[1], [2]]), lambda: ts.astype([1], "float32"), lambda: ts.argmin([[1, 2]]),
                 lambda: ts.softmax(np.array([1.0]))):
        with pytest.raises(TypeError, match="expected a tensor"):
            call()
    with pytest.raises(TypeError, match="float\\(\\)"):
        float(ts.ones(2))
    assert ts.promote_types("int32", "int8") is ts.int32
    with pytest.raises(TypeError):
        ts.dtype([1])
    with pytest.raises(ValueError, match="asarray.*lengths"):
        ts.asarray([[1, 2], [3]])
    assert ts.result_type(ts.ones(1), 1j) is ts.complex64  # complex scalars: the complex dtype of the precision
    assert ts.rand(ts.asarray([2, 3])).shape == (2, 3)


# -- found by the acceptance review ------------------------------------------------------------------------------------

def test_conformance_checks_the_sign_of_zero_and_log_softmax_far_from_zero():
    import tensorswitch.testing as testing

    name = "signlessdev"
    ts.register_backend(CPUMemoryBackend(name, dtypes=("float32", "bool")), override=True)
    try:
        for op in ("add", "fill", "astype", "log_softmax"):
            for e in ts.registry.kernels(op=op, device="cpu", dtype="float32"):
                fn = e.fn
                if op == "add":
                    def fn(out, a, b, _add=e.fn):  # a kernel that loses the sign of zero
                        _add(out, a, b)
                        host = out.numpy()
                        host[host == 0] = 0.0
                        out[...] = ts.asarray(host, device=out.device)  # out may be strided (Note [Kernel contract])
                elif op == "log_softmax":
                    def fn(out, x, axis, _ls=e.fn):  # x - (max + log(sum)): cancels log(sum) far from zero
                        h = x.numpy().astype(np.float32)
                        m = h.max(axis=axis, keepdims=True)
                        res = (h - (m + np.log(np.exp(h - m).sum(axis=axis, keepdims=True)))).astype(np.float32)
                        out.device.backend.copy_in(out.buffer.handle, 0, np.ascontiguousarray(res), 0)
                ts.register_kernel(op, name, ["float32"], fn)
        report = testing.run_conformance(name, ops=["add", "log_softmax"], dtypes=["float32"])
        assert report.cells["add/float32"]["status"] == testing.FAIL
        assert "sign of zero" in report.cells["add/float32"]["error"]
        assert report.cells["log_softmax/float32"]["status"] == testing.FAIL
    finally:
        ts.registry.unregister(device=name)
        ts.dispatch.device.unregister_backend(name)
    x = ts.asarray([[1e4, 1e4, 0.0]])
    assert abs(float(ts.log_softmax(x)[0, 0].item()) - float(np.log(0.5))) < 1e-6


def test_review_small_fixes():
    x = ts.arange(6)
    assert x.reshape(np.array([2, 3])).shape == (2, 3) and x.reshape(ts.asarray([3, 2])).shape == (3, 2)
    with pytest.raises(ts.AxisError, match="1 dimension "):
        ts.ones(3).sum(axis=1)
    with pytest.raises(ts.UnsupportedDtypeError, match="zeros"):
        ts.zeros(3, dtype="float64", device="limited")
    with pytest.raises(ts.UnsupportedDtypeError, match="rand"):
        ts.rand(3, dtype="float64", device="limited")
    with pytest.raises(ts.DeviceError):
        ts.registry.coverage("nosuchdevice")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ts.asarray([1e6], dtype="float16").tolist() == [math.inf]


def test_scalar_operands_on_a_device_without_fill_name_the_op(bare_device):
    ts.register_kernel("add", bare_device.type, ["float32"],
                       ts.registry.kernels(op="add", device="cpu", dtype="float32")[0].fn)
    x = ts.asarray([1.0, 2.0], device=bare_device)
    assert (x + x).tolist() == [2.0, 4.0]
    with pytest.raises(ts.KernelNotFoundError, match="^add: a Python scalar.*fill"):
        x + 1.0


def test_coverage_of_a_plugin_loads_it():
    code = "import tensorswitch as ts; print(len(ts.registry.coverage('numpy')) > 10)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stdout + out.stderr


def test_conformance_forces_the_parallel_cpu_paths():
    code = ("import tensorswitch as ts, tensorswitch.testing as t\n"
            "from tensorswitch.testing import samples\n"
            "seen = []\n"
            "real = samples.check\n"
            "def check(*a, **k):\n"
            "    seen.append(ts.get_num_threads())\n"
            "    return real(*a, **k)\n"
            "import tensorswitch.testing.conformance as c\n"
            "c.samples.check = check\n"
            "r = t.run_conformance('cpu', ops=['sum'], dtypes=['float32'])\n"
            "print(r.ok, seen, ts.get_num_threads())\n")
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == "True [2] 1", out.stdout + out.stderr


def test_equality_with_arrays_still_says_to_convert():
    x = ts.ones(2)
    for other in (np.ones(2), [1.0, 1.0]):
        with pytest.raises(TypeError, match="asarray"):
            x == other  # noqa: B015
