"""Samples of softmax and log_softmax: every axis and layout, rows long enough for the cpu threads, and rows of
infinities, NaN and large values."""

import numpy as np

import tensorswitch as ts
from .. import reference
from .core import TOLERANCE, _call, values


SOFTMAX_CASES = [((5,), -1, "contiguous"), ((3, 7), -1, "contiguous"), ((3, 7), 0, "contiguous"),
                 ((2, 3, 4), 1, "contiguous"), ((4, 2000), -1, "contiguous"), ((1,), 0, "contiguous"),
                 ((3, 7), -1, "strided"), ((3, 7), 0, "strided"), ((4, 5), 1, "transposed"), ((4, 5), 0, "transposed"),
                 ((2, 3, 4), -1, "reversed"), ((2, 3, 4), 0, "transposed"),
                 # past the cpu threading grain (32768 elements), along either axis
                 ((64, 1024), -1, "contiguous"), ((64, 1024), 0, "contiguous"), ((64, 1024), -1, "transposed")]

#: rows with a +inf (every position NaN, as in PyTorch), all -inf (NaN), a NaN (NaN), some -inf (exp(-inf) = 0),
#: large values
SOFTMAX_SPECIALS = np.array([[np.inf, 1.0, 2.0, -np.inf], [-np.inf, -np.inf, -np.inf, -np.inf],
                             [np.nan, 1.0, 2.0, 3.0], [0.0, -np.inf, 1.0, -np.inf], [1e4, -1e4, 0.0, 5.0],
                             [-np.inf, 5.0, -np.inf, -np.inf], [2.0, 2.0, 2.0, 2.0]])


def softmax_samples(op, dtype, device, rng):
    log = op == "log_softmax"
    fn = getattr(ts, op)
    atol = TOLERANCE[np.dtype(dtype).name][1] * 10
    for shape, axis, layout in SOFTMAX_CASES:
        x = values(dtype, shape, rng)
        yield _call(f"{op}({layout} {shape}, axis={axis})", fn, device, [(x, layout)], reference.softmax(x, axis, log),
                    kwargs={"axis": axis}, atol=atol)
    # rows far from zero: x - (max + log(sum)) cancels log(sum) away there, (x - max) - log(sum) does not
    far = (values(dtype, (3, 7), rng).astype(np.float64) + np.array([[1e4], [-3e4], [6e4]])).astype(dtype)
    far[0, :3] = [1e4, 1e4, 0.0]
    yield _call(f"{op}(rows far from zero, axis=-1)", fn, device, [(far, "contiguous")],
                reference.softmax(far, -1, log), kwargs={"axis": -1}, atol=atol)
    x = SOFTMAX_SPECIALS.astype(dtype)
    for layout, axis, data in [("contiguous", -1, x), ("transposed", 0, np.ascontiguousarray(x.T)),
                               ("strided", -1, x)]:
        yield _call(f"{op}({layout} rows with +inf, all -inf, NaN, some -inf, large; axis={axis})", fn, device,
                    [(data, layout)], reference.softmax(data, axis, log), kwargs={"axis": axis}, atol=atol)
