"""What only the opencl backend has: generated programs, launch paths (contiguous, scalar, strided; serial and
two-pass reductions), caching, and its availability messages.  The op-by-op checks against NumPy run for opencl in
test_ops.py like for every device."""

import subprocess
import sys

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.backends import opencl
from tensorswitch.kernels import optable
from tensorswitch.testing import samples

pytestmark = pytest.mark.skipif("opencl" in ts.dispatch.device.unavailable_reasons(),
                                reason="no usable OpenCL device")

FAMILIES = {"elementwise": optable.DTYPE_NAMES, "astype": optable.DTYPE_NAMES, "create": optable.NUMERIC,
            "reduce": optable.DTYPE_NAMES, "matmul": optable.NUMERIC, "softmax": optable.FLOAT}


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
            assert {"where_contig", "where_strided", "fill_contig", "fill_strided"} <= names
        elif family == "astype":
            assert names == {f"to_{d}_{v}" for d in optable.DTYPE_NAMES for v in ("contig", "strided")}
        elif family == "reduce":
            expected = [r for r, red in optable.REDUCTIONS.items() if dtype in red.dtypes]
            assert names == {f"{r}_{v}" for r in expected for v in ("serial", "group", "finish")}


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
