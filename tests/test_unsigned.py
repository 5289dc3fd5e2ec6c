"""uint16, uint32 and uint64 beyond what the generated per-(op, dtype) tests check: the promotion table with NumPy's
answers for the mixed signed/unsigned pairs (Note [Type promotion]), sums giving uint64, the float-to-unsigned casts
of Note [Float to integer casts] against NumPy on every device, uint64 values above 2**63 through arithmetic,
comparisons, sorting and creation, Python ints at the edges of the range, and DLPack round trips with NumPy and
PyTorch."""

import warnings

import numpy as np
import pytest

import tensorswitch as ts

UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
NEW = ("uint16", "uint32", "uint64")
TOP = 2 ** 64 - 1


def _supported(device, name):
    return ts.dtype(name) in device.supported_dtypes()


def _floats(device):
    return [f for f in ("float16", "float32", "float64") if _supported(device, f)]


# -- dtypes and promotion -------------------------------------------------------------------------------------------

def test_dtypes_exported_and_coded():
    assert (ts.uint16.code, ts.uint32.code, ts.uint64.code) == (9, 10, 11)  # appended: no earlier code moved
    assert [d.name for d in ts._DTYPES[:9]] == ["bool", "int8", "int16", "int32", "int64", "uint8", "float16",
                                                 "float32", "float64"]
    for name in NEW:
        dt = getattr(ts, name)
        assert dt == name and dt == np.dtype(name) and dt.kind == "uint" and dt.itemsize == np.dtype(name).itemsize
        assert ts.isdtype(dt, "unsigned integer") and ts.isdtype(dt, "integral") and not ts.isdtype(dt, "signed integer")


def test_iinfo():
    for name in NEW:
        info = ts.iinfo(getattr(ts, name))
        npi = np.iinfo(name)
        assert (info.min, info.max, info.bits) == (0, int(npi.max), npi.bits)
    assert ts.iinfo(ts.uint64).max == TOP


def test_promotion_table_matches_numpy():
    for a in ts._DTYPES:
        for b in ts._DTYPES:
            assert ts.promote_types(a, b) == np.promote_types(a.numpy, b.numpy), (a, b)
            assert ts.result_type(a, b) is ts.promote_types(a, b)


@pytest.mark.parametrize("a, b, expected", [
    ("uint64", "int8", "float64"), ("uint64", "int64", "float64"),  # no integer holds both: NumPy's float64
    ("uint32", "int32", "int64"), ("uint32", "int8", "int64"), ("uint16", "int16", "int32"), ("uint16", "int8", "int32"),
    ("uint8", "int8", "int16"), ("uint64", "uint8", "uint64"), ("uint16", "uint32", "uint32"),
    ("uint16", "float16", "float32"), ("uint32", "float32", "float64"), ("uint64", "float16", "float64"),
    ("bool", "uint32", "uint32")])
def test_documented_mixed_promotions(device, a, b, expected):
    """The pairs Note [Type promotion] spells out, through a real binary op on each device."""
    if not all(_supported(device, d) for d in (a, b, expected)):
        pytest.skip(f"{device} lacks one of {a}, {b}, {expected}")
    x = ts.asarray(np.array([1, 2], a), device=device)
    y = ts.asarray(np.array([3, 1], b), device=device)
    out = x + y
    assert out.dtype == expected and ts.promote_types(a, b) == expected
    np.testing.assert_array_equal(out.numpy(), np.array([1, 2], a).astype(expected) + np.array([3, 1], b))


def test_weak_python_ints_keep_the_unsigned_dtype(device):
    for name in NEW:
        x = ts.asarray(np.array([0, 5], name), device=device)
        top = int(np.iinfo(name).max)
        assert (x + 1).dtype == name and (x + top).dtype == name
        with pytest.raises(OverflowError):
            x + (top + 1)
        with pytest.raises(OverflowError):
            x - (-1)
        assert (x < -1).numpy().tolist() == [False, False]
        assert (x <= top + 1).numpy().tolist() == [True, True]
        assert (x == 2 ** 70).numpy().tolist() == [False, False]


# -- reductions and scans: the standard's uint64 --------------------------------------------------------------------

def test_sums_of_unsigned_give_uint64(device):
    for name in UNSIGNED:
        a = np.array([[np.iinfo(name).max, 3], [7, np.iinfo(name).max]], name)
        x = ts.asarray(a, device=device)
        for fn in (ts.sum, ts.prod):
            out = fn(x, axis=0)
            expected = getattr(np, fn.__name__)(a, axis=0, dtype=np.uint64)
            assert out.dtype == ts.uint64, (name, fn.__name__)
            np.testing.assert_array_equal(out.numpy(), expected)
        assert ts.cumulative_sum(x, axis=1).dtype == ts.uint64
        assert ts.cumulative_prod(x, axis=1).dtype == ts.uint64
    assert ts.sum(ts.asarray(np.array([1, 2], np.int16), device=device)).dtype == ts.int64
    assert ts.sum(ts.asarray([True, True], device=device)).dtype == ts.int64


def test_uint64_sum_wraps_modulo_2_64(device):
    a = np.array([2 ** 63, 2 ** 63 + 5, 7] * 1000, np.uint64)  # long enough for the split and group paths
    x = ts.asarray(a, device=device)
    assert int(ts.sum(x)) == int(a.sum(dtype=np.uint64))
    np.testing.assert_array_equal(ts.cumulative_sum(x).numpy(), np.cumsum(a, dtype=np.uint64))


# -- casts: Note [Float to integer casts] ---------------------------------------------------------------------------

EDGES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, -1.0, -1.5, -300.7, 65535.9, 65536.0, 70000.3, 2.0 ** 31,
         -2.0 ** 31, -2.0 ** 31 - 1, 2.0 ** 32 - 1, 2.0 ** 32, 4294967296.5, 1e10, -1e10, -3e9, 2.0 ** 63,
         1.5 * 2.0 ** 63, 2.0 ** 64 - 2048, 2.0 ** 64, 1e20, -2.0 ** 63, -2.0 ** 63 - 4096]


def _numpy_scalar_cast(values, target):
    """NumPy's scalar path, one element at a time: the answer Note [Float to integer casts] takes."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.array([v.astype(target) for v in values], dtype=target)


@pytest.mark.parametrize("target", NEW)
def test_float_to_unsigned_casts_match_numpy(device, target):
    for src in _floats(device):
        with np.errstate(all="ignore"):
            x = np.array(EDGES, np.float64).astype(src)
        expected = _numpy_scalar_cast(x, target)
        t = ts.asarray(x, device=device)
        np.testing.assert_array_equal(t.astype(target).numpy(), expected, err_msg=f"{src} -> {target}")
        # strided and long inputs take other loops on every backend: the same answers
        long = np.tile(x, 3000)
        np.testing.assert_array_equal(ts.asarray(long, device=device)[::3].astype(target).numpy(),
                                      np.tile(expected, 3000)[::3], err_msg=f"{src} -> {target}, strided")


def test_uint32_casts_take_numpy_scalar_path():
    """NaN to uint32 is 0 on NumPy's scalar path (one element, a NumPy scalar) and in every tensorswitch loop, however
    long the tensor; NumPy's contiguous SIMD loop may answer 2**31 there (Note [Float to integer casts])."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array([np.nan]).astype(np.uint32)[0] == 0 and np.float64(np.nan).astype(np.uint32) == 0
    for n in (1, 3, 64, 40_000):
        assert not ts.asarray(np.full(n, np.nan)).astype(ts.uint32).numpy().any()
        assert not ts.asarray(np.full(n, 1e10 * 2 ** 32)).astype(ts.uint32).numpy().any()


@pytest.mark.parametrize("target", NEW)
def test_fill_and_setitem_convert_floats(device, target):
    """A Python float is truncated and range-checked (NaN and out-of-range values raise, as for every integer
    dtype); a float tensor assigned into an unsigned one converts as astype does."""
    top = int(np.iinfo(target).max)
    for v, expected in ((65535.9, 65535), (0.7, 0), (float(2 ** 31) + 0.5, 2 ** 31), (2.0 ** 63 + 4096, 2 ** 63 + 4096),
                        (2.0 ** 64 - 2048, 2 ** 64 - 2048)):
        if expected > top:
            with pytest.raises(OverflowError):
                ts.full((3,), v, dtype=target, device=device)
            continue
        assert ts.full((3,), v, dtype=target, device=device).numpy().tolist() == [expected] * 3, (v, target)
        x = ts.zeros((4,), dtype=target, device=device)
        x[1:3] = v
        assert x.numpy().tolist() == [0, expected, expected, 0], (v, target)
    x = ts.zeros((4,), dtype=target, device=device)
    with pytest.raises(ValueError):
        x[0] = float("nan")
    with pytest.raises(OverflowError):
        x[0] = -1.0
    src = np.array([np.nan, -1.0, 70000.3, 2.0 ** 32 + 5], _floats(device)[-1])
    x[:] = ts.asarray(src, device=device)
    assert x.numpy().tolist() == _numpy_scalar_cast(src, target).tolist()


def test_unsigned_to_float_rounds_once(device):
    a = np.array([2 ** 64 - 1, 2 ** 63 + 2 ** 39 + 1, 2 ** 63, 2 ** 53 + 1, 2 ** 32 - 1, 65519, 65520], np.uint64)
    for dst in _floats(device):
        with np.errstate(over="ignore"):  # float16 overflows to inf, as every kernel does
            expected = a.astype(dst)
        np.testing.assert_array_equal(ts.asarray(a, device=device).astype(dst).numpy(), expected)


# -- uint64 above 2**63 -----------------------------------------------------------------------------------------------

BIG = np.array([2 ** 63, TOP, 2 ** 63 - 1, 0, 1, 2 ** 63 + 12345, 2 ** 64 - 2, 3], np.uint64)
OTHER = np.array([1, 2, 2 ** 63, TOP, 2 ** 63 + 1, 7, TOP, 2 ** 63], np.uint64)


def test_uint64_arithmetic_above_2_63(device):
    x, y = ts.asarray(BIG, device=device), ts.asarray(OTHER, device=device)
    with np.errstate(all="ignore"):
        for op, ref in (("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
                        ("maximum", np.maximum), ("minimum", np.minimum), ("bitwise_xor", np.bitwise_xor)):
            np.testing.assert_array_equal(getattr(ts, op)(x, y).numpy(), ref(BIG, OTHER), err_msg=op)
        np.testing.assert_array_equal((x // y).numpy(), BIG // OTHER)
        np.testing.assert_array_equal((x % y).numpy(), BIG % OTHER)
        np.testing.assert_array_equal((x >> 1).numpy(), BIG >> np.uint64(1))
        np.testing.assert_array_equal((-x).numpy(), -BIG)
    for op in ("less", "less_equal", "greater", "equal"):
        np.testing.assert_array_equal(getattr(ts, op)(x, y).numpy(), getattr(np, op)(BIG, OTHER), err_msg=op)
    assert int(ts.max(x)) == TOP and int(ts.min(x)) == 0 and int(ts.argmax(x)) == 1
    assert (x > 2 ** 63 - 1).numpy().tolist() == (BIG > np.uint64(2 ** 63 - 1)).tolist()


def test_uint64_sort_and_search_above_2_63(device):
    x = ts.asarray(BIG, device=device)
    np.testing.assert_array_equal(ts.sort(x).numpy(), np.sort(BIG))
    np.testing.assert_array_equal(ts.sort(x, descending=True).numpy(), np.sort(BIG)[::-1])
    np.testing.assert_array_equal(ts.argsort(x).numpy(), np.argsort(BIG, kind="stable"))
    s = ts.sort(x)
    probes = np.array([0, 2 ** 63, TOP, 2 ** 63 - 1], np.uint64)
    np.testing.assert_array_equal(ts.searchsorted(s, ts.asarray(probes, device=device)).numpy(),
                                  np.searchsorted(np.sort(BIG), probes))
    assert ts.unique_values(x).numpy().tolist() == np.unique(BIG).tolist()


def test_uint64_creation_at_the_top(device):
    assert ts.asarray([TOP, 2 ** 63], dtype=ts.uint64, device=device).numpy().tolist() == [TOP, 2 ** 63]
    assert ts.full((2,), TOP, dtype=ts.uint64, device=device).numpy().tolist() == [TOP, TOP]
    assert ts.arange(TOP - 2, TOP + 1, dtype=ts.uint64, device=device).numpy().tolist() == [TOP - 2, TOP - 1, TOP]
    assert ts.arange(TOP, TOP - 3, -1, dtype=ts.uint64, device=device).numpy().tolist() == [TOP, TOP - 1, TOP - 2]
    with pytest.raises(OverflowError):
        ts.asarray([TOP + 1], dtype=ts.uint64, device=device)
    with pytest.raises(OverflowError):
        ts.full((2,), -1, dtype=ts.uint32, device=device)
    with pytest.raises(OverflowError, match="uint64"):
        ts.asarray([2 ** 63])  # Python ints take int64; the message says what would work
    r = ts.randint(2 ** 63, 2 ** 64, size=(2000,), dtype=ts.uint64, device=device).numpy()
    assert r.dtype == np.uint64 and r.min() >= 2 ** 63 and len(np.unique(r)) > 1990
    r = ts.randint(0, 2 ** 64, size=(2000,), dtype=ts.uint64, device=device).numpy()  # the whole range
    assert (r >= np.uint64(2 ** 63)).mean() > 0.4 and (r < np.uint64(2 ** 63)).mean() > 0.4
    r = ts.randint(65530, 65536, size=(500,), dtype=ts.uint16, device=device).numpy()
    assert r.dtype == np.uint16 and set(r.tolist()) == set(range(65530, 65536))


def test_uint16_products_wrap(device):
    """uint16 computes in uint32 (C would promote to int, where 65535 * 65535 overflows)."""
    a = np.array([65535, 65535, 300, 256], np.uint16)
    x = ts.asarray(a, device=device)
    np.testing.assert_array_equal((x * x).numpy(), a * a)
    np.testing.assert_array_equal(ts.square(x).numpy(), a * a)
    np.testing.assert_array_equal((x ** 3).numpy(), a ** np.uint16(3))
    np.testing.assert_array_equal((x << 15).numpy(), a << np.uint16(15))
    np.testing.assert_array_equal((x << 16).numpy(), np.zeros(4, np.uint16))
    np.testing.assert_array_equal(ts.matmul(x.reshape((2, 2)), x.reshape((2, 2))).numpy(),
                                  a.reshape(2, 2) @ a.reshape(2, 2))


# -- DLPack ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_dlpack_round_trip_with_numpy(name):
    a = np.array([0, 1, np.iinfo(name).max, np.iinfo(name).max - 1], name)
    t = ts.from_dlpack(a)
    assert t.dtype == name and t.numpy().tolist() == a.tolist()
    back = np.from_dlpack(t)
    assert back.dtype == a.dtype and back.tolist() == a.tolist()
    assert np.shares_memory(back, a)  # zero-copy both ways on cpu


@pytest.mark.parametrize("name", NEW)
def test_dlpack_round_trip_with_torch(name):
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, name, None)
    if tdt is None:
        pytest.skip(f"this PyTorch has no {name}")
    top = int(np.iinfo(name).max)
    src = torch.tensor([0, 1, 2, 3], dtype=tdt)  # PyTorch's unsigned dtypes have few ops: build, copy, compare
    src[3] = top if name != "uint64" else -1  # PyTorch writes uint64's top through the bits of -1
    t = ts.from_dlpack(src)
    assert t.dtype == name and t.numpy().tolist() == [0, 1, 2, top]
    assert int(ts.max(t)) == top
    back = torch.from_dlpack(ts.asarray(np.array([5, top], name)))
    assert back.dtype == tdt and back.numpy().tolist() == [5, top]
