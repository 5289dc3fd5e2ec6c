"""Statistical functions of the Array API standard beyond the reductions: cumulative_sum, cumulative_prod.

(Being written: issue 8.)
"""

__all__ = []
