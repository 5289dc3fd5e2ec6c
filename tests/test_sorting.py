"""sort, argsort, searchsorted and the set functions on every device, against NumPy (the conformance samples run in
tests/test_ops.py; these are the cases named in the issue, written out, and the paths the samples do not reach:
the OpenCL network's block sizes, the gradient, the cuda adapters, the errors)."""

import doctest

import array_api_strict as xp
import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch.testing import reference

ALL = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")


def _supported(device, dtype):
    return ts.dtype(dtype) in device.supported_dtypes()


def _up(x, device):
    return ts.asarray(np.asarray(x), device=device)


# -- order: ties, NaN, signed zeros, edges --------------------------------------------------------------------------

@pytest.mark.parametrize("descending", [False, True])
def test_ties_keep_their_order_in_both_directions(device, descending):
    x = np.array([2, 1, 2, 0, 1, 2, 0, 1], np.int32)
    got = ts.argsort(_up(x, device), descending=descending).tolist()
    order = sorted(range(len(x)), key=lambda i: x[i], reverse=descending)  # Python's sort is stable both ways
    assert got == order
    assert got == np.asarray(xp.argsort(xp.asarray(x), descending=descending)).tolist()  # array-api-strict's


def test_nan_last_ascending_first_descending_and_signed_zeros_equal(device):
    x = np.array([0.0, np.nan, -0.0, 1.0, -np.inf, np.nan, 0.0, -0.0, np.inf, -1.0], np.float32)
    t = _up(x, device)
    assert ts.argsort(t).tolist() == [4, 9, 0, 2, 6, 7, 3, 8, 1, 5]
    assert ts.argsort(t, descending=True).tolist() == [1, 5, 8, 3, 0, 2, 6, 7, 9, 4]
    for descending in (False, True):
        values = ts.sort(t, descending=descending).numpy()
        expected = reference.sort(x, descending=descending)
        assert values.tobytes() == expected.tobytes()  # the zeros' signs too: stable, not flipped
    assert np.signbit(ts.sort(t, descending=True).numpy()[4:8]).tolist() == [False, True, False, True]


@pytest.mark.parametrize("dtype", ALL)
def test_every_dtype_with_its_edges(device, dtype):
    if not _supported(device, dtype):
        pytest.skip(f"{device} does not store {dtype}")
    rng = np.random.default_rng(1)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        x = rng.random(200) < 0.5
    elif dt.kind == "f":
        fi = np.finfo(dt)
        x = rng.permutation(np.tile(np.array([np.nan, np.inf, -np.inf, 0, -0.0, fi.max, -fi.max, fi.tiny, 1, -1],
                                             dt), 20))
    else:
        info = np.iinfo(dt)
        x = rng.permutation(np.tile(np.array([info.min, info.max, 0, 1, info.min + 1, info.max - 1], dt), 30))
    for descending in (False, True):
        got = ts.argsort(_up(x, device), descending=descending).numpy()
        np.testing.assert_array_equal(got, reference.argsort(x, descending=descending))
        assert got.dtype == np.int64
        values = ts.sort(_up(x, device), descending=descending).numpy()
        assert values.dtype == dt and values.tobytes() == reference.sort(x, descending=descending).tobytes()


# -- shapes and layouts ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 257, 511, 512, 513, 1025, 4097, 40_009])
def test_row_lengths_around_powers_of_two(device, n):
    """OpenCL pads each row to a power of two and runs its network in blocks of 2 * work-group size: every length
    around those sizes, one row and three at once."""
    rng = np.random.default_rng(n)
    x = rng.integers(-50, 50, (3, n)).astype(np.float32)
    got = ts.argsort(_up(x, device), axis=-1).numpy()
    np.testing.assert_array_equal(got, reference.argsort(x, -1))
    got = ts.sort(_up(x[1], device), descending=True).numpy()
    np.testing.assert_array_equal(got, reference.sort(x[1], descending=True))


def test_big_rows_and_many_short_rows_on_threads(device):
    rng = np.random.default_rng(2)
    big = rng.standard_normal(300_007).astype(np.float64)
    np.testing.assert_array_equal(ts.argsort(_up(big, device)).numpy(), reference.argsort(big))
    short = rng.integers(0, 5, (50_000, 3)).astype(np.int16)  # rows past the grain, each with ties
    np.testing.assert_array_equal(ts.argsort(_up(short, device), descending=True).numpy(),
                                  reference.argsort(short, descending=True))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_any_axis_of_non_contiguous_inputs(device, axis):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 6, (6, 8, 10)).astype(np.float32)
    views = {"transposed": (lambda t: t.permute_dims((2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
             "strided": (lambda t: t[::2, :, 1::3], lambda a: a[::2, :, 1::3]),
             "reversed": (lambda t: t[::-1, ::-1], lambda a: a[::-1, ::-1])}
    for name, (view, np_view) in views.items():
        t, a = view(_up(base, device)), np_view(base)
        for descending in (False, True):
            got = ts.argsort(t, axis=axis, descending=descending)
            np.testing.assert_array_equal(got.numpy(), reference.argsort(a, axis, descending), err_msg=name)
            np.testing.assert_array_equal(ts.sort(t, axis=axis, descending=descending).numpy(),
                                          reference.sort(a, axis, descending), err_msg=name)


def test_empty_and_zero_d(device):
    for shape, axis in [((0,), 0), ((3, 0), -1), ((0, 4), 0), ((0, 4), 1)]:
        t = ts.zeros(shape, dtype=ts.float32, device=device)
        assert ts.sort(t, axis=axis).shape == shape and ts.argsort(t, axis=axis).dtype == ts.int64
    with pytest.raises(ts.AxisError, match="0-d"):
        ts.sort(ts.asarray(1.0, device=device))
    with pytest.raises(ts.AxisError, match="argsort"):
        ts.argsort(ts.zeros((2, 3), device=device), axis=-3)


def test_stable_false_is_accepted_and_arguments_are_keyword_only(device):
    t = _up(np.array([1, 0, 1, 0]), device)
    assert ts.argsort(t, stable=False).tolist() == [1, 3, 0, 2]
    with pytest.raises(TypeError):
        ts.sort(t, -1)
    with pytest.raises(TypeError, match="descending must be a bool"):
        ts.sort(t, descending=None)


def test_errors_name_the_op_device_and_dtype():
    limited = ts.device("limited")  # float32 and bool only, and no sort kernel (tests/limited_backend.py)
    x = ts.ones((3,), dtype=ts.float32, device=limited)
    with pytest.raises(ts.KernelNotFoundError) as info:
        ts.sort(x)
    assert all(w in str(info.value) for w in ("sort", "limited", "float32"))
    with pytest.raises(ts.UnsupportedDtypeError) as info:
        ts.argsort(x)
    assert all(w in str(info.value) for w in ("argsort", "limited", "int64"))
    with pytest.raises(TypeError, match="sort: expected a tensor"):
        ts.sort(np.ones(3))


# -- searchsorted ---------------------------------------------------------------------------------------------------

def test_searchsorted_against_numpy(device):
    rng = np.random.default_rng(4)
    x1 = np.sort(np.concatenate([rng.integers(0, 20, 40).astype(np.float64), [np.nan, np.nan, -0.0, 0.0]]))
    x2 = np.concatenate([rng.integers(-2, 23, 30).astype(np.float64), [np.nan, -0.0, 0.0, np.inf, -np.inf]])
    for side in ("left", "right"):
        got = ts.searchsorted(_up(x1, device), _up(x2, device), side=side)
        assert got.dtype == ts.int64
        np.testing.assert_array_equal(got.numpy(), np.searchsorted(x1, x2, side=side))
        unsorted = rng.permutation(x1)
        order = np.argsort(unsorted, kind="stable")
        got = ts.searchsorted(_up(unsorted, device), _up(x2.reshape(5, 7), device).mT, side=side,
                              sorter=_up(order.astype(np.int32), device))
        np.testing.assert_array_equal(got.numpy(), np.searchsorted(unsorted, x2.reshape(5, 7).T, side=side,
                                                                   sorter=order))
    assert ts.searchsorted(_up(np.array([1, 2, 3], np.int8), device), 2, side="right").item() == 2
    mixed = ts.searchsorted(_up(np.array([1, 2, 3], np.int8), device), _up(np.array([2.5]), device))
    assert mixed.tolist() == [2]  # promoted to float64 first, as NumPy does


def test_searchsorted_errors(device):
    x1 = _up(np.arange(5.0), device)
    with pytest.raises(ts.ShapeError, match="1-D"):
        ts.searchsorted(ts.reshape(x1[:4], (2, 2)), x1)
    with pytest.raises(ValueError, match="side"):
        ts.searchsorted(x1, x1, side="up")
    with pytest.raises(TypeError, match="integer dtype"):
        ts.searchsorted(x1, x1, sorter=x1)
    with pytest.raises(ts.ShapeError, match="sorter"):
        ts.searchsorted(x1, x1, sorter=_up(np.arange(4), device))
    with pytest.raises(IndexError, match="out of bounds"):
        ts.searchsorted(x1, x1, sorter=_up(np.array([0, 1, 2, 3, -1]), device))
    if device.type != "cpu":
        with pytest.raises(ts.DeviceMismatchError):
            ts.searchsorted(x1, ts.asarray([1.0], dtype=x1.dtype, device="cpu"))


# -- the gradient ---------------------------------------------------------------------------------------------------

def test_sort_gradient_matches_torch(device):
    rng = np.random.default_rng(5)
    x = rng.permutation(np.arange(24.0)).reshape(2, 3, 4) / 4
    w = rng.standard_normal((2, 3, 4))
    for axis, descending in [(1, False), (-1, True), (0, True)]:
        t = ts.asarray(x, dtype=ts.float32, device=device, requires_grad=True)
        (ts.sort(t, axis=axis, descending=descending) * ts.asarray(w, dtype=ts.float32, device=device)).sum() \
            .backward()
        tt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        (torch.sort(tt, dim=axis, descending=descending, stable=True).values * torch.tensor(w, dtype=torch.float32)) \
            .sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-6)


# -- the cuda adapters, run with NumPy standing in for CuPy ------------------------------------------------------

def test_cuda_adapters_with_numpy_for_cupy(monkeypatch):
    """backends/cuda.py's sort, argsort and searchsorted call CuPy's library routines on views of our tensors;
    with NumPy standing in for CuPy (cpu tensors for device memory, written through their NumPy views), their
    argument handling and the descending construction are checked without a GPU."""
    import contextlib

    from tensorswitch.backends import cuda

    monkeypatch.setattr(cuda, "_cp", np)
    monkeypatch.setattr(cuda, "_sorting_view", _host_view)
    monkeypatch.setattr(cuda, "_sorting_stream", lambda t: contextlib.nullcontext())
    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, (5, 6)).astype(np.float32)
    x[1, 2] = np.nan
    for axis in (0, 1):
        for descending in (False, True):
            src = ts.asarray(x).mT
            out = ts.empty(src.shape, dtype=ts.int64)
            cuda._sort(False)(out, src, axis, descending)
            np.testing.assert_array_equal(out.numpy(), reference.argsort(x.T, axis, descending))
            out = ts.empty(src.shape, dtype=ts.float32)
            cuda._sort(True)(out, src, axis, descending)
            np.testing.assert_array_equal(out.numpy(), reference.sort(x.T, axis, descending))
    x1 = ts.asarray(np.array([3.0, 1.0, 2.0, np.nan]))
    x2 = ts.asarray(np.array([[2.0, np.nan], [0.0, 5.0]]))
    out = ts.empty((2, 2), dtype=ts.int64)
    cuda.searchsorted(out, x1, x2, True, ts.asarray(np.array([1, 2, 0, 3])))
    assert out.tolist() == [[2, 4], [0, 3]]
    assert {e.op for e in ts.registry.kernels(device="cuda")} >= {"sort", "argsort", "searchsorted"}


class _HostView(np.ndarray):
    """A NumPy stand-in for a CuPy array over a cpu tensor: reads see its values, ``[...] = v`` writes the tensor."""


def _host_view(t):
    view = t.numpy().view(_HostView)
    view.tensor = t
    return view


def _write(self, key, value):
    np.ndarray.__setitem__(self, key, value)
    self.tensor[...] = ts.asarray(np.ascontiguousarray(self))


_HostView.__setitem__ = _write


# -- the set functions ----------------------------------------------------------------------------------------------

def _needs_set_kernels(device):
    """unique_* compose argsort, take_along_axis, nonzero, cumulative_sum and scatter_add: where the device lacks one
    of those kernels (they land with other parts of issue 8), the set functions cannot run there yet."""
    missing = [op for op in ("argsort", "take_along_axis", "nonzero", "cumsum", "scatter_add")
               if op in ts.OPS and not ts.registry.has_kernel(op, device, ts.int64)]
    if missing or "nonzero" not in ts.OPS:
        pytest.skip(f"{device} has no {', '.join(missing) or 'nonzero'} kernel yet")


@pytest.mark.parametrize("dtype", ALL)
def test_unique_functions_against_numpy(device, dtype):
    _needs_set_kernels(device)
    if not _supported(device, dtype):
        pytest.skip(f"{device} does not store {dtype}")
    rng = np.random.default_rng(7)
    dt = np.dtype(dtype)
    x = (rng.random((6, 7)) < 0.5) if dt.kind == "b" else rng.integers(0, 9, (6, 7)).astype(dt)
    if dt.kind == "f":
        x[0, :3] = np.nan
        x[1, :2] = -0.0
        x[2, :2] = 0.0
    for what, t, a in [("contiguous", _up(x, device), x), ("transposed", _up(x, device).mT, x.T),
                       ("0-d", _up(x[0, 4], device), x[0, 4]), ("empty", _up(x[:0], device), x[:0])]:
        got, want = ts.unique_all(t), np.unique_all(a)
        assert type(got).__name__ == "UniqueAllResult" and got._fields == want._fields, what
        for field in want._fields:
            g, w = getattr(got, field), getattr(want, field)
            assert g.dtype.numpy == (w.dtype if field == "values" else np.int64), (what, field)
            np.testing.assert_array_equal(g.numpy(), w, err_msg=f"{what} {field}")
        counts, inverse = ts.unique_counts(t), ts.unique_inverse(t)
        assert counts._fields == ("values", "counts") and inverse._fields == ("values", "inverse_indices")
        np.testing.assert_array_equal(counts.counts.numpy(), want.counts, err_msg=what)
        np.testing.assert_array_equal(inverse.inverse_indices.numpy(), want.inverse_indices, err_msg=what)
        assert inverse.inverse_indices.shape == a.shape
        # NumPy 2.3's unique_values may come unsorted (it hashes); ours are sorted, as its unique_all's are
        np.testing.assert_array_equal(ts.unique_values(t).numpy(), want.values, err_msg=what)


def test_unique_nans_are_each_distinct_and_signed_zeros_one(device):
    _needs_set_kernels(device)
    x = _up(np.array([np.nan, 0.0, -0.0, np.nan, 1.0, 0.0]), device)
    r = ts.unique_all(x)
    assert r.values.numpy().tolist()[:2] == [0.0, 1.0] and np.isnan(r.values.numpy()[2:]).all()
    assert r.counts.tolist() == [3, 1, 1, 1] and r.indices.tolist() == [1, 4, 0, 3]
    assert r.inverse_indices.tolist() == [2, 0, 0, 3, 1, 0]
    with pytest.raises(TypeError, match="unique_values: expected a tensor"):
        ts.unique_values([1, 2])


# -- docs -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tensorswitch.dispatch.sorting", "tensorswitch.dispatch.set_functions"])
def test_docstring_examples(name):
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
