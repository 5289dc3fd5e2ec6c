"""The cpu backend: memory from the C++ pool in ``tensorswitch._cpu``, kernels in ``kernels/cpu/`` (C++, a thread pool of its own).

float32/float64 matmul goes to a real BLAS when ``scipy-openblas32`` is installed (the ``blas`` extra); without it
our own loop runs.  Memory comes from a caching pool (Note [CPU memory pool] in ``kernels/cpu/module.cpp``: size
classes, a cap of 256 MiB by default, ``TENSORSWITCH_CPU_CACHE_LIMIT``).  A request of 256 MiB or more is first held
against what the process can really get (MemAvailable, and the cgroup's memory limit less its usage): one that cannot
fit is a MemoryError, where Linux's overcommit would let it through and the OOM killer end the process later.  Kernels
run on several threads above a grain of 32768 elements (``TENSORSWITCH_CPU_GRAIN``, ``OMP_NUM_THREADS``), matmul
included: the BLAS is kept on one thread and each of our threads multiplies a block (Note [Matmul threads] in
``kernels/cpu/module.cpp``).  The threads claim chunks of the work, so that a thread another process has descheduled
never holds a kernel up (Note [Thread pool] in ``kernels/cpu/pool.h``).
"""

from ..dispatch.backend import Backend
from ..dispatch.device import register_backend
from ..dispatch.dtypes import DTYPES
from ..dispatch.registry import BUILTIN_CPU_BINARY, BUILTIN_CPU_MATMUL, BUILTIN_CPU_REDUCE, register_kernel
from ..kernels import optable

_cpu = None  # tensorswitch._cpu, imported in initialize()
_U64 = (1 << 64) - 1


def _int64_bits(value):
    """``value`` (a Python int within the dtype's range) as the int64 with its low 64 bits: uint64 values from 2**63
    up pass as negative int64s, and the kernels' wrapping stores give the bits back."""
    return ((int(value) + (1 << 63)) & _U64) - (1 << 63)


def _module():
    from .. import _cpu as module  # cheap after the first import

    return module


def set_num_threads(n):
    """Run the cpu kernels, matmul included, on ``n`` threads (the default: ``OMP_NUM_THREADS``, else every
    core).  OpenBLAS itself stays on one thread: matmul splits its work across these threads instead (Note [Matmul
    threads] in ``kernels/cpu/module.cpp``).

    ``n`` is an int (anything with ``__index__``, but not a bool: 1.5 and True are a TypeError) from 1 to
    ``max(256, 4 * os.cpu_count())`` (``thread_limit()``), else a ValueError: tens of thousands of threads exhaust the
    process's, and more threads than that cannot make a kernel faster.

    >>> from tensorswitch.backends import cpu
    >>> old = cpu.get_num_threads()
    >>> cpu.set_num_threads(1); cpu.get_num_threads()
    1
    >>> cpu.set_num_threads(old)
    """
    _module().set_num_threads(n)  # checks n first, with errors that name set_num_threads (kernels/cpu/module.cpp)


def thread_limit():
    """The most threads ``set_num_threads`` accepts: ``max(256, 4 * os.cpu_count())``."""
    return _module().thread_limit()


def get_num_threads():
    """How many threads the cpu kernels use."""
    return _module().get_num_threads()


def empty_cache():
    """Give the blocks cached by the cpu memory pool back to the system (live tensors keep theirs).

    >>> from tensorswitch.backends import cpu
    >>> cpu.empty_cache(); cpu.memory_stats()["cached_bytes"]
    0
    """
    _module().empty_cache()


def memory_stats():
    """The cpu memory pool's statistics: a dict of ``allocated_bytes`` (live blocks), ``peak_allocated_bytes``,
    ``cached_bytes``, ``cache_limit_bytes``, ``allocation_count`` and ``cache_hits`` (see Note [CPU memory pool] in
    ``kernels/cpu/module.cpp``).

    >>> from tensorswitch.backends import cpu
    >>> sorted(cpu.memory_stats())[:2]
    ['allocated_bytes', 'allocation_count']
    """
    return _module().memory_stats()


class CPUBackend(Backend):
    """The host: one device, every dtype."""

    name = "cpu"

    def initialize(self):
        global _cpu
        from .. import _cpu as module

        _cpu = module
        _load_mkl() or _load_blas()  # Note [Which BLAS]
        self.allocate = module.allocate  # same signature, one Python frame less on every op's allocation

    def device_count(self):
        return 1

    def supported_dtypes(self, index):
        return frozenset(DTYPES)

    def allocate(self, nbytes, index):
        return _module().allocate(nbytes, index)

    def copy_in(self, handle, offset, host, index):
        _cpu.copy_in(handle, offset, host)

    def copy_out(self, handle, offset, host, index):
        _cpu.copy_out(handle, offset, host)

    def copy_between(self, dst, dst_offset, dst_index, src, src_offset, src_index, nbytes):
        _cpu.copy_between(dst, dst_offset, src, src_offset, nbytes)

    def memory_limit(self, index):
        """Physical memory, or the process's cgroup memory limit where lower (Note [CPU memory pool])."""
        return _module().memory_limit()

    def empty_cache(self, index):
        empty_cache()

    def memory_stats(self, index):
        return memory_stats()

    def describe(self, index):
        return f"cpu ({_cpu.max_threads() if _cpu else '?'} threads, BLAS: {BLAS or 'none (our own loop)'})"


# Note [Which BLAS]
# ~~~~~~~~~~~~~~~~
# float32/float64 matmul calls a real BLAS's cblas_sgemm/cblas_dgemm when one is installed: Intel's MKL (the ``mkl``
# extra, ``pip install mkl``) first, else OpenBLAS (``scipy-openblas32``, the ``blas`` extra), else our own loop.
# MKL is 15-30% faster than OpenBLAS on the training shapes here (x @ W.T of a batch of 128 by 784x256 on one
# AVX-512 core) and is what PyTorch's CPU wheels use.  Either is run on one thread, its sequential layer: matmul
# splits across our threads instead (Note [Matmul threads] in kernels/cpu/module.cpp).
# ``TENSORSWITCH_BLAS=openblas`` (or ``mkl``, ``none``) picks one; ``BLAS`` says which was loaded.

BLAS = None  # "mkl", "openblas" or None (our own loop), set at initialize()


def _blas_choice():
    import os

    choice = os.environ.get("TENSORSWITCH_BLAS", "").strip().lower()
    if choice not in ("", "mkl", "openblas", "none"):
        import warnings

        warnings.warn(f"TENSORSWITCH_BLAS={choice!r} is not one of mkl, openblas, none: ignored", RuntimeWarning)
        return ""
    return choice


def _mkl_library():
    """The path of MKL's single dynamic library from the ``mkl`` wheel (it installs into ``<prefix>/lib``), or
    None."""
    import glob
    import os
    import sys

    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, os.path.expanduser("~/.local"))):
        found = sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        if found:
            return found[-1]
    return None


def _load_mkl():
    """Hand MKL's cblas_sgemm/dgemm/cgemm/zgemm to the C++ module, on MKL's sequential layer; True if it did."""
    global BLAS
    if _blas_choice() not in ("", "mkl"):
        return False
    path = _mkl_library()
    if path is None:
        return False
    import ctypes

    try:
        lib = ctypes.CDLL(path)
        set_layer = lib.MKL_Set_Threading_Layer
        set_layer.argtypes = [ctypes.c_int]
        if set_layer(1) != 1:  # MKL_THREADING_SEQUENTIAL; must come before the first MKL call
            return False
        s = ctypes.cast(lib.cblas_sgemm, ctypes.c_void_p).value
        d = ctypes.cast(lib.cblas_dgemm, ctypes.c_void_p).value
        c = ctypes.cast(lib.cblas_cgemm, ctypes.c_void_p).value
        z = ctypes.cast(lib.cblas_zgemm, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return False  # not the MKL we know: try OpenBLAS
    _cpu.set_blas(s, d)
    _cpu.set_complex_blas(c, z)
    BLAS = "mkl"
    return True


def _load_blas():
    """Hand OpenBLAS's cblas_sgemm/dgemm/cgemm/zgemm to the C++ module, if the package is installed, and keep
    OpenBLAS on one thread: its own pthreads and ours would fight over the cores (Note [Matmul threads]
    in ``kernels/cpu/module.cpp``), so matmul splits the work across our threads and each calls OpenBLAS."""
    global BLAS
    if _blas_choice() == "none":
        return
    try:
        import ctypes
        import os

        import scipy_openblas32 as blas
    except ImportError:
        return
    try:
        lib_dir = blas.get_lib_dir()
        name = next(f for f in os.listdir(lib_dir) if f.startswith(f"lib{blas.get_library()}") and ".so" in f)
        lib = ctypes.CDLL(os.path.join(lib_dir, name))
        prefix = blas.get_symbol_prefix() if hasattr(blas, "get_symbol_prefix") else "scipy_"
        s = ctypes.cast(getattr(lib, f"{prefix}cblas_sgemm"), ctypes.c_void_p).value
        d = ctypes.cast(getattr(lib, f"{prefix}cblas_dgemm"), ctypes.c_void_p).value
        c = ctypes.cast(getattr(lib, f"{prefix}cblas_cgemm"), ctypes.c_void_p).value
        z = ctypes.cast(getattr(lib, f"{prefix}cblas_zgemm"), ctypes.c_void_p).value
        set_threads = getattr(lib, f"{prefix}openblas_set_num_threads")
    except (OSError, StopIteration, AttributeError):
        return  # not the OpenBLAS we know: our own matmul loop runs
    set_threads.argtypes = [ctypes.c_int]
    set_threads(1)  # before the first product: a multi-threaded OpenBLAS under our threads would oversubscribe
    _cpu.set_blas(s, d)
    _cpu.set_complex_blas(c, z)
    BLAS = "openblas"


# -- kernels: thin adapters from tensors to the C++ entry points (see Note [Kernel contract]) ------------------------

_flat_layouts = {}  # (shape, strides) -> whether the elements fill [offset, offset + size) in some dim order


def _flat(shape, strides):
    """Whether a tensor of this layout covers its ``size`` elements from its offset on without gaps (contiguous up
    to a permutation of the dims, strides positive).  Operands that share such a layout line up element for element
    in memory, so an elementwise op on them is the flat loop (Note [Elementwise result layout])."""
    key = (shape, strides)
    flat = _flat_layouts.get(key)
    if flat is None:
        if len(_flat_layouts) > 8192:
            _flat_layouts.clear()
        dims = sorted((i for i in range(len(shape)) if shape[i] != 1), key=lambda i: -strides[i])
        acc = 1
        flat = True
        for i in reversed(dims):
            if strides[i] != acc:
                flat = False
                break
            acc *= shape[i]
        _flat_layouts[key] = flat
    return flat


def _unary(code, dt, odt, unary_contig):
    def kernel(out, x):
        if out.is_contiguous and x.is_contiguous or out.strides == x.strides and _flat(out.shape, out.strides):
            unary_contig(code, dt, odt, out.size, out.buffer.handle, out.offset, x.buffer.handle, x.offset)
        else:
            _cpu.unary(code, dt, odt, out.shape, out.buffer.handle, out.offset, out.strides, x.buffer.handle,
                       x.offset, x.strides)
    return kernel


def _binary(code, dt, odt, binary_contig):
    def kernel(out, a, b):
        if out.is_contiguous and a.is_contiguous and b.is_contiguous or \
                out.strides == a.strides == b.strides and _flat(out.shape, out.strides):
            binary_contig(code, dt, odt, out.size, out.buffer.handle, out.offset, a.buffer.handle, a.offset,
                          b.buffer.handle, b.offset)
        elif out.is_contiguous and (a.is_contiguous or not any(a.strides)) and (b.is_contiguous or not any(b.strides)):
            # contiguous or a broadcast scalar each: one flat loop, no shape to walk
            _cpu.binary_flat(code, dt, odt, out.size, out.buffer.handle, out.offset, a.buffer.handle, a.offset,
                             1 if a.is_contiguous else 0, b.buffer.handle, b.offset, 1 if b.is_contiguous else 0)
        else:
            _cpu.binary(code, dt, odt, out.shape, out.buffer.handle, out.offset, out.strides, a.buffer.handle,
                        a.offset, a.strides, b.buffer.handle, b.offset, b.strides)
    return kernel


def where(out, cond, a, b):
    _cpu.where(out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides, cond.buffer.handle,
               cond.offset, cond.strides, a.buffer.handle, a.offset, a.strides, b.buffer.handle, b.offset, b.strides)


def astype(out, x):
    _cpu.astype(x.dtype.code, out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides,
                x.buffer.handle, x.offset, x.strides)


def fill(out, value):
    # a float value goes as a double and converts like astype (Note [Float to integer casts]): 0.5 fills bool with
    # True, 300.7 fills int8 with 44; an integer one goes as int64 and wraps (uint64 from 2**63 up as its bits)
    # (a complex dtype takes the real and imaginary parts as two doubles)
    if out.dtype.kind == "complex":
        v = complex(value)
        _cpu.fill(out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides, v.real, 0, True, v.imag)
    elif out.dtype.kind == "float" or isinstance(value, float):
        _cpu.fill(out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides, float(value), 0, True, 0.0)
    else:
        _cpu.fill(out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides, 0.0, _int64_bits(value),
                  False, 0.0)


def arange(out, start, step):
    if out.dtype.kind == "float":
        _cpu.arange(out.dtype.code, out.size, out.buffer.handle, out.offset, float(start), float(step), 0, 0)
    else:
        _cpu.arange(out.dtype.code, out.size, out.buffer.handle, out.offset, 0.0, 0.0, _int64_bits(start),
                    _int64_bits(step))


def _random(kind):
    def kernel(out, seed, offset, low=0, high=1):
        # low as int64 and the span high - low modulo 2**64 as uint64 (up to 2**64: randint(-2**63, 2**63) gives 0,
        # which the kernel reads as 2**64); see Note [Random numbers]
        _cpu.random(kind, out.dtype.code, out.size, out.buffer.handle, out.offset, int(seed) & _U64,
                    int(offset) & _U64, _int64_bits(low), (int(high) - int(low)) & _U64)
    return kernel


def _reduction(op, reduce_rows=None, code=None):
    def kernel(out, x, axes):
        shape = x.shape
        if code is not None and x.is_contiguous and axes and axes[0] == len(shape) - len(axes):
            # all of x, or its trailing axes (axes come sorted and distinct): rows of contiguous elements, one per
            # output, through the METH_FASTCALL entry (the general one's lists cost more than a small reduction)
            rows = out.size
            reduce_rows(code, x.dtype.code, out.dtype.code, rows, x.size // rows, out.buffer.handle, out.offset,
                        x.buffer.handle, x.offset)
            return
        strides = x.strides  # properties: read once, not once per dimension
        keep = [i for i in range(len(shape)) if i not in axes]
        _cpu.reduce(op, x.dtype.code, x.buffer.handle, x.offset, [shape[i] for i in keep], [strides[i] for i in keep],
                    [shape[i] for i in axes], [strides[i] for i in axes], out.buffer.handle, out.offset,
                    out.dtype.code)
    return kernel


def _blas_ready(rows, cols, rs, cs):
    """A BLAS can read a matrix whose rows or columns are contiguous; anything else is copied first."""
    return (cs == 1 and rs >= max(1, cols)) or (rs == 1 and cs >= max(1, rows)) or rows == 1 or cols == 1


def _copy(t):
    """A contiguous copy of ``t`` (the dispatcher imports this module, so it is imported on first use)."""
    from ..dispatch.dispatcher import astype

    return astype(t, t.dtype)


def matmul(out, a, b):
    # the per-call path of every product (Linear runs three a step): plain indexing, no helper per operand
    m, k = a.shape[-2], a.shape[-1]
    n = b.shape[-1]
    a_strides, b_strides = a.strides, b.strides
    if not _blas_ready(m, k, a_strides[-2], a_strides[-1]):
        a = _copy(a)
        a_strides = a.strides
    if not _blas_ready(k, n, b_strides[-2], b_strides[-1]):
        b = _copy(b)
        b_strides = b.strides
    _cpu.matmul(out.dtype.code, out.shape[:-2], out.buffer.handle, out.offset, a.buffer.handle, a.offset,
                a_strides[:-2], a_strides[-2], a_strides[-1], b.buffer.handle, b.offset, b_strides[:-2],
                b_strides[-2], b_strides[-1], m, n, k)


def linear(out, x, wt, b):
    # the fused linear (Note [Kernel contract] row linear): out = x @ wt + b, x (M, K), wt (K, N), b (N,)
    m, k = x.shape
    n = wt.shape[1]
    if not _blas_ready(m, k, x.strides[0], x.strides[1]):
        x = _copy(x)
    if not _blas_ready(k, n, wt.strides[0], wt.strides[1]):
        wt = _copy(wt)
    _cpu.linear(out.dtype.code, out.buffer.handle, out.offset, x.buffer.handle, x.offset, x.strides[0], x.strides[1],
                wt.buffer.handle, wt.offset, wt.strides[0], wt.strides[1], b.buffer.handle, b.offset, b.strides[0], m,
                n, k)


def _softmax(log):
    def kernel(out, x, axis):
        shape = x.shape
        if x.is_contiguous and axis == len(shape) - 1:  # the common case, rows: no products to take (n > 0)
            n = shape[axis]
            return _cpu.softmax(log, x.dtype.code, x.buffer.handle, x.offset, out.buffer.handle, out.offset,
                                x.size // n, n, 1)
        if not x.is_contiguous:
            from ..dispatch.dispatcher import contiguous

            x = contiguous(x)
        n = shape[axis]
        if axis == len(shape) - 1:
            outer, inner = x.size // n, 1
        else:
            outer = inner = 1
            for s in shape[:axis]:
                outer *= s
            for s in shape[axis + 1:]:
                inner *= s
        _cpu.softmax(log, x.dtype.code, x.buffer.handle, x.offset, out.buffer.handle, out.offset, outer, n, inner)
    return kernel


# -- the nn families: NCHW images and the geometry tuple (KH, KW, SH, SW, PH, PW, DH, DW), see Note [Kernel contract]

def im2col(out, x, geometry):
    _cpu.im2col(x.dtype.code, x.buffer.handle, x.offset, x.shape, x.strides, out.buffer.handle, out.offset, out.shape,
                geometry)


def col2im(out, cols, geometry):
    _cpu.col2im(cols.dtype.code, cols.buffer.handle, cols.offset, cols.strides, out.buffer.handle, out.offset,
                out.shape, geometry)


def max_pool2d(out, x, geometry):
    _cpu.max_pool2d(x.dtype.code, x.buffer.handle, x.offset, x.shape, x.strides, out.buffer.handle, out.offset,
                    out.shape, geometry)


def max_pool2d_backward(out, grad, x, geometry):
    _cpu.max_pool2d_backward(x.dtype.code, grad.buffer.handle, grad.offset, grad.shape, grad.strides, x.buffer.handle,
                             x.offset, x.shape, x.strides, out.buffer.handle, out.offset, geometry)


def avg_pool2d(out, x, geometry, count_include_pad):
    _cpu.avg_pool2d(x.dtype.code, x.buffer.handle, x.offset, x.shape, x.strides, out.buffer.handle, out.offset,
                    out.shape, geometry, bool(count_include_pad))


def avg_pool2d_backward(out, grad, geometry, count_include_pad):
    _cpu.avg_pool2d_backward(grad.dtype.code, grad.buffer.handle, grad.offset, grad.shape, grad.strides,
                             out.buffer.handle, out.offset, out.shape, geometry, bool(count_include_pad))


def take_along_axis(out, x, index, axis):
    _cpu.take_along_axis(x.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides, x.buffer.handle,
                         x.offset, x.strides, x.shape[axis], index.buffer.handle, index.offset, index.strides, axis)


def scatter_add(out, index, src, axis):
    _cpu.scatter_add(src.dtype.code, src.shape, out.buffer.handle, out.offset, out.shape[axis], index.buffer.handle,
                     index.offset, index.strides, src.buffer.handle, src.offset, src.strides, axis)


def nll_log_softmax(out, x, target, mean):
    # None, or the first target outside [0, C) (then nothing is computed: the caller raises or takes another path)
    return _cpu.nll_log_softmax(x.dtype.code, out.buffer.handle, out.offset, x.buffer.handle, x.offset, x.shape[0],
                                x.shape[1], x.strides[0], x.strides[1], target.buffer.handle, target.offset,
                                target.strides[0], bool(mean))


def nll_log_softmax_backward(out, x, target, g, mean):
    _cpu.nll_log_softmax_backward(x.dtype.code, out.buffer.handle, out.offset, x.buffer.handle, x.offset, x.shape[0],
                                  x.shape[1], x.strides[0], x.strides[1], target.buffer.handle, target.offset,
                                  target.strides[0], g.buffer.handle, g.offset, bool(mean))


# -- sorting (issue 8): kernels/cpu/sort.cpp, Note [Sort order] -------------------------------------------------------

def _sort(values):
    def kernel(out, x, axis, descending):
        (_cpu.sort if values else _cpu.argsort)(x.dtype.code, x.shape, x.buffer.handle, x.offset, x.strides, axis,
                                                descending, out.buffer.handle, out.offset)
    return kernel


def searchsorted(out, x1, x2, right, sorter):
    s = sorter  # None, or int64 indices of x1's length
    _cpu.searchsorted(x1.dtype.code, x1.buffer.handle, x1.offset, x1.shape[0], x1.strides[0],
                      None if s is None else s.buffer.handle, 0 if s is None else s.offset,
                      0 if s is None else s.strides[0], x2.shape, x2.buffer.handle, x2.offset, x2.strides,
                      bool(right), out.buffer.handle, out.offset)


def _register_sorting():
    for name, kernel in (("sort", _sort(True)), ("argsort", _sort(False)), ("searchsorted", searchsorted)):
        register_kernel(name, "cpu", optable.COVERAGE[name], kernel)


def register():
    """Register the cpu backend and its kernels (cheap: the C++ module loads on first use)."""
    register_backend(CPUBackend())
    from .. import _cpu as module  # the op codes are the table order the C++ module was generated from

    unary_codes = {name: i for i, name in enumerate(module.unary_ops)}
    binary_codes = {name: i for i, name in enumerate(module.binary_ops)}
    codes = {d.name: d.code for d in DTYPES}
    for name, op in optable.ELEMENTWISE.items():
        for dt in op.dtypes:  # one adapter per dtype, with the dtype codes bound: nothing to look up per call
            if op.arity == 1:
                make = _unary(unary_codes[name], codes[dt], codes[op.result_dtype(dt)], module.unary_contig)
            else:
                make = _binary(binary_codes[name], codes[dt], codes[op.result_dtype(dt)], module.binary_contig)
                BUILTIN_CPU_BINARY[make] = (binary_codes[name], codes[dt], codes[op.result_dtype(dt)])
            register_kernel(name, "cpu", [dt], make)
    kernels = {"where": where, "astype": astype, "fill": fill, "arange": arange, "rand": _random("rand"),
               "randn": _random("randn"), "randint": _random("randint"), "matmul": matmul,
               "softmax": _softmax(False), "log_softmax": _softmax(True), "im2col": im2col, "col2im": col2im,
               "max_pool2d": max_pool2d, "max_pool2d_backward": max_pool2d_backward, "avg_pool2d": avg_pool2d,
               "avg_pool2d_backward": avg_pool2d_backward, "take_along_axis": take_along_axis,
               "scatter_add": scatter_add, "nll_log_softmax": nll_log_softmax,
               "nll_log_softmax_backward": nll_log_softmax_backward, "linear": linear}
    BUILTIN_CPU_MATMUL.add(matmul)
    reduce_codes = {name: i for i, name in enumerate(module.reduce_ops)}
    for name in optable.REDUCTIONS:
        kernels[name] = _reduction(name, module.reduce_rows, reduce_codes.get(name))
        if name in reduce_codes:
            BUILTIN_CPU_REDUCE[kernels[name]] = reduce_codes[name]
    for name, kernel in kernels.items():
        register_kernel(name, "cpu", optable.COVERAGE[name], kernel)
    _register_sorting()
    _register_interop()
    _register_scans()
    _register_linalg()


# -- scans and array indexing (issue 8): cumsum, cumprod, nonzero, gather, put (kernels/cpu/scan.cpp) ---------------

def _cumulative(product):
    def kernel(out, x, axis):
        _cpu.cumulative(x.dtype.code, product, x.shape, axis, out.buffer.handle, out.offset, out.strides,
                        x.buffer.handle, x.offset, x.strides)
    return kernel


def _nonzero(out, x):
    _cpu.nonzero(x.dtype.code, x.shape, x.buffer.handle, x.offset, x.strides, out.buffer.handle, out.offset,
                 out.shape[1])


def _index_operands(indices, sizes, steps):
    return [(i.buffer.handle, i.offset, i.strides, size, step) for i, size, step in zip(indices, sizes, steps)]


def _gather(out, x, indices, sizes, steps):
    _cpu.gather(x.dtype.code, out.shape, out.buffer.handle, out.offset, x.buffer.handle, x.offset, x.strides,
                _index_operands(indices, sizes, steps))


def _put(out, indices, sizes, steps, values):
    _cpu.put(out.dtype.code, out.shape, out.buffer.handle, out.offset, out.strides,
             _index_operands(indices, sizes, steps), values.buffer.handle, values.offset, values.strides)


def _register_scans():
    for name, kernel in (("cumsum", _cumulative(False)), ("cumprod", _cumulative(True)), ("nonzero", _nonzero),
                         ("gather", _gather), ("put", _put)):
        register_kernel(name, "cpu", optable.COVERAGE[name], kernel)


# -- linalg (issue 8): LAPACK from scipy-openblas32, kernels/cpu/linalg.cpp (Note [LAPACK from scipy-openblas32]) -----

_lapack = []  # [True] once the routines were handed over, [False] when they cannot be had: looked for once


def _load_lapack():
    """Hand the LAPACK routines of scipy-openblas32 to the C++ module (by address, as ``_load_blas`` does for
    cblas_sgemm); True when every one of them was found.  OpenBLAS is already held to one thread by ``_load_blas``."""
    if _lapack:
        return _lapack[0]
    ok = False
    try:
        import ctypes
        import os

        import scipy_openblas32 as blas

        lib_dir = blas.get_lib_dir()
        name = next(f for f in os.listdir(lib_dir) if f.startswith(f"lib{blas.get_library()}") and ".so" in f)
        lib = ctypes.CDLL(os.path.join(lib_dir, name))
        prefix = blas.get_symbol_prefix() if hasattr(blas, "get_symbol_prefix") else "scipy_"
        module = _module()
        # every routine in s, d, c and z (sgetrf ... zgesdd, cungqr, zheevd: Note [Complex LAPACK]), all or none
        addresses = [(i, precision, ctypes.cast(getattr(lib, f"{prefix}{name}_"), ctypes.c_void_p).value)
                     for i, precision, name in module.lapack_symbols]
        for i, precision, address in addresses:
            module.set_lapack(i, precision, address)
        ok = module.has_lapack()
    except (ImportError, OSError, StopIteration, AttributeError):
        ok = False
    _lapack.append(ok)
    return ok


def _linalg_kernel(op, run):
    def kernel(*args):
        if not (_lapack[0] if _lapack else _load_lapack()):
            from ..dispatch import errors

            raise errors.lapack_missing(op)
        run(*args)
    kernel.__qualname__ = f"cpu_{op}"
    return kernel


def _layout(t):
    """(memory, offset, batch strides, row stride, column stride) of a batch of matrices."""
    st = t.strides
    return t.buffer.handle, t.offset, st[:-2], st[-2], st[-1]


def _cholesky(out, x, upper):
    _cpu.cholesky(x.dtype.code, out.shape[:-2], x.shape[-1], *_layout(x), out.buffer.handle, out.offset, bool(upper))


def _lu(out, pivots, x):
    _cpu.lu(x.dtype.code, out.shape[:-2], x.shape[-1], *_layout(x), out.buffer.handle, out.offset,
            pivots.buffer.handle, pivots.offset)


def _lu_solve(out, lu, pivots, b):
    _cpu.lu_solve(b.dtype.code, out.shape[:-2], b.shape[-2], b.shape[-1], *_layout(lu), pivots.buffer.handle,
                  pivots.offset, pivots.strides[:-1], pivots.strides[-1], *_layout(b), out.buffer.handle, out.offset)


def _qr(q, r, x):
    _cpu.qr(x.dtype.code, q.shape[:-2], x.shape[-2], x.shape[-1], q.shape[-1], *_layout(x), q.buffer.handle,
            q.offset, r.buffer.handle, r.offset)


def _eigh(w, v, x):
    _cpu.eigh(x.dtype.code, w.shape[:-1], x.shape[-1], *_layout(x), w.buffer.handle, w.offset,
              None if v is None else v.buffer.handle, 0 if v is None else v.offset)


def _svd(s, u, vh, x):
    vectors = u is not None
    _cpu.svd(x.dtype.code, s.shape[:-1], x.shape[-2], x.shape[-1], u.shape[-1] if vectors else 0,
             vh.shape[-2] if vectors else 0, *_layout(x), s.buffer.handle, s.offset,
             u.buffer.handle if vectors else None, u.offset if vectors else 0, vh.buffer.handle if vectors else None,
             vh.offset if vectors else 0)


def _register_linalg():
    for name, run in (("cholesky", _cholesky), ("lu", _lu), ("lu_solve", _lu_solve), ("qr", _qr), ("eigh", _eigh),
                      ("svd", _svd)):
        register_kernel(name, "cpu", optable.COVERAGE[name], _linalg_kernel(name, run))


# -- interop (issue 8): DLPack capsules over pool memory, and imports as foreign memory -----------------------------
# (Note [DLPack exchange] in dispatch/interop.py, Note [Foreign memory] in kernels/cpu/module.cpp)

def _dlpack_export(handle, offset, shape, strides, dtype, index, dl_dtype, versioned, minor, flags, stream):
    return _cpu.to_dlpack(handle, offset, shape, strides, dtype.code, dl_dtype[0], dl_dtype[1], versioned, minor,
                          flags)  # a cpu tensor exists, so initialize() has set _cpu


def _dlpack_import(obj, index, dl_device, copy):
    from ..dispatch import interop

    capsule, took_copy = interop.request_capsule(obj, dl_device=dl_device, copy=copy)
    memory, offset, shape, strides, code, bits, read_only, copied, _, _ = _module().from_dlpack(
        capsule, interop.dlpack_dtypes())
    return interop.Imported(memory, _module().size(memory), offset, tuple(shape), tuple(strides),
                            interop.dtype_from_dlpack(code, bits), read_only, copied or (copy is True and took_copy))


def _register_interop():
    from ..dispatch.interop import DLDeviceType, register_dlpack

    # pinned host memory of CUDA and ROCm is host memory too: the cpu kernels can use it in place
    register_dlpack("cpu", DLDeviceType.kDLCPU, export=_dlpack_export, import_=_dlpack_import,
                    imports=(DLDeviceType.kDLCPU, DLDeviceType.kDLCUDAHost, DLDeviceType.kDLROCMHost))
