"""Samples of the fused ops (Note [Kernel contract], "Fused ops"): ``nll_log_softmax`` and its backward, reached
through ``dispatch.nnops`` as cross_entropy reaches them.  The conformance suite runs them only on devices that
register the kernels (they are optional: a backend without them runs the composition, which the log_softmax,
take_along_axis and scatter_add samples check).

Logits cover one row, one class, N past the cpu threading grain, C wider than a work-group, transposed and strided
views, targets on every class, rows with NaN, +inf and all -inf (NaN: Note [Softmax of non-finite rows]) and rows
far from zero; both reductions (mean and sum); targets outside [0, C) on either side must be reported (the forward
raises TargetOutOfRange, an IndexError).

Tolerances: the loss sums N row terms, each a log_softmax value: ``rtol = 8 eps(dtype) + N eps(acc)`` (the
accumulation dtype's, Note [Reduction tolerances]); the gradient is elementwise (softmax times the scale):
``TOLERANCE``'s, times ten in atol as for softmax, scaled by |c|.
"""

import numpy as np

import tensorswitch as ts
from ...dispatch import nnops
from .. import reference
from .core import TOLERANCE, Sample, _acc_eps, _eps, to_device, values

#: (N, C, layout, mean) of the logits
FUSED_CASES = [
    ((128, 10), "contiguous", True),   # a training step's
    ((7, 5), "transposed", True),
    ((6, 9), "strided", False),
    ((1, 1), "contiguous", True),      # one row, one class: log_softmax is 0
    ((1, 17), "contiguous", False),
    ((33, 1), "contiguous", True),
    ((3000, 40), "contiguous", True),  # past the cpu threading grain
    ((5, 3000), "contiguous", False),  # rows wider than a work-group
]


def _run(fn, inputs):
    def run():
        return fn(*[to_device(x, run.device, layout) for x, layout in inputs])
    run.device = None
    return run


def _sample(what, fn, inputs, expected=None, atol=None, rtol=None, raises=None):
    return Sample(what, _run(fn, inputs), expected, atol=atol, rtol=rtol, raises=raises,
                  inputs={"args": [x for x, _ in inputs]})


def _targets(n, c, rng):
    t = rng.integers(0, c, n)
    t[: min(n, c)] = np.arange(min(n, c))  # every class at least once where there are rows enough
    return t.reshape(n, 1)


def _specials(dtype, rng):
    """Rows of 6: ordinary, far from zero, holding NaN, +inf, all -inf, some -inf."""
    x = values(dtype, (6, 6), rng).astype(np.float64)
    x[1] += 3e4 if np.dtype(dtype) != np.float16 else 3e3
    x[2, 3] = np.nan
    x[3, 1] = np.inf
    x[4] = -np.inf
    x[5, :2] = -np.inf
    return x.astype(dtype)


def _loss_tolerance(dtype, n):
    return TOLERANCE[np.dtype(dtype).name][1] * 10, 8 * _eps(dtype) + n * _acc_eps(dtype)


def fused_samples(op, dtype, device, rng):
    samples = _forward(dtype, rng) if op == "nll_log_softmax" else _backward(dtype, rng)
    for s in samples:
        s.run.device = device
        yield s


def _forward(dtype, rng):
    for (n, c), layout, mean in FUSED_CASES:
        x = values(dtype, (n, c), rng)
        t = _targets(n, c, rng)
        atol, rtol = _loss_tolerance(dtype, n)
        yield _sample(f"nll_log_softmax({layout} {(n, c)}, mean={mean})",
                      lambda a, b, mean=mean: nnops.nll_log_softmax(a, b, mean=mean),
                      [(x, layout), (t, "contiguous")], reference.nll_log_softmax(x, t[:, 0], mean), atol, rtol)
    x = _specials(dtype, rng)
    for rows, what in ((slice(0, 2), "rows far from zero"), (slice(0, 6), "rows with NaN, +inf and -inf")):
        part = np.ascontiguousarray(x[rows])
        t = np.array([[1], [4], [0], [2], [3], [5]])[rows]
        atol, rtol = _loss_tolerance(dtype, part.shape[0])
        yield _sample(f"nll_log_softmax({what})", lambda a, b: nnops.nll_log_softmax(a, b, mean=False),
                      [(part, "contiguous"), (t, "contiguous")], reference.nll_log_softmax(part, t[:, 0], False),
                      atol, rtol)
    x = values(dtype, (4, 3), rng)
    for bad in (3, -1):
        t = np.array([[0], [2], [bad], [1]])
        yield _sample(f"nll_log_softmax((4, 3), target {bad}) raises IndexError",
                      lambda a, b: nnops.nll_log_softmax(a, b), [(x, "contiguous"), (t, "contiguous")],
                      raises=IndexError)


def _backward(dtype, rng):
    for (n, c), layout, mean in FUSED_CASES:
        x = values(dtype, (n, c), rng)
        t = _targets(n, c, rng)
        g = np.asarray(rng.uniform(0.5, 2.0), dtype)
        scale = float(g) / (n if mean else 1)
        rtol, atol = TOLERANCE[np.dtype(dtype).name]
        yield _sample(f"nll_log_softmax_backward({layout} {(n, c)}, mean={mean})",
                      lambda a, b, gg, mean=mean: nnops.nll_log_softmax_backward(a, b, gg, mean),
                      [(x, layout), (t, "contiguous"), (g, "contiguous")],
                      reference.nll_log_softmax_backward(x, t[:, 0], g, mean), atol * 10 * scale, rtol)
    x = _specials(dtype, rng)
    t = np.array([[1], [4], [0], [2], [3], [5]])
    g = np.asarray(1.0, dtype)
    rtol, atol = TOLERANCE[np.dtype(dtype).name]
    yield _sample("nll_log_softmax_backward(rows far from zero, with NaN, +inf and -inf)",
                  lambda a, b, gg: nnops.nll_log_softmax_backward(a, b, gg, False),
                  [(x, "contiguous"), (t, "contiguous"), (g, "contiguous")],
                  reference.nll_log_softmax_backward(x, t[:, 0], g, False), atol * 10, rtol)


__all__ = ["FUSED_CASES", "fused_samples"]
