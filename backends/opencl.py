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
(PyOpenCL's documentation says as much for ``Kernel.__call__``), and the insertion and eviction of cached layouts
(look-ups are plain dict reads, safe under the GIL).  The queue itself is thread-safe, as OpenCL promises for
everything but ``clSetKernelArg``.  Allocations need no lock of ours: PyOpenCL's pool and our statistics change
under the GIL (Note [OpenCL allocations] in kernels/opencl/launch.cpp).

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
import sys
import threading

import numpy as np

from ..dispatch.backend import Backend, KernelCache
from ..dispatch.backend import coalesce as _coalesce
from ..dispatch.backend import pooled_size
from ..dispatch.device import register_backend
from ..dispatch.dtypes import DTYPES
from ..dispatch.errors import BackendError, OutOfMemoryError
from ..dispatch.registry import LAUNCHED_BINARY, register_kernel
from ..kernels import codegen, optable
from ..kernels.opencl_source import (TR_COL_BLOCKS, TR_ROW_BLOCKS, VECTOR_REDUCTIONS, SOURCES, reduction_types,
                                     scan_accumulator, vector_binary_op, vector_op)

cl = None  # pyopencl, imported in initialize(): register() must stay cheap
_devices = []  # index -> _Device (created on first use of that index)
# float2 and double2 have NumPy's complex64 and complex128 bytes (real part first): a complex fill value passes so
_SCALAR_ARGS = {"long": np.int64, "ulong": np.uint64, "int": np.int32, "uint": np.uint32, "float": np.float32,
                "double": np.float64, "float2": np.complex64, "double2": np.complex128}
_SIZEOF = {"char": 1, "uchar": 1, "short": 2, "int": 4, "uint": 4, "long": 8, "ulong": 8, "float": 4,
           "double": 8, "half": 2, "float2": 8, "double2": 16}
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
        global _Launcher, _LaunchError, _Allocator
        _Launcher, _LaunchError, _Allocator = _bind_launches()
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
        """Every dtype but float64 and complex128 without cl_khr_fp64, and float16 without cl_khr_fp16 (complex64 is
        float2: our own complex arithmetic, Note [Device complex functions] in kernels/ops_common.h)."""
        ext = self._cl_devices[index].extensions.split()
        names = [d for d in optable.DTYPE_NAMES if (d not in ("float64", "complex128") or "cl_khr_fp64" in ext)
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
                    "peak_allocated_bytes": max(dev.allocator.peak, active), "allocation_count": dev.allocator.count,
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

    def warmup(self, index):
        """Build every program family for every dtype device ``index`` stores and the family's ops claim
        (``PROGRAM_OPS``); PyOpenCL keeps the binaries on disk, so later processes load instead of compiling."""
        dev = self._device(index)
        supported = {d.name for d in self.supported_dtypes(index)}
        built = 0
        for family, ops in PROGRAM_OPS.items():
            claims = (optable.coverage(op, "opencl") for op in ops if op in optable.COVERAGE)  # COVERAGE_GAPS
            dtypes = set().union(*claims) & supported
            for dtype in sorted(dtypes):
                try:
                    _cache.program(index, (family, dtype), lambda: SOURCES[family](dev, dtype), _BUILD_OPTIONS)
                except _BuildFailure as failure:  # see Note [OpenCL errors]
                    raise BackendError(_build_error_text(dev, family, dtype, failure)) from failure.__cause__
                built += 1
        return built


class _Device:
    """What one OpenCL device needs at run time: context, queue, pool, launch sizes and cached layouts."""

    def __init__(self, index, cl_device):
        from pyopencl.tools import ImmediateAllocator, MemoryPool

        self.index = index
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(self.context)  # in order: pooled memory is reused safely in queue order
        self.pool = MemoryPool(ImmediateAllocator(self.queue))
        self.lock = threading.RLock()  # launches, cache inserts: see Note [OpenCL threads]
        self.max_alloc = int(cl_device.max_mem_alloc_size)
        ext = cl_device.extensions.split()
        self.fp64, self.fp16 = "cl_khr_fp64" in ext, "cl_khr_fp16" in ext
        self.cpu = bool(cl_device.type & cl.device_type.CPU)
        # every allocation of the device, with its statistics (Note [OpenCL allocations] in kernels/opencl/launch.cpp);
        # new large buffers of a CPU device advised into huge pages (Note [OpenCL huge pages])
        self._madvise = _madvise() if self.cpu else None
        self._map_queue = None
        fresh = self._huge_pages if self._madvise else None
        self.allocator = _Allocator(self.pool, self.max_alloc, fresh, _HUGE_MIN)
        wg = cl_device.max_work_group_size
        self.local = min(256, wg)                          # elementwise work-group size
        self.reduce_local = 1 << (min(256, wg).bit_length() - 1)  # a power of two for the tree reductions
        self.tile = 16 if wg >= 256 else 8                 # matmul tile edge
        # {float dtype: elements per vector} on CPU devices, where explicit vectors pay (Note [Vector elementwise
        # kernels], Note [Register-blocked matmul]); GPUs get the scalar kernels
        self.vector_width = _vector_widths(cl_device, self.fp64, self.context, self.queue) if self.cpu else {}
        # the register-blocked matmul's (rows, vector width): one vector per accumulator row, 16 rows where vectors
        # are 64 bytes (AVX-512 has 32 registers of them), 8 otherwise
        self.matmul_block = {d: (16 if vn * (4 if d == "float32" else 8) >= 64 else 8, vn)
                             for d, vn in self.vector_width.items()}
        self.vector_ops = {}  # (op, dtype) -> whether NAME_vec exists: opencl_source.vector_op, cached
        self.units = cl_device.max_compute_units
        self.groups = max(32, 4 * self.units)  # work-groups that keep the device busy
        self.kernels = {}
        self.plans = {}

    def _huge_pages(self, buf):
        """Advise the host pages of ``buf``, a new buffer, into huge pages (Note [OpenCL huge pages])."""
        if self._madvise is None:  # a map failed before
            return
        try:
            if self._map_queue is None:
                self._map_queue = cl.CommandQueue(self.context)
            nbytes = buf.size
            host, _ = cl.enqueue_map_buffer(self._map_queue, buf, cl.map_flags.WRITE_INVALIDATE_REGION, 0, (nbytes,),
                                            np.uint8, is_blocking=True)
            start = host.ctypes.data
            lo, hi = -(-start // _HUGE_PAGE) * _HUGE_PAGE, (start + nbytes) // _HUGE_PAGE * _HUGE_PAGE
            if hi > lo:
                self._madvise(lo, hi - lo, _MADV_HUGEPAGE)
            del host  # unmaps
            self._map_queue.finish()
        except cl.Error:
            self._madvise = None

    def allocate(self, nbytes):
        """A pooled buffer of ``nbytes``; MemoryError naming the size and the device's limit when it cannot be had
        (Note [Backend contract]: the core then empties the cache, retries once and raises ts.OutOfMemoryError)."""
        if nbytes > self.max_alloc:  # PyOpenCL would say INVALID_BUFFER_SIZE, or fail to convert the size at all
            raise MemoryError(f"opencl:{self.index}: {nbytes} bytes asked for in one buffer; the device's largest "
                              f"single allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE) is {self.max_alloc} bytes")
        try:
            return self.allocator(nbytes)
        except (cl.MemoryError, cl.LogicError, OverflowError) as exc:
            if isinstance(exc, cl.LogicError) and getattr(exc, "code", None) != cl.status_code.INVALID_BUFFER_SIZE:
                raise
            raise MemoryError(f"opencl:{self.index}: {nbytes} bytes could not be allocated "
                              f"({type(exc).__name__}: {exc}); the device's largest single allocation is "
                              f"{self.max_alloc} bytes, its memory {self.context.devices[0].global_mem_size} "
                              f"bytes") from exc

    def launch(self, kernel, global_size, local_size, *args):
        """Set ``kernel``'s arguments and enqueue it, as one step for the threads sharing the kernel object (a
        Launcher from ``kernel()``: Note [OpenCL launches] in kernels/opencl/launch.cpp)."""
        try:
            kernel(global_size, local_size, *args)
        except _LaunchError:  # the driver refused: PyOpenCL repeats the launch for its exception (Note [OpenCL errors])
            try:
                self.launch_pyopencl(kernel.kernel, global_size, local_size, *args)
            finally:
                kernel.forget()  # PyOpenCL has set the kernel's arguments
        except cl.Error as exc:  # from a stand-in that calls PyOpenCL (see Note [OpenCL errors])
            raise _launch_error(self, kernel, global_size, local_size, exc) from exc

    def launch_pyopencl(self, kernel, global_size, local_size, *args):
        """``launch`` through PyOpenCL's own kernel call: where tensorswitch._opencl cannot be used, and to turn a
        refused launch into PyOpenCL's exception."""
        with self.lock:
            try:
                kernel(self.queue, global_size, local_size, *args)
            except cl.Error as exc:  # see Note [OpenCL errors]
                raise _launch_error(self, kernel, global_size, local_size, exc) from exc

    def kernel(self, family, dtype, name):
        """The Launcher of kernel ``name`` of the (family, dtype) program, built on first use."""
        k = self.kernels.get((family, dtype, name))
        if k is None:
            try:
                k = _cache.get(self.index, (family, dtype), name, lambda: SOURCES[family](self, dtype), _BUILD_OPTIONS)
            except _BuildFailure as failure:  # see Note [OpenCL errors]
                raise BackendError(_build_error_text(self, family, dtype, failure)) from failure.__cause__
            except cl.Error as exc:
                raise BackendError(f"{_name(self)}: kernel {name} of the {family} program for {dtype} could not be "
                                   f"made ({type(exc).__name__}: {exc}). {_BUG}") from exc
            # One Launcher per kernel object, made under the lock: two threads that each wrapped the shared kernel
            # would each skip the arguments they believe set (Note [OpenCL launches]) while the other had changed
            # them, and launch with the other's buffers and scalars.
            with self.lock:
                launcher = self.kernels.get((family, dtype, name))
                if launcher is None:
                    launcher = self.kernels[(family, dtype, name)] = _launcher(self, k)
            k = launcher
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
        dims, st = _coalesce(shape, strides, by_output=True)
        unit = [len(dims) == 0 or (len(dims) == 1 and s[0] == 1) for s in st]
        zero = [all(v == 0 for v in s) for s in st]
        if all(unit):
            return self.remember(key, (0, None, 0))
        if len(st) == 3 and unit[0] and zero[1] and unit[2]:
            return self.remember(key, (1, None, 0))
        if len(st) == 3 and unit[0] and unit[1] and zero[2]:
            return self.remember(key, (2, None, 0))
        return self.remember(key, (3, self.meta(dims + [v for s in st for v in s]), len(dims)))

    def rows_plan(self, shape, strides):
        """Note [Row kernels]: (meta of the outer dims, their ndim, the inner strides, row length, the last row's
        length, rows) for operands of ``shape`` with ``strides`` (out first) whose innermost coalesced dim is long
        enough to walk (at least 16 elements), or that coalesce into one strided run; None otherwise."""
        key = ("rows", shape, strides)
        plan = self.plans.get(key, False)
        if plan is not False:
            return plan
        dims, st = _coalesce(shape, strides, by_output=True)
        if len(dims) == 1 and dims[0] >= 64:  # one strided run: rows of 4096 (or fewer, for two per core)
            n = dims[0]
            inner = max(16, min(4096, -(-n // (2 * self.units))))
            rows = -(-n // inner)
            meta = self.meta([rows] + [s[0] * inner for s in st])
            return self.remember(key, (meta, 1, tuple(s[0] for s in st), inner, n - (rows - 1) * inner, rows,
                                       False))
        if len(dims) < 2 or dims[-1] < 16:
            return self.remember(key, None)
        outer = dims[:-1]
        meta = self.meta(outer + [v for s in st for v in s[:-1]])
        # Note [Tile kernels]: an input walking its rows by a long stride next to a unit-stride output
        tiles = abs(st[0][-1]) == 1 and any(abs(s[-1]) >= 16 for s in st[1:]) and _prod(outer) >= 2 * _TILE
        return self.remember(key, (meta, len(outer), tuple(s[-1] for s in st), dims[-1], dims[-1], _prod(outer),
                                   tiles))

    def reduce_plan(self, shape, strides, axes, any_order=False):
        """(meta, kept ndim, reduced ndim, outputs, reduced extent, unit, rows) for a reduction of ``axes``.
        ``any_order``: the op does not care in which order the reduced elements come (sum, max, all; not argmax),
        so the reduced dims are walked in memory order, smallest stride innermost (``x.T.sum()`` is then rows of
        contiguous runs, as ``x.sum()`` is)."""
        key = ("reduce", shape, strides, axes, any_order)
        plan = self.plans.get(key)
        if plan is not None:
            return plan
        kept = [i for i in range(len(shape)) if i not in axes]
        kdims, (kst,) = _coalesce([shape[i] for i in kept], [[strides[i] for i in kept]])
        rdims, (rst,) = _coalesce([shape[i] for i in axes], [[strides[i] for i in axes]], by_output=any_order)
        if not rdims:
            rdims, rst = [1], [0]
        n_out = _prod(shape[i] for i in kept)
        meta = self.meta(kdims + kst + rdims + rst)
        # Note [Vector reductions]: one reduced run of unit stride or every other element (unit: its step, else
        # 0), or rows of one (the rows as a kept dim of their own, in ``rows``: meta, kept ndim, number of rows,
        # row length, step)
        unit = rst[0] if len(rdims) == 1 and rst[0] in (1, 2) else 0
        rows = None
        if len(rdims) == 2 and rst[1] in (1, 2) and self.cpu:
            rows = (self.meta(kdims + [rdims[0]] + kst + [rst[0]]), len(kdims) + 1, rdims[0], rdims[1], rst[1])
        elif len(kdims) == 1 and kst[0] == 1 and len(rdims) == 1 and self.cpu:
            rows = ("columns", rst[0])  # outputs contiguous in x, one reduced dim: NAME_vcols
        return self.remember(key, (meta, len(kdims), len(rdims), n_out, _prod(rdims), unit, rows))


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


_BUG = ("This is a bug in tensorswitch's opencl backend or in the OpenCL driver, not in your code; please report it "
        "with this message.")


class ProgramWithoutKernels(Exception):
    """A program the driver built without error but without its kernels."""


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
        program = program.build(options=list(options))
        if "__kernel" in source and not program.get_info(cl.program_info.KERNEL_NAMES):
            raise ProgramWithoutKernels()
        return program
    except ProgramWithoutKernels as exc:  # Note [Vector width probe]: this has been seen of PoCL's kernel cache
        raise _BuildFailure("the driver built the program but it holds no kernels; where the driver is PoCL this is "
                            "its kernel cache handing back a broken entry: clear it (rm -r ~/.cache/pocl) or set "
                            "POCL_KERNEL_CACHE=0", options) from exc
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
        name = getattr(kernel, "kernel", kernel).function_name
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


# one letter per kernel argument for tensorswitch._opencl.Launcher (its ``kinds``): m buffers, l local buffers, and
# the scalars of _SCALAR_ARGS (not NumPy's type characters: int64's is "l" or "q" by platform)
_ARG_KINDS = {"long": "q", "ulong": "Q", "int": "i", "uint": "I", "float": "f", "double": "d", "float2": "F",
              "double2": "D"}


def _launcher(dev, kernel):
    """``kernel`` as tensorswitch._opencl.Launcher on ``dev``'s queue (Note [OpenCL launches]), or a Python stand-in
    with the same call where that module cannot be used."""
    if _Launcher is None:
        return _PyOpenCLLauncher(dev, kernel)
    kinds = []
    for i, type_name in enumerate(_arg_types(kernel)):
        if type_name.endswith("*"):
            local = kernel.get_arg_info(i, cl.kernel_arg_info.ADDRESS_QUALIFIER) == cl.kernel_arg_address_qualifier.LOCAL
            kinds.append("l" if local else "m")
        else:
            kinds.append(_ARG_KINDS[type_name])
    return _Launcher(kernel, dev.queue, "".join(kinds))


class _PyOpenCLLauncher:
    """A Launcher's call through PyOpenCL's kernel call (no tensorswitch._opencl: another OS, or it did not bind)."""

    __slots__ = ("dev", "kernel")

    def __init__(self, dev, kernel):
        self.dev, self.kernel = dev, kernel

    def __call__(self, global_size, local_size, *args):
        self.dev.launch_pyopencl(self.kernel, global_size, local_size, *args)


def _bind_launches():
    """tensorswitch._opencl's Launcher and LaunchError, bound to the OpenCL library PyOpenCL loaded (found in the
    process's memory map), or (None, an exception no launch raises) where that cannot be done; and its Allocator,
    or the Python one where the module cannot be imported.  Set TENSORSWITCH_OPENCL_LAUNCHER=0 to use PyOpenCL
    alone, from Python."""
    class _Never(Exception):
        pass

    if os.environ.get("TENSORSWITCH_OPENCL_LAUNCHER", "1") == "0":
        return None, _Never, _PyAllocator
    try:
        from .. import _opencl
    except ImportError:
        return None, _Never, _PyAllocator
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if "libOpenCL" in line and "/" in line}
    except (OSError, IndexError):
        paths = ()
    for path in sorted(paths):
        if _opencl.bind(path):
            return _opencl.Launcher, _opencl.LaunchError, _opencl.Allocator
    return None, _Never, _opencl.Allocator


class _PyAllocator:
    """tensorswitch._opencl.Allocator in Python, where that module cannot be used: ``allocator(nbytes)`` is a buffer
    from ``pool``, counted (Note [OpenCL allocations] in kernels/opencl/launch.cpp)."""

    def __init__(self, pool, max_alloc, fresh=None, large=0):
        self.pool, self.max_alloc, self._fresh, self._large = pool, max_alloc, fresh, large
        self.count = self.peak = 0
        self._lock = threading.RLock()  # the statistics' read-modify-writes (a pool call may run the gc)

    def __call__(self, nbytes):
        if nbytes > self.max_alloc:
            raise MemoryError(f"{nbytes} bytes asked for in one buffer; the device's largest single allocation is "
                              f"{self.max_alloc} bytes")
        with self._lock:
            large = self._fresh is not None and nbytes >= self._large
            managed = self.pool.managed_bytes if large else 0
            buf = self.pool.allocate(nbytes)
            self.count += 1
            self.peak = max(self.peak, self.pool.active_bytes)
            if large and self.pool.managed_bytes > managed:
                self._fresh(buf)
        return buf


# Note [OpenCL huge pages]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# A CPU device's buffers are host memory that its driver allocates (PoCL: aligned malloc, so mmap'd small pages;
# transparent huge pages are mostly "madvise" only), where the cpu backend's large blocks are advised into huge
# pages (Note [CPU memory pool]).  A walk over a large buffer in 4 KB pages misses the TLB every 4 KB and its lines
# land in the caches' sets as the scattered physical pages fall: sum of a 16 MB buffer on PoCL reached 0.68-0.72x
# the cpu backend's bandwidth with small pages, 0.84-0.90x in huge ones (glibc's hugetlb tunable, which gives every
# malloc'd mmap huge pages, on this 2-core Zen 3).  So each new buffer of at least _HUGE_MIN bytes that the memory
# pool makes (not one it hands back) is mapped once, on a queue of its own (nothing is queued for a buffer no one has
# seen yet, so the device's queue is not waited on), and the whole 2 MiB-aligned pages of what the map shows are
# advised MADV_HUGEPAGE before anything touches them; the pool keeps the buffer, and its pages, for reuse.  Advice
# only: a driver whose map copies, a kernel without transparent huge pages, or a failed map, costs that one call
# (a failure turns the advice off for the device).  Linux only; TENSORSWITCH_OPENCL_HUGE_PAGES=0 turns it off.
_HUGE_MIN = 4 << 20
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14


def _madvise():
    """libc's madvise as a ctypes function, or None where there is none to ask (not Linux, or turned off)."""
    if not sys.platform.startswith("linux") or os.environ.get("TENSORSWITCH_OPENCL_HUGE_PAGES", "1") == "0":
        return None
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int), ctypes.c_int
    return fn


_Launcher, _LaunchError, _Allocator = None, Exception, _PyAllocator  # set by OpenCLBackend._initialize


def _function(program, name):
    """The kernel object, with its scalar argument types set once so that calls may pass Python numbers."""
    kernel = cl.Kernel(program, name)
    kernel.set_scalar_arg_dtypes([None if t.endswith("*") else _SCALAR_ARGS[t] for t in _arg_types(kernel)])
    return kernel


def _arg_types(kernel):
    """The OpenCL C type names of ``kernel``'s arguments (built with -cl-kernel-arg-info)."""
    return [kernel.get_arg_info(i, cl.kernel_arg_info.TYPE_NAME).strip() for i in range(kernel.num_args)]


_cache = KernelCache(_build, _function)


# -- kernels: adapters from tensors to launches (see Note [Kernel contract]) ----------------------------------------

def _elementwise(op, dtype, arity):
    names = (f"{op}_contig", f"{op}_scalar_a", f"{op}_scalar_b", f"{op}_strided")

    def unary(out, x):
        dev = _devices[out.device.index]
        n, size = out.size, dev.local
        vec = dev.vector_ops.get((op, dtype))
        if vec is None:
            vec = dev.vector_ops[(op, dtype)] = vector_op(dev, optable.ELEMENTWISE[op], dtype)
        if out.is_contiguous and x.is_contiguous:
            mode = 0
        else:
            rows = dev.rows_plan(out.shape, (out.strides, x.strides)) if dev.cpu else None
            if rows is not None:  # Note [Row kernels]
                meta, ndim, (so, sx), inner, last, count, _ = rows
                _launch_rows(dev, dev.kernel("elementwise", dtype, f"{op}_vrows" if vec else f"{op}_rows"), count,
                             out.buffer.handle, out.offset, x.buffer.handle, x.offset, meta, ndim, so, sx, inner, last)
                return
            mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, x.strides))
        if mode == 0 and vec:  # Note [Vector elementwise kernels]; a permuted dense layout is one run too
            k = dev.kernel("elementwise", dtype, f"{op}_vec")
            items = -(-n // dev.vector_width[dtype])
            dev.launch(k, (-(-items // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle,
                       x.offset, n)
            return
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
            if mode == 3 and dev.cpu and _binary_tr(dev, op, dtype, out, a, b):  # Note [Vector transposes]
                return
            rows = dev.rows_plan(out.shape, (out.strides, a.strides, b.strides)) if mode == 3 and dev.cpu else None
            if rows is not None:  # Note [Row kernels]
                meta, ndim, (so, sa, sb), inner, last, count, tiles = rows
                launch = _launch_tiles if tiles else _launch_rows
                name = f"{op}_tiles" if tiles else f"{op}_rows"
                if not tiles and so == 1 and sa in (1, 2) and sb in (1, 2) and _vector_binary(dev, op, dtype):
                    name = f"{op}_vrows"  # Note [Vector transposes], the rows of every (other) element
                launch(dev, dev.kernel("elementwise", dtype, name), count,
                       out.buffer.handle, out.offset, a.buffer.handle, a.offset, b.buffer.handle, b.offset, meta,
                       ndim, so, sa, sb, inner, last)
                return
        k = dev.kernel("elementwise", dtype, names[mode])
        if mode < 3:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, a.buffer.handle,
                       a.offset, b.buffer.handle, b.offset, n)
            if dev.index not in launched and _Launcher is not None:  # the dispatcher's one-call path from now on
                launched[dev.index] = (dev.kernel("elementwise", dtype, names[0]),
                                       dev.kernel("elementwise", dtype, names[2]), size, dev.allocator)
        else:
            dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, a.buffer.handle,
                       a.offset, b.buffer.handle, b.offset, meta, ndim, n)

    if arity == 1:
        return unary
    launched = LAUNCHED_BINARY.setdefault(binary, {})  # see registry.LAUNCHED_BINARY
    return binary


def _group_size(dev, items):
    """The work-group size for ``items`` work-items that each do a row's worth of work: PoCL pays about half a
    microsecond per work-group, so as large as still gives every core 8 groups (a power of two up to 256)."""
    return max(1, min(256, 1 << max(0, (items // (8 * dev.units)).bit_length() - 1)))


def _launch_rows(dev, kernel, rows, *args):
    """``kernel`` with one work-item per row, ``rows`` of them (its last argument)."""
    size = _group_size(dev, rows)
    dev.launch(kernel, (-(-rows // size) * size,), (size,), *args, rows)


_TILE = 16  # TS_TILE of kernels/opencl/common.cl


def _launch_tiles(dev, kernel, rows, *args):
    """A NAME_tiles kernel of Note [Tile kernels]: one work-item per _TILE rows, ``rows`` of them (its last
    argument)."""
    items = -(-rows // _TILE)
    size = _group_size(dev, items)
    dev.launch(kernel, (-(-items // size) * size,), (size,), *args, rows)


def where(out, cond, a, b):
    dev = _devices[out.device.index]
    n, size = out.size, dev.local
    if out.is_contiguous and cond.is_contiguous and (a.is_contiguous or b.is_contiguous) and \
            (not any(a.strides) or not any(b.strides)) and n > 1:  # one branch a broadcast scalar
        name = "where_scalar_b" if a.is_contiguous and not any(b.strides) else "where_scalar_a"
        dev.launch(dev.kernel("elementwise", a.dtype.name, name), (-(-n // size) * size,), (size,),
                   out.buffer.handle, out.offset, cond.buffer.handle, cond.offset, a.buffer.handle, a.offset,
                   b.buffer.handle, b.offset, n)
        return
    mode, meta, ndim = dev.elementwise_plan(out.shape, (out.strides, cond.strides, a.strides, b.strides))
    rows = dev.rows_plan(out.shape, (out.strides, cond.strides, a.strides, b.strides)) if mode and dev.cpu else None
    if rows is not None:  # Note [Row kernels]
        meta, ndim, inner_strides, inner, last, count, _ = rows
        _launch_rows(dev, dev.kernel("elementwise", a.dtype.name, "where_rows"), count, out.buffer.handle, out.offset,
                     cond.buffer.handle, cond.offset, a.buffer.handle, a.offset, b.buffer.handle, b.offset, meta,
                     ndim, *inner_strides, inner, last)
        return
    args = [out.buffer.handle, out.offset, cond.buffer.handle, cond.offset, a.buffer.handle, a.offset,
            b.buffer.handle, b.offset]
    if mode == 0:
        k = dev.kernel("elementwise", a.dtype.name, "where_contig")
    else:
        k = dev.kernel("elementwise", a.dtype.name, "where_strided")
        args += [meta, ndim]
    dev.launch(k, (-(-n // size) * size,), (size,), *args, n)


def astype(out, x):
    _cast(_devices[out.device.index], out.dtype.name, out.buffer.handle, out.offset, out.shape, out.strides,
          out.is_contiguous, x)


def _cast(dev, dst, out_handle, out_offset, shape, out_strides, out_contiguous, x):
    """``x`` converted to ``dst`` into the memory at ``out_handle``/``out_offset`` laid out as ``shape`` with
    ``out_strides``: the contiguous, row (Note [Row kernels]) or per-element kernel of the astype program."""
    n, src = _prod(shape), x.dtype.name
    if dev.cpu and not (out_contiguous and x.is_contiguous):
        if src == dst and src in dev.vector_width and _transpose(dev, shape, out_strides, out_handle, out_offset, x):
            return
        rows = dev.rows_plan(shape, (out_strides, x.strides))
        if rows is not None:
            meta, ndim, (so, sx), inner, last, count, tiles = rows
            launch = _launch_tiles if tiles else _launch_rows
            launch(dev, dev.kernel("astype", src, f"to_{dst}_tiles" if tiles else f"to_{dst}_rows"), count,
                   out_handle, out_offset, x.buffer.handle, x.offset, meta, ndim, so, sx, inner, last)
            return
    mode, meta, ndim = dev.elementwise_plan(shape, (out_strides, x.strides))
    args = [out_handle, out_offset, x.buffer.handle, x.offset]
    if mode == 0:
        k = dev.kernel("astype", src, f"to_{dst}_contig")
    else:
        k = dev.kernel("astype", src, f"to_{dst}_strided")
        args += [meta, ndim]
    _launch_each(dev, k, n, *args)


def _vector_binary(dev, op, dtype):
    """Whether binary ``op`` has the NAME_tr and NAME_vrows kernels for ``dtype`` (opencl_source.vector_binary_op,
    cached)."""
    vec = dev.vector_ops.get((op, dtype, 2))
    if vec is None:
        vec = dev.vector_ops[(op, dtype, 2)] = vector_binary_op(dev, optable.ELEMENTWISE[op], dtype)
    return vec


def _tr_geometry(dev, rows, cols):
    """(global size, local size) of the kernels of Note [Vector transposes]: TR_ROW_BLOCKS x TR_COL_BLOCKS 8 x 8
    blocks per work-item (16 x 16 elements: whole 64-byte lines of every operand), a work-group a tile of 8 x 16
    items (256 rows by 128 columns).  PoCL's cost is per group, and a group's pages must stay in the TLB: with groups
    of one block a 1000 x 1000 float32 transpose copy took 2.5x a contiguous copy; with a group down a whole column
    of blocks, 1.7x, but c + x.T (its row operand c and the result read and written 64 bytes per row, a page per row)
    2.0x-2.6x c + x; with these tiles 1.5x-1.6x."""
    groups = (-(-cols // (8 * TR_COL_BLOCKS)), -(-rows // (8 * TR_ROW_BLOCKS)))
    local = (min(8, groups[0]), min(16, groups[1]))
    return (-(-groups[0] // local[0]) * local[0], -(-groups[1] // local[1]) * local[1]), local


def _binary_tr(dev, op, dtype, out, a, b):
    """out = a OP b by NAME_tr of Note [Vector transposes] where the three coalesce into a matrix whose rows are
    out's (unit stride) and one input is read by columns (a transpose); whether they did."""
    key = ("binary_tr", op, dtype, out.shape, out.strides, a.strides, b.strides)
    plan = dev.plans.get(key, False)
    if plan is False:
        plan = None
        if _vector_binary(dev, op, dtype):
            dims, (so, sa, sb) = _coalesce(out.shape, (out.strides, a.strides, b.strides), by_output=True)
            if (len(dims) == 2 and so[1] == 1 and so[0] > 0 and min(dims) >= 8
                    and all(s[1] == 1 or s[0] == 1 for s in (sa, sb)) and (sa[1] != 1 or sb[1] != 1)):
                rows, cols = dims
                plan = _tr_geometry(dev, rows, cols) + (so[0], sa, sb, rows, cols)
        dev.remember(key, plan)
    if plan is None:
        return False
    global_size, local, on, sa, sb, rows, cols = plan
    dev.launch(dev.kernel("elementwise", dtype, f"{op}_tr"), global_size, local, out.buffer.handle, out.offset, on,
               a.buffer.handle, a.offset, sa[0], sa[1], b.buffer.handle, b.offset, sb[0], sb[1], rows, cols)
    return True


def _transpose(dev, shape, out_strides, out_handle, out_offset, x):
    """Copy ``x`` into out by the transpose_vec kernel of Note [Vector transposes] where the two coalesce into a
    matrix, or a batch of them, whose rows are out's (unit stride) and x's columns (unit stride); whether they
    did."""
    key = ("transpose", shape, out_strides, x.strides)
    plan = dev.plans.get(key, False)
    if plan is False:
        dims, (so, sx) = _coalesce(shape, (out_strides, x.strides), by_output=True)
        plan = None
        batch, ob, xb = 1, 0, 0
        if len(dims) == 3 and so[0] > 0:  # a batch of them (the permutes of conv2d's backward): the kernel's dim 2
            batch, ob, xb = dims[0], so[0], sx[0]
            dims, so, sx = dims[1:], so[1:], sx[1:]
        if len(dims) == 2 and so[1] == 1 and sx[0] == 1 and sx[1] > 1 and so[0] > 0 and min(dims) >= 8:
            rows, cols = dims
            (g0, g1), (l0, l1) = _tr_geometry(dev, rows, cols)
            plan = (g0, g1, batch), (l0, l1, 1), so[0], sx[1], rows, cols, ob, xb
        dev.remember(key, plan)
    if plan is None:
        return False
    global_size, local, on, xc, rows, cols, ob, xb = plan
    dev.launch(dev.kernel("elementwise", x.dtype.name, "transpose_vec"), global_size, local, out_handle, out_offset,
               on, x.buffer.handle, x.offset, xc, rows, cols, ob, xb)
    return True


def fill_arg(value, dtype):
    """``value`` as the fill kernels' TS_FILL_T argument, exactly: bool is ``value != 0`` (NaN is True); integers
    pass as int64, whole (the dispatcher has range-checked them, and the store keeps their low bits); float16 is
    rounded to half here, once (through the kernel's float argument it would round twice where the device has no
    fp64); other floats pass as they are, NaN and infinities included (the float32 store rounds a double once); a
    complex value passes as a Python complex, which the kernel argument (float2/double2) rounds once per part."""
    kind = dtype.kind
    if kind == "complex":
        return complex(value)
    if kind == "bool":
        return int(value != 0)
    if kind != "float":  # as its low 64 bits: uint64 from 2**63 up is a negative long, which the store wraps back
        return ((int(value) + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)
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
    kind = out.dtype.kind
    k = dev.kernel("create", out.dtype.name, "arange")
    if kind == "float":
        start, step = float(start), float(step)
    elif kind == "uint":  # TS_ARANGE_T is ulong: a negative step wraps (opencl_source._create_source)
        start, step = int(start) & _U64, int(step) & _U64
    else:
        start, step = int(start), int(step)
    dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, start, step, n)


_U64 = (1 << 64) - 1


def _random(op):
    def kernel(out, seed, offset, low=0, high=1):
        dev = _devices[out.device.index]
        n, size = out.size, dev.local
        k = dev.kernel("create", out.dtype.name, op)
        # low as a long with its low 64 bits (a uint64 low from 2**63 up is negative), high - low as a ulong span
        extra = (((int(low) + (1 << 63)) & _U64) - (1 << 63), (int(high) - int(low)) & _U64) if op == "randint" else ()
        dev.launch(k, (-(-n // size) * size,), (size,), out.buffer.handle, out.offset, int(seed) & _U64,
                   int(offset) & _U64, *extra, n)
    return kernel


def _reduction(op):
    acc_size = {d: _SIZEOF[reduction_types(op, d)[0]] for d in optable.REDUCTIONS[op].dtypes}
    vector = op in VECTOR_REDUCTIONS
    any_order = op not in ("argmax", "argmin")  # their answer is a position in C order

    def kernel(out, x, axes):
        dev = _devices[out.device.index]
        dtype = x.dtype.name
        meta, nk, nr, n_out, extent, unit, rows = dev.reduce_plan(x.shape, x.strides, tuple(axes), any_order)
        vn = dev.vector_width.get(dtype) if vector else None
        runs = rows is not None and rows[0] != "columns"  # rows of runs, of unit stride or every other element
        # the layouts the kernels read well as they are: unit-stride runs, columns, and the runs of every other
        # element that the vector kernels below take (long enough for them)
        direct = (unit == 1 or (runs and rows[4] == 1) or (rows is not None and not runs) or
                  (vn and ((unit == 2 and extent >= 4 * vn) or (runs and rows[4] == 2 and rows[3] >= 4 * vn))))
        if not direct and extent > 32 and x.size >= _COPY_BEFORE_REDUCING and not x.is_contiguous and dev.cpu:
            # Note [Strided reductions]: a row-major copy first, then the contiguous kernels
            from ..dispatch.dispatcher import contiguous

            kernel(out, contiguous(x), axes)
            return
        local = dev.reduce_local
        if vn and unit and extent >= 4 * vn:
            # Note [Vector reductions]: about 64K elements per work-item, at least one item per core
            _vector_reduce(dev, op, dtype, out, x, meta, nk, n_out, extent, acc_size[dtype], 1, unit)
            return
        if vn and rows is not None and rows[0] == "columns" and n_out >= vn:  # a work-item per vn columns
            items = -(-n_out // vn)
            size = _group_size(dev, items)
            dev.launch(dev.kernel("reduce", dtype, f"{op}_vcols"), (-(-items // size) * size,), (size,),
                       out.buffer.handle, out.offset, x.buffer.handle, x.offset, n_out, extent, rows[1])
            return
        if vn and runs and rows[3] >= 4 * vn:  # rows of unit stride or every other element: a partial each
            rmeta, rnk, count, length, step = rows
            _vector_reduce(dev, op, dtype, out, x, rmeta, rnk, n_out, length, acc_size[dtype], count, step)
            return
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


def _vector_reduce(dev, op, dtype, out, x, meta, nk, n_out, length, acc_size, rows, step):
    """Launch NAME_vec of Note [Vector reductions] over ``n_out * rows`` runs of ``length`` elements ``step`` (1 or
    2) apart (``meta``/``nk`` unravel a run's start), G work-items per run, then NAME_finish over each output's
    ``rows * G`` partials when there is more than one."""
    runs = n_out * rows
    g = max(1, min(-(-dev.units * 4 // runs), -(-length // 65536), 1024))
    partials = rows * g
    part = part_idx = None
    if partials > 1:
        part = dev.allocate(n_out * partials * acc_size)
        part_idx = dev.allocate(n_out * partials * 8)
    items = runs * g
    size = _group_size(dev, items)
    dev.launch(dev.kernel("reduce", dtype, f"{op}_vec"), (-(-items // size) * size,), (size,), out.buffer.handle,
               out.offset, part, part_idx, x.buffer.handle, x.offset, meta, nk, length, g, int(partials > 1), step)
    if partials > 1:
        size = dev.local
        dev.launch(dev.kernel("reduce", dtype, f"{op}_finish"), (-(-n_out // size) * size,), (size,),
                   out.buffer.handle, out.offset, part, part_idx, n_out, partials)


def _vector_widths(cl_device, fp64, context, queue):
    """{dtype: vector width} for float32 (and float64 with fp64): the device's preferred width as a power of two in
    4..16, no wider than the registers of the target its compiler builds for (Note [Vector width probe])."""
    register = _register_bytes(context, queue)
    widths = {}
    for dtype, size, width in (("float32", 4, cl_device.preferred_vector_width_float),
                               ("float64", 8, cl_device.preferred_vector_width_double)):
        if dtype == "float64" and not fp64:
            continue
        width = int(width or 0)
        width = min(16, max(4, 1 << (width.bit_length() - 1) if width > 0 else 4))
        if register:
            width = min(width, register // size)
        if width >= 4:  # narrower vectors are not worth the vector kernels (and TS_RV_AT takes .even of them)
            widths[dtype] = width
    return widths


# Note [Vector width probe]: a CPU device's preferred vector width comes from the host's CPUID, but its compiler
# builds for the CPU its LLVM knows: PoCL 3.0 (LLVM 14) on an AVX-512 AMD EPYC reports 16 floats and compiles for
# znver3, which has no AVX-512.  A float16 helper there is compiled with a warning ("AVX vector return of type
# 'float16' without 'avx512f' enabled changes the ABI"), and a program holding one comes back from PoCL's kernel
# cache without kernels in every later process (clCreateKernel: INVALID_KERNEL_NAME; the process then aborts at
# exit).  So the widest register of the compile target is asked of the compiler itself, by a kernel that reads the
# target's macros, and no vector is made wider than that.  Unknown targets (0) keep the preferred width.
_REGISTER_PROBE = """
__kernel void ts_register_bytes(__global int* out) {
#if defined(__AVX512F__)
    out[0] = 64;
#elif defined(__AVX__)
    out[0] = 32;
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__ARM_NEON__) || defined(__ALTIVEC__)
    out[0] = 16;
#else
    out[0] = 0;
#endif
}
"""


def _register_bytes(context, queue):
    """The widest vector register of the target the device's compiler builds for, in bytes (0: not known)."""
    try:
        program = cl.Program(context, _REGISTER_PROBE).build()
        out = np.zeros(1, np.int32)
        buf = cl.Buffer(context, cl.mem_flags.READ_WRITE, out.nbytes)
        program.ts_register_bytes(queue, (1,), None, buf)
        cl.enqueue_copy(queue, out, buf)
        return int(out[0])
    except cl.Error:  # a device that cannot run the probe gets the preferred widths
        return 0


def matmul(out, a, b):
    dev = _devices[out.device.index]
    m, k_ = a.shape[-2:]
    n = b.shape[-1]
    batch = out.shape[:-2]
    block = dev.matmul_block.get(a.dtype.name)
    temp = None
    if block is not None and b.strides[-1] != 1 and n > 1:  # the blocked kernel loads rows of b as vectors
        b, temp = _dense_copy(dev, b)
    key = ("matmul", batch, a.strides[:-2], b.strides[:-2])
    plan = dev.plans.get(key)
    if plan is None:
        dims, st = _coalesce(batch, (a.strides[:-2], b.strides[:-2]))
        plan = dev.remember(key, (dev.meta(dims + st[0] + st[1]), len(dims)))
    meta, nb = plan
    args = (out.buffer.handle, out.offset, a.buffer.handle, a.offset, b.buffer.handle, b.offset, meta, nb, m, n, k_,
            a.strides[-2], a.strides[-1], b.strides[-2])
    if block is not None:
        if block == (8, 8) and n >= 16:  # Note [Wide matmul blocks]: 6 x 16 per work-item
            gx, gy, name = -(-n // 16), -(-m // 6), "matmul_wide_8"
        else:  # Note [Register-blocked matmul]
            rows, vn = block
            if n < 2 * vn and n % vn:  # a narrow out: 4-wide vectors waste less on its edge
                vn = 4
            gx, gy, name = -(-n // vn), -(-m // rows), f"matmul_blocked_{vn}"
        # groups of 4 x 4 blocks; a row of 16 where there are fewer than 4 rows of blocks (conv2d's batched products
        # of 6 rows: PoCL's cost per group, on groups three quarters empty, was most of their time)
        lx, ly = (4, 4) if gy >= 4 else (16, 1)
        dev.launch(dev.kernel("matmul", a.dtype.name, name), (-(-gx // lx) * lx, -(-gy // ly) * ly, _prod(batch)),
                   (lx, ly, 1), *args)
    else:
        t = dev.tile
        kernel = dev.kernel("matmul", a.dtype.name, "matmul")
        dev.launch(kernel, (-(-n // t) * t, -(-m // t) * t, _prod(batch)), (t, t, 1), *args, b.strides[-1])
    del temp  # the pool reuses it only after the launch, in queue order


# Note [Strided reductions]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# A reduction whose reduced elements are neither one contiguous run nor contiguous rows (x[:, ::2].sum(),
# x[::2].sum(axis=0)) would take the per-element kernels, each work-item unravelling every index with 64-bit
# divisions: 19x the contiguous case of the same size on PoCL.  From _COPY_BEFORE_REDUCING elements on, x is copied
# row-major first by the astype row kernels (Note [Row kernels]), a pass at close to copy bandwidth, and the copy
# takes the vector kernels (Note [Vector reductions]).  Reductions that do not care about order (not argmax/argmin)
# walk the reduced dims in memory order anyway (reduce_plan's any_order), so x.T.sum() needs no copy.  The vector
# kernels also read runs of every other element as they are (sum, max and min of x[:, ::2]: 2.0x the contiguous
# case of the same size, for twice the memory read, where the copy took 4x).
_COPY_BEFORE_REDUCING = 1 << 14


class _Dense:
    """The (buffer, offset, strides) of a row-major copy that _dense_copy made, as a kernel adapter reads them."""

    def __init__(self, handle, strides):
        self.buffer, self.handle, self.offset = self, handle, 0
        self.strides = strides


def _dense_copy(dev, x):
    """``x``'s values in a fresh row-major buffer of the device by the same-dtype astype kernel, as (a view-like
    _Dense, the pooled buffer to keep until the launch reading it has been enqueued).  Broadcast batch dims stay
    broadcast (copied once); the matrix dims are always materialised, so that a row is contiguous."""
    nd = len(x.shape)
    keep = [bool(s) or d >= nd - 2 for d, s in enumerate(x.strides)]
    shape = [n if k else 1 for n, k in zip(x.shape, keep)]
    dense, step = [0] * nd, 1
    for d in range(nd - 1, -1, -1):
        dense[d] = step if keep[d] else 0
        step *= shape[d]
    handle = dev.allocate(max(1, step) * x.dtype.itemsize)
    _cast(dev, x.dtype.name, handle, 0, tuple(shape), tuple(dense), False, x)
    return _Dense(handle, tuple(dense)), handle


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
        if inner == 1 and x.strides[axis] == 1 and x.dtype.name in dev.vector_width:
            # the vector kernel, ``per`` consecutive rows per work-item (8 items per core, up to 64 rows each)
            per = max(1, min(64, rows // (8 * dev.units)))
            items = -(-rows // per)
            size = _group_size(dev, items)
            dev.launch(dev.kernel("softmax", x.dtype.name, f"{op}_vec"), (-(-items // size) * size,), (size,),
                       out.buffer.handle, out.offset, x.buffer.handle, x.offset, meta, nk, length, rows, per)
            return
        size = dev.local
        k = dev.kernel("softmax", x.dtype.name, op)
        dev.launch(k, (-(-rows // size) * size,), (size,), out.buffer.handle, out.offset, x.buffer.handle, x.offset,
                   meta, nk, length, x.strides[axis], inner, rows)
    return kernel


def _nll_kernel(dev, dtype, name, x):
    """The launcher and kernel of fused cross entropy's ``name`` (kernels/opencl/softmax.cl): the vector variant on
    CPU devices for rows contiguous in x, a row per work-item either way (PoCL's work-groups sized for its cores)."""
    if dev.cpu:
        if x.strides[1] == 1 and dtype in dev.vector_width:
            return _launch_rows, dev.kernel("softmax", dtype, f"{name}_vec"), (x.strides[0],)
        return _launch_rows, dev.kernel("softmax", dtype, name), x.strides
    return _launch_each, dev.kernel("softmax", dtype, name), x.strides


def nll_log_softmax(out, x, target, mean):
    """Cross entropy's fused forward (kernels/opencl/softmax.cl nll_rows, nll_total): the loss stays on the device;
    the host reads back 16 bytes, the first target outside [0, C) (in row order) and its row, or N for none."""
    dev = _devices[out.device.index]
    dtype = x.dtype.name
    n, c = x.shape
    loss = dev.allocate(n * _SIZEOF[codegen.compute_type("opencl", dtype)])  # back to the pool in queue order
    info = dev.allocate(16)
    t = (target.buffer.handle, target.offset, target.strides[0])
    launch, rows, strides = _nll_kernel(dev, dtype, "nll_rows", x)
    launch(dev, rows, n, loss, x.buffer.handle, x.offset, c, *strides, *t)
    local = dev.reduce_local
    dev.launch(dev.kernel("softmax", dtype, "nll_total"), (local,), (local,), out.buffer.handle, out.offset, info,
               loss, n, c, *t, int(bool(mean)))
    first = np.empty(2, np.int64)
    cl.enqueue_copy(dev.queue, first, info, is_blocking=True)
    return None if first[0] >= n else int(first[1])


def nll_log_softmax_backward(out, x, target, g, mean):
    dev = _devices[out.device.index]
    n, c = x.shape
    launch, k, strides = _nll_kernel(dev, x.dtype.name, "nll_backward", x)
    launch(dev, k, n, out.buffer.handle, out.offset, x.buffer.handle, x.offset, c, *strides, target.buffer.handle,
           target.offset, target.strides[0], g.buffer.handle, g.offset, int(bool(mean)))


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
    windows = pooled_size(*x.shape[2:], geometry)
    dev = _devices[out.device.index]
    if dev.cpu and windows[1] >= 8:  # a row of windows per work-item (nn.cl im2col_rows)
        _, C, H, W = x.shape
        _launch_rows(dev, dev.kernel("windows", x.dtype.name, "im2col_rows"), out.size // windows[1],
                     out.buffer.handle, out.offset, x.buffer.handle, x.offset, *x.strides, C, H, W, *windows, *geometry)
        return
    _launch_windows("im2col", out, x, x.shape, windows, geometry)


def col2im(out, cols, geometry):
    windows = pooled_size(*out.shape[2:], geometry)
    dev = _devices[out.device.index]
    if cols.dtype.name in dev.vector_width:  # a row of the image per work-item (nn.cl col2im_rows)
        _, C, H, W = out.shape
        _launch_rows(dev, dev.kernel("windows", cols.dtype.name, "col2im_rows"), out.size // W, out.buffer.handle,
                     out.offset, cols.buffer.handle, cols.offset, *cols.strides, C, H, W, *windows, *geometry)
        return
    _launch_windows("col2im", out, cols, out.shape, windows, geometry)


def max_pool2d(out, x, geometry):
    dev = _devices[out.device.index]
    if dev.cpu:  # a row of windows per work-item (nn.cl max_pool2d_rows)
        _launch_window_rows(dev, (out.buffer.handle, out.offset, None), x, out.shape[2:], geometry)
        return
    _launch_windows("max_pool2d", out, x, x.shape, out.shape[2:], geometry)


_POOL22 = (2, 2, 2, 2, 0, 0, 1, 1)  # 2 x 2 windows of stride 2, no padding or dilation: nn.cl's *_rows22


def _pool22(geometry, H, W, windows):
    """Whether max pooling of ``geometry`` to ``windows`` (OH, OW) takes nn.cl's max_pool2d_rows22 kernels: 2 x 2
    windows of stride 2 without padding or dilation, each inside the H x W image (no ceil_mode window past it)."""
    return tuple(geometry) == _POOL22 and 2 * windows[0] <= H and 2 * windows[1] <= W


def _launch_window_rows(dev, outputs, x, windows, geometry):
    """nn.cl's max_pool2d_rows (or its 2 x 2 form, max_pool2d_rows22), one work-item per row of windows (b, c, oh),
    into ``outputs``: (the maxima's buffer or None, its offset, the argmax buffer or None)."""
    N, C, H, W = x.shape
    if _pool22(geometry, H, W, windows):
        _launch_rows(dev, dev.kernel("windows", x.dtype.name, "max_pool2d_rows22"), N * C * windows[0], *outputs,
                     x.buffer.handle, x.offset, *x.strides, C, *windows)
        return
    _launch_rows(dev, dev.kernel("windows", x.dtype.name, "max_pool2d_rows"), N * C * windows[0], *outputs,
                 x.buffer.handle, x.offset, *x.strides, C, H, W, *windows, *geometry)


def max_pool2d_backward(out, grad, x, geometry):
    """Two passes: each window's argmax into a scratch buffer, then each pixel gathers the windows it won."""
    dev = _devices[out.device.index]
    _, C, H, W = out.shape
    OH, OW = grad.shape[2:]
    dtype = x.dtype.name
    arg = dev.allocate(grad.size * 4)  # int32 tap indices; back to the pool after the launches, in queue order
    if dev.cpu:
        _launch_window_rows(dev, (None, 0, arg), x, (OH, OW), geometry)
    else:
        _launch_each(dev, dev.kernel("windows", dtype, "max_pool2d_argmax"), grad.size, arg, x.buffer.handle,
                     x.offset, *x.strides, C, H, W, OH, OW, *geometry)
    if dtype in dev.vector_width and _pool22(geometry, H, W, (OH, OW)):  # each pixel in one window at most
        _launch_rows(dev, dev.kernel("windows", dtype, "max_pool2d_backward_rows22"), out.size // W,
                     out.buffer.handle, out.offset, grad.buffer.handle, grad.offset, *grad.strides, arg, C, H, W, OH,
                     OW)
        return
    if dtype in dev.vector_width:  # a row of the image per work-item (nn.cl max_pool2d_backward_rows)
        _launch_rows(dev, dev.kernel("windows", dtype, "max_pool2d_backward_rows"), out.size // W,
                     out.buffer.handle, out.offset, grad.buffer.handle, grad.offset, *grad.strides, arg, C, H, W, OH,
                     OW, *geometry)
        return
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


# -- sorting (issue 8): kernels/opencl/sort.cl, Note [Sort order] in kernels/cpu/sort.cpp ----------------------------





def _sort_local(dev, dtype, P):
    """The work-group size of the local-memory stages: a power of two, at most P / 2, the device's reduce size and
    what the two block kernels allow (each work-item holds two elements of the block)."""
    key = ("sort_local", dtype)
    limit = dev.plans.get(key)
    if limit is None:
        device = dev.context.devices[0]
        limit = dev.reduce_local
        for name in ("sort_blocks", "merge_block"):
            wg = dev.kernel("sort", dtype, name).get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE,
                                                                       device)
            limit = min(limit, 1 << (int(wg).bit_length() - 1))
        limit = dev.remember(key, limit)
    return min(limit, P // 2)


def _rows_plan(dev, key, shape, axis, first, second):
    """(meta, ndim) of the rows along ``axis``: every position of the other dims, coalesced, with the ``first`` and
    ``second`` strides over them (the layout the sort and scan kernels walk), cached under ``key``."""
    plan = dev.plans.get(key)
    if plan is None:
        other = [d for d in range(len(shape)) if d != axis]
        dims, st = _coalesce([shape[d] for d in other], [[first[d] for d in other], [second[d] for d in other]])
        plan = dev.remember(key, (dev.meta(dims + st[0] + st[1]), len(dims)))
    return plan


def _sort(values):
    def kernel(out, x, axis, descending):
        dev = _devices[out.device.index]
        dtype = x.dtype.name
        meta, ndim = _rows_plan(dev, ("sort", x.shape, x.strides, axis), x.shape, axis, x.strides, out.strides)
        n = x.shape[axis]
        rows = out.size // n
        P = 1 << (n - 1).bit_length()  # each row padded to a power of two
        keys, pos = dev.allocate(rows * P * 8), dev.allocate(rows * P * 8)  # back to the pool in queue order
        _launch_each(dev, dev.kernel("sort", dtype, "sort_keys"), rows * P, keys, pos, x.buffer.handle, x.offset,
                     meta, ndim, n, x.strides[axis], P, int(descending))
        if P > 1:
            L = _sort_local(dev, dtype, P)
            B, half = 2 * L, rows * P // 2
            local = (cl.LocalMemory(8 * B), cl.LocalMemory(8 * B))
            dev.launch(dev.kernel("sort", dtype, "sort_blocks"), (half,), (L,), keys, pos, P, *local)
            step, merge = dev.kernel("sort", dtype, "bitonic_step"), dev.kernel("sort", dtype, "merge_block")
            k = 2 * B
            while k <= P:
                j = k // 2
                while j >= B:
                    _launch_each(dev, step, half, keys, pos, P, k, j)
                    j //= 2
                dev.launch(merge, (half,), (L,), keys, pos, P, k, j, *local)
                k *= 2
        os = out.strides[axis]
        if values:
            _launch_each(dev, dev.kernel("sort", dtype, "sort_values"), rows * n, out.buffer.handle, out.offset, pos,
                         x.buffer.handle, x.offset, meta, ndim, n, x.strides[axis], os, P)
        else:
            _launch_each(dev, dev.kernel("sort", dtype, "sort_indices"), rows * n, out.buffer.handle, out.offset, pos,
                         meta, ndim, n, os, P)
    return kernel


def searchsorted(out, x1, x2, right, sorter):
    dev = _devices[out.device.index]
    key = ("search", x2.shape, x2.strides)
    plan = dev.plans.get(key)
    if plan is None:
        dims, (st,) = _coalesce(x2.shape, [x2.strides])
        plan = dev.remember(key, (dev.meta(dims + st), len(dims)))
    meta, ndim = plan
    has = sorter is not None  # without one, out's buffer stands in for the unread argument
    k = dev.kernel("sort", x1.dtype.name, "searchsorted")
    _launch_each(dev, k, out.size, out.buffer.handle, out.offset, x1.buffer.handle, x1.offset, x1.shape[0],
                 x1.strides[0], sorter.buffer.handle if has else out.buffer.handle, sorter.offset if has else 0,
                 sorter.strides[0] if has else 0, int(has), x2.buffer.handle, x2.offset, meta, ndim, int(bool(right)))


def _register_sorting():
    for name, kernel in (("sort", _sort(True)), ("argsort", _sort(False)), ("searchsorted", searchsorted)):
        register_kernel(name, "opencl", optable.COVERAGE[name], kernel)


#: the ops each program family of kernels/opencl_source.py SOURCES serves (what warmup builds, per dtype they claim)
PROGRAM_OPS = {
    "elementwise": tuple(optable.ELEMENTWISE) + ("where", "fill"), "astype": ("astype",),
    "create": ("arange", "rand", "randn", "randint"), "reduce": tuple(optable.REDUCTIONS), "matmul": ("matmul",),
    "softmax": ("softmax", "log_softmax", "nll_log_softmax", "nll_log_softmax_backward"),
    "windows": ("im2col", "col2im", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"),
    "take": ("take_along_axis",), "scatter": ("scatter_add",), "sort": ("sort", "argsort", "searchsorted"),
    "cumsum": ("cumsum",), "cumprod": ("cumprod",), "compact": ("nonzero",), "gather": ("gather", "put"),
    "linalg": ("lu", "lu_solve", "cholesky", "qr", "eigh", "svd"),
}


def register():
    """Register the opencl backend and its kernels (cheap: pyopencl is imported, and kernels built, on first use)."""
    register_backend(OpenCLBackend())
    for name, op in optable.ELEMENTWISE.items():
        for dt in op.dtypes:
            register_kernel(name, "opencl", [dt], _elementwise(name, dt, op.arity))
    kernels = {"where": where, "astype": astype, "fill": fill, "arange": arange, "rand": _random("rand"),
               "randn": _random("randn"), "randint": _random("randint"), "matmul": matmul,
               "softmax": _softmax("softmax"), "log_softmax": _softmax("log_softmax"),
               "nll_log_softmax": nll_log_softmax, "nll_log_softmax_backward": nll_log_softmax_backward}
    kernels.update({name: _reduction(name) for name in optable.REDUCTIONS})
    kernels.update({"im2col": im2col, "col2im": col2im, "max_pool2d": max_pool2d,
                    "max_pool2d_backward": max_pool2d_backward, "avg_pool2d": avg_pool2d,
                    "avg_pool2d_backward": avg_pool2d_backward, "take_along_axis": take_along_axis,
                    "scatter_add": scatter_add})
    for name, kernel in kernels.items():
        register_kernel(name, "opencl", optable.COVERAGE[name], kernel)
    _register_sorting()
    _register_interop()
    _register_scans()
    _register_linalg()


# -- interop (issue 8): no zero-copy DLPack (Note [DLPack exchange] in dispatch/interop.py) ---------------------------

def _register_interop():
    from ..dispatch.interop import DLDeviceType, register_dlpack

    # a cl_mem is no address another library can use: opencl tensors export only through a host copy, when allowed
    register_dlpack("opencl", DLDeviceType.kDLOpenCL)


# -- scans and array indexing (issue 8): kernels/opencl/scan.cl, its Note [Parallel scans] -------------------------









def _cumulative(product):
    family = "cumprod" if product else "cumsum"

    def kernel(out, x, axis):
        dev = _devices[out.device.index]
        dtype = x.dtype.name
        meta, nk = _rows_plan(dev, (family, x.shape, x.strides, out.strides, axis), x.shape, axis, out.strides,
                              x.strides)
        n = x.shape[axis]
        rows = out.size // n
        os_, xs = out.strides[axis], x.strides[axis]
        local = dev.reduce_local
        if n <= 64 or rows >= dev.groups * local // 4:  # many rows: one work-item each (Note [Parallel scans])
            size = dev.local
            dev.launch(dev.kernel(family, dtype, "scan_rows"), (-(-rows // size) * size,), (size,),
                       out.buffer.handle, out.offset, x.buffer.handle, x.offset, meta, nk, n, os_, xs, rows)
            return
        blocks = max(1, min(-(-n // (4 * local)), max(1, dev.groups // rows), 1024))
        per_item = -(-n // (blocks * local))
        part = dev.allocate(rows * blocks * _SIZEOF[scan_accumulator(dev, dtype)])
        dev.launch(dev.kernel(family, dtype, "scan_block_totals"), (rows * blocks * local,), (local,), part,
                   x.buffer.handle, x.offset, meta, nk, n, xs, blocks, per_item)
        size = dev.local
        dev.launch(dev.kernel(family, dtype, "scan_block_prefix"), (-(-rows // size) * size,), (size,), part, blocks,
                   rows)
        dev.launch(dev.kernel(family, dtype, "scan_blocks"), (rows * blocks * local,), (local,), out.buffer.handle,
                   out.offset, part, x.buffer.handle, x.offset, meta, nk, n, os_, xs, blocks, per_item)
    return kernel


def _nonzero(out, x):
    dev = _devices[out.device.index]
    key = ("nonzero", x.shape, x.strides)
    meta = dev.plans.get(key)
    if meta is None:  # not coalesced: the kernel unravels each position into x's own coordinates
        meta = dev.remember(key, dev.meta(list(x.shape) + list(x.strides)))
    n, local = x.size, dev.reduce_local
    groups = max(1, min(-(-n // (16 * local)), 4096))
    per_item = -(-n // (groups * local))
    counts = dev.allocate(groups * 8)
    dtype = x.dtype.name
    dev.launch(dev.kernel("compact", dtype, "nonzero_count"), (groups * local,), (local,), counts, x.buffer.handle,
               x.offset, meta, x.ndim, n, per_item)
    dev.launch(dev.kernel("compact", dtype, "nonzero_prefix"), (1,), (1,), counts, groups)
    dev.launch(dev.kernel("compact", dtype, "nonzero_write"), (groups * local,), (local,), out.buffer.handle,
               out.offset, out.shape[1], counts, x.buffer.handle, x.offset, meta, x.ndim, n, per_item)


def _raw_offsets(indices, sizes, steps):
    """More index operands than the kernels take (4): each element's whole offset, summed by ops on the device."""
    from ..dispatch import dispatcher as d

    total = None
    for index, size, step in zip(indices, sizes, steps):
        wrapped = d.where(d.binary("less", index, 0), d.binary("add", index, size), index)
        term = d.binary("multiply", wrapped, step)
        total = term if total is None else d.binary("add", total, term)
    return total


def _index_launch(kind, dev, shape, dtype, first, indices, sizes, steps, rest_strides):
    """The kernel name, meta and index arguments of gather or put over ``shape``: ``first`` the view's strides."""
    if len(indices) > 4:
        indices, variant = [_raw_offsets(indices, sizes, steps)], "raw"
        args = [indices[0].buffer.handle, indices[0].offset]
    else:
        variant = str(len(indices))
        args = []
        for index, size, step in zip(indices, sizes, steps):
            args += [index.buffer.handle, index.offset, size, step]
    strides = (first,) + tuple(i.strides for i in indices) + rest_strides
    key = (kind, shape, strides)
    plan = dev.plans.get(key)
    if plan is None:
        dims, st = _coalesce(shape, strides)
        plan = dev.remember(key, (dev.meta(dims + [v for s in st for v in s]), len(dims)))
    meta, ndim = plan
    return dev.kernel("gather", dtype, f"{kind}_{variant}"), meta, ndim, args


def _gather(out, x, indices, sizes, steps):
    dev = _devices[out.device.index]
    k, meta, ndim, args = _index_launch("gather", dev, out.shape, x.dtype.name, x.strides, indices, sizes, steps, ())
    _launch_each(dev, k, out.size, out.buffer.handle, out.offset, x.buffer.handle, x.offset, meta, ndim, *args)


def _put(out, indices, sizes, steps, values):
    dev = _devices[out.device.index]
    k, meta, ndim, args = _index_launch("put", dev, out.shape, out.dtype.name, out.strides, indices, sizes, steps,
                                        (values.strides,))
    _launch_each(dev, k, out.size, out.buffer.handle, out.offset, meta, ndim, *args, values.buffer.handle,
                 values.offset)


def _register_scans():
    for name, kernel in (("cumsum", _cumulative(False)), ("cumprod", _cumulative(True)), ("nonzero", _nonzero),
                         ("gather", _gather), ("put", _put)):
        register_kernel(name, "opencl", optable.COVERAGE[name], kernel)


# -- linalg (issue 8): kernels/opencl/linalg.cl, Note [OpenCL factorizations] and Note [OpenCL Jacobi] -----------------



def _batch_meta(dev, batch, *operands):
    """The metadata of ts_batch_offset: the batch extents, then each operand's batch strides (cached per layout)."""
    key = ("linalg", batch) + tuple(t.strides[:len(batch)] for t in operands)
    meta = dev.plans.get(key)
    if meta is None:
        meta = dev.remember(key, dev.meta(list(batch) + [s for t in operands for s in t.strides[:len(batch)]]))
    return meta


def _per_matrix(dev, name, dtype, count, *args):
    """One work-group per matrix (Note [OpenCL factorizations])."""
    size = dev.reduce_local
    dev.launch(dev.kernel("linalg", dtype, name), (count * size,), (size,), *args)


def _cl_lu(out, pivots, x):
    dev = _devices[out.device.index]
    batch, n = out.shape[:-2], out.shape[-1]
    _per_matrix(dev, "ts_lu", x.dtype.name, _prod(batch), out.buffer.handle, out.offset, pivots.buffer.handle,
                pivots.offset, x.buffer.handle, x.offset, x.strides[-2], x.strides[-1], _batch_meta(dev, batch, x),
                np.int32(len(batch)), n)


def _cl_lu_solve(out, lu, pivots, b):
    dev = _devices[out.device.index]
    batch, (n, k) = out.shape[:-2], out.shape[-2:]
    total = _prod(batch) * k
    size = dev.local
    dev.launch(dev.kernel("linalg", b.dtype.name, "ts_lu_solve"), (-(-total // size) * size,), (size,),
               out.buffer.handle, out.offset, lu.buffer.handle, lu.offset, lu.strides[-2], lu.strides[-1],
               pivots.buffer.handle, pivots.offset, pivots.strides[-1], b.buffer.handle, b.offset, b.strides[-2],
               b.strides[-1], _batch_meta(dev, batch, lu, pivots, b), np.int32(len(batch)), n, k, total)


def _cl_cholesky(out, x, upper):
    dev = _devices[out.device.index]
    batch, n = out.shape[:-2], out.shape[-1]
    _per_matrix(dev, "ts_cholesky", x.dtype.name, _prod(batch), out.buffer.handle, out.offset, x.buffer.handle,
                x.offset, x.strides[-2], x.strides[-1], _batch_meta(dev, batch, x), np.int32(len(batch)), n,
                np.int32(bool(upper)))


def _cl_qr(q, r, x):
    dev = _devices[q.device.index]
    batch, (m, n), kq = q.shape[:-2], x.shape[-2:], q.shape[-1]
    count = _prod(batch)
    itemsize = x.dtype.itemsize
    work = dev.allocate(count * m * n * itemsize)  # the reflectors; back to the pool after the launch, in queue order
    tau = dev.allocate(max(1, count * min(m, n)) * itemsize)
    _per_matrix(dev, "ts_qr", x.dtype.name, count, q.buffer.handle, q.offset, r.buffer.handle, r.offset,
                x.buffer.handle, x.offset, x.strides[-2], x.strides[-1], _batch_meta(dev, batch, x),
                np.int32(len(batch)), m, n, kq, work, tau)


def _cl_eigh(w, v, x):
    dev = _devices[w.device.index]
    batch, n = x.shape[:-2], x.shape[-1]
    count = _prod(batch)
    work = dev.allocate(count * (2 * n * n + 4 * ((n + 1) // 2 + 1)) * x.dtype.itemsize)  # A, V, the rotations
    vbuf, voff = (v.buffer.handle, v.offset) if v is not None else (work, 0)
    _per_matrix(dev, "ts_eigh", x.dtype.name, count, w.buffer.handle, w.offset, vbuf, voff, np.int32(v is not None),
                x.buffer.handle, x.offset, x.strides[-2], x.strides[-1], _batch_meta(dev, batch, x),
                np.int32(len(batch)), n, work, float(np.finfo(x.dtype.numpy).eps))


def _cl_svd(s, u, vh, x):
    """One-sided Jacobi on B = x (M >= N) or x^T (M < N); B = Ub S Vb^T maps onto u, vh (Note [OpenCL Jacobi])."""
    dev = _devices[s.device.index]
    batch, (m, n) = x.shape[:-2], x.shape[-2:]
    count = _prod(batch)
    tall = m >= n
    mm, nn = (m, n) if tall else (n, m)
    xrs, xcs = (x.strides[-2], x.strides[-1]) if tall else (x.strides[-1], x.strides[-2])
    work = dev.allocate(count * (mm * nn + nn * nn + mm + nn) * x.dtype.itemsize)
    if u is None:
        ub = vb = (work, 0, 0, 0, 0)
        kb = nn
    elif tall:  # Ub is u (m, ku); Vb (n, n) is vh^T
        ku = u.shape[-1]
        ub, kb = (u.buffer.handle, u.offset, m * ku, ku, 1), ku
        vb = (vh.buffer.handle, vh.offset, n * n, 1, n)
    else:  # Ub (n, kv) is vh^T; Vb (m, m) is u
        kv = vh.shape[-2]
        ub, kb = (vh.buffer.handle, vh.offset, kv * n, 1, n), kv
        vb = (u.buffer.handle, u.offset, m * m, m, 1)
    _per_matrix(dev, "ts_svd", x.dtype.name, count, s.buffer.handle, s.offset, *ub, kb, *vb, np.int32(u is not None),
                x.buffer.handle, x.offset, xrs, xcs, _batch_meta(dev, batch, x), np.int32(len(batch)), mm, nn, work,
                float(np.sqrt(mm) * np.finfo(x.dtype.numpy).eps))
    if u is not None:  # U's columns for zero singular values and full_matrices' extra ones
        _per_matrix(dev, "ts_svd_complete", x.dtype.name, count, s.buffer.handle, s.offset, *ub, kb, mm, nn, work,
                    float(np.sqrt(mm) * np.finfo(x.dtype.numpy).eps))


def _register_linalg():
    for name, kernel in (("lu", _cl_lu), ("lu_solve", _cl_lu_solve), ("cholesky", _cl_cholesky), ("qr", _cl_qr),
                         ("eigh", _cl_eigh), ("svd", _cl_svd)):
        register_kernel(name, "opencl", optable.coverage(name, "opencl"), kernel)  # eigh, svd real: COVERAGE_GAPS
