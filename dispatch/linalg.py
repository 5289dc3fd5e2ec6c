"""The linalg extension of the Array API standard (``ts.linalg``), plus tensordot, vecdot and matrix_transpose.

(Being written: issue 8.)
"""

__all__ = []
