"""The neural-network kernels of the ``numpy`` device: im2col and col2im, max and average pooling with their backward
passes, take_along_axis and scatter_add, and cross entropy's fused nll_log_softmax and its backward, each the row of
Note [Kernel contract] (tensorswitch/dispatch/registry.py) of the same name, written as plain vectorised NumPy.

Every 2-D kernel gets ``geometry = (KH, KW, SH, SW, PH, PW, DH, DW)``: kernel size, stride, zero padding and
dilation, NCHW tensors, and OH x OW windows: OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 for im2col and col2im, and
the pooled tensor's own extent for pooling (ceil_mode may add a last window that reaches past the padding).  Tap
(i, j) of window (oh, ow) reads pixel (oh*SH - PH + i*DH, ow*SW - PW + j*DW): ``_windows`` gives every tap at once
as a strided view of the padded image, ``_taps`` the pixel each tap reads, which the backward passes need to add
their gradients back.

float16 computes in float32 (the kernel contract; the fused cross entropy ops compute every dtype in float64), and
sums into one pixel are added in a fixed order, the same on the opencl and cuda backends: col2im in kernel-tap order
(i, j), the pooling backward passes in window order (oh, ow).  scatter_add adds in increasing order along the axis,
which is what ``np.add.at`` does.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import tensorswitch as ts
from tensorswitch.kernels import optable

from .backend import as_array

__all__ = ["register_kernels"]


def _output_size(H, W, geometry):
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    return (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1, (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1


def _compute_dtype(dtype):
    """float16 computes in float32; float32 and float64 in themselves."""
    return np.float32 if dtype == np.float16 else dtype


def _windows(a, geometry, pad_value, OH, OW):
    """The OH x OW windows of the (N, C, H, W) array ``a`` as a read-only view (N, C, OH, OW, KH, KW): tap (i, j) of
    window (oh, ow) is pixel (oh*SH - PH + i*DH, ow*SW - PW + j*DW) of ``a`` padded with ``pad_value``."""
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    span = (DH * (KH - 1) + 1, DW * (KW - 1) + 1)  # a dilated window covers this many rows and columns
    H, W = a.shape[2:]
    # the bottom and right padding reach the last window's last tap (past PH and PW only with ceil_mode)
    bottom, right = max(PH, (OH - 1) * SH + span[0] - H - PH), max(PW, (OW - 1) * SW + span[1] - W - PW)
    padded = np.pad(a, ((0, 0), (0, 0), (PH, bottom), (PW, right)), constant_values=pad_value)
    return sliding_window_view(padded, span, axis=(2, 3))[:, :, :(OH - 1) * SH + 1:SH, :(OW - 1) * SW + 1:SW,
                                                          ::DH, ::DW]


def _taps(H, W, geometry, OH, OW):
    """(pixel, inside), each of shape (OH, OW, KH, KW): the flat index h*W + w of the pixel each tap reads, and
    whether that pixel lies in the image (a tap in the padding reads nothing, and gets no gradient)."""
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    h = (np.arange(OH) * SH - PH)[:, None, None, None] + (np.arange(KH) * DH)[None, None, :, None]
    w = (np.arange(OW) * SW - PW)[None, :, None, None] + (np.arange(KW) * DW)[None, None, None, :]
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    return np.broadcast_to(h * W + w, inside.shape), inside


def _divisor(H, W, geometry, count_include_pad, OH, OW):
    """(OH, OW): what avg_pool2d divides each window's sum by.  With ``count_include_pad`` the taps that fall inside
    the padded image (PyTorch clips the window's end at H + PH, which only ceil_mode's last windows reach), else the
    taps inside the image itself."""
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    h = (np.arange(OH) * SH - PH)[:, None] + np.arange(KH) * DH   # (OH, KH): the row of each tap
    w = (np.arange(OW) * SW - PW)[:, None] + np.arange(KW) * DW   # (OW, KW)
    if count_include_pad:
        rows, cols = (h < H + PH).sum(1), (w < W + PW).sum(1)     # every tap is at or after -PH already
    else:
        rows, cols = ((h >= 0) & (h < H)).sum(1), ((w >= 0) & (w < W)).sum(1)
    return rows[:, None] * cols[None, :]


def _planes(t):
    """Tensor ``t`` (N, C, ...) as an array of N*C rows of its flattened pixels (a copy where its layout needs one)."""
    a = as_array(t)
    return a.reshape(a.shape[0] * a.shape[1], -1)


# -- im2col and col2im --------------------------------------------------------------------------------------------

def im2col(out, x, geometry):
    """out[n, (c*KH + i)*KW + j, oh*OW + ow] = tap (i, j) of window (oh, ow) of x[n, c], 0 in the padding."""
    win = _windows(as_array(x), geometry, 0, *_output_size(*x.shape[2:], geometry))   # (N, C, OH, OW, KH, KW)
    N, C, OH, OW, KH, KW = win.shape
    np.copyto(as_array(out), win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW))


def col2im(out, cols, geometry):
    """The adjoint of im2col: each tap (i, j) adds its row of ``cols`` back onto the pixels it read, in tap order."""
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    N, C, H, W = out.shape
    OH, OW = _output_size(H, W, geometry)
    c = as_array(cols).astype(_compute_dtype(cols.dtype.numpy)).reshape(N, C, KH, KW, OH, OW)
    padded = np.zeros((N, C, H + 2 * PH, W + 2 * PW), c.dtype)
    for i in range(KH):
        for j in range(KW):  # one tap reads OH x OW distinct pixels, so a sliced += adds each once
            padded[:, :, i * DH:i * DH + (OH - 1) * SH + 1:SH, j * DW:j * DW + (OW - 1) * SW + 1:SW] += c[:, :, i, j]
    np.copyto(as_array(out), padded[:, :, PH:PH + H, PW:PW + W], casting="same_kind")


# -- pooling ------------------------------------------------------------------------------------------------------

def max_pool2d(out, x, geometry):
    """The max of each window's taps inside the image (padding is -inf, so it never wins); NaN propagates."""
    np.max(_windows(as_array(x), geometry, -np.inf, *out.shape[2:]), axis=(-2, -1), out=as_array(out))


def max_pool2d_backward(out, grad, x, geometry):
    """Each window's gradient goes to its first maximum in tap order (NaN counts as the maximum, the first NaN
    winning; padding never wins), as PyTorch's max_pool2d does; pixels sum what they get, in window order."""
    N, C, H, W = out.shape
    OH, OW = grad.shape[2:]
    win = _windows(as_array(x), geometry, -np.inf, OH, OW)
    KH, KW = win.shape[4:]
    win = win.reshape(N * C, OH * OW, KH * KW)
    pixel, inside = _taps(H, W, geometry, OH, OW)
    inside = inside.reshape(OH * OW, KH * KW)
    m = win.max(axis=-1, keepdims=True)                           # NaN where the window holds one
    winners = inside & ((win == m) | np.isnan(win))               # the maximum's taps (or the NaNs)
    first = winners.argmax(axis=-1)                               # the first winning tap of each window
    has = winners.any(axis=-1)                                    # False only for a window wholly in the padding
    target = pixel.reshape(OH * OW, KH * KW)[np.arange(OH * OW), first]     # (N*C, OH*OW) flat pixels
    target = target + np.arange(N * C)[:, None] * (H * W)
    g = _planes(grad).astype(_compute_dtype(grad.dtype.numpy))
    acc = np.zeros(N * C * H * W, g.dtype)
    np.add.at(acc, target[has], g[has])                           # C order over (n, c, oh, ow): window order
    np.copyto(as_array(out), acc.reshape(N, C, H, W), casting="same_kind")


def avg_pool2d(out, x, geometry, count_include_pad):
    """The sum of each window's taps inside the image over the divisor of ``_divisor``."""
    H, W = x.shape[2:]
    OH, OW = out.shape[2:]
    a = as_array(x).astype(_compute_dtype(x.dtype.numpy))
    sums = _windows(a, geometry, 0, OH, OW).sum(axis=(-2, -1))
    divisor = _divisor(H, W, geometry, count_include_pad, OH, OW).astype(a.dtype)
    np.copyto(as_array(out), sums / divisor, casting="same_kind")


def avg_pool2d_backward(out, grad, geometry, count_include_pad):
    """The adjoint of avg_pool2d: each window's gradient over its divisor, added to every pixel the window read."""
    N, C, H, W = out.shape
    OH, OW = grad.shape[2:]
    pixel, inside = _taps(H, W, geometry, OH, OW)
    g = _planes(grad).astype(_compute_dtype(grad.dtype.numpy))
    g = g / _divisor(H, W, geometry, count_include_pad, OH, OW).reshape(1, -1).astype(g.dtype)
    window = np.broadcast_to(np.arange(OH * OW).reshape(OH, OW, 1, 1), inside.shape)
    acc = np.zeros((N * C, H * W), g.dtype)
    # C order over (oh, ow, i, j): every pixel adds its windows in window order
    np.add.at(acc, (slice(None), pixel[inside]), g[:, window[inside]])
    np.copyto(as_array(out), acc.reshape(N, C, H, W), casting="same_kind")


# -- gather and scatter-add ---------------------------------------------------------------------------------------

def take_along_axis(out, x, index, axis):
    """out[p] = x[p with p[axis] replaced by index[p]] (index is int64, already in range, with out's shape)."""
    np.copyto(as_array(out), np.take_along_axis(as_array(x), as_array(index), axis))


def scatter_add(out, index, src, axis):
    """In place: out[p with p[axis] replaced by index[p]] += src[p] for every p of src.  ``np.add.at`` applies the
    additions one by one in C order over p, so repeated indices all count and each output element receives its
    contributions in increasing order of p[axis]; integers wrap, float16 rounds after each addition."""
    s = as_array(src)
    where = list(np.indices(s.shape, sparse=True))
    where[axis] = as_array(index)
    with np.errstate(all="ignore"):
        np.add.at(as_array(out), tuple(where), s)


# -- cross entropy's fused ops (Note [Kernel contract], "Fused ops") ----------------------------------------------

def _log_softmax_rows(x):
    """(x - max) - log(sum exp(x - max)) along axis 1 of (N, C) tensor ``x``, in float64.  The max is subtracted as
    it is, so a row holding NaN, with a max of +inf, or all -inf, is NaN throughout (as log_softmax is)."""
    a = as_array(x).astype(np.float64)
    with np.errstate(all="ignore"):
        shifted = a - a.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll_log_softmax(out, x, target, mean):
    """out (0-d) = -sum_i log_softmax(x[i])[target[i]], over N when ``mean``; None, or the first target outside
    [0, C) in row order (out then untouched).  The row terms sum in float64; the total rounds once to the compute
    type (float32 for float16) and the mean divides in it, as the cpu kernel does."""
    t = as_array(target)
    bad = (t < 0) | (t >= x.shape[1])
    if bad.any():
        return int(t[np.argmax(bad)])
    picked = np.take_along_axis(_log_softmax_rows(x), t[:, None], axis=1)
    compute = np.dtype(_compute_dtype(x.dtype.numpy))
    with np.errstate(all="ignore"):
        total = compute.type(-picked.sum())
        np.copyto(as_array(out), total / compute.type(x.shape[0]) if mean else total, casting="unsafe")
    return None


def nll_log_softmax_backward(out, x, target, g, mean):
    """out (N, C) = softmax(x[i]) * c, with -c added at target[i], c = g / N (mean) or g: g is a 0-d tensor of x's
    dtype, divided in the compute type (float32 for float16) and c rounded to x's dtype, as the cpu kernel does.
    Every target is a class."""
    compute = np.dtype(_compute_dtype(x.dtype.numpy))
    with np.errstate(all="ignore"):
        gv = compute.type(as_array(g)[()])
        scale = float(x.dtype.numpy.type(gv / compute.type(x.shape[0]) if mean else gv))
        grad = np.exp(_log_softmax_rows(x)) * scale
        rows = np.arange(x.shape[0])
        t = as_array(target)
        grad[rows, t] = grad[rows, t] + (-scale)
        np.copyto(as_array(out), grad, casting="same_kind")


# -- the fused linear (Note [Kernel contract] row linear) ----------------------------------------------------------

def linear(out, x, wt, b):
    """out (M, N) = x @ wt + b, the bias broadcast over the rows (x (M, K), wt (K, N), b (N,), any strides); float16
    multiplies in float32 and rounds once, as NumPy's own matmul of float16 does not."""
    a, w, bias = as_array(x), as_array(wt), as_array(b)
    compute = np.dtype(_compute_dtype(x.dtype.numpy))
    with np.errstate(all="ignore"):
        result = a.astype(compute) @ w.astype(compute) + bias.astype(compute)
    np.copyto(as_array(out), result, casting="same_kind")


# -- registration -------------------------------------------------------------------------------------------------

#: op -> (kernel, the dtypes it claims): the op table's claims (kernels/optable.py COVERAGE)
KERNELS = {
    "im2col": (im2col, optable.FLOAT),
    "col2im": (col2im, optable.FLOAT),
    "max_pool2d": (max_pool2d, optable.FLOAT),
    "max_pool2d_backward": (max_pool2d_backward, optable.FLOAT),
    "avg_pool2d": (avg_pool2d, optable.FLOAT),
    "avg_pool2d_backward": (avg_pool2d_backward, optable.FLOAT),
    "take_along_axis": (take_along_axis, optable.COVERAGE["take_along_axis"]),  # complex too: it moves values
    "scatter_add": (scatter_add, optable.NUMERIC),
    "nll_log_softmax": (nll_log_softmax, optable.FLOAT),  # float16 too: it computes in float64
    "nll_log_softmax_backward": (nll_log_softmax_backward, optable.FLOAT),
    "linear": (linear, optable.FLOAT),
}


def register_kernels(device):
    """Register the kernels above for ``device`` (the plugin's device type)."""
    for op, (kernel, dtypes) in KERNELS.items():
        ts.register_kernel(op, device, list(dtypes), kernel)
