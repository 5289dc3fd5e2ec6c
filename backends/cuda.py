"""The cuda backend: memory from CuPy's pool, kernels compiled at run time by NVRTC through CuPy, cuBLAS for
float32/float64 matmul.

The kernel templates live in ``kernels/cuda/*.cu`` (one per op family) and their op functors and instantiations are
generated from the op table by ``kernels/cuda_source.py``; this module compiles one program per (family, dtype) on
first use and keeps the kernel objects; CuPy keeps the binaries in its on-disk kernel cache.  Everything above
``CUDABackend`` is plain Python that runs without CuPy (tests/test_cuda.py checks it with ``nvcc`` on machines
without a GPU).

Install with ``pip install "tensorswitch[cuda12]"`` or ``"tensorswitch[cuda13]"`` (CuPy for that CUDA major version).
"""

import collections
import contextlib
import ctypes
import threading

import numpy as np

from ..dispatch.backend import Backend, KernelCache
from ..dispatch.backend import coalesce as merge_dims
from ..dispatch.device import register_backend
from ..dispatch.dtypes import DTYPES
from ..dispatch.registry import register_kernel
from ..kernels import optable
from ..kernels.cuda_source import ALL, MAX_BLOCK, TILE, program_source

MAX_GRID_YZ = 65535    # CUDA's limit on gridDim.y and gridDim.z
META_CACHE_SIZE = 4096  # layouts kept on each device, see Note [Strided metadata] in kernels/cuda/common.cu


# -- launch planning and layouts (no CuPy needed) -------------------------------------------------------------------

def coalesce(shape, strides):
    """``dispatch.backend.coalesce`` as tuples, with at least one dim (the kernels index a non-empty layout).

    >>> coalesce((2, 3, 4), ((12, 4, 1), (0, 0, 1)))
    ((6, 4), ((4, 1), (0, 1)))
    """
    dims, st = merge_dims(shape, strides)
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
    """The little-endian bytes of ``value`` stored as ``dtype`` (a name), as an unsigned 64-bit integer: what the fill
    kernels reinterpret.  Integers wrap (as the cpu backend's static_cast does); bool is 0 or 1."""
    kind = optable.KIND[dtype]
    if kind == "float":
        with np.errstate(all="ignore"):
            raw = np.array([float(value)], np.float64).astype(dtype)
        return int(raw.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[raw.itemsize])[0])
    v = int(value)
    if kind == "bool":
        return int(v != 0)
    return v & ((1 << (8 * np.dtype(dtype).itemsize)) - 1)


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

_cp = None            # the cupy module, once imported
_cublas = None        # cupy_backends.cuda.libs.cublas
_import_error = None  # why cupy could not be imported
_probe_lock = threading.Lock()
_OWN_HALF = "-DTS_OWN_HALF"


def _import_cupy():
    global _cp, _cublas, _import_error
    if _cp is not None or _import_error is not None:
        return _cp
    with _probe_lock:
        if _cp is None and _import_error is None:
            try:
                import cupy
                try:
                    from cupy_backends.cuda.libs import cublas
                except ImportError:
                    from cupy.cuda import cublas
                _cublas = cublas
                _cp = cupy
            except Exception as exc:  # ImportError, or a CuPy built for another CUDA failing to load its libraries
                _import_error = exc
    return _cp


class CUDAError(RuntimeError):
    """A CUDA kernel failed to compile or launch."""


def _build(index, source, options):
    """Compile one program for device ``index`` with NVRTC (KernelCache's build hook)."""
    cp = _cp
    with cp.cuda.Device(index):
        try:
            raw = cp.RawModule(code=source, options=options, backend="nvrtc")
            # the loaded cupy.cuda.function.Module (compiled now, so errors surface here); its get_function gives
            # plain Functions, cheaper per launch than the RawKernels of RawModule.get_function
            return index, getattr(raw, "module", raw), options
        except cp.cuda.compiler.CompileException as exc:
            if "cuda_fp16" in str(exc) and _OWN_HALF not in options:
                return _build(index, source, tuple(options) + (_OWN_HALF,))
            raise CUDAError(f"NVRTC could not compile a tensorswitch CUDA program for device {index}:\n{exc}\n"
                            f"(the generated source comes from backends/cuda.py program_source)") from exc


def _function(program, name):
    """The launchable kernel ``name`` of a program (KernelCache's function hook), for the program's device."""
    index, module, _ = program
    with _cp.cuda.Device(index):
        return module.get_function(name)


_cache = KernelCache(_build, _function)


class _Device:
    """Per-device state: compiled kernels by name, the launch limits and the cached layout metadata."""

    def __init__(self, index, many):
        cp = _cp
        self.index = index
        self.cuda = cp.cuda.Device(index)
        # with one GPU it is always current; with several, each launch makes its device current
        self.ctx = self.cuda if many else contextlib.nullcontext()
        self.sm_count = int(self.cuda.attributes["MultiProcessorCount"])
        self.max_blocks = 32 * self.sm_count
        self.kernels = {}   # kernel name -> function
        self.families = {}  # base name -> (function per suffix)
        self.layouts = collections.OrderedDict()
        self.pool = cp.get_default_memory_pool()

    def kernel(self, program, name):
        k = self.kernels.get(name)
        if k is None:
            k = self.kernels[name] = _cache.get(self.index, program, name, lambda: program_source(program))
        return k

    def variants(self, program, base, suffixes=("_contig", "_strided1", "_strided")):
        k = self.families.get(base)
        if k is None:
            k = self.families[base] = tuple(self.kernel(program, base + s) for s in suffixes)
        return k

    def layout(self, meta):
        """The device copy of layout ``meta`` (a tuple of ints), uploaded once and kept (LRU)."""
        arr = self.layouts.get(meta)
        if arr is None:
            with self.cuda:
                arr = _cp.asarray(np.array(meta, dtype=np.int64))
            self.layouts[meta] = arr
            if len(self.layouts) > META_CACHE_SIZE:
                self.layouts.popitem(last=False)  # stream-ordered pool: a queued kernel still sees its data
        else:
            self.layouts.move_to_end(meta)
        return arr

    def launch(self, fn, n, args, block=MAX_BLOCK):
        with self.ctx:
            fn((grid_for(n, block, self.max_blocks),), (block,), args)


_devices = {}


def _device(index):
    d = _devices.get(index)
    if d is None:
        d = _devices.setdefault(index, _Device(index, _BACKEND.device_count() > 1))
    return d


def _ptr(t):
    return t.buffer.handle.ptr + t.offset * t.dtype.itemsize


class CUDABackend(Backend):
    """NVIDIA GPUs through CuPy: every dtype, one device per GPU."""

    name = "cuda"
    install_hint = 'pip install "tensorswitch[cuda12]" or "tensorswitch[cuda13]"'

    def __init__(self):
        self._count = None
        self._reason = None

    def initialize(self):
        self._probe()

    def _probe(self):
        if self._count is not None:
            return
        cp = _import_cupy()
        if cp is None:
            self._count = 0
            self._reason = (f"CuPy is not importable ({type(_import_error).__name__}: {_import_error}); install it "
                            f"with {self.install_hint} (the extra matching your CUDA driver's major version)")
            return
        try:
            count = int(cp.cuda.runtime.getDeviceCount())
        except Exception as exc:  # no driver, or a driver too old for this CuPy
            self._count = 0
            self._reason = (f"the CUDA driver reported an error ({type(exc).__name__}: {exc}); check that an NVIDIA "
                            f"driver is installed and supports the CUDA version CuPy was built for")
            return
        self._count = count
        self._reason = None if count else "no CUDA GPU was found (CUDA_VISIBLE_DEVICES may hide them)"

    def device_count(self):
        self._probe()
        return self._count

    def unavailable_reason(self):
        self._probe()
        return self._reason

    def supported_dtypes(self, index):
        return frozenset(DTYPES)

    def allocate(self, nbytes, index):
        dev = _device(index)
        with dev.cuda:
            return dev.pool.malloc(nbytes)  # a MemoryPointer; size 0 gives a null one

    def copy_in(self, handle, offset, host, index):
        if host.nbytes:
            with _device(index).cuda:
                stream = _cp.cuda.get_current_stream()
                (handle + offset).copy_from_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, stream)
                stream.synchronize()  # the host array may go away as soon as we return

    def copy_out(self, handle, offset, host, index):
        if host.nbytes:
            with _device(index).cuda:
                stream = _cp.cuda.get_current_stream()
                (handle + offset).copy_to_host_async(ctypes.c_void_p(host.ctypes.data), host.nbytes, stream)
                stream.synchronize()

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        if not nbytes:
            return
        if src_index != dst_index:
            self.synchronize(src_index)  # the source's pending writes land first
        with _device(dst_index).cuda:
            stream = _cp.cuda.get_current_stream()
            (dst + dst_offset).copy_from_async(src + src_offset, nbytes, stream)  # CuPy picks device or peer copy
            if src_index != dst_index:
                stream.synchronize()  # later work on the source device must not overtake the copy

    def synchronize(self, index):
        _device(index).cuda.synchronize()

    def describe(self, index):
        try:
            props = _cp.cuda.runtime.getDeviceProperties(index)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            return (f"cuda:{index} ({name}, {props['totalGlobalMem'] / 2 ** 30:.0f} GiB, "
                    f"sm_{props['major']}{props['minor']})")
        except Exception:
            return f"cuda:{index}"


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
    shape, st = coalesce(out.shape, tuple(t.strides for t in operands))
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
    bits = np.uint64(fill_bits(value, d))
    if out.is_contiguous:
        return dev.launch(contig, n, (n, _ptr(out), bits))
    shape, (so,) = coalesce(out.shape, (out.strides,))
    if len(shape) == 1:
        dev.launch(strided1, n, (n, _ptr(out), so[0], bits))
    else:
        dev.launch(strided, n, (n, _ptr(out), bits, dev.layout(pack_layout(shape, (so,)))))


def arange(out, start, step):
    dev = _device(out.device.index)
    d = out.dtype.name
    k = dev.kernel(("arange", d), f"ts_arange_{d}")
    n = out.size
    if out.dtype.kind == "float":
        dev.launch(k, n, (n, _ptr(out), float(start), float(step), 0, 0))
    else:
        dev.launch(k, n, (n, _ptr(out), 0.0, 0.0, int(start), int(step)))


_U64 = (1 << 64) - 1


def _random(op):
    def kernel(out, seed, offset, low=0, high=1):
        dev = _device(out.device.index)
        d = out.dtype.name
        k = dev.kernel(("random", d), f"ts_{op}_{d}")
        n = out.size
        args = (n, _ptr(out), np.uint64(int(seed) & _U64), np.uint64(int(offset) & _U64))
        if op == "randint":
            args += (int(low), int(high))
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
        with dev.ctx:
            if splits == 1:
                blocks((grid,), (block,), (n_outer, n_inner, 1, _ptr(out), 0, _ptr(x), meta))
                return
            partial = dev.pool.malloc(n_outer * splits * 16)  # 16 bytes hold any accumulator (argmax's is largest)
            blocks((grid,), (block,), (n_outer, n_inner, splits, _ptr(out), partial.ptr, _ptr(x), meta))
            partials((min(n_outer, dev.max_blocks),), (_pow2_block(splits),),
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
    name, _ = _GEMM[out.dtype.name]
    one, zero = _SCALARS[out.dtype.name]
    cublas = _cublas
    with dev.cuda:
        handle = _cp.cuda.device.get_cublas_handle()
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
    with dev.ctx:
        fn(grid, (TILE, TILE), (m, n, k, batches, _ptr(out), _ptr(a), a.strides[-2], a.strides[-1], _ptr(b),
                                b.strides[-2], b.strides[-1], meta))


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
            with dev.ctx:
                blocks((min(rows, dev.max_blocks),), (block,), args)
    return kernel


def register():
    """Register the cuda backend and its kernels.  Cheap: CuPy is imported on first use of a cuda device."""
    register_backend(_BACKEND)
    for op, info in optable.ELEMENTWISE.items():
        register_kernel(op, "cuda", info.dtypes, _elementwise(op, info.dtypes, info.arity))
    kernels = {"where": where, "astype": astype, "fill": fill, "arange": arange, "rand": _random("rand"),
               "randn": _random("randn"), "randint": _random("randint"), "matmul": matmul,
               "softmax": _softmax("softmax"), "log_softmax": _softmax("log_softmax")}
    kernels.update({name: _reduction(name) for name in optable.REDUCTIONS})
    for name, kernel in kernels.items():
        register_kernel(name, "cuda", optable.COVERAGE[name], kernel)
