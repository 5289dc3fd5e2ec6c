"""Set functions of the Array API standard: unique_all, unique_counts, unique_inverse, unique_values.

(Being written: issue 8.)
"""

__all__ = []
