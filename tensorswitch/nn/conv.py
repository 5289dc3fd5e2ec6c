"""``Conv2d``: 2-D convolution (cross-correlation, as in PyTorch), computed by ``F.conv2d`` as im2col + matmul.

>>> import tensorswitch as ts
>>> conv = ts.nn.Conv2d(3, 8, 3, padding=1)
>>> conv
Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
>>> conv(ts.ones((2, 3, 16, 16))).shape
(2, 8, 16, 16)
"""

import math

import tensorswitch as ts

from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """Applies a 2-D convolution over an input (N, C_in, H, W) or (C_in, H, W).

    Args: in_channels, out_channels, kernel_size (int or pair), stride=1, padding=0 (int, pair, 'valid' or
    'same'), dilation=1, groups=1, bias=True, padding_mode='zeros' (the only mode so far), device=None,
    dtype=None.  Weight (out_channels, in_channels // groups, kH, kW) and bias are initialised as PyTorch does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        kernel_size = F._pair("Conv2d", "kernel_size", kernel_size, 1)
        stride = F._pair("Conv2d", "stride", stride, 1)
        dilation = F._pair("Conv2d", "dilation", dilation, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}}")
            if padding == "same" and stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = F._pair("Conv2d", "padding", padding, 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode={padding_mode!r} is not supported yet; only "
                                      f"padding_mode='zeros'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.groups, self.padding_mode = groups, padding_mode
        self.transposed, self.output_padding = False, (0, 0)
        self.weight = Parameter(ts.empty((out_channels, in_channels // groups) + kernel_size, dtype=dtype,
                                         device=device))
        if bias:
            self.bias = Parameter(ts.empty((out_channels,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input):  # noqa: A002
        try:
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        except (ts.ShapeError, ts.DeviceMismatchError) as exc:  # name the layer: which of twenty convs it was
            raise type(exc)(f"{self!r}: {exc}") from None

    def extra_repr(self):
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.kernel_size):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        return s.format(**self.__dict__)
