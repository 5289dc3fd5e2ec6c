"""Searching functions of the Array API standard: searchsorted, nonzero, count_nonzero, where with one argument.

(Being written: issue 8.)
"""

__all__ = []
