"""The linalg extension of the Array API standard (``ts.linalg``), plus tensordot, vecdot and matrix_transpose, which
are also in the main namespace.

    >>> import tensorswitch as ts
    >>> a = ts.asarray([[4.0, 1.0], [1.0, 3.0]])
    >>> ts.linalg.solve(a, ts.asarray([1.0, 2.0])).tolist()
    [0.09090909361839294, 0.6363636255264282]
    >>> ts.linalg.det(a).item()
    11.0

Note [Linalg kernels]
~~~~~~~~~~~~~~~~~~~~~
The factorizations run the kernels of six registry ops (Note [Kernel contract] in dispatch/registry.py): ``cholesky``,
``lu`` (det, slogdet, solve, inv), ``lu_solve`` (solve, inv), ``qr``, ``eigh`` (eigh, eigvalsh) and ``svd`` (svd,
svdvals, pinv, matrix_rank, and the 2-, -2- and nuclear matrix norms).  Everything else (norms, trace, diagonal,
outer, cross, vecdot, tensordot, matrix_power) is composed here of ops every backend has (matmul, reductions,
elementwise, views), so it runs on every device and plugin and is differentiable through those ops.  Kernels are
looked up here rather than through ``dispatcher.run`` because most of them write two outputs: where a device lacks
one and ``ts.set_fallback`` names another, the whole factorization runs there (inputs moved with ``.to``, the results
moved back, one warning per op), which the dispatcher's one-output fallback could not do.

Note [Linalg dtypes]
~~~~~~~~~~~~~~~~~~~~
Factorizations compute in float32, float64, complex64 and complex128.  Integer and bool inputs are computed in the
default float dtype (float32), as ``mean`` does; float16 has no kernel, and its error names the function, device and
dtype and says to cast to float32.  The compositions keep the standard's dtypes: matmul, tensordot, vecdot, outer,
cross, trace and diagonal work on integers too (trace sums like ``sum``: unsigned integers give uint64, signed ones
int64), and on complex64 and complex128 (vecdot conjugates x1); so do vector_norm and the 'fro', 1, -1, inf and -inf
matrix norms (norms of |x|).

Complex input follows the standard (2024.12): ^T becomes ^H, the conjugate transpose.  cholesky gives L with
x = L L^H (upper: U = L^H); eigh reads a Hermitian matrix and gives real eigenvalues (float32 for complex64, float64
for complex128: ``real_dtype``) and complex eigenvectors, eigvalsh the real values; svd gives real singular values
and complex U and Vh, svdvals the real values, so matrix_rank and the 'nuc', 2 and -2 norms are real (the singular
values of x itself, not of |x|); pinv is V diag(1/S) U^H; det is complex, slogdet's sign a complex number of modulus
1 (0 for a singular matrix) and its logabsdet real; qr, solve, inv and matrix_power (negative powers too) stay
complex.  The kernels take and give those dtypes (Note [Kernel contract]): the cpu ones are LAPACK's c and z routines
(Note [Complex LAPACK] in kernels/cpu/linalg.cpp), cuda's cuSOLVER's through CuPy, opencl's its own (lu, lu_solve,
cholesky and qr: Note [OpenCL complex factorizations] in kernels/opencl/linalg.cl).  A backend without some complex
kernels (opencl's eigh and svd: kernels/optable.py COVERAGE_GAPS) raises KernelNotFoundError naming the function,
the device and the dtype, and runs them on the cpu with ``ts.set_fallback``; complex input is never cast to a real
dtype silently.

Singular matrices: ``solve`` and ``inv`` raise ``ts.linalg.LinAlgError`` (a ValueError, like NumPy's) when U of the
LU factorization has an exact zero on its diagonal (NumPy's test); ``det`` is then 0 and ``slogdet`` (0, -inf).
``cholesky`` raises it for a matrix that is not positive definite.
"""

import builtins
import math
from collections import namedtuple

import numpy as np

from . import dispatcher as d
from . import errors
from . import functions as F
from .dtypes import DTYPES, default_float, real_dtype
from .errors import LinAlgError
from .registry import registry
from .shapes import as_int, normalize_axes, normalize_axis
from .tensor import Tensor, make_tensor

__all__ = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
           "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd",
           "svdvals", "tensordot", "trace", "vecdot", "vector_norm", "LinAlgError", "EighResult", "QRResult",
           "SlogdetResult", "SVDResult"]

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])

_fast = registry.fast
_INT64 = DTYPES[4]


# -- inputs ---------------------------------------------------------------------------------------------------------

def _tensor(name, x, what="x"):
    if not isinstance(x, Tensor):
        hint = " Convert it with ts.asarray(...) first." if isinstance(x, (list, tuple, np.ndarray, int, float)) else ""
        raise TypeError(f"linalg.{name}: {what} must be a tensor, got {type(x).__name__}.{hint}")
    return x


_INEXACT = ("float", "complex")


def _matrices(name, x, square=False):
    """``x`` as a float or complex stack of matrices (..., M, N): see Note [Linalg dtypes]."""
    _tensor(name, x)
    if x.ndim < 2:
        raise errors.ShapeError(f"linalg.{name}: x must have at least two dimensions (a matrix or a stack of "
                                f"matrices (..., M, N)), got shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise errors.ShapeError(f"linalg.{name}: x must be square matrices (..., N, N), got shape {x.shape}")
    if x.dtype.kind not in _INEXACT:
        x = d.astype(x, default_float)
    return x


def _same_device(name, *xs):
    device = xs[0].device
    for x in xs[1:]:
        if x.device is not device:
            raise errors.device_mismatch(f"linalg.{name}", (device, x.device))


def _float_pair(name, x1, x2):
    """Two tensors on one device, promoted to one float or complex dtype."""
    _same_device(name, x1, x2)
    dt = d._PROMOTE[(x1.dtype, x2.dtype)]
    if dt.kind not in _INEXACT:
        dt = default_float
    return (x1 if x1.dtype is dt else d.astype(x1, dt)), (x2 if x2.dtype is dt else d.astype(x2, dt))


def _eps(dt):
    return float(np.finfo(dt.numpy).eps)


def _mH(x):
    """The conjugate transpose of the last two axes (a view for real x; conj copies complex x)."""
    return d.unary("conj", x).mT if x.dtype.kind == "complex" else x.mT


# -- kernels (Note [Linalg kernels]) ----------------------------------------------------------------------------------

def _kernels(name, ops, x):
    """The kernels of ``ops`` for x's device and dtype, or the fallback device type that has them all (warned once
    per op), or the error naming the public function, the kernel, the device and the dtype."""
    device, dt = x.device, x.dtype
    found = [_fast.get((op, device.type, dt)) for op in ops]
    if all(k is not None for k in found):
        return found, None
    if dt not in device.supported_dtypes():
        raise errors.unsupported_dtype(f"linalg.{name}", device, dt, device.supported_dtypes())
    fallback = registry.fallback_for(device.type)
    if fallback is not None and all((op, fallback, dt) in _fast for op in ops):
        for op, k in zip(ops, found):
            if k is None:
                registry.warn_fallback(op, device.type, fallback)
        return [None] * len(ops), fallback
    missing = [op for op, k in zip(ops, found) if k is None]
    raise errors.linalg_kernel_missing(f"linalg.{name}", missing, registry.missing(missing[0], device, dt), dt.name)


def _back(results, device):
    return tuple(None if r is None else r.to(device) for r in results)


def _lu(name, x):
    """(packed LU factors, int64 pivots) of the square stack x."""
    (k,), fallback = _kernels(name, ("lu",), x)
    if fallback is not None:
        return _back(_lu(name, x.to(fallback)), x.device)
    lu = d.empty(x.shape, x.dtype, x.device)
    pivots = d.empty(x.shape[:-1], _INT64, x.device)
    if lu.size:
        k(lu, pivots, x)
    return lu, pivots


def _diagonal_view(x, offset=0):
    """The ``offset``-th diagonals of the last two axes of x, as a strided view (no copy)."""
    m, n = x.shape[-2:]
    rs, cs = x.strides[-2:]
    if offset >= 0:
        length, start = builtins.max(0, builtins.min(m, n - offset)), x.offset + offset * cs
    else:
        length, start = builtins.max(0, builtins.min(m + offset, n)), x.offset - offset * rs
    if length == 0:
        start = x.offset
    return make_tensor(x.buffer, start, x.shape[:-2] + (length,), x.strides[:-2] + (rs + cs,), x.dtype, x.device)


def _any(x):
    """True when any element of the bool tensor x is true (one device-to-host read)."""
    return bool(x.size) and bool(F.any(x).item())


def _check_singular(name, lu):
    if lu.size and _any(d.binary("equal", _diagonal_view(lu), 0)):
        raise errors.singular_matrix(f"linalg.{name}", lu.shape)


def _lu_solve(name, lu, pivots, b):
    """A^-1 b from A's factors; b (..., N, K) float of lu's dtype; batches broadcast."""
    n, k_ = b.shape[-2:]
    batch = d.broadcast_shapes(f"linalg.{name}", lu.shape[:-2], b.shape[:-2])
    (k,), fallback = _kernels(name, ("lu_solve",), b)
    if fallback is not None:
        return _lu_solve(name, lu.to(fallback), pivots.to(fallback), b.to(fallback)).to(b.device)
    out = d.empty(batch + (n, k_), b.dtype, b.device)
    if out.size:
        k(out, d.expand(lu, batch + (n, n)), d.expand(pivots, batch + (n,)), d.expand(b, batch + (n, k_)))
    return out


def _solve(a, b):
    """The solve primitive (differentiated in dispatch/derivatives.py): a (..., N, N), b (..., N, K), one float
    dtype, batches broadcast."""
    _, fallback = _kernels("solve", ("lu", "lu_solve"), b)
    if fallback is not None:
        return _solve(a.to(fallback), b.to(fallback)).to(b.device)
    lu, pivots = _lu("solve", a)
    _check_singular("solve", lu)
    return _lu_solve("solve", lu, pivots, b)


def _inv(x):
    _, fallback = _kernels("inv", ("lu", "lu_solve"), x)
    if fallback is not None:
        return _inv(x.to(fallback)).to(x.device)
    lu, pivots = _lu("inv", x)
    _check_singular("inv", lu)
    n = x.shape[-1]
    eye = F.eye(n, dtype=x.dtype, device=x.device)
    return _lu_solve("inv", lu, pivots, d.expand(eye, x.shape[:-2] + (n, n)))


def _odd_permutation(pivots):
    """True where the pivots make an odd number of row swaps (bool, the batch's shape)."""
    n = pivots.shape[-1]
    swaps = F.sum(d.binary("not_equal", pivots, F.arange(n, dtype=_INT64, device=pivots.device)), axis=-1)
    return d.binary("equal", d.binary("remainder", swaps, 2), 1)


def _signed(odd, x):
    """-x where odd, else x: a negation, not a product with -1, which would make a complex inf NaN."""
    return d.where(odd, d.unary("negative", x), x)


def _det(x):
    lu, pivots = _lu("det", x)
    return _signed(_odd_permutation(pivots), F.prod(_diagonal_view(lu), axis=-1))


def _slogdet(x):
    lu, pivots = _lu("slogdet", x)
    diag = _diagonal_view(lu)
    # sign(z) = z / |z| for complex z (0 for 0): the product has modulus 1, or is 0 for a singular matrix
    sign = _signed(_odd_permutation(pivots), F.prod(d.unary("sign", diag), axis=-1))
    logabs = F.sum(d.unary("log", d.unary("abs", diag)), axis=-1)  # a zero pivot: log 0 = -inf
    return sign, logabs


def _cholesky(x, upper):
    (k,), fallback = _kernels("cholesky", ("cholesky",), x)
    if fallback is not None:
        return _cholesky(x.to(fallback), upper).to(x.device)
    out = d.empty(x.shape, x.dtype, x.device)
    if out.size:
        k(out, x, bool(upper))
        if _any(d.unary("isnan", out)):
            raise errors.not_positive_definite("linalg.cholesky", x.shape)
    return out


def _qr(x, complete):
    (k,), fallback = _kernels("qr", ("qr",), x)
    if fallback is not None:
        return _back(_qr(x.to(fallback), complete), x.device)
    m, n = x.shape[-2:]
    kq = m if complete else builtins.min(m, n)
    batch = x.shape[:-2]
    if n == 0:  # nothing to reflect: Q is the identity's first kq columns, R empty
        q = d.astype(d.expand(F.eye(m, kq, dtype=x.dtype, device=x.device), batch + (m, kq)), x.dtype)
        return q, d.empty(batch + (kq, n), x.dtype, x.device)
    q = d.empty(batch + (m, kq), x.dtype, x.device)
    r = d.empty(batch + (kq, n), x.dtype, x.device)
    if q.size:
        k(q, r, x)
    return q, r


def _eigh(name, x, vectors):
    (k,), fallback = _kernels(name, ("eigh",), x)
    if fallback is not None:
        return _back(_eigh(name, x.to(fallback), vectors), x.device)
    w = d.empty(x.shape[:-1], real_dtype(x.dtype), x.device)  # real for a Hermitian x
    v = d.empty(x.shape, x.dtype, x.device) if vectors else None
    if w.size:
        k(w, v, x)
    return w, v


def _svd(name, x, vectors, full):
    (k,), fallback = _kernels(name, ("svd",), x)
    if fallback is not None:
        return _back(_svd(name, x.to(fallback), vectors, full), x.device)
    m, n = x.shape[-2:]
    kk = builtins.min(m, n)
    batch = x.shape[:-2]
    s = d.empty(batch + (kk,), real_dtype(x.dtype), x.device)  # real for complex x
    if not vectors:
        if s.size:
            k(s, None, None, x)
        return None, s, None
    ku, kv = (m, n) if full else (kk, kk)
    if kk == 0:  # no singular values: U and Vh are identities (full) or empty, as LAPACK and NumPy give
        u = d.astype(d.expand(F.eye(m, ku, dtype=x.dtype, device=x.device), batch + (m, ku)), x.dtype)
        vh = d.astype(d.expand(F.eye(kv, n, dtype=x.dtype, device=x.device), batch + (kv, n)), x.dtype)
        return u, s, vh
    u = d.empty(batch + (m, ku), x.dtype, x.device)
    vh = d.empty(batch + (kv, n), x.dtype, x.device)
    if s.size:
        k(s, u, vh, x)
    return u, s, vh


# -- factorizations and solves ------------------------------------------------------------------------------------------

def cholesky(x, /, *, upper=False):
    """The Cholesky factor of each symmetric (complex: Hermitian) positive-definite matrix of ``x`` (..., N, N):
    L with x = L L^H (lower triangular; L^H the conjugate transpose, L^T for real x), or U = L^H with ``upper=True``.
    Only the lower triangle of x is read.

    >>> import tensorswitch as ts
    >>> ts.linalg.cholesky(ts.asarray([[4.0, 2.0], [2.0, 2.0]])).tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """
    return _cholesky(_matrices("cholesky", x, square=True), upper)


def solve(x1, x2, /):
    """The solution of x1 @ out = x2 for each square matrix of ``x1`` (..., M, M).  ``x2`` of shape (M,) is one
    right-hand side (the result is (..., M)); otherwise x2 is (..., M, K), batches broadcasting.  A singular matrix
    raises ``ts.linalg.LinAlgError``."""
    x1 = _matrices("solve", x1, square=True)
    _tensor("solve", x2, "x2")
    x1, x2 = _float_pair("solve", x1, x2)
    m = x1.shape[-1]
    vector = x2.ndim == 1
    if x2.ndim == 0 or x2.shape[-1 if vector else -2] != m:
        raise errors.ShapeError(f"linalg.solve: x2 must be (M,) or (..., M, K) with M = {m} (x1 is {x1.shape}), "
                                f"got shape {x2.shape}")
    if vector:
        return _solve(x1, x2.expand_dims(-1)).squeeze(-1)
    d.broadcast_shapes("linalg.solve", x1.shape[:-2], x2.shape[:-2])
    return _solve(x1, x2)


def inv(x, /):
    """The inverse of each square matrix of ``x`` (..., N, N); a singular matrix raises ``ts.linalg.LinAlgError``."""
    return _inv(_matrices("inv", x, square=True))


def det(x, /):
    """The determinant of each square matrix of ``x`` (..., N, N), from its LU factorization (0 for a singular
    matrix)."""
    return _det(_matrices("det", x, square=True))


def slogdet(x, /):
    """(sign, logabsdet) of the determinant of each square matrix of ``x``: det = sign * exp(logabsdet); a singular
    matrix gives (0, -inf).  A ``SlogdetResult`` namedtuple."""
    return SlogdetResult(*_slogdet(_matrices("slogdet", x, square=True)))


def qr(x, /, *, mode="reduced"):
    """The QR factorization of each matrix of ``x`` (..., M, N): Q with orthonormal columns and R upper triangular,
    as a ``QRResult(Q, R)``; ``mode="reduced"`` gives Q (..., M, K), R (..., K, N) with K = min(M, N),
    ``"complete"`` Q (..., M, M), R (..., M, N)."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"linalg.qr: mode must be 'reduced' or 'complete', got {mode!r}")
    return QRResult(*_qr(_matrices("qr", x), mode == "complete"))


def eigh(x, /):
    """The eigenvalues (ascending) and eigenvectors (as columns) of each symmetric (complex: Hermitian) matrix of
    ``x`` (..., N, N), read from its lower triangle: an ``EighResult(eigenvalues, eigenvectors)``; the eigenvalues are
    real (float32 for complex64, float64 for complex128)."""
    return EighResult(*_eigh("eigh", _matrices("eigh", x, square=True), True))


def eigvalsh(x, /):
    """The eigenvalues (ascending, real) of each symmetric (complex: Hermitian) matrix of ``x`` (..., N, N), read
    from its lower triangle."""
    return _eigh("eigvalsh", _matrices("eigvalsh", x, square=True), False)[0]


def svd(x, /, *, full_matrices=True):
    """The singular value decomposition x = U @ diag(S) @ Vh of each matrix of ``x`` (..., M, N), S descending: an
    ``SVDResult(U, S, Vh)``; U (..., M, M) and Vh (..., N, N) with ``full_matrices`` (the default), else
    (..., M, K) and (..., K, N), K = min(M, N).  S is real (float32 for complex64, float64 for complex128)."""
    return SVDResult(*_svd("svd", _matrices("svd", x), True, bool(full_matrices)))


def svdvals(x, /):
    """The singular values of each matrix of ``x`` (..., M, N), descending and real: shape (..., min(M, N))."""
    return _svd("svdvals", _matrices("svdvals", x), False, False)[1]


def _tolerance(name, s, rtol, shape):
    """The cutoff rtol * max(s) of each matrix (keepdims), rtol defaulting to max(M, N) * eps."""
    if rtol is None:
        rtol = builtins.max(shape[-2:]) * _eps(s.dtype)
    top = F.max(s, axis=-1, keepdims=True)
    if isinstance(rtol, Tensor):
        _same_device(name, s, rtol)
        rtol = d.astype(rtol, s.dtype) if rtol.dtype is not s.dtype else rtol
        rtol = rtol.expand_dims(-1)
    elif isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, (int, float, np.integer, np.floating)):
        raise TypeError(f"linalg.{name}: rtol must be a float, a tensor or None, got {type(rtol).__name__}")
    else:
        rtol = float(rtol)
    return d.binary("multiply", top, rtol)


def matrix_rank(x, /, *, rtol=None):
    """The number of singular values of each matrix of ``x`` above ``rtol * max(S)`` (``rtol``: a float, or a
    tensor broadcasting against the stack; default max(M, N) * eps): an int64 tensor of shape (...)."""
    x = _matrices("matrix_rank", x)
    s = svdvals(x)
    if s.shape[-1] == 0:
        return F.zeros(x.shape[:-2], dtype=_INT64, device=x.device)
    return F.sum(d.binary("greater", s, _tolerance("matrix_rank", s, rtol, x.shape)), axis=-1)


def pinv(x, /, *, rtol=None):
    """The Moore-Penrose pseudo-inverse of each matrix of ``x`` (..., M, N), from its SVD, singular values at most
    ``rtol * max(S)`` counting as zero (``rtol``: as for matrix_rank): shape (..., N, M)."""
    x = _matrices("pinv", x)
    m, n = x.shape[-2:]
    if builtins.min(m, n) == 0:
        return F.zeros(x.shape[:-2] + (n, m), dtype=x.dtype, device=x.device)
    u, s, vh = svd(x, full_matrices=False)
    keep = d.binary("greater", s, _tolerance("pinv", s, rtol, x.shape))
    s_inv = d.where(keep, d.binary("divide", 1.0, d.where(keep, s, 1.0)), 0.0)
    return d.matmul(d.binary("multiply", _mH(vh), s_inv.expand_dims(-2)), _mH(u))  # V diag(1/S) U^H


def matrix_power(x, n, /):
    """``x`` (..., M, M) raised to the integer power ``n``: repeated squaring; n = 0 gives the identity, n < 0 the
    inverse's power (float and complex only)."""
    _tensor("matrix_power", x)
    n = as_int(n, "linalg.matrix_power: n")
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise errors.ShapeError(f"linalg.matrix_power: x must be square matrices (..., M, M), got shape {x.shape}")
    if n == 0:
        eye = F.eye(x.shape[-1], dtype=x.dtype, device=x.device)
        return d.astype(d.expand(eye, x.shape), x.dtype)
    if n < 0:
        if x.dtype.kind not in _INEXACT:
            raise TypeError(f"linalg.matrix_power: integer matrices ({x.dtype.name}) cannot be raised to a negative "
                            f"power (it needs their inverse); cast to a float dtype first")
        x, n = inv(x), -n
    result = None
    power = x
    while True:
        if n & 1:
            result = power if result is None else d.matmul(result, power)
        n >>= 1
        if not n:
            break
        power = d.matmul(power, power)
    return result if result is not x else d.astype(x, x.dtype)


# -- norms ------------------------------------------------------------------------------------------------------------

def _norm_input(name, x):
    _tensor(name, x)
    if x.dtype.kind == "complex":  # every norm but the singular-value ones is a norm of |x|
        return d.unary("abs", x)
    return x if x.dtype.kind == "float" else d.astype(x, default_float)


def _vector_norm(x, axes, keepdims, order):
    """The vector_norm primitive (differentiated in dispatch/derivatives.py): x float, axes a tuple."""
    a = d.unary("abs", x)
    if order == math.inf:
        return F.max(a, axis=axes, keepdims=keepdims)
    if order == -math.inf:
        return F.min(a, axis=axes, keepdims=keepdims)
    if order == 0:
        return d.astype(F.sum(d.binary("not_equal", a, 0), axis=axes, keepdims=keepdims), x.dtype)
    if order == 1:
        return F.sum(a, axis=axes, keepdims=keepdims)
    if order == 2:
        return d.unary("sqrt", F.sum(d.binary("multiply", a, a), axis=axes, keepdims=keepdims))
    return d.binary("pow", F.sum(d.binary("pow", a, float(order)), axis=axes, keepdims=keepdims), 1.0 / order)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The vector ``ord``-norm of ``x`` over ``axis`` (None: all of x as one vector; an int; a tuple): ord in
    {1, 2, inf, -inf, 0 (the count of nonzeros), any other real p: (sum |x|^p)^(1/p)}."""
    x = _norm_input("vector_norm", x)
    if isinstance(ord, (bool, np.bool_)) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"linalg.vector_norm: ord must be a real number (1, 2, inf, -inf, 0 or any p), got {ord!r}")
    ord = float(ord)
    if math.isnan(ord):
        raise ValueError("linalg.vector_norm: ord must not be NaN")
    axes = normalize_axes("linalg.vector_norm", axis, x.ndim)
    if isinstance(axis, (tuple, list)) and len(axes) != len(axis):
        raise ValueError(f"linalg.vector_norm: repeated axes in {axis}")
    if x.ndim == 0:
        return _vector_norm(x.reshape((1,)), (0,), False, ord)
    return _vector_norm(x, axes, keepdims, ord)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The matrix norm of each matrix of ``x`` (..., M, N): ord 'fro' (Frobenius), 'nuc' (sum of singular values),
    1 / -1 (max / min column sum of |x|), 2 / -2 (largest / smallest singular value), inf / -inf (max / min row sum
    of |x|)."""
    _tensor("matrix_norm", x)
    if isinstance(ord, str):
        valid = ord in ("fro", "nuc")
    else:
        valid = isinstance(ord, (int, float, np.integer, np.floating)) and not isinstance(ord, (bool, np.bool_)) \
            and ord in (1, -1, 2, -2, math.inf, -math.inf)
    if not valid:
        raise ValueError(f"linalg.matrix_norm: ord must be one of 'fro', 'nuc', 1, -1, 2, -2, inf, -inf; got {ord!r}")
    # the singular-value norms take complex x itself (its singular values are real), the others |x|
    x = _matrices("matrix_norm", x if ord in ("nuc", 2, -2) else _norm_input("matrix_norm", x))
    if ord == "fro":
        out = _vector_norm(x, (x.ndim - 2, x.ndim - 1), False, 2.0)
    elif ord in ("nuc", 2, -2):
        s = svdvals(x)
        if s.shape[-1] == 0:
            raise ValueError(f"linalg.matrix_norm: ord={ord!r} of an empty matrix (shape {x.shape}) is undefined")
        out = F.sum(s, axis=-1) if ord == "nuc" else (F.max if ord == 2 else F.min)(s, axis=-1)
    else:
        along = -2 if ord in (1, -1) else -1  # column sums for 1, row sums for inf
        sums = F.sum(d.unary("abs", x), axis=along)
        out = (F.max if ord > 0 else F.min)(sums, axis=-1)
    if keepdims:
        out = out.reshape(out.shape + (1, 1))
    return out


# -- compositions: the standard's products and views ---------------------------------------------------------------------

def matrix_transpose(x, /):
    """The transpose of the last two axes of ``x`` (..., M, N): a view of shape (..., N, M)."""
    d.require_tensor("matrix_transpose", x)
    if x.ndim < 2:
        raise errors.ShapeError(f"matrix_transpose: x must have at least two dimensions, got shape {x.shape}")
    return x.mT


def matmul(x1, x2, /):
    """The matrix product (``ts.matmul``)."""
    return d.matmul(x1, x2)


def diagonal(x, /, *, offset=0):
    """The ``offset``-th diagonal of each matrix of ``x`` (..., M, N) (0 the main one, > 0 above, < 0 below), as a
    new tensor of shape (..., L)."""
    _tensor("diagonal", x)
    if x.ndim < 2:
        raise errors.ShapeError(f"linalg.diagonal: x must have at least two dimensions, got shape {x.shape}")
    return _diagonal(x, as_int(offset, "linalg.diagonal: offset"))


def _diagonal(x, offset):
    """The diagonal primitive (differentiated in dispatch/derivatives.py): a copy of the strided view."""
    return d.astype(_diagonal_view(x, offset), x.dtype)


def trace(x, /, *, offset=0, dtype=None):
    """The sum of the ``offset``-th diagonal of each matrix of ``x``: shape (...); integers sum as ``sum`` does
    (uint64 for unsigned, int64 for signed) unless ``dtype`` says otherwise."""
    diag = diagonal(x, offset=offset)
    if dtype is not None:
        from .dtypes import dtype as to_dtype

        dt = to_dtype(dtype)
        return d.astype(F.sum(diag if diag.dtype is dt else d.astype(diag, dt), axis=-1), dt, copy=False)
    return F.sum(diag, axis=-1)


def outer(x1, x2, /):
    """The outer product of the 1-D tensors ``x1`` (M,) and ``x2`` (N,): shape (M, N), promoted as ``*`` is."""
    _tensor("outer", x1, "x1")
    _tensor("outer", x2, "x2")
    if x1.ndim != 1 or x2.ndim != 1:
        raise errors.ShapeError(f"linalg.outer: x1 and x2 must be 1-D, got shapes {x1.shape} and {x2.shape}")
    _same_device("outer", x1, x2)
    return d.binary("multiply", x1.expand_dims(-1), x2.expand_dims(0))


def _vector_axis(name, x1, x2, axis):
    """``axis`` as a negative axis of both x1 and x2 (the standard's [-min(ndim), -1]; a non-negative axis is taken
    when both have the same rank)."""
    axis = as_int(axis, f"linalg.{name}: axis")
    n = builtins.min(x1.ndim, x2.ndim)
    if axis >= 0:
        if x1.ndim != x2.ndim or axis >= x1.ndim:
            raise errors.AxisError(f"linalg.{name}: axis {axis} must be negative, in [-{n}, -1] (counted from the "
                                   f"end of both x1 {x1.shape} and x2 {x2.shape})")
        axis -= x1.ndim
    if not -n <= axis <= -1:
        raise errors.AxisError(f"linalg.{name}: axis {axis} is out of range [-{n}, -1] for x1 {x1.shape} and x2 "
                               f"{x2.shape}")
    return axis


def _move_to_end(x, axis):
    axis %= x.ndim
    if axis == x.ndim - 1:
        return x
    return x.permute_dims(tuple(i for i in range(x.ndim) if i != axis) + (axis,))


def vecdot(x1, x2, /, *, axis=-1):
    """The dot product of the vectors of ``x1`` and ``x2`` along ``axis`` (other dims broadcasting), promoted as
    ``matmul`` is; complex ``x1`` is conjugated first, as the standard says."""
    _tensor("vecdot", x1, "x1")
    _tensor("vecdot", x2, "x2")
    _same_device("vecdot", x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise errors.ShapeError(f"vecdot: x1 and x2 need at least one dimension, got {x1.shape} and {x2.shape}")
    axis = _vector_axis("vecdot", x1, x2, axis)
    if x1.shape[axis] != x2.shape[axis]:
        raise errors.ShapeError(f"vecdot: x1 {x1.shape} and x2 {x2.shape} differ along axis {axis} "
                                f"({x1.shape[axis]} and {x2.shape[axis]}); the contracted axis does not broadcast")
    a, b = _move_to_end(x1, axis), _move_to_end(x2, axis)
    d.broadcast_shapes("vecdot", a.shape[:-1], b.shape[:-1])
    if a.dtype.kind == "complex":  # the standard's vecdot conjugates x1: sum(conj(x1) * x2)
        a = d.unary("conj", a)
    out = d.matmul(a.expand_dims(-2), b.expand_dims(-1))  # (..., 1, K) @ (..., K, 1)
    return out.squeeze((-2, -1))


def cross(x1, x2, /, *, axis=-1):
    """The cross product of the 3-element vectors of ``x1`` and ``x2`` along ``axis`` (other dims broadcasting),
    promoted as ``*`` is."""
    _tensor("cross", x1, "x1")
    _tensor("cross", x2, "x2")
    _same_device("cross", x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise errors.ShapeError(f"linalg.cross: x1 and x2 need at least one dimension, got {x1.shape} and {x2.shape}")
    axis = _vector_axis("cross", x1, x2, axis)
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise errors.ShapeError(f"linalg.cross: x1 {x1.shape} and x2 {x2.shape} must have 3 elements along axis "
                                f"{axis}")
    d.broadcast_shapes("linalg.cross", x1.shape, x2.shape)
    a, b = _move_to_end(x1, axis), _move_to_end(x2, axis)
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    mul, sub = d.BINARY["multiply"], d.BINARY["subtract"]
    out = F.stack([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), sub(mul(a0, b1), mul(a1, b0))],
                  axis=-1)
    if axis != -1:  # the vectors' axis back where it was
        nd = out.ndim
        at = nd + axis
        out = out.permute_dims(tuple(range(at)) + (nd - 1,) + tuple(range(at, nd - 1)))
    return out


def tensordot(x1, x2, /, *, axes=2):
    """The sum of products of ``x1`` and ``x2`` over ``axes``: an int N (the last N axes of x1 with the first N of
    x2) or two sequences of axes, paired in order.  The result has x1's free axes, then x2's."""
    _tensor("tensordot", x1, "x1")
    _tensor("tensordot", x2, "x2")
    _same_device("tensordot", x1, x2)
    if isinstance(axes, (tuple, list)):
        if len(axes) != 2:
            raise ValueError(f"tensordot: axes must be an int or a pair of sequences of axes, got {axes!r}")
        a1, a2 = ([axes[i]] if not isinstance(axes[i], (tuple, list)) else list(axes[i]) for i in range(2))
        if len(a1) != len(a2):
            raise ValueError(f"tensordot: the two sequences of axes differ in length: {axes!r}")
        a1 = [normalize_axis("tensordot", a, x1.ndim) for a in a1]
        a2 = [normalize_axis("tensordot", a, x2.ndim) for a in a2]
        if len(set(a1)) != len(a1) or len(set(a2)) != len(a2):
            raise ValueError(f"tensordot: repeated axes in {axes!r}")
    else:
        n = as_int(axes, "tensordot: axes")
        if n < 0 or n > builtins.min(x1.ndim, x2.ndim):
            raise ValueError(f"tensordot: axes={n} must lie in [0, {builtins.min(x1.ndim, x2.ndim)}] for shapes "
                             f"{x1.shape} and {x2.shape}")
        a1, a2 = list(range(x1.ndim - n, x1.ndim)), list(range(n))
    for i, j in zip(a1, a2):
        if x1.shape[i] != x2.shape[j]:
            raise errors.ShapeError(f"tensordot: axis {i} of x1 {x1.shape} and axis {j} of x2 {x2.shape} differ "
                                    f"({x1.shape[i]} and {x2.shape[j]})")
    free1 = [i for i in range(x1.ndim) if i not in a1]
    free2 = [j for j in range(x2.ndim) if j not in a2]
    k = 1
    for i in a1:
        k *= x1.shape[i]
    f1 = [x1.shape[i] for i in free1]
    f2 = [x2.shape[j] for j in free2]
    left = F.reshape(x1.permute_dims(tuple(free1 + a1)), (math.prod(f1), k))
    right = F.reshape(x2.permute_dims(tuple(a2 + free2)), (k, math.prod(f2)))
    return F.reshape(d.matmul(left, right), tuple(f1 + f2))
