"""complex64 and complex128 as a user meets them, on every device that stores them (cpu, the numpy plugin, opencl
where its device claims complex): creation, weak Python scalars and promotion (Note [Type promotion] in
dispatch/dtypes.py), the ops whose results are real (abs, real, imag, angle), reductions and scans, matmul, the
linalg factorizations, where, casts both ways, comparisons, and the clear error of the ops that do not take complex
numbers.  The per-kernel accuracy and special values are the conformance suite's (Note [Complex samples] in
tensorswitch/testing/samples)."""

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.testing import gradients, run_conformance

COMPLEX = ("complex64", "complex128")
PART = {"complex64": "float32", "complex128": "float64"}


def _needs_complex(device, *names):
    names = names or COMPLEX
    missing = [n for n in names if ts.dtype(n) not in device.supported_dtypes()]
    if missing:
        pytest.skip(f"{device} does not store {', '.join(missing)}")


def _z(device, values, dtype="complex64"):
    return ts.asarray(np.asarray(values, dtype=dtype), device=device)


# -- creation ---------------------------------------------------------------------------------------------------------

def test_creation_from_python_complex_and_numpy(device):
    _needs_complex(device)
    x = ts.asarray(1 + 2j, device=device)
    assert x.dtype == ts.complex64 and x.shape == () and x.item() == 1 + 2j
    y = ts.asarray([1 + 2j, 3, -0.5j], device=device)  # Python complex numbers take the default complex dtype
    assert y.dtype == ts.complex64
    assert y.numpy().tolist() == [1 + 2j, 3 + 0j, -0.5j]
    a = np.array([1.5 - 2j, np.inf + 0j, complex(np.nan, 1.0)], np.complex128)
    t = ts.asarray(a, device=device)  # NumPy arrays keep their dtype
    assert t.dtype == ts.complex128 and t.device == device
    np.testing.assert_array_equal(t.numpy(), a)
    assert ts.asarray(np.arange(3, dtype=np.complex64), device=device).dtype == ts.complex64
    assert ts.asarray(2j, dtype=ts.complex128, device=device).dtype == ts.complex128
    full = ts.full((2, 2), 0.5 - 1j, dtype="complex128", device=device)
    assert full.dtype == ts.complex128 and (full.numpy() == 0.5 - 1j).all()
    assert ts.zeros((3,), dtype=ts.complex64, device=device).numpy().tolist() == [0j, 0j, 0j]
    assert ts.dtype(np.complex64) is ts.complex64 and ts.dtype("complex128") is ts.complex128
    assert ts.complex64.itemsize == 8 and ts.complex128.itemsize == 16


def test_complex_value_into_a_real_tensor_is_a_clear_error(device):
    _needs_complex(device)
    with pytest.raises(TypeError, match="complex"):
        ts.full((2,), 1j, dtype="float32", device=device)


# -- weak Python scalars and promotion ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tensor, scalar, expected", [
    ("complex64", 2.0, "complex64"), ("complex64", 3, "complex64"), ("complex64", True, "complex64"),
    ("complex128", 2.5, "complex128"), ("complex64", 1j, "complex64"), ("complex128", 1j, "complex128"),
    ("float32", 1j, "complex64"), ("float64", 1j, "complex128"), ("float16", 1j, "complex64"),
    ("int32", 1j, "complex64"), ("bool", 1j, "complex64"), ("int64", 0.5 + 1j, "complex64"),
])
def test_weak_scalars(device, tensor, scalar, expected):
    _needs_complex(device)
    if ts.dtype(tensor) not in device.supported_dtypes():
        pytest.skip(f"{device} does not store {tensor}")
    host = np.array([1, 2, 0], dtype=tensor)
    x = ts.asarray(host, device=device)
    for got, want in ((x * scalar, host.astype(expected) * np.array(scalar, expected)),
                      (scalar + x, np.array(scalar, expected) + host.astype(expected))):
        assert got.dtype == ts.dtype(expected), (tensor, scalar, got.dtype)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert ts.result_type(ts.dtype(tensor), scalar) == ts.dtype(expected)


@pytest.mark.parametrize("a, b, expected", [
    ("float64", "complex64", "complex128"), ("float32", "complex64", "complex64"),
    ("complex64", "complex128", "complex128"), ("int8", "complex64", "complex64"),
    ("int32", "complex64", "complex128"), ("bool", "complex128", "complex128"), ("float16", "complex64", "complex64"),
])
def test_tensor_promotion(device, a, b, expected):
    _needs_complex(device)
    if not all(ts.dtype(d) in device.supported_dtypes() for d in (a, b)):
        pytest.skip(f"{device} does not store {a} and {b}")
    x = ts.asarray(np.array([1, 2], dtype=a), device=device)
    y = ts.asarray(np.array([1 - 1j, 2j], dtype=b), device=device)
    assert ts.promote_types(a, b) == ts.dtype(expected)
    for got in (x + y, y * x, x - y):
        assert got.dtype == ts.dtype(expected)
    np.testing.assert_allclose((x + y).numpy(), np.array([1, 2], a).astype(expected) + np.array([1 - 1j, 2j]),
                               rtol=1e-6)


def test_arithmetic_values(device):
    _needs_complex(device)
    a, b = np.array([1 + 2j, -3 + 0.5j, 0j]), np.array([2 - 1j, 1j, 4 + 4j])
    for dt in COMPLEX:
        x, y = _z(device, a, dt), _z(device, b, dt)
        rtol = 1e-6 if dt == "complex64" else 1e-14
        np.testing.assert_allclose((x * y).numpy(), a * b, rtol=rtol)
        np.testing.assert_allclose((x / y).numpy(), a / b, rtol=rtol)
        np.testing.assert_allclose((x - y).numpy(), a - b, rtol=rtol)
        np.testing.assert_allclose((-x).numpy(), -a, rtol=0)
        np.testing.assert_allclose(ts.exp(x).numpy(), np.exp(a), rtol=rtol * 10)
        np.testing.assert_allclose(ts.sqrt(y).numpy(), np.sqrt(b), rtol=rtol * 10)
        np.testing.assert_allclose((x ** 2).numpy(), a ** 2, rtol=rtol * 10)
        x += y  # in place keeps the complex dtype
        np.testing.assert_allclose(x.numpy(), a + b, rtol=rtol)
        assert x.dtype == ts.dtype(dt)


# -- ops with real results ---------------------------------------------------------------------------------------------

def test_abs_real_imag_angle_give_the_parts_dtype_and_conj_keeps_it(device):
    _needs_complex(device)
    a = np.array([3 + 4j, -1 - 0j, complex(0.0, -2.0)])
    for dt in COMPLEX:
        x = _z(device, a, dt)
        for fn, want in ((ts.abs, np.abs(a)), (ts.real, a.real), (ts.imag, a.imag), (ts.angle, np.angle(a))):
            got = fn(x)
            assert got.dtype == ts.dtype(PART[dt]), (fn, dt, got.dtype)
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
        c = ts.conj(x)
        assert c.dtype == ts.dtype(dt)
        np.testing.assert_array_equal(c.numpy(), np.conj(a).astype(dt))
    r = ts.asarray(np.array([-2.0, 3.0], np.float32), device=device)  # real inputs: angle is 0 or pi
    assert ts.angle(r).dtype == ts.float32
    np.testing.assert_allclose(ts.angle(r).numpy(), [np.pi, 0.0], rtol=1e-6)


# -- reductions, scans, matmul, where --------------------------------------------------------------------------------

def test_sum_prod_and_cumulative_sum(device):
    _needs_complex(device)
    a = np.array([[1 + 1j, 2 - 1j, -0.5j], [3, 1j, 1 - 1j]])
    for dt in COMPLEX:
        x = _z(device, a, dt)
        assert x.sum().dtype == ts.dtype(dt)
        np.testing.assert_allclose(x.sum().numpy(), a.sum(), rtol=1e-6)
        np.testing.assert_allclose(ts.sum(x, axis=0).numpy(), a.sum(axis=0), rtol=1e-6)
        np.testing.assert_allclose(ts.prod(x, axis=1).numpy(), a.prod(axis=1), rtol=1e-6)
        c = ts.cumulative_sum(x, axis=1)
        assert c.dtype == ts.dtype(dt)
        np.testing.assert_allclose(c.numpy(), np.cumsum(a, axis=1), rtol=1e-6)
        np.testing.assert_allclose(ts.cumulative_prod(x, axis=1).numpy(), np.cumprod(a, axis=1), rtol=1e-6)
        assert ts.all(x).item() is True  # -0.5j and 1j are nonzero: either part counts
        assert ts.all(_z(device, [1j, 0j, -1 + 0j], dt)).item() is False
        assert ts.any(_z(device, [0j, -0.0 + 0j, 1e-30j], dt)).item() is True
        assert ts.any(_z(device, [0j, -0.0 + 0j], dt)).item() is False


def test_matmul(device):
    _needs_complex(device)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    b = rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2))
    for dt, rtol in (("complex64", 1e-5), ("complex128", 1e-12)):
        got = ts.matmul(_z(device, a, dt), _z(device, b, dt))
        assert got.dtype == ts.dtype(dt)
        np.testing.assert_allclose(got.numpy(), a @ b, rtol=rtol)
        np.testing.assert_allclose((_z(device, a, dt) @ _z(device, b[:, 0], dt)).numpy(), a @ b[:, 0], rtol=rtol)


def test_linalg_factorizations(device):
    """A complex system solved, inverted, factored and measured (dispatch/linalg.py's Note [Linalg dtypes]) on every
    device that stores complex, opencl included: its lu, lu_solve, cholesky and qr kernels take complex64 and
    complex128 (its eigh and svd do not: tests/test_linalg.py checks their error and fallback)."""
    _needs_complex(device)
    rng = np.random.default_rng(4)
    a = rng.normal(size=(2, 3, 3)) + 1j * rng.normal(size=(2, 3, 3)) + 3 * np.eye(3)
    b = rng.normal(size=(3,)) + 1j * rng.normal(size=(3,))
    h = a @ np.conj(np.swapaxes(a, -1, -2))  # Hermitian positive definite
    for dt, rtol in (("complex64", 1e-4), ("complex128", 1e-10)):
        x = _z(device, a, dt)
        for got, expected in ((ts.linalg.solve(x, _z(device, b, dt)), np.linalg.solve(a, b)),
                              (ts.linalg.inv(x), np.linalg.inv(a)), (ts.linalg.det(x), np.linalg.det(a)),
                              (ts.linalg.slogdet(x).sign, np.linalg.slogdet(a).sign),
                              (ts.linalg.cholesky(_z(device, h, dt)), np.linalg.cholesky(h)),
                              (ts.linalg.qr(x).R, np.linalg.qr(a).R)):
            assert got.dtype == ts.dtype(dt) and got.device == device
            np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=rtol)
        q = ts.linalg.qr(x).Q
        np.testing.assert_allclose((ts.conj(q).mT @ q).numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=rtol)
        logabs = ts.linalg.slogdet(x).logabsdet
        assert logabs.dtype == ts.dtype(PART[dt])
        np.testing.assert_allclose(logabs.numpy(), np.linalg.slogdet(a).logabsdet, rtol=rtol)


def test_where(device):
    _needs_complex(device)
    cond = ts.asarray(np.array([True, False, True]), device=device)
    x = _z(device, [1 + 1j, 2 + 2j, 3 + 3j])
    got = ts.where(cond, x, 5j)  # a weak complex scalar keeps complex64
    assert got.dtype == ts.complex64
    assert got.numpy().tolist() == [1 + 1j, 5j, 3 + 3j]
    y = ts.asarray(np.array([9.0, 8.0, 7.0]), device=device)  # float64 with complex64: complex128
    assert ts.where(cond, x, y).dtype == ts.complex128


# -- casts -------------------------------------------------------------------------------------------------------------

def test_astype_both_ways(device):
    _needs_complex(device)
    a = np.array([1.75 + 2j, -2.5 - 1j, 0j, 1j, complex(np.nan, 0.0)])
    for dt in COMPLEX:
        x = _z(device, a, dt)
        assert x.astype("float32").numpy().tolist()[:4] == [1.75, -2.5, 0.0, 0.0]  # the real part
        assert np.isnan(x.astype("float64").numpy()[4])
        assert x.astype("int32").numpy().tolist()[:4] == [1, -2, 0, 0]  # the real part, truncated
        assert x.astype("bool").numpy().tolist() == [True, True, False, True, True]  # either part nonzero
        other = "complex128" if dt == "complex64" else "complex64"
        np.testing.assert_array_equal(x.astype(other).numpy(), a.astype(other))
    f = ts.asarray(np.array([1.5, -0.0, np.inf], np.float32), device=device)
    z = f.astype("complex64")
    assert z.dtype == ts.complex64
    assert z.numpy().tolist() == [1.5 + 0j, complex(-0.0, 0.0), complex(np.inf, 0.0)]
    assert np.signbit(z.numpy().real[1]) and not np.signbit(z.numpy().imag).any()
    i = ts.asarray(np.array([3, -4], np.int64), device=device).astype("complex128")
    assert i.dtype == ts.complex128 and i.numpy().tolist() == [3 + 0j, -4 + 0j]
    b = ts.asarray(np.array([True, False]), device=device).astype("complex64")
    assert b.numpy().tolist() == [1 + 0j, 0j]


# -- comparisons and tests -------------------------------------------------------------------------------------------

def test_equality(device):
    _needs_complex(device)
    x = _z(device, [1 + 2j, 1 - 2j, complex(np.nan, 0.0), -0.0 + 0j])
    y = _z(device, [1 + 2j, 1 + 2j, complex(np.nan, 0.0), 0j])
    assert (x == y).dtype == ts.bool
    assert (x == y).numpy().tolist() == [True, False, False, True]  # NaN is unequal, -0 equals +0
    assert (x != y).numpy().tolist() == [False, True, True, False]
    assert (x == 1 + 2j).numpy().tolist() == [True, False, False, False]
    r = ts.asarray(np.array([1.0, 1.0, 0.0, 0.0], np.float32), device=device)
    assert (x == r).numpy().tolist() == [False, False, False, True]


def test_isnan_isinf_isfinite(device):
    _needs_complex(device)
    a = np.empty(5, np.complex128)
    a.real = [1.0, np.nan, 0.0, np.inf, np.nan]
    a.imag = [2.0, 0.0, -np.inf, np.nan, np.nan]
    for dt in COMPLEX:
        x = _z(device, a, dt)
        assert ts.isnan(x).numpy().tolist() == [False, True, False, True, True]
        assert ts.isinf(x).numpy().tolist() == [False, False, True, True, False]
        assert ts.isfinite(x).numpy().tolist() == [True, False, False, False, False]
        assert ts.isnan(x).dtype == ts.bool


# -- ops that do not take complex numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, call", [
    ("less", lambda x: ts.less(x, x)), ("maximum", lambda x: ts.maximum(x, x)), ("sort", ts.sort),
    ("less", lambda x: x < 1), ("max", ts.max), ("floor", ts.floor), ("argsort", ts.argsort),
    ("atan2", lambda x: ts.atan2(x, x)),
])
def test_ops_without_complex_raise_a_clear_error(device, name, call):
    _needs_complex(device)
    for dt in COMPLEX:
        with pytest.raises(ts.KernelNotFoundError) as info:
            call(_z(device, [1 + 1j, 2 - 1j], dt))
        text = str(info.value)
        assert name in text and dt in text, text


def test_a_real_tensor_meeting_a_complex_one_in_less_raises(device):
    _needs_complex(device)
    f = ts.asarray(np.array([1.0, 2.0]), device=device)
    with pytest.raises(ts.KernelNotFoundError, match="less.*complex128"):
        ts.less(f, _z(device, [1j, 2j]))
    with pytest.raises(ts.KernelNotFoundError, match="maximum.*complex64"):
        ts.maximum(ts.asarray(np.array([1.0, 2.0], np.float32), device=device), 1j)


# -- the conformance suite's complex cells, and its gradient section ---------------------------------------------------

def test_conformance_checks_complex_cells_and_skips_complex_gradients(device):
    _needs_complex(device)
    report = run_conformance(device, ops=["multiply", "less", "exp"], dtypes=["complex64", "float32"])
    assert report.cells["multiply/complex64"]["status"] == "pass"
    assert report.cells["multiply/complex64"]["samples"] > 20
    assert report.cells["less/complex64"]["status"] == "not applicable"
    # the gradient section checks the float dtypes only: no complex cells, and no failure
    assert set(report.gradients["dtypes"]) == {"float32"}
    assert not any("complex" in k for k in report.gradients["cells"]) and not report.gradients["failures"]
    with pytest.raises(ValueError, match="complex"):
        gradients.check("exp", "complex64", device)
