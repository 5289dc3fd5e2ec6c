"""``Flatten`` and ``Unflatten``.

>>> import tensorswitch as ts
>>> ts.nn.Flatten()(ts.ones((2, 3, 4))).shape
(2, 12)
"""

import math

import tensorswitch as ts

from . import functional as F
from .module import Module

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Merge dims ``start_dim`` (default 1: keep the batch dim) to ``end_dim`` into one."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):  # noqa: A002
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (a tuple of ints; one may be -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"invalid argument type for dim parameter, expected int, got {type(dim).__name__}")
        if not isinstance(unflattened_size, (tuple, list)) or \
                not all(isinstance(n, int) and not isinstance(n, bool) for n in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input):  # noqa: A002
        nd = input.ndim
        if not -nd <= self.dim < nd:
            raise ts.AxisError(f"Unflatten: dim {self.dim} is out of range for an input of shape {input.shape}")
        dim = self.dim % nd
        sizes = tuple(self.unflattened_size)
        known = math.prod(n for n in sizes if n != -1)
        if sizes.count(-1) > 1 or (-1 not in sizes and known != input.shape[dim]) or \
                (-1 in sizes and (known == 0 or input.shape[dim] % known)):
            raise ts.ShapeError(f"Unflatten: unflattened_size {sizes} does not match dim {self.dim} of size "
                                f"{input.shape[dim]} (input shape {input.shape})")
        return input.reshape(input.shape[:dim] + sizes + input.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
