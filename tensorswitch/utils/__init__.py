"""ts.utils: helpers around the tensor library (``ts.utils.data``: datasets and data loaders)."""

from . import data

__all__ = ["data"]
