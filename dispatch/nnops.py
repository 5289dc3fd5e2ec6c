"""Kernel families for neural networks: im2col/col2im (unfold/fold), 2-D pooling, take_along_axis and scatter_add.

These are the dispatcher-level functions (no autograd): they validate what the user passed, compute the output shape,
allocate it and call the kernel through the registry (``run``), as ``dispatch/dispatcher.py`` does for the core ops.
The kernels' side of the bargain is Note [Kernel contract] in ``dispatch/registry.py``; all geometry reaches them as
one tuple (KH, KW, SH, SW, PH, PW, DH, DW).  Images are NCHW; a 3-D (C, H, W) input is one image and the result has
no batch dimension, as in PyTorch.

>>> import tensorswitch as ts
>>> from tensorswitch.dispatch import nnops
>>> x = ts.reshape(ts.arange(16, dtype=ts.float32), (1, 1, 4, 4))
>>> nnops.max_pool2d(x, 2).numpy().ravel().tolist()
[5.0, 7.0, 13.0, 15.0]
>>> nnops.unfold(x, 3).shape
(1, 9, 4)
"""

import numpy as np

from . import errors
from .device import call_hook
from .dispatcher import _fast, astype, binary, copy_into, empty, expand, reduce, run, softmax_like, where
from .dtypes import DTYPES
from .shapes import as_int, normalize_axis
from .tensor import Tensor, contiguous_strides, make_tensor

__all__ = ["unfold", "fold", "max_pool2d", "avg_pool2d", "take_along_axis", "scatter_add"]

_INT64 = DTYPES[4]


# -- argument checks ----------------------------------------------------------------------------------------------

def _tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        hint = " Convert it with ts.asarray(...) first." if isinstance(x, (list, tuple, np.ndarray, np.generic,
                                                                          int, float)) else ""
        raise TypeError(f"{op}: {what} must be a tensor, got {type(x).__name__}.{hint}")
    return x


def _same_device(op, *tensors):
    device = tensors[0].device
    for t in tensors[1:]:
        if t.device is not device:
            raise errors.device_mismatch(op, (device, t.device))


def _float(op, x, what="input"):
    if x.dtype.kind != "float":
        raise TypeError(f"{op}: {what} must have a float dtype (float16, float32 or float64), got {x.dtype.name} "
                        f"on {x.device}; cast it first, for example x.astype(ts.float32)")


def _pair(op, name, value, least):
    """An int or a pair of ints, each at least ``least``, as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        pair = tuple(as_int(v, f"{op}: {name}") for v in value)
    else:
        try:
            n = as_int(value, f"{op}: {name}")
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
        pair = (n, n)
    if min(pair) < least:
        raise ValueError(f"{op}: {name} must be at least {least}, got {value!r}")
    return pair


def _images(op, x):
    """``x`` as a 4-D (N, C, H, W) view, and whether it had a batch dimension."""
    _tensor(op, x)
    if x.ndim == 4:
        return x, True
    if x.ndim == 3:
        return _view(x, (1,) + x.shape, (0,) + x.strides), False
    raise errors.ShapeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")


def _view(x, shape, strides):
    return make_tensor(x.buffer, x.offset, tuple(shape), tuple(strides), x.dtype, x.device, x.is_contiguous)


def _unbatched(out, batched):
    """``out`` (contiguous, 1 image) without its batch dimension when the input had none."""
    if batched:
        return out
    shape = out.shape[1:]
    return make_tensor(out.buffer, out.offset, shape, contiguous_strides(shape), out.dtype, out.device, True)


def _output_size(size, k, s, p, d, ceil_mode=False):
    """PyTorch's output extent along one axis; ceil_mode keeps the last window starting inside the input or the
    left padding (a window that starts in the right padding only would see no element)."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    n = (span + s - 1) // s + 1
    if (n - 1) * s >= size + p:
        n -= 1
    return n


def _output_hw(op, h, w, geometry, ceil_mode=False):
    kh, kw, sh, sw, ph, pw, dh, dw = geometry
    oh = _output_size(h, kh, sh, ph, dh, ceil_mode)
    ow = _output_size(w, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: the output would be {oh}x{ow} for a {h}x{w} input (kernel {kh}x{kw}, stride "
                         f"{sh}x{sw}, padding {ph}x{pw}, dilation {dh}x{dw}); the input is too small: it must be at "
                         f"least {dh * (kh - 1) + 1 - 2 * ph}x{dw * (kw - 1) + 1 - 2 * pw}")
    return oh, ow


def _geometry(op, kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw) = _pair(op, "kernel_size", kernel_size, 1), _pair(op, "stride", stride, 1)
    (ph, pw), (dh, dw) = _pair(op, "padding", padding, 0), _pair(op, "dilation", dilation, 1)
    return kh, kw, sh, sw, ph, pw, dh, dw


def _pool_geometry(op, kernel_size, stride, padding, dilation):
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel_size  # PyTorch's default (an empty list too)
    g = _geometry(op, kernel_size, stride, padding, dilation)
    kh, kw, _, _, ph, pw, _, _ = g
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size (PyTorch's rule), got padding "
                         f"{ph}x{pw} for kernel {kh}x{kw}")
    return g


def _check_grad(op, grad, x, expected):
    _tensor(op, grad, "grad")
    _same_device(op, grad, x)
    if grad.shape != expected:
        raise errors.ShapeError(f"{op}: grad must have the shape of the forward output, {expected}, got "
                                f"{grad.shape}")
    _float(op, grad, "grad")


# -- im2col / col2im ----------------------------------------------------------------------------------------------

def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """The sliding blocks of an image batch as columns (``torch.nn.functional.unfold``, im2col).

    x:  (N, C, H, W) or (C, H, W), a float dtype
    returns (N, C*kh*kw, L) (or (C*kh*kw, L)), L = OH*OW the number of blocks; padding reads zeros.

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> nnops.unfold(ts.ones((2, 3, 5, 5)), (2, 3), padding=1).shape
    (2, 18, 30)
    """
    op = "unfold"
    x4, batched = _images(op, x)
    _float(op, x)
    g = _geometry(op, kernel_size, stride, padding, dilation)
    n, c, h, w = x4.shape
    oh, ow = _output_hw(op, h, w, g)
    out = empty((n, c * g[0] * g[1], oh * ow), x.dtype, x.device)
    return _unbatched(run("im2col", x.dtype, out, x4, g), batched)


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sums sliding blocks back into an image batch (``torch.nn.functional.fold``, col2im): the adjoint of
    :func:`unfold`, so overlapping blocks add up.

    cols: (N, C*kh*kw, L) or (C*kh*kw, L); output_size: (H, W) (or an int); returns (N, C, H, W) (or (C, H, W)).

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> nnops.fold(ts.ones((1, 4, 9)), (4, 4), 2, stride=1).numpy()[0, 0, 1].tolist()
    [2.0, 4.0, 4.0, 2.0]
    """
    op = "fold"
    _tensor(op, cols)
    if cols.ndim not in (2, 3):
        raise errors.ShapeError(f"{op}: expected a 2-D (C*kh*kw, L) or 3-D (N, C*kh*kw, L) input, got shape "
                                f"{cols.shape}")
    _float(op, cols)
    g = _geometry(op, kernel_size, stride, padding, dilation)
    h, w = _pair(op, "output_size", output_size, 1)
    batched = cols.ndim == 3
    cols3 = cols if batched else _view(cols, (1,) + cols.shape, (0,) + cols.strides)
    n, ckk, blocks = cols3.shape
    kk = g[0] * g[1]
    if ckk % kk:
        raise errors.ShapeError(f"{op}: the input's dimension {cols.ndim - 2} ({ckk}) must be divisible by the "
                                f"kernel's size {g[0]}x{g[1]} = {kk}; got shape {cols.shape}")
    oh, ow = _output_hw(op, h, w, g)
    if blocks != oh * ow:
        raise errors.ShapeError(f"{op}: the input has {blocks} blocks (its last dimension), but output_size "
                                f"{(h, w)} with kernel {g[0]}x{g[1]}, stride {g[2]}x{g[3]}, padding {g[4]}x{g[5]} and "
                                f"dilation {g[6]}x{g[7]} has {oh}x{ow} = {oh * ow}")
    out = empty((n, ckk // kk, h, w), cols.dtype, cols.device)
    return _unbatched(run("col2im", cols.dtype, out, cols3, g), batched)


# -- pooling ------------------------------------------------------------------------------------------------------

def _max_pool_input(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """What max_pool2d and its backward both derive from the forward's arguments, with the same checks in the same
    order: ``x`` as 4-D, whether it had a batch dimension, the geometry, and the 4-D shape of the forward output
    (the backward's grad must have it)."""
    x4, batched = _images(op, x)
    _float(op, x)
    g = _pool_geometry(op, kernel_size, stride, padding, dilation)
    n, c, h, w = x4.shape
    oh, ow = _output_hw(op, h, w, g, bool(ceil_mode))
    return x4, batched, g, (n, c, oh, ow)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The maximum of each window (``torch.nn.functional.max_pool2d``): padding never wins, NaN propagates.

    x: (N, C, H, W) or (C, H, W), a float dtype; stride defaults to kernel_size; padding at most half the kernel.

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> x = ts.reshape(ts.arange(25, dtype=ts.float32), (1, 5, 5))
    >>> nnops.max_pool2d(x, 2, ceil_mode=True).numpy()[0].tolist()
    [[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]
    """
    op = "max_pool2d"
    x4, batched, g, out_shape = _max_pool_input(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    out = empty(out_shape, x.dtype, x.device)
    return _unbatched(run("max_pool2d", x.dtype, out, x4, g), batched)


def max_pool2d_backward(grad, x, kernel_size, stride, padding, dilation, ceil_mode):
    """The gradient of :func:`max_pool2d` with respect to ``x``: each window's grad goes to its first maximum (the
    first NaN where there is one), as in PyTorch; returns a tensor shaped like ``x``."""
    op = "max_pool2d_backward"
    x4, batched, g, out_shape = _max_pool_input(op, x, kernel_size, stride, padding, dilation, ceil_mode)
    _check_grad(op, grad, x, out_shape if batched else out_shape[1:])
    if grad.dtype is not x.dtype:
        grad = astype(grad, x.dtype)
    grad4 = grad if batched else _view(grad, (1,) + grad.shape, (0,) + grad.strides)
    out = empty(x4.shape, x.dtype, x.device)
    return _unbatched(run("max_pool2d_backward", x.dtype, out, grad4, x4, g), batched)


def _avg_divisor_factor(h, w, g, out, divisor_override):
    """What turns the count_include_pad average into the sum / divisor_override: the kernel's divisor (the window
    clipped to the padded input, which only ceil_mode's last windows are) over ``divisor_override``.  A Python float
    when it is the same everywhere, else an (OH, OW) tensor on ``out``'s device."""
    kh, kw, sh, sw, ph, pw, _, _ = g
    oh, ow = out.shape[-2:]

    def clipped(n_out, size, k, s, p):
        start = np.arange(n_out) * s - p
        return np.minimum(start + k, size + p) - start

    rows, cols = clipped(oh, h, kh, sh, ph), clipped(ow, w, kw, sw, pw)
    if rows.min() == rows.max() and cols.min() == cols.max():
        return float(rows[0] * cols[0]) / divisor_override
    factor = (np.outer(rows, cols) / divisor_override).astype(out.dtype.numpy)
    t = empty(factor.shape, out.dtype, out.device)
    call_hook(out.device.backend, "copy_in", t.buffer.handle, 0, factor, out.device.index)
    return expand(t, out.shape)


def _divisor_override(op, value):
    if value is None:
        return None
    d = as_int(value, f"{op}: divisor_override")
    if d == 0:
        raise ValueError(f"{op}: divisor_override must not be zero")
    return d


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each window (``torch.nn.functional.avg_pool2d``); padding counts as zeros in the divisor when
    ``count_include_pad``; ``divisor_override`` divides each window's sum by that number instead.

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> x = ts.ones((1, 1, 2, 2))
    >>> nnops.avg_pool2d(x, 2, stride=1, padding=1).numpy()[0, 0, 0].tolist()
    [0.25, 0.5, 0.25]
    """
    op = "avg_pool2d"
    x4, batched = _images(op, x)
    _float(op, x)
    g = _pool_geometry(op, kernel_size, stride, padding, 1)
    override = _divisor_override(op, divisor_override)
    n, c, h, w = x4.shape
    oh, ow = _output_hw(op, h, w, g, bool(ceil_mode))
    out = empty((n, c, oh, ow), x.dtype, x.device)
    include = bool(count_include_pad) or override is not None
    run("avg_pool2d", x.dtype, out, x4, g, include)
    if override is not None and out.size:
        out = binary("multiply", out, _avg_divisor_factor(h, w, g, out, override))
    return _unbatched(out, batched)


def avg_pool2d_backward(grad, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override):
    """The gradient of :func:`avg_pool2d` with respect to its input, of shape ``input_shape``: each window's grad,
    divided by that window's divisor, spread over the window's in-bounds elements."""
    op = "avg_pool2d_backward"
    _tensor(op, grad, "grad")
    _float(op, grad, "grad")
    shape = tuple(as_int(n, f"{op}: input_shape") for n in input_shape)
    if len(shape) not in (3, 4) or min(shape) < 0:
        raise errors.ShapeError(f"{op}: input_shape must be a 3-D (C, H, W) or 4-D (N, C, H, W) shape, got "
                                f"{tuple(input_shape)}")
    batched = len(shape) == 4
    n, c, h, w = shape if batched else (1,) + shape
    g = _pool_geometry(op, kernel_size, stride, padding, 1)
    override = _divisor_override(op, divisor_override)
    oh, ow = _output_hw(op, h, w, g, bool(ceil_mode))
    expected = (n, c, oh, ow) if batched else (c, oh, ow)
    if grad.shape != expected:
        raise errors.ShapeError(f"{op}: grad must have the shape of the forward output, {expected}, got "
                                f"{grad.shape}")
    grad4 = grad if batched else _view(grad, (1,) + grad.shape, (0,) + grad.strides)
    if override is not None and grad4.size:  # forward = average * factor, so backward = adjoint(grad * factor)
        grad4 = binary("multiply", grad4, _avg_divisor_factor(h, w, g, grad4, override))
    out = empty((n, c, h, w), grad.dtype, grad.device)
    include = bool(count_include_pad) or override is not None
    return _unbatched(run("avg_pool2d_backward", grad.dtype, out, grad4, g, include), batched)


# -- indexing -----------------------------------------------------------------------------------------------------

def _index_tensor(op, index, what="indices"):
    _tensor(op, index, what)
    if index.dtype.kind not in ("int", "uint"):
        raise TypeError(f"{op}: {what} must have an integer dtype, got {index.dtype.name} on {index.device}; cast "
                        f"it first, for example i.astype(ts.int64)")
    return index if index.dtype is _INT64 else astype(index, _INT64)


def _index_range(op, index, size, axis, allow_negative):
    """The indices' smallest and largest values (two reductions on the device), or the IndexError naming the
    first bad one: outside [-size, size) where negative indices count from the end, else [0, size)."""
    lo = reduce("min", index).item()
    hi = reduce("max", index).item()
    least = -size if allow_negative else 0
    if lo < least or hi >= size:
        bad = lo if lo < least else hi
        valid = f"{-size} to {size - 1}" if allow_negative else f"0 to {size - 1}"
        raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {size}" +
                         (f" (valid: {valid})" if size else " (the axis is empty)"))
    return lo, hi


class TargetOutOfRange(IndexError):
    """nll_log_softmax met a target outside [0, C): ``value`` is the first one, in row order.  cross_entropy
    catches it to take its general path (which tells an ignore_index target from a wrong one)."""

    def __init__(self, value, classes):
        super().__init__(f"cross_entropy: target {value} is out of bounds for {classes} classes (valid targets are 0 "
                         f"to {classes - 1})")
        self.value = value


def _fused(op, x):
    """The kernel of fused ``op`` for x's device and dtype, or None: fused ops are optional for a backend, which
    without one runs the composition (Note [Fused cross entropy] in kernels/cpu/module.cpp)."""
    return _fast.get((op, x.device.type, x.dtype))


def nll_log_softmax(x, target, /, *, mean=True):
    """``-sum_i log_softmax(x, axis=1)[i, target[i, 0]]``, divided by N when ``mean``: cross_entropy's common case
    ((N, C) logits, class indices, no weights, no smoothing) as one op with one autograd node, whose backward is
    ``(softmax(x) - one_hot(target)) * g / N`` (nll_log_softmax_backward), where the composition recorded five
    nodes and ran about ten ops backward.  One kernel where the backend has it (Note [Kernel contract] row
    nll_log_softmax), else log_softmax, take_along_axis, sum and a division.

    x: (N, C) floating, N >= 1, C >= 1; target: (N, 1) int64.  Returns a 0-d tensor of x's dtype.  A target outside
    [0, C) raises TargetOutOfRange (an IndexError) naming the first one.
    """
    n, classes = x.shape
    kernel = _fused("nll_log_softmax", x)
    if kernel is not None:
        out = empty((), x.dtype, x.device)
        bad = kernel(out, x, _column(target), mean)
        if bad is not None:
            raise TargetOutOfRange(int(bad), classes)
        return out
    lo = reduce("min", target).item()
    hi = reduce("max", target).item()
    if lo < 0 or hi >= classes:
        raise TargetOutOfRange(lo if lo < 0 else hi, classes)
    logp = softmax_like("log_softmax", x, 1)
    picked = take_along_axis(logp, target, axis=1, _bounds=(0, classes - 1))
    total = reduce("sum", picked)
    return binary("divide", total, -float(n)) if mean else binary("multiply", total, -1.0)


def nll_log_softmax_backward(x, target, g, mean):
    """The gradient of nll_log_softmax(x, target, mean=mean) for an incoming gradient ``g`` (0-d, x's dtype):
    ``(softmax(x) - one_hot(target)) * g / N``, N for the mean only, as one kernel (Note [Kernel contract] row
    nll_log_softmax_backward); None when x's backend has none (derivatives.py then composes it)."""
    kernel = _fused("nll_log_softmax_backward", x)
    if kernel is None:
        return None
    out = empty(x.shape, x.dtype, x.device)
    kernel(out, x, _column(target), g, mean)
    return out


def _column(target):
    """(N, 1) targets as the (N,) view the fused kernels take."""
    return make_tensor(target.buffer, target.offset, target.shape[:1], target.strides[:1], target.dtype,
                       target.device)


def take_along_axis(x, indices, /, *, axis=-1, _bounds=None):
    """Pick values from ``x`` along ``axis`` at ``indices`` (the Array API's and NumPy's ``take_along_axis``;
    ``torch.gather`` where the shapes match).

    indices: an integer tensor with x's number of dimensions, broadcast against x except along ``axis``; negative
    indices count from the end.  The result has the broadcast shape, with ``indices.shape[axis]`` along ``axis``.

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> x = ts.asarray([[10, 30, 20], [60, 40, 50]])
    >>> nnops.take_along_axis(x, ts.asarray([[1], [-1]]), axis=1).tolist()
    [[30], [50]]

    ``_bounds`` (internal): (lowest, highest) of ``indices``, already checked by the caller (cross_entropy's
    targets, a backward pass), which saves the two reductions and host round trips of the check.
    """
    op = "take_along_axis"
    _tensor(op, x, "x")
    _tensor(op, indices, "indices")
    _same_device(op, x, indices)
    if x.ndim == 0:
        raise errors.ShapeError(f"{op}: x must have at least one dimension, got a 0-d tensor")
    if indices.ndim != x.ndim:
        raise errors.ShapeError(f"{op}: indices must have as many dimensions as x ({x.ndim}), got shape "
                                f"{indices.shape} for x of shape {x.shape}")
    axis = normalize_axis(op, axis, x.ndim)
    index = _index_tensor(op, indices)
    out_shape = []
    for d, (nx, ni) in enumerate(zip(x.shape, index.shape)):
        if d == axis:
            out_shape.append(ni)
        elif nx == ni or nx == 1 or ni == 1:
            out_shape.append(max(nx, ni) if nx and ni else 0)
        else:
            raise errors.ShapeError(f"{op}: indices of shape {indices.shape} do not broadcast against x of shape "
                                    f"{x.shape} except along axis {axis} (dimension {d}: {ni} and {nx})")
    out_shape = tuple(out_shape)
    out = empty(out_shape, x.dtype, x.device)
    if out.size == 0:
        return out
    size = x.shape[axis]
    lo, _ = _index_range(op, index, size, axis, allow_negative=True) if _bounds is None else _bounds
    if lo < 0:
        index = where(binary("less", index, 0), binary("add", index, size), index)
    x_shape = out_shape[:axis] + (size,) + out_shape[axis + 1:]
    return run(op, x.dtype, out, expand(x, x_shape), expand(index, out_shape), axis)


def scatter_add(x, axis, index, src, *, _bounds=None):
    """A copy of ``x`` with ``src`` added at ``index`` along ``axis`` (``torch.scatter_add(x, axis, index, src)``):
    ``out[..., index[p], ...] += src[p]`` for every position p of ``index``, repeated indices adding up (in a fixed
    order, so the result is the same on every run).

    index: an integer tensor with x's number of dimensions, values in [0, x.shape[axis]); index.shape at most
    src.shape, and at most x.shape except along axis (PyTorch's rule); src: x's dtype.

    >>> import tensorswitch as ts
    >>> from tensorswitch.dispatch import nnops
    >>> nnops.scatter_add(ts.zeros(3), 0, ts.asarray([0, 2, 0]), ts.asarray([1.0, 2.0, 3.0])).tolist()
    [4.0, 0.0, 2.0]

    ``_bounds`` (internal): as take_along_axis's, indices the caller has checked to lie in [0, x.shape[axis]).
    """
    op = "scatter_add"
    _tensor(op, x, "x")
    _tensor(op, index, "index")
    _tensor(op, src, "src")
    _same_device(op, x, index, src)
    if src.dtype is not x.dtype:
        raise TypeError(f"{op}: src must have x's dtype ({x.dtype.name}), got {src.dtype.name}; cast it first, for "
                        f"example src.astype(x.dtype)")
    if not (x.ndim == index.ndim == src.ndim):
        raise errors.ShapeError(f"{op}: x, index and src must have the same number of dimensions, got shapes "
                                f"{x.shape}, {index.shape} and {src.shape}")
    idx = _index_tensor(op, index, "index")
    scalar = x.ndim == 0
    if scalar:  # 0-d tensors act as 1-d ones of one element, as in PyTorch
        x, idx, src = (_view(t, (1,), (0,)) for t in (x, idx, src))
    axis = normalize_axis(op, axis, x.ndim)
    for d, (nx, ni, ns) in enumerate(zip(x.shape, idx.shape, src.shape)):
        if ni > ns or (d != axis and ni > nx):
            raise errors.ShapeError(f"{op}: index of shape {index.shape} must be no larger than src {src.shape} in "
                                    f"every dimension, and than x {x.shape} in every dimension but axis {axis} "
                                    f"(dimension {d})")
    out = astype(x, x.dtype)  # a new contiguous tensor holding x: the kernel adds into it
    if idx.size:
        if _bounds is None:
            _index_range(op, idx, x.shape[axis], axis, allow_negative=False)
        if src.shape != idx.shape:  # only the leading part of src that index covers takes part
            src = src[tuple(slice(0, n) for n in idx.shape)]
        region = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(idx.shape))
        if all(d == axis or ni == nx for d, (ni, nx) in enumerate(zip(idx.shape, x.shape))):
            run(op, x.dtype, out, idx, src, axis)
        else:  # index covers a corner of x: add into a contiguous copy of that corner, then write it back
            corner = astype(out[region], x.dtype)
            run(op, x.dtype, corner, idx, src, axis)
            copy_into(out[region], corner)
    if scalar:
        out = make_tensor(out.buffer, out.offset, (), (), out.dtype, out.device, True)
    return out
