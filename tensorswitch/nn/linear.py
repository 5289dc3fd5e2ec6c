"""``Linear`` and ``Identity``.

>>> import tensorswitch as ts
>>> ts.nn.Linear(4, 2)
Linear(in_features=4, out_features=2, bias=True)
"""

import math

import tensorswitch as ts

from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Identity", "Linear"]


class Identity(Module):
    """Returns its input; takes (and ignores) any arguments, as PyTorch's does."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):  # noqa: A002
        return input


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Initialised as PyTorch does: weight ~ kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)), and
    bias ~ U(-1/sqrt(in), 1/sqrt(in)), drawn from tensorswitch's cpu generator and placed on ``device``.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(ts.empty((out_features, in_features), dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(ts.empty((out_features,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):  # noqa: A002
        try:
            return F.linear(input, self.weight, self.bias)
        except (ts.ShapeError, ts.DeviceMismatchError) as exc:  # name the layer, as Conv2d does
            raise type(exc)(f"{self!r}: {exc}") from None

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
