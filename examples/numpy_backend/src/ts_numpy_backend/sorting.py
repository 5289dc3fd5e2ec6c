"""The sort family's kernels of the ``numpy`` device: sort, argsort and searchsorted, each the row of Note [Kernel
contract] (tensorswitch/dispatch/registry.py) of the same name, in NumPy.

NumPy's own order is the one every backend sorts by (Note [Sort order] in tensorswitch's kernels/cpu/sort.cpp):
NaN last, -0.0 equal to +0.0, and a stable sort keeps ties in order.  NumPy has no descending sort, and flipping an
ascending one would reverse the ties; the stable ascending argsort of the flipped row, flipped back and counted from
the end, is the descending order with ties kept in place (and NaNs first), as array-api-strict does it.
"""

import numpy as np

import tensorswitch as ts
from tensorswitch.kernels import optable

from .backend import as_array

__all__ = ["register_kernels"]


def _argsort(a, axis, descending):
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    flipped = np.flip(np.argsort(np.flip(a, axis=axis), axis=axis, kind="stable"), axis=axis)
    return a.shape[axis] - 1 - flipped


def sort(out, x, axis, descending):
    a = as_array(x)
    np.copyto(as_array(out), np.take_along_axis(a, _argsort(a, axis, descending), axis=axis))


def argsort(out, x, axis, descending):
    np.copyto(as_array(out), _argsort(as_array(x), axis, descending), casting="unsafe")


def searchsorted(out, x1, x2, right, sorter):
    found = np.searchsorted(as_array(x1), as_array(x2), side="right" if right else "left",
                            sorter=None if sorter is None else as_array(sorter))
    np.copyto(as_array(out), found, casting="unsafe")


def register_kernels(device):
    """Register the kernels above for ``device`` (the plugin's device type), for every dtype the op table lists."""
    for op, kernel in (("sort", sort), ("argsort", argsort), ("searchsorted", searchsorted)):
        ts.register_kernel(op, device, list(optable.COVERAGE[op]), kernel)
