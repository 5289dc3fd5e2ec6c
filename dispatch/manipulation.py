"""Manipulation functions of the Array API standard that are not views of one tensor's methods: flip, roll,
moveaxis, repeat, tile, unstack, meshgrid, tril/triu, diff.

(Being written: issue 8.)
"""

__all__ = []
