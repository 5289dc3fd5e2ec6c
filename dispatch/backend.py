"""The backend API: what a backend fills so that tensors can live on its devices.

Every backend, built-in or plugin, is a subclass of :class:`Backend` registered with ``ts.register_backend``; the
built-in cpu, opencl and cuda backends use nothing else (see Note [Backend contract]).

Note [Backend contract]
~~~~~~~~~~~~~~~~~~~~~~~
A backend owns memory and runs kernels; it never decides dtypes, shapes or broadcasting (the dispatcher does).
The hooks, all taking the device ``index`` where it matters:

    device_count()                        how many devices of this type exist now (0 when unusable)
    unavailable_reason()                  None when usable, else a sentence saying why and how to fix it
    supported_dtypes(index)               frozenset of DType this device can store and compute
    allocate(nbytes, index) -> handle     device memory (nbytes may be 0)
    free(handle, index)                   give it back (called when the last tensor on it dies)
    copy_in(handle, offset, host, index)  host (a C-contiguous NumPy array) -> device, at byte ``offset``
    copy_out(handle, offset, host, index) device -> host, at byte ``offset``
    copy_between(dst, dst_off, dst_index, src, src_off, src_index, nbytes)
                                          same device type, any two devices of it
    synchronize(index)                    wait for all queued work
    memory_limit(index)                   the largest single allocation in bytes, or None (optional)
    empty_cache(index)                    give memory cached by the backend's pool back (optional)
    memory_stats(index)                   a dict: allocated_bytes, cached_bytes, ... (optional)
    warmup(index)                         compile every kernel program ahead of use; how many (optional)

``supported_dtypes`` may answer with ``ts.DType`` objects or dtype names.  ``allocate`` raises ``MemoryError`` when
the memory cannot be had (too large, or none left): the core then empties the cache, retries once, and raises
``ts.OutOfMemoryError`` naming the device, the size and ``memory_limit``.  A backend needs no kernel to be usable
with the CPU fallback on (``ts.set_fallback(name, "cpu")``): the fallback moves data with ``copy_in``/``copy_out``
only.  Without it, creation needs ``fill`` (zeros, ones, full), copies of views need ``astype``, and each op its own
kernel.

Backends that compile kernels at run time (opencl, cuda) also use :class:`KernelCache`: compile once per source and
options, keep the kernel objects, and let the driver keep the binaries on disk.

Kernels are registered per (op, device type, dtype) with ``ts.register_kernel``; see Note [Kernel contract] in
``dispatch/registry.py`` for what a kernel receives.
"""

import threading
from collections import namedtuple

__all__ = ["Backend", "Buffer", "KernelCache", "coalesce", "pooled_size"]


class Buffer(namedtuple("BufferFields", "handle nbytes device version")):
    """Device memory of one backend: an opaque ``handle`` (whatever the backend's ``allocate`` returned), its size and
    device, and ``version``, a one-element list that every in-place write into the memory counts up (Note [Version
    counter] in dispatch/tensor.py).  Tensors and their views share a Buffer.  A tuple, because one is made for
    every op's result and a tuple is the cheapest object to make; backends whose handles free themselves when
    dropped (the default ``free``) get this class, backends that override ``free`` get :class:`OwnedBuffer`."""

    __slots__ = ()

    def __new__(cls, handle, nbytes, device, version=None):
        return tuple.__new__(cls, (handle, nbytes, device, [0] if version is None else version))


class OwnedBuffer(Buffer):
    """A Buffer that calls its backend's ``free`` when the last tensor on it goes."""

    __slots__ = ()

    def __del__(self):
        try:
            self.device.backend.free(self.handle, self.device.index)
        except Exception:  # interpreter shutdown: the backend may already be gone
            pass


class Backend:
    """Base class of every backend.  Subclasses set ``name`` and fill the hooks of Note [Backend contract]."""

    #: the device type, as users spell it: ``"cpu"``, ``"opencl"``, ``"mydev"``
    name = None
    #: what ``pip install`` brings what this backend needs, named in errors (for example "tensorswitch[opencl]")
    install_hint = None

    def initialize(self):
        """Called once, on first use of the device type.  Do the expensive set-up (drivers, contexts) here."""

    def device_count(self):
        raise self._missing("device_count")

    def unavailable_reason(self):
        """None when at least one device is usable; otherwise why not, and how to fix it."""
        return None if self.device_count() > 0 else f"no {self.name} device was found"

    def supported_dtypes(self, index):
        raise self._missing("supported_dtypes")

    def allocate(self, nbytes, index):
        raise self._missing("allocate")

    def free(self, handle, index):
        """Default: nothing; the handle frees itself when garbage collection takes it (pooled PyOpenCL buffers,
        CuPy memory pointers, the cpu pool's blocks).  Override to free explicitly."""

    def copy_in(self, handle, offset, host, index):
        raise self._missing("copy_in")

    def copy_out(self, handle, offset, host, index):
        raise self._missing("copy_out")

    def _missing(self, hook):
        from .errors import BackendError

        return BackendError(f"the {self.name!r} backend ({type(self).__name__}) does not implement {hook}(), which "
                            f"this needs; see Note [Backend contract] in tensorswitch/dispatch/backend.py")

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        """Default: through the host.  Backends with a direct path override it."""
        import numpy as np

        host = np.empty(nbytes, dtype=np.uint8)
        self.copy_out(src, src_offset, host, src_index)
        self.copy_in(dst, dst_offset, host, dst_index)

    def synchronize(self, index):
        """Default: a backend whose kernels finish before returning has nothing to wait for."""

    def memory_limit(self, index):
        """The largest single allocation in bytes, or None when unknown (named in out-of-memory errors)."""
        return None

    def empty_cache(self, index):
        """Give memory cached by this backend's pool back to the system.  Default: nothing is cached."""

    def memory_stats(self, index):
        """A dict with at least ``allocated_bytes`` and ``cached_bytes`` where the backend knows them."""
        return {}

    def describe(self, index):
        """A short human description of device ``index``, for ``repr`` and listings."""
        return f"{self.name}:{index}"

    def warmup(self, index):
        """Compile every kernel program device ``index`` can need, ahead of its first use (``python -m tensorswitch
        warmup``); returns how many programs it built or found built.  Default: nothing to compile (kernels built
        ahead of time, as the cpu's)."""
        return 0

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def coalesce(shape, strides, by_output=False):
    """Drop extent-1 dims and merge neighbours that every operand walks as one, for launching a kernel over several
    operands of one shape.  C order is kept, so linear indices (outputs, argmax positions) do not change, unless
    ``by_output``: then the dims are first put in the order the first operand (the output) walks its memory, largest
    stride first, for kernels whose elements are independent (elementwise, where, casts, fill), so that operands that
    share one permuted layout (``a.T + a.T``, Note [Elementwise result layout]) merge into one run.
    ``strides`` holds one stride sequence per operand, in elements.  Returns (dims, [strides per operand]) as lists,
    both empty when there is a single element.

    >>> coalesce((2, 3, 4), ((12, 4, 1), (0, 0, 1)))
    ([6, 4], [[4, 1], [0, 1]])
    >>> coalesce((4, 3), ((1, 4), (1, 4)), by_output=True)
    ([12], [[1], [1]])
    """
    if by_output and len(shape) > 1:
        order = sorted(range(len(shape)), key=lambda d: -abs(strides[0][d]))  # stable: ties keep C order
        shape = [shape[d] for d in order]
        strides = [[s[d] for d in order] for s in strides]
    dims, out = [], [[] for _ in strides]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if dims and all(s[-1] == t[d] * n for s, t in zip(out, strides)):
            dims[-1] *= n
            for s, t in zip(out, strides):
                s[-1] = t[d]
        else:
            dims.append(n)
            for s, t in zip(out, strides):
                s.append(t[d])
    return dims, out


class KernelCache:
    """Compiled kernels of a run-time-compiling backend, built once per (device, source, options) and kept.

    ``build(index, source, options)`` compiles a program; ``get(index, key, name, make_source)`` returns the kernel
    ``name`` of the program whose source ``make_source()`` gives, compiling it on first use only.  Thread-safe.
    """

    def __init__(self, build, function):
        self._build = build          # (index, source, options) -> program
        self._function = function    # (program, name) -> kernel object
        self._programs = {}
        self._kernels = {}
        self._lock = threading.Lock()

    def program(self, index, key, make_source, options=()):
        """The program of ``key`` (compiled now unless it already is): what ``get`` takes kernels from."""
        pk = (index, key, tuple(options))
        program = self._programs.get(pk)
        if program is None:
            with self._lock:
                program = self._programs.get(pk)
                if program is None:
                    program = self._programs[pk] = self._build(index, make_source(), tuple(options))
        return program

    def get(self, index, key, name, make_source, options=()):
        k = (index, key, name)
        kernel = self._kernels.get(k)
        if kernel is None:
            with self._lock:
                kernel = self._kernels.get(k)
                if kernel is None:
                    pk = (index, key, tuple(options))
                    program = self._programs.get(pk)
                    if program is None:
                        program = self._programs[pk] = self._build(index, make_source(), tuple(options))
                    kernel = self._kernels[k] = self._function(program, name)
        return kernel


def pooled_size(H, W, geometry):
    """(OH, OW): the windows of ``geometry`` (KH, KW, SH, SW, PH, PW, DH, DW) that fit an H x W image, as im2col and
    col2im count them (pooling kernels take theirs from the pooled tensor: ceil_mode may add one).

    >>> from tensorswitch.dispatch.backend import pooled_size
    >>> pooled_size(5, 4, (3, 2, 2, 1, 1, 0, 1, 1))
    (3, 3)
    """
    KH, KW, SH, SW, PH, PW, DH, DW = geometry
    return (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1, (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
