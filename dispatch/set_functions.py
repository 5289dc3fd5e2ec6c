"""Set functions of the Array API standard: unique_all, unique_counts, unique_inverse, unique_values.

Each is a composition of public ops, so it runs on every backend and plugin that has those kernels, with no kernel of
its own: a stable argsort of the flattened input, the sorted values gathered with take_along_axis, a comparison of
neighbours marking where each group of equal values starts, nonzero for those starts, cumulative_sum to number the
groups and scatter_add to send each group number back to the element's original position.  Only the number of
distinct values crosses to the host (inside nonzero: the result's size).

Complex values are grouped the same way, ordered by real part and then imaginary part, as NumPy orders them.

Equality is ``==``: -0.0 and +0.0 are one value, and every NaN is distinct (NaN != NaN), each its own entry with a
count of 1, as the standard says.  Values come out sorted (Note [Sort order], kernels/cpu/sort.cpp: NaNs last); a
group's value is its first element in that order (of -0.0 and +0.0, whichever comes first in x), and its index
(unique_all) the first position in x holding it, as NumPy's.  Indices and counts are int64; inverse_indices has x's
shape.

>>> import tensorswitch as ts
>>> r = ts.unique_all(ts.asarray([3, 1, 3, 2, 1, 3]))
>>> r.values.tolist(), r.indices.tolist(), r.inverse_indices.tolist(), r.counts.tolist()
([1, 2, 3], [1, 3, 0], [2, 0, 2, 1, 0, 2], [2, 1, 3])
"""

from collections import namedtuple

from . import dispatcher as d
from . import functions as F
from . import nnops, searching, sorting, statistical
from .dtypes import DTYPES

__all__ = ["isin", "unique_all", "unique_counts", "unique_inverse", "unique_values", "UniqueAllResult",
           "UniqueCountsResult", "UniqueInverseResult"]

_BOOL, _INT64 = DTYPES[0], DTYPES[4]

UniqueAllResult = namedtuple("UniqueAllResult", ["values", "indices", "inverse_indices", "counts"])
UniqueCountsResult = namedtuple("UniqueCountsResult", ["values", "counts"])
UniqueInverseResult = namedtuple("UniqueInverseResult", ["values", "inverse_indices"])


def _complex_order(flat):
    """The stable order of complex values by real part, then imaginary part (NumPy's order of complex numbers):
    a stable argsort by the imaginary parts, then one by the real parts in that order (sort has no complex
    kernels: the standard orders real numbers only)."""
    by_imag = sorting.argsort(flat.imag)
    real = nnops.take_along_axis(flat.real, by_imag, axis=0)
    return nnops.take_along_axis(by_imag, sorting.argsort(real), axis=0)


class _Groups:
    """The groups of equal values of ``x`` flattened: ``order`` (the stable argsort), ``flags`` (True where a group
    starts in sorted order), ``starts`` (their positions) and ``values`` (one per group, sorted)."""

    def __init__(self, op, x):
        d.require_tensor(op, x)
        self.x = x
        self.flat = F.reshape(x, (-1,))
        self.n = n = self.flat.shape[0]
        device = x.device
        if n == 0:
            self.order = self.starts = F.zeros((0,), dtype=_INT64, device=device)
            self.values = d.empty((0,), x.dtype, device)
            return
        self.order = _complex_order(self.flat) if x.dtype.kind == "complex" else sorting.argsort(self.flat)
        ordered = nnops.take_along_axis(self.flat, self.order, axis=0)
        self.flags = F.ones((n,), dtype=_BOOL, device=device)
        if n > 1:  # a new group wherever a value differs from the one before it (NaN differs from everything)
            self.flags[1:] = d.binary("not_equal", ordered[1:], ordered[:-1])
        self.starts = searching.nonzero(self.flags)[0]
        self.values = nnops.take_along_axis(ordered, self.starts, axis=0)

    def counts(self):
        if self.n == 0:
            return F.zeros((0,), dtype=_INT64, device=self.x.device)
        ends = F.concat([self.starts[1:], F.full((1,), self.n, dtype=_INT64, device=self.x.device)])
        return d.binary("subtract", ends, self.starts)

    def indices(self):
        """The first position in x of each group: stable, so the group's first element in sorted order."""
        if self.n == 0:
            return self.starts
        return nnops.take_along_axis(self.order, self.starts, axis=0)

    def inverse(self):
        """Each element's group number, in x's shape."""
        device = self.x.device
        if self.n == 0:
            return F.zeros(self.x.shape, dtype=_INT64, device=device)
        number = d.binary("subtract", statistical.cumulative_sum(self.flags, dtype=_INT64), 1)  # in sorted order
        inverse = nnops.scatter_add(F.zeros((self.n,), dtype=_INT64, device=device), 0, self.order, number)
        return F.reshape(inverse, self.x.shape)


def unique_values(x, /):
    """The distinct values of ``x``, sorted, as a 1-D tensor (every NaN is one of them; -0.0 equals +0.0).

    >>> import tensorswitch as ts
    >>> ts.unique_values(ts.asarray([[2.0, float("nan")], [2.0, float("nan")]])).tolist()
    [2.0, nan, nan]
    """
    return _Groups("unique_values", x).values


def unique_counts(x, /):
    """The distinct values of ``x`` and how often each occurs: ``UniqueCountsResult(values, counts)``.

    >>> import tensorswitch as ts
    >>> ts.unique_counts(ts.asarray([True, False, True])).counts.tolist()
    [1, 2]
    """
    g = _Groups("unique_counts", x)
    return UniqueCountsResult(g.values, g.counts())


def unique_inverse(x, /):
    """The distinct values of ``x`` and, for each element of x, the index of its value among them (x's shape):
    ``UniqueInverseResult(values, inverse_indices)``; ``values[inverse_indices]`` rebuilds x.

    >>> import tensorswitch as ts
    >>> ts.unique_inverse(ts.asarray([[5, 7], [7, 5]])).inverse_indices.tolist()
    [[0, 1], [1, 0]]
    """
    g = _Groups("unique_inverse", x)
    return UniqueInverseResult(g.values, g.inverse())


def unique_all(x, /):
    """``UniqueAllResult(values, indices, inverse_indices, counts)``: the distinct values of ``x`` (sorted), the first
    index in the flattened x of each, each element's index among the values (x's shape) and each value's count."""
    g = _Groups("unique_all", x)
    return UniqueAllResult(g.values, g.indices(), g.inverse(), g.counts())


def isin(x1, x2, /, *, invert=False):
    """For each element of ``x1``, whether it equals some element of ``x2`` (``==``: NaN is in nothing, -0.0 is
    0.0); ``invert=True`` gives the opposite.  The result has x1's shape.  From the 2025.12 standard (NumPy's
    ``isin``): x2 is sorted once and each x1 element found by a binary search, so it runs on every device with
    sort and searchsorted kernels.

    >>> import tensorswitch as ts
    >>> ts.isin(ts.asarray([1, 4, 2]), ts.asarray([2, 3, 1])).tolist()
    [True, False, True]
    """
    from .tensor import Tensor

    if not isinstance(x1, Tensor):
        d.require_tensor("isin", x1)
    if not isinstance(x2, Tensor):
        if not d.is_operand(x2):
            d.require_tensor("isin", x2)
        x2 = F.asarray(x2, device=x1.device)
    if x2.device is not x1.device:
        from . import errors

        raise errors.device_mismatch("isin", (x1.device, x2.device))
    values = F.reshape(x2, (-1,))
    if values.shape[0] == 0 or x1.size == 0:
        out = F.zeros(x1.shape, dtype=_BOOL, device=x1.device)
        return d.unary("logical_not", out) if invert and x1.size else out
    values = sorting.sort(values)
    flat = F.reshape(x1, (-1,))
    where = sorting.searchsorted(values, flat, side="left")
    # a position past the end finds nothing: look at the last value there (never equal to a larger x1 element)
    where = d.binary("minimum", where, values.shape[0] - 1)
    found = d.binary("equal", nnops.take_along_axis(values, where, axis=0), flat)
    if invert:
        found = d.unary("logical_not", found)
    return F.reshape(found, x1.shape)
