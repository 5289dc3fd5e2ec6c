"""The kernel registry: one table keyed by (op, device type, dtype).

Note [Kernel contract]
~~~~~~~~~~~~~~~~~~~~~~
A kernel is a Python callable registered for one (op, device type, dtype).  The dispatcher calls it only after it has
promoted dtypes, checked that all tensors share one device, broadcast shapes and allocated the output, so a kernel
only computes.  It never sees an empty output (the dispatcher handles size 0), but it does see 0-d tensors and any
strides: negative, zero (broadcast) and non-contiguous.  An output is never a broadcast view (writes into those are
refused before dispatch), but an input may share memory with the output only in the same layout (the dispatcher
copies an input that overlaps the output in any other layout first).  Float-to-integer conversions follow Note [Float
to integer casts] (dispatch/dtypes.py).  Tensors expose ``buffer.handle`` (the backend's memory),
``offset`` and ``strides`` (in elements), ``shape``, ``dtype``, ``device`` and ``is_contiguous``.

    family          signature                          the key dtype is   notes
    unary, binary   k(out, *inputs)                    the inputs'        ops of kernels/optable.py; inputs have
                                                                          out's shape; out dtype from the table
    where           k(out, cond, a, b)                 a's and b's        cond is bool
    astype          k(out, x)                          x's                out may be any supported dtype, same too
    fill            k(out, value)                      out's              value is a Python bool, an int in
                                                                          out's range, a float, or (for complex
                                                                          out) a Python complex (checked by the
                                                                          dispatcher); out may be strided
    arange          k(out, start, step)                out's              out is 1-D contiguous; out[i]=start+i*step
    rand, randn     k(out, seed, offset)               out's (floats)     Philox4x32-10, see Note [Random numbers]
    randint         k(out, seed, offset, low, high)    out's (integers)   in [low, high); high - low may be
                                                                          up to 2**64 (Note [Random numbers])
    sum prod max    k(out, x, axes)                    x's                axes: sorted non-empty tuple; out is
    min argmax                                                            contiguous, x.shape without axes; the
    argmin all any                                                        reduced extent is never empty; sum/prod
                                                                          of unsigned integers give uint64, of
                                                                          signed ones and bool int64, all/any
                                                                          bool, argmax/argmin int64 (first index,
                                                                          C order over the reduced axes)
    matmul          k(out, a, b)                       a's and b's        a (*B, M, K), b (*B, K, N) with batch dims
                                                                          broadcast; out (*B, M, N) contiguous;
                                                                          K >= 1
    softmax,        k(out, x, axis)                    x's (floats)       out contiguous, same shape; a row
    log_softmax                                                           whose max is +inf, holding a NaN, or
                                                                          all -inf is NaN throughout (PyTorch)

A float tensor raised to a Python 2, 0.5 or -1 reaches square, sqrt or reciprocal instead of pow where the device
has that kernel (Note [Scalar powers] in dispatch/dispatcher.py): a backend's pow sees those exponents only without it.

The nn families (dispatch/nnops.py) are 2-D, NCHW.  ``geometry`` is a tuple of 8 ints (KH, KW, SH, SW, PH, PW, DH, DW):
kernel size, stride, padding (zeros for im2col and avg, ignored for max) and dilation.  The dispatcher computes
OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1 (likewise OW; pooling's ceil_mode may add one: kernels take OH, OW from the
pooled tensor's shape), refuses OH < 1 or OW < 1 and allocates outputs contiguous; inputs may have any strides.

    im2col          k(out, x, geometry)                x's (floats)       x (N, C, H, W); out (N, C*KH*KW, OH*OW):
                                                                          out[n, (c*KH + i)*KW + j, oh*OW + ow] =
                                                                          x[n, c, oh*SH - PH + i*DH, ow*SW - PW +
                                                                          j*DW], 0 outside x
    col2im          k(out, cols, geometry)             cols' (floats)     out (N, C, H, W) contiguous, overwritten
                                                                          with the adjoint of im2col: each pixel the
                                                                          sum of every cols entry im2col reads from
                                                                          it (a gather, deterministic, no atomics)
    max_pool2d      k(out, x, geometry)                x's (floats)       out (N, C, OH, OW): max over the window's
                                                                          in-bounds positions; NaN propagates
    max_pool2d_     k(out, grad, x, geometry)          x's (floats)       out (N, C, H, W) contiguous, overwritten:
    backward                                                              each pixel the sum of grad over the windows
                                                                          whose argmax it is; argmax = the first
                                                                          maximum in window order (row-major over
                                                                          i, j), the first NaN if any (PyTorch's
                                                                          cpu kernel takes the last NaN)
    avg_pool2d      k(out, x, geometry,                x's (floats)       out = sum of in-bounds window elements /
                    count_include_pad)                                    divisor: KH*KW clipped to the padded input
                                                                          (window end at H + PH, PyTorch) if
                                                                          count_include_pad, else the in-bounds count
    avg_pool2d_     k(out, grad, geometry,             grad's (floats)    out (N, C, H, W) contiguous, overwritten
    backward        count_include_pad)                                    with the adjoint of avg_pool2d (same
                                                                          divisors); H, W from out.shape
    take_along_     k(out, x, index, axis)             x's (all 14)       out[p] = x[p with p[axis] = index[p]];
    axis                                                                  index int64 of out's shape (may be
                                                                          stride 0), values in [0, x.shape[axis]);
                                                                          x.shape == out.shape but along axis;
                                                                          ndim >= 1, 0 <= axis < ndim
    scatter_add     k(out, index, src, axis)           src's = out's      IN PLACE, out contiguous and holding the
                                                       (the 8 numeric)    start values: out[p with p[axis] =
                                                                          index[p]] += src[p] for every p of src;
                                                                          index int64 of src's shape (may be stride
                                                                          0), values in [0, out.shape[axis]);
                                                                          out.shape == src.shape but along axis;
                                                                          each output adds its terms in increasing
                                                                          p[axis] (parallel over the other dims only)
    -- sorting (issue 8) --
    sort,           k(out, x, axis, descending)        x's (real 12)      out contiguous with x's shape: x's dtype
    argsort                                                               (sort) or int64 positions along axis
                                                                          (argsort); x any strides, ndim >= 1,
                                                                          0 <= axis < ndim.  Stable in both
                                                                          directions, by Note [Sort order]
                                                                          (kernels/cpu/sort.cpp): -0.0 == +0.0,
                                                                          NaN above +inf (first when descending)
    searchsorted    k(out, x1, x2, right, sorter)      x1's = x2's        out int64 contiguous of x2's shape (x2
                                                       (real 12)          any strides, 0-d too): the count of x1
                                                                          elements before x2[p] in Note [Sort
                                                                          order], < (right False) or <= (True);
                                                                          x1 1-D, any stride, size >= 1; sorter
                                                                          None or int64 1-D of x1's size, values
                                                                          in [0, x1.size) (checked before)

The scans and array indexing (issue 8; dispatch/statistical.py, searching.py and indexing.py):

    cumsum,         k(out, x, axis)                    x's = out's        out[..., i, ...] = x[..., 0, ...] + ... +
    cumprod                                            (all 14)           x[..., i, ...] (or the product) along axis;
                                                                          out has x's shape, any strides, never
                                                                          overlaps x; ndim >= 1, 0 <= axis < ndim;
                                                                          floats accumulate in float64 where the
                                                                          device holds it (else at least float32)
                                                                          and round each output once; integers wrap in
                                                                          their own width (NumPy); bool is a running
                                                                          or (cumsum) / and (cumprod)
    nonzero         k(out, x)                          x's (all 14)       out (ndim, count) int64 contiguous, count
                                                                          >= 1 the number of nonzero elements of x
                                                                          (NaN is nonzero, -0.0 zero), found by the
                                                                          dispatcher (one host sync); out[d, k] =
                                                                          coordinate d of the k-th nonzero element in
                                                                          C order; x ndim >= 1, any strides
    gather          k(out, x, indices, sizes, steps)   x's (all 14)       out contiguous of shape S; x a view of
                                                                          shape S (stride 0 along the dims the
                                                                          indices supply); indices a list of int64
                                                                          tensors of shape S (any strides, 0 for
                                                                          broadcast), sizes and steps tuples of ints:
                                                                          out[p] = x[p + sum_j w_j * steps[j]] with
                                                                          w_j = indices[j][p], plus sizes[j] where
                                                                          negative; the dispatcher has checked every
                                                                          index lies in [-sizes[j], sizes[j])
    put             k(out, indices, sizes, steps,      out's = values'    IN PLACE: out is a view of shape S of the
                    values)                            (all 14)           tensor written (stride 0 along the dims the
                                                                          indices supply), values of shape S (any
                                                                          strides): out[p + sum_j w_j * steps[j]] =
                                                                          values[p] for every p; where positions
                                                                          repeat, cpu writes in C order (the last
                                                                          wins, as NumPy), parallel devices any one

The linalg family (issue 8; dispatch/linalg.py).  x (*B, M, N) any strides, float32/float64 or complex64/complex128
(the key dtype); *B is shared by every operand (the dispatcher broadcasts, a stride of 0); outputs contiguous, never
empty; pivots int64.  For complex x read Hermitian for symmetric, unitary for orthonormal and L^H (the conjugate
transpose) for L^T; w and s are then real, of x's part dtype (float32 for complex64), the other outputs x's dtype.

    cholesky        k(out, x, upper)                   x's (floats)       out (*B, N, N): L (lower, zeros above) or
                                                                          L^T (upper) with x = L L^T, from x's lower
                                                                          triangle only; a matrix that is not
                                                                          positive definite (or holds NaN) is NaN
                                                                          throughout (the dispatcher raises
                                                                          LinAlgError)
    lu              k(out, pivots, x)                  x's (floats)       out (*B, N, N) the packed factors of
                                                                          partial pivoting (unit L below the
                                                                          diagonal, U on and above: LAPACK getrf);
                                                                          pivots (*B, N) int64, 0-based: row i was
                                                                          swapped with row pivots[i], i = 0, 1, ...
                                                                          in turn; a singular x is factored all
                                                                          the same (a zero on U's diagonal)
    lu_solve        k(out, lu, pivots, b)              b's (floats)       out (*B, N, K) = A^-1 b for the factors of
                                                                          A as lu writes them (lu, pivots, b any
                                                                          strides, batch strides 0 where
                                                                          broadcast); U has no zero on its diagonal
                                                                          (checked before); N, K >= 1
    qr              k(q, r, x)                         x's (floats)       q (*B, M, Kq), r (*B, Kq, N), Kq = M
                                                                          (complete) or min(M, N) (reduced), from
                                                                          q's shape: x = q r, q orthonormal columns,
                                                                          r upper triangular (Householder; r's
                                                                          diagonal of either sign); N >= 1
    eigh            k(w, v, x)                         x's (floats)       w (*B, N) the eigenvalues, ascending, of
                                                                          the symmetric matrix in x's lower
                                                                          triangle; v (*B, N, N) their orthonormal
                                                                          eigenvectors as columns, or None (values
                                                                          only); no convergence: NaN
    svd             k(s, u, vh, x)                     x's (floats)       s (*B, K), K = min(M, N) >= 1, the
                                                                          singular values, descending; u (*B, M, Ku)
                                                                          and vh (*B, Kv, N) with x = u diag(s) vh,
                                                                          Ku = Kv = K or Ku = M, Kv = N (full), or
                                                                          both None (values only); no convergence:
                                                                          NaN

Fused ops (Note [Fused cross entropy] in kernels/cpu/module.cpp): one kernel where the composition takes several.
They are optional for a backend: without the kernel the dispatcher runs the composition (so a plugin need not write
them), and where a backend registers one the conformance suite checks it like any other.  x (N, C) any strides, N
>= 1, C >= 1; target int64 (N,) any stride.

    nll_log_softmax k(out, x, target, mean)            x's (floats)       out 0-d: -sum_i log_softmax(x[i])[target[i]]
                                                                          (a non-finite row gives NaN, as
                                                                          log_softmax), over N when mean.  Returns
                                                                          None, or the first target (in row order)
                                                                          outside [0, C), out then unspecified
    nll_log_softmax_ k(out, x, target, g, mean)        x's (floats)       out (N, C) contiguous, overwritten:
    backward                                                              softmax(x[i])[j] * c - (c where j ==
                                                                          target[i]), c = g / N (mean) or g, g a 0-d
                                                                          tensor of x's dtype on x's device; every
                                                                          target lies in [0, C) (checked before)
    linear          k(out, x, wt, b)                   x's (floats)       out (M, N) contiguous = x @ wt + b: x (M, K),
                                                                          wt (K, N) (a Linear's weight transposed: a
                                                                          view) any strides, b (N,) any stride,
                                                                          broadcast over the rows; M, N >= 1, K >= 0
                                                                          (K = 0: every row is b).  PyTorch's addmm

Note [Random numbers]
~~~~~~~~~~~~~~~~~~~~~
Every backend draws the same numbers for the same seed.  Element ``i`` (linear index of the contiguous output) takes
the Philox4x32-10 block (Random123's constants: M0=0xD2511F53, M1=0xCD9E8D57, W0=0x9E3779B9, W1=0xBB67AE85) with
key (k0, k1) = (seed & 0xffffffff, seed >> 32) and counter (c0, c1, c2, c3) = (i & 0xffffffff, i >> 32,
offset & 0xffffffff, offset >> 32), where ``offset`` counts the generator's calls; x0..x3 are the four output words.
    rand     float32: (x0 >> 8) * 2**-24;  float16: (x0 >> 21) * 2**-11 (stays below 1 after rounding);
             float64: ((x0 >> 5) * 2**26 + (x1 >> 6)) * 2**-53
    randn    u1 = (x0 + 1.0) * 2**-32, u2 = x1 * 2**-32 (in double where the device has it),
             z = sqrt(-2 log u1) * cos(2 pi u2), then cast
    randint  low + (((x1 << 32) | x0) % (high - low)), in unsigned 64-bit arithmetic; the span high - low
             (up to 2**64) reaches kernels as an unsigned 64-bit number, 0 standing for 2**64 (the bits as they are)
"""

import inspect
import logging
import os
import threading

from . import errors
from .dtypes import DTYPES, check_dtype_name

__all__ = ["Registry", "registry", "register_kernel", "OPS"]

from ..kernels import optable

#: every op a kernel can be registered for, with its family
OPS = {name: ("unary" if op.arity == 1 else "binary") for name, op in optable.ELEMENTWISE.items()}
OPS.update({name: "reduction" for name in optable.REDUCTIONS})
OPS.update({"where": "where", "astype": "astype", "fill": "fill", "arange": "arange", "rand": "random",
            "randn": "random", "randint": "random", "matmul": "matmul", "softmax": "softmax",
            "log_softmax": "softmax", "im2col": "convolution", "col2im": "convolution", "max_pool2d": "pooling",
            "max_pool2d_backward": "pooling", "avg_pool2d": "pooling", "avg_pool2d_backward": "pooling",
            "take_along_axis": "indexing", "scatter_add": "indexing"})
# -- fused ops: optional for a backend, which without the kernel runs the composition (Note [Fused cross entropy])
OPS.update({"nll_log_softmax": "cross_entropy", "nll_log_softmax_backward": "cross_entropy", "linear": "linear"})
# -- scans and array indexing (issue 8): the cumsum to put rows of Note [Kernel contract] ---------------------------
OPS.update({"cumsum": "scan", "cumprod": "scan", "nonzero": "scan", "gather": "gather", "put": "gather"})
OPS.update({"sort": "sorting", "argsort": "sorting", "searchsorted": "sorting"})  # -- sorting (issue 8)
# -- linalg (issue 8): the cholesky to svd rows of Note [Kernel contract] (dispatch/linalg.py)
OPS.update({name: "linalg" for name in ("cholesky", "lu", "lu_solve", "qr", "eigh", "svd")})

log = logging.getLogger("tensorswitch.dispatch")

#: the built-in cpu kernels of the binary elementwise ops -> (op code, dtype code, result dtype code): the
#: dispatcher runs those in one C call (binary_new, kernels/cpu/module.cpp) where the layout allows; a kernel a
#: plugin registers for "cpu" instead is not in here and runs as any other
BUILTIN_CPU_BINARY = {}
#: the built-in cpu reduction kernels -> their reduction code (the C++ module's reduce_ops): the dispatcher reduces
#: all of a contiguous tensor, or its last axis, in one C call (reduce_new, kernels/cpu/module.cpp)
BUILTIN_CPU_REDUCE = {}
#: the built-in cpu matmul kernel (one element): the dispatcher multiplies two BLAS-ready matrices in one C call
#: (matmul_new, kernels/cpu/module.cpp)
BUILTIN_CPU_MATMUL = set()
#: binary elementwise kernels of a backend that launches them (opencl) -> {device index: (contiguous launch,
#: broadcast-b launch, work-group size, allocate)}, filled by the backend on a device's first use of the kernel: the
#: dispatcher then makes the result and launches in one C call (launch_binary, kernels/cpu/module.cpp)
LAUNCHED_BINARY = {}


class KernelEntry:
    __slots__ = ("fn", "op", "device_type", "dtype", "site")

    def __init__(self, fn, op, device_type, dtype, site):
        self.fn, self.op, self.device_type, self.dtype, self.site = fn, op, device_type, dtype, site

    def __repr__(self):
        return f"<kernel {self.op}[{self.device_type}, {self.dtype.name}] {getattr(self.fn, '__qualname__', self.fn)}" \
               f" from {self.site}>"


class Registry:
    """Which kernel runs each (op, device type, dtype).  ``ts.registry`` is the one instance."""

    def __init__(self):
        self._entries = {}     # (op, device type, DType) -> KernelEntry
        self.fast = {}         # (op, device type, DType) -> callable: the per-call lookup, kept in step at
        #                        registration (see STYLE: resolve at registration, look up per call)
        self.by_op = {op: {} for op in OPS}  # op -> {(device type, DType): callable}, the same, split per op
        self._fallbacks = {}   # device type -> fallback device type
        self._warned = set()
        self._lock = threading.RLock()  # registration and plugin roll-back; lookups need none (dict reads)

    # -- registration -------------------------------------------------------------------------------------------

    def register(self, op, device, dtypes, fn, override=False, site=None):
        if op not in OPS:
            raise errors.RegistrationError(f"cannot register a kernel for unknown op {op!r}."
                                           f"{errors.did_you_mean(op, OPS)}")
        device_type = str(device).split(":")[0]
        if isinstance(dtypes, str) or not hasattr(dtypes, "__iter__"):
            dtypes = [dtypes]
        keys = [(op, device_type, check_dtype_name(getattr(d, "name", d))) for d in dtypes]
        if not keys:
            raise errors.RegistrationError(f"register_kernel({op!r}, device={device_type!r}): no dtypes given")
        if not callable(fn):
            raise errors.RegistrationError(f"register_kernel({op!r}, device={device_type!r}): the kernel must be "
                                           f"callable, got {type(fn).__name__}")
        with self._lock:
            if not override:
                for key in keys:
                    old = self._entries.get(key)
                    if old is not None:
                        raise errors.RegistrationError(
                            f"a kernel for ({op}, {device_type}, {key[2].name}) is already registered at "
                            f"{old.site}; pass override=True to replace it")
            for key in keys:
                self._entries[key] = KernelEntry(fn, op, device_type, key[2], site or "<unknown>")
                self.fast[key] = fn
                self.by_op[op][key[1:]] = fn
        return fn

    def unregister(self, op=None, device=None, dtype=None):
        """Remove matching kernels (for tests and plugin teardown)."""
        with self._lock:
            for e in self.kernels(op, device, dtype):
                key = (e.op, e.device_type, e.dtype)
                del self._entries[key]
                self.fast.pop(key, None)
                self.by_op[e.op].pop(key[1:], None)

    def snapshot(self):
        """The registrations now, for :meth:`restore` (a plugin whose ``register()`` fails is rolled back)."""
        with self._lock:
            return dict(self._entries)

    def restore(self, snapshot):
        """Put the registrations back to ``snapshot``: entries added since are removed, replaced ones restored."""
        with self._lock:
            for key in [k for k in self._entries if k not in snapshot or self._entries[k] is not snapshot[k]]:
                del self._entries[key]
                self.fast.pop(key, None)
                self.by_op[key[0]].pop(key[1:], None)
            for key, entry in snapshot.items():
                if key not in self._entries:
                    self._entries[key] = entry
                    self.fast[key] = entry.fn
                    self.by_op[key[0]][key[1:]] = entry.fn

    # -- queries ------------------------------------------------------------------------------------------------

    def kernels(self, op=None, device=None, dtype=None):
        """The registered kernels matching the filters, as entries with ``op``, ``device_type``, ``dtype``,
        ``fn`` and ``site``."""
        device_type = None if device is None else str(device).split(":")[0]
        dt = None if dtype is None else check_dtype_name(getattr(dtype, "name", dtype))
        return [e for (o, t, d), e in sorted(self._entries.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2].code))
                if (op is None or o == op) and (device_type is None or t == device_type) and (dt is None or d is dt)]

    def dtypes(self, op, device):
        """The dtypes that have a kernel for ``op`` on ``device``'s type."""
        t = str(device).split(":")[0]
        return [d for d in DTYPES if (op, t, d) in self._entries]

    def has_kernel(self, op, device, dtype):
        return (op, str(device).split(":")[0], dtype) in self._entries

    def coverage(self, device=None):
        """{op: tuple of dtype names}: with no ``device``, what every built-in backend claims (``kernels/optable.py``
        ``COVERAGE``, the list a plugin author can aim at); with a device (type), what is registered for it now.

        >>> import tensorswitch as ts
        >>> ts.registry.coverage()["matmul"][:2]
        ('int8', 'int16')
        """
        if device is None:
            return {op: tuple(optable.COVERAGE[op]) for op in sorted(OPS)}
        from .device import _backend, backend_names

        t = str(device).split(":")[0]
        if t not in backend_names():
            _backend(t)  # loads the plugin that provides it, or says the device type is unknown
        out = {}
        for (o, dt_type, d) in sorted(self._entries, key=lambda k: (k[0], k[2].code)):
            if dt_type == t:
                out.setdefault(o, ())
                out[o] += (d.name,)
        return out

    def missing(self, op, device, dtype):
        """The error for a missing kernel, listing what does exist where it can be used."""
        from .device import device as get_device, usable_device_types

        supported = device.supported_dtypes()
        same_device = [d.name for d in DTYPES if (op, device.type, d) in self._entries and d in supported]
        other = [t for t in usable_device_types() if t != device.type and (op, t, dtype) in self._entries and
                 dtype in get_device(t).supported_dtypes()]
        return errors.kernel_not_found(op, device, dtype, same_device, other, (op, "cpu", dtype) in self._entries)

    # -- fallback -----------------------------------------------------------------------------------------------

    def set_fallback(self, device_type, fallback):
        if fallback is None:
            self._fallbacks.pop(device_type, None)
        else:
            self._fallbacks[device_type] = fallback

    def fallback_for(self, device_type):
        return self._fallbacks.get(device_type)

    def warn_fallback(self, op, device_type, fallback):
        if (op, device_type) not in self._warned:
            self._warned.add((op, device_type))
            errors.warn(f"{op} has no kernel on {device_type!r}; running it on {fallback!r} and copying the "
                        f"result back (ts.set_fallback). This is slow.")

    def __repr__(self):
        return self.table()

    def table(self):
        """Coverage as text: a row per op, a column per device type, each cell the dtypes with a kernel."""
        types = sorted({t for (_, t, _) in self._entries}, key=lambda t: (t != "cpu", t))
        short = {"bool": "b", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8",
                 "uint16": "u16", "uint32": "u32", "uint64": "u64", "float16": "f16", "float32": "f32", "float64": "f64",
                 "complex64": "c64", "complex128": "c128"}
        width = sum(len(s) + 1 for s in short.values())
        ops = sorted({o for (o, _, _) in self._entries})
        first = max([14] + [len(op) + 1 for op in ops])  # a long name (max_pool2d_backward) keeps its columns
        lines = [f"{'op':<{first}}" + "".join(f"{t:<{width + 2}}" for t in types)]
        for op in ops:
            cells = []
            for t in types:
                cells.append(" ".join(short[d.name] if (op, t, d) in self._entries else "." * len(short[d.name])
                                      for d in sorted(DTYPES, key=errors.reading_order)))
            lines.append(f"{op:<{first}}" + "".join(f"{c:<{width + 2}}" for c in cells))
        return "\n".join(lines)


registry = Registry()


def _caller_site(depth=2):
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            frame = frame.f_back
        return f"{os.path.relpath(frame.f_code.co_filename) if not frame.f_code.co_filename.startswith('<') else frame.f_code.co_filename}:{frame.f_lineno}"
    except (AttributeError, ValueError):
        return "<unknown>"
    finally:
        del frame


def register_kernel(op, device, dtypes, fn=None, *, override=False):
    """Register ``fn`` as the kernel of ``op`` on ``device`` (a device type) for each of ``dtypes``.

    Used as a decorator or called directly.  Registering an existing key raises, naming where the earlier kernel was
    registered, unless ``override=True``.  See Note [Kernel contract] for what the kernel receives.

    >>> import tensorswitch as ts
    >>> @ts.register_kernel("relu", device="doctest_dev", dtypes=["float32"])
    ... def relu(out, x):
    ...     pass
    >>> ts.registry.has_kernel("relu", "doctest_dev", ts.float32)
    True
    """
    site = _caller_site()
    if fn is not None:
        return registry.register(op, device, dtypes, fn, override, site)

    def decorate(f):
        return registry.register(op, device, dtypes, f, override, site)

    return decorate
