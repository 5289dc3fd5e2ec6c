"""Datasets and data loaders, as ``torch.utils.data`` (single process).

    import tensorswitch as ts
    from tensorswitch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(ts.randn(100, 3), ts.arange(100))
    for x, y in DataLoader(ds, batch_size=32, shuffle=True):
        ...                     # x: (32, 3), y: (32,), on the dataset's device; the last batch has 4 rows

A DataLoader draws indices from a sampler, groups them into batches with a BatchSampler, fetches the samples and
collates them (``default_collate`` stacks tensors).  See Note [Shuffling] for where the random order comes from.
"""

import collections.abc

import numpy as np

import tensorswitch as ts  # only used at call time

__all__ = ["Dataset", "TensorDataset", "Sampler", "SequentialSampler", "RandomSampler", "BatchSampler", "DataLoader",
           "default_collate", "default_convert"]


# -- datasets -------------------------------------------------------------------------------------------------------

class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class TensorDataset(Dataset):
    """Samples are rows: ``dataset[i]`` is ``tuple(t[i] for t in tensors)``; every tensor has the same first
    dimension (its length).  Tensors may live on any devices (each batch keeps each tensor's device).

    >>> import tensorswitch as ts
    >>> ds = TensorDataset(ts.zeros((4, 2)), ts.arange(4))
    >>> len(ds), ds[1][1].item()
    (4, 1)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, ts.Tensor):
                raise TypeError(f"TensorDataset: argument {i} is {type(t).__name__}, not a tensor (convert it with "
                                f"ts.asarray)")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; each tensor needs a first dimension to index")
        if any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError(f"Size mismatch between tensors: first dimensions {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def _batch(self, indices):
        """``default_collate([self[i] for i in indices])``, built with one op per tensor (Note [Batch gather])."""
        n, size = len(indices), len(self)
        start = indices[0]
        if start >= 0 and indices == list(range(start, start + n)) and start + n <= size:
            # a run (every batch of an unshuffled loader): one slice and one copy, so the batch never aliases the data
            return [ts.asarray(t[start:start + n], copy=True) for t in self.tensors]
        if min(indices) < -size or max(indices) >= size:
            # the row-by-row path, so that t[i] raises its own IndexError for the bad index, as default_collate would
            return [ts.stack([t[i] for i in indices]) for t in self.tensors]
        rows = np.asarray(indices, dtype=np.int64)
        rows[rows < 0] += size  # take_along_axis would wrap them too, but only after a device-side select
        uploaded = {}  # device -> the rows as an int64 tensor there: one upload per device, not per tensor
        batch = []
        for t in self.tensors:
            if not _can_gather(t):
                batch.append(ts.stack([t[i] for i in indices]))
                continue
            index = uploaded.get(t.device)
            if index is None:
                index = uploaded[t.device] = ts.asarray(rows, device=t.device)
            batch.append(ts.take_along_axis(t, ts.reshape(index, (n,) + (1,) * (t.ndim - 1)), axis=0))
        return batch


# Note [Batch gather]
# ~~~~~~~~~~~~~~~~~~~
# A shuffled batch of a TensorDataset must equal ``ts.stack([t[i] for i in indices])`` for each tensor ``t``; built
# that way it costs a view per row and a stack of B inputs, about 12 us a row on cpu.  ``ts.take_along_axis(t, index,
# axis=0)`` with ``index`` of shape (B, 1, ..., 1) gives the same rows in the same order in one kernel (the index
# broadcasts over the other axes, NumPy's rule), reading ``t`` through its strides, so non-contiguous datasets need no
# copy.  The rows are checked and wrapped here on the host (they are Python ints already), and each device gets one
# upload of them, reshaped per tensor.  A device without a take_along_axis kernel for the tensor's dtype, or without
# int64 (which the index and take_along_axis's bounds check need), keeps the row-by-row stack: same values, slower.

def _can_gather(t):
    device, int64 = t.device, ts.int64
    return (ts.registry.has_kernel("take_along_axis", device, t.dtype) and int64 in device.supported_dtypes()
            and ts.registry.has_kernel("min", device, int64) and ts.registry.has_kernel("max", device, int64))


# -- samplers -------------------------------------------------------------------------------------------------------

class Sampler:
    """Yields dataset indices; subclasses define ``__iter__`` (and ``__len__`` when they know it)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


# Note [Shuffling]
# ~~~~~~~~~~~~~~~~
# ``ts.manual_seed`` must make shuffling reproducible, so the random order comes from tensorswitch's generator, never
# from NumPy's or Python's global state.  Each pass over a RandomSampler takes one draw ``(seed, offset)`` from the
# generator (by default ``ts.generator("cpu")``, looked up afresh each time since ``ts.manual_seed`` replaces it) and
# uses NumPy's Philox4x64 keyed by ``seed + 2**64 * offset`` for the permutation.  Distinct draws give distinct keys,
# so every epoch has an independent order, and the same seed replays the same sequence of epochs.  The draw advances
# the cpu generator by one, as an epoch's shuffle advances PyTorch's global generator: code that seeds, shuffles and
# then calls ts.rand on cpu sees the same numbers on every run, but not the numbers it would see without the shuffle.

def _numpy_rng(generator):
    gen = ts.generator("cpu") if generator is None else generator
    if not isinstance(gen, ts.Generator):
        raise TypeError(f"generator must be a ts.Generator (such as ts.generator('cpu') or ts.Generator(seed)), got "
                        f"{type(gen).__name__}")
    seed, offset = gen.next()
    key = (int(seed) & 0xFFFFFFFFFFFFFFFF) | (int(offset) & 0xFFFFFFFFFFFFFFFF) << 64
    return np.random.Generator(np.random.Philox(key=key))


class RandomSampler(Sampler):
    """A random permutation of the indices each pass (or ``num_samples`` indices drawn with replacement), drawn from
    tensorswitch's generator (Note [Shuffling]): ``ts.manual_seed`` makes it reproducible.

    generator: a ``ts.Generator`` to draw from instead of ``ts.generator("cpu")`` (an independent stream).
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement!r}")
        if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                        or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples!r}")
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = _numpy_rng(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot draw with replacement from an empty dataset")
            return iter(rng.integers(0, n, size=self.num_samples).tolist())
        order = []
        while len(order) < self.num_samples:  # num_samples > n: whole permutations, then part of one
            order.extend(rng.permutation(n).tolist())
            if n == 0:
                break
        return iter(order[:self.num_samples])

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``).

    >>> list(BatchSampler(range(5), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# -- collation ------------------------------------------------------------------------------------------------------

_COLLATE_TYPES = "tensors, NumPy arrays, numbers, strings, dicts or lists/tuples of them"


def default_collate(batch):
    """Merge a list of samples into a batch, as PyTorch's ``default_collate``.

    Tensors are stacked along a new first axis on their own device (all on one device, one shape); NumPy arrays and
    NumPy scalars become stacked tensors on the default device; Python floats a float64 tensor, ints an int64 tensor
    and bools a bool tensor; strings stay a list; dicts are collated key by key; tuples and lists element by element
    (a tuple gives a list, a namedtuple the same namedtuple, as in PyTorch).

    >>> import tensorswitch as ts
    >>> x, y = default_collate([(ts.zeros(2), 1), (ts.ones(2), 2)])
    >>> x.shape, y.tolist()
    ((2, 2), [1, 2])
    """
    if not isinstance(batch, collections.abc.Sequence) or isinstance(batch, (str, bytes)) or not batch:
        raise TypeError(f"default_collate: batch must be a non-empty list of samples, got {batch!r}")
    elem = batch[0]
    if isinstance(elem, ts.Tensor):
        for i, x in enumerate(batch):
            if not isinstance(x, ts.Tensor):
                raise TypeError(f"default_collate: sample {i} is {type(x).__name__}, sample 0 a tensor")
        return ts.stack(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: batch must contain {_COLLATE_TYPES}; found a NumPy array of dtype "
                            f"{elem.dtype}")
        return ts.asarray(np.stack(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return ts.asarray(np.array(batch))
    if isinstance(elem, bool):
        return ts.asarray(batch, dtype=ts.bool)
    if isinstance(elem, float):
        return ts.asarray(batch, dtype=ts.float64)
    if isinstance(elem, int):
        return ts.asarray(batch, dtype=ts.int64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(out)
        except TypeError:  # a mapping type that cannot be built from a dict
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(x) != size for x in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # PyTorch returns a list here too
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(f"default_collate: batch must contain {_COLLATE_TYPES}; found {type(elem).__name__}")


def default_convert(data):
    """What the loader applies to unbatched samples (``batch_size=None``): NumPy arrays become tensors, containers
    are converted element by element, everything else passes through."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return ts.asarray(data)
    if isinstance(data, (np.bool_, np.number)):
        return ts.asarray(data)
    if isinstance(data, collections.abc.Mapping):
        out = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # as PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


# -- the loader -----------------------------------------------------------------------------------------------------

class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader`` with ``num_workers=0``.

    batch_size: samples per batch (default 1; None yields samples one by one, unbatched).  shuffle: a new random
    order each epoch, from tensorswitch's generator (Note [Shuffling]; ``ts.manual_seed`` makes it reproducible).
    sampler / batch_sampler: custom index orders (exclusive with shuffle; batch_sampler also with batch_size and
    drop_last).  collate_fn: merges a list of samples (default :func:`default_collate`).  drop_last: drop the last,
    incomplete batch.  generator: the ``ts.Generator`` that shuffling draws from (default ``ts.generator("cpu")``).

    ``len(loader)`` is the number of batches.  A batch of a TensorDataset is a list of tensors, each on the device of
    the tensor it comes from.

    >>> import tensorswitch as ts
    >>> loader = DataLoader(TensorDataset(ts.arange(5)), batch_size=2)
    >>> len(loader), [b[0].tolist() for b in loader]
    (3, [[0, 1], [2, 3], [4]])
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, drop_last=False, generator=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; got num_workers={num_workers!r}")
        if num_workers > 0:
            raise NotImplementedError(f"DataLoader: num_workers={num_workers} is not supported yet (tensorswitch "
                                      f"loads in the main process); use num_workers=0")
        if not isinstance(shuffle, bool):
            raise TypeError(f"DataLoader: shuffle must be True or False, got {shuffle!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # checks batch_size and drop_last
        self.dataset, self.batch_size, self.drop_last, self.num_workers = dataset, batch_size, drop_last, num_workers
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    def __len__(self):
        return len(self.batch_sampler) if self._auto_collation else len(self.sampler)

    def __iter__(self):
        dataset, collate = self.dataset, self.collate_fn
        if not self._auto_collation:
            for index in self.sampler:
                yield collate(dataset[index])
            return
        # TensorDataset with the default collation: gather each tensor's rows at once (same result, fewer copies)
        fast = (collate is default_collate and isinstance(dataset, TensorDataset)
                and type(dataset).__getitem__ is TensorDataset.__getitem__)
        for indices in self.batch_sampler:
            if fast and len(indices):
                yield dataset._batch([int(i) for i in indices])
            else:
                yield collate([dataset[i] for i in indices])
