"""The linalg family's kernels (issue 8): cholesky, lu, lu_solve, qr, eigh and svd, each the row of Note [Kernel
contract] (tensorswitch/dispatch/registry.py) of the same name, written with ``numpy.linalg`` where it has the routine
(NumPy has no LU: partial pivoting is written out, vectorised over the batch).

numpy.linalg raises LinAlgError for a whole stack when one matrix fails; the contract wants NaN in that matrix only,
so a failing stack is redone a matrix at a time.
"""

import numpy as np

from .backend import as_array


def _stack(t):
    """The (count, rows, cols) stack of a batch of matrices (a copy where broadcast or strided)."""
    a = as_array(t)
    return a.reshape((-1,) + a.shape[-2:])


def _each(fn, a, outs):
    """fn(a) for the whole stack, or matrix by matrix (NaN where it fails) when numpy.linalg refuses one."""
    try:
        return fn(a)
    except np.linalg.LinAlgError:
        results = []
        for m in a:
            try:
                results.append(fn(m[None]))
            except np.linalg.LinAlgError:
                # matrices in a's dtype; eigenvalues and singular values (1-D) are real, complex input too
                results.append(tuple(np.full((1,) + shape, np.nan, a.dtype if len(shape) == 2 else
                                             np.finfo(a.dtype).dtype) for shape in outs))
        return tuple(np.concatenate(parts) for parts in zip(*results))


def cholesky(out, x, upper):
    a = _stack(x)
    lower = np.tril(a)
    # only x's lower triangle is read; a complex matrix is Hermitian, so its upper triangle is the conjugate
    sym = lower + np.conj(np.swapaxes(np.tril(a, -1), -1, -2))
    n = a.shape[-1]
    (factor,) = _each(lambda m: (np.linalg.cholesky(m),), sym, [(n, n)])
    if upper:  # U = L^H
        factor = np.conj(np.swapaxes(factor, -1, -2))
    as_array(out)[...] = factor.reshape(out.shape)


def lu(out, pivots, x):
    a = _stack(x).copy()
    count, n = a.shape[0], a.shape[-1]
    piv = np.empty((count, n), np.int64)
    rows = np.arange(count)
    with np.errstate(all="ignore"):
        for k in range(n):
            p = k + np.argmax(np.abs(a[:, k:, k]), axis=1)  # the first largest, as getrf picks
            piv[:, k] = p
            top = a[rows, k].copy()
            a[rows, k] = a[rows, p]
            a[rows, p] = top
            pivot = a[:, k, k]
            safe = np.where(pivot != 0, pivot, 1)
            a[:, k + 1:, k] = np.where((pivot != 0)[:, None], a[:, k + 1:, k] / safe[:, None], a[:, k + 1:, k])
            a[:, k + 1:, k + 1:] -= a[:, k + 1:, k:k + 1] * a[:, k:k + 1, k + 1:]
    as_array(out)[...] = a.reshape(out.shape)
    as_array(pivots)[...] = piv.reshape(pivots.shape)


def lu_solve(out, lu, pivots, b):
    f = _stack(lu)
    p = as_array(pivots).reshape(-1, f.shape[-1])
    y = _stack(b).copy()
    count, n = f.shape[0], f.shape[-1]
    rows = np.arange(count)
    with np.errstate(all="ignore"):
        for i in range(n):  # getrf's row swaps, in order
            r = p[:, i]
            top = y[rows, i].copy()
            y[rows, i] = y[rows, r]
            y[rows, r] = top
        for i in range(1, n):  # L (unit lower triangular)
            y[:, i] -= np.einsum("bj,bjk->bk", f[:, i, :i], y[:, :i])
        for i in range(n - 1, -1, -1):  # U
            y[:, i] -= np.einsum("bj,bjk->bk", f[:, i, i + 1:], y[:, i + 1:])
            y[:, i] /= f[:, i, i][:, None]
    as_array(out)[...] = y.reshape(out.shape)


def qr(q, r, x):
    a = _stack(x)
    complete = q.shape[-1] == a.shape[-2] and q.shape[-1] != min(a.shape[-2:])
    qq, rr = np.linalg.qr(a, mode="complete" if complete else "reduced")
    as_array(q)[...] = qq.reshape(q.shape)
    as_array(r)[...] = rr.reshape(r.shape)


def eigh(w, v, x):
    a = _stack(x)
    n = a.shape[-1]
    if v is None:
        (values,) = _each(lambda m: (np.linalg.eigvalsh(m, UPLO="L"),), a, [(n,)])
    else:
        values, vectors = _each(lambda m: tuple(np.linalg.eigh(m, UPLO="L")), a, [(n,), (n, n)])
        as_array(v)[...] = vectors.reshape(v.shape)
    as_array(w)[...] = values.reshape(w.shape)


def svd(s, u, vh, x):
    a = _stack(x)
    m, n = a.shape[-2:]
    k = min(m, n)
    bad = ~np.isfinite(a).all(axis=(-2, -1))  # NaN or inf in: NaN out, as the contract's "no convergence"
    if u is None:
        (values,) = _each(lambda t: (np.linalg.svd(t, compute_uv=False),), a, [(k,)])
    else:
        full = u.shape[-1] == m and vh.shape[-2] == n and k != max(m, n)
        ku, kv = (m, n) if full else (k, k)
        uu, values, vv = _each(lambda t: tuple(np.linalg.svd(t, full_matrices=full)), a, [(m, ku), (k,), (kv, n)])
        uu[bad], vv[bad] = np.nan, np.nan
        as_array(u)[...] = uu.reshape(u.shape)
        as_array(vh)[...] = vv.reshape(vh.shape)
    values[bad] = np.nan
    as_array(s)[...] = values.reshape(s.shape)


KERNELS = {"cholesky": cholesky, "lu": lu, "lu_solve": lu_solve, "qr": qr, "eigh": eigh, "svd": svd}


def register_kernels(device):
    """Register the kernels above for ``device`` (the plugin's device type), for the dtypes the built-ins claim."""
    import tensorswitch as ts
    from tensorswitch.kernels import optable

    for op, kernel in KERNELS.items():
        ts.register_kernel(op, device, optable.COVERAGE[op], kernel)
