"""The manipulation functions (dispatch/manipulation.py), einsum (dispatch/einsum.py) and the PyTorch-habit methods
(dispatch/methods.py) against NumPy (and PyTorch for gradients), on every device.

These are compositions of views and existing ops, so one body per function runs on every backend and the plugin; the
dtypes sampled are one per kind (bool where it applies, int32, float32/float64).
"""

import numpy as np
import pytest

import tensorswitch as ts

torch = pytest.importorskip("torch")


def check(got, expected):
    if isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            check(g, e)
        return
    expected = np.asarray(expected)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_array_equal(got.numpy(), expected)


def _float(device):
    return "float64" if ts.float64 in device.supported_dtypes() else "float32"


@pytest.fixture
def data(device, rng):
    a = rng.integers(-9, 9, (3, 4, 5)).astype(np.int32)
    return a, ts.asarray(a, device=device)


VIEWS = {  # non-contiguous inputs: (NumPy, tensorswitch) of the same values
    "transposed": lambda a, x: (a.transpose(2, 0, 1), x.permute_dims((2, 0, 1))),
    "strided": lambda a, x: (a[::2, :, ::-2], x[::2, :, ::-2]),
}


@pytest.mark.parametrize("layout", ["contiguous", *VIEWS])
def test_flip_roll_moveaxis(device, data, layout):
    a, x = data
    if layout != "contiguous":
        a, x = VIEWS[layout](a, x)
    check(ts.flip(x), np.flip(a))
    check(ts.flip(x, axis=1), np.flip(a, 1))
    check(ts.flip(x, axis=(0, -1)), np.flip(a, (0, -1)))
    check(ts.roll(x, 7), np.roll(a, 7))
    check(ts.roll(x, -2, axis=1), np.roll(a, -2, 1))
    check(ts.roll(x, (1, 2, -1), axis=(0, 2, 0)), np.roll(a, (1, 2, -1), (0, 2, 0)))
    check(ts.moveaxis(x, 0, -1), np.moveaxis(a, 0, -1))
    check(ts.moveaxis(x, (0, 2), (2, 0)), np.moveaxis(a, (0, 2), (2, 0)))
    check(ts.moveaxis(x, (1, 0), (0, 2)), np.moveaxis(a, (1, 0), (0, 2)))


def test_flip_is_a_view_roll_a_copy(device, data):
    a, x = data
    f = ts.flip(x, axis=0)
    f[0, 0, 0] = 100
    assert x[-1, 0, 0].item() == 100
    r = ts.roll(x, 0)
    r[0, 0, 0] = -100
    assert x[0, 0, 0].item() != -100


def test_repeat_tile(device, data):
    a, x = data
    check(ts.repeat(x, 2), np.repeat(a, 2))
    check(ts.repeat(x, 3, axis=1), np.repeat(a, 3, 1))
    check(ts.repeat(x, 0, axis=2), np.repeat(a, 0, 2))
    counts = np.array([2, 0, 1, 3])
    check(ts.repeat(x, ts.asarray(counts, device=device), axis=1), np.repeat(a, counts, 1))
    check(ts.repeat(x, ts.asarray([2], device=device), axis=0), np.repeat(a, 2, 0))
    check(ts.repeat(x, ts.zeros(4, dtype=ts.int64, device=device), axis=1), np.repeat(a, [0] * 4, 1))
    for reps in [(2,), (1, 2), (2, 1, 3), (2, 1, 1, 2), (0, 2, 1)]:
        check(ts.tile(x, reps), np.tile(a, reps))
    check(ts.tile(ts.asarray(5, device=device), (2, 3)), np.tile(np.int64(5), (2, 3)))
    with pytest.raises(ValueError, match="negative"):
        ts.repeat(x, -1)
    with pytest.raises(ValueError, match="counts for an axis of size 4"):
        ts.repeat(x, ts.asarray([1, 2], device=device), axis=1)
    with pytest.raises(TypeError, match="integer tensor"):
        ts.repeat(x, ts.asarray([1.0], device=device))


def test_unstack_meshgrid(device, data):
    a, x = data
    for axis in (0, 1, -1):
        check(ts.unstack(x, axis=axis), list(np.moveaxis(a, axis, 0)))
    with pytest.raises(ValueError, match="0-d"):
        ts.unstack(ts.asarray(1, device=device))
    vs = [np.arange(3, dtype=np.int32), np.arange(4, dtype=np.int32) * 10, np.arange(2, dtype=np.int32) - 5]
    ts_vs = [ts.asarray(v, device=device) for v in vs]
    for indexing in ("xy", "ij"):
        check(ts.meshgrid(*ts_vs, indexing=indexing), np.meshgrid(*vs, indexing=indexing))
        check(ts.meshgrid(*ts_vs[:2], indexing=indexing), np.meshgrid(*vs[:2], indexing=indexing))
        check(ts.meshgrid(ts_vs[0], indexing=indexing), np.meshgrid(vs[0], indexing=indexing))
    grid = ts.meshgrid(*ts_vs[:2])
    grid[0][0, 0] = 7  # new tensors, as NumPy's default copy=True
    assert ts_vs[0][0].item() == 0
    assert ts.meshgrid() == []
    with pytest.raises(ValueError, match="indexing"):
        ts.meshgrid(ts_vs[0], indexing="yx")
    with pytest.raises(ValueError, match="1-D"):
        ts.meshgrid(x)


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 4])
def test_tril_triu(device, data, k):
    a, x = data
    check(ts.tril(x, k=k), np.tril(a, k))
    check(ts.triu(x, k=k), np.triu(a, k))
    b = a > 0
    check(ts.triu(ts.asarray(b, device=device), k=k), np.triu(b, k))
    check(ts.tril(x.mT, k=k), np.tril(np.swapaxes(a, -1, -2), k))
    with pytest.raises(ValueError, match="two dimensions"):
        ts.tril(ts.ones(3, device=device))


def test_diff(device, data):
    a, x = data
    check(ts.diff(x), np.diff(a))
    check(ts.diff(x, axis=0, n=2), np.diff(a, 2, 0))
    check(ts.diff(x, n=0), np.diff(a, 0))
    check(ts.diff(x, n=9), np.diff(a, 9))
    pre = np.zeros((3, 4, 1), dtype=np.int32)
    check(ts.diff(x, prepend=ts.asarray(pre, device=device), append=3), np.diff(a, prepend=pre, append=np.int32(3)))  # a scalar takes x's dtype
    b = np.array([True, False, False, True, True])
    check(ts.diff(ts.asarray(b, device=device)), np.diff(b))
    with pytest.raises(ValueError, match="negative"):
        ts.diff(x, n=-1)


def test_empty_and_0d(device):
    e = np.zeros((0, 3), dtype=np.int32)
    x = ts.asarray(e, device=device)
    check(ts.flip(x), np.flip(e))
    check(ts.roll(x, 2, axis=1), np.roll(e, 2, 1))
    check(ts.repeat(x, 2, axis=1), np.repeat(e, 2, 1))
    check(ts.tile(x, (2, 2)), np.tile(e, (2, 2)))
    check(ts.tril(x), np.tril(e))
    check(ts.diff(x, axis=0), np.diff(e, axis=0))
    z = ts.asarray(np.int32(4), device=device)
    check(ts.flip(z), np.flip(np.int32(4)))
    check(ts.roll(z, 3), np.roll(np.int32(4), 3))


def _chain(lib, x, counts):
    """roll, flip, repeat (per-element counts), tile, diff, tril and moveaxis, composed: in tensorswitch and in
    PyTorch (whose names differ)."""
    if lib is ts:
        y = ts.repeat(ts.flip(ts.roll(x, 2, axis=2), axis=1), counts, axis=1)
        return ts.moveaxis(ts.tril(ts.diff(ts.tile(y, (2, 1, 1)), axis=1)), 0, -1)
    y = torch.repeat_interleave(torch.flip(torch.roll(x, 2, 2), (1,)), counts, dim=1)
    return torch.movedim(torch.tril(torch.diff(torch.tile(y, (2, 1, 1)), dim=1)), 0, -1)


def test_gradients_match_pytorch(device):
    dt = _float(device)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 4, 5)).astype(dt)
    counts = [1, 0, 2, 1]
    w = ts.asarray(a, device=device, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, yt = _chain(ts, w, ts.asarray(counts, device=device)), _chain(torch, t, torch.tensor(counts))
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6)
    g = rng.standard_normal(y.shape).astype(dt)
    (y * ts.asarray(g, device=device)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]),
    ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("i,i", [(4,), (4,)]), ("i,j->ij", [(3,), (4,)]),
    ("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)]), ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 5), (5, 2)]), ("iij->j", [(3, 3, 2)]), ("ijij->ij", [(2, 3, 2, 3)]),
    ("a,b,c->abc", [(2,), (3,), (4,)]), ("...,...", [(2, 3), (3,)]), ("i...->...", [(3, 2, 2)]),
    ("ij,ij->i", [(3, 4), (3, 4)]), ("ba,ca->bc", [(2, 0), (3, 0)]), ("", [()]), (",->", [(), ()]),
    ("ij,kl->", [(2, 3), (4, 5)]), ("i j , j k -> i k", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("eq, shapes", EINSUM_CASES, ids=[c[0] or "scalar" for c in EINSUM_CASES])
def test_einsum_matches_numpy_and_pytorch_gradients(device, eq, shapes):
    dt = _float(device)
    rng = np.random.default_rng(len(eq))
    arrays = [rng.standard_normal(s).astype(dt) for s in shapes]
    expected = np.einsum(eq, *arrays)
    xs = [ts.asarray(a, device=device, requires_grad=True) for a in arrays]
    got = ts.einsum(eq, *xs)
    assert got.shape == np.shape(expected)
    tol = 1e-10 if dt == "float64" else 1e-4
    np.testing.assert_allclose(got.numpy(), expected, rtol=tol, atol=tol)
    ts_ = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch.einsum(eq, *ts_).sum().backward()
    got.sum().backward()
    for x, t in zip(xs, ts_):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_einsum_integers_and_errors(device):
    rng = np.random.default_rng(0)
    a, b = rng.integers(-5, 5, (3, 4)), rng.integers(-5, 5, (4, 2))
    check(ts.einsum("ij,jk->ik", ts.asarray(a, device=device), ts.asarray(b, device=device)),
          np.einsum("ij,jk->ik", a, b))
    check(ts.einsum("ij,jk->ik", [ts.asarray(a, device=device), ts.asarray(b, device=device)]),
          np.einsum("ij,jk->ik", a, b))  # PyTorch's list form
    one = lambda *s: ts.ones(s, device=device)  # noqa: E731
    for eq, ops, message in [
        ("ij,jk->il", (one(2, 3), one(3, 4)), "does not appear"),
        ("ij", (one(2),), "name 2 dims"),
        ("ij,jk", (one(2, 3), one(4, 4)), "size 3 in one operand and 4"),
        ("i.j", (one(2, 3),), "ellipsis"),
        ("ii", (one(2, 3),), "size 2 in one operand and 3"),
        ("...i->i", (one(2, 3),), "write '...' in the output"),
        ("ij,jk", (one(2, 3),), "2 operand"),
        ("i->ii", (one(2),), "repeats a label"),
        ("i1", (one(2, 3),), "ASCII letters"),
    ]:
        with pytest.raises((ValueError, ts.ShapeError), match=message):
            ts.einsum(eq, *ops)


def test_einsum_device_mismatch():
    if len({d.type for d in ts.devices()}) < 2:
        pytest.skip("needs two device types")
    other = next(d for d in ts.devices() if d.type != "cpu")
    with pytest.raises(ts.DeviceMismatchError):
        ts.einsum("i,i", ts.ones(2), ts.ones(2, device=other))


def test_pytorch_habit_methods(device):
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x = ts.asarray(a, device=device)
    check(x.sum(1), a.sum(1))
    check(x.mean(dim=0, keepdim=True), a.mean(0, keepdims=True))
    check(x.max(dim=(0, 2)), a.max((0, 2)))
    check(x.prod([1, 2]), a.prod((1, 2)))
    with pytest.raises(TypeError, match="not both"):
        x.sum(0, dim=1)
    assert x.to(ts.int32).dtype == ts.int32 and x.to("int8").dtype == ts.int8
    assert x.to(device) is x and x.to(x) is x and x.to(device, copy=True) is not x
    assert x.to(device, None) is x and x.to(None, ts.float64).dtype == ts.float64
    assert x.to(ts.asarray([1], dtype=ts.int16)).dtype == ts.int16
    assert x.float() is x and x.long().dtype == ts.int64 and x.int().dtype == ts.int32
    assert x.bool().dtype == ts.bool and x.byte().dtype == ts.uint8 and x.short().dtype == ts.int16
    assert x.cpu().device.type == "cpu"
    assert x.numel() == 24 and x.dim() == 3
    check(ts.asarray(a[0], device=device).t(), a[0].T)
    check(ts.asarray(a[0, 0], device=device).t(), a[0, 0])
    with pytest.raises(ValueError, match="at most 2"):
        x.t()
    check(x.unsqueeze(1), a[:, None])
    check(x.view(6, 4), a.reshape(6, 4))
    check(x.view((-1,)), a.reshape(-1))
    with pytest.raises(ValueError, match="without a copy"):
        x.permute(2, 0, 1).view(-1)
    check(x.permute(2, 0, 1), a.transpose(2, 0, 1))
    check(x.transpose(0, 2), a.swapaxes(0, 2))
    check(ts.asarray(a[:, :1], device=device).expand(-1, 5, -1), np.broadcast_to(a[:, :1], (2, 5, 4)))
    if hasattr(ts, "clip"):
        check(x.clamp(3, 10), np.clip(a, 3, 10))
    check(x.masked_fill(x > 5, -1.0), np.where(a > 5, np.float32(-1), a))
    y = ts.zeros(3, device=device)
    assert y.fill_(2.0) is y and y.tolist() == [2, 2, 2]
    y.add_(ts.ones(3, device=device), alpha=3).mul_(2).sub_(1).div_(2)
    assert y.tolist() == [4.5] * 3  # ((2 + 3 * 1) * 2 - 1) / 2
    assert y.zero_().tolist() == [0, 0, 0]
    assert x.new_zeros(2, 2).dtype == ts.float32 and x.new_ones((1,)).device == x.device
    assert x.new_full((2,), 3).tolist() == [3, 3] and x.new_empty(0).shape == (0,)
    np.testing.assert_allclose(x.exp().numpy(), np.exp(a), rtol=1e-6)
    check(x.flip(0), np.flip(a, 0))
    check(x.flip(dims=(1, 2)), np.flip(a, (1, 2)))
    check(x.roll(1, 2), np.roll(a, 1, 2))
    check(x.tril(diagonal=1), np.tril(a, 1))


def test_method_gradient():
    w = ts.ones((2, 3), requires_grad=True)
    (w.sum(1) * ts.asarray([1.0, 2.0])).sum().backward()
    assert w.grad.tolist() == [[1, 1, 1], [2, 2, 2]]


def test_broadcast_shapes():
    assert ts.broadcast_shapes((2, 1), (3,), ()) == np.broadcast_shapes((2, 1), (3,), ()) == (2, 3)
    assert ts.broadcast_shapes((0, 1), (1, 4)) == (0, 4) and ts.broadcast_shapes() == ()
    with pytest.raises(ts.ShapeError, match="do not broadcast"):
        ts.broadcast_shapes((2, 3), (4,))


def test_isin(device):
    a = np.array([[1.0, np.nan, 3.0], [-0.0, 5.0, 7.0]])
    b = np.array([3.0, 0.0, np.nan, 9.0])
    if ts.float64 not in device.supported_dtypes():
        a, b = a.astype(np.float32), b.astype(np.float32)
    x1, x2 = ts.asarray(a, device=device), ts.asarray(b, device=device)
    check(ts.isin(x1, x2), np.isin(a, b))  # NaN is in nothing, -0.0 is 0.0
    check(ts.isin(x1, x2, invert=True), np.isin(a, b, invert=True))
    ints = np.arange(1000) % 37
    check(ts.isin(ts.asarray(ints, device=device), ts.asarray(np.arange(0, 40, 3), device=device)),
          np.isin(ints, np.arange(0, 40, 3)))
    check(ts.isin(ts.asarray([5, 10], device=device), 10), np.array([False, True]))
    check(ts.isin(x1, ts.asarray(b[:0], device=device)), np.zeros(a.shape, bool))
    check(ts.isin(x1[:0], x2), np.zeros((0, 3), bool))
