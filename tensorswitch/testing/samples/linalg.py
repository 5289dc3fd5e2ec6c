"""Samples of the linalg family (dispatch/linalg.py, Note [Linalg kernels]): each kernel op through the public
functions that run it, with stacks, empty stacks and matrices, non-contiguous layouts, broadcast batches, singular and
not positive-definite matrices, and sizes past the OpenCL work-group tiles.

Note [Linalg tolerances]
~~~~~~~~~~~~~~~~~~~~~~~~
A backward-stable factorization of an n x n matrix errs by about n * eps * |x| in the matrix it factors; what that
does to a result grows with the conditioning: a solve's relative error is about cond(x) * n * eps.  So a result is
held to ``atol = 8 * n * eps * cond * scale`` (scale: the largest reference magnitude of the sample), and the
references are NumPy's in float64, rounded.  Factors that are unique only up to signs (Q, eigenvectors, singular
vectors) are checked by their properties instead: orthonormality and that they rebuild x, within the same bound.
Complex dtypes (complex64, complex128) take complex entries (Hermitian where the function wants a symmetric matrix),
their references are NumPy's in complex128, orthonormal reads unitary (Q^H Q = I), and eigenvalues and singular values
are real (float32 for complex64): Note [Linalg dtypes] in dispatch/linalg.py.
"""

import numpy as np

import tensorswitch as ts
from .. import reference
from .core import Failure, Sample, _call, _eps, to_device

#: square stack shapes: one matrix, a batch, an empty batch, 1 x 1, and past 16- and 64-wide tiles
SQUARE_CASES = [(3, 3), (2, 4, 4), (0, 3, 3), (1, 1), (2, 1, 5, 5), (17, 17), (33, 33), (65, 65)]
#: general (M, N) shapes for qr and svd: tall, wide, stacks, empty
RECT_CASES = [(4, 3), (3, 5), (2, 6, 4), (1, 1), (0, 4, 3), (17, 9), (9, 33), (3, 0), (0, 2)]


def _wide(x):
    """x in float64, or complex128 where it is complex: the precision the references and checks compute in."""
    return x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)


def _real(dtype):
    """The dtype of eigenvalues and singular values of ``dtype`` matrices: float32 for complex64, else itself."""
    return np.finfo(dtype).dtype


def _random(dtype, shape, rng):
    """Uniform entries in [-1, 1), in both parts for a complex dtype."""
    x = rng.uniform(-1, 1, shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.uniform(-1, 1, shape)
    return x.astype(dtype)


def _mH(x):
    return np.conj(np.swapaxes(x, -1, -2))


def _cond(x):
    """The worst condition number of the (float64 or complex128) stack x."""
    if x.size == 0:
        return 1.0
    with np.errstate(all="ignore"):
        c = np.linalg.cond(_wide(x))
    return float(np.max(np.nan_to_num(c, nan=1e16, posinf=1e16)))


def linalg_tolerance(dtype, n, cond=1.0, scale=1.0):
    """(atol, rtol): Note [Linalg tolerances]."""
    eps = _eps(dtype)
    return 8 * max(n, 1) * eps * max(cond, 1.0) * max(scale, 1.0), 0.0


def _general(dtype, shape, rng):
    """Well-conditioned matrices: random entries plus a dominant diagonal."""
    x = _random(np.complex128 if np.dtype(dtype).kind == "c" else np.float64, shape, rng)
    if shape[-1] == shape[-2] and shape[-1]:
        x = x + np.eye(shape[-1]) * shape[-1] * 0.5
    return x.astype(dtype)


def _spd(dtype, shape, rng):
    """Symmetric (Hermitian) positive-definite matrices."""
    a = _random(np.complex128 if np.dtype(dtype).kind == "c" else np.float64, shape, rng)
    n = shape[-1]
    return (a @ _mH(a) / max(n, 1) + np.eye(n)).astype(dtype)


def _layouts(shape):
    return ("contiguous", "transposed") if len(shape) == 2 else ("contiguous", "strided")


def _tol(dtype, x, result):
    n = x.shape[-1] if x.ndim else 1
    scale = float(np.max(np.abs(result))) if np.size(result) and np.all(np.isfinite(result)) else 1.0
    return linalg_tolerance(dtype, n, _cond(x) if x.size else 1.0, scale)


def _reference_call(name, fn, device, dtype, args, kwargs=None, what=None):
    expected = reference.LINALG[name](*[a for a, _ in args], **(kwargs or {}))
    atol, rtol = _tol(dtype, args[0][0], expected)
    return _call(what or f"linalg.{name}({', '.join(f'{l} {a.shape}' for a, l in args)})", fn, device, args,
                 expected, kwargs, atol=atol, rtol=rtol)


def _cholesky_samples(dtype, device, rng):
    for shape in SQUARE_CASES:
        x = _spd(dtype, shape, rng)
        for layout in _layouts(shape):
            for upper in (False, True):
                yield _reference_call("cholesky", ts.linalg.cholesky, device, dtype, [(x, layout)], {"upper": upper})
    bad = np.array([[1.0, 2.0], [2.0, 1.0]], dtype)  # eigenvalues 3 and -1
    yield _call("linalg.cholesky(indefinite (2, 2))", ts.linalg.cholesky, device, [(bad, "contiguous")], None,
                raises=ts.linalg.LinAlgError)
    stack = np.stack([_spd(dtype, (3, 3), rng), -np.eye(3, dtype=dtype)])
    yield _call("linalg.cholesky(a stack with one negative-definite matrix)", ts.linalg.cholesky, device,
                [(stack, "contiguous")], None, raises=ts.linalg.LinAlgError)


def _lu_samples(dtype, device, rng):
    for shape in SQUARE_CASES:
        x = _general(dtype, shape, rng)
        for layout in _layouts(shape):
            yield _reference_call("det", ts.linalg.det, device, dtype, [(x, layout)])
            sign, logabs = reference.LINALG["slogdet"](x)
            atol, _ = _tol(dtype, x, logabs)
            yield _call(f"linalg.slogdet({layout} {shape}).sign", lambda t: ts.linalg.slogdet(t).sign, device,
                        [(x, layout)], sign)
            yield _call(f"linalg.slogdet({layout} {shape}).logabsdet", lambda t: ts.linalg.slogdet(t).logabsdet,
                        device, [(x, layout)], logabs, atol=atol, rtol=0.0)
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], dtype)
    yield _call("linalg.det(singular (3, 3))", ts.linalg.det, device, [(singular, "contiguous")],
                np.array(0.0, dtype))
    yield _call("linalg.slogdet(singular (3, 3)).sign", lambda t: ts.linalg.slogdet(t).sign, device,
                [(singular, "contiguous")], np.array(0.0, dtype))
    yield _call("linalg.slogdet(singular (3, 3)).logabsdet", lambda t: ts.linalg.slogdet(t).logabsdet, device,
                [(singular, "contiguous")], np.array(-np.inf, _real(dtype)))
    perm = np.eye(4, dtype=dtype)[[2, 0, 3, 1]] * 2  # a permutation's sign: pivots that swap rows
    yield _reference_call("det", ts.linalg.det, device, dtype, [(perm, "contiguous")],
                          what="linalg.det(a scaled permutation (4, 4))")
    yield _call("linalg.det(empty (0, 0))", ts.linalg.det, device, [(np.zeros((0, 0), dtype), "contiguous")],
                np.array(1.0, dtype))


def _lu_solve_samples(dtype, device, rng):
    for shape in SQUARE_CASES:
        a = _general(dtype, shape, rng)
        n = shape[-1]
        for layout in _layouts(shape):
            yield _reference_call("inv", ts.linalg.inv, device, dtype, [(a, layout)])
            b = _random(dtype, (n, 3), rng)
            yield _reference_call("solve", ts.linalg.solve, device, dtype, [(a, layout), (b, layout)])
            v = _random(dtype, (n,), rng)
            yield _reference_call("solve", ts.linalg.solve, device, dtype, [(a, layout), (v, "contiguous")],
                                  what=f"linalg.solve({layout} {shape}, vector ({n},))")
    # batches broadcasting both ways
    a = _general(dtype, (3, 1, 4, 4), rng)
    b = _random(dtype, (2, 4, 2), rng)
    yield _reference_call("solve", ts.linalg.solve, device, dtype, [(a, "contiguous"), (b, "strided")],
                          what="linalg.solve((3, 1, 4, 4), strided (2, 4, 2))")
    singular = np.array([[1.0, 2.0], [2.0, 4.0]], dtype)
    yield _call("linalg.solve(singular (2, 2))", ts.linalg.solve, device,
                [(singular, "contiguous"), (np.ones((2, 1), dtype), "contiguous")], None, raises=ts.linalg.LinAlgError)
    yield _call("linalg.inv(a stack with one singular matrix)", ts.linalg.inv, device,
                [(np.stack([np.eye(2, dtype=dtype), singular]), "contiguous")], None, raises=ts.linalg.LinAlgError)


def _orthonormal(q, what, atol):
    """q^H q == I (the columns of each matrix orthonormal; unitary for complex q)."""
    k = q.shape[-1]
    gram = _mH(q) @ q
    if q.size and not np.allclose(gram, np.eye(k), atol=atol, rtol=0):
        raise Failure(f"{what}: the columns are not orthonormal (max |Q^T Q - I| = "
                      f"{np.max(np.abs(gram - np.eye(k))):.3g}, allowed {atol:.3g})")


def _shapes(what, got, expected):
    """Each (name, tensor, shape[, dtype]) of ``got`` has its shape and dtype (``expected`` where not given)."""
    for name, t, shape, *dt in got:
        expected_dt = dt[0] if dt else expected
        if not isinstance(t, ts.Tensor) or tuple(t.shape) != shape or t.dtype.numpy != expected_dt:
            raise Failure(f"{what}: {name} is {getattr(t, 'shape', type(t).__name__)} "
                          f"{getattr(getattr(t, 'dtype', None), 'name', '')}, expected {shape} {expected_dt}")


def _qr_check(x, mode, dtype, what):
    m, n = x.shape[-2:]
    k = m if mode == "complete" else min(m, n)
    atol = linalg_tolerance(dtype, max(m, n, 1), 1.0, float(np.max(np.abs(x))) if x.size else 1.0)[0]
    batch = x.shape[:-2]

    def check(result):
        if not isinstance(result, tuple) or type(result).__name__ != "QRResult":
            raise Failure(f"{what}: returned {type(result).__name__}, not a QRResult")
        _shapes(what, [("Q", result.Q, batch + (m, k)), ("R", result.R, batch + (k, n))], np.dtype(dtype))
        q, r = _wide(result.Q.numpy()), _wide(result.R.numpy())
        _orthonormal(q, what, atol)
        if r.size and np.any(np.abs(np.tril(r, -1)) > 0):
            raise Failure(f"{what}: R is not upper triangular")
        if x.size and not np.allclose(q @ r, x, atol=atol, rtol=0):
            raise Failure(f"{what}: Q @ R differs from x by {np.max(np.abs(q @ r - x)):.3g} (allowed {atol:.3g})")
    return check


def _qr_samples(dtype, device, rng):
    for shape in RECT_CASES:
        x = _random(dtype, shape, rng)
        for layout in _layouts(shape):
            for mode in ("reduced", "complete"):
                what = f"linalg.qr({layout} {shape}, mode={mode!r})"
                yield Sample(what, lambda x=x, layout=layout, mode=mode: ts.linalg.qr(to_device(x, device, layout),
                                                                                     mode=mode),
                             check=_qr_check(_wide(x), mode, dtype, what), inputs={"args": [x]})
    rank_deficient = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], dtype)
    what = "linalg.qr(rank-deficient (3, 2))"
    yield Sample(what, lambda: ts.linalg.qr(to_device(rank_deficient, device)),
                 check=_qr_check(_wide(rank_deficient), "reduced", dtype, what))


def _eigh_check(x, dtype, what):
    n = x.shape[-1]
    w_ref = np.linalg.eigvalsh(x)
    atol = linalg_tolerance(dtype, n, 1.0, float(np.max(np.abs(w_ref))) if w_ref.size else 1.0)[0]

    def check(result):
        if type(result).__name__ != "EighResult":
            raise Failure(f"{what}: returned {type(result).__name__}, not an EighResult")
        _shapes(what, [("eigenvalues", result.eigenvalues, x.shape[:-1], _real(dtype)),
                       ("eigenvectors", result.eigenvectors, x.shape)], np.dtype(dtype))
        w, v = result.eigenvalues.numpy().astype(np.float64), _wide(result.eigenvectors.numpy())
        if not np.allclose(w, w_ref, atol=atol, rtol=0):
            raise Failure(f"{what}: eigenvalues differ from NumPy's by {np.max(np.abs(w - w_ref)):.3g}")
        _orthonormal(v, what, atol)
        if x.size and not np.allclose(x @ v, v * w[..., None, :], atol=atol * 4, rtol=0):
            raise Failure(f"{what}: x @ v != v * w (max {np.max(np.abs(x @ v - v * w[..., None, :])):.3g})")
    return check


def _symmetric(dtype, shape, rng):
    """Symmetric (Hermitian) matrices."""
    a = _random(np.complex128 if np.dtype(dtype).kind == "c" else np.float64, shape, rng)
    return ((a + _mH(a)) / 2).astype(dtype)


def _eigh_samples(dtype, device, rng):
    for shape in SQUARE_CASES[:6]:
        x = _symmetric(dtype, shape, rng)
        for layout in _layouts(shape):
            what = f"linalg.eigh({layout} {shape})"
            yield Sample(what, lambda x=x, layout=layout: ts.linalg.eigh(to_device(x, device, layout)),
                         check=_eigh_check(_wide(x), dtype, what), inputs={"args": [x]})
            expected = reference.LINALG["eigvalsh"](x)
            atol, rtol = _tol(dtype, np.eye(1), expected)
            yield _call(f"linalg.eigvalsh({layout} {shape})", ts.linalg.eigvalsh, device, [(x, layout)], expected,
                        atol=atol, rtol=rtol)
    # only the lower triangle is read
    x = _symmetric(dtype, (4, 4), rng)
    lower = np.tril(x) + np.triu(np.full_like(x, 7.0), 1)
    expected = reference.LINALG["eigvalsh"](x)
    yield _call("linalg.eigvalsh(garbage above the diagonal)", ts.linalg.eigvalsh, device, [(lower, "contiguous")],
                expected, atol=_tol(dtype, np.eye(1), expected)[0], rtol=0.0)


def _svd_check(x, full, dtype, what):
    m, n = x.shape[-2:]
    k = min(m, n)
    s_ref = np.linalg.svd(x, compute_uv=False) if x.size else np.zeros(x.shape[:-2] + (k,))
    atol = linalg_tolerance(dtype, max(m, n, 1), 1.0, float(np.max(s_ref)) if s_ref.size else 1.0)[0]
    ku, kv = (m, n) if full else (k, k)

    def check(result):
        if type(result).__name__ != "SVDResult":
            raise Failure(f"{what}: returned {type(result).__name__}, not an SVDResult")
        batch = x.shape[:-2]
        _shapes(what, [("U", result.U, batch + (m, ku)), ("S", result.S, batch + (k,), _real(dtype)),
                       ("Vh", result.Vh, batch + (kv, n))], np.dtype(dtype))
        u, s, vh = (_wide(t.numpy()) for t in result)
        if not np.allclose(s, s_ref, atol=atol, rtol=0):
            raise Failure(f"{what}: singular values differ from NumPy's by {np.max(np.abs(s - s_ref)):.3g}")
        _orthonormal(u, what + " (U)", atol)
        _orthonormal(_mH(vh), what + " (Vh)", atol)
        rebuilt = (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]
        if x.size and not np.allclose(rebuilt, x, atol=atol * 4, rtol=0):
            raise Failure(f"{what}: U diag(S) Vh differs from x by {np.max(np.abs(rebuilt - x)):.3g}")
    return check


def _svd_samples(dtype, device, rng):
    for shape in RECT_CASES:
        x = _random(dtype, shape, rng)
        for layout in _layouts(shape):
            for full in (True, False):
                what = f"linalg.svd({layout} {shape}, full_matrices={full})"
                yield Sample(what, lambda x=x, layout=layout, full=full: ts.linalg.svd(
                    to_device(x, device, layout), full_matrices=full),
                    check=_svd_check(_wide(x), full, dtype, what), inputs={"args": [x]})
            expected = reference.LINALG["svdvals"](x)
            atol = linalg_tolerance(dtype, max(shape[-2:]), 1.0, float(np.max(expected)) if expected.size else 1)[0]
            yield _call(f"linalg.svdvals({layout} {shape})", ts.linalg.svdvals, device, [(x, layout)], expected,
                        atol=atol, rtol=0.0)
    x = _general(dtype, (2, 5, 5), rng)
    expected = reference.LINALG["pinv"](x)
    atol, rtol = _tol(dtype, x, expected)
    yield _call("linalg.pinv((2, 5, 5))", ts.linalg.pinv, device, [(x, "contiguous")], expected, atol=atol, rtol=rtol)


_FAMILY = {"cholesky": _cholesky_samples, "lu": _lu_samples, "lu_solve": _lu_solve_samples, "qr": _qr_samples,
           "eigh": _eigh_samples, "svd": _svd_samples}


def linalg_samples(op, dtype, device, rng):
    """The samples of the linalg kernel op ``op`` (float32, float64, complex64, complex128), through the public
    functions that run it."""
    yield from _FAMILY[op](np.dtype(dtype), device, rng)


def call_linalg(op, dt, device):
    """One call of the public function that runs kernel ``op`` on a small input of ``dt`` (check_not_implemented)."""
    x = to_device(np.eye(2, dtype=dt) * 2, device)
    {"cholesky": ts.linalg.cholesky, "lu": ts.linalg.det, "lu_solve": ts.linalg.inv, "qr": ts.linalg.qr,
     "eigh": ts.linalg.eigvalsh, "svd": ts.linalg.svdvals}[op](x)
