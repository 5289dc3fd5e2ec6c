"""Samples of the fused ops (Note [Kernel contract], "Fused ops"): ``nll_log_softmax`` and its backward, reached
through ``dispatch.nnops`` as cross_entropy reaches them, and ``linear`` (``x @ w.T + b``) through
``ts.nn.functional.linear``.  The conformance suite runs them only on devices that
register the kernels (they are optional: a backend without them runs the composition, which the log_softmax,
take_along_axis and scatter_add samples check).

Logits cover one row, one class, N past the cpu threading grain, C wider than a work-group, transposed and strided
views, targets on every class, rows with NaN, +inf and all -inf (NaN: Note [Softmax of non-finite rows]) and rows
far from zero; both reductions (mean and sum); targets outside [0, C) on either side must be reported (the forward
raises TargetOutOfRange, an IndexError).

Tolerances: the loss sums N row terms, each a log_softmax value: ``rtol = 8 eps(dtype) + N eps(acc)`` (the
accumulation dtype's, Note [Reduction tolerances]); the gradient is elementwise (softmax times the scale):
``TOLERANCE``'s, times ten in atol as for softmax, scaled by |c|.  linear is a product plus one more term:
matmul's tolerance (Note [Reduction tolerances]) with K + 1 terms, the bias counted in the magnitude.

linear covers M = 1, N = 1, K = 0 (every row is the bias), K past the cpu threading grain, x contiguous, transposed
and strided, w as a Linear keeps it (its transpose is the kernel's operand) or transposed itself, a strided bias,
and NaN and infinities in x.
"""

import numpy as np

import tensorswitch as ts
from ...dispatch import nnops
from .. import reference
from .core import TOLERANCE, Sample, _acc_eps, _eps, to_device, values
from .matmul import matmul_tolerance

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


#: (M, K, N, layout of x, layout of w, layout of b) for linear
LINEAR_CASES = [
    ((128, 256, 10), "contiguous", "contiguous", "contiguous"),  # a Linear layer's
    ((1, 7, 1), "contiguous", "contiguous", "contiguous"),
    ((5, 0, 4), "contiguous", "contiguous", "contiguous"),       # K = 0: the bias in every row
    ((9, 6, 11), "transposed", "contiguous", "strided"),
    ((9, 6, 11), "strided", "transposed", "contiguous"),
    ((300, 70, 513), "contiguous", "contiguous", "contiguous"),  # past the cpu threading grain
]


def linear_samples(op, dtype, device, rng):
    for s in _linear(dtype, rng):
        s.run.device = device
        yield s


def _linear_tolerance(x, w, b):
    atol, rtol = matmul_tolerance(np.concatenate([x, np.ones(x.shape[:1] + (1,), x.dtype)], axis=1),
                                  np.concatenate([w.T, b[None, :]], axis=0))
    return atol, rtol


def _linear_reference(x, w, b):
    with np.errstate(all="ignore"):
        return (x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64)).astype(x.dtype)


def _linear(dtype, rng):
    fn = ts.nn.functional.linear
    for (m, k, n), xl, wl, bl in LINEAR_CASES:
        x, w, b = values(dtype, (m, k), rng, -1, 1), values(dtype, (n, k), rng, -1, 1), values(dtype, (n,), rng, -1, 1)
        atol, rtol = _linear_tolerance(x, w, b)
        yield _sample(f"linear(x {xl} {(m, k)}, w {wl} {(n, k)}, b {bl} {(n,)})", fn,
                      [(x, xl), (w, wl), (b, bl)], _linear_reference(x, w, b), atol, rtol)
    x, w, b = values(dtype, (4, 3), rng, -1, 1), values(dtype, (2, 3), rng, -1, 1), values(dtype, (2,), rng, -1, 1)
    x[1, 0], x[2, 2], x[3, 1] = np.nan, np.inf, -np.inf
    atol, rtol = _linear_tolerance(np.nan_to_num(x, posinf=1, neginf=1), w, b)
    yield _sample("linear(x with NaN, +inf and -inf)", fn, [(x, "contiguous"), (w, "contiguous"),
                                                           (b, "contiguous")], _linear_reference(x, w, b), atol, rtol)


__all__ = ["FUSED_CASES", "LINEAR_CASES", "fused_samples", "linear_samples"]
