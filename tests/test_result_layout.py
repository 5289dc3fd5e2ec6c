"""Elementwise results take their inputs' layout when the inputs share one dense dim order (Note [Elementwise result
layout] in dispatch/dispatcher.py), as NumPy's ``order='K'`` does, and the kernels walk every operand in memory order
(Note [Elementwise dimension order] in kernels/cpu/loops.h, ``coalesce(by_output=True)`` for opencl and cuda).  On
every device: the values are NumPy's for permuted, flipped, sliced, broadcast and mixed layouts, in and out of place;
the result's dim order is NumPy's where NumPy's is unambiguous; and such results behave as any tensor afterwards
(reshape, reductions, matmul, autograd)."""

import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch.dispatch.backend import coalesce
from tensorswitch.dispatch.dispatcher import dense_order_strides


def _host(rng, shape, dtype=np.float32):
    return (rng.standard_normal(shape) * 3).astype(dtype)


def _order(strides):
    """The dims from the largest stride to the smallest (the memory order of a dense layout)."""
    return sorted(range(len(strides)), key=lambda i: -abs(strides[i]))


def _check(got, want):
    np.testing.assert_array_equal(got.numpy(), want)
    assert got.shape == want.shape


def test_dense_order_strides():
    assert dense_order_strides((3, 4), (1, 3)) == (1, 3)
    assert dense_order_strides((2, 3, 4), (1, 8, 2)) == (1, 8, 2)
    assert dense_order_strides((3, 4), (-4, 1)) == (4, 1)  # flipped: the same order, positive strides
    assert dense_order_strides((3, 4), (1, 6)) is None  # a gap between columns
    assert dense_order_strides((3, 4), (0, 1)) is None  # a broadcast
    assert dense_order_strides((3, 1, 4), (1, 99, 3)) is not None  # size-1 dims do not matter
    assert coalesce((4, 3), ((1, 4), (1, 4)), by_output=True) == ([12], [[1], [1]])
    assert coalesce((4, 3), ((1, 4), (1, 4))) == ([4, 3], [[1, 4], [1, 4]])  # C order unless asked


@pytest.mark.parametrize("shape, axes", [((3, 4), (1, 0)), ((40, 70), (1, 0)), ((2, 3, 5), (2, 0, 1)),
                                         ((4, 1, 6), (2, 1, 0))])
def test_permuted_inputs_give_a_result_in_their_order(device, shape, axes, rng):
    ha, hb = _host(rng, shape), _host(rng, shape)
    a = ts.permute_dims(ts.asarray(ha, device=device), axes)
    b = ts.permute_dims(ts.asarray(hb, device=device), axes)
    na, nb = np.transpose(ha, axes), np.transpose(hb, axes)
    for got, want in ((a + b, na + nb), (a * 2.0, na * np.float32(2.0)), (3.0 - a, np.float32(3.0) - na),
                      (ts.negative(a), -na), (ts.abs(a), np.abs(na)), (a < b, na < nb)):
        _check(got, want)
        if got.ndim and not got.is_contiguous:
            assert _order(got.strides) == _order(tuple(s // want.itemsize for s in want.strides))
    y = a + b
    if not y.is_contiguous:  # the result is dense in a's order
        assert dense_order_strides(y.shape, y.strides) == y.strides


def test_mixed_gapped_and_flipped_layouts(device, rng):
    h = _host(rng, (6, 8))
    g = _host(rng, (8, 6))
    x, w = ts.asarray(h, device=device), ts.asarray(g, device=device)
    _check(x.T + w, h.T + g)  # mixed: C order, as NumPy
    assert (x.T + w).is_contiguous and (w + x.T).is_contiguous
    _check(x[:, ::2].T + x[:, 1::2].T, h[:, ::2].T + h[:, 1::2].T)
    # gaps in a permuted order: the inputs' memory order, as NumPy (order='K') and PyTorch give it
    got, want = x[:, ::2].T * x[:, ::2].T, h[:, ::2].T * h[:, ::2].T
    assert not got.is_contiguous and want.flags.f_contiguous
    assert got.strides == tuple(s // want.itemsize for s in want.strides)
    assert ts.exp(x[:, ::2].T).strides == got.strides
    assert (x[:, :5] + x[:, :5]).is_contiguous  # gaps in C order: C order
    _check(x[::-1].T + x[::-1].T, h[::-1].T + h[::-1].T)  # flipped and permuted
    _check(x[::-1, ::-1] * 2.0, h[::-1, ::-1] * np.float32(2.0))
    _check(ts.where(x.T > 0, x.T, w), np.where(h.T > 0, h.T, g))
    _check(ts.where(x.T > 0, x.T, x.T * 2.0), np.where(h.T > 0, h.T, h.T * np.float32(2.0)))
    _check(x.T.astype(ts.float64), h.T.astype(np.float64))


def test_in_place_on_permuted_targets(device, rng):
    h, g = _host(rng, (5, 7)), _host(rng, (5, 7))
    x, w = ts.asarray(h, device=device), ts.asarray(g, device=device)
    t = x.T
    t += w.T  # the target walks in its own memory order
    _check(x, h + g)
    t *= 2.0
    _check(x, (h + g) * np.float32(2.0))
    t[...] = w[:, ::-1].T  # a copy into a permuted target from a flipped source
    _check(x, g[:, ::-1])
    t[...] = 1.5
    _check(x, np.full((5, 7), 1.5, np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_in_place_with_a_broadcast_operand(device, rng, dtype):
    """``target op= smaller`` (a bias added to a batch: the in-place fast path with binary_op's broadcast plan) into
    contiguous, permuted and strided targets, each op of the family; and what must still take the checked path: a
    shape that would grow the target, an operand that shares the target's memory, another dtype."""
    layouts = (((4, 6, 5), lambda a: a, lambda a: a),  # (base shape, ts view, NumPy view): contiguous,
               ((5, 4, 6), lambda a: a.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0)),  # permuted,
               ((4, 12, 5), lambda a: a[:, ::2], lambda a: a[:, ::2]))  # strided
    for operand in (_host(rng, (5,)), _host(rng, (6, 1)), _host(rng, (1, 6, 5)), _host(rng, (4, 1, 1))):
        operand = operand.astype(dtype)
        for shape, ts_view, np_view in layouts:
            for op in ("__iadd__", "__isub__", "__imul__"):
                base = _host(rng, shape).astype(dtype)
                x = ts.asarray(base, device=device)
                t = ts_view(x)
                got = getattr(t, op)(ts.asarray(operand, device=device))
                getattr(np_view(base), op)(operand)  # NumPy's in place, into its own base
                assert got is t
                _check(x, base)  # the target's elements changed, and only those
    h = _host(rng, (4, 6, 5)).astype(dtype)
    x = ts.asarray(h, device=device)
    with pytest.raises(ts.ShapeError, match="in-place"):
        x[0] += ts.asarray(h, device=device)  # (6, 5) += (4, 6, 5) would grow the target
    x = ts.asarray(h, device=device)
    row = x[0, 0]  # (5,) shares x's memory: read before it is overwritten, as NumPy does
    want = h + h[0, 0]
    x += row
    _check(x, want)
    if dtype is np.float32:
        x = ts.asarray(h, device=device)
        x += ts.asarray(np.arange(5, dtype=np.float64), device=device)  # same kind: float64 into float32
        _check(x, (h + np.arange(5, dtype=np.float64)).astype(np.float32))


def test_permuted_results_behave_like_any_tensor(device, rng):
    h = _host(rng, (6, 4))
    x = ts.asarray(h, device=device)
    y = x.T + x.T
    n = h.T + h.T
    _check(y.reshape(-1), n.reshape(-1))  # a copy in C order
    _check(y.reshape((2, 12)), n.reshape((2, 12)))
    _check(y[1:3], n[1:3])
    np.testing.assert_allclose(ts.sum(y, axis=0).numpy(), n.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ts.sum(y, axis=1).numpy(), n.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose((y @ x).numpy(), n @ h, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ts.softmax(y, axis=-1).numpy(), torch.softmax(torch.from_numpy(n), -1).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(ts.asarray(y, device="cpu")), n)
    _check(ts.asarray(y, copy=True), n)


def test_gradients_through_permuted_results(device, rng):
    if not any(dt.name == "float64" for dt in device.supported_dtypes()):
        dt, tol = ts.float32, 1e-5
    else:
        dt, tol = ts.float64, 1e-12
    h, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    a = ts.asarray(h, dtype=dt, device=device, requires_grad=True)
    b = ts.asarray(g, dtype=dt, device=device, requires_grad=True)
    ta = torch.tensor(h, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(g, dtype=torch.float64, requires_grad=True)
    loss = ts.sum(ts.exp(a.T * b.T + 1.0) @ a)
    tloss = torch.sum(torch.exp(ta.T * tb.T + 1.0) @ ta)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=tol * 100, atol=tol * 100)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=tol * 100, atol=tol * 100)


def test_transpose_keeps_the_layout_flag(device, rng):
    """x.T of every rank says whether it is contiguous as its layout does: a strided 1-D view stays non-contiguous
    (its transpose is itself), a 0-d tensor and a contiguous vector stay contiguous, a matrix with a unit dim
    transposes to a contiguous one, and the values read through it are the NumPy ones."""
    h = rng.standard_normal((6, 8)).astype(np.float32)
    x = ts.asarray(h, device=device)
    cases = [(x[0, ::2], h[0, ::2]), (x[0], h[0]), (x[2, 3], h[2, 3]), (x[:1], h[:1]), (x, h), (x[::2, 1:], h[::2, 1:]),
             (ts.asarray(h.reshape(2, 3, 8), device=device)[:, ::2], h.reshape(2, 3, 8)[:, ::2])]
    for v, ref in cases:
        t = v.T
        assert t.is_contiguous == ref.T.flags.c_contiguous, (ref.shape, ref.strides)
        np.testing.assert_array_equal((t + 0).numpy(), ref.T + 0)
        np.testing.assert_allclose(ts.exp(t).numpy(), np.exp(ref.T), rtol=1e-6)


def test_memory_order_strides():
    from tensorswitch.dispatch.dispatcher import memory_order_strides

    assert memory_order_strides((3, 4), (1, 8)) == (1, 3)       # a slice of a transpose: F order, as NumPy's 'K'
    assert memory_order_strides((3, 4), (8, 1)) is None          # gaps in C order: C order
    assert memory_order_strides((3, 4), (0, 1)) is None          # a broadcast: C order
    assert memory_order_strides((2, 3, 4), (1, 40, 8)) == (1, 8, 2)


@pytest.mark.parametrize("op", ["sum", "max", "min", "prod", "any", "all", "argmax", "argmin"])
def test_large_strided_reductions(device, rng, op):
    """Reductions of views past opencl's copy threshold (Note [Strided reductions]) and in memory order (any_order):
    every other column, every other row, a slice of a transpose, with a NaN for max and min; against NumPy."""
    h = _host(rng, (300, 512)) * (0.01 if op == "prod" else 1)
    x = ts.asarray(h, device=device)
    views = [(x[:, ::2], h[:, ::2]), (x[::2], h[::2]), (x.T[:500, :250], h.T[:500, :250]),
             (x[::3, 1::2].T, h[::3, 1::2].T)]
    for t, n in views:
        if op in ("any", "all"):
            t, n = t > -2.5, n > -2.5
        for axis in (None, 0, 1):
            got, want = getattr(ts, op)(t, axis=axis), getattr(np, op)(n, axis=axis)
            np.testing.assert_allclose(got.numpy(), want, rtol=2e-4 if op == "prod" else 1e-5,
                                       atol=1e-3 if op == "sum" else 0)
    if op in ("max", "min"):
        h[7, 100] = np.nan
        x = ts.asarray(h, device=device)
        np.testing.assert_array_equal(getattr(ts, op)(x[:, ::2]).numpy(), getattr(np, op)(h[:, ::2]))
        np.testing.assert_array_equal(getattr(ts, op)(x.T[:, ::3], axis=0).numpy(), getattr(np, op)(h.T[:, ::3], axis=0))


@pytest.mark.parametrize("shape", [(37, 53), (64, 48), (200, 17), (33, 1000), (300, 530)])
def test_mixed_layouts_of_a_transpose(device, rng, shape):
    """A contiguous operand with a transposed one, and copies of transposes (opencl's Note [Tile kernels]: rows
    in tiles of 16, the last tile and the last column chunk partial; Note [Vector transposes]: 2 x 2 blocks of 8 x 8
    per work-item, work-groups of 8 x 16 items, (300, 530) several of them each way with partial ones at both
    edges), against NumPy."""
    h, g = _host(rng, shape), _host(rng, shape[::-1])
    big = _host(rng, (shape[1] + 3, shape[0] + 5))
    x, w, b = (ts.asarray(v, device=device) for v in (h, g, big))
    _check(x + w.T, h + g.T)
    _check(w.T - x, g.T - h)
    _check(x * b.T[:shape[0], 2:shape[1] + 2], h * big.T[:shape[0], 2:shape[1] + 2])
    _check(ts.asarray(w.T, copy=True), np.ascontiguousarray(g.T))
    _check(b.T[1:, :-3].astype(ts.float64), big.T[1:, :-3].astype(np.float64))
    _check(x[None] + w.T[None], h[None] + g.T[None])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 8), (9, 15), (16, 24), (8, 1001), (130, 9), (7, 100)])
def test_copies_of_transposes_are_exact(device, rng, dtype, shape):
    """A copy of a transposed matrix, whole, offset, a matrix of a batch or a batch of them (opencl's transpose_vec
    of Note [Vector transposes]: 8 x 8 blocks transposed in registers, the edge blocks element by element, a batch
    along its third dim), bit for bit: NaN, infinities and -0.0 moved, never computed."""
    h = rng.standard_normal((3,) + shape).astype(dtype)
    h[0, 0, 0], h[0, -1, -1], h[0, 1 % shape[0], 2] = np.nan, -0.0, np.inf
    x = ts.asarray(h, device=device)
    # a batch of them too: whole, every other matrix of it, offset, one matrix broadcast along the batch
    cases = [(x[0].T, h[0].T), (x[1, 1:, 1:].T, h[1, 1:, 1:].T), (ts.permute_dims(x, (0, 2, 1)), h.transpose(0, 2, 1)),
             (ts.permute_dims(x[::2, 1:], (0, 2, 1)), h[::2, 1:].transpose(0, 2, 1)),
             (ts.permute_dims(ts.broadcast_to(x[1], (4,) + shape), (0, 2, 1)),
              np.broadcast_to(h[1], (4,) + shape).transpose(0, 2, 1))]
    for t, n in cases:
        got = ts.asarray(t, copy=True).numpy()
        assert got.dtype == dtype and got.shape == n.shape
        np.testing.assert_array_equal(got.view(np.uint8), np.ascontiguousarray(n).view(np.uint8))


_ARITHMETIC = [ts.add, ts.subtract, ts.multiply, ts.divide]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cols", [3, 8, 9, 16, 17, 100, 501])
def test_arithmetic_of_transposes_and_every_other_element(device, rng, dtype, cols):
    """add, subtract, multiply and divide of a transposed operand (opencl's NAME_tr of Note [Vector transposes]: 8 x 8
    blocks, the edges element by element; a broadcast column read as a transpose) and of every other element
    (NAME_vrows: the even lanes of two loads), exactly as NumPy rounds them, NaN, infinities and -0.0 included."""
    h = rng.standard_normal((13, 2 * cols)).astype(dtype)
    h[1, 4 % (2 * cols)], h[2, 5 % (2 * cols)], h[3, 0] = np.nan, -0.0, np.inf
    g = rng.standard_normal((2 * cols, 13)).astype(dtype)
    g[0, 1] = 0.0
    x, w = ts.asarray(h, device=device), ts.asarray(g, device=device)
    column = ts.asarray(h[:, :1], device=device)
    pairs = [((x, w.T), (h, g.T)), ((w.T, x), (g.T, h)), ((w.T, column), (g.T, h[:, :1])),
             ((x[:, ::2], x[:, 1::2]), (h[:, ::2], h[:, 1::2])), ((x[:, ::2], w.T[:, :cols]), (h[:, ::2], g.T[:, :cols]))]
    for f in _ARITHMETIC:
        for (a, b), (p, q) in pairs:
            with np.errstate(all="ignore"):
                want = getattr(np, f.__name__)(p, q)
            got = f(a, b).numpy()
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(np.ascontiguousarray(got).view(np.uint8),
                                          np.ascontiguousarray(want).view(np.uint8), err_msg=f.__name__)


@pytest.mark.parametrize("cols", [3, 16, 31, 32, 33, 64, 100, 515])
def test_unary_ops_of_every_other_element(device, rng, cols):
    """x[:, ::2] and x[::2] (opencl's NAME_vrows: the even lanes of two loads, never past a row's last element;
    the last vector of a row gathered), at row lengths around the vector width, against NumPy."""
    h = np.abs(_host(rng, (5, 2 * cols + 1))) * np.float32(0.3)  # >= 0 for sqrt, small for exp
    x = ts.asarray(h, device=device)
    flat = ts.asarray(h.ravel(), device=device)
    for t, n in ((x[:, ::2], h[:, ::2]), (x[:, 1::2], h[:, 1::2]), (flat[::2], h.ravel()[::2]),
                 (x[::2, ::2], h[::2, ::2])):
        assert not t.is_contiguous
        np.testing.assert_allclose(ts.exp(t).numpy(), np.exp(n), rtol=2e-6)
        np.testing.assert_allclose(ts.sqrt(t).numpy(), np.sqrt(n), rtol=2e-6)
        np.testing.assert_allclose(ts.tanh(t).numpy(), np.tanh(n), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("n", [65, 128, 129, 255, 1001, 300_001])
def test_reductions_of_every_other_element(device, rng, n):
    """sum, max and min of x[::2] and of rows x[:, ::2] (opencl's NAME_vec with S == 2: the even lanes of two loads;
    the vector whose second load would pass a run's last element left to the scalar tail), at lengths around the
    vector widths and long enough to split a run among work-items.  The odd elements hold NaN and huge values, so
    any of them read into a result shows; the buffer ends at the last even element."""
    h = _host(rng, (2 * n - 1,))
    h[1::2] = np.nan
    h[1::4] = 1e30
    flat = ts.asarray(h, device=device)
    hr = _host(rng, (3, 2 * n)) if n < 2000 else None
    if hr is not None:
        hr[:, 1::2] = np.nan
        hr[:, 1::4] = 1e30
        rows = ts.asarray(hr, device=device)
    for op in ("sum", "max", "min"):
        got, want = getattr(ts, op)(flat[::2]), getattr(np, op)(h[::2].astype(np.float64))
        assert np.isfinite(want)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-3, err_msg=f"{op} of x[::2], n={n}")
        if hr is not None:
            for axis in (None, -1):
                got, want = getattr(ts, op)(rows[:, ::2], axis=axis), getattr(np, op)(hr[:, ::2], axis=axis)
                np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-3, err_msg=f"{op} rows, n={n}")
    short = _host(rng, (5000, 9))  # rows of 5 every-other elements: too short for the vector kernels
    xs = ts.asarray(short, device=device)
    for op in ("sum", "max", "prod"):
        np.testing.assert_allclose(getattr(ts, op)(xs[:, ::2], axis=-1).numpy(), getattr(np, op)(short[:, ::2], axis=-1),
                                   rtol=1e-5, atol=1e-5, err_msg=f"{op} of short rows")
    h[2 * (n // 2)] = np.nan  # a NaN at an even position wins for max and min
    flat = ts.asarray(h, device=device)
    assert np.isnan(ts.max(flat[::2]).numpy()) and np.isnan(ts.min(flat[::2]).numpy())
