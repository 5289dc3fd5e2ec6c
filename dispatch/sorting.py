"""Sorting functions of the Array API standard: sort and argsort (stable, descending).

(Being written: issue 8.)
"""

__all__ = []
