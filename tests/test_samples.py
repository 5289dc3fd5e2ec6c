"""The shared sample database itself: deterministic, tolerances tight enough to catch one wrong element, references
that follow the documented semantics, and the samples each kind of kernel bug needs."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.kernels import optable
from tensorswitch.testing import reference, samples

CPU = ts.device("cpu")
FLOATS = ("float16", "float32", "float64")


def _all(op, dtype):
    return list(samples.samples(op, dtype, CPU))


# -- determinism ----------------------------------------------------------------------------------------------------

DIGEST = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    import tensorswitch as ts
    from tensorswitch.testing import samples
    h = hashlib.sha256()
    for op, dt in [("add", "float32"), ("sum", "float16"), ("matmul", "int32"), ("softmax", "float64"),
                   ("astype", "float32"), ("argmax", "int8")]:
        for s in samples.samples(op, dt, ts.device("cpu")):
            h.update(s.what.encode())
            for v in list(s.inputs.values()) + [s.expected]:
                h.update(np.asarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    print(h.hexdigest())
""")


def test_samples_are_the_same_in_every_process():
    """Seeds come from zlib.crc32 of the op's name, not from hash(), which Python randomises per process."""
    digests = set()
    for hash_seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": hash_seed})
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


# -- comparison -----------------------------------------------------------------------------------------------------

def test_a_failure_lists_the_positions_that_differ():
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = expected.copy()
    got[0, 1], got[2, 3], got[1, 0] = 100, np.nan, -np.inf
    with pytest.raises(samples.Failure) as info:
        samples.compare(ts.asarray(got), expected, CPU, "the sample")
    text = str(info.value)
    assert text.startswith("the sample: 3 of 12 values differ")
    assert "at (0, 1) got 100.0, expected 1.0" in text and "at (1, 0) got -inf, expected 4.0" in text
    assert "at (2, 3) got nan, expected 11.0" in text
    ints = np.arange(20, dtype=np.int64)
    with pytest.raises(samples.Failure, match=r"1 of 20 values differ: at \(7,\) got -1, expected 7$"):
        samples.compare(ts.asarray(np.where(ints == 7, -1, ints)), ints, CPU, "ints")


def test_compare_accepts_the_same_nan_and_infinity_and_refuses_the_wrong_infinity():
    x = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    samples.compare(ts.asarray(x), x, CPU, "same")
    with pytest.raises(samples.Failure, match="at \\(1,\\) got -inf, expected inf"):
        samples.compare(ts.asarray(x * np.array([1, -1, 1, 1], np.float32)), x, CPU, "sign")
    with pytest.raises(samples.Failure, match="at \\(2,\\) got 3.39+.*e\\+38, expected -inf$"):
        samples.compare(ts.asarray(np.array([np.nan, np.inf, 3.4e38, 1.0], np.float32)), x, CPU, "finite")


def test_a_sample_failure_says_which_sample_out_of_how_many():
    failure = samples.SampleFailure("add", "float32", 7, "add(strided (6,), (6,))", samples.Failure("x: differs"))
    assert failure.index == 7 and failure.what == "add(strided (6,), (6,))"
    assert str(failure).startswith("sample 7 of add/float32 failed (6 passed before it)")


# -- tolerances: one dropped or doubled element must fail -------------------------------------------------------------

def _reduced_elements(x, axis):
    """x with the reduced axes last, flattened into one: (outputs..., extent)."""
    axes = list(range(x.ndim)) if axis is None else [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, keep + axes)
    return moved.reshape([x.shape[i] for i in keep] + [-1])


def _float_reduction_samples(op):
    for dt in FLOATS:
        for s in _all(op, dt):
            x = s.inputs.get("x")
            if x is None or x.size == 0 or not np.all(np.isfinite(x)) or s.expected is None:
                continue
            yield dt, s


@pytest.mark.parametrize("op", ["sum", "prod"])
def test_one_dropped_or_doubled_element_fails_every_float_sum_and_product(op):
    checked = 0
    for dt, s in _float_reduction_samples(op):
        x, axis = s.inputs["x"], s.inputs["axis"]
        flat = _reduced_elements(x.astype(np.float64), axis)
        # the element whose loss is hardest to see: the smallest in magnitude (for a product, the closest to 1)
        pick = np.argmin(np.abs(flat) if op == "sum" else np.abs(np.log(np.abs(flat))), axis=-1)
        chosen = np.take_along_axis(flat, pick[..., None], axis=-1)[..., 0]
        true = flat.sum(axis=-1) if op == "sum" else flat.prod(axis=-1)
        variants = {"dropped": true - chosen, "doubled": true + chosen} if op == "sum" else \
            {"dropped": true / chosen, "doubled": true * chosen}
        for name, wrong in variants.items():
            got = ts.asarray(np.asarray(wrong).astype(dt).reshape(s.expected.shape))
            with pytest.raises(samples.Failure):
                samples.compare(got, s.expected, CPU, f"{s.what} with one element {name}", s.atol, s.rtol)
        # and honest answers pass: float64 rounded once, or float32 (float64) accumulated in order
        samples.compare(ts.asarray(np.asarray(true).astype(dt).reshape(s.expected.shape)), s.expected, CPU, s.what,
                        s.atol, s.rtol)
        acc = np.float64 if dt == "float64" else np.float32
        naive = np.add.accumulate if op == "sum" else np.multiply.accumulate
        sequential = naive(_reduced_elements(x.astype(acc), axis), axis=-1)[..., -1]
        samples.compare(ts.asarray(sequential.astype(dt).reshape(s.expected.shape)), s.expected, CPU,
                        f"{s.what} accumulated in order", s.atol, s.rtol)
        checked += 1
    assert checked >= 3 * 15


def test_dropping_the_last_k_fails_every_float_matmul():
    checked = 0
    for dt in FLOATS:
        for s in _all("matmul", dt):
            a, b = s.inputs["args"][:2]
            if a.shape[-1] == 0 or 0 in s.expected.shape:
                continue
            if s.what.startswith("matmul(broadcast_to"):
                a = np.broadcast_to(a, (4,) + a.shape[1:])
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            short_b = b64[:-1] if b.ndim == 1 else b64[..., :-1, :]
            wrong = np.matmul(a64[..., :-1], short_b) if a.shape[-1] > 1 else np.zeros(s.expected.shape)
            with pytest.raises(samples.Failure):
                samples.compare(ts.asarray(wrong.astype(dt)), s.expected, CPU, s.what, s.atol, s.rtol)
            samples.compare(ts.asarray(np.matmul(a64, b64).astype(dt)), s.expected, CPU, s.what, s.atol, s.rtol)
            checked += 1
    assert checked > 60


# -- the references -------------------------------------------------------------------------------------------------

def test_softmax_reference_is_pytorchs_on_special_rows():
    x = np.array([[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.nan, 1.0, 2.0], [0.0, -np.inf, 1.0]])
    sm = reference.softmax(x, -1)
    assert np.isnan(sm[:3]).all()
    np.testing.assert_allclose(sm[3], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)])
    lsm = reference.softmax(x, -1, log=True)
    assert np.isnan(lsm[:3]).all() and lsm[3, 1] == -np.inf
    torch = pytest.importorskip("torch")
    for log in (False, True):
        fn = torch.log_softmax if log else torch.softmax
        expected = fn(torch.from_numpy(samples.SOFTMAX_SPECIALS), dim=-1).numpy()
        np.testing.assert_allclose(reference.softmax(samples.SOFTMAX_SPECIALS, -1, log), expected, rtol=1e-12)


def test_integer_references_follow_ops_common():
    i8 = np.int8
    a = np.array([-128, -7, 7, -7, 5, 0], i8)
    b = np.array([-1, 2, -2, -2, 0, 0], i8)
    assert reference.ELEMENTWISE["floor_divide"](a, b).tolist() == [-128, -4, -4, 3, 0, 0]
    assert reference.ELEMENTWISE["remainder"](a, b).tolist() == [0, 1, -1, -1, 0, 0]
    base = np.array([1, -1, -1, 2, 0, -2], i8)
    exp = np.array([-3, -3, -2, -1, -1, -2], i8)
    assert reference.ELEMENTWISE["pow"](base, exp).tolist() == [1, -1, 1, 0, 0, 0]


# -- the database has what each kind of bug needs --------------------------------------------------------------------

def _whats(op, dtype):
    return [s.what for s in _all(op, dtype)]


def test_binary_ops_have_overlapping_in_place_mixed_dtype_and_scalar_samples():
    whats = _whats("subtract", "int16")
    for text in ("x -= x.T", "x[1:] -= x[:-1]", "x[::2] -= x[1::2]", "x -= x[::-1]"):
        assert any(w.startswith(text) for w in whats), text
    # every ordered pair of dtypes, once, in the cell of the dtype it computes in (NumPy 2's promotion); a pair that
    # computes in a complex dtype the op does not take (less of bool and complex64) checks the clear error instead,
    # once, in the cell of its real operand
    names = [d.name for d in ts._DTYPES]
    for op in ("subtract", "less", "divide", "maximum", "atan2"):
        cells = [w for dt in names if ts.registry.has_kernel(op, CPU, ts.dtype(dt)) for w in _whats(op, dt)]
        found = [w for w in cells if " (4,)) computes in " in w]
        refused = [w for w in cells if " (4,)) raises: no " in w]
        for a in names:
            for b in names:
                if a != b:
                    compute = np.promote_types(a, b)
                    if optable.ELEMENTWISE[op].to_float and compute.kind not in "fc":
                        compute = np.dtype("float32")  # Note [Type promotion]: divide computes in float
                    computes = f"{op}({a} (3, 4), {b} (4,)) computes in {compute}"
                    raises = f"{op}({a} (3, 4), {b} (4,)) raises: no {compute} kernel"
                    if compute.name in optable.ELEMENTWISE[op].dtypes:
                        assert found.count(computes) == 1 and raises not in refused, (op, a, b)
                    else:
                        real = [d for d in (a, b)
                                if "complex" not in d and ts.registry.has_kernel(op, CPU, ts.dtype(d))]
                        assert computes not in found and refused.count(raises) == len(real), (op, a, b)
    assert "subtract(int16 (5, 7), 2.5) computes in float32" in _whats("subtract", "float32")  # int with a float
    assert "subtract(3, int16 (5, 7)) computes in int16" in whats
    assert "subtract(int16 (3, 4), 32768) raises OverflowError" in whats
    assert "less(uint8 (3, 4), -1) with the int out of range" in _whats("less", "uint8")
    assert "add(float16 (5, 7), 2.5) computes in float16" in _whats("add", "float16")
    assert "add(bool (5, 7), 3) computes in int64" in _whats("add", "int64")


def test_reductions_take_every_parallel_path_and_check_keepdims_ties_and_nans():
    shapes = {(s.inputs["x"].shape, s.inputs["axis"], s.inputs["layout"]) for s in _all("sum", "float32")
              if "x" in s.inputs and "layout" in s.inputs}
    for case in samples.LONG_REDUCTIONS:
        assert case in shapes
    arg = {s.what: s for s in _all("argmax", "float32")}
    kept = [s for w, s in arg.items() if "axis=None, keepdims=True" in w]
    assert kept and all(s.expected.shape == (1,) * s.inputs["x"].ndim for s in kept)
    assert any("axis=-1, keepdims=True" in w or "axis=-2, keepdims=True" in w for w in arg)
    ties = [s for w, s in arg.items() if w.startswith("argmax(three equal extremes")]
    assert ties and ties[0].expected.item() == 17
    nans = [s for w, s in arg.items() if w.startswith("argmax(NaNs in contiguous (100003,)")]
    assert nans and nans[0].expected.item() == samples.LARGE // 3


def test_softmax_matmul_and_broadcast_samples_reach_the_boundaries():
    soft = _all("softmax", "float32")
    large = [s for s in soft if s.inputs["args"][0].size >= 32768]
    assert {s.inputs["axis"] for s in large} >= {-1, 0}
    assert any("transposed" in s.what for s in soft) and any("strided" in s.what for s in soft)
    assert any(np.isnan(s.expected).all(axis=-1).any() for s in soft if "+inf" in s.what)
    ks = {s.inputs["args"][0].shape[-1] for s in _all("matmul", "float32")}
    assert {1, 17, 33, 65} <= ks
    shapes = {tuple(np.shape(a) for a in s.inputs["args"]) for s in _all("add", "float32") if "args" in s.inputs}
    for pair in [((0,), ()), ((0, 3), (3,)), ((2, 0), (2, 1)), ((0,), (1,))]:
        assert pair in shapes, pair


def test_float_to_integer_and_rounding_samples():
    whats = _whats("astype", "float64")
    for dst in ("int8", "int16", "int32", "int64", "uint8", "bool"):
        assert f"astype(float64 -> {dst}) of NaN, inf, huge and integer-edge values" in whats
    edges = samples.cast_edges(np.float64)
    for v in (2.0 ** 31, -2.0 ** 31, 2.0 ** 63, 1e10, -1.38e16, 300.7):
        assert v in edges
    assert np.isnan(edges).any() and np.isinf(edges).sum() == 2
    x = samples.float16_rounding_edges(np.float64)[:1]
    assert x[0] == 65519.999 and x.astype(np.float16)[0] == 65504  # one rounding; through float32 it is inf
    with np.errstate(over="ignore"):
        assert np.isinf(x.astype(np.float32).astype(np.float16)[0])
    assert "astype(int64 -> float32) of large integers rounds once" in _whats("astype", "int64")
