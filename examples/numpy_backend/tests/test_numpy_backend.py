"""Tests of the example plugin.  Run from examples/numpy_backend with ``pytest`` (after ``pip install .``), or without
installing: ``PYTHONPATH=src pytest``.

The full op x dtype check is tensorswitch's own conformance suite; the tests here add what it does not cover: the cpu
backend as a second oracle (same inputs, both devices, identical answers where the table says so), bit-exact random
streams, writes through strided outputs, and the plugin's registration.
"""

import numpy as np
import pytest

import tensorswitch as ts
ts_numpy_backend = pytest.importorskip("ts_numpy_backend", reason="the example plugin is not installed (make test installs it)")

ts_numpy_backend.register()  # what the plugin loader does when the package is installed; a no-op if it already ran

DEV = "numpy"
FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
COMPLEX = ["complex64", "complex128"]


def test_register_is_idempotent_and_claims_what_the_readme_says():
    ts_numpy_backend.register()
    assert ts.device(DEV).supported_dtypes() == frozenset(ts.dtype(d) for d in ["bool"] + INTS + FLOATS + COMPLEX)
    assert ts.registry.dtypes("exp", DEV) == [ts.float32, ts.float64, ts.complex64, ts.complex128]
    for op in ("multiply", "matmul", "sum", "where", "astype", "cumsum", "abs", "angle"):  # the built-ins' claims
        assert {ts.complex64, ts.complex128} <= set(ts.registry.dtypes(op, DEV)), op
    for op in ("less", "maximum", "sort", "floor"):
        assert ts.complex64 not in ts.registry.dtypes(op, DEV), op
    assert ts.registry.dtypes("softmax", DEV) == [ts.float32, ts.float64]
    assert ts.float16 in ts.registry.dtypes("add", DEV)
    unclaimed = {op for op in ts.OPS if not ts.registry.dtypes(op, DEV)}
    assert not unclaimed, f"ops without any numpy kernel: {unclaimed}"


def test_float16_transcendentals_raise_the_clear_error():
    x = ts.ones((3,), dtype="float16", device=DEV)
    with pytest.raises(ts.KernelNotFoundError, match=r"exp.*'numpy'.*float16"):
        ts.exp(x)
    assert ts.exp(x.astype("float32")).dtype == ts.float32


def _cases(dtype, rng):
    """(name, a, b) NumPy operand pairs: broadcasting, 0-d, and (for floats) NaN and infinities."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        s = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -7.25, 3.0], dt)
        yield "specials", np.repeat(s, len(s)), np.tile(s, len(s))
        make = lambda shape: rng.uniform(-10, 10, shape).astype(dt)  # noqa: E731
    else:
        info = np.iinfo(dt)
        make = lambda shape: rng.integers(info.min, info.max, shape, endpoint=True, dtype=dt)  # noqa: E731
    yield "broadcast", make((4, 1)), make((1, 5))
    yield "0-d", make(()), make(())
    yield "0-d with 1-d", make(()), make((6,))


@pytest.mark.parametrize("dtype", INTS + FLOATS)
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "floor_divide", "remainder", "maximum", "minimum",
                                "equal", "less", "logical_and"])
def test_binary_ops_agree_with_the_cpu_backend(op, dtype):
    rng = np.random.default_rng(0)
    for name, a, b in _cases(dtype, rng):
        if op in ("floor_divide", "remainder") and b.size:
            b.flat[0] = 0
        fn = getattr(ts, op)
        got = fn(ts.asarray(a, device=DEV), ts.asarray(b, device=DEV)).numpy()
        want = fn(ts.asarray(a, device="cpu"), ts.asarray(b, device="cpu")).numpy()
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=f"{op} {dtype} {name}")


@pytest.mark.parametrize("dtype", INTS + FLOATS)
@pytest.mark.parametrize("op", ["negative", "abs", "relu", "sign", "floor", "ceil", "square", "isnan",
                                "logical_not"])
def test_unary_ops_agree_with_the_cpu_backend_on_views(op, dtype):
    rng = np.random.default_rng(1)
    for _, a, _ in _cases(dtype, rng):
        base_np = ts.asarray(np.stack([a, a]), device=DEV)
        base_cpu = ts.asarray(np.stack([a, a]), device="cpu")
        for index in ((0,), (slice(None), Ellipsis)):  # a view at an offset, and the whole
            got = getattr(ts, op)(base_np[index]).numpy()
            want = getattr(ts, op)(base_cpu[index]).numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{op} {dtype}")


def test_integer_pow_with_negative_exponents_in_place():
    a = np.array([1, -1, -1, 2, 0, 3], np.int32)
    b = np.array([-3, -3, -2, -1, 5, 2], np.int32)
    x = ts.asarray(a, device=DEV)
    x **= ts.asarray(b, device=DEV)
    assert x.numpy().tolist() == [1, -1, 1, 0, 0, 9]


def test_writes_through_strided_and_reversed_outputs():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = ts.asarray(x, device=DEV)
    t[::-1, ::2] += ts.asarray(np.ones((4, 3), np.float32), device=DEV)
    x[::-1, ::2] += 1
    t.T[1] = -5.0
    x.T[1] = -5.0
    np.testing.assert_array_equal(t.numpy(), x)


def test_out_of_range_integers_are_refused_like_on_the_cpu_backend():
    for value in (1000, -129, 2**63 - 1):
        for device in (DEV, "cpu"):
            t = ts.full((2,), 0, dtype="int8", device=device)
            with pytest.raises(OverflowError, match="int8"):
                t[0] = value
            assert t.numpy().tolist() == [0, 0]
    for value in (127, -128):
        got, want = (ts.full((2,), 0, dtype="int8", device=d) for d in (DEV, "cpu"))
        got[0] = value
        want[0] = value
        assert got.numpy().tolist() == want.numpy().tolist() == [value, 0]


@pytest.mark.parametrize("op,dtype", [("rand", d) for d in FLOATS] + [("randn", d) for d in FLOATS]
                         + [("randint", d) for d in INTS])
def test_random_streams_are_bit_identical_to_the_cpu_backend(op, dtype):
    draws = {}
    for device in ("cpu", DEV):
        ts.manual_seed(2024)
        if op == "randint":
            low, high = (0, 200) if dtype.startswith("uint") else (-100, 100)
            first = ts.randint(low, high, size=(5000,), dtype=dtype, device=device)
            second = ts.randint(low, high, size=(3, 7), dtype=dtype, device=device)
        else:
            first = getattr(ts, op)(5000, dtype=dtype, device=device)
            second = getattr(ts, op)((3, 7), dtype=dtype, device=device)
        draws[device] = (first.numpy(), second.numpy())
    for got, want in zip(draws[DEV], draws["cpu"]):
        if op == "randn":  # log and cos may differ by an ulp between libm and NumPy's SIMD loops
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-6 if dtype !=
                                       "float16" else 1e-3, atol=1e-12)
        else:
            np.testing.assert_array_equal(got, want)


def test_argmax_over_several_axes_is_the_flat_index_of_the_reduced_axes():
    from tensorswitch.dispatch import dispatcher  # the public argmax takes one axis or None; the kernel sees tuples

    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(np.float32)
    for t, a in ((ts.asarray(x, device=DEV), x), (ts.asarray(np.ascontiguousarray(x.T), device=DEV).T, x)):
        assert ts.argmax(t).numpy() == np.argmax(a)
        got = dispatcher.reduce("argmax", t, axis=(0, 2)).numpy()
        np.testing.assert_array_equal(got, np.argmax(np.moveaxis(a, 1, 0).reshape(4, -1), axis=1))


@pytest.mark.parametrize("view", ["contiguous", "channels-last"])
def test_nn_functions_agree_with_the_cpu_backend(view):
    """im2col/col2im, pooling (with ceil_mode, NaN and ties) and their gradients, take_along_axis and scatter_add
    with repeated indices: nn.py against the cpu backend's C++ kernels, on a strided view too."""
    from tensorswitch.dispatch import nnops

    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((2, 3, 7, 6)) * 2).astype(np.float32)  # ties
    x[0, 0, 1, 1] = np.nan
    grad = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    index = rng.integers(0, 6, (2, 3, 7, 9))

    def run(device):
        t = ts.asarray(x, device=device)
        if view == "channels-last":
            t = ts.asarray(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), device=device).permute_dims((0, 3, 1, 2))
        g = ts.asarray(grad, device=device)
        return [ts.unfold(t, (2, 3), dilation=(2, 1), padding=1, stride=2),
                ts.fold(ts.unfold(t, 3, padding=1), (7, 6), 3, padding=1),
                ts.max_pool2d(t, 3, stride=2, padding=1, ceil_mode=True),
                nnops.max_pool2d_backward(g, t, 3, 2, 1, 1, True),
                ts.avg_pool2d(t, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                nnops.avg_pool2d_backward(g, (2, 3, 7, 6), 3, 2, 1, True, True, None),
                ts.take_along_axis(t, ts.asarray(index[:, :1, :, :4], device=device), axis=3),
                ts.scatter_add(t, 3, ts.asarray(index, device=device), ts.ones((2, 3, 7, 9), device=device))]

    for got, want in zip(run(DEV), run("cpu")):
        assert got.device == ts.device(DEV) and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6, equal_nan=True)


def test_conformance_suite_passes():
    conformance = pytest.importorskip("tensorswitch.testing.conformance")
    report = conformance.run(DEV)
    assert not report["failures"], report["failures"]
    statuses = {c["status"] for k, c in report["cells"].items() if k.startswith("exp/float16")}
    assert statuses == {conformance.NOT_IMPLEMENTED}
