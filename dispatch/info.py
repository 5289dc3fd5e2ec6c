"""Data type and namespace inspection: finfo, iinfo, isdtype, can_cast, the constants, __array_namespace_info__.

(Being written: issue 8.)
"""

__all__ = []
