"""What only the opencl backend has: generated programs, launch paths (contiguous, scalar, strided; serial and
two-pass reductions), caching, and its availability messages.  The op-by-op checks against NumPy run for opencl in
test_ops.py like for every device."""

import gc
import subprocess
import sys

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.backends import opencl
from tensorswitch.dispatch.registry import LAUNCHED_BINARY
from tensorswitch.kernels import optable
from tensorswitch.testing import samples

pytestmark = pytest.mark.skipif("opencl" in ts.dispatch.device.unavailable_reasons(),
                                reason="no usable OpenCL device")

FAMILIES = {"elementwise": optable.DTYPE_NAMES, "astype": optable.DTYPE_NAMES, "create": optable.NUMERIC,
            "reduce": optable.DTYPE_NAMES, "matmul": optable.NUMERIC, "softmax": optable.FLOAT,
            "windows": optable.FLOAT, "take": optable.DTYPE_NAMES, "scatter": optable.NUMERIC}


@pytest.fixture
def dev():
    ts.device("opencl")
    return ts.device("opencl").backend._device(0)


def test_register_does_not_touch_drivers():
    code = "import sys, tensorswitch; assert 'pyopencl' not in sys.modules, 'register() imported pyopencl'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_program_compiles(dev, family):
    """Every generated program builds (float16 too: vload/vstore_half need no extension) and holds the kernels the
    adapters launch."""
    import pyopencl as cl

    for dtype in FAMILIES[family]:
        source = opencl.SOURCES[family](dev, dtype)
        program = cl.Program(dev.context, source).build(options=["-w"])
        names = {k.function_name for k in program.all_kernels()}
        if family == "elementwise":
            for op in optable.ELEMENTWISE.values():
                if dtype in op.dtypes:
                    assert f"{op.name}_contig" in names and f"{op.name}_strided" in names
                    if op.arity == 2:
                        assert {f"{op.name}_rows", f"{op.name}_tiles"} <= names
            assert {"where_contig", "where_strided", "where_rows", "fill_contig", "fill_strided"} <= names
        elif family == "astype":
            assert names == {f"to_{d}_{v}" for d in optable.DTYPE_NAMES for v in ("contig", "strided", "rows", "tiles")}
        elif family == "reduce":
            expected = [r for r, red in optable.REDUCTIONS.items() if dtype in red.dtypes]
            vec = {f"{r}_{v}" for r in opencl.VECTOR_REDUCTIONS if r in expected and dtype in dev.vector_width
                   for v in ("vec", "vcols")}
            assert names == {f"{r}_{v}" for r in expected for v in ("serial", "group", "finish")} | vec


def test_float16_kernels_even_without_the_extension():
    """PoCL here lacks cl_khr_fp16, so the generic tests skip float16; its storage path still works, so force it on
    to check the float16 kernels against NumPy."""
    d = ts.device("opencl")
    if ts.float16 in d.supported_dtypes():
        pytest.skip("float16 is supported and tested by test_ops.py")
    saved = d._dtypes
    d._dtypes = saved | {ts.float16}
    try:
        for op in ("add", "exp", "floor_divide", "sum", "argmax", "astype", "matmul", "softmax", "rand", "where"):
            assert samples.check(op, "float16", d) > 0
    finally:
        d._dtypes = saved


def test_kernels_and_programs_are_built_once(dev):
    x = ts.asarray(np.arange(5, dtype=np.float32), device="opencl")
    x + x
    k = dev.kernels[("elementwise", "float32", "add_contig")]
    programs = len(opencl._cache._programs)
    x * x
    x - 1.0
    assert dev.kernels[("elementwise", "float32", "add_contig")] is k
    assert len(opencl._cache._programs) == programs  # one program holds every elementwise op of float32


def test_zero_byte_allocation():
    t = ts.empty((0,), dtype="float32", device="opencl")
    assert t.numpy().shape == (0,)
    assert ts.asarray(np.zeros((3, 0), np.int8), device="opencl").numpy().shape == (3, 0)


@pytest.mark.parametrize("make", ["c", "python"])
def test_new_large_buffers_and_only_those_are_advised(dev, make):
    """Note [OpenCL huge pages]: the allocator passes a buffer to its ``fresh`` callable when it is at least
    ``large`` bytes and new to the memory pool, not when the pool hands a held one back, and never a small one; the
    C Allocator and its Python stand-in alike."""
    from pyopencl.tools import ImmediateAllocator, MemoryPool

    if make == "c" and opencl._Allocator is opencl._PyAllocator:
        pytest.skip("tensorswitch._opencl is not in use here")
    cls = opencl._Allocator if make == "c" else opencl._PyAllocator
    seen = []
    pool = MemoryPool(ImmediateAllocator(dev.queue))
    allocate = cls(pool, dev.max_alloc, lambda buf: seen.append(buf.size), 4 << 20)
    big = (6 << 20) + 4096
    buf = allocate(big)
    assert len(seen) == 1 and seen[0] >= big
    del buf  # back to the pool, which holds it
    again = allocate(big)
    small = allocate(1 << 20)
    assert len(seen) == 1, "a held buffer handed back or a small one was advised"
    other = allocate(big)  # the held one is in use: a new buffer
    assert len(seen) == 2 and allocate.count == 4
    del again, small, other
    pool.free_held()


def test_huge_page_advice_covers_whole_pages_of_the_buffer(dev, monkeypatch):
    """The advice asks for the 2 MiB-aligned pages inside the buffer's host memory, MADV_HUGEPAGE, and the data
    written there afterwards reads back; a map that fails turns the advice off and the allocation still works."""
    import pyopencl as cl

    if not dev.cpu:
        pytest.skip("huge pages are asked for on CPU devices only")
    real, calls = dev._madvise, []
    if real is None:
        pytest.skip("no madvise to ask here (not Linux, or TENSORSWITCH_OPENCL_HUGE_PAGES=0)")
    monkeypatch.setattr(dev, "_madvise", lambda *args: calls.append(args) or real(*args))
    buf = dev.pool.allocate(24 << 20)
    dev._huge_pages(buf)
    (start, length, advice), = calls
    assert advice == 14 and start % (2 << 20) == 0 and length % (2 << 20) == 0 and length >= 20 << 20
    host, _ = cl.enqueue_map_buffer(dev.queue, buf, cl.map_flags.READ, 0, (buf.size,), np.uint8, is_blocking=True)
    assert host.ctypes.data <= start and start + length <= host.ctypes.data + buf.size
    del host
    h = (np.arange(3 << 20) % 7).astype(np.float32)  # sums exactly in float32
    dev.pool.free_held()  # so that the pool holds no buffer that would serve the next allocation
    x = ts.asarray(h, device="opencl")  # 12 MiB: a new buffer of the pool, advised (one more call)
    assert len(calls) == 2 and calls[1][1] >= 8 << 20
    np.testing.assert_array_equal(x.numpy(), h)
    assert float(x.sum()) == float(h.sum(dtype=np.float64))

    def refuse(*args, **kwargs):
        raise cl.RuntimeError("map refused")

    monkeypatch.setattr(cl, "enqueue_map_buffer", refuse)
    dev._huge_pages(buf)
    assert dev._madvise is None and len(calls) == 2
    dev._huge_pages(buf)  # off: nothing more is tried
    del buf


def test_coalesce():
    assert opencl._coalesce((4, 5), [(5, 1), (0, 0)]) == ([20], [[1], [0]])
    assert opencl._coalesce((4, 1, 5), [(5, 5, 1)]) == ([20], [[1]])
    assert opencl._coalesce((4, 5), [(1, 4)]) == ([4, 5], [[1, 4]])
    assert opencl._coalesce((), [()]) == ([], [[]])


@pytest.mark.parametrize("case", ["contig", "scalar_a", "scalar_b", "strided", "broadcast", "zero_d", "negative"])
def test_elementwise_launch_paths(dev, case):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((30, 40)).astype(np.float32), rng.standard_normal((30, 40)).astype(np.float32)
    ta, tb = ts.asarray(a, device="opencl"), ts.asarray(b, device="opencl")
    got, want = {
        "contig": (lambda: ta - tb, lambda: a - b),
        "scalar_a": (lambda: 2.0 - ta, lambda: 2.0 - a),
        "scalar_b": (lambda: ta - 2.0, lambda: a - 2.0),
        "strided": (lambda: ta.T - tb.T, lambda: a.T - b.T),
        "broadcast": (lambda: ta[:, :1] - tb[:1, :], lambda: a[:, :1] - b[:1, :]),
        "zero_d": (lambda: ts.asarray(np.float32(3), device="opencl") - 1.0, lambda: np.float32(3) - np.float32(1)),
        "negative": (lambda: ta[::-1, ::-3] - tb[:, ::-3][::-1], lambda: a[::-1, ::-3] - b[:, ::-3][::-1]),
    }[case]
    samples.compare(got(), np.asarray(want()), ts.device("opencl"), case)


@pytest.mark.parametrize("shape,axis", [((1, 300_001), 1),      # one output, long extent: two passes
                                        ((8, 20_000), 1),       # few outputs: two passes
                                        ((100, 1000), 1),       # one group per output
                                        ((3000, 7), 1),         # short extent: one work-item per output
                                        ((50, 60, 70), (0, 2)), # reduced axes that do not merge
                                        ((2000, 30), 0)])       # many outputs along a strided axis
@pytest.mark.parametrize("op", ["sum", "max", "min", "argmax", "argmin", "all", "any", "prod"])
def test_reduction_paths(op, shape, axis):
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, size=shape).astype(np.float32)  # many ties: argmax must return the first
    if op == "prod":
        x = np.where(rng.random(shape) < 0.999, 1.0, -1.0).astype(np.float32)
    if op in ("all", "any"):
        x = (rng.random(shape) < (0.9999 if op == "all" else 0.0001)).astype(np.float32)
    x.flat[x.size // 2] = np.nan if op in ("max", "argmin") else x.flat[x.size // 2]
    d = ts.device("opencl")
    if op in ("argmax", "argmin") and isinstance(axis, tuple):
        return
    got = getattr(ts, op)(ts.asarray(x, device=d), axis=axis)
    want = getattr(np, op)(x, axis=axis)
    if op in ("sum", "prod"):
        samples.compare(got, want.astype(np.float32), d, op, atol=1e-2)
    else:
        samples.compare(got, want, d, op)


def test_random_matches_cpu_bit_for_bit():
    for op, dtype in (("randint", "int64"), ("randint", "uint8"), ("rand", "float32"), ("rand", "float64"),
                      ("randn", "float64"), ("randn", "float32")):
        draws = []
        for device in ("cpu", "opencl"):
            ts.manual_seed(99)
            if op == "randint":
                draws.append(ts.randint(-5 if dtype != "uint8" else 0, 77, size=(5000,), dtype=dtype,
                                        device=device).numpy())
            else:
                draws.append(getattr(ts, op)(5000, dtype=dtype, device=device).numpy())
        if op == "randn":
            np.testing.assert_allclose(draws[1], draws[0], rtol=1e-6 if dtype == "float32" else 1e-13)
        else:
            np.testing.assert_array_equal(draws[1], draws[0])


def test_unavailable_without_pyopencl(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyopencl", None)  # import fails
    backend = opencl.OpenCLBackend()
    backend.initialize()
    assert backend.device_count() == 0
    assert 'pip install "tensorswitch[opencl]"' in backend.unavailable_reason()


def test_describe_and_dtypes():
    d = ts.device("opencl")
    assert d.backend.describe(0).startswith("opencl:0 (")
    ext = d.backend._cl_devices[0].extensions
    assert (ts.float64 in d.supported_dtypes()) == ("cl_khr_fp64" in ext)
    assert (ts.float16 in d.supported_dtypes()) == ("cl_khr_fp16" in ext)


# -- Hardening: casts, rounding, softmax rows, memory, fill values -----------------------------------------------

@pytest.fixture
def f16():
    """The opencl device with float16 forced on where PoCL lacks cl_khr_fp16 (its storage path needs no extension;
    see test_float16_kernels_even_without_the_extension)."""
    d = ts.device("opencl")
    saved = d.supported_dtypes()
    d._dtypes = saved | {ts.float16}
    yield d
    d._dtypes = saved


# NaN, infinities, each integer type's edges, the int32 and int64 edges (-2**31 - 0.5 truncates into range,
# -2**31 - 1 does not), values that wrap (300.7 -> int8 44) and the examples of Note [Float to integer casts]
_CAST_VALUES = [0.0, -0.0, 0.9, -0.9, 1.5, -1.0, 127.5, 128.0, -129.0, 255.9, 256.0, 300.7, -300.7, 65504.0, 1e10,
                -1.38e16, 3e9, float("nan"), float("inf"), -float("inf"), 2.0 ** 31, -2.0 ** 31, 2.0 ** 31 - 0.5,
                -2.0 ** 31 - 0.5, -2.0 ** 31 - 1, 2.0 ** 63, -2.0 ** 63, 2.0 ** 63 - 1024, -2.0 ** 63 - 2048, 1e300,
                -1e300, 2.0 ** 32 + 7, -(2.0 ** 40) - 3]


@pytest.mark.parametrize("src", ["float16", "float32", "float64"])
@pytest.mark.parametrize("dst", ["bool", "int8", "int16", "int32", "int64", "uint8"])
def test_float_to_integer_casts_match_numpy(f16, src, dst):
    """Note [Float to integer casts] in dispatch/dtypes.py: NumPy's x86-64 answer for every value, NaN and
    out-of-range ones included, on contiguous, reversed and transposed operands."""
    with np.errstate(all="ignore"):
        x = np.array(_CAST_VALUES * 3, np.float64).astype(src)
        want = x.astype(dst)
    t = ts.asarray(x, device=f16)
    samples.compare(t.astype(dst), want, f16, f"astype({src} -> {dst})")
    samples.compare(t[::-3].astype(dst), want[::-3], f16, f"astype({src} -> {dst}) reversed, strided")
    x2, w2 = x[:32].reshape(4, 8), want[:32].reshape(4, 8)
    samples.compare(ts.asarray(x2, device=f16).T.astype(dst), w2.T, f16, f"astype({src} -> {dst}) transposed")


def test_cast_examples_of_the_note(dev):
    x = ts.asarray(np.array([300.7, -300.7, -1.0, 1e10, -1.38e16, 65504.0, np.nan]), device="opencl")
    assert x.astype("int8").numpy().tolist() == [44, -44, -1, 0, 0, -32, 0]
    assert x.astype("uint8").numpy().tolist() == [44, 212, 255, 0, 0, 224, 0]
    assert x.astype("int64").numpy().tolist()[-1] == -2 ** 63


@pytest.mark.parametrize("src,dst,values", [
    # 65519.999 lies below the midpoint to inf: 65504 (through float it rounds to 65520.0, then to inf); the third
    # is just above a float16 tie, which float would have made an exact tie (rounded to even, down)
    ("float64", "float16", [65519.999, 65520.0, -65519.999, 1 + 2.0 ** -11 + 2.0 ** -40, 2.0 ** -25 + 2.0 ** -60,
                            6.1e-5, 1e-8, float("nan"), float("inf")]),
    ("float64", "float32", [1 + 2.0 ** -24 + 2.0 ** -60, 3.4028235677973366e38, 3.4028235e38, 1e-46, 0.1]),
    ("int64", "float16", [65504, 65519, 65520, 2049, 2051, -4097, 2 ** 24 + 1, 2 ** 62, -(2 ** 63)]),
    ("int64", "float32", [2 ** 24 + 1, 2 ** 24 + 3, 2 ** 53 + 1, 2 ** 63 - 1, -(2 ** 63)]),
    ("int32", "float16", [65519, 65520, 2049, -2 ** 31]),
])
def test_conversions_round_once(f16, src, dst, values):
    x = np.array(values, dtype=src)
    with np.errstate(all="ignore"):
        want = x.astype(dst)
    got = ts.asarray(x, device=f16).astype(dst).numpy()
    np.testing.assert_array_equal(got, want)  # bit for bit (NaN equals NaN here)


def _softmax_like_torch(x, axis, log):
    """PyTorch's softmax: the NaN-propagating max is subtracted even when not finite (Note [Softmax of non-finite
    rows] in kernels/cuda/softmax.cu)."""
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.max(x64, axis=axis, keepdims=True)
        s = np.sum(np.exp(x64 - m), axis=axis, keepdims=True)
        out = x64 - m - np.log(s) if log else np.exp(x64 - m) / s
    return out.astype(x.dtype)


_INF, _NAN = float("inf"), float("nan")
_ROWS = [[_INF, 1.0, 2.0, 3.0], [_NAN, 1.0, 2.0, 3.0], [-_INF, -_INF, -_INF, -_INF], [0.0, -_INF, 1.0, 2.0],
         [1e4, -1e4, 0.0, 1.0], [_INF, _INF, 0.0, 0.0], [-_INF, _INF, 0.0, _NAN], [0.5, 0.25, -0.5, 2.0]]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_rows_that_are_not_finite(f16, dtype, op):
    """A row whose max is +inf, that holds a NaN, or that is all -inf is NaN everywhere; a row with some -inf is
    ordinary: PyTorch's answer, on both axes (a contiguous row and a strided one)."""
    x = np.array(_ROWS, dtype)
    t = ts.asarray(x, device=f16)
    log = op == "log_softmax"
    fn = getattr(ts, op)
    want = _softmax_like_torch(x, -1, log)
    assert np.isnan(want[[0, 1, 2, 5, 6]]).all() and not np.isnan(want[[3, 4, 7]]).any()
    samples.compare(fn(t, axis=-1), want, f16, f"{op} rows")
    samples.compare(fn(t.T, axis=0), want.T, f16, f"{op} columns of the transpose")


def test_allocation_past_the_device_limit_is_a_memory_error(dev):
    backend = ts.device("opencl").backend
    limit = backend.memory_limit(0)
    assert limit == backend._cl_devices[0].max_mem_alloc_size
    for nbytes in (limit + 1, 2 ** 62 * 4, 2 ** 70):
        with pytest.raises(MemoryError) as info:
            backend.allocate(nbytes, 0)
        assert str(nbytes) in str(info.value) and str(limit) in str(info.value)
    # through the public API: the core's error, and the device keeps working afterwards
    with pytest.raises(MemoryError) as info:
        ts.empty((2 ** 62,), dtype="float32", device="opencl")
    assert isinstance(info.value, ts.TensorSwitchError)
    with pytest.raises(MemoryError):
        ts.zeros((limit // 4 + 1,), dtype="float32", device="opencl")
    x = ts.asarray(np.arange(1000, dtype=np.float32), device="opencl")
    assert float((x * 2).sum().numpy()) == 999000.0


def test_allocation_failures_become_memory_errors(dev, monkeypatch):
    """Failures of the pool itself (the driver out of memory, a size it refuses) are MemoryError too."""
    import pyopencl as cl

    class Pool:
        def __init__(self, exc):
            self.exc = exc

        def allocate(self, n):
            raise self.exc

    def error(kind, code):
        return kind(cl._cl._ErrorRecord("clCreateBuffer", code, "from the test"))

    failures = [OverflowError("too big"), error(cl.MemoryError, cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE),
                error(cl.MemoryError, cl.status_code.OUT_OF_RESOURCES),
                error(cl.LogicError, cl.status_code.INVALID_BUFFER_SIZE)]
    allocator = type(dev.allocator)  # tensorswitch._opencl.Allocator, or its Python stand-in
    for exc in failures:
        monkeypatch.setattr(dev, "allocator", allocator(Pool(exc), dev.max_alloc))
        with pytest.raises(MemoryError, match="1024 bytes"):
            dev.allocate(1024)
    monkeypatch.setattr(dev, "allocator", allocator(Pool(error(cl.LogicError, cl.status_code.INVALID_CONTEXT)),
                                                    dev.max_alloc))
    with pytest.raises(cl.LogicError):  # not a memory problem: not disguised as one
        dev.allocate(1024)


def test_memory_hooks(dev):
    backend = ts.device("opencl").backend
    keys = {"allocated_bytes", "cached_bytes", "peak_allocated_bytes", "allocation_count", "device_total_bytes"}
    gc.collect()  # a buffer freed by the collector mid-test would change the counts
    before = backend.memory_stats(0)
    assert set(before) == keys and all(isinstance(v, int) for v in before.values())
    assert before["device_total_bytes"] == backend._cl_devices[0].global_mem_size
    x = ts.empty((1 << 20,), dtype="float32", device="opencl")
    during = backend.memory_stats(0)
    assert during["allocated_bytes"] >= before["allocated_bytes"] + (4 << 20)
    assert during["peak_allocated_bytes"] >= during["allocated_bytes"]
    assert during["allocation_count"] > before["allocation_count"]
    del x
    after = backend.memory_stats(0)
    assert after["allocated_bytes"] <= during["allocated_bytes"] - (4 << 20)
    assert after["cached_bytes"] >= 4 << 20  # kept by the pool for reuse
    backend.empty_cache(0)
    assert backend.memory_stats(0)["cached_bytes"] < 4 << 20
    assert (ts.ones(5, device="opencl") + 1).numpy().tolist() == [2.0] * 5


@pytest.mark.parametrize("dtype,value", [
    ("bool", 0.5), ("bool", float("nan")), ("bool", 0.0), ("bool", -0.0), ("bool", 2), ("bool", True),
    ("int64", 2 ** 63 - 1), ("int64", -2 ** 63), ("int64", 2 ** 53 + 1), ("int32", -2 ** 31), ("uint8", 255),
    ("int8", -128), ("float64", float("nan")), ("float64", -float("inf")), ("float64", 1e-310), ("float64", 0.1),
    ("float32", 0.1), ("float32", float("inf")), ("float32", -0.0), ("float32", 3.4028235677973366e38),
    ("float16", 65519.999), ("float16", 65520.0), ("float16", 1 + 2.0 ** -11 + 2.0 ** -40), ("float16", float("nan")),
])
def test_fill_values_pass_exactly(f16, dtype, value):
    """fill: bool is value != 0 (NaN is True), integers near the int64 limits and float NaN/inf arrive exactly, and
    every float dtype rounds the value once (NumPy's np.full is the oracle)."""
    with np.errstate(all="ignore"):
        want = np.full((7, 5), value, dtype=dtype)
    t = ts.empty((7, 5), dtype=dtype, device=f16)
    opencl.fill(t, value)                      # contiguous
    np.testing.assert_array_equal(t.numpy(), want)
    u = ts.zeros((7, 10), dtype=dtype, device=f16)
    opencl.fill(u[:, ::2], value)              # strided
    expect = np.zeros((7, 10), dtype=dtype)
    expect[:, ::2] = want
    np.testing.assert_array_equal(u.numpy(), expect)


def test_randint_spans_past_int64(dev):
    """high - low travels as an unsigned 64-bit span: [0, 2**63) and the whole int64 range draw the numbers of
    Note [Random numbers] (span 2**64 is every value: bits as they are)."""
    from tensorswitch.testing import reference

    x0, x1, _, _ = reference.philox(7, 0, 4000)
    bits = ((x1 << np.uint64(32)) | x0).astype(np.uint64)
    for low, high in ((0, 2 ** 63), (-2 ** 63, 2 ** 63), (-2 ** 63, 2 ** 63 - 1), (2 ** 62, 2 ** 63)):
        t = ts.empty((4000,), dtype="int64", device="opencl")
        opencl._random("randint")(t, 7, 0, low, high)
        span = (high - low) % 2 ** 64
        want = np.array([(low + (int(b) % span if span else int(b))) % 2 ** 64 for b in bits], np.uint64)
        np.testing.assert_array_equal(t.numpy(), want.astype(np.int64))
        assert t.numpy().min() >= low and t.numpy().max() < high


# -- errors from the driver (Note [OpenCL errors] in backends/opencl.py) --------------------------------------------

BAD_SOURCE = "__kernel void f(__global float* x) { x[0] = not_declared_anywhere; }\n"


def test_a_program_that_fails_to_build_is_a_clear_backend_error(dev, monkeypatch):
    """A fresh family name: a program key no other test uses, so the real kernel cache is never touched."""
    import pyopencl as cl

    monkeypatch.setitem(opencl.SOURCES, "broken_for_test", lambda d, dtype: BAD_SOURCE)
    for _ in range(2):  # a failure is not cached: the second call builds (and fails) again
        with pytest.raises(ts.BackendError) as info:
            dev.kernel("broken_for_test", "float32", "f")
        text = str(info.value)
        assert text.startswith("opencl:0 (") and dev.context.devices[0].name.strip() in text, text
        assert "broken_for_test" in text and "float32" in text and "failed to build" in text, text
        assert "not_declared_anywhere" in text, text  # the first lines of the build log
        assert "bug" in text, text
        assert isinstance(info.value, RuntimeError) and isinstance(info.value.__cause__, cl.Error)
    assert ("broken_for_test", "float32", "f") not in dev.kernels
    long_log = BAD_SOURCE + "".join(f"#error line {i}\n" for i in range(40))
    monkeypatch.setitem(opencl.SOURCES, "broken_for_test", lambda d, dtype: long_log)
    with pytest.raises(ts.BackendError, match=r"more lines\)") as info:
        dev.kernel("broken_for_test", "int32", "f")
    assert len(str(info.value).splitlines()) < 20  # only the first lines of the log
    monkeypatch.setitem(opencl.SOURCES, "broken_for_test", lambda d, dtype: "__kernel void f(__global int* x) {}")
    with pytest.raises(ts.BackendError, match="kernel g of the broken_for_test program for int8"):
        dev.kernel("broken_for_test", "int8", "g")  # built, but without the kernel asked for


def test_a_build_failure_through_the_public_api(dev, monkeypatch):
    """A real family with its source broken, under a fresh kernel cache that is thrown away afterwards."""
    x = ts.asarray(np.arange(4, dtype=np.float32), device="opencl")
    with monkeypatch.context() as m:
        m.setattr(opencl, "_cache", opencl.KernelCache(opencl._build, opencl._function))
        m.setattr(dev, "kernels", {})
        m.setitem(opencl.SOURCES, "elementwise", lambda d, dtype: BAD_SOURCE)
        for launched in LAUNCHED_BINARY.values():  # the dispatcher's one-call path holds launchers of the old cache
            launched.pop(dev.index, None)
        with pytest.raises(ts.BackendError, match="elementwise kernels for float32 failed to build"):
            x + x
    assert (x + x).numpy().tolist() == [0.0, 2.0, 4.0, 6.0]  # the real cache and source are back


def test_launch_errors_name_the_device_and_kernel(dev):
    import pyopencl as cl

    x = ts.asarray(np.arange(3, dtype=np.float32), device="opencl")
    k = dev.kernel("elementwise", "float32", "add_contig")
    h = x.buffer.handle
    with pytest.raises(ts.BackendError, match=r"opencl:0 .*launching kernel add_contig .*bug") as info:
        too_big = 2 * dev.context.devices[0].max_work_group_size  # a work-group larger than the device allows
        dev.launch(k, (too_big,), (too_big,), h, 0, h, 0, h, 0, 3)
    assert isinstance(info.value.__cause__, cl.LogicError)

    class OutOfMemoryKernel:
        function_name = "add_contig"

        def __call__(self, *args):
            raise cl.MemoryError(cl._cl._ErrorRecord("clEnqueueNDRangeKernel",
                                                     cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE, "from the test"))

    with pytest.raises(ts.OutOfMemoryError, match="opencl:0 .*add_contig.*out of memory"):
        dev.launch(OutOfMemoryKernel(), (4,), (4,))
    assert (x + 1).numpy().tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_register_blocked_matmul(dev, dtype):
    """Note [Register-blocked matmul] on CPU devices: every edge of the rows x vector block (m and n one off a
    multiple, m below a block, n narrower than a vector, the 4-wide kernel, the 6 x 16 blocks of Note [Wide matmul
    blocks] and their partial rows and columns), b with a column stride (copied first), a broadcast b
    (strides 0), broadcast batches of a transposed b (copied once), a transposed a, and an empty k, against NumPy."""
    if dtype not in dev.matmul_block:
        pytest.skip("not a CPU OpenCL device: the tiled kernel serves it (checked in test_ops.py)")
    if dtype == "float64" and not dev.fp64:
        pytest.skip("no fp64 on this device")
    rows, vn = dev.matmul_block[dtype]
    rng = np.random.default_rng(7)
    tol = 1e-5 if dtype == "float32" else 1e-12
    shapes = [(1, 1, 1), (rows - 1, 3, vn + 1), (rows + 1, 17, 2 * vn - 1), (2 * rows, 5, vn), (3, 9, 2),
              (rows * 3 + 5, 40, 20), (7, 0, 5), (33, 64, 3 * vn + 3),
              # fewer rows than a block with whole vectors of columns (conv2d's (6 x 25) @ (25 x 576)), and with a
              # partial vector too: the edge branch's clamped rows
              (6, 25, 72 * vn), (rows - 2, 25, 3 * vn + 1), (2, 150, 8 * vn), (1, 7, vn)]
    for m, k, n in shapes:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        for layout in ("dense", "b.T", "a.T"):
            ta = ts.asarray(a, device="opencl")
            tb = ts.asarray(b, device="opencl")
            if layout == "b.T":
                tb = ts.asarray(np.ascontiguousarray(b.T), device="opencl").T
            elif layout == "a.T":
                ta = ts.asarray(np.ascontiguousarray(a.T), device="opencl").T
            got = (ta @ tb).numpy()
            np.testing.assert_allclose(got, a @ b, rtol=tol, atol=tol * max(1, k), err_msg=f"{(m, k, n)} {layout}")
    for b in (ts.broadcast_to(ts.asarray(2.5, dtype=dtype, device="opencl"), (5, 2 * vn + 1)),  # strides (0, 0)
              ts.broadcast_to(ts.asarray(rng.standard_normal(3).astype(dtype), device="opencl"), (7, 3))):
        a = rng.standard_normal((rows + 1, b.shape[0])).astype(dtype)
        got = ts.asarray(a, device="opencl") @ b
        np.testing.assert_allclose(got.numpy(), a @ b.numpy(), rtol=tol, atol=tol * 9)
    a = rng.standard_normal((3, 1, rows + 3, 9)).astype(dtype)
    b = rng.standard_normal((5, vn + 5, 9)).astype(dtype)
    got = ts.asarray(a, device="opencl") @ ts.asarray(b, device="opencl").mT
    np.testing.assert_allclose(got.numpy(), a @ np.swapaxes(b, -1, -2), rtol=tol, atol=tol * 9)


@pytest.fixture
def launched(dev, monkeypatch):
    """The names of the kernels launched while the test runs."""
    names = []
    launch = opencl._Device.launch

    def spy(self, kernel, *args):
        names.append(kernel.function_name)
        return launch(self, kernel, *args)

    monkeypatch.setattr(opencl._Device, "launch", spy)
    return names


def _vector_dtypes(dev):
    if not dev.vector_width:
        pytest.skip("not a CPU OpenCL device: no vector kernels")
    return sorted(dev.vector_width)


def test_vector_elementwise_kernels(dev, launched):
    """Note [Vector elementwise kernels]: the math builtins of float dtypes on vectors, with tails of every length
    and views at odd offsets, NaN and infinities, equal to the scalar kernels' answers within an ulp or two."""
    for dtype in _vector_dtypes(dev):
        vn = dev.vector_width[dtype]
        rng = np.random.default_rng(3)
        for n in (1, vn - 1, vn, vn + 1, 5 * vn + 3, 1000):
            h = (rng.standard_normal(n + 1) * 3).astype(dtype)
            h[:3] = [np.nan, np.inf, -np.inf][: min(3, n + 1)]
            x = ts.asarray(h, device="opencl")[1:]  # an offset view
            for name in ("exp", "tanh", "sigmoid", "log", "sin", "sqrt", "floor"):
                with np.errstate(all="ignore"):
                    ref = getattr(ts, name)(ts.asarray(h[1:])).numpy()
                got = getattr(ts, name)(x).numpy()
                tol = 4 * np.finfo(dtype).eps
                np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{name} {dtype} {n}")
    assert "exp_vec" in launched and "sigmoid_vec" in launched
    assert "relu_vec" not in launched and "sign_vec" not in launched  # comparisons keep the scalar kernel


def test_vector_softmax(dev, launched):
    """The softmax vector kernel: rows shorter and longer than a vector, rows with NaN, +inf or all -inf, against
    PyTorch's answers."""
    torch = pytest.importorskip("torch")
    for dtype in _vector_dtypes(dev):
        vn = dev.vector_width[dtype]
        rng = np.random.default_rng(4)
        for cols in (1, vn - 1, vn, 3 * vn + 5):
            h = (rng.standard_normal((6, cols)) * 4).astype(dtype)
            h[1, 0] = np.nan
            h[2, -1] = np.inf
            h[3, :] = -np.inf
            h[4, 0] = -np.inf
            x = ts.asarray(h, device="opencl")
            for ours, theirs in ((ts.softmax, torch.softmax), (ts.log_softmax, torch.log_softmax)):
                got = ours(x, axis=-1).numpy()
                ref = theirs(torch.from_numpy(h), dim=-1).numpy()
                tol = 8 * np.finfo(dtype).eps * max(1, np.log2(cols))
                np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{dtype} {cols}")
    assert "softmax_vec" in launched and "log_softmax_vec" in launched


@pytest.mark.parametrize("rows", [17, 300, 1000])
def test_softmax_vector_kernel_takes_runs_of_rows(dev, rows):
    """A work-item of softmax_vec takes consecutive rows, the exp pass of one finding the next one's max, and the
    last pass of one done alongside the next (kernels/opencl/softmax.cl): non-finite rows first, last, side by side
    and at every position of a run must not disturb their neighbours; against PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(rows)
    for dtype in _vector_dtypes(dev):
        cols = 3 * dev.vector_width[dtype] + 7
        h = (rng.standard_normal((rows, cols)) * 30).astype(dtype)  # some exps underflow
        for r in range(0, rows, 7):
            h[r, r % cols] = (np.nan, np.inf, -np.inf)[r % 3]
        h[rows - 1] = -np.inf
        h[1] = np.nan
        h[2, :] = -np.inf
        x = ts.asarray(h, device="opencl")
        for ours, theirs in ((ts.softmax, torch.softmax), (ts.log_softmax, torch.log_softmax)):
            got = ours(x, axis=-1).numpy()
            ref = theirs(torch.from_numpy(h), dim=-1).numpy()
            tol = 16 * np.finfo(dtype).eps
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, equal_nan=True, err_msg=f"{dtype} {rows}")


def _check_reductions(x, host, axis, what):
    """sum, max and min of the device tensor ``x`` against NumPy's of ``host`` in float64, NaN where it is NaN."""
    tol = 1e-5 if host.dtype == np.float32 else 1e-12
    for name in ("sum", "max", "min"):
        with np.errstate(all="ignore"):
            ref = getattr(host.astype(np.float64), name)(axis=axis)
        np.testing.assert_allclose(getattr(x, name)(axis=axis).numpy(), ref, rtol=tol, atol=tol * 100, equal_nan=True,
                                   err_msg=f"{name} {what}")


def test_vector_reductions(dev, launched):
    """Note [Vector reductions]: sum, max and min over a contiguous run (whole tensor and last axis, one work-item
    and many per output), with a NaN or infinities anywhere, against NumPy in float64."""
    for dtype in _vector_dtypes(dev):
        vn = dev.vector_width[dtype]
        rng = np.random.default_rng(5)
        for shape, axis in (((4 * vn,), None), ((4 * vn + 3,), None), ((300_001,), None), ((3, 200_003), -1),
                            ((7, 9 * vn + 1), -1), ((2, 3, 8 * vn), (1, 2))):
            h = rng.standard_normal(shape).astype(dtype)
            for case in ("finite", "nan", "inf", "-inf"):
                hh = h.copy()
                flat = hh.reshape(-1)
                if case == "nan":
                    flat[flat.size // 2 + 1] = np.nan
                elif case == "inf":
                    flat[-1] = np.inf
                elif case == "-inf":
                    flat[5] = -np.inf
                _check_reductions(ts.asarray(hh, device="opencl"), hh, axis, f"{dtype} {shape} {axis} {case}")
    assert {"sum_vec", "max_vec", "min_vec", "sum_finish"} <= set(launched)


def test_vector_kernels_agree_with_scalar_ones(dev):
    """Every NAME_vec kernel the device has agrees with its scalar NAME_contig to 4 ulp (NaN where it is NaN) over
    the float edge cases: signed zeros, subnormals, every third power of two, the largest values, infinities and
    NaN, plus random values of every magnitude.  This is what keeps a device's broken vector math (PoCL's float32
    vector sin of 1e-38 is 0.0078) out of kernels/opencl_source.py's _VECTOR_BUILTINS."""
    import pyopencl as cl

    from tensorswitch.kernels.opencl_source import vector_op

    rng = np.random.default_rng(0)
    for dtype in _vector_dtypes(dev):
        dt = np.dtype(dtype)
        fi = np.finfo(dt)
        top = 128 if dtype == "float32" else 1024
        special = [0.0, -0.0, np.nan, np.inf, -np.inf, fi.tiny, -fi.tiny, fi.smallest_subnormal, fi.max, -fi.max,
                   fi.eps, 1, -1, 0.5, 2, 88.7, 89, 709, 710, -745, np.pi / 2, np.pi, 0.99999, 1.00001]
        powers = 2.0 ** np.arange(-top - 23, top, 3)
        x = np.concatenate([special, powers, -powers, rng.standard_normal(2000) * 10,
                            10.0 ** rng.uniform(-40, 38, 2000) * rng.choice([-1, 1], 2000)]).astype(dt)
        n = x.size
        src = cl.Buffer(dev.context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=x)
        scalar_out, vector_out = cl.Buffer(dev.context, 0, x.nbytes), cl.Buffer(dev.context, 0, x.nbytes)
        checked = 0
        for op in optable.ELEMENTWISE.values():
            if not vector_op(dev, op, dtype):
                continue
            scalar = dev.kernel("elementwise", dtype, f"{op.name}_contig")
            vector = dev.kernel("elementwise", dtype, f"{op.name}_vec")
            dev.launch(scalar, (-(-n // 256) * 256,), (256,), scalar_out, 0, src, 0, n)
            items = -(-n // dev.vector_width[dtype])
            dev.launch(vector, (-(-items // 256) * 256,), (256,), vector_out, 0, src, 0, n)
            a, b = np.empty_like(x), np.empty_like(x)
            cl.enqueue_copy(dev.queue, a, scalar_out)
            cl.enqueue_copy(dev.queue, b, vector_out)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            with np.errstate(all="ignore"):
                ulps = np.abs(a.astype(np.float64) - b) / np.spacing(np.abs(a)).astype(np.float64)
            bad = np.flatnonzero(~same & ~(ulps <= 4))
            assert not bad.size, (f"{op.name}_vec of {dtype} differs from {op.name}_contig at "
                                  f"{[(x[i], a[i], b[i]) for i in bad[:4]]}")
            checked += 1
        assert checked >= 10, checked


def test_row_kernels(dev, launched):
    """Note [Row kernels]: views with gaps (rows of a larger matrix, every other column, a transposed operand
    against a contiguous one, one strided run cut into rows with a short last one), unary (scalar and vector math)
    and binary, against NumPy; the launches are the row kernels, not the per-element unravelling."""
    if not dev.cpu:
        pytest.skip("row kernels are for CPU devices")
    rng = np.random.default_rng(6)
    for dtype in ("float32", "int32"):
        h = (rng.standard_normal((70, 90)) * 5).astype(dtype)
        flat = ts.asarray(h.ravel(), device="opencl")
        x = ts.asarray(h, device="opencl")
        views = [(x[:60, :50], h[:60, :50]), (x[:, ::2], h[:, ::2]), (x[::3, 1::3], h[::3, 1::3]),
                 (flat[::3], h.ravel()[::3]), (flat[5:4000:7], h.ravel()[5:4000:7]), (x.T[:40], h.T[:40])]
        for v, ref in views:
            np.testing.assert_array_equal((-v).numpy(), -ref)
            np.testing.assert_array_equal((v * v).numpy(), ref * ref)
            np.testing.assert_array_equal((v + ts.asarray(np.ascontiguousarray(ref), device="opencl")).numpy(),
                                          ref + ref)
            if dtype == "float32":
                np.testing.assert_allclose(ts.exp(v).numpy(), np.exp(ref), rtol=4e-7)
                np.testing.assert_allclose(ts.sin(v).numpy(), np.sin(ref), rtol=4e-6, atol=1e-6)
                np.testing.assert_array_equal(ts.sign(v).numpy(), np.sign(ref))  # a scalar row kernel of floats
        square = ts.asarray(h[:70, :70], device="opencl")
        np.testing.assert_array_equal((square + square.T).numpy(), h[:70, :70] + h[:70, :70].T)
        for v, ref in views:  # copies, casts and where of the views
            np.testing.assert_array_equal(ts.asarray(v, copy=True).numpy(), ref)
            np.testing.assert_array_equal(v.astype(ts.float64).numpy(), ref.astype(np.float64))
            np.testing.assert_array_equal(ts.where(v > 0, v, -v).numpy(), np.where(ref > 0, ref, -ref))
    names = set(launched)
    # sin of float32 is vector math too on CPU devices (Note [Own float math on CPU devices])
    assert {"negative_rows", "multiply_rows", "add_rows", "exp_vrows", "sin_vrows", "sign_rows", "to_float64_rows",
            "where_rows"} <= names, names
    assert not any(n.endswith("_strided") and n.split("_")[0] in ("negative", "multiply", "exp") for n in names)


def test_vector_reductions_of_rows_and_columns(dev, launched):
    """Note [Vector reductions] beyond one contiguous run: a block of contiguous rows (the sum of a view of a larger
    matrix, every row a partial) and column reductions (sum(axis=0): a bias gradient), with NaN and infinities,
    ragged widths and tails, against NumPy in float64."""
    for dtype in _vector_dtypes(dev):
        vn = dev.vector_width[dtype]
        rng = np.random.default_rng(8)
        cases = [((60, 9 * vn + 7), np.s_[:50, : 5 * vn + 3], None), ((60, 9 * vn + 7), np.s_[:50, : 5 * vn + 3], (0, 1)),
                 ((60, 9 * vn + 7), np.s_[3:, 1:], None), ((5, 3, 8 * vn + 3), np.s_[:, :, : 4 * vn + 1], (1, 2)),
                 ((60, 9 * vn + 7), np.s_[:], 0), ((60, 9 * vn + 7), np.s_[:, : 2 * vn + 5], 0),
                 ((5, 3, 8 * vn + 3), np.s_[:], 0), ((7, 9 * vn + 7), np.s_[:], 0)]
        for shape, view, axis in cases:
            for case in ("finite", "nan", "inf"):
                h = rng.standard_normal(shape).astype(dtype)
                part = h[view]
                if case == "nan":
                    part[tuple(n // 3 for n in part.shape)] = np.nan
                elif case == "inf":
                    part[tuple(n - 1 for n in part.shape)] = np.inf
                    part[(0,) * part.ndim] = -np.inf
                _check_reductions(ts.asarray(h, device="opencl")[view], part, axis,
                                  f"{dtype} {shape} {view} {axis} {case}")
    assert {"sum_vcols", "max_vcols", "sum_vec", "sum_finish"} <= set(launched)


def test_window_row_kernels_give_the_per_pixel_bits(dev, launched, monkeypatch):
    """col2im (fold) and max_pool2d's backward one image row per work-item on CPU devices: the same bits as the
    per-pixel kernels for overlapping, padded, dilated and strided windows and tied maxima, since each pixel sums in
    the same order (Note [Window geometry])."""
    if not dev.vector_width:
        pytest.skip("not a CPU OpenCL device")
    F = ts.nn.functional

    def both(fn):
        rows = fn()
        with monkeypatch.context() as m:
            m.setattr(dev, "vector_width", {})  # the adapters' test for the row kernels
            m.setattr(dev, "kernels", {})
            per_pixel = fn()
        return rows, per_pixel

    rng = np.random.default_rng(9)
    for dtype in sorted(dev.vector_width):
        for k, s, p, dil in ((2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (2, 1, 0, 2), (3, 3, 1, 1)):
            x_np = rng.standard_normal((2, 3, 11, 13)).astype(dtype)
            x_np[0, 0, :3, :3] = 1.0  # ties: the first tap wins
            oh, ow = ((n + 2 * p - dil * (k - 1) - 1) // s + 1 for n in (11, 13))
            g_np = rng.standard_normal((2, 3, oh, ow)).astype(dtype)
            c_np = rng.standard_normal((2, 3 * k * k, oh * ow)).astype(dtype)

            def pool_grad():
                x = ts.asarray(x_np, device="opencl", requires_grad=True)
                F.max_pool2d(x, k, stride=s, padding=p, dilation=dil).backward(ts.asarray(g_np, device="opencl"))
                return x.grad.numpy()

            def fold():
                return ts.fold(ts.asarray(c_np, device="opencl"), (11, 13), k, dilation=dil, padding=p,
                               stride=s).numpy()

            for fn in (pool_grad, fold):
                rows, per_pixel = both(fn)
                assert rows.tobytes() == per_pixel.tobytes(), (fn.__name__, dtype, k, s, p, dil)
    assert {"col2im_rows", "max_pool2d_backward_rows", "col2im", "max_pool2d_backward"} <= set(launched)


def test_two_by_two_max_pools_match_the_general_kernels(dev, launched):
    """max_pool2d of 2 x 2 windows of stride 2 (nn.cl max_pool2d_rows22 and max_pool2d_backward_rows22 on CPU
    devices) against the cpu backend bit for bit, forward and backward: ties (the first maximum), NaN (the first
    one), -0.0 (a -0.0 gradient stays -0.0, as the cpu backend's 2 x 2 path has it), inf, images whose last row or
    column is in no window, a transposed (strided) input."""
    if not dev.cpu:
        pytest.skip("the 2 x 2 row kernels are for CPU devices")
    import tensorswitch.nn.functional as F

    rng = np.random.default_rng(3)
    for shape in [(4, 3, 12, 12), (2, 2, 9, 7), (1, 1, 5, 2)]:
        h = rng.standard_normal(shape).astype(np.float32)
        h[0, 0, 0, :2] = 1.0
        h[0, 0, 1, :2] = 1.0
        h[0, 0, 2:4, 0:2] = np.nan
        h[-1, -1, 1, 1], h[-1, 0, 0, 1] = np.inf, -0.0
        g = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(np.float32)
        g[0, 0, 0, 0] = -0.0
        results = []
        for device in ("cpu", "opencl"):
            for transposed in (False, True):
                base = np.ascontiguousarray(h.transpose(0, 1, 3, 2)) if transposed else h
                x = ts.asarray(base, device=device, requires_grad=True)
                v = ts.permute_dims(x, (0, 1, 3, 2)) if transposed else x
                y = F.max_pool2d(v, 2)
                (y * ts.asarray(g, device=device)).sum().backward()
                grad = x.grad.numpy().transpose(0, 1, 3, 2) if transposed else x.grad.numpy()
                results.append((y.numpy().view(np.int32), np.ascontiguousarray(grad).view(np.int32)))
        for r in results[1:]:
            np.testing.assert_array_equal(r[0], results[0][0])
            np.testing.assert_array_equal(r[1], results[0][1])
    assert {"max_pool2d_rows22", "max_pool2d_backward_rows22"} <= set(launched), set(launched)


def test_where_with_a_broadcast_scalar_branch(dev, launched):
    """where(c, x, 0.0) and where(c, 0.0, x) of contiguous c and x (relu's backward) take where_scalar_b/_a: NumPy's
    values, NaN and -0.0 moved as they are, at sizes around the work-group size."""
    rng = np.random.default_rng(4)
    for n in (2, 7, 255, 256, 257, 10_001):
        h = rng.standard_normal(n).astype(np.float32)
        h[:2] = [np.nan, -0.0]
        c = rng.random(n) < 0.5
        x, cc = ts.asarray(h, device="opencl"), ts.asarray(c, device="opencl")
        for got, want in ((ts.where(cc, x, 0.0), np.where(c, h, np.float32(0))),
                          (ts.where(cc, -0.0, x), np.where(c, np.float32(-0.0), h))):
            np.testing.assert_array_equal(got.numpy().view(np.int32), want.view(np.int32))
    assert {"where_scalar_a", "where_scalar_b"} <= set(launched)
