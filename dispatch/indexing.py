"""Integer-array and boolean-mask indexing (NumPy semantics) for ``Tensor.__getitem__``/``__setitem__``, and take.

(Being written: issue 8.)
"""

__all__ = []
