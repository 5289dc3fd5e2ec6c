"""``ts.nn.init``: fill tensors in place, as ``torch.nn.init`` does (same names, gains and fan rules).

Every random draw comes from tensorswitch's cpu generator (``ts.rand`` / ``ts.randn``), whatever the tensor's device;
see Note [Identical initial weights].  The fills run under ``ts.no_grad()``, so they work on parameters.

>>> import tensorswitch as ts
>>> w = ts.empty((3, 4))
>>> ts.nn.init.kaiming_uniform_(w, a=5 ** 0.5).shape
(3, 4)
"""

# Note [Identical initial weights]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# ``ts.manual_seed(s)`` must give one training run whatever the device: the same initial weights, the same dropout
# masks and the same DataLoader shuffles, in the same order, whether the model is built on "cpu" and moved
# (``Net().to("opencl")``) or built there (``nn.Linear(..., device="opencl")``).  tensorswitch's generator is counter
# based and every device has its own (the n-th draw of a shape and dtype gives the same numbers on every device), but
# their counters are separate: a run whose weights came from the cpu generator and whose masks come from the opencl
# one interleaves the draws differently from a cpu run, and DataLoader shuffles always take the cpu generator (Note
# [Shuffling] in ts.utils.data).  So every random draw of ts.nn -- the init functions here, ``F.dropout`` -- takes
# the cpu generator, in the tensor's dtype (float16 draws in float32 and rounds), and the numbers are copied to the
# tensor's device: one stream, one order of draws, on every device (and plugins need no random kernels for nn).
# The copy costs one host-to-device transfer per draw (dropout sends a bool mask, a byte an element); drawing on the
# device from the cpu generator's stream would need ``ts.rand(..., generator=)``, which tensorswitch lacks so far.
# Layers draw in their parameter order (weight, then bias), like PyTorch.

import math
import warnings

import tensorswitch as ts

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for ``nonlinearity`` (PyTorch's table: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2),
    leaky_relu sqrt(2 / (1 + slope**2)) with slope ``param`` (default 0.01), selu 3/4)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field_size = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field_size, tensor.shape[0] * receptive_field_size


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(op, tensor, generator):
    if not isinstance(tensor, ts.Tensor):
        raise TypeError(f"nn.init.{op}: expected a ts.Tensor, got {type(tensor).__name__}")
    if generator is not None:
        raise NotImplementedError(f"nn.init.{op}: generator= is not supported; ts.nn draws from the cpu "
                                  f"generator (seed it with ts.manual_seed)")


def _draw(kind, tensor):
    """Standard samples ("rand": uniform [0, 1), "randn": normal) of the tensor's shape, drawn from the cpu
    generator and placed on the tensor's device; see Note [Identical initial weights]."""
    if tensor.dtype.kind != "float":
        raise TypeError(f"nn.init: cannot fill a {tensor.dtype.name} tensor with random values; use a floating "
                        f"dtype")
    dtype = ts.float32 if tensor.dtype is ts.float16 else tensor.dtype
    draw = ts.rand if kind == "rand" else ts.randn
    return draw(tensor.shape, dtype=dtype, device="cpu").to(tensor.device)


def _fill(tensor, values):
    with ts.no_grad():
        tensor[...] = values
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` with samples of U(a, b)."""
    _check("uniform_", tensor, generator)
    if tensor.size == 0:
        return tensor
    with ts.no_grad():
        return _fill(tensor, _draw("rand", tensor) * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` with samples of N(mean, std**2)."""
    _check("normal_", tensor, generator)
    if tensor.size == 0:
        return tensor
    with ts.no_grad():
        return _fill(tensor, _draw("randn", tensor) * std + mean)


def constant_(tensor, val):
    """Fill ``tensor`` with ``val``."""
    _check("constant_", tensor, None)
    return _fill(tensor, val)


def ones_(tensor):
    return constant_(tensor, 1)


def zeros_(tensor):
    return constant_(tensor, 0)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    _check("xavier_uniform_", tensor, generator)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check("xavier_normal_", tensor, generator)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al., 2015); ``a`` is leaky_relu's slope."""
    _check("kaiming_uniform_", tensor, generator)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std**2) with std = gain / sqrt(fan)."""
    _check("kaiming_normal_", tensor, generator)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))
