"""Samples of where: broadcasting of the condition and both branches, non-contiguous inputs, Python scalars."""

import numpy as np

import tensorswitch as ts
from .core import _call, values


def where_samples(op, dtype, device, rng):
    for sc, sa, sb in [((4, 5), (4, 5), (4, 5)), ((4, 1), (1, 5), (5,)), ((), (3,), ()), ((0,), (0,), (1,))]:
        c = np.asarray(rng.random(sc) < 0.5)
        a, b = values(dtype, sa, rng), values(dtype, sb, rng)
        yield _call(f"where({sc}, {sa}, {sb})", ts.where, device, [(c, "contiguous"), (a, "contiguous"),
                                                                    (b, "contiguous")], np.where(c, a, b))
    c = rng.random((3, 4)) < 0.5
    a, b = values(dtype, (3, 4), rng), values(dtype, (3, 4), rng)
    yield _call("where(non-contiguous)", ts.where, device, [(c, "transposed"), (a, "strided"), (b, "reversed")],
                np.where(c, a, b))
    if np.dtype(dtype).kind != "b":  # a weak Python int on either side keeps the tensor's dtype
        yield _call(f"where((3, 4), {dtype} (3, 4), 1)", ts.where, device, [(c, "contiguous"), (a, "contiguous"), 1],
                    np.where(c, a, np.ones((), a.dtype)))
        yield _call(f"where((3, 4), 1, {dtype} (3, 4))", ts.where, device, [(c, "contiguous"), 1, (b, "contiguous")],
                    np.where(c, np.ones((), b.dtype), b))
