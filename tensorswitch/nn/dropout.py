"""``Dropout``: zero elements with probability ``p`` while training (the mask drawn from the cpu generator
whatever the input's device, see ``F.dropout``), the identity in eval mode.

>>> import tensorswitch as ts
>>> ts.nn.Dropout(0.25)
Dropout(p=0.25, inplace=False)
"""

from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
