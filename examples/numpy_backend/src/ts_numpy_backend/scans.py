"""The scan family's kernels (issue 8): cumsum, cumprod, nonzero, gather and put, each the row of Note [Kernel
contract] (tensorswitch/dispatch/registry.py) of the same name, written as plain NumPy.

Floats accumulate in float64 (complex numbers in complex128) and round each output once (the cpu backend's choice);
integers wrap in their own dtype,
as NumPy's cumsum with ``dtype=`` the input's does; bool is a running or (cumsum) / and (cumprod).  gather and put
address the indexed tensor's buffer directly: the element offset of each result position is the view's own offset
plus each index (wrapped from the end) times the stride it steps along, and NumPy's fancy assignment writes in C
order, so that where positions repeat the last value wins.
"""

import numpy as np

import tensorswitch as ts
from tensorswitch.kernels import optable

from .backend import as_array

__all__ = ["register_kernels"]


def _cumulative(fn, logical):
    def kernel(out, x, axis):
        a = as_array(x)
        with np.errstate(all="ignore"):
            if a.dtype == np.bool_:
                result = logical.accumulate(a, axis=axis)
            elif a.dtype.kind in "fc":
                result = fn(a, axis=axis, dtype=np.complex128 if a.dtype.kind == "c" else np.float64)
            else:
                result = fn(a, axis=axis, dtype=a.dtype)
            np.copyto(as_array(out), result, casting="unsafe")
    return kernel


def nonzero(out, x):
    """out (ndim, count): the coordinates of the nonzero elements in C order (NaN is nonzero)."""
    np.copyto(as_array(out), np.stack(np.nonzero(as_array(x))))


def _elements(t):
    """The whole buffer of ``t`` as a flat array of its dtype, and the element offsets of ``t``'s positions."""
    flat = t.buffer.handle.view(t.dtype.numpy)
    offsets = np.full(t.shape, t.offset, np.int64)
    for d, (n, s) in enumerate(zip(t.shape, t.strides)):
        offsets += (np.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (len(t.shape) - d - 1))
    return flat, offsets


def _indexed(view, indices, sizes, steps):
    flat, offsets = _elements(view)
    for index, size, step in zip(indices, sizes, steps):
        w = as_array(index)
        offsets += np.where(w < 0, w + size, w) * step  # the dispatcher has checked every index's range
    return flat, offsets


def gather(out, x, indices, sizes, steps):
    flat, offsets = _indexed(x, indices, sizes, steps)
    np.copyto(as_array(out), flat[offsets])


def put(out, indices, sizes, steps, values):
    flat, offsets = _indexed(out, indices, sizes, steps)
    flat[offsets] = as_array(values)  # C order: the last of repeated positions wins


KERNELS = {"cumsum": _cumulative(np.cumsum, np.logical_or), "cumprod": _cumulative(np.cumprod, np.logical_and),
           "nonzero": nonzero, "gather": gather, "put": put}


def register_kernels(device):
    """Register the kernels above for ``device`` (the plugin's device type), for the dtypes the built-ins claim."""
    for op, kernel in KERNELS.items():
        ts.register_kernel(op, device, list(optable.COVERAGE[op]), kernel)
