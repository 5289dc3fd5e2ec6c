"""Interchange: DLPack (``__dlpack__``, ``from_dlpack``), NumPy's ``__array__``, ``__cuda_array_interface__``.

(Being written: issue 8.)
"""

__all__ = []
