"""Integer-array and boolean-mask indexing with NumPy's rules (Note [Advanced indexing] in dispatch/indexing.py):
getitem, setitem and take against NumPy on every device, with index tensors, lists and NumPy arrays, the errors, and
the gradients against PyTorch."""

import zlib

import numpy as np
import pytest
import torch

import tensorswitch as ts

X = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)

#: (what, index) over X (2, 3, 4, 5): NumPy's answer is the reference for each
CASES = [
    ("one array", ([1, 0, 1],)),
    ("negative", ([-1, -2],)),
    ("2-D array", (np.array([[0, 1], [1, 1]]),)),
    ("array on axis 1", (slice(None), [2, 0])),
    ("two adjacent arrays", (slice(None), [0, 2], [1, 3])),
    ("two arrays broadcast", (slice(None), np.array([[0], [2]]), np.array([1, 3, 0]))),
    ("separated by a slice: broadcast dims first", ([0, 1], slice(None), [1, 2])),
    ("separated by None", ([0, 1], None, [1, 2])),
    ("separated by an empty-looking ellipsis", (slice(None), [0, 1], Ellipsis, [1, 2])),
    ("integer with an array, separated", (0, slice(None), [1, 2])),
    ("integer next to an array", (slice(None), 1, [1, 2])),
    ("integer, array and ellipsis", (1, [0, 2], Ellipsis)),
    ("arrays on every axis", ([1, 0], [2, 1], [3, 3], [4, 0])),
    ("array with None and slice", (None, [1], slice(1, 3), None)),
    ("ellipsis first", (Ellipsis, [4, 0, 1])),
    ("step slice then array", (slice(None, None, -1), slice(0, 3, 2), [1, 0])),
    ("empty array", ([],)),
    ("empty array on axis 2", (slice(None), slice(None), np.zeros((0, 2), np.int64))),
    ("full mask", (X % 3 == 0,)),
    ("leading mask", (np.array([[True, False, True], [False, False, True]]),)),
    ("mask on axis 1", (slice(None), np.array([False, True, True]))),
    ("mask and array", (np.array([True, False]), slice(None), [0, 3])),
    ("mask then array, adjacent", (slice(None), np.array([True, False, True]), [1, 2])),
    ("all-false mask", (np.zeros((2, 3), bool),)),
    ("True", (True,)),
    ("False", (False,)),
    ("True with an array", ([0, 1], True)),
    ("..., True", (Ellipsis, True)),
    ("0-d bool array", (np.array(True), 1)),
    ("uint8 array", (np.array([1, 0], np.uint8),)),
    ("int32 array", (slice(None), np.array([2, 1, 2], np.int32))),
    ("tuple inside the index", ((0, 1), 2)),
    ("nested lists", ([[0, 1], [1, 0]], slice(None), 3)),
]


def _device_index(index, device):
    """NumPy's index with each array (and list) as a tensor on ``device``."""
    out = []
    for item in index:
        if isinstance(item, (list, np.ndarray)) and not (isinstance(item, list) and item == []):
            out.append(ts.asarray(np.asarray(item), device=device))
        else:
            out.append(item)
    return tuple(out)


@pytest.mark.parametrize("what, index", CASES, ids=[c[0] for c in CASES])
def test_getitem_matches_numpy(device, what, index):
    want = X[index]
    t = ts.asarray(X, device=device)
    for idx in (index, _device_index(index, device)):
        got = t[idx]
        assert got.shape == want.shape, (what, got.shape, want.shape)
        assert got.dtype == ts.int64
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("what, index", CASES, ids=[c[0] for c in CASES])
def test_setitem_matches_numpy(device, what, index):
    shape = X[index].shape
    rng = np.random.default_rng(zlib.crc32(what.encode()))
    # distinct positions get distinct values; repeated positions (none in CASES) would be any-wins on devices
    value = rng.integers(-99, 0, shape)
    for idx, val in ((index, value), (_device_index(index, device), ts.asarray(value, device=device)),
                     (index, -7)) + (((index, value.tolist()),) if value.size else ()):
        want = X.copy()
        want[index] = val if not isinstance(val, ts.Tensor) else value
        t = ts.asarray(X, device=device)
        t[idx] = val
        np.testing.assert_array_equal(t.numpy(), want, err_msg=what)


def test_non_contiguous_views(device):
    t = ts.asarray(X, device=device).permute_dims((3, 1, 0, 2))[::-1, :, :, 1:]
    x = X.transpose(3, 1, 0, 2)[::-1, :, :, 1:]
    for index in (([0, 4], slice(None), [1, 0]), (x > 50,), (slice(None), [2, 2, 0])):
        np.testing.assert_array_equal(t[_device_index(index, device)].numpy(), x[index])
    y = X.copy()
    view_np = y.transpose(3, 1, 0, 2)[::-1, :, :, 1:]
    big = ts.asarray(X, device=device)
    view = big.permute_dims((3, 1, 0, 2))[::-1, :, :, 1:]
    view[[0, 4], :, [1, 0]] = -1
    view_np[[0, 4], :, [1, 0]] = -1
    np.testing.assert_array_equal(big.numpy(), y)


def test_value_casts_and_broadcasts(device):
    t = ts.zeros((3, 4), dtype=ts.int32, device=device)
    t[[0, 2]] = ts.asarray([1.7, -2.2, 3.0, 4.9], device=device)  # cast to int32 as NumPy does, broadcast over rows
    want = np.zeros((3, 4), np.int32)
    want[[0, 2]] = np.array([1.7, -2.2, 3.0, 4.9])
    np.testing.assert_array_equal(t.numpy(), want)
    t[t > 2] = 9.5
    want[want > 2] = 9.5
    np.testing.assert_array_equal(t.numpy(), want)
    b = ts.zeros((2, 3), dtype=ts.bool, device=device)
    b[[1], [0, 2]] = True
    assert b.numpy().tolist() == [[False, False, False], [True, False, True]]
    f = ts.zeros(5, device=device)
    f[np.array([4, 0])] = np.array([[1.0, 2.0]])  # a leading 1 of the value is dropped, as NumPy does
    assert f.numpy().tolist() == [2.0, 0.0, 0.0, 0.0, 1.0]
    x = ts.arange(6, device=device)
    x[[1, 2, 3]] = x[[0, 1, 2]]  # the value read from the tensor written
    assert x.numpy().tolist() == [0, 0, 1, 2, 4, 5]


def test_repeated_positions_last_wins_on_cpu():
    t = ts.zeros(4, dtype=ts.int64)
    t[[1, 1, 1, 2]] = ts.asarray([5, 6, 7, 8])
    assert t.numpy().tolist() == [0, 7, 8, 0]


def test_large_gather_and_put(device):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(100003).astype(np.float32)
    idx = rng.integers(-100003, 100003, 150000)
    t = ts.asarray(x, device=device)
    np.testing.assert_array_equal(t[ts.asarray(idx, device=device)].numpy(), x[idx])
    perm = rng.permutation(100003)
    t[ts.asarray(perm, device=device)] = ts.asarray(x, device=device)
    y = np.empty_like(x)
    y[perm] = x
    np.testing.assert_array_equal(t.numpy(), y)


def test_more_index_arrays_than_the_device_kernels_take(device):
    x = np.arange(2 * 3 * 2 * 3 * 2 * 2).reshape(2, 3, 2, 3, 2, 2)
    index = ([1, 0, -1], [2, 0, 1], [0, 1, 1], [-1, 2, 0], [1, 1, 0], [0, -1, 1])
    t = ts.asarray(x, device=device)
    np.testing.assert_array_equal(t[_device_index(index, device)].numpy(), x[index])
    t[index] = -1
    y = x.copy()
    y[index] = -1
    np.testing.assert_array_equal(t.numpy(), y)


def test_take(device):
    x = np.arange(12).reshape(3, 4)
    t = ts.asarray(x, device=device)
    np.testing.assert_array_equal(ts.take(t, ts.asarray([3, 0, -1], device=device), axis=1).numpy(),
                                  np.take(x, [3, 0, -1], axis=1))
    np.testing.assert_array_equal(ts.take(t, [2, 0], axis=0).numpy(), np.take(x, [2, 0], axis=0))
    np.testing.assert_array_equal(ts.take(t, np.array([11, 0])).numpy(), np.take(x, [11, 0]))  # flattened
    np.testing.assert_array_equal(ts.take(t[0], ts.asarray(2, device=device)).numpy(), np.take(x[0], 2))
    with pytest.raises(IndexError, match="out of bounds"):
        ts.take(t, [4], axis=1)
    with pytest.raises(IndexError, match="integer"):
        ts.take(t, ts.asarray([True, False, True], device=device), axis=0)


def test_errors(device):
    t = ts.asarray(X, device=device)
    with pytest.raises(IndexError, match=r"index 3 is out of bounds for axis 1 with size 3.*range from -1 to 3"):
        t[:, ts.asarray([-1, 3], device=device)]
    with pytest.raises(IndexError, match=r"index -4 is out of bounds for axis 1 with size 3"):
        t[:, [0, -4]]
    with pytest.raises(IndexError, match="out of bounds"):
        t[[0, 1], 3] = 0  # the integer counts as an index array here, and 3 is outside axis 1
    with pytest.raises(IndexError, match="out of bounds"):
        t[5, [0]]
    with pytest.raises(IndexError, match="boolean index did not match"):
        t[np.ones((2, 4), bool)]
    # a mask dim of size 0 matches any dim (the Array API's rule; NumPy refuses it): nothing is selected
    assert t[np.zeros((0, 3), bool)].shape == (0,) + X.shape[2:]
    assert t[np.zeros((X.shape[0], 0), bool)].shape == (0,) + X.shape[2:]
    with pytest.raises(IndexError, match="could not be broadcast"):
        t[[0, 1], [0, 1, 2]]
    with pytest.raises(IndexError, match="integer or boolean"):
        t[np.array([0.0, 1.0])]
    with pytest.raises(IndexError, match="integer or boolean"):
        t[ts.asarray([0.5], device=device)]
    with pytest.raises(IndexError, match="too many indices"):
        t[[0], 0, 0, 0, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        t[..., [0], ...]
    with pytest.raises(ts.ShapeError, match="cannot broadcast"):
        t[[0, 1]] = ts.zeros((3,), dtype=ts.int64, device=device)
    with pytest.raises(TypeError, match="cannot store"):
        t[[0]] = "a"
    with pytest.raises(ts.ReadOnlyError):
        ts.broadcast_to(ts.zeros(3, device=device), (2, 3))[[0]] = 1.0
    with pytest.raises(OverflowError):
        ts.zeros(3, dtype=ts.int8, device=device)[[0]] = 1000


def test_index_tensors_must_be_on_the_indexed_tensors_device(device):
    other = "cpu" if str(device) != "cpu" else ("numpy" if "numpy" in [d.type for d in ts.devices()] else None)
    if other is None:
        pytest.skip("one device only")
    t = ts.asarray(X, device=device)
    index = ts.asarray([0, 1], device=other)
    with pytest.raises(ts.DeviceMismatchError, match=r"index\.to\("):
        t[index]
    with pytest.raises(ts.DeviceMismatchError):
        t[index] = 0
    with pytest.raises(ts.DeviceMismatchError):
        t[[0, 1]] = ts.zeros((2, 3, 4, 5), dtype=ts.int64, device=other)


def test_basic_indexing_stays_a_view(device):
    t = ts.asarray(X, device=device)
    v = t[0, 1:, None, ..., 2]
    assert v.buffer is t.buffer
    assert t[ts.asarray(1, device=device)].buffer is t.buffer  # a 0-d integer tensor is an integer
    c = t[[0]]
    assert c.buffer is not t.buffer


# -- gradients ------------------------------------------------------------------------------------------------------

GRAD_CASES = [
    ("repeated rows", lambda x: x[[2, 0, 2, 2]]),
    ("two arrays", lambda x: x[[0, 1, 1], [2, 2, 0]]),
    ("separated", lambda x: x[[0, 1], :, [1, 1]]),
    ("mask", lambda x: x[x > 0.0]),
    ("mask then square", lambda x: x[x > 0.0] * x[x > 0.0]),
    ("slice and array", lambda x: x[1:, [0, 0]]),
]


@pytest.mark.parametrize("what, fn", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_torch(device, what, fn):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 4, 2)) if what == "separated" else rng.standard_normal((3, 4))
    x = ts.asarray(a.astype(np.float32), device=device, requires_grad=True)
    xt = torch.tensor(a.astype(np.float32), requires_grad=True)
    y, yt = fn(x), fn(xt)
    w = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (y * ts.asarray(w, device=device)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_setitem_gradient_with_array_index():
    a = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    v = np.array([[1.5, -2.0, 0.5, 3.0]])
    x, xv = ts.asarray(a, requires_grad=True), ts.asarray(v, requires_grad=True)
    xt, vt = torch.tensor(a, requires_grad=True), torch.tensor(v, requires_grad=True)
    y = x * 2.0
    y[[0, 2]] = xv
    yt = xt * 2.0
    yt[[0, 2]] = vt
    w = np.random.default_rng(8).standard_normal((3, 4))
    (y * ts.asarray(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_allclose(xv.grad.numpy(), vt.grad.numpy())


def test_result_of_array_indexing_is_not_a_view_for_autograd():
    x = ts.asarray([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[0, 2]]
    y[0] = 10.0  # a write into the copy: x's gradient through y is unchanged elsewhere
    y.sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0]
