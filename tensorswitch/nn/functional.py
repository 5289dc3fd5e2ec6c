"""``ts.nn.functional``: PyTorch's functional API (same names, arguments and results), written in public ts ops.

Every function here is a composition of ``ts`` operations, so it runs on any device with those kernels and its
gradient comes from autograd's formulas for the ops it uses: convolution is ``ts.unfold`` (im2col) plus a batched
matmul, losses pick log-probabilities with ``ts.take_along_axis`` (whose gradient is a scatter-add), and so on.

>>> import tensorswitch as ts
>>> import tensorswitch.nn.functional as F
>>> round(F.cross_entropy(ts.zeros((2, 3)), ts.asarray([0, 2])).item(), 4)  # log(3)
1.0986
"""

import math
import numbers
import warnings

import tensorswitch as ts
from tensorswitch.dispatch import dispatcher as _d
from tensorswitch.dispatch import nnops as _nnops

__all__ = ["linear", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm", "layer_norm",
           "dropout", "relu", "gelu", "silu", "tanh", "sigmoid", "softmax", "log_softmax", "one_hot", "embedding",
           "pad", "flatten", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]


# -- argument helpers -----------------------------------------------------------------------------------------------

def _require_tensor(op, name, x):
    if not isinstance(x, ts.Tensor):
        raise TypeError(f"{op}: {name} must be a ts.Tensor, got {type(x).__name__}")


def _require_float(op, name, x):
    _require_tensor(op, name, x)
    if x.dtype.kind != "float":
        raise TypeError(f"{op}: {name} must have a floating dtype (float16, float32 or float64), got "
                        f"{x.dtype.name}; cast it with x.astype(ts.float32)")


def _check_devices(op, **tensors):
    """Raise unless the given tensors (None entries skipped) share one device, naming them and the fix."""
    items = [(name, t) for name, t in tensors.items() if t is not None]
    first_name, first = items[0]
    for name, t in items[1:]:
        if t.device is not first.device:
            raise ts.DeviceMismatchError(
                f"{op}: {first_name} is on {first.device} but {name} is on {t.device}; move the module with "
                f"model.to({str(first.device)!r}) or the input with x.to({str(t.device)!r})")


def _pair(op, name, value, minimum):
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        pair = tuple(value)
    else:
        pair = (value, value)
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in pair)


def _batched_4d(op, x):
    """(x as 4-D, whether a batch dim was added) for a (C, H, W) or (N, C, H, W) input."""
    if x.ndim == 3:
        return x.expand_dims(0), True
    if x.ndim != 4:
        raise ts.ShapeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
    return x, False


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated ``size_average`` / ``reduce`` arguments as a ``reduction`` string."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='mean', 'sum' or "
                  "'none' instead.", DeprecationWarning, stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "mean" if size_average and reduce else "sum" if reduce else "none"


def _check_reduction(op, reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; use 'none', 'mean' or 'sum'")


def _reduce(loss, reduction):
    if reduction == "mean":
        return ts.mean(loss)
    if reduction == "sum":
        return ts.sum(loss)
    return loss


# -- linear and convolution -----------------------------------------------------------------------------------------

def linear(input, weight, bias=None):  # noqa: A002  (PyTorch's argument names)
    """``input @ weight.T + bias`` for ``weight`` of shape (out_features, in_features).

    >>> import tensorswitch as ts
    >>> ts.nn.functional.linear(ts.ones((2, 3)), ts.ones((4, 3))).shape
    (2, 4)
    """
    _require_tensor("linear", "input", input)
    _require_tensor("linear", "weight", weight)
    if weight.ndim not in (1, 2):
        raise ts.ShapeError(f"linear: weight must be 1-D or 2-D (out_features, in_features), got shape "
                            f"{weight.shape}")
    _check_devices("linear", input=input, weight=weight, bias=bias)
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ts.ShapeError(f"linear: input of shape {input.shape} does not match weight of shape {weight.shape}: "
                            f"the input's last dimension must be in_features={weight.shape[-1]}")
    if weight.ndim == 2:  # one op and one autograd node (dispatch/dispatcher.py linear), as PyTorch's addmm
        return _d.linear(input, weight, bias)
    out = ts.matmul(input, weight)
    if bias is not None:
        out = out + bias
    return out


def _same_padding(op, kernel, dilation, stride):
    """PyTorch's padding='same': (symmetric padding per dim, extra padding at the end per dim)."""
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
    total = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
    left = tuple(t // 2 for t in total)
    return left, tuple(t - 2 * lo for t, lo in zip(total, left))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D cross-correlation of ``input`` (N, C, H, W) or (C, H, W) with ``weight`` (O, C // groups, KH, KW).

    ``padding`` is an int, a pair, 'valid' (none) or 'same' (output size = input size; stride 1 only; an odd total
    goes to the bottom/right, as PyTorch does).  Computed as im2col (``ts.unfold``) and one batched matmul; with
    ``groups`` the columns and the weight are split into ``groups`` blocks of channels and multiplied blockwise.

    >>> import tensorswitch as ts
    >>> ts.nn.functional.conv2d(ts.ones((1, 2, 5, 5)), ts.ones((3, 2, 3, 3)), padding=1).shape
    (1, 3, 5, 5)
    """
    op = "conv2d"
    _require_tensor(op, "input", input)
    _require_tensor(op, "weight", weight)
    _check_devices(op, input=input, weight=weight, bias=bias)
    x, unbatched = _batched_4d(op, input)
    if weight.ndim != 4:
        raise ts.ShapeError(f"{op}: weight must be 4-D (out_channels, in_channels // groups, kH, kW), got shape "
                            f"{weight.shape}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    n, c, h, w = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    if group_channels * groups != c:
        raise ts.ShapeError(f"{op}: weight of shape {weight.shape} with groups={groups} expects an input with "
                            f"{group_channels * groups} channels, got input of shape {input.shape} ({c} channels)")
    if out_channels % groups:
        raise ts.ShapeError(f"{op}: out_channels ({out_channels}, weight shape {weight.shape}) must be divisible "
                            f"by groups ({groups})")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        raise ts.ShapeError(f"{op}: bias must have shape ({out_channels},) for weight of shape {weight.shape}, got "
                            f"{bias.shape}")
    stride = _pair(op, "stride", stride, 1)
    dilation = _pair(op, "dilation", dilation, 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            padding, extra = _same_padding(op, (kh, kw), dilation, stride)
            if any(extra):
                x = pad(x, (0, extra[1], 0, extra[0]))
                h, w = x.shape[2:]
        else:
            raise ValueError(f"{op}: padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    else:
        padding = _pair(op, "padding", padding, 0)
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        raise ts.ShapeError(f"{op}: input of shape {input.shape} with padding={padding} is smaller than the kernel "
                            f"(size ({kh}, {kw}), dilation {dilation}): the output would be {oh} x {ow}")
    if (kh, kw) == (1, 1) and stride == (1, 1) and padding == (0, 0):
        cols = x.reshape(n, c, h * w)  # a 1x1 kernel's columns are the pixels themselves
    else:
        cols = ts.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # (N, C*kh*kw, L)
    k = group_channels * kh * kw
    if groups == 1:
        out = ts.matmul(weight.reshape(out_channels, k), cols)  # (O, K) @ (N, K, L) -> (N, O, L)
    else:
        # the rows of group g's channels are contiguous in cols: (N, g, K, L); weight (g, O/g, K)
        out = ts.matmul(weight.reshape(groups, out_channels // groups, k), cols.reshape(n, groups, k, oh * ow))
    out = out.reshape(n, out_channels, oh, ow)
    if bias is not None:
        out = out + bias.reshape(out_channels, 1, 1)
    return out.squeeze(0) if unbatched else out


# -- pooling --------------------------------------------------------------------------------------------------------

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """The maximum over each ``kernel_size`` window (padding never wins); input (N, C, H, W) or (C, H, W)."""
    op = "max_pool2d"
    _require_float(op, "input", input)
    if return_indices:
        raise NotImplementedError(f"{op}: return_indices=True is not supported yet")
    x, unbatched = _batched_4d(op, input)
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: pad should be at most half of effective kernel size, but got pad={padding}, "
                             f"kernel_size={kernel} and dilation={dilation}")
    out = ts.max_pool2d(x, kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    return out.squeeze(0) if unbatched else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """The mean over each ``kernel_size`` window; input (N, C, H, W) or (C, H, W)."""
    op = "avg_pool2d"
    _require_float(op, "input", input)
    x, unbatched = _batched_4d(op, input)
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ValueError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                             f"padding={padding}, kernel_size={kernel}")
    if divisor_override is not None and (isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    out = ts.avg_pool2d(x, kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad, divisor_override=divisor_override)
    return out.squeeze(0) if unbatched else out


def _adaptive_mean(x, axis, size):
    """Mean over PyTorch's adaptive windows along ``axis`` (2 or 3) of a 4-D ``x``: window i covers
    [floor(i * L / size), ceil((i + 1) * L / size))."""
    length = x.shape[axis]
    if length % size == 0:  # equal windows: one pooling kernel, stride = kernel
        k = length // size
        kernel = (k, 1) if axis == 2 else (1, k)
        return ts.avg_pool2d(x, kernel, stride=kernel)
    windows = []
    for i in range(size):
        start, end = (i * length) // size, -(-((i + 1) * length) // size)
        index = (slice(None),) * axis + (slice(start, end),)
        windows.append(ts.mean(x[index], axis=axis, keepdims=True))
    return ts.concat(windows, axis=axis)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average pooling to a fixed ``output_size`` (an int, a pair, None entries keep the input size), with
    PyTorch's windows.  Windows are rectangles, so the mean is taken along H, then along W."""
    op = "adaptive_avg_pool2d"
    _require_float(op, "input", input)
    x, unbatched = _batched_4d(op, input)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
        size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    else:
        size = (output_size, output_size)
    size = _pair(op, "output_size", size, 1)
    if 0 in x.shape[2:]:
        raise ts.ShapeError(f"{op}: input of shape {input.shape} has an empty spatial dimension")
    out = _adaptive_mean(_adaptive_mean(x, 2, size[0]), 3, size[1])
    return out.squeeze(0) if unbatched else out


# -- normalisation --------------------------------------------------------------------------------------------------

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Batch normalisation over every dim but the channels (dim 1) of ``input`` (N, C, ...).

    In training the batch's mean and biased variance normalise, and ``running_mean`` / ``running_var`` (if given)
    are updated in place: ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased batch
    variance, as PyTorch does.  Otherwise the running statistics normalise.
    """
    op = "batch_norm"
    _require_float(op, "input", input)
    if input.ndim < 2:
        raise ts.ShapeError(f"{op}: expected an input of at least 2 dimensions (N, C, ...), got shape {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ts.ShapeError(f"{op}: {name} must have shape ({c},) for an input of shape {input.shape}, got "
                                f"{t.shape}")
    shape = (1, c) + (1,) * (input.ndim - 2)
    axes = (0,) + tuple(range(2, input.ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when training=False")
        # inference is one affine map per channel, input * scale + shift, as PyTorch's cpu kernel computes it
        scale = 1.0 / ts.sqrt(running_var + eps)
        if weight is not None:
            scale = scale * weight
        shift = -running_mean * scale
        if bias is not None:
            shift = shift + bias
        return input * scale.reshape(shape) + shift.reshape(shape)
    count = input.size // c if c else 0
    if count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    # see Note [Normalisation as few full-size ops]
    mean = ts.mean(input, axis=axes, keepdims=True)
    centered = input - mean
    var = ts.mean(ts.square(centered), axis=axes, keepdims=True)  # biased: it normalises
    if running_mean is not None or running_var is not None:
        with ts.no_grad():
            if running_mean is not None:
                batch_mean = mean.detach().reshape(c).astype(running_mean.dtype)
                running_mean[...] = running_mean * (1 - momentum) + batch_mean * momentum
            if running_var is not None:  # the running variance is the unbiased one
                unbiased = var.detach().reshape(c).astype(running_var.dtype) * (count / (count - 1))
                running_var[...] = running_var * (1 - momentum) + unbiased * momentum
    scale = 1.0 / ts.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight.reshape(shape)
    out = centered * scale
    return out + bias.reshape(shape) if bias is not None else out


# Note [Normalisation as few full-size ops]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# Every elementwise op over the full input costs a pass over memory forwards and another backwards, while ops on the
# per-channel statistics are nearly free.  So the normalisations centre the input once and reuse it for the variance
# (``ts.var`` would take the mean and subtract again), fold 1/sqrt(var + eps) and the weight into one per-channel
# scale, and evaluation-mode batch norm is a single input * scale + shift.  Values and gradients are the same as
# the textbook formula's (the tests compare both with PyTorch in float64).


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the last ``len(normalized_shape)`` dims (biased variance), then scale and shift."""
    op = "layer_norm"
    _require_float(op, "input", input)
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else \
        tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != normalized_shape:
        raise ts.ShapeError(f"{op}: given normalized_shape={list(normalized_shape)}, expected input with shape "
                            f"[*, {', '.join(map(str, normalized_shape))}], but got input of size {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise ts.ShapeError(f"{op}: {name} must have shape {normalized_shape}, got {t.shape}")
    axes = tuple(range(input.ndim - k, input.ndim))
    centered = input - ts.mean(input, axis=axes, keepdims=True)  # see Note [Normalisation as few full-size ops]
    var = ts.mean(ts.square(centered), axis=axes, keepdims=True)
    out = centered * (1.0 / ts.sqrt(var + eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# -- dropout --------------------------------------------------------------------------------------------------------

def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p); the identity when not
    ``training``; ``p=1`` gives zeros (as ``input * 0``, like PyTorch).  The mask comes from the cpu generator
    whatever the input's device, so a seeded run drops the same elements everywhere (Note [Identical initial
    weights] in ts.nn.init)."""
    op = "dropout"
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    _require_float(op, "input", input)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        scale = 0.0
    else:
        draw_dtype = ts.float32 if input.dtype is ts.float16 else input.dtype
        keep = (ts.rand(input.shape, dtype=draw_dtype, device="cpu") < (1.0 - p)).to(input.device)
        scale = keep.astype(input.dtype) / (1.0 - p)
    if inplace:
        input *= scale
        return input
    return input * scale


# -- activations ----------------------------------------------------------------------------------------------------

def relu(input, inplace=False):  # noqa: A002
    """max(input, 0)."""
    _require_tensor("relu", "input", input)
    if inplace:
        input[...] = ts.relu(input)
        return input
    return ts.relu(input)


def silu(input, inplace=False):  # noqa: A002
    """input * sigmoid(input)."""
    _require_float("silu", "input", input)
    if inplace:
        # the product's gradient needs the old values, which the write overwrites: compute from a copy
        old = input.clone()
        input[...] = old * ts.sigmoid(old)
        return input
    return input * ts.sigmoid(input)


def tanh(input):  # noqa: A002
    return ts.tanh(input)


def sigmoid(input):  # noqa: A002
    return ts.sigmoid(input)


# Chebyshev coefficients of log(erfc(z) / t) + z**2 in the variable 2t - 1, t = 2 / (2 + z), z >= 0: the
# erfc approximation of Numerical Recipes (3rd ed., section 6.2.2), recomputed here with mpmath at 40 digits; the
# truncation error is below 3e-17, so float64 results are correct to rounding.
_ERFC_COF = (-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
             -9.465953444820369e-4, 3.6683949785276145e-4, 4.2523324806907772e-5, -2.0278578112534243e-5,
             -1.6242900046470255e-6, 1.3036558355805232e-6, 1.5626441722066143e-8, -8.5238095914926543e-8,
             6.5290544390988515e-9, 5.0593434955514689e-9, -9.9136415649303309e-10, -2.2736512229318359e-10,
             9.6467911020155268e-11, 2.3940380830391147e-12, -6.8860275264975534e-12, 8.9448792730907257e-13,
             3.1309213993429581e-13, -1.1270822361367252e-13, 3.8109052551892321e-16, 7.1060976136092370e-15,
             -1.5230282014571043e-15, -9.4574945712912340e-17, 1.2102371892242790e-16, -2.8166630877471770e-17)


# float32 needs only the terms above its precision: the 14th coefficient is 5e-9 and the tail after it sums to 2e-9
_ERFC_TERMS = {"float32": 14, "float64": len(_ERFC_COF)}


def _erfc_nonnegative(z):
    """erfc(z) for z >= 0 (relative error ~1e-16 in float64 where it does not underflow), in ts ops (no ts.erf
    yet)."""
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    d, dd = ts.zeros_like(z), 0.0
    for c in _ERFC_COF[_ERFC_TERMS[z.dtype.name] - 1:0:-1]:  # Clenshaw's recurrence, highest coefficient first
        d, dd = ty * d - dd + c, d
    return t * ts.exp(-z * z + 0.5 * (_ERFC_COF[0] + ty * d) - dd)


def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2, using erfc's accurate tail on the side where Phi is small."""
    e = _erfc_nonnegative(ts.abs(x) * (1.0 / math.sqrt(2.0)))
    return ts.where(x <= 0, 0.5 * e, 1.0 - 0.5 * e)


def _make_gelu_function():
    """GELU(x) = x * Phi(x) as an autograd Function: the forward's erfc recurrence (some 80 elementwise ops) is
    not recorded, and the backward is the exact derivative Phi(x) + x * phi(x), itself in ts ops (so double
    backward works)."""

    class _Gelu(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * _normal_cdf(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            density = ts.exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))
            return grad * (_normal_cdf(x) + x * density)

    return _Gelu


_GELU = None


def gelu(input, approximate="none"):  # noqa: A002
    """x * Phi(x) (``approximate='none'``) or 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x**3)))
    (``approximate='tanh'``)."""
    global _GELU
    op = "gelu"
    _require_float(op, "input", input)
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (1.0 + ts.tanh(inner))
    if approximate != "none":
        raise ValueError(f"{op}: approximate must be 'none' or 'tanh', got {approximate!r}")
    if hasattr(ts, "erf"):  # an exact kernel, once the op table has one
        return input * 0.5 * (1.0 + ts.erf(input * (1.0 / math.sqrt(2.0))))
    x = input.astype(ts.float32) if input.dtype is ts.float16 else input  # float16 computes in float32
    if _GELU is None:
        _GELU = _make_gelu_function()
    out = _GELU.apply(x)
    return out.astype(input.dtype) if out.dtype is not input.dtype else out


def _softmax_dim(op, ndim):
    """PyTorch's legacy choice when ``dim`` is None (with its warning)."""
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X as an "
                  f"argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_like(op, fn, input, dim, dtype):
    _require_tensor(op, "input", input)
    if dtype is not None:
        input = input.astype(dtype)
    if dim is None:
        dim = _softmax_dim(op, input.ndim)
    if input.ndim == 0:  # PyTorch treats a 0-d tensor as one element along dim 0 or -1
        if dim not in (0, -1):
            raise ts.AxisError(f"{op}: dim {dim} is out of range for a 0-d tensor (expected 0 or -1)")
        return fn(input.reshape(1), axis=0).reshape(())
    return fn(input, axis=dim)


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """exp(x) / sum(exp(x)) along ``dim`` (cast to ``dtype`` first if given)."""
    return _softmax_like("softmax", ts.softmax, input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    """log(softmax(x)) along ``dim``, computed stably."""
    return _softmax_like("log_softmax", ts.log_softmax, input, dim, dtype)


# -- indices --------------------------------------------------------------------------------------------------------

def _require_indices(op, name, x):
    _require_tensor(op, name, x)
    if x.dtype.kind not in ("int", "uint"):
        raise TypeError(f"{op}: {name} must be an integer tensor (class indices, int64), got {x.dtype.name}")


def _int_range(x):
    """(min, max) of a non-empty integer tensor, as Python ints (one transfer from the device)."""
    lo, hi = ts.stack([ts.min(x), ts.max(x)]).tolist()
    return int(lo), int(hi)


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape ``tensor.shape + (num_classes,)`` with a 1 at each index; ``num_classes=-1`` means
    max + 1.

    >>> import tensorswitch as ts
    >>> ts.nn.functional.one_hot(ts.asarray([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    op = "one_hot"
    _require_indices(op, "tensor", tensor)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < -1:
        raise ValueError(f"{op}: num_classes must be a non-negative int or -1, got {num_classes!r}")
    if tensor.size == 0:
        if num_classes == -1:
            raise ValueError(f"{op}: can not infer the total number of classes from an empty tensor; pass "
                             f"num_classes")
    else:
        lo, hi = _int_range(tensor)
        if lo < 0:
            raise ValueError(f"{op}: class values must be non-negative, got {lo}")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise ValueError(f"{op}: class values must be smaller than num_classes ({num_classes}), got {hi}")
    classes = ts.arange(int(num_classes), dtype=ts.int64, device=tensor.device)
    return (tensor.expand_dims(-1) == classes).astype(ts.int64)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input``: shape
    ``input.shape + (embedding_dim,)``.  Gathered with ``ts.take_along_axis``, so the weight's gradient is a
    scatter-add; the row ``padding_idx`` gets no gradient."""
    op = "embedding"
    _require_indices(op, "input", input)
    _require_tensor(op, "weight", weight)
    if max_norm is not None:
        raise NotImplementedError(f"{op}: max_norm is not supported yet (it renormalises the looked-up rows of the "
                                  f"weight in place); rescale the weight yourself under ts.no_grad()")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{op}: scale_grad_by_freq and sparse gradients are not supported")
    _check_devices(op, input=input, weight=weight)
    if weight.ndim != 2:
        raise ts.ShapeError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    rows, dim = weight.shape
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx must be within num_embeddings ({rows}), got {padding_idx}")
        padding_idx %= rows
    if input.size:
        lo, hi = _int_range(input)
        if lo < 0 or hi >= rows:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}: index {bad} is out of range for an embedding of {rows} rows (valid: 0 to "
                             f"{rows - 1})")
    index = input.reshape(-1, 1).astype(ts.int64)
    count = index.shape[0]
    picked = ts.take_along_axis(weight, ts.broadcast_to(index, (count, dim)), axis=0)  # (count, dim)
    if padding_idx is not None:
        keep = index != padding_idx  # (count, 1)
        picked = ts.where(keep, picked, picked.detach())  # same values; no gradient flows to the padding row
    return picked.reshape(tuple(input.shape) + (dim,))


# -- shapes ---------------------------------------------------------------------------------------------------------

def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """Pad (or, with negative sizes, crop) the last dims: ``pad = (left, right, top, bottom, ...)`` starts from the
    last dim, as in PyTorch.  Only ``mode='constant'``."""
    op = "pad"
    _require_tensor(op, "input", input)
    if mode != "constant":
        raise NotImplementedError(f"{op}: mode={mode!r} is not supported yet; only mode='constant'")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"{op}: padding length must be even and at most twice the number of dimensions "
                         f"({input.ndim}), got {len(pad)}")
    if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in pad):
        raise TypeError(f"{op}: pad must be a sequence of ints, got {pad!r}")
    value = 0 if value is None else value
    out = input
    for i in range(len(pad) // 2):
        axis = input.ndim - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        length = out.shape[axis]
        if length + before + after < 0:
            raise ValueError(f"{op}: padding {pad} would make dimension {axis} of {input.shape} negative")
        if before < 0 or after < 0:  # crop first
            start, stop = max(-before, 0), length - max(-after, 0)
            out = out[(slice(None),) * axis + (slice(start, max(start, stop)),)]
        parts = []
        for size in (max(before, 0), None, max(after, 0)):
            if size is None:
                parts.append(out)
            elif size:
                shape = out.shape[:axis] + (size,) + out.shape[axis + 1:]
                parts.append(ts.full(shape, value, dtype=input.dtype, device=input.device))
        if len(parts) > 1:
            out = ts.concat(parts, axis=axis)
    return input.clone() if out is input else out


def flatten(input, start_dim=0, end_dim=-1):  # noqa: A002
    """Merge dims ``start_dim`` to ``end_dim`` into one (torch.flatten); a 0-d input becomes 1-D."""
    _require_tensor("flatten", "input", input)
    if input.ndim == 0:
        return input.reshape(1)
    nd = input.ndim
    start, end = start_dim % nd if -nd <= start_dim < nd else None, end_dim % nd if -nd <= end_dim < nd else None
    if start is None or end is None:
        raise ts.AxisError(f"flatten: dims ({start_dim}, {end_dim}) are out of range for a tensor of {nd} "
                           f"dimensions")
    if start > end:
        raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
    shape = input.shape[:start] + (math.prod(input.shape[start:end + 1]),) + input.shape[end + 1:]
    return input.reshape(shape)


# -- losses ---------------------------------------------------------------------------------------------------------

def _class_target(op, input, target, ignore_index, values=True):
    """Check a class-index ``target`` against ``input`` (N, C, d1, ...) or (C,); returns (input as (N, C, ...),
    target as (N, ...) int64, whether the input was unbatched, whether every target is a class: none ignored).
    ``values=False`` checks only the shapes and dtype (the caller's kernel checks the values) and answers None for
    the last."""
    _require_indices(op, "target", target)
    _check_devices(op, input=input, target=target)
    if input.ndim == 0:
        raise ts.ShapeError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    unbatched = input.ndim == 1
    if unbatched:
        if target.ndim != 0:
            raise ts.ShapeError(f"{op}: for an unbatched input of shape {input.shape} the target must be 0-d (a "
                                f"class index), got shape {target.shape}")
        input, target = input.expand_dims(0), target.reshape(1)
    expected = input.shape[:1] + input.shape[2:]
    if tuple(target.shape) != expected:
        raise ts.ShapeError(f"{op}: expected a target of shape {expected} for an input of shape {input.shape}, got "
                            f"{target.shape}")
    classes = input.shape[1]
    target = target.astype(ts.int64) if target.dtype is not ts.int64 else target
    if not values:
        return input, target, unbatched, None
    if target.size:
        # the common case in two reductions: every target a class (then none is ignored either, and _nll can skip
        # its masks); only otherwise the full check, which tells an ignored target from an out-of-range one
        if int(ts.min(target).item()) >= 0 and int(ts.max(target).item()) < classes and \
                not 0 <= ignore_index < classes:
            return input, target, unbatched, True
        bad = ((target < 0) | (target >= classes)) & (target != ignore_index)
        if ts.any(bad).item():
            lowest = int(ts.min(ts.where(bad, target, classes)).item())
            value = lowest if lowest < 0 else int(ts.max(ts.where(bad, target, -1)).item())
            raise IndexError(f"{op}: target {value} is out of bounds for {classes} classes (valid targets are "
                             f"0 to {classes - 1}, or ignore_index={ignore_index})")
    return input, target, unbatched, False


def _class_weight(op, weight, classes, input):
    if weight is None:
        return None
    _require_tensor(op, "weight", weight)
    if tuple(weight.shape) != (classes,):
        raise ts.ShapeError(f"{op}: weight must have shape ({classes},) (one weight per class), got {weight.shape}")
    _check_devices(op, input=input, weight=weight)
    return weight


def _nll(op, logp, target, weight, ignore_index, reduction, masks=False, all_classes=False):
    """The negative log-likelihood of ``target`` (N, ...) under ``logp`` (N, C, ...), reduced; also returns the
    valid-target mask and the per-target weights (for label smoothing)."""
    if all_classes and weight is None and not masks and reduction != "none":
        # every target is a class (_class_target checked), so nothing is masked: the masked form below gives the
        # same numbers with four more ops and their backward passes
        # _class_target checked every target is a class: take_along_axis and its backward skip their range checks
        picked = ts.take_along_axis(logp, target.expand_dims(1), axis=1, _bounds=(0, logp.shape[1] - 1))
        total = -ts.sum(picked)
        loss = total / float(target.size) if reduction == "mean" else total
        return loss, None, None
    valid = target != ignore_index
    index = ts.where(valid, target, 0)  # any valid class: the ignored positions are masked out below
    picked = ts.take_along_axis(logp, index.expand_dims(1), axis=1).squeeze(1)  # gradient: a scatter-add
    if weight is not None:
        w = ts.take_along_axis(weight, index.reshape(-1), axis=0).reshape(target.shape)
        w = ts.where(valid, w, 0.0)
        loss = ts.where(valid, -(picked * w), 0.0)  # where, not * 0: an ignored -inf must not make a NaN
    else:
        w = valid.astype(logp.dtype)
        loss = ts.where(valid, -picked, 0.0)
    if reduction == "mean":
        return ts.sum(loss) / ts.sum(w), valid, w
    return _reduce(loss, reduction), valid, w


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    """The negative log-likelihood loss of log-probabilities ``input`` (N, C, ...) or (C,) and class indices
    ``target`` (N, ...) or (); the weighted mean divides by the weights of the non-ignored targets."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    x, t, unbatched, all_classes = _class_target(op, input, target, ignore_index)
    weight = _class_weight(op, weight, x.shape[1], x)
    loss, _, _ = _nll(op, x, t, weight, ignore_index, reduction, all_classes=all_classes)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """The cross entropy between logits ``input`` (N, C, ...) or (C,) and ``target``: class indices (N, ...) or
    (), or class probabilities of the input's shape (a floating target).

    With indices it is ``nll_loss(log_softmax(input, 1), target)``, the log-probabilities picked with
    ``ts.take_along_axis``; ``label_smoothing`` mixes in the uniform distribution, with PyTorch's weighting and
    normalisation.

    >>> import tensorswitch as ts
    >>> round(ts.nn.functional.cross_entropy(ts.zeros((2, 4)), ts.asarray([1, 3])).item(), 4)  # log(4)
    1.3863
    """
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    _require_tensor(op, "target", target)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or \
            not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
    if input.ndim == 0:
        raise ts.ShapeError(f"{op}: input must have at least 1 dimension (C,) or (N, C, ...), got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    weight = _class_weight(op, weight, classes, input)
    if target.dtype.kind == "float":
        return _cross_entropy_probabilities(op, input, target, weight, reduction, label_smoothing, class_dim)
    if weight is None and label_smoothing == 0.0 and reduction != "none" and input.ndim == 2 and target.size and \
            not 0 <= ignore_index < classes:
        # the training loop's case: one op, one autograd node (nnops.nll_log_softmax), which checks the targets
        # itself; one that is not a class (ignore_index among them) takes the general path below, which decides
        x, t, _, _ = _class_target(op, input, target, ignore_index, values=False)
        try:
            return _nnops.nll_log_softmax(x, t.expand_dims(1), mean=reduction == "mean")
        except _nnops.TargetOutOfRange:
            pass
    x, t, unbatched, all_classes = _class_target(op, input, target, ignore_index)
    logp = ts.log_softmax(x, axis=1)
    loss, valid, w = _nll(op, logp, t, weight, ignore_index, reduction, masks=label_smoothing > 0.0,
                          all_classes=all_classes)
    if label_smoothing > 0.0:
        if weight is not None:
            smooth = -ts.sum(logp * weight.reshape((1, classes) + (1,) * (x.ndim - 2)), axis=1)
        else:
            smooth = -ts.sum(logp, axis=1)
        smooth = ts.where(valid, smooth, 0.0)
        if reduction == "mean":
            smooth = ts.sum(smooth) / ts.sum(w)
        else:
            smooth = _reduce(smooth, reduction)
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
    return loss.reshape(()) if unbatched and reduction == "none" else loss


def _cross_entropy_probabilities(op, input, target, weight, reduction, label_smoothing, class_dim):
    if tuple(target.shape) != tuple(input.shape):
        raise ts.ShapeError(f"{op}: a target of class probabilities (floating dtype) must have the input's shape "
                            f"{input.shape}, got {target.shape}; class indices need an integer dtype")
    classes = input.shape[class_dim]
    logp = ts.log_softmax(input, axis=class_dim)
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = logp * target
    if weight is not None:
        terms = terms * weight.reshape((classes,) + (1,) * (input.ndim - 1 - class_dim))
    if reduction == "none":
        return -ts.sum(terms, axis=class_dim)
    total = -ts.sum(terms)
    if reduction == "sum":
        return total
    samples = input.size // classes if classes else 0
    return total / (samples if samples else float("nan"))


def _same_shape_warning(op, input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"{op}: using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. Please "
                      f"ensure they have the same size.", stacklevel=3)


def _pointwise_loss(op, errors, input, weight, reduction):
    if weight is not None:
        _require_tensor(op, "weight", weight)
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(f"{op}: weights and input must have the same size, got {weight.shape} and "
                             f"{input.shape}")
        errors = errors * weight
        if reduction == "mean":
            return ts.sum(errors) / ts.sum(weight)
    return _reduce(errors, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    """The (optionally weighted) squared error; the weighted mean divides by the sum of the weights."""
    op = "mse_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    _require_tensor(op, "target", target)
    _same_shape_warning(op, input, target)
    return _pointwise_loss(op, ts.square(input - target), input, weight, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    """The (optionally weighted) absolute error; the weighted mean divides by the sum of the weights."""
    op = "l1_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    _require_tensor(op, "target", target)
    _same_shape_warning(op, input, target)
    return _pointwise_loss(op, ts.abs(input - target), input, weight, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """-w * (y log x + (1 - y) log(1 - x)) for probabilities ``input`` in [0, 1], each log clamped at -100 (as
    PyTorch, so a certain wrong answer costs 100, not inf)."""
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    _require_float(op, "target", target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is not supported; please ensure they have the same size")
    if input.size:
        outside = ts.logical_not((input >= 0) & (input <= 1))  # NaN is outside too
        if ts.any(outside).item():
            raise ValueError(f"{op}: all elements of input should be between 0 and 1 (probabilities; apply "
                             f"ts.sigmoid, or use binary_cross_entropy_with_logits on logits)")
    log_p = ts.maximum(ts.log(input), -100.0)
    log_q = ts.maximum(ts.log(1.0 - input), -100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        _require_tensor(op, "weight", weight)
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) computed stably from the logits: with m = max(-x, 0),
    loss = (1 - y) x + (1 + (pos_weight - 1) y) (m + log(exp(-m) + exp(-x - m))), times ``weight``."""
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    _require_float(op, "input", input)
    _require_float(op, "target", target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target size ({target.shape}) must be the same as input size ({input.shape})")
    m = ts.maximum(-input, 0.0).detach()  # any m gives the same value and gradient; this one never overflows
    softplus_neg = m + ts.log(ts.exp(-m) + ts.exp(-input - m))  # log(1 + exp(-x))
    if pos_weight is not None:
        _require_tensor(op, "pos_weight", pos_weight)
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * softplus_neg
    else:
        loss = (1.0 - target) * input + softplus_neg
    if weight is not None:
        _require_tensor(op, "weight", weight)
        loss = loss * weight
    return _reduce(loss, reduction)
