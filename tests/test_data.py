"""ts.utils.data: batching, shuffling from tensorswitch's seeded generator, drop_last, len, collation, devices."""

import collections

import numpy as np
import pytest

import tensorswitch as ts
from limited_backend import LIMITED  # the deliberately limited test device (no int64) is not a data device
from tensorswitch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler,
                                     TensorDataset, default_collate, default_convert)


def _dataset(n=10, device="cpu"):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return TensorDataset(ts.asarray(x, device=device), ts.asarray(y, device=device)), x, y


def _devices():
    return [d for d in ts.devices() if d.type != LIMITED]


def _order(loader):
    return [i for _, y in loader for i in y.tolist()]


def test_tensor_dataset():
    ds, x, y = _dataset()
    assert len(ds) == 10
    a, b = ds[3]
    assert a.tolist() == x[3].tolist() and b.item() == 3
    assert ds[-1][1].item() == 9
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(ts.zeros((3, 2)), ts.zeros(4))
    with pytest.raises(TypeError, match="not a tensor"):
        TensorDataset(ts.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(ts.zeros(()))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (10, 5, False), (10, 5, True),
                                                      (10, 20, False), (10, 20, True), (1, 1, False), (0, 4, False)])
def test_batching_len_and_drop_last(device, n, batch_size, drop_last):
    ds, x, y = _dataset(n, device)
    loader = DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    full, rest = divmod(n, batch_size)
    assert len(loader) == len(batches) == full + (1 if rest and not drop_last else 0)
    start = 0
    for i, (bx, by) in enumerate(batches):
        size = batch_size if i < full else rest
        assert bx.shape == (size, 3) and by.shape == (size,)
        assert bx.device == device and by.device == device and bx.dtype == ts.float32 and by.dtype == ts.int64
        np.testing.assert_array_equal(bx.numpy(), x[start:start + size])
        np.testing.assert_array_equal(by.numpy(), y[start:start + size])
        start += size


def test_shuffle_is_a_permutation_reproducible_under_manual_seed(device):
    ds, x, y = _dataset(50, device)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    ts.manual_seed(1234)
    first, second = _order(loader), _order(loader)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != list(range(50)) and first != second  # a new order each epoch
    ts.manual_seed(1234)
    assert _order(loader) == first and _order(loader) == second  # the same sequence of epochs
    ts.manual_seed(99)
    assert _order(loader) != first
    ts.manual_seed(1234)
    for bx, by in loader:  # rows stay together
        assert bx.device == device
        np.testing.assert_array_equal(bx.numpy(), x[by.numpy()])


def test_shuffle_is_the_same_on_every_device():
    orders = []
    for dev in _devices():
        ds, _, _ = _dataset(30, dev)
        ts.manual_seed(7)
        orders.append(_order(DataLoader(ds, batch_size=4, shuffle=True)))
    assert all(o == orders[0] for o in orders)


def test_shuffle_with_drop_last_and_an_own_generator():
    ds, _, _ = _dataset(23)
    loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=True, generator=ts.Generator(5))
    order = _order(loader)
    assert len(loader) == 4 and len(order) == 20 and len(set(order)) == 20
    again = DataLoader(ds, batch_size=5, shuffle=True, drop_last=True, generator=ts.Generator(5))
    ts.manual_seed(0)  # the global seed does not touch an own generator
    assert _order(again) == order
    with pytest.raises(TypeError, match="ts.Generator"):
        list(DataLoader(ds, shuffle=True, generator=np.random.default_rng(0)))


def test_shuffling_draws_from_the_cpu_generator():
    """One draw per epoch: after an epoch, ts.rand on cpu continues from the next offset."""
    ds, _, _ = _dataset(5)
    ts.manual_seed(3)
    ts.rand(2)
    expected = ts.rand(2).tolist()
    ts.manual_seed(3)
    list(DataLoader(ds, shuffle=True))
    assert ts.rand(2).tolist() == expected


def test_random_sampler_options():
    ts.manual_seed(0)
    with_replacement = list(RandomSampler(range(4), replacement=True, num_samples=50))
    assert len(with_replacement) == 50 and set(with_replacement) <= {0, 1, 2, 3} and len(set(with_replacement)) > 1
    long = list(RandomSampler(range(4), num_samples=10))
    assert len(long) == 10 and sorted(long[:4]) == [0, 1, 2, 3] and sorted(long[4:8]) == [0, 1, 2, 3]
    assert list(RandomSampler([])) == []
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)


def test_samplers_and_batch_sampler():
    assert list(SequentialSampler(range(3))) == [0, 1, 2]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    ds, _, y = _dataset(6)
    loader = DataLoader(ds, sampler=[5, 0, 3])
    assert _order(loader) == [5, 0, 3] and len(loader) == 3
    loader = DataLoader(ds, batch_sampler=[[4, 1], [2]])
    assert [b[1].tolist() for b in loader] == [[4, 1], [2]]
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        DataLoader(ds, drop_last="yes")
    with pytest.raises(NotImplementedError, match="num_workers=2 is not supported"):
        DataLoader(ds, num_workers=2)


def test_unbatched_loading():
    ds, x, _ = _dataset(3)
    loader = DataLoader(ds, batch_size=None)
    samples = list(loader)
    assert len(loader) == 3 and len(samples) == 3
    assert isinstance(samples[0], list) and samples[0][0].shape == (3,) and samples[2][1].item() == 2
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)


def test_batches_do_not_alias_the_dataset(device):
    ds, x, _ = _dataset(6, device)
    for shuffle in (False, True):
        for bx, _ in DataLoader(ds, batch_size=4, shuffle=shuffle):
            bx[...] = -1.0
    np.testing.assert_array_equal(ds.tensors[0].numpy(), x)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, dtype=np.float32), "y": i * i, "name": f"s{i}", "w": float(i) / 2}


def test_custom_dataset_and_default_collate():
    batches = list(DataLoader(Squares(5), batch_size=2))
    assert len(batches) == 3
    first = batches[0]
    assert set(first) == {"x", "y", "name", "w"}
    assert first["x"].shape == (2, 2) and first["x"].dtype == ts.float32
    assert first["y"].tolist() == [0, 1] and first["y"].dtype == ts.int64
    assert first["w"].dtype == ts.float64 and first["w"].tolist() == [0.0, 0.5]
    assert first["name"] == ["s0", "s1"]
    assert batches[-1]["y"].tolist() == [16]


def test_default_collate_cases():
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([Point(ts.zeros(2), 1), Point(ts.ones(2), 2)])
    assert isinstance(out, Point) and out.x.shape == (2, 2) and out.y.tolist() == [1, 2]
    out = default_collate([(ts.zeros(()), True), (ts.ones(()), False)])
    assert isinstance(out, list) and out[0].shape == (2,) and out[1].dtype == ts.bool
    out = default_collate([[np.int32(1), np.float32(2.5)], [np.int32(3), np.float32(4.5)]])
    assert out[0].dtype == ts.int32 and out[1].dtype == ts.float32 and out[1].tolist() == [2.5, 4.5]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(ts.ShapeError):
        default_collate([ts.zeros(2), ts.zeros(3)])
    with pytest.raises(TypeError, match="non-empty list of samples"):
        default_collate([])
    assert default_convert((np.zeros(2), "a"))[0].shape == (2,)


def test_mixed_devices_in_one_dataset():
    devices = _devices()
    if len(devices) < 2:
        pytest.skip("one device only")
    a, b = devices[0], devices[-1]
    ds = TensorDataset(ts.arange(6, device=a), ts.arange(6, device=b))
    for xa, xb in DataLoader(ds, batch_size=4, shuffle=True):
        assert xa.device == a and xb.device == b and xa.tolist() == xb.tolist()


def test_matches_torch_dataloader_batches():
    torch = pytest.importorskip("torch")
    x = np.arange(21, dtype=np.float32).reshape(7, 3)
    ours = list(DataLoader(TensorDataset(ts.asarray(x)), batch_size=3, drop_last=False))
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=3))
    assert len(ours) == len(theirs)
    for (a,), (b,) in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _gathering_devices():
    from tensorswitch.utils.data import _can_gather
    return [d for d in _devices() if _can_gather(ts.zeros(1, device=d))]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "uint8", "bool"])
def test_shuffled_batches_are_gathered_rows(device, dtype, rng):
    """Rows of every rank, dtype and layout (a strided, non-contiguous tensor too) match NumPy's fancy indexing."""
    if ts.dtype(dtype) not in device.supported_dtypes():
        pytest.skip(f"{device} has no {dtype}")
    base = (rng.standard_normal((7, 3, 4)) * 10).astype(dtype)
    arrays = [base, base[:, 0, 0].copy(), base[:, :, ::2]]  # ranks 3 and 1, and a strided view
    tensors = [ts.asarray(base, device=device), ts.asarray(arrays[1], device=device),
               ts.asarray(base, device=device)[:, :, ::2]]
    assert not tensors[2].is_contiguous  # gathered through its strides, not copied first
    ds = TensorDataset(*tensors)
    for indices in ([6, 0, 3], [2, -1, -7, 2], [5]):
        got = list(DataLoader(ds, batch_sampler=[indices]))[0]
        for g, a in zip(got, arrays):
            assert g.device == device and g.dtype == ts.dtype(dtype) and g.shape == a[indices].shape
            np.testing.assert_array_equal(g.numpy(), a[indices])
    with pytest.raises(IndexError):
        list(DataLoader(ds, batch_sampler=[[1, 7]]))
    with pytest.raises(IndexError):
        list(DataLoader(ds, batch_sampler=[[1, -8]]))


def test_shuffled_batches_take_one_op_per_tensor(monkeypatch):
    """Where take_along_axis has a kernel, a shuffled batch never falls back to stacking rows one by one."""
    devices = _gathering_devices()
    assert ts.device("cpu") in devices
    datasets = [_dataset(40, d) for d in devices]

    def no_stack(*args, **kwargs):
        raise AssertionError("a shuffled TensorDataset batch was stacked row by row")

    monkeypatch.setattr(ts, "stack", no_stack)
    for ds, x, y in datasets:
        ts.manual_seed(5)
        for bx, by in DataLoader(ds, batch_size=16, shuffle=True):
            np.testing.assert_array_equal(bx.numpy(), x[by.numpy()])


def test_gathered_batches_keep_autograd():
    w = ts.asarray(np.arange(12, dtype=np.float32).reshape(4, 3), requires_grad=True)
    (bx,) = next(iter(DataLoader(TensorDataset(w), batch_sampler=[[3, 1, 3]])))
    bx.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.array([[0] * 3, [1] * 3, [0] * 3, [2] * 3], np.float32))
