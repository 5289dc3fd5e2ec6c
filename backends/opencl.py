"""The opencl backend: PyOpenCL memory pools and queues, kernels generated at run time from ``kernels/optable.py``
and the loop templates in ``kernels/opencl/*.cl`` (by ``kernels/opencl_source.py``).

Every device of every platform is one device, in platform order (``"opencl:1"`` is the second).  Each device gets
its own context, one in-order queue and a memory pool.  Programs are built once per (device, family, dtype), one
program holding every kernel of that family and dtype (PoCL spends about 200 ms per cold build), and their kernel
objects are kept: PyOpenCL makes a new kernel object each time ``program.name`` is read.  Binaries are kept on disk by
PyOpenCL's cache, or by the driver's own where PyOpenCL defers to it (PoCL, NVIDIA).

Note [OpenCL threads]
~~~~~~~~~~~~~~~~~~~~~
Any number of Python threads may use a device at once.  Its state (context, queue, pool) is made on first use under
``_init_lock`` with double-checked locking, so exactly one context exists per device (two contexts made by racing
threads gave ``INVALID_CONTEXT`` when one thread's buffer met the other's queue).  Each device's ``lock`` (an RLock)
covers what is not safe to share: a launch, because PyOpenCL sets a kernel object's arguments and enqueues it in
two steps, and another thread setting the same kernel's arguments in between would run it on the wrong buffers
(PyOpenCL's documentation says as much for ``Kernel.__call__``); an allocation with its statistics; and the
insertion and eviction of cached layouts (look-ups are plain dict reads, safe under the GIL).  The queue itself is
thread-safe, as OpenCL promises for everything but ``clSetKernelArg``.

Note [OpenCL errors]
~~~~~~~~~~~~~~~~~~~~
A generated program that does not build, a kernel it lacks, or a launch the driver refuses is a bug of this backend
(or of the driver), not of the caller: it is a ``BackendError`` naming the device, the program (family and dtype) or
kernel, the driver's error and, for a build, the first lines of the build log, and saying so; the PyOpenCL error is
its ``__cause__``.  The exception is a launch refused for want of memory (``pyopencl.MemoryError``: some drivers
allocate buffers only when a kernel first uses them), which is ``ts.OutOfMemoryError``.  A build failure is not
cached: the next call builds again.
"""

import os
import threading

import numpy as np

from ..dispatch.backend import Backend, KernelCache
from ..dispatch.backend import coalesce as _coalesce
from ..dispatch.backend import pooled_size
from ..dispatch.device import register_backend
from ..dispatch.dtypes import DTYPES
from ..dispatch.errors import BackendError, OutOfMemoryError
from ..dispatch.registry import register_kernel
from ..kernels import optable
from ..kernels.opencl_source import SOURCES, reduction_types

cl = None  # pyopencl, imported in initialize(): register() must stay cheap
_devices = []  # index -> _Device (created on first use of that index)
_SCALAR_ARGS = {"long": np.int64, "ulong": np.uint64, "int": np.int32, "uint": np.uint32, "float": np.float32,
                "double": np.float64}
_SIZEOF = {"char": 1, "uchar": 1, "short": 2, "int": 4, "uint": 4, "long": 8, "ulong": 8, "float": 4,
           "double": 8, "half": 2}
_PLAN_LIMIT = 4096  # layouts cached per device; a training loop uses a few dozen
_BUILD_OPTIONS = ("-cl-kernel-arg-info", "-w")
_LOG_LINES = 12  # of a failed build's log, in its BackendError
_init_lock = threading.Lock()  # the lazy initialisation of _devices: see Note [OpenCL threads]


class OpenCLBackend(Backend):
    """Every OpenCL device PyOpenCL can see."""

    name = "opencl"
    install_hint = 'pip install "tensorswitch[opencl]"'

    def __init__(self):
        self._reason = "the opencl backend has not been initialized"
        self._cl_devices = []

    def initialize(self):
        with _init_lock:  # dispatch/device.py calls this once, under its own lock; this keeps it so for any caller
            if cl is None or not self._cl_devices:
                self._initialize()

    def _initialize(self):
        global cl
        os.environ.setdefault("POCL_KERNEL_CACHE", "1")  # PyOpenCL leaves PoCL's binaries to PoCL's own cache
        try:
            import pyopencl
        except ImportError as exc:
            self._reason = f"pyopencl cannot be imported ({exc}); install it with: {self.install_hint}"
            return
        cl = pyopencl
        try:
            platforms = cl.get_platforms()
        except cl.Error:
            platforms = []
        if not platforms:
            self._reason = ("no OpenCL platform was found (no driver is installed); "
                            "pip install \"pyopencl[pocl]\" brings PoCL, an OpenCL for the CPU")
            return
        for platform in platforms:
            try:
                self._cl_devices.extend(platform.get_devices())
            except cl.Error:  # a platform with no devices raises DEVICE_NOT_FOUND
                pass
        if not self._cl_devices:
            self._reason = (f"OpenCL platforms were found ({', '.join(p.name for p in platforms)}) but no device; "
                            "pip install \"pyopencl[pocl]\" brings PoCL, an OpenCL for the CPU")
            return
        self._reason = None
        _devices[:] = [None] * len(self._cl_devices)

    def device_count(self):
        return len(self._cl_devices)

    def unavailable_reason(self):
        return self._reason

    def supported_dtypes(self, index):
        ext = self._cl_devices[index].extensions.split()
        names = [d for d in optable.DTYPE_NAMES if (d != "float64" or "cl_khr_fp64" in ext)
                 and (d != "float16" or "cl_khr_fp16" in ext)]
        return frozenset(d for d in DTYPES if d.name in names)

    def _device(self, index):
        dev = _devices[index]
        if dev is None:
            with _init_lock:  # double-checked: one context per device, see Note [OpenCL threads]
                dev = _devices[index]
                if dev is None:
                    dev = _Device(index, self._cl_devices[index])
                    _devices[index] = dev  # published only once complete
        return dev

    def allocate(self, nbytes, index):
        dev = _devices[index]
        return (dev or self._device(index)).allocate(nbytes)  # a PooledBuffer: back to the pool when dropped

    def memory_limit(self, index):
        """The largest single buffer the device allows (CL_DEVICE_MAX_MEM_ALLOC_SIZE), in bytes."""
        return int(self._cl_devices[index].max_mem_alloc_size)

    def empty_cache(self, index):
        dev = _devices[index]
        if dev is not None:
            with dev.lock:
                dev.pool.free_held()

    def memory_stats(self, index):
        """allocated_bytes: bytes asked for by live buffers; cached_bytes: what the pool holds beyond them (freed
        blocks kept for reuse, and the rounding of live blocks up to the pool's bin sizes); peak_allocated_bytes and
        allocation_count since the device was first used; device_total_bytes: CL_DEVICE_GLOBAL_MEM_SIZE."""
        total = int(self._cl_devices[index].global_mem_size)
        dev = _devices[index]
        if dev is None:
            return {"allocated_bytes": 0, "cached_bytes": 0, "peak_allocated_bytes": 0, "allocation_count": 0,
                    "device_total_bytes": total}
        with dev.lock:
            active, managed = dev.pool.active_bytes, dev.pool.managed_bytes
            return {"allocated_bytes": active, "cached_bytes": max(0, managed - active),
                    "peak_allocated_bytes": max(dev.peak, active), "allocation_count": dev.allocations,
                    "device_total_bytes": total}

    def copy_in(self, handle, offset, host, index):
        if host.nbytes:
            cl.enqueue_copy(self._device(index).queue, handle, host, dst_offset=offset, is_blocking=True)

    def copy_out(self, handle, offset, host, index):
        if host.nbytes:
            cl.enqueue_copy(self._device(index).queue, host, handle, src_offset=offset, is_blocking=True)

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        if not nbytes:
            return
        if dst_index != src_index:  # separate contexts: through the host
            return super().copy_between(dst, dst_offset, dst_index, src, src_offset, src_index, nbytes)
        cl.enqueue_copy(self._device(dst_index).queue, dst, src, byte_count=nbytes, src_offset=src_offset,
                        dst_offset=dst_offset)

    def synchronize(self, index):
        if _devices[index] is not None:
            _devices[index].queue.finish()

    def describe(self, index):
        d = self._cl_devices[index]
        return f"opencl:{index} ({d.name.strip()}, {d.platform.name.strip()}, {d.version.strip()})"


class _Device:
    """What one OpenCL device needs at run time: context, queue, pool, launch sizes and cached layouts."""

    def __init__(self, index, cl_device):
        from pyopencl.tools import ImmediateAllocator, MemoryPool

        self.index = index
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(self.context)  # in order: pooled memory is reused safely in queue order
        self.pool = MemoryPool(ImmediateAllocator(self.queue))
        self.lock = threading.RLock()  # launches, allocations, cache inserts: see Note [OpenCL threads]
        self.max_alloc = int(cl_device.max_mem_alloc_size)
        self.peak = self.allocations = 0
        ext = cl_device.extensions.split()
        self.fp64, self.fp16 = "cl_khr_fp64" in ext, "cl_khr_fp16" in ext
        self.cpu = bool(cl_device.type & cl.device_type.CPU)
        wg = cl_device.max_work_group_size
        self.local = min(256, wg)                          # elementwise work-group size
        self.reduce_local = 1 << (min(256, wg).bit_length() - 1)  # a power of two for the tree reductions
        self.tile = 16 if wg >= 256 else 8                 # matmul tile edge
        self.groups = max(32, 4 * cl_device.max_compute_units)  # work-groups that keep the device busy
        self.kernels = {}
        self.plans = {}

    def allocate(self, nbytes):
        """A pooled buffer of ``nbytes``; MemoryError naming the size and the device's limit when it cannot be had
        (Note [Backend contract]: the core then empties the cache, retries once and raises ts.OutOfMemoryError)."""
        if nbytes > self.max_alloc:  # PyOpenCL would say INVALID_BUFFER_SIZE, or fail to convert the size at all
            raise MemoryError(f"opencl:{self.index}: {nbytes} bytes asked for in one buffer; the device's largest "
                              f"single allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE) is {self.max_alloc} bytes")
        with self.lock:
            try:
                buf = self.pool.allocate(nbytes)
            except (cl.MemoryError, cl.LogicError, OverflowError) as exc:
                if isinstance(exc, cl.LogicError) and getattr(exc, "code", None) != cl.status_code.INVALID_BUFFER_SIZE:
                    raise
                raise MemoryError(f"opencl:{self.index}: {nbytes} bytes could not be allocated "
                                  f"({type(exc).__name__}: {exc}); the device's largest single allocation is "
                                  f"{self.max_alloc} bytes, its memory {self.context.devices[0].global_mem_size} "
                                  f"bytes") from exc
            self.allocations += 1
            active = self.pool.active_bytes
            if active > self.peak:
                self.peak = active
        return buf

    def launch(self, kernel, global_size, local_size, *args):
        """Set ``kernel``'s arguments and enqueue it, as one step for the threads sharing the kernel object."""
        with self.lock:
            try:
                kernel(self.queue, global_size, local_size, *args)
            except cl.Error as exc:  # see Note [OpenCL errors]
                raise _launch_error(self, kernel, global_size, local_size, exc) from exc

    def kernel(self, family, dtype, name):
        k = self.kernels.get((family, dtype, name))
        if k is None:
            try:
                k = _cache.get(self.index, (family, dtype), name, lambda: SOURCES[family](self, dtype), _BUILD_OPTIONS)
            except _BuildFailure as failure:  # see Note [OpenCL errors]
                raise BackendError(_build_error_text(self, family, dtype, failure)) from failure.__cause__
            except cl.Error as exc:
                raise BackendError(f"{_name(self)}: kernel {name} of the {family} program for {dtype} could not be "
                                   f"made ({type(exc).__name__}: {exc}). {_BUG}") from exc
            self.kernels[(family, dtype, name)] = k
        return k

    def describe(self):
        d = self.context.devices[0]
        return f"opencl:{self.index} ({d.name.strip()}, {d.platform.name.strip()})"

    def meta(self, values):
        """An int64 buffer holding ``values`` (layout metadata; callers cache it with their plan)."""
        host = np.array(list(values) or [0], dtype=np.int64)
        return cl.Buffer(self.context, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)

    def remember(self, key, plan):
        with self.lock:  # look-ups stay lock-free dict reads; inserts and the eviction take turns
            if len(self.plans) > _PLAN_LIMIT:
                self.plans.clear()
            self.plans[key] = plan
        return plan

    def elementwise_plan(self, shape, strides):
        """(mode, meta, ndim) for operands of ``shape`` with ``strides`` (out first).  Modes: 0 every operand
        contiguous, 1 and 2 (three operands) the first or second input a broadcast scalar, 3 strided."""
        key = (shape, strides)
        plan = self.plans.get(key)
        if plan is not None:
            return plan
        dims, st = _coalesce(shape, strides)
        unit = [len(dims) == 0 or (len(dims) == 1 and s[0] == 1) for s in st]
        zero = [all(v == 0 for v in s) for s in st]
        if all(unit):
            return self.remember(key, (0, None, 0))
        if len(st) == 3 and unit[0] and zero[1] and unit[2]:
            return self.remember(key, (1, None, 0))
        if len(st) == 3 and unit[0] and unit[1] and zero[2]:
            return self.remember(key, (2, None, 0))
        return self.remember(key, (3, self.meta(dims + [v for s in st for v in s]), len(dims)))

    def reduce_plan(self, shape, strides, axes):
        """(meta, kept ndim, reduced ndim, outputs, reduced extent) for a reduction of ``axes``."""
        key = ("reduce", shape, strides, axes)
        plan = self.plans.get(key)
        if plan is not None:
            return plan
        kept = [i for i in range(len(shape)) if i not in axes]
        kdims, (kst,) = _coalesce([shape[i] for i in kept], [[strides[i] for i in kept]])
        rdims, (rst,) = _coalesce([shape[i] for i in axes], [[strides[i] for i in axes]])
        if not rdims:
            rdims, rst = [1], [0]
        n_out = _prod(shape[i] for i in kept)
        meta = self.meta(kdims + kst + rdims + rst)
        return self.remember(key, (meta, len(kdims), len(rdims), n_out, _prod(rdims)))


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


_BUG = ("This is a bug in tensorswitch's opencl backend or in the OpenCL driver, not in your code; please report it "
        "with this message.")


class _BuildFailure(Exception):
    """A program that did not build, with its build log: _Device.kernel, which knows the family and dtype, turns it
    into the BackendError of Note [OpenCL errors].  Never escapes this module."""

    def __init__(self, log, options):
        super().__init__(log)
        self.log, self.options = log, options


def _build(index, source, options):
    context = _devices[index].context
    program = None
    try:
        program = cl.Program(context, source)
        return program.build(options=list(options))
    except cl.Error as exc:
        log = ""
        if program is not None:
            try:
                log = program.get_build_info(context.devices[0], cl.program_build_info.LOG) or ""
            except cl.Error:
                pass
        raise _BuildFailure(log if log.strip() else str(exc), options) from exc


def _build_error_text(dev, family, dtype, failure):
    exc = failure.__cause__
    code = getattr(exc, "code", None)
    try:
        status = cl.status_code.to_string(code) if code is not None else type(exc).__name__
    except Exception:  # an unknown code must not hide the build log
        status = str(code)
    lines = [line.rstrip()[:200] for line in failure.log.splitlines() if line.strip()]
    shown = "\n".join("    " + line for line in lines[:_LOG_LINES]) or "    (the driver gave no build log)"
    if len(lines) > _LOG_LINES:
        shown += f"\n    ... ({len(lines) - _LOG_LINES} more lines)"
    return (f"{_name(dev)}: the OpenCL program of the {family} kernels for {dtype} failed to build ({status}; "
            f"options: {' '.join(failure.options)}). The build log begins:\n{shown}\n{_BUG}")


def _launch_error(dev, kernel, global_size, local_size, exc):
    try:
        name = kernel.function_name
    except Exception:  # a broken driver must not hide its own error
        name = repr(kernel)
    what = (f"{_name(dev)}: launching kernel {name} (global size {tuple(global_size)}, local size "
            f"{tuple(local_size) if local_size else None}) failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, cl.MemoryError):
        return OutOfMemoryError(f"{what}: the device is out of memory. Free tensors you no longer need (and "
                                "ts.empty_cache()), or use smaller ones.")
    return BackendError(f"{what}. {_BUG}")


def _name(dev):
    try:
        return dev.describe()
    except Exception:  # a broken driver must not hide its own error
        return f"opencl:{dev.index}"


def _function(program, name):
    """The kernel object, with its scalar argument types set once so that calls may pass Python numbers."""
    kernel = cl.Kernel(program, name)
    types = [kernel.get_arg_info(i, cl.kernel_arg_info.TYPE_NAME).strip() for i in range(kernel.num_args)]
    kernel.set_scalar_arg_dtypes([None if t.endswith("*") else _SCALAR_ARGS[t] for t in types])
    return kernel


_cache = KernelCache(_build, _function)


# -- kernels: adapters from tensors to launches (see Note [Kernel contract]) ----------------------------------------

def _elementwise(op, dtype, arity):
    names = (f"{op}_contig", f"{op}_scalar_a", f"{op}_scalar_b", f"{op}_strided")

    def unary(out, x):
        dev = _devices[out.device.index]
        n, size = out.size, dev.local
        if out.is_contiguous and x.is_contiguous:
            mode = 0
        else:
            mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, x.strides))
        k = dev.kernel("elementwise", dtype, names[mode])
        if mode == 0:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle,
                       x.offset, n)
        else:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle,
                       x.offset, meta, ndim, n)

    def binary(out, a, b):
        dev = _devices[out.device.index]
        n, size = out.size, dev.local
        if out.is_contiguous and a.is_contiguous and b.is_contiguous:
            mode = 0
        else:
            mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, a.strides, b.strides))
        k = dev.kernel("elementwise", dtype, names[mode])
        if mode < 3:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, a.buffer.handle,
                       a.offset, b.buffer.handle, b.offset, n)
        else:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, a.buffer.handle,
                       a.offset, b.buffer.handle, b.offset, meta, ndim, n)

    return unary if arity == 1 else binary


def where(out, cond, a, b):
    dev = _devices[out.device.index]
    n, size = out.size, dev.local
    mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, cond.strides, a.strides, b.strides))
    args = [out.buffer.handle, out.offset, cond.buffer.handle, cond.offset, a.buffer.handle, a.offset,
            b.buffer.handle, b.offset]
    if mode == 0:
        k = dev.kernel("elementwise", a.dtype.name, "where_contig")
    else:
        k = dev.kernel("elementwise", a.dtype.name, "where_strided")
        args += [meta, ndim]
    dev.launch(k, (-(-n // size) * size,), (size,), *args, n)


def astype(out, x):
    dev = _devices[out.device.index]
    n, size = out.size, dev.local
    mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, x.strides))
    args = [out.buffer.handle, out.offset, x.buffer.handle, x.offset]
    if mode == 0:
        k = dev.kernel("astype", x.dtype.name, f"to_{out.dtype.name}_contig")
    else:
        k = dev.kernel("astype", x.dtype.name, f"to_{out.dtype.name}_strided")
        args += [meta, ndim]
    dev.launch(k, (-(-n // size) * size,), (size,), *args, n)


def fill_arg(value, dtype):
    """``value`` as the fill kernels' TS_FILL_T argument, exactly: bool is ``value != 0`` (NaN is True); integers
    pass as int64, whole (the dispatcher has range-checked them, and the store keeps their low bits); float16 is
    rounded to half here, once (through the kernel's float argument it would round twice where the device has no
    fp64); other floats pass as they are, NaN and infinities included (the float32 store rounds a double once)."""
    kind = dtype.kind
    if kind == "bool":
        return int(value != 0)
    if kind != "float":
        return int(value)
    if dtype.name == "float16":
        with np.errstate(over="ignore"):
            return float(np.float16(value))
    return float(value)


def fill(out, value):
    dev = _devices[out.device.index]
    n, size = out.size, dev.local
    value = fill_arg(value, out.dtype)
    mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides,))
    if mode == 0:
        k = dev.kernel("elementwise", out.dtype.name, "fill_contig")
        dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, value, n)
    else:
        k = dev.kernel("elementwise", out.dtype.name, "fill_strided")
        dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, value, meta, ndim, n)


def arange(out, start, step):
    dev = _devices[out.device.index]
    n, size = out.size, dev.local
    cast = float if out.dtype.kind == "float" else int
    k = dev.kernel("create", out.dtype.name, "arange")
    dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, cast(start), cast(step), n)


_U64 = (1 << 64) - 1


def _random(op):
    def kernel(out, seed, offset, low=0, high=1):
        dev = _devices[out.device.index]
        n, size = out.size, dev.local
        k = dev.kernel("create", out.dtype.name, op)
        extra = (int(low), (int(high) - int(low)) & _U64) if op == "randint" else ()
        dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, int(seed) & _U64,
                   int(offset) & _U64, *extra, n)
    return kernel


def _reduction(op):
    acc_size = {d: _SIZEOF[reduction_types(op, d)[0]] for d in optable.REDUCTIONS[op].dtypes}

    def kernel(out, x, axes):
        dev = _devices[out.device.index]
        dtype = x.dtype.name
        meta, nk, nr, n_out, extent = dev.reduce_plan(x.shape, x.strides, tuple(axes))
        local = dev.reduce_local
        if extent <= 32 or n_out >= dev.groups * local // 4:  # enough outputs: one work-item each
            k = dev.kernel("reduce", dtype, f"{op}_serial")
            size = dev.local
            dev.launch(k, (-(-n_out // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle,
                       x.offset, meta, nk, nr, n_out, extent)
            return
        # few outputs, long extent: G work-groups per output, then a second pass over their partial results
        groups = max(1, min(dev.groups // n_out, -(-extent // (4 * local)), 1024))
        k = dev.kernel("reduce", dtype, f"{op}_group")
        part = part_idx = None
        if groups > 1:
            part = dev.allocate(n_out * groups * acc_size[dtype])
            part_idx = dev.allocate(n_out * groups * 8)
        dev.launch(k, (n_out * groups * local,), (local,), out.buffer.handle, out.offset, part, part_idx,
                   x.buffer.handle, x.offset, meta, nk, nr, extent, groups)
        if groups > 1:
            size = dev.local
            k = dev.kernel("reduce", dtype, f"{op}_finish")
            dev.launch(k, (-(-n_out // size) * size,), (size,), out.buffer.handle, out.offset, part, part_idx,
                       n_out, groups)
    return kernel


def matmul(out, a, b):
    dev = _devices[out.device.index]
    m, k_ = a.shape[-2:]
    n = b.shape[-1]
    batch = out.shape[:-2]
    key = ("matmul", batch, a.strides[:-2], b.strides[:-2])
    plan = dev.plans.get(key)
    if plan is None:
        dims, st = _coalesce(batch, (a.strides[:-2], b.strides[:-2]))
        plan = dev.remember(key, (dev.meta(dims + st[0] + st[1]), len(dims)))
    meta, nb = plan
    t = dev.tile
    kernel = dev.kernel("matmul", a.dtype.name, "matmul")
    dev.launch(kernel, (-(-n // t) * t, -(-m // t) * t, _prod(batch)), (t, t, 1), out.buffer.handle, out.offset,
               a.buffer.handle, a.offset, b.buffer.handle, b.offset, meta, nb, m, n, k_, a.strides[-2], a.strides[-1],
               b.strides[-2], b.strides[-1])


def _softmax(op):
    def kernel(out, x, axis):
        dev = _devices[out.device.index]
        key = ("softmax", x.shape, x.strides, axis)
        plan = dev.plans.get(key)
        if plan is None:
            other = [i for i in range(x.ndim) if i != axis]
            dims, (st,) = _coalesce([x.shape[i] for i in other], [[x.strides[i] for i in other]])
            plan = dev.remember(key, (dev.meta(dims + st), len(dims), _prod(x.shape[axis + 1:])))
        meta, nk, inner = plan
        length = x.shape[axis]
        rows = out.size // length
        size = dev.local
        k = dev.kernel("softmax", x.dtype.name, op)
        dev.launch(k, (-(-rows // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle, x.offset,
                   meta, nk, length, x.strides[axis], inner, rows)
    return kernel


# -- the nn families: kernels/opencl/nn.cl, geometry as in its Note [Window geometry] ------------------------------

def _launch_each(dev, kernel, n, *args):
    """One work-item per element of an output of ``n`` (the kernel's last argument)."""
    size = dev.local
    dev.launch(kernel, (-(-n // size) * size,), (size,), *args, n)


def _launch_windows(name, out, src, image, windows, geometry, *extra):
    """One work-item per element of ``out`` runs kernel ``name`` of ``src``'s dtype on out, src and its strides, the
    image's C, H, W (``image``: an NCHW shape), the windows OH, OW, ``geometry`` and ``extra``: the argument order of
    every kernel of the windows program (kernels/opencl/nn.cl) but the two passes of max_pool2d_backward."""
    dev = _devices[out.device.index]
    _, C, H, W = image
    k = dev.kernel("windows", src.dtype.name, name)
    _launch_each(dev, k, out.size, out.buffer.handle, out.offset, src.buffer.handle, src.offset, *src.strides, C, H,
                 W, *windows, *geometry, *extra)


def im2col(out, x, geometry):
    _launch_windows("im2col", out, x, x.shape, pooled_size(*x.shape[2:], geometry), geometry)


def col2im(out, cols, geometry):
    _launch_windows("col2im", out, cols, out.shape, pooled_size(*out.shape[2:], geometry), geometry)


def max_pool2d(out, x, geometry):
    _launch_windows("max_pool2d", out, x, x.shape, out.shape[2:], geometry)


def max_pool2d_backward(out, grad, x, geometry):
    """Two passes: each window's argmax into a scratch buffer, then each pixel gathers the windows it won."""
    dev = _devices[out.device.index]
    _, C, H, W = out.shape
    OH, OW = grad.shape[2:]
    dtype = x.dtype.name
    arg = dev.allocate(grad.size * 4)  # int32 tap indices; back to the pool after the launches, in queue order
    _launch_each(dev, dev.kernel("windows", dtype, "max_pool2d_argmax"), grad.size, arg, x.buffer.handle, x.offset,
                 *x.strides, C, H, W, OH, OW, *geometry)
    _launch_each(dev, dev.kernel("windows", dtype, "max_pool2d_backward"), out.size, out.buffer.handle, out.offset,
                 grad.buffer.handle, grad.offset, *grad.strides, arg, C, H, W, OH, OW, *geometry)


def avg_pool2d(out, x, geometry, count_include_pad):
    _launch_windows("avg_pool2d", out, x, x.shape, out.shape[2:], geometry, int(bool(count_include_pad)))


def avg_pool2d_backward(out, grad, geometry, count_include_pad):
    _launch_windows("avg_pool2d_backward", out, grad, out.shape, grad.shape[2:], geometry,
                    int(bool(count_include_pad)))


def take_along_axis(out, x, index, axis):
    dev = _devices[out.device.index]
    key = ("take", out.shape, out.strides, index.strides, x.strides, axis)
    plan = dev.plans.get(key)
    if plan is None:  # x walks out's shape with no stride along the axis: the index supplies that position
        xs = list(x.strides)
        xs[axis] = 0
        dims, st = _coalesce(out.shape, (out.strides, index.strides, xs))
        plan = dev.remember(key, (dev.meta(dims + [v for s in st for v in s]), len(dims)))
    meta, ndim = plan
    k = dev.kernel("take", x.dtype.name, "take_along_axis")
    _launch_each(dev, k, out.size, out.buffer.handle, out.offset, x.buffer.handle, x.offset, index.buffer.handle,
                 index.offset, meta, ndim, x.strides[axis])


def scatter_add(out, index, src, axis):
    if src.size == 0:  # nothing to add (out itself is never empty)
        return
    dev = _devices[out.device.index]
    key = ("scatter", src.shape, axis, out.strides, index.strides, src.strides)
    plan = dev.plans.get(key)
    if plan is None:  # a work-item per position of the other axes, each looping along the axis
        other = [d for d in range(src.ndim) if d != axis]
        dims, st = _coalesce([src.shape[d] for d in other], [[t.strides[d] for d in other] for t in (out, index, src)])
        plan = dev.remember(key, (dev.meta(dims + [v for s in st for v in s]), len(dims), _prod(dims)))
    meta, ndim, n = plan
    k = dev.kernel("scatter", src.dtype.name, "scatter_add")
    _launch_each(dev, k, n, out.buffer.handle, out.offset, index.buffer.handle, index.offset, src.buffer.handle,
                 src.offset, meta, ndim, src.shape[axis], out.strides[axis], index.strides[axis], src.strides[axis])


def register():
    """Register the opencl backend and its kernels (cheap: pyopencl is imported, and kernels built, on first use)."""
    register_backend(OpenCLBackend())
    for name, op in optable.ELEMENTWISE.items():
        for dt in op.dtypes:
            register_kernel(name, "opencl", [dt], _elementwise(name, dt, op.arity))
    kernels = {"where": where, "astype": astype, "fill": fill, "arange": arange, "rand": _random("rand"),
               "randn": _random("randn"), "randint": _random("randint"), "matmul": matmul,
               "softmax": _softmax("softmax"), "log_softmax": _softmax("log_softmax")}
    kernels.update({name: _reduction(name) for name in optable.REDUCTIONS})
    kernels.update({"im2col": im2col, "col2im": col2im, "max_pool2d": max_pool2d,
                    "max_pool2d_backward": max_pool2d_backward, "avg_pool2d": avg_pool2d,
                    "avg_pool2d_backward": avg_pool2d_backward, "take_along_axis": take_along_axis,
                    "scatter_add": scatter_add})
    for name, kernel in kernels.items():
        register_kernel(name, "opencl", optable.COVERAGE[name], kernel)
