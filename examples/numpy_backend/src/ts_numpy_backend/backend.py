"""The ``numpy`` backend: one host device whose memory is a NumPy uint8 array per buffer.

Every hook of Note [Backend contract] (tensorswitch/dispatch/backend.py) is a byte copy between such arrays, and
:func:`as_array` is the one place where a tensor becomes a NumPy array: every kernel goes through it.
"""

import numpy as np

import tensorswitch as ts

__all__ = ["NumPyBackend", "as_array"]

#: every tensorswitch dtype: host memory can hold any of them
DTYPES = frozenset((ts.bool, ts.int8, ts.int16, ts.int32, ts.int64, ts.uint8, ts.uint16, ts.uint32, ts.uint64,
                    ts.float16, ts.float32, ts.float64, ts.complex64, ts.complex128))


def as_array(t):
    """A NumPy view of tensor ``t`` over its backend buffer: writes to it write the tensor.

    ``t.offset`` and ``t.strides`` count elements; NumPy wants bytes.  The view starts at the tensor's first element
    (byte ``offset * itemsize`` of the uint8 buffer) and takes the tensor's shape and byte strides, which may be zero
    (broadcast) or negative (reversed views).

    This is ``np.lib.stride_tricks.as_strided`` done with the ``np.ndarray`` constructor instead, for two reasons:
    the constructor checks that every element the view can reach lies inside the buffer (``as_strided`` checks
    nothing, so a wrong offset or stride would read or write foreign memory silently), and it costs about 0.6 us
    against 3.4 us, which is most of a small op's time here, with three views per binary op.
    """
    itemsize = t.dtype.itemsize
    return np.ndarray(t.shape, t.dtype.numpy, buffer=t.buffer.handle, offset=t.offset * itemsize,
                      strides=tuple(s * itemsize for s in t.strides))


def _bytes(host):
    """The bytes of a C-contiguous host array (0-d included), as a flat uint8 view."""
    return host.reshape(-1).view(np.uint8)


class NumPyBackend(ts.Backend):
    """The host, through NumPy: one device, every dtype.  Kernels finish before they return, so ``synchronize``
    keeps the base class's no-op."""

    name = "numpy"
    install_hint = "pip install ./examples/numpy_backend"

    def device_count(self):
        return 1

    def supported_dtypes(self, index):
        return DTYPES

    def allocate(self, nbytes, index):
        # np.empty's memory is aligned for every dtype, and offsets are whole elements, so views stay aligned
        return np.empty(nbytes, dtype=np.uint8)

    def copy_in(self, handle, offset, host, index):
        data = _bytes(host)
        handle[offset:offset + data.size] = data

    def copy_out(self, handle, offset, host, index):
        data = _bytes(host)
        data[...] = handle[offset:offset + data.size]

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        dst[dst_offset:dst_offset + nbytes] = src[src_offset:src_offset + nbytes]

    def describe(self, index):
        return f"numpy (NumPy {np.__version__}, host memory)"
