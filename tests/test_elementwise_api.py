"""The elementwise functions the Array API standard adds (issue 8), and the special cases of the ones that existed.

test_ops.py already checks every (device, op, dtype) against the NumPy references of the shared sample database.
These tests write the expected answers out themselves, from the standard's special-case lists (Note [Elementwise
special cases] in kernels/optable.py), so that a reference that is wrong in the same way as a kernel cannot hide it:
signed zeros and NaN sign bits, infinities, subnormals, float16 spacing, halves, shift counts past the width.  Then
the Tensor operators, clip, layouts (0-d, empty, broadcast, non-contiguous) on every device, array-api-strict as a
second reference, the errors for dtypes an op does not take, and the table's own bookkeeping.
"""

import math

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.dispatch import derivatives, functions
from tensorswitch.kernels import optable
from tensorswitch.testing import gradients, reference, samples
from tensorswitch.testing.samples.elementwise import EXACT

nan, inf, pi = math.nan, math.inf, math.pi

NEW_UNARY = ("acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "sinh", "tan", "expm1", "log1p", "log2",
             "log10", "reciprocal", "round", "trunc", "signbit", "bitwise_invert", "real", "imag", "conj")
NEW_BINARY = ("atan2", "hypot", "copysign", "logaddexp", "nextafter", "logical_xor", "bitwise_and", "bitwise_or",
              "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift")
NEW = NEW_UNARY + NEW_BINARY
FLOATS = ("float16", "float32", "float64")


def floats(device):
    return [d for d in FLOATS if ts.dtype(d) in device.supported_dtypes()]


def upload(values, dtype, device):
    return ts.asarray(np.array(values, dtype=dtype), device=device)


def assert_same(got, expected, rtol=0.0, nan_signs=False):
    """``got`` (a tensor) equals NumPy ``expected`` in dtype, shape and every value, with the sign of zeros (and of
    NaNs with ``nan_signs``: the standard fixes them only for copysign, signbit and copies); ``rtol`` > 0 allows
    rounding of nonzero finite values."""
    expected = np.asarray(expected)
    assert got.dtype.numpy == expected.dtype, (got.dtype, expected.dtype)
    host = got.numpy()
    assert host.shape == expected.shape
    if expected.dtype.kind != "f":
        np.testing.assert_array_equal(host, expected)
        return
    e, h = expected.astype(np.float64), host.astype(np.float64)
    assert np.array_equal(np.isnan(h), np.isnan(e)), (host, expected)
    signed = np.ones(e.shape, bool) if nan_signs else ~np.isnan(e)
    assert np.array_equal(np.signbit(h)[signed], np.signbit(e)[signed]), f"signs differ: {host} vs {expected}"
    finite = np.isfinite(e) & (e != 0)
    assert np.array_equal(h[~finite & ~np.isnan(e)], e[~finite & ~np.isnan(e)]), (host, expected)
    np.testing.assert_allclose(h[finite], e[finite], rtol=rtol, atol=0)


def expected_floats(values, dtype):
    """Python floats (with -0.0 and signed NaNs) as an array of ``dtype``, rounding once from float64."""
    out = np.array(values, dtype=np.float64)
    for i, v in enumerate(values):  # NumPy's array() keeps the sign of NaN; make it explicit anyway
        if isinstance(v, float) and math.isnan(v):
            out[i] = math.copysign(nan, math.copysign(1.0, v))
    with np.errstate(all="ignore"):
        return out.astype(dtype)


def check_cases(device, op, cases, rtol_for=None, dtypes=None):
    """``cases`` = [(x1, [x2,] expected), ...] in Python floats, on every float dtype of ``device`` (or ``dtypes``)."""
    fn = getattr(ts, op)
    arity = optable.ELEMENTWISE[op].arity
    for dtype in dtypes or floats(device):
        if not ts.registry.has_kernel(op, device, ts.dtype(dtype)):
            continue  # the NumPy plugin leaves out float16 sqrt (its Note [No float16 transcendentals])
        rtol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-14}[dtype] if rtol_for is None else rtol_for
        cols = list(zip(*cases))
        args = [upload(expected_floats(list(c), np.float64), dtype, device) for c in cols[:arity]]
        assert_same(fn(*args), expected_floats(list(cols[arity]), dtype), rtol)


# -- special cases, from the standard's pages -------------------------------------------------------------------------

ATAN2 = [(nan, 1.0, nan), (1.0, nan, nan), (1.0, 0.0, pi / 2), (1.0, -0.0, pi / 2), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0),
         (0.0, -0.0, pi), (0.0, -1.0, pi), (-0.0, 1.0, -0.0), (-0.0, 0.0, -0.0), (-0.0, -0.0, -pi), (-0.0, -1.0, -pi),
         (-1.0, 0.0, -pi / 2), (-1.0, -0.0, -pi / 2), (1.0, inf, 0.0), (1.0, -inf, pi), (-1.0, inf, -0.0),
         (-1.0, -inf, -pi), (inf, 1.0, pi / 2), (-inf, 1.0, -pi / 2), (inf, inf, pi / 4), (inf, -inf, 3 * pi / 4),
         (-inf, inf, -pi / 4), (-inf, -inf, -3 * pi / 4), (1.0, 1.0, pi / 4)]

# the standard's preferred answers where Python's differ (inf // 2, 1 // -inf), and the sign rules
FLOOR_DIVIDE = [(inf, 2.0, inf), (inf, -2.0, -inf), (-inf, 2.0, -inf), (-inf, -2.0, inf), (1.0, inf, 0.0),
                (1.0, -inf, -0.0), (-1.0, inf, -0.0), (-1.0, -inf, 0.0), (0.0, inf, 0.0), (-0.0, inf, -0.0),
                (nan, 1.0, nan), (1.0, nan, nan), (inf, inf, nan), (0.0, 0.0, nan), (-0.0, 0.0, nan),
                (0.0, 3.0, 0.0), (-0.0, 3.0, -0.0), (0.0, -3.0, -0.0), (-0.0, -3.0, 0.0), (5.0, 0.0, inf),
                (5.0, -0.0, -inf), (-5.0, 0.0, -inf), (-5.0, -0.0, inf), (7.0, 2.0, 3.0), (-7.0, 2.0, -4.0),
                (7.0, -2.0, -4.0), (-7.0, -2.0, 3.0), (1.0, 0.5, 2.0)]

REMAINDER = [(nan, 1.0, nan), (inf, inf, nan), (0.0, 0.0, nan), (0.0, 3.0, 0.0), (-0.0, 3.0, 0.0),
             (0.0, -3.0, -0.0), (-0.0, -3.0, -0.0), (5.0, 0.0, nan), (5.0, -0.0, nan), (inf, 2.0, nan),
             (-inf, -2.0, nan), (1.0, inf, 1.0), (1.0, -inf, -inf), (-1.0, inf, inf), (-1.0, -inf, -1.0),
             (7.0, 2.0, 1.0), (-7.0, 2.0, 1.0), (7.0, -2.0, -1.0), (-7.0, -2.0, -1.0), (6.0, 3.0, 0.0),
             (-6.0, 3.0, 0.0), (6.0, -3.0, -0.0)]

HYPOT = [(inf, nan, inf), (nan, -inf, inf), (-inf, 1.0, inf), (nan, 1.0, nan), (1.0, nan, nan), (3.0, 4.0, 5.0),
         (-0.0, -2.0, 2.0), (-2.0, 0.0, 2.0), (0.0, -0.0, 0.0), (-3.0, -4.0, 5.0)]

LOGADDEXP = [(inf, -inf, inf), (-inf, inf, inf), (inf, inf, inf), (-inf, -inf, -inf), (inf, 1.0, inf),
             (1.0, inf, inf), (nan, inf, nan), (inf, nan, nan), (nan, 1.0, nan), (0.0, 0.0, math.log(2.0)),
             (-inf, 2.0, 2.0), (1.0, 2.0, math.log(math.e + math.e ** 2))]

UNARY_CASES = {
    "acos": [(1.0, 0.0), (1.5, nan), (-1.5, nan), (nan, nan), (-1.0, pi), (0.0, pi / 2)],
    "acosh": [(1.0, 0.0), (0.5, nan), (inf, inf), (nan, nan), (-inf, nan)],
    "asin": [(0.0, 0.0), (-0.0, -0.0), (1.5, nan), (1.0, pi / 2), (-1.0, -pi / 2), (nan, nan)],
    "asinh": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -inf), (nan, nan)],
    "atan": [(0.0, 0.0), (-0.0, -0.0), (inf, pi / 2), (-inf, -pi / 2), (nan, nan), (1.0, pi / 4)],
    "atanh": [(0.0, 0.0), (-0.0, -0.0), (1.0, inf), (-1.0, -inf), (1.5, nan), (-1.5, nan), (nan, nan)],
    "cosh": [(0.0, 1.0), (-0.0, 1.0), (inf, inf), (-inf, inf), (nan, nan)],
    "sinh": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -inf), (nan, nan)],
    "tan": [(0.0, 0.0), (-0.0, -0.0), (inf, nan), (-inf, nan), (nan, nan)],
    "expm1": [(0.0, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -1.0), (nan, nan)],
    "log1p": [(0.0, 0.0), (-0.0, -0.0), (-1.0, -inf), (-1.5, nan), (inf, inf), (nan, nan)],
    "log2": [(0.0, -inf), (-0.0, -inf), (1.0, 0.0), (8.0, 3.0), (-1.0, nan), (inf, inf), (nan, nan)],
    "log10": [(0.0, -inf), (-0.0, -inf), (1.0, 0.0), (1000.0, 3.0), (-1.0, nan), (inf, inf), (nan, nan)],
    "reciprocal": [(0.0, inf), (-0.0, -inf), (inf, 0.0), (-inf, -0.0), (4.0, 0.25), (nan, nan)],
    "round": [(0.5, 0.0), (1.5, 2.0), (2.5, 2.0), (-0.5, -0.0), (-1.5, -2.0), (-2.5, -2.0), (0.0, 0.0),
              (-0.0, -0.0), (inf, inf), (-inf, -inf), (nan, nan), (2.4, 2.0), (-2.6, -3.0), (3.0, 3.0)],
    "trunc": [(1.7, 1.0), (-1.7, -1.0), (-0.5, -0.0), (0.5, 0.0), (-0.0, -0.0), (inf, inf), (-inf, -inf),
              (nan, nan)],
    # the existing functions whose special cases the standard fixes
    "sign": [(-0.0, 0.0), (0.0, 0.0), (-3.0, -1.0), (3.0, 1.0), (nan, nan), (-inf, -1.0)],
    "floor": [(-0.0, -0.0), (-0.5, -1.0), (inf, inf)],
    "ceil": [(-0.5, -0.0), (-0.0, -0.0), (0.5, 1.0)],
    "sqrt": [(-0.0, -0.0), (-1.0, nan), (inf, inf)],
}

POW = [(nan, 0.0, 1.0), (nan, -0.0, 1.0), (1.0, nan, 1.0), (2.0, nan, nan), (nan, 1.0, nan), (-1.0, inf, 1.0),
       (-1.0, -inf, 1.0), (2.0, inf, inf), (2.0, -inf, 0.0), (0.5, inf, 0.0), (0.5, -inf, inf), (inf, 2.0, inf),
       (inf, -2.0, 0.0), (-inf, 3.0, -inf), (-inf, 2.0, inf), (-inf, -3.0, -0.0), (-inf, -2.0, 0.0),
       (0.0, 3.0, 0.0), (0.0, -3.0, inf), (-0.0, 3.0, -0.0), (-0.0, 2.0, 0.0), (-0.0, -3.0, -inf),
       (-0.0, -2.0, inf), (-2.0, 0.5, nan), (-2.0, 3.0, -8.0)]

EXTREMA = {"maximum": [(nan, 1.0, nan), (1.0, nan, nan), (1.0, 2.0, 2.0), (-inf, 1.0, 1.0)],
           "minimum": [(nan, 1.0, nan), (1.0, nan, nan), (1.0, 2.0, 1.0), (inf, 1.0, 1.0)]}


@pytest.mark.parametrize("op, cases", [("atan2", ATAN2), ("floor_divide", FLOOR_DIVIDE), ("remainder", REMAINDER),
                                       ("hypot", HYPOT), ("logaddexp", LOGADDEXP), ("pow", POW),
                                       *EXTREMA.items()])
def test_binary_special_cases(device, op, cases):
    check_cases(device, op, cases)


@pytest.mark.parametrize("op", sorted(UNARY_CASES))
def test_unary_special_cases(device, op):
    check_cases(device, op, UNARY_CASES[op])


def test_copysign_and_signbit_read_and_write_the_sign_bit_of_nan(device):
    for dtype in floats(device):
        n = np.array(nan, dtype)
        minus_nan = np.copysign(n, np.array(-1.0, dtype))
        x1 = np.array([2.0, 2.0, -2.0, 2.0, n, n, n, minus_nan, -inf, 0.0], dtype)
        x2 = np.array([-0.0, 0.0, n, minus_nan, -1.0, 1.0, minus_nan, n, 1.0, -5.0], dtype)
        got = ts.copysign(ts.asarray(x1, device=device), ts.asarray(x2, device=device))
        assert_same(got, np.array([-2.0, 2.0, 2.0, -2.0, minus_nan, n, minus_nan, n, inf, -0.0], dtype),
                    nan_signs=True)
        tiny = np.finfo(dtype).smallest_subnormal
        x = np.array([0.0, -0.0, inf, -inf, 1.0, -1.0, n, minus_nan, -tiny, tiny], dtype)
        got = ts.signbit(ts.asarray(x, device=device))
        assert got.tolist() == [False, True, False, True, False, True, False, True, True, False]


def test_signbit_of_integers_and_bool(device):
    x = upload([-128, -1, 0, 1, 127], np.int8, device)
    assert ts.signbit(x).tolist() == [True, True, False, False, False]
    assert ts.signbit(upload([0, 255], np.uint8, device)).tolist() == [False, False]
    assert ts.signbit(upload([True, False], bool, device)).tolist() == [False, False]


def test_nextafter_steps_by_the_dtype_spacing(device):
    """Written from each dtype's own finfo, float16 included (it computes in float but must step in float16)."""
    for dtype in floats(device):
        fi = np.finfo(dtype)
        tiny, big, eps = float(fi.smallest_subnormal), float(fi.max), float(fi.eps)
        cases = [(0.0, 1.0, tiny), (-0.0, -1.0, -tiny), (-0.0, 0.0, 0.0), (0.0, -0.0, -0.0), (1.0, 2.0, 1.0 + eps),
                 (1.0, 0.0, 1.0 - eps / 2), (2.0, inf, 2.0 + 2 * eps), (-1.0, 0.0, -1.0 + eps / 2),
                 (big, inf, inf), (-big, -inf, -inf), (inf, 0.0, big), (-inf, 0.0, -big), (tiny, 0.0, 0.0),
                 (-tiny, 1.0, -0.0), (float(fi.tiny), 0.0, float(fi.tiny) - tiny), (nan, 1.0, nan),
                 (1.0, nan, nan), (1.0, 1.0, 1.0), (3.0, 3.0, 3.0)]
        a, b, want = (np.array(c, np.float64).astype(dtype) for c in zip(*cases))
        got = ts.nextafter(ts.asarray(a, device=device), ts.asarray(b, device=device))
        assert_same(got, want)
        with np.errstate(over="ignore"):
            assert_same(got, np.where(a == b, b, np.nextafter(a, b)))  # NumPy agrees (but returns a where a == b)
        # the cases scattered over vectors and tails (cpu steps the bits in vector code), with random neighbours
        rng = np.random.default_rng(1)
        pick = rng.integers(0, len(cases), 1000)
        a, b = a[pick], b[pick]
        a[::3] = (rng.standard_normal(334) * 10.0 ** rng.integers(-30, 30, 334)).astype(dtype)
        got = ts.nextafter(ts.asarray(a, device=device), ts.asarray(b, device=device))
        with np.errstate(over="ignore"):
            assert_same(got, np.where(a == b, b, np.nextafter(a, b)))


def test_round_halves_to_even_at_every_magnitude(device):
    for dtype in floats(device):
        top = 2.0 ** (np.finfo(dtype).nmant - 1)  # from here up, halves are the finest fractions
        below_half = float(np.nextafter(np.array(0.5, dtype), np.array(0.0, dtype)))
        cases = [(top + 0.5, top), (top + 1.5, top + 2), (2 * top - 0.5, 2 * top), (-top - 0.5, -top),
                 (below_half, 0.0), (-below_half, -0.0), (2 * top, 2 * top)]
        check_cases(device, "round", cases, dtypes=[dtype])


# -- integers ---------------------------------------------------------------------------------------------------------

SHIFT_CASES = {  # (dtype, x1, x2, x1 << x2, x1 >> x2): NumPy's answers, written out
    "int8": [(1, 7, -128, 0), (1, 8, 0, 0), (1, -1, 0, 0), (-5, 9, 0, -1), (-5, -1, 0, -1), (5, -1, 0, 0),
             (-128, 7, 0, -1), (-128, 1, 0, -64), (127, 1, -2, 63), (-1, 0, -1, -1), (-7, 1, -14, -4),
             (3, 127, 0, 0), (-3, -128, 0, -1)],
    "uint8": [(255, 1, 254, 127), (255, 8, 0, 0), (1, 7, 128, 0), (128, 7, 0, 1), (7, 255, 0, 0)],
    "int16": [(1, 15, -32768, 0), (1, 16, 0, 0), (-1, 15, -32768, -1), (-32768, 15, 0, -1)],
    "int32": [(1, 31, -2 ** 31, 0), (1, 32, 0, 0), (-2 ** 31, 31, 0, -1), (3, -5, 0, 0)],
    "int64": [(1, 63, -2 ** 63, 0), (1, 64, 0, 0), (-1, 63, -2 ** 63, -1), (-(2 ** 63), 63, 0, -1),
              (2 ** 62, 1, -2 ** 63, 2 ** 61), (5, -1, 0, 0), (-5, 64, 0, -1)],
}


@pytest.mark.parametrize("dtype", sorted(SHIFT_CASES))
def test_shifts_follow_numpy_at_and_past_the_width(device, dtype):
    a, b, left, right = (np.array(c, dtype=np.int64).astype(dtype) for c in zip(*SHIFT_CASES[dtype]))
    ta, tb = ts.asarray(a, device=device), ts.asarray(b, device=device)
    assert_same(ts.bitwise_left_shift(ta, tb), left)
    assert_same(ts.bitwise_right_shift(ta, tb), right)
    assert_same(ts.bitwise_left_shift(ta, tb), np.left_shift(a, b))
    assert_same(ts.bitwise_right_shift(ta, tb), np.right_shift(a, b))


def test_right_shift_is_floor_division_by_a_power_of_two(device, rng):
    """The standard's note: an arithmetic shift, x >> k == x // 2**k."""
    for dtype in ("int8", "int16", "int32", "int64", "uint8"):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, 200, endpoint=True).astype(dtype)
        k = rng.integers(0, 8 * np.dtype(dtype).itemsize, 200).astype(dtype)
        got = ts.bitwise_right_shift(ts.asarray(x, device=device), ts.asarray(k, device=device)).numpy()
        assert np.array_equal(got, (x.astype(object) // (2 ** k.astype(object))).astype(dtype))


def test_bitwise_edges(device):
    for dtype in ("int8", "int64", "uint8"):
        info = np.iinfo(dtype)
        edges = np.array(sorted({info.min, info.max, 0, 1, info.max // 3} | ({-1} if info.min else set())), dtype)
        a, b = np.repeat(edges, len(edges)), np.tile(edges, len(edges))
        ta, tb = ts.asarray(a, device=device), ts.asarray(b, device=device)
        assert_same(ts.bitwise_and(ta, tb), a & b)
        assert_same(ts.bitwise_or(ta, tb), a | b)
        assert_same(ts.bitwise_xor(ta, tb), a ^ b)
        assert_same(ts.bitwise_invert(ta), ~a)
    assert ts.bitwise_invert(upload([0, 255, 7], np.uint8, device)).tolist() == [255, 0, 248]
    assert ts.bitwise_invert(upload([0, -1, -128], np.int8, device)).tolist() == [-1, 0, 127]
    m = upload([True, True, False, False], bool, device)
    n = upload([True, False, True, False], bool, device)
    for fn, want in ((ts.bitwise_and, [True, False, False, False]), (ts.bitwise_or, [True, True, True, False]),
                     (ts.bitwise_xor, [False, True, True, False]), (ts.logical_xor, [False, True, True, False])):
        got = fn(m, n)
        assert got.dtype == ts.bool and got.tolist() == want
    assert ts.bitwise_invert(m).tolist() == [False, False, True, True]


def test_logical_xor_takes_nonzero_as_true(device):
    for dtype in floats(device) + ["int8", "uint8"]:
        kind = np.dtype(dtype).kind
        a = upload([0, 1, 0, 2] if kind != "f" else [0.0, nan, -0.0, 2.5], dtype, device)
        b = upload([0, 0, 3, 1] if kind != "f" else [0.0, 0.0, 3.0, -1.0], dtype, device)
        assert ts.logical_xor(a, b).tolist() == [False, True, True, False]


def test_round_trunc_real_conj_imag_keep_integers_exact(device):
    x = np.array([-(2 ** 63), 2 ** 63 - 1, -3, 0, 7], np.int64)  # beyond float64's integers: no detour via float
    t = ts.asarray(x, device=device)
    for op in ("round", "trunc", "real", "conj"):
        assert_same(getattr(ts, op)(t), x)
    assert_same(ts.imag(t), np.zeros(5, np.int64))


def test_real_imag_conj_of_real_dtypes(device):
    for dtype in floats(device) + ["int16", "bool"]:
        x = np.array([1, 0, 1] if dtype == "bool" else [-0.0, 2.5, nan] if dtype in FLOATS else [-3, 0, 4], dtype)
        t = ts.asarray(x, device=device)
        for op in ("real", "conj"):
            out = getattr(ts, op)(t)
            assert_same(out, x, nan_signs=True)
            assert out.buffer is not t.buffer  # a new tensor, as every elementwise function returns
        assert_same(ts.imag(t), np.zeros(3, dtype))


# -- float16 on opencl, where PoCL has no cl_khr_fp16 ----------------------------------------------------------------

@pytest.fixture
def opencl_f16():
    """The opencl device with float16 forced on (its storage path needs no extension; see test_opencl_backend.py)."""
    if "opencl" not in [d.type for d in ts.devices()]:
        pytest.skip("no opencl device")
    d = ts.device("opencl")
    saved = d._dtypes
    d._dtypes = saved | {ts.float16}
    yield d
    d._dtypes = saved


def test_float16_kernels_on_opencl(opencl_f16):
    for op in NEW:
        if "float16" in optable.ELEMENTWISE[op].dtypes:
            assert samples.check(op, "float16", opencl_f16) > 0, op
    test_nextafter_steps_by_the_dtype_spacing(opencl_f16)
    test_round_halves_to_even_at_every_magnitude(opencl_f16)
    check_cases(opencl_f16, "floor_divide", FLOOR_DIVIDE)


# -- layouts and scalars ---------------------------------------------------------------------------------------------

def _layout_inputs(op, dtype, rng):
    """(a, b) NumPy inputs in op's domain: b broadcasts against a."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        low, high = {"acos": (-1, 1), "asin": (-1, 1), "atanh": (-1, 1), "acosh": (1, 5)}.get(op, (-3, 3))
        a, b = rng.uniform(low, high, (4, 3)), rng.uniform(-3, 3, (3,))
    elif dt.kind == "b":
        a, b = rng.random((4, 3)) < 0.5, rng.random(3) < 0.5
    else:
        a, b = rng.integers(-50, 50, (4, 3)), rng.integers(0, 7, (3,))
    return a.astype(dt), b.astype(dt)


@pytest.mark.parametrize("op", NEW)
def test_layouts_against_numpy(device, op, rng):
    """Transposed and reversed views, a broadcast operand, 0-d and empty inputs, against the NumPy reference."""
    info = optable.ELEMENTWISE[op]
    ref = reference.ELEMENTWISE[op]
    fn = getattr(ts, op)
    dtype = next(d for d in ("float32", "int16", "bool") if d in info.dtypes)
    a, b = _layout_inputs(op, dtype, rng)
    view = ts.asarray(np.ascontiguousarray(a.T), device=device).mT      # a, transposed storage
    flipped = ts.asarray(np.ascontiguousarray(b[::-1]), device=device)[::-1]
    tol = dict(rtol=0, atol=0) if dtype != "float32" or op in EXACT else dict(rtol=2e-6, atol=1e-7)
    if info.arity == 1:
        cases = [(fn(view), ref(a)), (fn(ts.asarray(a[0, 0], device=device)), ref(a[0, 0])),
                 (fn(ts.asarray(a[:0], device=device)), ref(a[:0]))]
    else:
        ea, eb = np.broadcast_arrays(a, b)
        cases = [(fn(view, flipped), ref(ea, eb)), (fn(flipped, view), ref(eb, ea)),
                 (fn(ts.asarray(a[0, 0], device=device), ts.asarray(b[0], device=device)), ref(a[0, 0], b[0])),
                 (fn(ts.asarray(a[:0], device=device), flipped), ref(a[:0], b[None].repeat(0, 0)))]
    for got, want in cases:
        want = np.asarray(want)
        assert got.shape == want.shape and got.dtype.numpy == want.dtype
        np.testing.assert_allclose(got.numpy(), want, **tol)


def test_python_scalars_and_promotion(device):
    x = upload([1.0, -2.0], np.float32, device)
    assert_same(ts.atan2(1.0, x), np.arctan2(np.float32(1.0), np.array([1.0, -2.0], np.float32)), 2e-6)
    assert_same(ts.copysign(x, -0.0), np.array([-1.0, -2.0], np.float32))
    assert_same(ts.hypot(x, 0), np.array([1.0, 2.0], np.float32))
    i = upload([3, -4], np.int32, device)
    assert ts.hypot(i, i).dtype == ts.float32       # integers compute in the default float dtype
    assert ts.log2(i).dtype == ts.float32
    assert ts.round(i).dtype == ts.int32             # round and trunc keep integers
    assert ts.bitwise_and(i, 6).tolist() == [2, 4]
    assert ts.bitwise_left_shift(1, upload([0, 3, 31], np.int32, device)).tolist() == [1, 8, -2 ** 31]
    assert ts.bitwise_and(upload([1, 2], np.int8, device), upload([3, 3], np.int16, device)).dtype == ts.int16
    b = upload([True, False], bool, device)
    assert ts.bitwise_or(b, 2).dtype == ts.int64     # a Python int with bool: int64, as in NumPy
    with pytest.raises(OverflowError, match="bitwise_and"):
        ts.bitwise_and(upload([1], np.int8, device), 300)
    if "float16" in floats(device):
        h = upload([1.0], np.float16, device)
        assert ts.nextafter(h, 2.0).dtype == ts.float16 and ts.nextafter(h, 2.0).item() == 1.0009765625


# -- operators -------------------------------------------------------------------------------------------------------

def test_bitwise_operators(device):
    a_np, b_np = np.array([5, -3, 0, 127], np.int16), np.array([3, 1, 7, 2], np.int16)
    a, b = ts.asarray(a_np, device=device), ts.asarray(b_np, device=device)
    for got, want in ((a & b, a_np & b_np), (a | b, a_np | b_np), (a ^ b, a_np ^ b_np), (~a, ~a_np),
                      (a << b, a_np << b_np), (a >> b, a_np >> b_np), (a & 6, a_np & 6), (6 | a, 6 | a_np),
                      (9 ^ a, 9 ^ a_np), (1 << b, np.int16(1) << b_np), (-64 >> b, np.int16(-64) >> b_np),
                      (a << 2, a_np << 2)):
        assert_same(got, want)
    for text, iop in (("&=", lambda x: x.__iand__(b)), ("|=", lambda x: x.__ior__(3)),
                      ("^=", lambda x: x.__ixor__(b)), ("<<=", lambda x: x.__ilshift__(1)),
                      (">>=", lambda x: x.__irshift__(b))):
        t = ts.asarray(a_np, device=device)
        out = iop(t)
        assert out is t, text
        want = {"&=": a_np & b_np, "|=": a_np | 3, "^=": a_np ^ b_np, "<<=": a_np << 1, ">>=": a_np >> b_np}[text]
        assert_same(t, want)
    m, n = ts.asarray([True, False, True], device=device), ts.asarray([True, True, False], device=device)
    assert (m & n).tolist() == [True, False, False] and (m | n).dtype == ts.bool
    assert (m ^ n).tolist() == [False, True, True] and (~m).tolist() == [False, True, False]
    assert (m & True).dtype == ts.bool and (m & 1).dtype == ts.int64 and (True ^ m).tolist() == [False, True, False]
    m &= n
    assert m.tolist() == [True, False, False]
    with pytest.raises(TypeError, match="in place"):
        m &= 1  # an int64 result cannot go into a bool tensor


def test_operator_errors_name_the_function_and_what_works(device):
    x = ts.asarray([1.5, 2.0], device=device)
    for text, call, op in (("&", lambda: x & 1, "bitwise_and"), ("|", lambda: 1 | x, "bitwise_or"),
                           ("^", lambda: x ^ x, "bitwise_xor"), ("~", lambda: ~x, "bitwise_invert"),
                           ("<<", lambda: x << 1, "bitwise_left_shift"), (">>", lambda: x >> 1, "bitwise_right_shift")):
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert text in message and op in message and "float32" in message and "integer" in message, message
    i = ts.asarray([1, 2], device=device)
    with pytest.raises(TypeError, match=r">>: bitwise_right_shift takes integer operands, got a float"):
        i >> 1.5
    with pytest.raises(TypeError, match="&=: bitwise_and"):
        x.__iand__(1)


def test_functions_refuse_dtypes_they_do_not_take(device):
    """No kernel exists for these anywhere: the error names the op, the device, the dtype and what works."""
    x = ts.asarray([1.5, 2.0], device=device)
    for op in ("bitwise_and", "bitwise_left_shift", "bitwise_right_shift"):
        with pytest.raises(ts.KernelNotFoundError) as info:
            getattr(ts, op)(x, x)
        message = str(info.value)
        assert op in message and device.type in message and "float32" in message and "int8" in message, message
    with pytest.raises(ts.KernelNotFoundError, match=r"bitwise_invert .*float32.*int8"):
        ts.bitwise_invert(x)
    m = ts.asarray([True], device=device)
    with pytest.raises(ts.KernelNotFoundError, match=r"bitwise_left_shift .*bool.*int8"):
        m << m  # the standard's shifts take integers only
    with pytest.raises(ts.KernelNotFoundError, match=r"round .*bool"):
        ts.round(m)
    with pytest.raises(TypeError, match="expected at least one tensor"):
        ts.atan2(1.0, 2.0)


# -- clip ------------------------------------------------------------------------------------------------------------

def test_clip(device):
    x_np = np.array([-2.0, 0.5, nan, 3.0, 0.25], np.float32)  # no -0.0: maximum's choice of zero is unspecified
    x = ts.asarray(x_np, device=device)
    assert_same(ts.clip(x, 0.0, 1.0), np.clip(x_np, 0.0, 1.0))
    assert_same(ts.clip(x, min=0), np.clip(x_np, 0, None))
    assert_same(ts.clip(x, max=1), np.clip(x_np, None, 1))
    both_none = ts.clip(x)
    assert_same(both_none, x_np)
    assert both_none.buffer is not x.buffer  # a copy
    bounds = ts.asarray(np.array([[0.0], [nan]], np.float32), device=device)   # NaN bounds give NaN
    assert_same(ts.clip(x, bounds, 1.0), np.clip(x_np, np.array([[0.0], [nan]], np.float32), 1.0))
    assert ts.clip(x, bounds, None).shape == (2, 5)   # broadcast against x
    assert_same(ts.clip(ts.asarray(3.0, device=device), 0.0, 1.0), np.float32(1.0))   # 0-d
    assert ts.clip(ts.asarray(np.zeros((0, 2), np.float32), device=device), 0, 1).shape == (0, 2)
    assert_same(ts.clip(x, 2.0, 1.0), np.clip(x_np, 2.0, 1.0))   # min > max: max, as NumPy
    assert_same(ts.clip(x[::-1], -1.0, 1.0), np.clip(x_np[::-1], -1.0, 1.0))


def test_clip_integers(device):
    x_np = np.array([-128, -5, 0, 5, 127], np.int8)
    x = ts.asarray(x_np, device=device)
    assert_same(ts.clip(x, -3, 3), np.clip(x_np, -3, 3))
    assert_same(ts.clip(x, -1000, 1000), x_np)        # bounds past the dtype bound nothing
    assert_same(ts.clip(x, min=-1000, max=2), np.clip(x_np, -128, 2))
    lo = ts.asarray(np.array([0, 1, 2, 3, 4], np.int16), device=device)
    got = ts.clip(x, lo, None)
    assert got.dtype == ts.int8 and got.tolist() == [0, 1, 2, 5, 127]   # x's dtype, whatever the bounds'
    assert ts.clip(ts.asarray(np.array([1, 200], np.uint8), device=device), -5, 100).tolist() == [1, 100]
    with pytest.raises(OverflowError, match="clip: min=300"):
        ts.clip(x, 300)
    with pytest.raises(OverflowError, match="clip: max=-300"):
        ts.clip(x, None, -300)
    with pytest.raises(TypeError, match="clip: min=1.5 is a float but x is int8"):
        ts.clip(x, 1.5)
    with pytest.raises(TypeError, match="clip: max is float32 but x is int8"):
        ts.clip(x, None, ts.asarray([1.0], device=device))
    with pytest.raises(TypeError, match="clip: x must have a real numeric dtype, got bool"):
        ts.clip(ts.asarray([True], device=device), 0, 1)
    with pytest.raises(TypeError, match="clip: min must be None, a real number or a tensor"):
        ts.clip(x, True)
    f = ts.asarray([0.5, 7.0], device=device)
    assert ts.clip(f, ts.asarray(np.array([1, 2], np.int32), device=device), 5).tolist() == [1.0, 5.0]


def test_clip_device_mismatch():
    other = next((d for d in ts.devices() if d.type not in ("cpu", "limited")), None)
    if other is None:
        pytest.skip("one device only")
    with pytest.raises(ts.DeviceMismatchError, match="clip"):
        ts.clip(ts.asarray([1.0]), ts.asarray([0.0], device=other))


def test_clip_gradient_matches_pytorch():
    torch = pytest.importorskip("torch")
    x_np = np.array([-2.0, 0.25, 0.75, 3.0], np.float64)
    lo_np = np.array([0.0, 0.5, 0.0, 0.0])
    x = ts.asarray(x_np, requires_grad=True)
    lo = ts.asarray(lo_np, requires_grad=True)
    (ts.clip(x, lo, 1.0) * ts.asarray([1.0, 2.0, 3.0, 4.0], dtype=ts.float64)).sum().backward()
    xt = torch.tensor(x_np, requires_grad=True)
    lt = torch.tensor(lo_np, requires_grad=True)
    (torch.clamp(xt, lt, torch.tensor(1.0, dtype=torch.float64)) * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_allclose(lo.grad.numpy(), lt.grad.numpy())


#: the differentiable new functions, with PyTorch's twin and the input range they are compared on
TORCH_UNARY = {"acos": (-0.8, 0.8), "asin": (-0.8, 0.8), "atanh": (-0.8, 0.8), "acosh": (1.25, 3.0),
               "asinh": (-2.0, 2.0), "atan": (-2.0, 2.0), "cosh": (-2.0, 2.0), "sinh": (-2.0, 2.0),
               "tan": (-1.2, 1.2), "expm1": (-2.0, 2.0), "log1p": (-0.5, 2.0), "log2": (0.3, 2.0),
               "log10": (0.3, 2.0), "reciprocal": (0.3, 2.0), "round": (-3.0, 3.0), "trunc": (-3.0, 3.0),
               "real": (-2.0, 2.0), "conj": (-2.0, 2.0)}
TORCH_BINARY = ("atan2", "hypot", "logaddexp", "copysign")


@pytest.mark.parametrize("op", sorted(TORCH_UNARY))
def test_unary_first_and_second_derivatives_match_pytorch(op):
    torch = pytest.importorskip("torch")
    from test_autograd import compare_with_torch

    rng = np.random.default_rng(list(op.encode()))
    low, high = TORCH_UNARY[op]
    for shape in ((3, 4), ()):
        x = rng.uniform(low, high, shape)
        if op == "round":
            x = np.floor(x) + rng.uniform(0.1, 0.4, shape)  # away from the halves, where round jumps
        compare_with_torch(getattr(ts, op), getattr(torch, op), [x], second=True, what=f"{op}{shape}")
    compare_with_torch(lambda x: getattr(ts, op)(x.mT), lambda x: getattr(torch, op)(x.mT),
                       [rng.uniform(low, high, (4, 3))], what=f"{op} of a transposed input")


@pytest.mark.parametrize("op", TORCH_BINARY)
def test_binary_first_and_second_derivatives_match_pytorch(op):
    torch = pytest.importorskip("torch")
    from test_autograd import compare_with_torch

    rng = np.random.default_rng(list(op.encode()))

    def away(*shape):  # away from 0: the kinks of hypot and copysign, atan2's branch cut
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)

    for sa, sb in (((2, 3), (2, 3)), ((2, 1, 3), (4, 1)), ((), (3,)), ((3,), ())):
        compare_with_torch(getattr(ts, op), getattr(torch, op), [away(*sa), away(*sb)], second=True,
                           what=f"{op}{sa}{sb}")
    compare_with_torch(lambda x: getattr(ts, op)(x, -1.5), lambda x: getattr(torch, op)(x, torch.tensor(-1.5)),
                       [away(2, 3)], second=True, what=f"{op}(x, scalar)")
    compare_with_torch(lambda y: getattr(ts, op)(0.75, y), lambda y: getattr(torch, op)(torch.tensor(0.75), y),
                       [away(2, 3)], second=True, what=f"{op}(scalar, y)")


def test_derivatives_pytorch_lacks():
    """imag of a real tensor is a constant 0 (PyTorch refuses imag of real tensors); nextafter is a to first order
    and constant in b (PyTorch has no derivative for it)."""
    x = ts.asarray(np.array([0.5, -1.5]), requires_grad=True)
    y = ts.asarray(np.array([3.0, -4.0]), requires_grad=True)
    (gx,) = ts.autograd.grad((ts.imag(x) * 3.0 + x).sum(), [x])
    assert gx.tolist() == [1.0, 1.0]
    gx, gy = ts.autograd.grad((ts.nextafter(x, y) * ts.asarray([2.0, 5.0], dtype=ts.float64)).sum(), [x, y])
    assert gx.tolist() == [2.0, 5.0] and gy.tolist() == [0.0, 0.0]


# -- array-api-strict, the second reference -------------------------------------------------------------------------

def test_against_array_api_strict(rng):
    xp = pytest.importorskip("array_api_strict")
    f = np.concatenate([rng.uniform(-5, 5, 40), [0.5, 1.5, 2.5, -0.5, -0.0, 0.0, inf, -inf, nan]]).astype(np.float64)
    g = rng.permutation(f)
    i = rng.integers(-100, 100, 49).astype(np.int32)
    k = rng.integers(0, 31, 49).astype(np.int32)
    cases = [(op, (f,)) for op in ("round", "trunc", "signbit", "expm1", "log1p", "atan", "asinh", "sinh", "cosh",
                                   "tan", "reciprocal")]
    cases += [(op, (f, g)) for op in ("atan2", "hypot", "copysign", "logaddexp", "nextafter", "floor_divide",
                                      "remainder")]
    cases += [(op, (i, k)) for op in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                                      "bitwise_right_shift")]
    cases += [("bitwise_invert", (i,))]
    with np.errstate(all="ignore"):
        for op, args in cases:
            want = np.asarray(getattr(xp, op)(*[xp.asarray(a) for a in args]))
            got = getattr(ts, op)(*[ts.asarray(a) for a in args])
            if op == "floor_divide":  # NumPy's inf // finite and finite // inf: the standard prefers floor(a / b)
                one_inf = np.isinf(args[0]) != np.isinf(args[1])
                want = np.where(one_inf, args[0] / args[1], want)
            if want.dtype.kind == "f":
                assert_same(got, want, 1e-14)
            else:
                assert_same(got, want)
    x = xp.asarray(np.array([-3, 0, 9], np.int16))
    np.testing.assert_array_equal(ts.clip(ts.asarray(np.array([-3, 0, 9], np.int16)), -1, 5).numpy(),
                                  np.asarray(xp.clip(x, -1, 5)))


# -- the table's bookkeeping ------------------------------------------------------------------------------------------

def test_every_new_function_is_wired_everywhere():
    plugin = pytest.importorskip("ts_numpy_backend.kernels")
    for op in NEW:
        assert op in optable.ELEMENTWISE and op in reference.ELEMENTWISE and op in plugin.ELEMENTWISE, op
        assert op in functions._SUMMARIES and getattr(ts, op).__doc__.startswith(f"{op}("), op
        assert ts.OPS[op] == ("unary" if op in NEW_UNARY else "binary")
        # a float result: "same", or "real" (real and imag, whose real inputs give their own dtype)
        differentiable = "float32" in optable.ELEMENTWISE[op].dtypes and optable.ELEMENTWISE[op].result != "bool"
        assert (op in derivatives.DERIVATIVES) == differentiable, op
        assert (op in gradients.GRADIENT_SAMPLES) == differentiable, op
    assert callable(ts.clip) and "clip" in functions.__all__
    assert ts.Tensor.clip is not None and ts.asarray([3.0]).clip(0.0, 1.0).tolist() == [1.0]
    assert ts.asarray([0.3, 1.7]).round().tolist() == pytest.approx([0.0, 2.0])   # methods from the namespace


def test_docstring_examples_run():
    for op in NEW:
        fn = getattr(ts, op)
        example = [line[4:] for line in fn.__doc__.splitlines() if line.startswith(">>> ")]
        namespace = {}
        exec("\n".join(example[:-1]), namespace)
        assert eval(example[-1], namespace) == (2,), op


# -- Note [Scalar powers] (dispatch/dispatcher.py) -----------------------------------------------------------------

@pytest.mark.parametrize("exponent", [2, 2.0, 0.5, -1, -1.0, 3, 2.5, 0, 1])
def test_scalar_powers_are_numpys(device, exponent, rng):
    from tensorswitch.dispatch.registry import registry

    """x ** 2, x ** 0.5 and x ** -1 of float tensors take square, sqrt and reciprocal, as NumPy's fast_scalar_power
    does: NumPy's values bit for bit, its signed zeros and NaNs at -0 and -inf included; other exponents stay pow."""
    for dtype in sorted(d.name for d in ts.device(device).supported_dtypes() if d.kind == "float"):
        x = np.concatenate([rng.standard_normal(300) * 10, [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, 3e38, 1,
                                                            -1]]).astype(dtype)
        t = ts.asarray(x, device=device)
        ts.square(t)  # a plugin registers its kernels on first use
        op = {2: "square", 0.5: "sqrt", -1: "reciprocal"}.get(exponent)
        has = op is not None and (t.device.type, t.dtype) in registry.by_op[op]
        with np.errstate(all="ignore"):
            fast = {2: np.square, 0.5: np.sqrt, -1: np.reciprocal}.get(exponent) if has else None
            # np.power itself for float32 and float64 (its fast_scalar_power); float16's power is a float32 powf
            want = fast(x) if fast else np.power(x, np.asarray(exponent, dtype))
        for got in (t ** exponent, ts.pow(t, exponent)):
            assert got.dtype.name == dtype
            if fast is not None:
                assert_same(got, want)
            else:  # pow itself: libm's or the device's, to its tolerance
                np.testing.assert_allclose(got.numpy(), want, rtol=samples.core.TOLERANCE[dtype][0] * 4)


def test_scalar_powers_record_their_gradient_and_keep_pow_for_integers():
    """The op taken records its own derivative, pow's at that exponent; integer tensors keep pow (a device without
    the op's kernel keeps it too: the NumPy plugin's float16, which has no sqrt, in test_scalar_powers_are_numpys)."""
    x = ts.asarray(np.array([1.5, 4.0, 0.25]), requires_grad=True)
    for exponent, want in ((2, 2 * x.numpy()), (0.5, 0.5 / np.sqrt(x.numpy())), (-1, -1 / x.numpy() ** 2)):
        x.grad = None
        (x ** exponent).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-15)
    i = ts.asarray(np.array([2, 3], np.int32))  # integers: pow (their ** 0.5 computes in float32)
    assert_same(i ** 2, np.array([4, 9], np.int32))
    assert (i ** 0.5).dtype == ts.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_two_pass_float_division_gives_the_helpers_bits(device, rng, dtype):
    """Note [Two-pass float division] (kernels/ops_common.h): contiguous floor_divide and remainder of floats take a
    vectorised pass and redo the elements the fast fmod does not fit (zero, infinite or NaN operands, quotients of
    2^24 and more) with the exact helper, which strided operands always take: both give the same bits, for both
    operands contiguous and for either a scalar, special values scattered over many blocks of 512, and NumPy's
    remainder."""
    if ts.dtype(dtype.__name__) not in ts.device(device).supported_dtypes():
        pytest.skip(f"{device} has no {dtype.__name__}")
    n = 6000
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 6e-8, 3e38, 65504.0, 7.0, -7.0, 16777217.0])
    pick = rng.random((2, n)) < 0.05
    a = np.where(pick[0], rng.choice(special, n), rng.uniform(-1e3, 1e3, n) * 10.0 ** rng.integers(-3, 4, n))
    b = np.where(pick[1], rng.choice(special, n), rng.uniform(-10, 10, n) * 10.0 ** rng.integers(-6, 2, n))
    a, b = a.astype(dtype), b.astype(dtype)
    with np.errstate(all="ignore"):
        a[:200] = (b[:200] * dtype(5)).astype(dtype)  # exact multiples
    x, y = ts.asarray(a, device=device), ts.asarray(b, device=device)
    sx, sy = ts.asarray(np.repeat(a, 2), device=device)[::2], ts.asarray(np.repeat(b, 2), device=device)[::2]
    assert not sx.is_contiguous
    bits = np.int32 if dtype == np.float32 else np.int16

    def same(got, want):
        got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
        ok = (got.view(bits) == want.view(bits)) | (np.isnan(got) & np.isnan(want))
        return ok.all()

    for op in (ts.floor_divide, ts.remainder):
        assert same(op(x, y).numpy(), op(sx, sy).numpy()), op.__name__
        for k in (0, 7, 4100):  # a scalar operand: a[k] with b, and a with b[k]
            assert same(op(float(a[k]), y).numpy(), op(float(a[k]), sy).numpy()), (op.__name__, a[k])
            assert same(op(x, float(b[k])).numpy(), op(sx, float(b[k])).numpy()), (op.__name__, b[k])
    with np.errstate(all="ignore"):
        assert same(ts.remainder(x, y).numpy(), np.remainder(a, b))


def test_float_remainder_and_floor_divide_are_numpys_bit_for_bit(device, rng):
    """Note [Fast float fmod] (kernels/ops_common.h): float32's fmod through a double quotient below 2^24, libm's
    beyond: NumPy's remainder and floor_divide exactly, for quotients near every power of two up to 2^30, exact
    multiples, tiny and subnormal divisors, signed zeros, infinities and NaN."""
    a = np.concatenate([rng.uniform(-1e3, 1e3, 20_000), rng.standard_normal(5_000) * 1e30,
                        2.0 ** rng.integers(-30, 30, 5_000) * rng.choice([-1, 1], 5_000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3e38, 7.0, -7.0, 16777217.0]]).astype(np.float32)
    b = np.concatenate([rng.uniform(-10, 10, 20_000), rng.standard_normal(5_000),
                        2.0 ** rng.integers(-30, 30, 5_000),
                        [3.0, 3.0, 2.0, 2.0, 1.0, 1e-45, 1e-45, 0.0, np.inf, 1.0]]).astype(np.float32)
    b[:100] = a[:100] / 7.0  # exact and near-exact multiples
    x, y = ts.asarray(a, device=device), ts.asarray(b, device=device)
    with np.errstate(all="ignore"):
        want_r = np.remainder(a, b)
    got_r = ts.remainder(x, y).numpy()
    same = (got_r.view(np.int32) == want_r.view(np.int32)) | (np.isnan(got_r) & np.isnan(want_r))
    assert same.all(), list(zip(a[~same][:4], b[~same][:4], got_r[~same][:4], want_r[~same][:4]))
    finite = np.isfinite(a) & np.isfinite(b) & (b != 0)  # the standard's infinite cases differ from NumPy's
    with np.errstate(all="ignore"):
        want_d = np.floor_divide(a[finite], b[finite])
    got_d = ts.floor_divide(x, y).numpy()[finite]
    same = (got_d == want_d) | (np.isnan(got_d) & np.isnan(want_d))
    assert same.all(), list(zip(a[finite][~same][:4], b[finite][~same][:4], got_d[~same][:4], want_d[~same][:4]))
