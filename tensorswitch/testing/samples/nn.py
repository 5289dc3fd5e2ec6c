"""Samples of the nn kernel families: im2col/col2im through ``ts.unfold``/``ts.fold``, ``ts.max_pool2d`` and
``ts.avg_pool2d`` with their backward passes (``max_pool2d_backward`` and ``avg_pool2d_backward`` of
dispatch/nnops.py, which autograd calls), ``ts.take_along_axis`` and ``ts.scatter_add``.

Images cover stride, padding and dilation together and apart, kernels larger than the stride (overlapping windows),
1x1 kernels, odd sizes, N = 1 and unbatched (C, H, W) inputs, ceil_mode, count_include_pad both ways and
divisor_override, non-contiguous inputs (transposed, strided, sliced and channels-last views) and one input past the
cpu threading grain; max pooling gets NaN (it propagates; the first NaN takes the gradient), -inf, ties (the first
maximum takes the gradient) and a window wholly in the padding (-inf, no gradient).  take_along_axis runs on several
axes and ndims with broadcast and negative indices, scatter_add with repeated indices, an index smaller than src and
integers that wrap; out-of-range indices must raise IndexError.

Tolerances: im2col, the max pools' forward and take_along_axis only move values and must be exact.  Sums (col2im,
avg_pool2d and the backward passes, scatter_add) allow, per element, ``2 * terms * eps(acc) * (the same sum of
absolute values)`` plus one rounding of the result (``rtol = eps``), like Note [Reduction tolerances] (reductions.py):
``terms`` is the most values one element sums.  scatter_add adds in its own dtype (float16 rounds after each add, as
in PyTorch), so its eps is the dtype's.
"""

import numpy as np

import tensorswitch as ts
from ...dispatch import nnops
from .. import reference
from .core import LARGE, Sample, _acc_eps, _eps, to_device, values


#: (shape, kernel_size, dilation, padding, stride, layout) for unfold and fold
CONVOLUTION_CASES = [
    ((2, 3, 5, 5), 3, 1, 0, 1, "contiguous"),
    ((2, 3, 7, 6), 3, 1, 1, 1, "contiguous"),           # padding clipped on every side
    ((1, 2, 9, 8), (2, 3), 1, (1, 0), (2, 1), "contiguous"),
    ((2, 2, 9, 9), 3, 2, 2, 1, "contiguous"),           # dilation
    ((1, 1, 11, 10), (3, 2), (2, 3), (1, 2), (3, 2), "contiguous"),
    ((2, 4, 6, 6), 1, 1, 0, 1, "contiguous"),           # 1x1
    ((2, 3, 8, 8), 5, 1, 2, 1, "contiguous"),           # kernel much larger than stride: every pixel in 25 blocks
    ((2, 3, 8, 8), 2, 1, 0, 2, "contiguous"),           # stride = kernel: no overlap
    ((3, 7, 5), 3, 1, 1, 2, "contiguous"),              # unbatched (C, H, W)
    ((2, 3, 7, 6), 3, 1, 1, 1, "transposed"),
    ((2, 3, 7, 6), (3, 2), 1, 1, (1, 2), "strided"),
    ((2, 3, 7, 6), 3, 1, 1, 1, "sliced"),
    ((2, 3, 7, 6), 3, 1, 1, 2, "channels_last"),
    ((2, 3, 5, 5), (5, 5), 1, 0, 1, "reversed"),        # one block: the whole image
    ((4, 8, 30, 30), 3, 1, 1, 1, "contiguous"),         # past the cpu threading grain
]

#: (shape, kernel_size, stride, padding, dilation, ceil_mode, layout) for the pools (avg_pool2d ignores dilation)
POOLING_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1, False, "contiguous"),
    ((2, 3, 7, 9), 3, 2, 1, 1, False, "contiguous"),
    ((2, 3, 7, 9), 3, 2, 1, 1, True, "contiguous"),       # ceil_mode: a last, clipped window
    ((1, 2, 7, 7), 2, 2, 0, 1, True, "contiguous"),
    ((1, 2, 6, 6), 2, 2, 1, 1, True, "contiguous"),       # ceil_mode whose extra window would start in the padding
    ((2, 2, 9, 8), (3, 2), (1, 2), (1, 1), 1, False, "contiguous"),
    ((2, 3, 7, 7), 3, 1, 1, 1, False, "contiguous"),      # overlapping windows
    ((2, 2, 9, 9), 3, 2, 1, 2, False, "contiguous"),      # dilation (max pool)
    ((2, 2, 10, 9), (2, 3), (2, 1), (1, 1), (3, 2), True, "contiguous"),
    ((2, 3, 5, 5), 1, 1, 0, 1, False, "contiguous"),      # 1x1
    ((3, 7, 5), 2, 1, 1, 1, True, "contiguous"),          # unbatched (C, H, W)
    ((2, 3, 7, 6), 3, 2, 1, 1, False, "transposed"),
    ((2, 3, 7, 6), 2, 1, 1, 1, True, "strided"),
    ((2, 3, 7, 6), 3, 2, 1, 1, True, "sliced"),
    ((2, 3, 7, 6), 2, 2, 0, 1, False, "channels_last"),
    ((4, 8, 40, 40), 3, 2, 1, 1, False, "contiguous"),    # past the cpu threading grain
]


def _image(x, device, layout):
    """``x`` on ``device`` in a memory layout: the shared ones (core.to_device) and two that images have, a slice of a
    larger image and channels-last (NHWC memory seen as NCHW)."""
    if layout == "sliced":
        big = np.zeros(x.shape[:-2] + (x.shape[-2] + 3, x.shape[-1] + 2), x.dtype)
        big[..., 1:1 + x.shape[-2], 2:2 + x.shape[-1]] = x
        return ts.asarray(big, device=device)[..., 1:1 + x.shape[-2], 2:2 + x.shape[-1]]
    if layout == "channels_last":
        t = ts.asarray(np.ascontiguousarray(np.moveaxis(x, -3, -1)), device=device)
        return t.permute_dims((0, 3, 1, 2) if x.ndim == 4 else (2, 0, 1))
    return to_device(x, device, layout)


def _sample(what, fn, inputs, expected=None, atol=None, rtol=None, raises=None):
    """A sample computing ``fn(*tensors)``, the tensors made from ``inputs``: (array, layout) pairs."""
    def run():
        return fn(*[_image(x, run.device, layout) for x, layout in inputs])
    run.device = None
    return Sample(what, run, expected, atol=atol, rtol=rtol, raises=raises,
                  inputs={"args": [x for x, _ in inputs]})


def _bind(samples, device):
    for s in samples:
        s.run.device = device
        yield s


def _image_values(dtype, shape, rng):
    """Floats in [-1, 1] rounded to multiples of 1/64, so that float16 holds them exactly: ties in the max pools then
    come from the data, and no rounding of the input blurs a comparison."""
    return (np.round(values(np.float64, shape, rng, -1, 1) * 64) / 64).astype(dtype)


def _sum_tolerance(dtype, magnitude, terms):
    """(atol, rtol) for a float result summing at most ``terms`` values whose absolute values sum to ``magnitude``."""
    tiny = float(np.finfo(dtype).smallest_subnormal)
    return 2 * max(terms, 1) * _acc_eps(dtype) * np.asarray(magnitude, np.float64) + tiny, _eps(dtype)


def _overlap(kernel, stride, dilation=1):
    """The most windows one pixel lies in."""
    k, s, d = reference._pair(kernel), reference._pair(stride), reference._pair(dilation)
    return int(np.prod([-(-kk // ss) if dd == 1 else kk for kk, ss, dd in zip(k, s, d)]))


# -- im2col / col2im ----------------------------------------------------------------------------------------------

def convolution_samples(op, dtype, device, rng):
    return _bind(_convolution_samples(op, dtype, rng), device)


def _convolution_samples(op, dtype, rng):
    for shape, k, d, p, s, layout in CONVOLUTION_CASES:
        geometry = f"kernel={k}, dilation={d}, padding={p}, stride={s}"
        x = _image_values(dtype, shape, rng)
        if op == "im2col":
            yield _sample(f"unfold({layout} {shape}, {geometry})",
                          lambda t, k=k, d=d, p=p, s=s: ts.unfold(t, k, d, p, s), [(x, layout)],
                          reference.unfold(x, k, d, p, s))
        else:
            cols = _image_values(dtype, reference.unfold(x, k, d, p, s).shape, rng)
            hw = shape[-2:]
            atol, rtol = _sum_tolerance(dtype, reference.fold(np.abs(cols.astype(np.float64)), hw, k, d, p, s),
                                        _overlap(k, s, d))
            layout = layout if layout in ("contiguous", "transposed", "strided", "reversed") else "transposed"
            yield _sample(f"fold({layout} {cols.shape}, output_size={hw}, {geometry})",
                          lambda t, hw=hw, k=k, d=d, p=p, s=s: ts.fold(t, hw, k, d, p, s), [(cols, layout)],
                          reference.fold(cols, hw, k, d, p, s), atol=atol, rtol=rtol)
    # N = 0: the right empty shape, and no kernel call
    x = np.zeros((0, 3, 5, 5), dtype)
    if op == "im2col":
        yield _sample("unfold(empty batch (0, 3, 5, 5), kernel=3)", lambda t: ts.unfold(t, 3), [(x, "contiguous")],
                      np.zeros((0, 27, 9), dtype))
    else:
        yield _sample("fold(empty batch (0, 27, 9), output_size=(5, 5), kernel=3)", lambda t: ts.fold(t, 5, 3),
                      [(np.zeros((0, 27, 9), dtype), "contiguous")], np.zeros((0, 3, 5, 5), dtype))
    # an input too small for the kernel is refused, naming the op
    yield _sample(f"{'unfold' if op == 'im2col' else 'fold'}(kernel larger than the padded input) raises ValueError",
                  (lambda t: ts.unfold(t, 7)) if op == "im2col" else (lambda t: ts.fold(t, 5, 7)),
                  [(np.zeros((1, 1, 5, 5) if op == "im2col" else (1, 49, 1), dtype), "contiguous")], raises=ValueError)


# -- pooling ------------------------------------------------------------------------------------------------------

def pooling_samples(op, dtype, device, rng):
    return _bind(_pooling_samples(op, dtype, rng), device)


def _pool_what(name, layout, shape, k, s, p, d, ceil_mode, extra=""):
    dil = f", dilation={d}" if name.startswith("max") else ""
    return f"{name}({layout} {shape}, kernel={k}, stride={s}, padding={p}{dil}, ceil_mode={ceil_mode}{extra})"


def _pooling_samples(op, dtype, rng):
    for shape, k, s, p, d, ceil_mode, layout in POOLING_CASES:
        x = _image_values(dtype, shape, rng)
        if op.startswith("max"):
            yield from _max_samples(op, dtype, rng, x, k, s, p, d, ceil_mode, layout)
        elif d == 1:
            for include in (True, False):
                yield from _avg_samples(op, dtype, rng, x, k, s, p, ceil_mode, include, None, layout)
    if op.startswith("avg"):  # divisor_override, also with ceil_mode's clipped windows
        for shape, k, s, p, ceil_mode in [((2, 3, 7, 9), 3, 2, 1, True), ((2, 2, 6, 6), 2, None, 0, False)]:
            x = _image_values(dtype, shape, rng)
            yield from _avg_samples(op, dtype, rng, x, k, s, p, ceil_mode, True, 3, "contiguous")
    else:
        yield from _max_special_samples(op, dtype, rng)
    # an empty batch keeps its shape
    x = np.zeros((0, 3, 6, 6), dtype)
    if op == "max_pool2d":
        yield _sample("max_pool2d(empty batch (0, 3, 6, 6), kernel=2)", lambda t: ts.max_pool2d(t, 2),
                      [(x, "contiguous")], np.zeros((0, 3, 3, 3), dtype))
    elif op == "avg_pool2d":
        yield _sample("avg_pool2d(empty batch (0, 3, 6, 6), kernel=2)", lambda t: ts.avg_pool2d(t, 2),
                      [(x, "contiguous")], np.zeros((0, 3, 3, 3), dtype))
    # PyTorch's rule: padding at most half the kernel
    fn = {"max_pool2d": lambda t: ts.max_pool2d(t, 3, 1, 2), "avg_pool2d": lambda t: ts.avg_pool2d(t, 3, 1, 2),
          "max_pool2d_backward": lambda t: nnops.max_pool2d_backward(t, t, 3, 1, 2, 1, False),
          "avg_pool2d_backward": lambda t: nnops.avg_pool2d_backward(t, (1, 1, 5, 5), 3, 1, 2, False, True, None)}[op]
    yield _sample(f"{op}(padding 2 > kernel 3 / 2) raises ValueError", fn,
                  [(np.zeros((1, 1, 5, 5), dtype), "contiguous")], raises=ValueError)


def _max_samples(op, dtype, rng, x, k, s, p, d, ceil_mode, layout, label=""):
    what = _pool_what(op if op == "max_pool2d" else "max_pool2d_backward", layout, x.shape, k, s, p, d, ceil_mode,
                      label)
    expected = reference.max_pool2d(x, k, s, p, d, ceil_mode)
    if op == "max_pool2d":
        yield _sample(what, lambda t: ts.max_pool2d(t, k, s, p, d, ceil_mode), [(x, layout)], expected)
        return
    g = _image_values(dtype, expected.shape, rng)
    atol, rtol = _sum_tolerance(dtype, reference.max_pool2d_backward(np.abs(g.astype(np.float64)), x, k, s, p, d,
                                                                     ceil_mode), _overlap(k, s if s else k, d))
    grad_layout = "contiguous" if layout in ("sliced", "channels_last") else layout
    yield _sample(what, lambda gt, t: nnops.max_pool2d_backward(gt, t, k, s if s else k, p, d, ceil_mode),
                  [(g, grad_layout), (x, layout)], reference.max_pool2d_backward(g, x, k, s, p, d, ceil_mode),
                  atol=atol, rtol=rtol)


def _avg_samples(op, dtype, rng, x, k, s, p, ceil_mode, include, override, layout):
    extra = f", count_include_pad={include}" + (f", divisor_override={override}" if override else "")
    what = _pool_what(op, layout, x.shape, k, s, p, 1, ceil_mode, extra)
    # the override scales the average afterwards in the result dtype: one more rounding
    rounding = 2 if override else 1
    if op == "avg_pool2d":
        expected = reference.avg_pool2d(x, k, s, p, ceil_mode, include, override)
        atol, rtol = _sum_tolerance(dtype, reference.avg_pool2d(np.abs(x.astype(np.float64)), k, s, p, ceil_mode,
                                                                include, override), int(np.prod(reference._pair(k))))
        yield _sample(what, lambda t: ts.avg_pool2d(t, k, s, p, ceil_mode, include, override), [(x, layout)],
                      expected, atol=atol, rtol=rounding * rtol)
        return
    out_shape = reference.avg_pool2d(x, k, s, p, ceil_mode, include, override).shape
    g = _image_values(dtype, out_shape, rng)
    expected = reference.avg_pool2d_backward(g, x.shape, k, s if s else k, p, ceil_mode, include, override)
    atol, rtol = _sum_tolerance(dtype, reference.avg_pool2d_backward(np.abs(g.astype(np.float64)), x.shape, k,
                                                                     s if s else k, p, ceil_mode, include, override),
                                _overlap(k, s if s else k))
    grad_layout = "contiguous" if layout in ("sliced", "channels_last") else layout
    yield _sample(what, lambda gt: nnops.avg_pool2d_backward(gt, x.shape, k, s if s else k, p, ceil_mode, include,
                                                             override), [(g, grad_layout)], expected, atol=atol,
                  rtol=rounding * rtol)


def _max_special_samples(op, dtype, rng):
    """NaN (propagates; the first NaN of a window takes its gradient), -inf, ties and a window with no real element."""
    x = _image_values(dtype, (2, 2, 6, 7), rng)
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = x[1, 1, 4, 4] = np.nan  # two NaNs share windows of the overlapping pools
    x[0, 1] = -np.inf                                         # a plane of -inf: every window -inf, the first wins
    x[1, 0, :3] = 0.5                                         # ties
    for k, s, p, d, ceil_mode in [(2, 2, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False)]:
        yield from _max_samples(op, dtype, rng, x, k, s, p, d, ceil_mode, "contiguous", ", with NaN, -inf and ties")
    # ties only: small integers, many equal maxima
    x = rng.integers(0, 3, (2, 3, 7, 7)).astype(dtype)
    yield from _max_samples(op, dtype, rng, x, 3, 1, 1, 1, False, "contiguous", ", many ties")
    # kernel 2, padding 1, dilation 3 on a 2x2 input: the window's two rows are -1 and 2, both outside
    x = _image_values(dtype, (1, 2, 2, 2), rng)
    yield from _max_samples(op, dtype, rng, x, 2, 1, 1, 3, False, "contiguous", ", a window with no real element")


# -- take_along_axis and scatter_add --------------------------------------------------------------------------------

#: (x shape, index shape, axis, layout of x): broadcast indices where a dimension of one side is 1
TAKE_CASES = [((7,), (5,), 0, "contiguous"), ((7,), (0,), 0, "contiguous"), ((3, 4), (3, 6), 1, "contiguous"),
              ((3, 4), (2, 4), 0, "contiguous"), ((3, 4), (3, 1), -1, "transposed"), ((3, 4, 5), (3, 2, 5), 1,
                                                                                        "strided"),
              ((3, 4, 5), (1, 4, 2), -1, "contiguous"), ((3, 1, 5), (3, 4, 5), 0, "reversed"),
              ((3, 4, 5), (3, 4, 1), 2, "transposed"), ((2, 3, 4, 5), (2, 1, 4, 3), 3, "contiguous"),
              ((5, 2), (1, 2), 0, "contiguous"), ((LARGE,), (LARGE,), 0, "contiguous"), ((64, 700), (64, 600), 1,
                                                                                          "contiguous")]

#: (x shape, index shape, src shape, axis, layout of src)
SCATTER_CASES = [((5,), (8,), (8,), 0, "contiguous"), ((4, 3), (6, 3), (6, 3), 0, "contiguous"),
                 ((3, 4), (3, 9), (3, 9), 1, "contiguous"), ((3, 4, 5), (3, 6, 5), (3, 6, 5), 1, "transposed"),
                 ((3, 4, 5), (3, 4, 7), (3, 4, 7), -1, "strided"), ((2, 3, 4), (2, 3, 4), (2, 3, 4), 0, "reversed"),
                 ((3, 4, 5), (2, 3, 5), (3, 6, 5), 1, "contiguous"),  # index smaller than src and x: PyTorch's rule
                 ((4, 5), (0, 5), (0, 5), 0, "contiguous"), ((2, 3), (2, 0), (2, 0), 1, "contiguous"),
                 ((8, 500), (8, 5000), (8, 5000), 1, "contiguous"), ((50, 8), (5000, 8), (5000, 8), 0, "contiguous")]


def indexing_samples(op, dtype, device, rng):
    return _bind(_take_samples(dtype, rng) if op == "take_along_axis" else _scatter_samples(dtype, rng), device)


def _take_samples(dtype, rng):
    for xs, ishape, axis, layout in TAKE_CASES:
        x = values(dtype, xs, rng)
        n = xs[axis]
        index = rng.integers(-n, n, ishape) if n else np.zeros(ishape, np.int64)  # negative ones count from the end
        yield _sample(f"take_along_axis({layout} {xs}, indices {ishape}, axis={axis})",
                      lambda t, i, axis=axis: ts.take_along_axis(t, i, axis=axis),
                      [(x, layout), (index, "contiguous")],
                      reference.take_along_axis(x, index, axis))
    # int8 indices (cast), and stride-0 indices from broadcast_to
    x = values(dtype, (4, 6), rng)
    index = rng.integers(-6, 6, (4, 3)).astype(np.int8)
    yield _sample("take_along_axis((4, 6), int8 indices (4, 3), axis=1)",
                  lambda t, i: ts.take_along_axis(t, i, axis=1), [(x, "contiguous"), (index, "contiguous")],
                  reference.take_along_axis(x, index, 1))
    row = rng.integers(0, 4, (1, 6))
    yield _sample("take_along_axis((4, 6), indices broadcast_to (1, 6) -> (5, 6), axis=0)",
                  lambda t, i: ts.take_along_axis(t, ts.broadcast_to(i, (5, 6)), axis=0),
                  [(x, "contiguous"), (row, "contiguous")],
                  reference.take_along_axis(x, np.broadcast_to(row, (5, 6)), 0))
    # out of range on either side raises IndexError
    for bad in (6, -7):
        index = np.zeros((4, 2), np.int64)
        index[2, 1] = bad
        yield _sample(f"take_along_axis((4, 6), index {bad}, axis=1) raises IndexError",
                      lambda t, i: ts.take_along_axis(t, i, axis=1), [(x, "contiguous"), (index, "contiguous")],
                      None, raises=IndexError)


def _scatter_values(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return _image_values(dtype, shape, rng)
    return values(dtype, shape, rng)  # with the integer edges: sums wrap, as in PyTorch


def _scatter_tolerance(dtype, x, axis, index, src):
    """Floats: x plus at most index.shape[axis] terms per element, added in the dtype itself (float16 rounds after
    each add, as in PyTorch)."""
    if np.dtype(dtype).kind != "f":
        return None, None
    magnitude = reference.scatter_add(np.abs(x.astype(np.float64)), axis, index, np.abs(src.astype(np.float64)))
    terms = (index.shape[axis] if index.ndim else 1) + 1
    eps = _eps(dtype) if np.dtype(dtype) == np.float16 else _acc_eps(dtype)
    return 2 * terms * eps * magnitude + float(np.finfo(dtype).smallest_subnormal), _eps(dtype)


def _scatter_samples(dtype, rng):
    for xs, ishape, ss, axis, layout in SCATTER_CASES:
        x, src = _scatter_values(dtype, xs, rng), _scatter_values(dtype, ss, rng)
        index = rng.integers(0, xs[axis], ishape)  # more positions than x has along axis: repeated indices
        atol, rtol = _scatter_tolerance(dtype, x, axis, index, src)
        yield _sample(f"scatter_add(x {xs}, axis={axis}, index {ishape}, {layout} src {ss})",
                      lambda t, i, s, axis=axis: ts.scatter_add(t, axis, i, s),
                      [(x, "contiguous"), (index, "contiguous"), (src, layout)],
                      reference.scatter_add(x, axis, index, src), atol=atol, rtol=rtol)
    # every index the same: one output element sums a whole column, in order
    x, src = _scatter_values(dtype, (3, 4), rng), _scatter_values(dtype, (40, 4), rng)
    index = np.full((40, 4), 2)
    atol, rtol = _scatter_tolerance(dtype, x, 0, index, src)
    yield _sample("scatter_add(x (3, 4), axis=0, index all 2 (40, 4), src (40, 4))",
                  lambda t, i, s: ts.scatter_add(t, 0, i, s),
                  [(x, "contiguous"), (index, "contiguous"), (src, "contiguous")],
                  reference.scatter_add(x, 0, index, src), atol=atol, rtol=rtol)
    for bad in (3, -1):
        index = np.zeros((2, 4), np.int64)
        index[1, 2] = bad
        yield _sample(f"scatter_add(x (3, 4), axis=0, index {bad}) raises IndexError",
                      lambda t, i, s: ts.scatter_add(t, 0, i, s),
                      [(x, "contiguous"), (index, "contiguous"), (src[:2], "contiguous")], None, raises=IndexError)
