"""Samples of the reductions (sum, prod, max, min, argmax, argmin, all, any): every axis form, keepdims, ties and
NaNs for the arg reductions, empty axes, and long reductions that take every backend's parallel paths.

Note [Reduction tolerances]
~~~~~~~~~~~~~~~~~~~~~~~~~~~
A float sum over n elements is compared with the float64 sum rounded to the result dtype, allowing

    atol = eps(result) * |sum| + 4 * eps(acc) * sqrt(n) * sqrt(sum of x**2)

where acc is the accumulation dtype every backend must at least use: float32 for float16 and float32 inputs, float64
for float64.  The first term is the final rounding; the second is a generous statistical bound on the rounding of n
additions in any order (sequential, blocked, pairwise, tree).  The inputs of float sums have magnitudes in [1, 2] with
as many negative as positive values, so that the partial sums stay small and every element is larger than the
tolerance: a backend that drops or doubles one element fails (tests/test_samples.py proves it for every sum sample).
Products are compared relatively, rtol = eps(result) + 8 * eps(acc) * sqrt(n), on factors exp(+-u) with u in
[0.005, 0.01], so that dropping any factor changes the product by more than the tolerance.  Matmul allows
eps(result) * |c| + 2 * K * eps(acc) * (|a| @ |b|): the worst-case bound of a K-term dot product, which any missing
term of magnitude about 1 exceeds.
"""

import numpy as np

import tensorswitch as ts
from ...kernels import optable
from .. import reference
from . import core
from .core import LARGE, MEDIUM, WIDE_DTYPES, Sample, _acc_eps, _eps, specials, to_device, values


REDUCTION_CASES = [((), None), ((7,), None), ((7,), 0), ((3, 4, 5), 1), ((3, 4, 5), (0, 2)), ((3, 4, 5), -1),
                   ((3, 4, 5), None), ((4, 6), 0), ((0, 3), 1)]

#: long reductions, (shape, axis, layout), all past the cpu threading grain (32768 elements): the cpu backend splits
#: one long reduction across threads when there are fewer outputs than threads ((LARGE,) always, (2, MEDIUM) with
#: more than two threads) and parallelises over the outputs otherwise ((128, 300) for up to 128 threads); OpenCL
#: and CUDA split a long axis over several work-groups and a second pass ((LARGE,), (2, MEDIUM)), or give each output
#: one work-group ((128, 300))
LONG_REDUCTIONS = [((LARGE,), None, "contiguous"), ((MEDIUM,), 0, "strided"), ((2, MEDIUM), -1, "contiguous"),
                   ((MEDIUM, 2), 0, "contiguous"), ((128, 300), -1, "contiguous"), ((300, 128), 0, "reversed")]
#: and for WIDE_DTYPES only
WIDE_REDUCTIONS = [((2, LARGE), -1, "transposed")]


def _extent(shape, axis):
    if not shape:
        return 1
    axes = range(len(shape)) if axis is None else [a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)]
    return int(np.prod([shape[a] for a in axes]))


def reduction_values(op, dtype, shape, axis, rng):
    """Inputs for a reduction: see Note [Reduction tolerances] for float sums and products; all/any get inputs where
    the answer depends on one element; the others random values (with the integer edges)."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if op in ("sum", "prod") and dt.kind == "f":
        signs = np.where(rng.permutation(n) % 2 == 0, 1.0, -1.0)
        if op == "sum":
            flat = signs * rng.uniform(1.0, 2.0, n)
        else:
            flat = rng.permutation(signs) * np.exp(signs * rng.uniform(0.005, 0.01, n))
        return flat.astype(dt).reshape(shape)
    if op in ("sum", "prod") and dt.kind == "c":
        # sums: both parts as the float sums' (Note [Reduction tolerances]); products: factors exp(+-u) * e^(i phi)
        # with a random phase, so that the modulus stays near 1 however long the product
        signs = np.where(rng.permutation(n) % 2 == 0, 1.0, -1.0)
        if op == "sum":
            re, im = signs * rng.uniform(1.0, 2.0, n), rng.permutation(signs) * rng.uniform(1.0, 2.0, n)
            return core.complex_parts(re, im, dt).reshape(shape)
        z = np.exp(signs * rng.uniform(0.005, 0.01, n) + 1j * rng.uniform(-np.pi, np.pi, n))
        return z.astype(dt).reshape(shape)
    if op in ("all", "any"):
        flip = rng.random(n) < min(0.5, 0.7 / max(1, _extent(shape, axis)))
        truth = ~flip if op == "all" else flip
        if dt.kind == "b":
            return truth.reshape(shape)
        x = values(dt, (n,), rng)
        if dt.kind == "c":  # one part zero and the other not still counts as true
            x = core.complex_parts(np.where(rng.random(n) < 0.3, 0, x.real), x.imag, dt)
        x = np.where(x == 0, np.ones((), dt), x) if dt.kind not in "fc" else np.where(x == 0, np.nan, x).astype(dt)
        return np.where(truth, x, np.zeros((), dt)).astype(dt).reshape(shape)
    return values(dt, shape, rng)


def reduction_tolerance(op, x, axis):
    """(atol, rtol) for reduction ``op`` of float ``x`` over ``axis`` (None, None elsewhere): Note [Reduction
    tolerances]."""
    if op not in ("sum", "prod") or x.dtype.kind not in "fc":
        return None, None
    n = max(1, _extent(x.shape, axis))
    x64 = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)  # complex: |.| is the modulus
    tiny = float(np.finfo(x.dtype).smallest_subnormal)
    with np.errstate(all="ignore"):
        if op == "sum":
            total = np.abs(np.sum(x64, axis=axis))
            spread = np.sqrt(np.sum(np.abs(x64) ** 2, axis=axis))
            return np.asarray(_eps(x.dtype) * total + 4 * _acc_eps(x.dtype) * np.sqrt(n) * spread + tiny), 0.0
    return tiny, _eps(x.dtype) + 8 * _acc_eps(x.dtype) * np.sqrt(n)


def _reduction_sample(op, dtype, device, x, axis, layout="contiguous", keepdims=False, label=""):
    expected = reference.reduction(op, x, axis)
    atol, rtol = reduction_tolerance(op, x, axis)
    if keepdims:
        axes = range(x.ndim) if axis is None else [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        atol = None if atol is None else np.reshape(np.broadcast_to(atol, expected.shape), shape)
        expected = expected.reshape(shape)
    what = f"{op}({label}{layout} {x.shape}, axis={axis}" + (", keepdims=True)" if keepdims else ")")
    return Sample(what, _bound_reduction(op, axis, keepdims, x, layout, device), expected, atol=atol, rtol=rtol,
                  inputs={"x": x, "axis": axis, "layout": layout, "keepdims": keepdims})


def _bound_reduction(op, axis, keepdims, x, layout, device):
    fn = getattr(ts, op)
    if keepdims:
        return lambda: fn(to_device(x, device, layout), axis=axis, keepdims=True)
    return lambda: fn(to_device(x, device, layout), axis=axis)


def reduction_samples(op, dtype, device, rng):
    arg = op in ("argmax", "argmin")
    dt = np.dtype(dtype)
    for shape, axis in REDUCTION_CASES:
        if arg and isinstance(axis, tuple):
            continue
        for layout in ("contiguous", "transposed") if len(shape) > 1 else ("contiguous",):
            yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis, layout)
    for shape, axis, layout in LONG_REDUCTIONS + (WIDE_REDUCTIONS if dtype in WIDE_DTYPES else []):
        yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis, layout)
    # keepdims: one axis, a negative axis, all axes (axis=None keeps every dimension as 1), several axes
    for shape, axis in [((3, 4), -1), ((2, 3, 4), -2), ((2, 3, 4), None), ((2, 3, 4), (0, 2))]:
        if arg and isinstance(axis, tuple):
            continue
        yield _reduction_sample(op, dtype, device, reduction_values(op, dtype, shape, axis, rng), axis,
                                keepdims=True)
    if arg and dt.kind in "iuf":
        # ties: the first index wins, also when the tie spans the chunks of a split reduction
        x = rng.integers(0, 4, (3, 4, 5)).astype(dt)  # four values: many ties
        for axis in (1, -1, None):
            yield _reduction_sample(op, dtype, device, x, axis, label="ties in ")
        x = np.zeros((LARGE,), dt)
        yield _reduction_sample(op, dtype, device, x, None, label="all equal ")
        x = values(dtype, (LARGE,), rng, -3, 3) if dt.kind != "u" else values(dtype, (LARGE,), rng, 1, 3)
        extreme = np.array(4 if op == "argmax" else (-4 if dt.kind != "u" else 0), dt)
        x[[17, LARGE // 2 + 3, LARGE - 5]] = extreme
        yield _reduction_sample(op, dtype, device, x, None, label="three equal extremes in ")
        yield _reduction_sample(op, dtype, device, np.stack([x, x[::-1]]), -1, label="equal extremes in ")
    if dt.kind == "f" or (dt.kind == "c" and op in ("all", "any")):
        x = specials(dtype)
        x = (x if dt.kind == "f" else x[::14][:12]).reshape(3, 4)
        yield Sample(f"{op}(NaN, inf rows)", _bound_reduction(op, 1, False, x, "contiguous", device),
                     reference.reduction(op, x, 1), atol=np.inf if op in ("sum", "prod") else None,
                     inputs={"x": x, "axis": 1})
        if op in ("argmax", "argmin", "max", "min"):
            # NaN wins, and the first NaN is the index
            x = values(dtype, (LARGE,), rng)
            x[[LARGE // 3, LARGE // 2, LARGE - 2]] = np.nan
            yield _reduction_sample(op, dtype, device, x, None, label="NaNs in ")
            x = values(dtype, (4, 9), rng)
            x[1, [2, 6]] = np.nan
            x[2, 8] = np.nan
            x[3, 0] = np.inf if op in ("argmax", "max") else -np.inf
            for axis in (1, 0):
                yield _reduction_sample(op, dtype, device, x, axis, label="NaNs in ")
    # an empty reduction: the identity, or a clear error for ops without one
    x = np.zeros((0, 3), dtype)
    if optable.REDUCTIONS[op].init is None:
        def run(x=x):
            return getattr(ts, op)(to_device(x, device), axis=0)
        yield Sample(f"{op}(empty axis) raises ValueError", run, raises=ValueError)
    else:
        yield _reduction_sample(op, dtype, device, x, 0, label="empty axis ")
