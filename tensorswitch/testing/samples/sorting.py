"""Samples of sort, argsort and searchsorted (the "sorting" family; Note [Sort order] in kernels/cpu/sort.cpp).

sort and argsort run on every axis of 1-D to 3-D inputs, in every layout, ascending and descending, over random
values, values with many ties (small integers; -0.0 and +0.0 mixed), every special float (NaN, infinities, signed
zeros, the extremes) and the integer edges, with a row past the cpu threading grain (and many OpenCL work-groups),
many short rows, rows of one element and empty shapes.  argsort's indices pin stability: ties keep their order in
both directions.  searchsorted searches sorted inputs (NaNs last), with ties, both sides, a sorter, a strided x1,
0-d and 2-D strided x2, Python scalars, an empty x1 and the errors.  Results are exact: nothing is computed, only
moved.
"""

import numpy as np

import tensorswitch as ts
from .. import reference
from .core import LARGE, _call, specials, values

#: (shape, axis, layout) of the sort/argsort samples over random values
SORT_CASES = [((1,), -1, "contiguous"), ((2,), 0, "contiguous"), ((7,), -1, "reversed"), ((33,), 0, "strided"),
              ((1000,), -1, "contiguous"), ((4, 9), 1, "contiguous"), ((4, 9), 0, "contiguous"),
              ((5, 6), -1, "transposed"), ((5, 6), 0, "transposed"), ((3, 4, 5), 1, "contiguous"),
              ((3, 4, 5), 0, "strided"), ((3, 4, 5), 2, "reversed"), ((6, 1), -1, "contiguous"),
              ((3, 0), -1, "contiguous"), ((0, 4), 0, "contiguous"), ((0,), 0, "contiguous")]

#: the big ones: a row past the cpu grain (and many OpenCL work-groups), and many short rows, in both layouts
LARGE_SORT_CASES = [((LARGE,), -1, "contiguous"), ((4000, 25), -1, "contiguous"), ((25, 4000), 0, "contiguous")]


def sorting_samples(op, dtype, device, rng):
    if op == "searchsorted":
        yield from _search_samples(dtype, device, rng)
    else:
        yield from _sort_samples(op, dtype, device, rng)


def _sort(op, x, layout, axis, descending, device, what=""):
    fn = ts.sort if op == "sort" else ts.argsort
    expected = reference.SORTING[op](x, axis, descending)
    return _call(f"{op}({layout} {x.shape}{what}, axis={axis}, descending={descending})", fn, device, [(x, layout)],
                 expected, kwargs={"axis": axis, "descending": descending})


def _ties(dtype, shape, rng):
    """Many equal elements: a few small values (and, for floats, -0.0 mixed with +0.0)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    x = rng.integers(0, 4, shape).astype(dt)
    if dt.kind == "f":
        zeros = rng.random(shape) < 0.3
        x[zeros] = np.where(rng.random(int(zeros.sum())) < 0.5, -0.0, 0.0)
    return x


def _sort_samples(op, dtype, device, rng):
    dt = np.dtype(dtype)
    for descending in (False, True):
        for shape, axis, layout in SORT_CASES:
            yield _sort(op, values(dtype, shape, rng), layout, axis, descending, device)
        for shape, axis, layout in [((50,), 0, "contiguous"), ((6, 40), 1, "transposed"), ((40, 6), 0, "strided")]:
            yield _sort(op, _ties(dtype, shape, rng), layout, axis, descending, device, " of ties")
        if dt.kind == "f":  # every special, each several times, shuffled: NaN last (first when descending)
            x = rng.permutation(np.tile(specials(dtype), 5))
            yield _sort(op, x, "contiguous", 0, descending, device, " of specials")
            yield _sort(op, x.reshape(6, 10), "transposed", 0, descending, device, " of specials")
        elif dt.kind in "iu":  # the edges, several times over
            info = np.iinfo(dt)
            edges = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1] + ([-1] if info.min else []), dt)
            yield _sort(op, rng.permutation(np.tile(edges, 6)), "reversed", 0, descending, device, " of edges")
        for shape, axis, layout in LARGE_SORT_CASES:
            make = _ties if shape == (LARGE,) and descending else values  # the long row once with ties
            yield _sort(op, make(dtype, shape, rng), layout, axis, descending, device)
    fn = ts.sort if op == "sort" else ts.argsort
    x = values(dtype, (3, 4), rng)
    yield _call(f"{op}(0-d) raises AxisError", fn, device, [(values(dtype, (), rng), "contiguous")], None,
                raises=ts.AxisError)
    yield _call(f"{op}((3, 4), axis=2) raises AxisError", fn, device, [(x, "contiguous")], None,
                kwargs={"axis": 2}, raises=ts.AxisError)
    yield _call(f"{op}((3, 4), descending='yes') raises TypeError", fn, device, [(x, "contiguous")], None,
                kwargs={"descending": "yes"}, raises=TypeError)


def _sorted_values(dtype, n, rng, ties=False):
    x = _ties(dtype, (n,), rng) if ties else values(dtype, (n,), rng)
    if np.dtype(dtype).kind == "f" and n > 3:
        x[rng.integers(0, n, 2)] = np.nan  # NaNs last once sorted, as searchsorted expects
    return reference.sort(x)


def _search(what, x1, x2, layouts, side, device, sorter=None):
    args = [(x1, layouts[0]), (x2, layouts[1]) if isinstance(x2, np.ndarray) else x2]
    kwargs = {"side": side}
    expected_x2 = x2 if isinstance(x2, np.ndarray) else np.asarray(x2, x1.dtype)
    if sorter is not None:
        return _call(f"searchsorted({what}, side={side}, sorter)",
                     lambda a, b, s, side: ts.searchsorted(a, b, side=side, sorter=s), device,
                     args + [(sorter, "contiguous")], reference.searchsorted(x1, expected_x2, side, sorter),
                     kwargs=kwargs)
    return _call(f"searchsorted({what}, side={side})", ts.searchsorted, device, args,
                 reference.searchsorted(x1, expected_x2, side), kwargs=kwargs)


def _search_samples(dtype, device, rng):
    dt = np.dtype(dtype)
    for side in ("left", "right"):
        for n, m in [(1, 5), (2, 7), (10, 40), (257, 1000), (5000, LARGE)]:
            x1 = _sorted_values(dtype, n, rng)
            x2 = np.concatenate([values(dtype, (m - min(m, n),), rng), x1[: min(m, n)]])  # x1's own values: ties
            yield _search(f"x1 ({n},), x2 ({m},)", x1, rng.permutation(x2), ("contiguous", "contiguous"), side, device)
        x1 = _sorted_values(dtype, 60, rng, ties=True)
        x2 = _ties(dtype, (6, 8), rng)
        yield _search("x1 (60,) of ties, transposed x2 (6, 8)", x1, x2, ("contiguous", "transposed"), side, device)
        yield _search("strided x1 (60,), reversed x2 (6, 8)", x1, x2, ("strided", "reversed"), side, device)
        yield _search("x1 (60,), 0-d x2", x1, x2[0, 0].reshape(()), ("contiguous", "contiguous"), side, device)
        yield _search("x1 (60,), empty x2 (0, 3)", x1, x2[:0, :3], ("contiguous", "contiguous"), side, device)
        yield _search("empty x1, x2 (4,)", x1[:0], x2[0, :4], ("contiguous", "contiguous"), side, device)
        if dt.kind == "f":
            x1 = reference.sort(rng.permutation(np.tile(specials(dtype), 3)))
            x2 = specials(dtype)
            yield _search("x1 of specials, x2 specials", x1, x2, ("contiguous", "contiguous"), side, device)
        unsorted = values(dtype, (50,), rng)
        order = reference.argsort(unsorted)
        yield _search("unsorted x1 (50,)", unsorted, values(dtype, (20,), rng), ("contiguous", "contiguous"), side,
                      device, sorter=order)
        if dt.kind != "b":
            yield _search("x1 (60,) of ties, Python int x2", _sorted_values(dtype, 60, rng, ties=True), 1,
                          ("contiguous", None), side, device)
    x1 = _sorted_values(dtype, 10, rng)
    yield _call("searchsorted(2-D x1) raises ShapeError", ts.searchsorted, device,
                [(x1.reshape(2, 5), "contiguous"), (x1, "contiguous")], None, raises=ts.ShapeError)
    yield _call("searchsorted(side='middle') raises ValueError", ts.searchsorted, device,
                [(x1, "contiguous"), (x1, "contiguous")], None, kwargs={"side": "middle"}, raises=ValueError)
    bad = np.arange(10)
    bad[3] = 10
    yield _call("searchsorted(sorter index 10 of 10) raises IndexError",
                lambda a, b, s: ts.searchsorted(a, b, sorter=s), device,
                [(x1, "contiguous"), (x1, "contiguous"), (bad, "contiguous")], None, raises=IndexError)
