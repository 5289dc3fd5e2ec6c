"""The cuda backend: memory from CuPy's pool, kernels compiled at run time by NVRTC through CuPy, cuBLAS for
float32/float64 matmul.

The kernel templates live in ``kernels/cuda/*.cu`` (one per op family) and their op functors and instantiations are
generated from the op table by ``kernels/cuda_source.py``; this module compiles one program per (family, dtype) on
first use and keeps the kernel objects; CuPy keeps the binaries in its on-disk kernel cache.  Everything above
``CUDABackend`` is plain Python that runs without CuPy (tests/test_cuda.py checks it with ``nvcc`` on machines
without a GPU).

Install with ``pip install "tensorswitch[cuda12]"`` or ``"tensorswitch[cuda13]"`` (CuPy for that CUDA major version,
with its ``[ctk]`` extra: NVRTC, the CUDA headers and cuBLAS as wheels, so a machine with only the NVIDIA driver
can compile).  cuBLAS is optional: where CuPy cannot load it, matmul uses our own tiled kernel (``describe()`` says
why).

Note [CUDA threads and streams]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
Every lazy initialisation here (importing CuPy, probing the driver, importing cuBLAS, a device's state) runs once,
under ``_lock`` with double-checked locking.  Each device owns one CUDA stream, made with its state: every kernel
launch, copy and cuBLAS call of that device goes to it (not to the calling thread's current CuPy stream), so work
from any thread runs in one order and ``synchronize`` waits for exactly it.  The stream blocks with the legacy
default stream, so CuPy code of the user's on the default stream stays ordered with ours.  Memory comes from a
memory pool of our own (shared by the devices, a sub-pool each): every use of a block is on its device's stream, so
a block freed and handed out again is only touched after the work queued on it, and the statistics of
``memory_stats`` count tensorswitch's memory only.  CuPy's launches are one call each (arguments packed in C), so
kernel objects are shared by threads; cuBLAS handles are CuPy's, one per thread and device, and CuPy's gemm
wrappers set the handle's stream to the current one, so the call runs with our stream made current.  The layout
cache (an LRU) takes the device's lock for look-up, insert and eviction.
"""

import collections
import contextlib
import ctypes
import threading

import numpy as np

from ..dispatch.backend import Backend, KernelCache
from ..dispatch.backend import coalesce as merge_dims
from ..dispatch.backend import pooled_size
from ..dispatch.device import register_backend
from ..dispatch.dtypes import DTYPES
from ..dispatch.errors import DeviceUnavailableError
from ..dispatch.registry import register_kernel
from ..kernels import optable
from ..kernels.cuda_source import ALL, MAX_BLOCK, TILE, program_keys, program_source

MAX_GRID_YZ = 65535    # CUDA's limit on gridDim.y and gridDim.z
_U64 = (1 << 64) - 1
META_CACHE_SIZE = 4096  # layouts kept on each device, see Note [Strided metadata] in kernels/cuda/common.cu


# -- launch planning and layouts (no CuPy needed) -------------------------------------------------------------------

def coalesce(shape, strides, by_output=False):
    """``dispatch.backend.coalesce`` as tuples, with at least one dim (the kernels index a non-empty layout).

    >>> coalesce((2, 3, 4), ((12, 4, 1), (0, 0, 1)))
    ((6, 4), ((4, 1), (0, 1)))
    """
    dims, st = merge_dims(shape, strides, by_output)
    if not dims:
        return (1,), tuple((0,) for _ in strides)
    return tuple(dims), tuple(tuple(s) for s in st)


def pack_layout(shape, strides):
    """The metadata of Note [Strided metadata] (kernels/cuda/common.cu): [nd, shape, strides of each operand]."""
    meta = [len(shape), *shape]
    for s in strides:
        meta.extend(s)
    return tuple(meta)


def grid_for(n, block, max_blocks):
    """Blocks for a grid-stride loop over ``n`` items: enough to cover them, at most ``max_blocks``."""
    return max(1, min((n + block - 1) // block, max_blocks))


def _pow2_block(n):
    """The smallest power of two >= n, clamped to [32, MAX_BLOCK]: a block for a tree reduction over n items."""
    b = 32
    while b < n and b < MAX_BLOCK:
        b *= 2
    return b


def plan_reduction(n_outer, n_inner, inner_contiguous, sm_count):
    """How to run a reduction: ("threads", block, 1), ("blocks", block, 1) or ("blocks", block, splits) with
    splits > 1 for the two-pass split.  See the kernels in kernels/cuda/reduce.cu."""
    if n_inner <= 32 or (not inner_contiguous and n_outer >= 1024):
        return "threads", MAX_BLOCK, 1  # short rows, or an outer axis where neighbouring threads read neighbours
    block = _pow2_block(n_inner)
    splits = 1
    if n_outer < 2 * sm_count and n_inner >= 8 * MAX_BLOCK:
        wanted = -(-4 * sm_count // n_outer)          # blocks to fill the device about four times over
        useful = -(-n_inner // (4 * MAX_BLOCK))        # at least ~4 elements per thread
        splits = max(1, min(wanted, useful, 1024))
    return "blocks", block, splits


def plan_softmax(rows, n, axis_contiguous, sm_count):
    """("blocks", block): a block per row, or ("threads", MAX_BLOCK): a thread per row."""
    if n >= 64 and (axis_contiguous or rows < 8 * sm_count):
        return "blocks", _pow2_block(n)
    return "threads", MAX_BLOCK


def fill_bits(value, dtype):
    """The little-endian bytes of ``value`` stored as ``dtype`` (a name), as an unsigned integer (up to 128 bits: a
    complex128 takes 16 bytes): what the fill kernels reinterpret, passed as two 64-bit words.  bool is
    ``value != 0`` (0.5 and NaN are True); floats round once from the Python float, NaN and infinities included;
    complex values round once per part from the Python complex; integers wrap (the dispatcher has range-checked
    them)."""
    kind = optable.KIND[dtype]
    if kind == "bool":
        return int(value != 0)
    if kind == "complex":
        with np.errstate(all="ignore"):
            raw = np.array([complex(value)], np.complex128).astype(dtype)
        return int.from_bytes(raw.tobytes(), "little")
    if kind == "float":
        with np.errstate(all="ignore"):
            raw = np.array([float(value)], np.float64).astype(dtype)
        return int(raw.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[raw.itemsize])[0])
    return int(value) & ((1 << (8 * np.dtype(dtype).itemsize)) - 1)


def randint_args(low, high):
    """The randint kernel's (low, span) arguments as NumPy scalars: low as int64 and high - low as an unsigned 64-bit
    span (0 for the whole 2**64 range), so that ``high = 2**63`` passes (no int64 holds it, and CuPy converts a
    Python int to int64).  See Note [Random numbers] in dispatch/registry.py.

    >>> randint_args(0, 2 ** 63)
    (np.int64(0), np.uint64(9223372036854775808))
    """
    return np.int64(((int(low) + (1 << 63)) & _U64) - (1 << 63)), np.uint64((int(high) - int(low)) & _U64)


def blas_layout(rs, cs, rows, cols):
    """How cuBLAS (column-major) reads a row-major view with element strides (rs, cs): (transpose, ld), or None when
    neither its rows nor its columns are contiguous.  Mirrors the cpu backend's blas_layout."""
    if cs == 1 and (rs >= max(1, cols) or rows == 1):
        return False, max(rs, cols, 1)
    if rs == 1 and (cs >= max(1, rows) or cols == 1):
        return True, max(cs, rows, 1)
    return None


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


# -- the runtime (CuPy from here on) -------------------------------------------------------------------------------

_cp = None             # the cupy module, once imported
_import_error = None   # why cupy could not be imported
_cublas = None         # cupy_backends.cuda.libs.cublas, imported on the first float32/float64 matmul
_cublas_error = None   # why cuBLAS cannot be used (matmul then runs the tiled kernel)
_pool = None           # our CuPy MemoryPool, see Note [CUDA threads and streams]
_lock = threading.Lock()  # every lazy initialisation of this module (Note [CUDA threads and streams])
_OWN_HALF = "-DTS_OWN_HALF"
#: the NVRTC options every program is compiled with (CuPy adds its own: the CUDA include directory, -ftz=true, the
#: architecture and, from CuPy 14, --std=c++17); tests/test_cuda.py compiles with NVRTC itself from these
COMPILE_OPTIONS = ()

#: what brings CuPy, NVRTC and the CUDA headers (a driver-only machine needs all three to compile our kernels)
INSTALL_HINT = ('pip install "tensorswitch[cuda12]" or "tensorswitch[cuda13]" (the one matching your driver\'s CUDA '
                'major version; each brings CuPy with its [ctk] extra: NVRTC (nvidia-cuda-nvrtc-cu12 / '
                'nvidia-cuda-nvrtc), the CUDA headers (nvidia-cuda-runtime-cu12 / nvidia-cuda-runtime) and cuBLAS)')


def _import_cupy():
    global _cp, _import_error
    if _cp is None and _import_error is None:
        with _lock:
            if _cp is None and _import_error is None:
                try:
                    import cupy
                    _cp = cupy
                except Exception as exc:  # ImportError, or a CuPy built for another CUDA failing to load its libraries
                    _import_error = exc
    return _cp


def _cublas_module():
    """cuBLAS through CuPy, or None (and ``_cublas_error`` says why) where CuPy cannot load it: a CuPy without the
    cuBLAS library must still run everything else, matmul included."""
    global _cublas, _cublas_error
    if _cublas is None and _cublas_error is None:
        with _lock:
            if _cublas is None and _cublas_error is None:
                try:
                    try:
                        from cupy_backends.cuda.libs import cublas
                    except ImportError as first:  # older CuPy kept it here; the first failure is the one to report
                        try:
                            from cupy.cuda import cublas
                        except ImportError:
                            raise first from None
                    _cublas = cublas
                except Exception as exc:  # ImportError, OSError (libcublas missing), RuntimeError
                    _cublas_error = f"{type(exc).__name__}: {exc}"
    return _cublas


def _cublas_unusable(exc):
    """Remember why cuBLAS cannot be used (its handle could not be made): later matmuls run the tiled kernel."""
    global _cublas_error
    _cublas_error = f"{type(exc).__name__}: {exc}"


class CUDAError(DeviceUnavailableError):
    """A CUDA program could not be compiled or launched (a ts.TensorSwitchError and a RuntimeError)."""


def _build(index, source, options):
    """Compile one program for device ``index`` with NVRTC (KernelCache's build hook).  Every failure becomes a
    CUDAError: NVRTC's own (CompileException: a bug in the generated source, or a missing cuda_fp16.h, retried with
    our own half type) and CuPy's before it (no NVRTC library, no CUDA headers: RuntimeError, OSError) alike."""
    cp = _cp
    compile_exception = getattr(getattr(cp.cuda, "compiler", None), "CompileException", None) or ()
    try:
        with cp.cuda.Device(index):
            raw = cp.RawModule(code=source, options=tuple(options), backend="nvrtc")
            # the loaded cupy.cuda.function.Module (compiled now, so errors surface here); its get_function gives
            # plain Functions, cheaper per launch than the RawKernels of RawModule.get_function
            return index, getattr(raw, "module", raw), tuple(options)
    except compile_exception as exc:
        if "cuda_fp16" in str(exc) and _OWN_HALF not in options:
            return _build(index, source, tuple(options) + (_OWN_HALF,))
        raise CUDAError(f"NVRTC could not compile a tensorswitch CUDA program for device {index}:\n{exc}\n"
                        f"(the generated source comes from kernels/cuda_source.py program_source)") from exc
    except Exception as exc:
        raise CUDAError(f"CuPy could not compile a tensorswitch CUDA program for device {index} "
                        f"({type(exc).__name__}: {exc}). NVRTC and the CUDA headers are needed at run time; on a "
                        f"machine with only the NVIDIA driver: {INSTALL_HINT}") from exc


def _function(program, name):
    """The launchable kernel ``name`` of a program (KernelCache's function hook), for the program's device."""
    index, module, _ = program
    with _cp.cuda.Device(index):
        return module.get_function(name)


_cache = KernelCache(_build, _function)


def warmup(index):
    """Compile every program of kernels/cuda_source.py for device ``index`` (CuPy keeps the binaries on disk)."""
    keys = program_keys()
    for key in keys:
        _cache.program(index, key, lambda: program_source(key), COMPILE_OPTIONS)
    return len(keys)


class _Device:
    """Per-device state: its stream, compiled kernels by name, the launch limits, memory statistics and the cached
    layout metadata."""

    def __init__(self, index, many):
        global _pool
        cp = _cp
        self.index = index
        self.cuda = cp.cuda.Device(index)
        # with one GPU it is always current; with several, each launch makes its device current
        self.ctx = self.cuda if many else contextlib.nullcontext()
        self.sm_count = int(self.cuda.attributes["MultiProcessorCount"])
        self.max_blocks = 32 * self.sm_count
        self.total_bytes = int(cp.cuda.runtime.getDeviceProperties(index)["totalGlobalMem"])
        with self.cuda:
            self.stream = cp.cuda.Stream(non_blocking=False)  # see Note [CUDA threads and streams]
        if _pool is None:  # under _lock: _device() makes devices there
            _pool = cp.cuda.MemoryPool()
        self.pool = _pool
        self.lock = threading.RLock()
        self.peak = self.allocations = 0
        self.kernels = {}   # kernel name -> function
        self.families = {}  # base name -> (function per suffix)
        self.layouts = collections.OrderedDict()  # meta tuple -> (device block, host array), least recent first

    def kernel(self, program, name):
        k = self.kernels.get(name)
        if k is None:
            k = self.kernels[name] = _cache.get(self.index, program, name, lambda: program_source(program),
                                                COMPILE_OPTIONS)
        return k

    def variants(self, program, base, suffixes=("_contig", "_strided1", "_strided")):
        k = self.families.get(base)
        if k is None:
            k = self.families[base] = tuple(self.kernel(program, base + s) for s in suffixes)
        return k

    def allocate(self, nbytes):
        """A block of ``nbytes`` from our pool; MemoryError naming the size and the device's memory when it cannot be
        had (Note [Backend contract]: the core then empties the cache, retries once, and raises ts.OutOfMemoryError)."""
        if nbytes > self.total_bytes:
            raise MemoryError(f"cuda:{self.index}: {nbytes} bytes asked for in one allocation; the device has "
                              f"{self.total_bytes} bytes in all")
        try:
            with self.ctx:
                block = self.pool.malloc(nbytes)  # a MemoryPointer; size 0 gives a null one
                used = self.pool.used_bytes()
        except (MemoryError, OverflowError) as exc:  # CuPy's OutOfMemoryError is a MemoryError
            raise MemoryError(f"cuda:{self.index}: {nbytes} bytes could not be allocated ({type(exc).__name__}: "
                              f"{exc}); the device has {self.total_bytes} bytes in all") from exc
        with self.lock:
            self.allocations += 1
            if used > self.peak:
                self.peak = used
        return block

    def layout(self, meta):
        """The device copy of layout ``meta`` (a tuple of ints), uploaded once on the device's stream and kept (LRU;
        the host copy stays with it, so the asynchronous upload never reads freed memory)."""
        with self.lock:
            entry = self.layouts.get(meta)
            if entry is not None:
                self.layouts.move_to_end(meta)
                return entry[0]
            host = np.array(meta, dtype=np.int64)
            block = self.allocate(host.nbytes)
            with self.ctx:
                block.copy_from_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, self.stream)
            self.layouts[meta] = (block, host)
            if len(self.layouts) > META_CACHE_SIZE:
                self.layouts.popitem(last=False)  # stream order: a queued kernel still sees its data
            return block

    def launch(self, fn, n, args, block=MAX_BLOCK):
        with self.ctx:
            fn((grid_for(n, block, self.max_blocks),), (block,), args, stream=self.stream)

    def launch_grid(self, fn, grid, block, args):
        with self.ctx:
            fn(grid, block, args, stream=self.stream)


_devices = {}


def _device(index):
    d = _devices.get(index)
    if d is None:
        many = _BACKEND.device_count() > 1  # before the lock: the probe takes it too
        with _lock:
            d = _devices.get(index)
            if d is None:
                d = _devices[index] = _Device(index, many)  # published only once complete
    return d


def _ptr(t):
    return t.buffer.handle.ptr + t.offset * t.dtype.itemsize


class CUDABackend(Backend):
    """NVIDIA GPUs through CuPy: every dtype, one device per GPU."""

    name = "cuda"
    install_hint = INSTALL_HINT

    def __init__(self):
        self._count = None  # set last: a count means the probe is complete
        self._reason = None

    def initialize(self):
        self._probe()

    def _probe(self):
        if self._count is not None:
            return
        cp = _import_cupy()  # takes _lock itself
        with _lock:
            if self._count is not None:
                return
            if cp is None:
                self._reason = (f"CuPy is not importable ({type(_import_error).__name__}: {_import_error}); "
                                f"install it with {INSTALL_HINT}")
                self._count = 0
                return
            try:
                count = int(cp.cuda.runtime.getDeviceCount())
            except Exception as exc:  # no driver, or a driver too old for this CuPy
                self._reason = (f"the CUDA driver reported an error ({type(exc).__name__}: {exc}); check that an "
                                f"NVIDIA driver is installed and supports the CUDA version CuPy was built for")
                self._count = 0
                return
            self._reason = None if count else "no CUDA GPU was found (CUDA_VISIBLE_DEVICES may hide them)"
            self._count = count

    def device_count(self):
        self._probe()
        return self._count

    def unavailable_reason(self):
        self._probe()
        return self._reason

    def supported_dtypes(self, index):
        return frozenset(DTYPES)  # complex64/complex128 are float2/double2, CuPy's complex layout

    def allocate(self, nbytes, index):
        dev = _devices.get(index)
        return (dev or _device(index)).allocate(nbytes)

    def memory_limit(self, index):
        """The device's whole memory (CUDA has no smaller per-allocation limit), in bytes."""
        return _device(index).total_bytes

    def empty_cache(self, index):
        dev = _device(index)
        with dev.ctx:
            dev.pool.free_all_blocks()

    def memory_stats(self, index):
        """allocated_bytes: held by live tensorswitch tensors; cached_bytes: freed blocks our pool keeps for reuse;
        peak_allocated_bytes and allocation_count since the device was first used; device_total_bytes."""
        dev = _device(index)
        with dev.ctx:
            used, free = dev.pool.used_bytes(), dev.pool.free_bytes()
        with dev.lock:
            return {"allocated_bytes": used, "cached_bytes": free, "peak_allocated_bytes": max(dev.peak, used),
                    "allocation_count": dev.allocations, "device_total_bytes": dev.total_bytes}

    def copy_in(self, handle, offset, host, index):
        if host.nbytes:
            dev = _device(index)
            with dev.ctx:
                (handle + offset).copy_from_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, dev.stream)
                dev.stream.synchronize()  # the host array may go away as soon as we return

    def copy_out(self, handle, offset, host, index):
        if host.nbytes:
            dev = _device(index)
            with dev.ctx:
                (handle + offset).copy_to_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, dev.stream)
                dev.stream.synchronize()

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        if not nbytes:
            return
        if src_index != dst_index:
            self.synchronize(src_index)  # the source's pending writes land first
        dev = _device(dst_index)
        with dev.cuda:
            # CuPy picks a device or a peer copy; on the destination's stream, after the work queued there
            (dst + dst_offset).copy_from_async(src + src_offset, nbytes, dev.stream)
            if src_index != dst_index:
                dev.stream.synchronize()  # later work on the source device must not overtake the copy

    def synchronize(self, index):
        dev = _device(index)
        with dev.ctx:
            dev.stream.synchronize()

    def warmup(self, index):
        """Compile every program of kernels/cuda_source.py for device ``index`` (see the module's warmup)."""
        _device(index)  # CuPy imported, the device set up
        return warmup(index)

    def describe(self, index):
        try:
            props = _cp.cuda.runtime.getDeviceProperties(index)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            text = (f"cuda:{index} ({name}, {props['totalGlobalMem'] / 2 ** 30:.0f} GiB, "
                    f"sm_{props['major']}{props['minor']}")
        except Exception:
            return f"cuda:{index}"
        if _cublas_module() is None or _cublas_error is not None:
            text += f"; cuBLAS unavailable ({_cublas_error}), matmul uses tensorswitch's tiled kernel"
        return text + ")"


_BACKEND = CUDABackend()


# -- kernels: adapters from tensors to launches (see Note [Kernel contract] in dispatch/registry.py) ------------------

def _names(fmt, dtypes):
    return {d: fmt.format(d=d) for d in dtypes}


def _pointwise(dev, variants, out, *inputs):
    """Launch the contiguous, 1-D strided or N-D strided variant of a pointwise kernel (elementwise, where, astype)
    over ``out`` and ``inputs``: every operand contiguous needs no index math, one merged dim needs one stride per
    operand, anything else reads a layout cached on the device."""
    contig, strided1, strided = variants
    n = out.size
    operands = (out,) + inputs
    if all(t.is_contiguous for t in operands):
        return dev.launch(contig, n, (n, *map(_ptr, operands)))
    shape, st = coalesce(out.shape, tuple(t.strides for t in operands), by_output=True)
    if len(shape) == 1:
        args = [n]
        for t, s in zip(operands, st):
            args += (_ptr(t), s[0])
        return dev.launch(strided1, n, tuple(args))
    return dev.launch(strided, n, (n, *map(_ptr, operands), dev.layout(pack_layout(shape, st))))


def _elementwise(op, dtypes, arity):
    names = _names(f"ts_{op}_{{d}}", dtypes)

    def kernel(out, *inputs):
        dev = _device(out.device.index)
        d = inputs[0].dtype.name
        _pointwise(dev, dev.variants(("elementwise", d), names[d]), out, *inputs)

    return kernel


_where_names = _names("ts_where_{d}", ALL)


def where(out, cond, a, b):
    dev = _device(out.device.index)
    d = out.dtype.name
    _pointwise(dev, dev.variants(("where", d), _where_names[d]), out, cond, a, b)


_astype_names = {(s, d): f"ts_astype_{s}_{d}" for s in ALL for d in ALL}


def astype(out, x):
    dev = _device(out.device.index)
    s = x.dtype.name
    _pointwise(dev, dev.variants(("astype", s), _astype_names[s, out.dtype.name]), out, x)


_fill_names = _names("ts_fill_{d}", ALL)


def fill(out, value):
    dev = _device(out.device.index)
    d = out.dtype.name
    contig, strided1, strided = dev.variants(("fill", d), _fill_names[d])
    n = out.size
    bits = fill_bits(value, d)
    lo, hi = np.uint64(bits & _U64), np.uint64(bits >> 64)  # the kernels' two words (hi: complex128's imaginary part)
    if out.is_contiguous:
        return dev.launch(contig, n, (n, _ptr(out), lo, hi))
    shape, (so,) = coalesce(out.shape, (out.strides,), by_output=True)
    if len(shape) == 1:
        dev.launch(strided1, n, (n, _ptr(out), so[0], lo, hi))
    else:
        dev.launch(strided, n, (n, _ptr(out), lo, hi, dev.layout(pack_layout(shape, (so,)))))


def arange(out, start, step):
    dev = _device(out.device.index)
    d = out.dtype.name
    k = dev.kernel(("arange", d), f"ts_arange_{d}")
    n = out.size
    if out.dtype.kind == "float":
        dev.launch(k, n, (n, _ptr(out), float(start), float(step), np.int64(0), np.int64(0)))
    else:
        # as their low 64 bits (uint64 from 2**63 up is a negative int64): the kernel counts in unsigned 64 bits
        wrap = lambda v: np.int64(((int(v) + (1 << 63)) & _U64) - (1 << 63))  # noqa: E731
        dev.launch(k, n, (n, _ptr(out), 0.0, 0.0, wrap(start), wrap(step)))


def _random(op):
    def kernel(out, seed, offset, low=0, high=1):
        dev = _device(out.device.index)
        d = out.dtype.name
        k = dev.kernel(("random", d), f"ts_{op}_{d}")
        n = out.size
        args = (n, _ptr(out), np.uint64(int(seed) & _U64), np.uint64(int(offset) & _U64))
        if op == "randint":
            args += randint_args(low, high)
        dev.launch(k, n, args)
    return kernel


def _reduction(op):
    suffixes = ("_threads", "_blocks", "_partials")

    def kernel(out, x, axes):
        dev = _device(out.device.index)
        d = x.dtype.name
        threads, blocks, partials = dev.variants(("reduction", d), f"ts_{op}_{d}", suffixes)
        keep = [i for i in range(x.ndim) if i not in axes]
        oshape, (ost,) = coalesce([x.shape[i] for i in keep], ([x.strides[i] for i in keep],))
        ishape, (ist,) = coalesce([x.shape[i] for i in axes], ([x.strides[i] for i in axes],))
        n_outer, n_inner = out.size, _prod(ishape)
        meta = dev.layout(pack_layout(oshape, (ost,)) + pack_layout(ishape, (ist,)))
        how, block, splits = plan_reduction(n_outer, n_inner, abs(ist[-1]) == 1, dev.sm_count)
        if how == "threads":
            return dev.launch(threads, n_outer, (n_outer, n_inner, _ptr(out), _ptr(x), meta))
        grid = min(n_outer * splits, dev.max_blocks)
        if splits == 1:
            return dev.launch_grid(blocks, (grid,), (block,), (n_outer, n_inner, 1, _ptr(out), 0, _ptr(x), meta))
        partial = dev.allocate(n_outer * splits * 16)  # 16 bytes hold any accumulator (argmax's is largest)
        dev.launch_grid(blocks, (grid,), (block,), (n_outer, n_inner, splits, _ptr(out), partial.ptr, _ptr(x), meta))
        dev.launch_grid(partials, (min(n_outer, dev.max_blocks),), (_pow2_block(splits),),
                        (n_outer, splits, _ptr(out), partial.ptr))
    return kernel


_GEMM = {"float32": ("sgemmStridedBatched", np.float32), "float64": ("dgemmStridedBatched", np.float64)}
_SCALARS = {d: (np.ones(1, t), np.zeros(1, t)) for d, (_, t) in _GEMM.items()}  # alpha, beta: host memory
_INT32_MAX = 2 ** 31 - 1


def _gemm(dev, out, a, b, m, n, k, batches, bshape, abst, bbst):
    """cuBLAS for float32/float64 when every matrix is BLAS-readable and the batch is one stride; False otherwise.

    cuBLAS is column-major: the row-major product C = A @ B is computed as C^T = B^T @ A^T."""
    la = blas_layout(a.strides[-2], a.strides[-1], m, k)
    lb = blas_layout(b.strides[-2], b.strides[-1], k, n)
    if la is None or lb is None or len(bshape) != 1 or abst[0] < 0 or bbst[0] < 0:
        return False
    if max(m, n, k, la[1], lb[1], batches) > _INT32_MAX:
        return False
    cublas = _cublas if _cublas is not None else _cublas_module()
    if cublas is None or _cublas_error is not None:
        return False
    name, _ = _GEMM[out.dtype.name]
    one, zero = _SCALARS[out.dtype.name]
    # CuPy's gemm wrappers set the handle's stream to the current one: ours, made current here (Note [CUDA threads
    # and streams]); setStream says so too, for wrappers that do not
    with dev.cuda, dev.stream:
        try:
            handle = _cp.cuda.device.get_cublas_handle()  # CuPy's, one per thread and device
        except Exception as exc:  # libcublas present but unusable: remember why, and run the tiled kernel
            _cublas_unusable(exc)
            return False
        cublas.setStream(handle, dev.stream.ptr)
        if cublas.getPointerMode(handle) != cublas.CUBLAS_POINTER_MODE_HOST:
            cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
        op = (cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_T)
        getattr(cublas, name)(handle, op[lb[0]], op[la[0]], n, m, k, one.ctypes.data,
                              _ptr(b), lb[1], bbst[0], _ptr(a), la[1], abst[0], zero.ctypes.data,
                              _ptr(out), n, m * n, batches)
    return True


def matmul(out, a, b):
    dev = _device(out.device.index)
    d = out.dtype.name
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch = out.shape[:-2]
    batches = _prod(batch)
    bshape, (abst, bbst) = coalesce(batch, (a.strides[:-2], b.strides[:-2]))
    if d in _GEMM and _gemm(dev, out, a, b, m, n, k, batches, bshape, abst, bbst):
        return
    fn = dev.kernel(("matmul", d), f"ts_matmul_{d}")
    grid = (min(-(-n // TILE), dev.max_blocks), min(-(-m // TILE), MAX_GRID_YZ), min(batches, MAX_GRID_YZ))
    meta = dev.layout(pack_layout(bshape, (abst, bbst)))
    dev.launch_grid(fn, grid, (TILE, TILE), (m, n, k, batches, _ptr(out), _ptr(a), a.strides[-2], a.strides[-1],
                                             _ptr(b), b.strides[-2], b.strides[-1], meta))


def _softmax(op):
    suffixes = ("_threads", "_blocks")

    def kernel(out, x, axis):
        dev = _device(out.device.index)
        d = x.dtype.name
        threads, blocks = dev.variants(("softmax", d), f"ts_{op}_{d}", suffixes)
        n = x.shape[axis]
        inner = _prod(x.shape[axis + 1:])
        rows = out.size // n
        rshape, (rst,) = coalesce(x.shape[:axis] + x.shape[axis + 1:], (x.strides[:axis] + x.strides[axis + 1:],))
        sa = x.strides[axis]
        args = (rows, n, inner, sa, _ptr(out), _ptr(x), dev.layout(pack_layout(rshape, (rst,))))
        how, block = plan_softmax(rows, n, abs(sa) == 1, dev.sm_count)
        if how == "threads":
            dev.launch(threads, rows, args)
        else:
            dev.launch_grid(blocks, (min(rows, dev.max_blocks),), (block,), args)
    return kernel


def nll_log_softmax(out, x, target, mean):
    """Cross entropy's fused forward (kernels/cuda/softmax.cu TS_NLL_KERNELS): the row losses, then one block sums
    them and finds the first target outside [0, C); the loss stays on the device and the host reads back 16 bytes,
    that target's row (N for none) and value."""
    dev = _device(out.device.index)
    d = x.dtype.name
    threads, blocks, total = dev.variants(("softmax", d), f"ts_nll_log_softmax_{d}",
                                          ("_rows_threads", "_rows_blocks", "_total"))
    n, c = x.shape
    rs, cs = x.strides
    loss = dev.allocate(n * 8)  # a double per row; back to the pool in stream order
    info = dev.allocate(16)
    args = (n, c, rs, cs, _ptr(x), _ptr(target), target.strides[0], loss.ptr)
    how, block = plan_softmax(n, c, abs(cs) == 1, dev.sm_count)
    if how == "threads":
        dev.launch(threads, n, args)
    else:
        dev.launch_grid(blocks, (min(n, dev.max_blocks),), (block,), args)
    dev.launch_grid(total, (1,), (MAX_BLOCK,), (n, c, loss.ptr, _ptr(target), target.strides[0],
                                                np.int32(bool(mean)), _ptr(out), info.ptr))
    first = np.empty(2, np.int64)
    with dev.ctx:
        info.copy_to_host_async(ctypes.c_void_p(first.ctypes.data), first.nbytes, dev.stream)
        dev.stream.synchronize()
    return None if first[0] >= n else int(first[1])


def nll_log_softmax_backward(out, x, target, g, mean):
    dev = _device(out.device.index)
    d = x.dtype.name
    threads, blocks = dev.variants(("softmax", d), f"ts_nll_log_softmax_{d}_backward", ("_threads", "_blocks"))
    n, c = x.shape
    rs, cs = x.strides
    args = (n, c, rs, cs, _ptr(out), _ptr(x), _ptr(target), target.strides[0], _ptr(g), np.int32(bool(mean)))
    how, block = plan_softmax(n, c, abs(cs) == 1, dev.sm_count)
    if how == "threads":
        dev.launch(threads, n, args)
    else:
        dev.launch_grid(blocks, (min(n, dev.max_blocks),), (block,), args)


# -- the nn families: kernels/cuda/nn.cu (geometry as in Note [Window geometry] of kernels/opencl/nn.cl) -----------

def _window_kernel(dev, op, d):
    return dev.kernel(("windows", d), f"ts_{op}_{d}")


def _launch_windows(op, out, src, image, windows, geometry, *extra):
    """One thread per element of ``out`` runs ts_<op> of ``src``'s dtype on out, src and its strides, the image's
    C, H, W (``image``: an NCHW shape), the windows OH, OW, ``geometry`` and ``extra``: the argument order of every
    kernel of the windows program (kernels/cuda/nn.cu) but the two passes of max_pool2d_backward."""
    dev = _device(out.device.index)
    _, C, H, W = image
    n = out.size
    dev.launch(_window_kernel(dev, op, src.dtype.name), n,
               (n, _ptr(out), _ptr(src), *src.strides, C, H, W, *windows, *geometry, *extra))


def im2col(out, x, geometry):
    _launch_windows("im2col", out, x, x.shape, pooled_size(*x.shape[2:], geometry), geometry)


def col2im(out, cols, geometry):
    _launch_windows("col2im", out, cols, out.shape, pooled_size(*out.shape[2:], geometry), geometry)


def max_pool2d(out, x, geometry):
    _launch_windows("max_pool2d", out, x, x.shape, out.shape[2:], geometry)


def max_pool2d_backward(out, grad, x, geometry):
    """Two passes: each window's argmax into a scratch buffer, then each pixel gathers the windows it won."""
    dev = _device(out.device.index)
    d = x.dtype.name
    _, C, H, W = out.shape
    OH, OW = grad.shape[2:]
    arg = dev.allocate(grad.size * 4)  # int32 tap indices; freed after the launches, in stream order
    dev.launch(_window_kernel(dev, "max_pool2d_argmax", d), grad.size,
               (grad.size, arg.ptr, _ptr(x), *x.strides, C, H, W, OH, OW, *geometry))
    dev.launch(_window_kernel(dev, "max_pool2d_backward", d), out.size,
               (out.size, _ptr(out), _ptr(grad), *grad.strides, arg.ptr, C, H, W, OH, OW, *geometry))


def avg_pool2d(out, x, geometry, count_include_pad):
    _launch_windows("avg_pool2d", out, x, x.shape, out.shape[2:], geometry, int(bool(count_include_pad)))


def avg_pool2d_backward(out, grad, geometry, count_include_pad):
    _launch_windows("avg_pool2d_backward", out, grad, out.shape, grad.shape[2:], geometry,
                    int(bool(count_include_pad)))


def take_along_axis(out, x, index, axis):
    dev = _device(out.device.index)
    d = x.dtype.name
    xs = list(x.strides)
    xs[axis] = 0  # x walks out's shape with no stride along the axis: the index supplies that position
    shape, st = coalesce(out.shape, (out.strides, index.strides, tuple(xs)))
    n = out.size
    dev.launch(dev.kernel(("take", d), f"ts_take_along_axis_{d}"), n,
               (n, _ptr(out), _ptr(x), _ptr(index), x.strides[axis], dev.layout(pack_layout(shape, st))))


def scatter_add(out, index, src, axis):
    if src.size == 0:  # nothing to add (out itself is never empty)
        return
    dev = _device(out.device.index)
    d = src.dtype.name
    other = [k for k in range(src.ndim) if k != axis]  # a thread per position of the other axes
    shape, st = coalesce([src.shape[k] for k in other], tuple([t.strides[k] for k in other] for t in (out, index, src)))
    n = _prod(shape)
    dev.launch(dev.kernel(("scatter", d), f"ts_scatter_add_{d}"), n,
               (n, src.shape[axis], _ptr(out), out.strides[axis], _ptr(index), index.strides[axis], _ptr(src),
                src.strides[axis], dev.layout(pack_layout(shape, st))))


# -- sorting (issue 8): CuPy's own sort (Thrust's stable sort, NaN last), Note [Sort order] in kernels/cpu/sort.cpp ----

def _sorting_view(t):
    """A CuPy array over tensor ``t``'s memory in its layout (no copy)."""
    itemsize = t.dtype.itemsize
    return _cp.ndarray(t.shape, dtype=t.dtype.numpy, memptr=t.buffer.handle + t.offset * itemsize,
                       strides=tuple(s * itemsize for s in t.strides))


@contextlib.contextmanager
def _sorting_stream(t):
    """CuPy's routines run on the device's own stream (Note [CUDA threads and streams])."""
    dev = _device(t.device.index)
    with dev.cuda, dev.stream:
        yield


def _stable_argsort(cp, a, axis, descending):
    """CuPy's argsort (Thrust's stable sort; "stable" is the one kind CuPy accepts) has NumPy's order; descending is
    the stable argsort of the flipped array, flipped back and counted from the end: ties keep their order and NaNs
    come first, as Note [Sort order] says."""
    if not descending:
        return cp.argsort(a, axis=axis, kind="stable")
    flipped = cp.flip(cp.argsort(cp.flip(a, axis=axis), axis=axis, kind="stable"), axis=axis)
    return a.shape[axis] - 1 - flipped


def _sort(values):
    def kernel(out, x, axis, descending):
        cp = _cp
        with _sorting_stream(out):
            a = _sorting_view(x)
            order = _stable_argsort(cp, a, axis, descending)
            _sorting_view(out)[...] = cp.take_along_axis(a, order, axis=axis) if values else order
    return kernel


def searchsorted(out, x1, x2, right, sorter):
    cp = _cp
    with _sorting_stream(out):
        found = cp.searchsorted(_sorting_view(x1), _sorting_view(x2), side="right" if right else "left",
                                sorter=None if sorter is None else _sorting_view(sorter))
        _sorting_view(out)[...] = found


def _register_sorting():
    for name, kernel in (("sort", _sort(True)), ("argsort", _sort(False)), ("searchsorted", searchsorted)):
        register_kernel(name, "cuda", optable.COVERAGE[name], kernel)


def register():
    """Register the cuda backend and its kernels.  Cheap: CuPy is imported on first use of a cuda device."""
    register_backend(_BACKEND)
    for op, info in optable.ELEMENTWISE.items():
        register_kernel(op, "cuda", info.dtypes, _elementwise(op, info.dtypes, info.arity))
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
        register_kernel(name, "cuda", optable.COVERAGE[name], kernel)
    _register_sorting()
    _register_interop()
    _register_linalg()
    _register_scans()


# -- interop (issue 8): DLPack and __cuda_array_interface__ (Note [DLPack exchange] in dispatch/interop.py) ----------

def _consumer_waits(dev, stream):
    """Order the consumer's ``stream`` (the Array API's value) after the work queued on ours.  None and 1 are the
    legacy default stream, which waits for our blocking stream by itself (Note [CUDA threads and streams]); -1 asks
    for no synchronisation; 2 is the per-thread default stream and anything larger a stream pointer: those wait on
    an event recorded on our stream.  0 is ambiguous and refused, as the standard says."""
    if stream is not None and (isinstance(stream, bool) or not isinstance(stream, int) or stream < -1 or stream == 0):
        raise ValueError(f"__dlpack__: stream must be None, -1, 1, 2 or a CUDA stream pointer, got {stream!r}")
    if stream is None or stream == 1 or stream == -1:
        return
    cp = _cp
    with dev.ctx:
        event = cp.cuda.Event(disable_timing=True)
        event.record(dev.stream)
        cp.cuda.ExternalStream(stream).wait_event(event)


def _dlpack_export(handle, offset, shape, strides, dtype, index, dl_dtype, versioned, minor, flags, stream):
    from .. import _cpu  # the capsule is built by the cpu module's DLPack code (kernels/cpu/dlpack.h)

    _consumer_waits(_device(index), stream)
    return _cpu.to_dlpack_device(handle, handle.ptr + offset * dtype.itemsize, list(shape), list(strides),
                                 dl_dtype[0], dl_dtype[1], 2, index, versioned, minor, flags)  # 2: kDLCUDA


def _dlpack_import(obj, index, dl_device, copy):
    from ..dispatch.dtypes import dtype as to_dtype
    from ..dispatch.interop import Imported

    cp, dev = _cp, _device(index)
    with dev.ctx, dev.stream:  # cupy.from_dlpack hands the current stream to the producer, which orders its work
        try:
            a = cp.from_dlpack(obj) if copy is None else cp.from_dlpack(obj, copy=copy)
            copied = copy is True
        except TypeError:  # a CuPy before 14 has no copy argument (and never copies): the core copies if asked
            if copy is None:
                raise
            a, copied = cp.from_dlpack(obj), False
    item = a.itemsize
    if a.size:
        lo = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s < 0)
        hi = sum((n - 1) * s for n, s in zip(a.shape, a.strides) if s > 0)
        nbytes, handle = hi - lo + item, a.data + lo  # the buffer starts at the lowest byte the array reaches
    else:
        lo, nbytes, handle = 0, 0, a.data
    return Imported(handle, nbytes, -lo // item, tuple(a.shape), tuple(s // item for s in a.strides),
                    to_dtype(a.dtype), False, copied)


def _cuda_array_interface(handle, byte_offset, index):
    """(pointer, stream): the data is ready once our stream's queued work is (1, the legacy default stream, if ours
    were the null stream)."""
    return handle.ptr + byte_offset, _device(index).stream.ptr or 1


def _register_interop():
    from ..dispatch.interop import DLDeviceType, register_dlpack

    register_dlpack("cuda", DLDeviceType.kDLCUDA, export=_dlpack_export, import_=_dlpack_import,
                    imports=(DLDeviceType.kDLCUDA, DLDeviceType.kDLCUDAManaged),
                    cuda_array_interface=_cuda_array_interface)


# -- linalg (issue 8): CuPy's cuSOLVER routines (cupy.linalg, cupyx.scipy.linalg) on the device's stream ---------------
#
# cupy.linalg reports a failed factorization only inside ``cupyx.errstate(linalg="raise")``; there a failing stack is
# redone a matrix at a time, so that only the failing matrix is NaN (Note [Kernel contract]).  CuPy has no batched LU:
# cupyx.scipy.linalg.lu_factor / lu_solve (getrf/getrs, pivots 0-based as ours) run per matrix.  Every routine takes
# complex64 and complex128 too (cuSOLVER's C and Z ones: potrf, getrf/getrs, geqrf/ungqr, heevd, gesvd): x^T reads x^H
# there, and eigenvalues and singular values are real (Note [Linalg dtypes] in dispatch/linalg.py).

def _linalg_view(t):
    """A CuPy array over tensor ``t``'s memory in its layout (no copy)."""
    itemsize = t.dtype.itemsize
    return _cp.ndarray(t.shape, dtype=t.dtype.numpy, memptr=t.buffer.handle + t.offset * itemsize,
                       strides=tuple(st * itemsize for st in t.strides))


@contextlib.contextmanager
def _linalg_context(t, report=True):
    """The device's stream; with ``report``, cuSOLVER's failures raise (LU's singular matrices must not: they factor
    all the same)."""
    import cupyx

    dev = _device(t.device.index)
    with dev.cuda, dev.stream, cupyx.errstate(linalg="raise" if report else "ignore"):
        yield


def _matrices_of(t):
    a = _linalg_view(t)
    return a.reshape((-1,) + a.shape[-2:])


def _per_matrix_or_nan(fn, a, shapes, real=()):
    """fn(stack) as a tuple, or matrix by matrix with NaN where cuSOLVER fails; the outputs whose indices ``real``
    lists (eigenvalues, singular values) are real for a complex stack."""
    try:
        return fn(a)
    except _cp.linalg.LinAlgError:
        parts = []
        part_dtype = np.finfo(a.dtype).dtype
        for m in a:
            try:
                parts.append(fn(m[None]))
            except _cp.linalg.LinAlgError:
                parts.append(tuple(_cp.full((1,) + shape, _cp.nan, part_dtype if i in real else a.dtype)
                                   for i, shape in enumerate(shapes)))
        return tuple(_cp.concatenate(p) for p in zip(*parts))


def _mH(a):
    """The conjugate transpose of a CuPy stack (the transpose of a real one)."""
    t = _cp.swapaxes(a, -1, -2)
    return _cp.conj(t) if a.dtype.kind == "c" else t


def _cuda_cholesky(out, x, upper):
    cp = _cp
    with _linalg_context(out):
        a = _matrices_of(x)
        sym = cp.tril(a) + _mH(cp.tril(a, -1))  # only x's lower triangle is read (Hermitian for complex x)
        n = a.shape[-1]
        (factor,) = _per_matrix_or_nan(lambda m: (cp.linalg.cholesky(m),), sym, [(n, n)])
        _linalg_view(out)[...] = (_mH(factor) if upper else factor).reshape(out.shape)  # U = L^H


def _cuda_lu(out, pivots, x):
    from cupyx.scipy import linalg as cl

    with _linalg_context(out, report=False):
        a = _matrices_of(x)
        o = _linalg_view(out).reshape(a.shape)
        p = _linalg_view(pivots).reshape(a.shape[:-1])
        for i in range(a.shape[0]):
            lu, piv = cl.lu_factor(a[i], check_finite=False)  # a singular matrix factors all the same
            o[i] = lu
            p[i] = piv


def _cuda_lu_solve(out, lu, pivots, b):
    from cupyx.scipy import linalg as cl

    with _linalg_context(out, report=False):
        f = _matrices_of(lu)
        piv = _linalg_view(pivots).reshape(f.shape[:-1])
        rhs = _matrices_of(b)
        o = _linalg_view(out).reshape(rhs.shape)
        for i in range(f.shape[0]):
            o[i] = cl.lu_solve((f[i], piv[i].astype(_cp.int32)), rhs[i], check_finite=False)


def _cuda_qr(q, r, x):
    cp = _cp
    with _linalg_context(q, report=False):
        a = _matrices_of(x)
        m, n = a.shape[-2:]
        mode = "complete" if q.shape[-1] == m and m > n else "reduced"
        qo, ro = _linalg_view(q).reshape((-1, m, q.shape[-1])), _linalg_view(r).reshape((-1,) + r.shape[-2:])
        for i in range(a.shape[0]):
            qq, rr = cp.linalg.qr(a[i], mode=mode)
            qo[i] = qq
            ro[i] = rr


def _cuda_eigh(w, v, x):
    cp = _cp
    with _linalg_context(w):
        a = _matrices_of(x)
        n = a.shape[-1]
        if v is None:
            (values,) = _per_matrix_or_nan(lambda m: (cp.linalg.eigvalsh(m, UPLO="L"),), a, [(n,)], real=(0,))
        else:
            values, vectors = _per_matrix_or_nan(lambda m: tuple(cp.linalg.eigh(m, UPLO="L")), a, [(n,), (n, n)],
                                                 real=(0,))
            _linalg_view(v)[...] = vectors.reshape(v.shape)
        _linalg_view(w)[...] = values.reshape(w.shape)


def _cuda_svd(s, u, vh, x):
    cp = _cp
    with _linalg_context(s):
        a = _matrices_of(x)
        m, n = a.shape[-2:]
        k = min(m, n)
        if u is None:
            (values,) = _per_matrix_or_nan(lambda t: (cp.linalg.svd(t, compute_uv=False),), a, [(k,)], real=(0,))
        else:
            full = u.shape[-1] == m and vh.shape[-2] == n and k != max(m, n)
            ku, kv = (m, n) if full else (k, k)
            uu, values, vv = _per_matrix_or_nan(lambda t: tuple(cp.linalg.svd(t, full_matrices=full)), a,
                                                [(m, ku), (k,), (kv, n)], real=(1,))
            _linalg_view(u)[...] = uu.reshape(u.shape)
            _linalg_view(vh)[...] = vv.reshape(vh.shape)
        _linalg_view(s)[...] = values.reshape(s.shape)


def _register_linalg():
    for name, kernel in (("cholesky", _cuda_cholesky), ("lu", _cuda_lu), ("lu_solve", _cuda_lu_solve),
                         ("qr", _cuda_qr), ("eigh", _cuda_eigh), ("svd", _cuda_svd)):
        register_kernel(name, "cuda", optable.COVERAGE[name], kernel)


# -- scans and array indexing (issue 8): kernels/cuda/scan.cu (Note [Parallel scans] of kernels/opencl/scan.cl) -----

def _scan_units(d):
    """The ops structs and instantiations of the scan program of dtype ``d``: cumsum and cumprod accumulate floats
    in double, complex numbers in double2 (ops_common.h's ts_cadd/ts_cmul of complex128), integers in unsigned 64-bit
    (which wraps: the stored low bits are the dtype's own wrapped answer), bool as bool (or / and); nonzero reads
    through ts_io_<d>; gather and put copy the storage bits."""
    from ..kernels import codegen

    kind = optable.KIND[d]
    acc = {"float": "double", "complex": "double2", "bool": "bool"}.get(kind, "unsigned long long")
    if kind == "complex":
        read = f"::ts::to_double2(ts_io_{d}::load(p, i))"
    elif kind == "bool":
        read = "(Acc)(ts_io_bool::load(p, i) != 0)"
    elif kind in ("int", "uint"):
        read = f"(Acc)(long long)ts_io_{d}::load(p, i)"
    else:
        read = f"(Acc)ts_io_{d}::load(p, i)"
    f = "static __device__ __forceinline__"
    units = []
    for name, product in (("cumsum", False), ("cumprod", True)):
        op = ("a && b" if product else "a || b") if kind == "bool" else ("a * b" if product else "a + b")
        identity = f"(Acc){int(product)}"
        if kind == "complex":
            op = f"ts_c{'mul' if product else 'add'}_complex128(a, b)"
            identity = codegen.complex_of("cuda", "complex128", (f"{float(product)}", "0.0"))
        units.append(f"struct ts_scan_{name}_{d} : ts_io_{d} {{\n    typedef {acc} Acc;\n"
                     f"    {f} Acc identity() {{ return {identity}; }}\n"
                     f"    {f} Acc op(Acc a, Acc b) {{ return (Acc)({op}); }}\n"
                     f"    {f} Acc read(const T* p, ::ts::i64 i) {{ return {read}; }}\n}};\n"
                     f"TS_SCAN_KERNELS(ts_{name}_{d}, ts_scan_{name}_{d})\n")
    bits = "unsigned short" if d == "float16" else codegen.ctype("cuda", d)
    units.append(f"TS_NONZERO_KERNELS(ts_nonzero_{d}, ts_io_{d})\nTS_GATHER_KERNELS(ts_index_{d}, {bits})\n")
    return "".join(units)


def scan_source(d):
    """The complete CUDA source of the scan program of dtype ``d`` (tests/test_scans.py compiles it with nvcc)."""
    from ..kernels.cuda_source import prelude

    return prelude() + _scan_units(d)


def _scan_kernel(dev, d, name):
    k = dev.kernels.get(name)
    if k is None:
        k = dev.kernels[name] = _cache.get(dev.index, ("scan", d), name, lambda: scan_source(d), COMPILE_OPTIONS)
    return k


def _cuda_cumulative(product):
    family = "cumprod" if product else "cumsum"

    def kernel(out, x, axis):
        dev = _device(out.device.index)
        d = x.dtype.name
        other = [i for i in range(x.ndim) if i != axis]
        shape, st = coalesce([x.shape[i] for i in other], ([out.strides[i] for i in other],
                                                           [x.strides[i] for i in other]))
        meta = dev.layout(pack_layout(shape, st))
        n = x.shape[axis]
        rows = out.size // n
        os_, xs = out.strides[axis], x.strides[axis]
        if n <= 64 or rows >= dev.max_blocks * MAX_BLOCK // 8:  # many rows: a thread each
            dev.launch(_scan_kernel(dev, d, f"ts_{family}_{d}_rows"), rows, (rows, n, _ptr(out), os_, _ptr(x), xs,
                                                                          meta))
            return
        blocks = max(1, min(-(-n // (4 * MAX_BLOCK)), max(1, dev.max_blocks // rows), 1024))
        per_item = -(-n // (blocks * MAX_BLOCK))
        acc_size = {"bool": 1, "complex": 16}.get(x.dtype.kind, 8)  # _scan_units' accumulator
        part = dev.allocate(rows * blocks * acc_size)  # back to the pool in stream order
        dev.launch_grid(_scan_kernel(dev, d, f"ts_{family}_{d}_block_totals"), (rows * blocks,), (MAX_BLOCK,),
                        (part.ptr, _ptr(x), n, xs, blocks, per_item, meta))
        dev.launch(_scan_kernel(dev, d, f"ts_{family}_{d}_block_prefix"), rows, (part.ptr, blocks, rows))
        dev.launch_grid(_scan_kernel(dev, d, f"ts_{family}_{d}_blocks"), (rows * blocks,), (MAX_BLOCK,),
                        (_ptr(out), os_, part.ptr, _ptr(x), n, xs, blocks, per_item, meta))
    return kernel


def _cuda_nonzero(out, x):
    dev = _device(out.device.index)
    d = x.dtype.name
    meta = dev.layout(pack_layout(x.shape, (x.strides,)))  # not coalesced: the coordinates are in x's own shape
    n = x.size
    groups = max(1, min(-(-n // (16 * MAX_BLOCK)), 4096))
    per_item = -(-n // (groups * MAX_BLOCK))
    counts = dev.allocate(groups * 8)
    dev.launch_grid(_scan_kernel(dev, d, f"ts_nonzero_{d}_count"), (groups,), (MAX_BLOCK,),
                    (counts.ptr, _ptr(x), n, per_item, meta))
    dev.launch_grid(_scan_kernel(dev, d, f"ts_nonzero_{d}_prefix"), (1,), (1,), (counts.ptr, groups))
    dev.launch_grid(_scan_kernel(dev, d, f"ts_nonzero_{d}_write"), (groups,), (MAX_BLOCK,),
                    (_ptr(out), out.shape[1], counts.ptr, _ptr(x), n, per_item, meta))


def _cuda_raw_offsets(indices, sizes, steps):
    """More index operands than the kernels take (4): each element's whole offset, summed by ops on the device."""
    from ..dispatch import dispatcher as d

    total = None
    for index, size, step in zip(indices, sizes, steps):
        term = d.binary("multiply", d.where(d.binary("less", index, 0), d.binary("add", index, size), index), step)
        total = term if total is None else d.binary("add", total, term)
    return total


def _cuda_index(kind, out, first, indices, sizes, steps, values=None):
    dev = _device(out.device.index)
    if len(indices) > 4:
        indices, count = [_cuda_raw_offsets(indices, sizes, steps)], -1
        sizes = steps = (0,)
    else:
        count = len(indices)
    args = []
    for j in range(4):
        args += [_ptr(indices[j]), sizes[j], steps[j]] if j < len(indices) else [0, 0, 0]
    strides = [first.strides] + [i.strides for i in indices] + [(0,) * out.ndim] * (4 - len(indices))
    strides.append(values.strides if values is not None else (0,) * out.ndim)
    shape, st = coalesce(out.shape, tuple(strides))
    meta = dev.layout(pack_layout(shape, st))
    d = out.dtype.name
    second = _ptr(first) if kind == "gather" else _ptr(values)
    dev.launch(_scan_kernel(dev, d, f"ts_index_{d}_{kind}"), out.size,
               (out.size, _ptr(out), second, meta, count, *args))


def _cuda_gather(out, x, indices, sizes, steps):
    _cuda_index("gather", out, x, indices, sizes, steps)


def _cuda_put(out, indices, sizes, steps, values):
    _cuda_index("put", out, out, indices, sizes, steps, values)


def _register_scans():
    for name, kernel in (("cumsum", _cuda_cumulative(False)), ("cumprod", _cuda_cumulative(True)),
                         ("nonzero", _cuda_nonzero), ("gather", _cuda_gather), ("put", _cuda_put)):
        register_kernel(name, "cuda", optable.COVERAGE[name], kernel)
