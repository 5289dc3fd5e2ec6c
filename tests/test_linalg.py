"""ts.linalg and the main namespace's tensordot, vecdot and matrix_transpose against NumPy on every device: the
factorizations (whose kernels the conformance samples of tests/test_ops.py check in depth), the compositions, the
namedtuples, stacks and empty stacks, non-contiguous inputs, singular and indefinite matrices, dtypes and errors, the
standard's signatures (against array-api-strict), the opt-in fallback and a few gradients against PyTorch."""

import contextlib
import inspect
import math
import warnings

import numpy as np
import pytest

import tensorswitch as ts

la = ts.linalg
FLOATS = ("float32", "float64")


def _dtypes(device):
    return [d for d in FLOATS if ts.dtype(d) in device.supported_dtypes()]


def _tol(dtype):
    return {"float32": 2e-4, "float64": 1e-10, "complex64": 3e-4, "complex128": 1e-10}[dtype]


def _close(got, expected, dtype, scale=1.0):
    expected = np.asarray(expected)
    assert isinstance(got, ts.Tensor)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    wide = np.complex128 if got.dtype.kind == "complex" or expected.dtype.kind == "c" else np.float64
    np.testing.assert_allclose(got.numpy().astype(wide), expected.astype(wide), atol=_tol(dtype) * scale,
                               rtol=_tol(dtype))


@contextlib.contextmanager
def _fallback(device, op_names=("eigh", "svd")):
    """Run ops the device has no kernel for on the cpu (and expect the warning), as ts.set_fallback does."""
    if all(ts.registry.has_kernel(op, device, ts.float32) for op in op_names):
        yield
        return
    saved = ts.registry.fallback_for(device.type)
    ts.set_fallback(device.type, "cpu")
    for op in op_names:  # the registry warns once per (op, device): make this block's first use warn again
        ts.registry._warned.discard((op, device.type))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        assert any("running it on 'cpu'" in str(w.message) for w in caught)
    finally:
        ts.registry.set_fallback(device.type, saved)


def _well_conditioned(rng, shape):
    return rng.uniform(-1, 1, shape) + np.eye(shape[-1]) * shape[-1]


# -- factorizations -----------------------------------------------------------------------------------------------------

def test_solve_inv_det_slogdet(device, rng):
    for dt in _dtypes(device):
        a = _well_conditioned(rng, (3, 4, 4)).astype(dt)
        b = rng.uniform(-1, 1, (2, 1, 4, 2)).astype(dt)
        v = rng.uniform(-1, 1, (4,)).astype(dt)
        A = ts.asarray(a, device=device)
        _close(la.solve(A, ts.asarray(b, device=device)), np.linalg.solve(a, b), dt)
        _close(la.solve(A, ts.asarray(v, device=device)), np.linalg.solve(a, v), dt)
        _close(la.inv(A), np.linalg.inv(a), dt)
        _close(la.det(A), np.linalg.det(a), dt, scale=float(np.max(np.abs(np.linalg.det(a)))))
        sign, logabs = la.slogdet(A)
        ref = np.linalg.slogdet(a)
        _close(sign, ref.sign, dt)
        _close(logabs, ref.logabsdet, dt)
        # non-contiguous: a transposed stack and a strided right-hand side
        _close(la.solve(A.mT, ts.asarray(b, device=device)[..., ::2]), np.linalg.solve(np.swapaxes(a, -1, -2),
                                                                                        b[..., ::2]), dt)
        assert la.solve(A, ts.asarray(b, device=device)).dtype == ts.dtype(dt)


def test_singular_and_indefinite(device):
    singular = ts.asarray([[1.0, 2.0], [2.0, 4.0]], device=device)
    with pytest.raises(la.LinAlgError, match="singular") as info:
        la.solve(singular, ts.ones((2,), device=device))
    assert isinstance(info.value, ValueError)  # as numpy.linalg.LinAlgError
    with pytest.raises(la.LinAlgError, match="singular"):
        la.inv(ts.stack([ts.eye(2, device=device), singular]))
    assert la.det(singular).item() == 0.0
    sign, logabs = la.slogdet(singular)
    assert sign.item() == 0.0 and logabs.item() == -math.inf
    with pytest.raises(la.LinAlgError, match="positive definite"):
        la.cholesky(ts.asarray([[1.0, 2.0], [2.0, 1.0]], device=device))
    with pytest.raises(la.LinAlgError, match="positive definite"):
        la.cholesky(ts.asarray([[1.0, 0.0], [0.0, float("nan")]], device=device))


def test_cholesky_qr(device, rng):
    for dt in _dtypes(device):
        g = rng.uniform(-1, 1, (2, 5, 5))
        spd = (g @ np.swapaxes(g, -1, -2) + np.eye(5)).astype(dt)
        x = ts.asarray(spd, device=device)
        _close(la.cholesky(x), np.linalg.cholesky(spd), dt)
        _close(la.cholesky(x, upper=True), np.linalg.cholesky(spd, upper=True), dt)
        # only the lower triangle is read
        garbage = np.tril(spd) + np.triu(np.full_like(spd, 9.0), 1)
        _close(la.cholesky(ts.asarray(garbage, device=device)), np.linalg.cholesky(spd), dt)
        for shape in ((6, 4), (4, 6), (2, 3, 3)):
            a = rng.uniform(-1, 1, shape).astype(dt)
            for mode in ("reduced", "complete"):
                q, r = la.qr(ts.asarray(a, device=device), mode=mode)
                qr_np = np.linalg.qr(a, mode=mode)
                assert (q.shape, r.shape) == (qr_np.Q.shape, qr_np.R.shape)
                _close(q @ r, a, dt)
                _close(q.mT @ q, np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] + (q.shape[-1],) * 2), dt)
                assert np.all(np.tril(r.numpy(), -1) == 0)
                # LAPACK's sign convention on every device: R matches NumPy's, not just up to signs
                _close(r, qr_np.R, dt, scale=4)


def test_eigh_svd_and_their_compositions(device, rng):
    for dt in _dtypes(device):
        s = rng.uniform(-1, 1, (2, 4, 4))
        sym = ((s + np.swapaxes(s, -1, -2)) / 2).astype(dt)
        a = rng.uniform(-1, 1, (2, 5, 3)).astype(dt)
        with _fallback(device):
            w, v = la.eigh(ts.asarray(sym, device=device))
            assert w.device == device
            _close(w, np.linalg.eigvalsh(sym), dt)
            _close(ts.asarray(sym, device=device) @ v, (v * w.expand_dims(-2)).numpy(), dt)
            _close(la.eigvalsh(ts.asarray(sym, device=device)), np.linalg.eigvalsh(sym), dt)
            for full in (True, False):
                u, sv, vh = la.svd(ts.asarray(a, device=device), full_matrices=full)
                ref = np.linalg.svd(a, full_matrices=full)
                assert (u.shape, sv.shape, vh.shape) == (ref.U.shape, ref.S.shape, ref.Vh.shape)
                _close(sv, ref.S, dt)
                _close((u[..., :, :3] * sv.expand_dims(-2)) @ vh[..., :3, :], a, dt)
            _close(la.svdvals(ts.asarray(a, device=device)), np.linalg.svdvals(a), dt)
            _close(la.pinv(ts.asarray(a, device=device)), np.linalg.pinv(a), dt, scale=4)
            low = a @ np.swapaxes(a, -1, -2)  # (2, 5, 5) of rank 3
            assert la.matrix_rank(ts.asarray(low, device=device)).tolist() == np.linalg.matrix_rank(low).tolist()
            assert la.matrix_rank(ts.asarray(low, device=device), rtol=0.5).tolist() == \
                np.linalg.matrix_rank(low, rtol=0.5).tolist()
            for order in ("nuc", 2, -2):
                _close(la.matrix_norm(ts.asarray(a, device=device), ord=order),
                       np.linalg.matrix_norm(a, ord=order), dt)


def test_not_implemented_without_fallback(device, monkeypatch):
    if device.type == "cpu":
        pytest.skip("the cpu is the fallback's target: its error has no set_fallback advice")
    for op in ("eigh", "svd"):  # every built-in device has both today: hide the float32 kernels from linalg's look-up
        monkeypatch.delitem(ts.registry.fast, (op, device.type, ts.float32), raising=False)
    x = ts.eye(3, device=device)
    for fn, op in ((la.eigh, "eigh"), (la.eigvalsh, "eigh"), (la.svd, "svd"), (la.svdvals, "svd"),
                   (la.pinv, "svd"), (la.matrix_rank, "svd")):
        with pytest.raises(ts.KernelNotFoundError) as info:
            fn(x)
        text = str(info.value)
        assert op in text and device.type in text and "float32" in text and "set_fallback" in text


def _check_eigh(device, a, dt):
    """eigh of the symmetric matrix in a's lower triangle on ``device``: eigenvalues as NumPy's, orthonormal
    eigenvectors with A v = v diag(w) (signs and the basis of a repeated eigenvalue are free)."""
    x = ts.asarray(a, device=device)
    w, v = la.eigh(x)
    sym = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    w_ref = np.linalg.eigvalsh(sym.astype(np.float64))
    scale = max(1.0, float(np.abs(w_ref).max())) if w_ref.size else 1.0
    assert (w.shape, v.shape) == (a.shape[:-1], a.shape) and w.dtype == v.dtype == ts.dtype(dt)
    _close(w, w_ref, dt, scale=scale)
    _close(la.eigvalsh(x), w_ref, dt, scale=scale)
    vn = v.numpy().astype(np.float64)
    _close(v.mT @ v, np.broadcast_to(np.eye(a.shape[-1]), a.shape), dt)
    np.testing.assert_allclose(sym @ vn, vn * w.numpy()[..., None, :], atol=_tol(dt) * 4 * scale)


def _check_svd(device, a, dt):
    """svd on ``device``, both full_matrices: singular values as NumPy's, orthonormal U and Vh of NumPy's shapes,
    x = U diag(S) Vh (singular vectors are free up to signs, and within a repeated or zero singular value)."""
    x = ts.asarray(a, device=device)
    s_ref = np.linalg.svd(a.astype(np.float64), compute_uv=False)
    scale = max(1.0, float(s_ref.max())) if s_ref.size else 1.0
    k = min(a.shape[-2:])
    for full in (True, False):
        u, s, vh = la.svd(x, full_matrices=full)
        ref = np.linalg.svd(a, full_matrices=full)
        assert (u.shape, s.shape, vh.shape) == (ref.U.shape, ref.S.shape, ref.Vh.shape)
        _close(s, s_ref, dt, scale=scale)
        _close(u.mT @ u, np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2), dt)
        _close(vh @ vh.mT, np.broadcast_to(np.eye(vh.shape[-2]), vh.shape[:-2] + (vh.shape[-2],) * 2), dt)
        _close((u[..., :, :k] * s.expand_dims(-2)) @ vh[..., :k, :], a, dt, scale=4 * scale)
    _close(la.svdvals(x), s_ref, dt, scale=scale)


def test_eigh_svd_kernels(device, rng):
    """The eigh and svd kernels themselves (opencl's are Jacobi methods: Note [OpenCL Jacobi]) on the shapes and
    values that stress them."""
    for dt in _dtypes(device):
        s = rng.standard_normal((3, 6, 6))
        _check_eigh(device, s.astype(dt), dt)  # a stack; only the lower triangle is read
        _check_eigh(device, np.swapaxes(s, -1, -2).astype(dt)[:, ::2, ::2], dt)  # strided, not contiguous
        q, _ = np.linalg.qr(rng.standard_normal((7, 7)))
        _check_eigh(device, ((q * [2, 2, 2, -1, -1, 0, 5]) @ q.T).astype(dt), dt)  # repeated, zero eigenvalues
        _check_eigh(device, np.diag([3.0, 1.0, 2.0, 1.0]).astype(dt), dt)  # diagonal already: no rotation
        _check_eigh(device, rng.standard_normal((1, 1)).astype(dt), dt)
        _check_eigh(device, rng.standard_normal((40, 40)).astype(dt), dt)  # past one work-group's width
        _check_eigh(device, (rng.standard_normal((5, 5)) * 1e30).astype(dt), dt)  # squares past float32's range
        for shape in ((5, 3), (3, 5), (2, 7, 2), (2, 2, 7), (1, 1), (1, 4), (33, 9), (9, 33)):  # tall and wide
            _check_svd(device, rng.standard_normal(shape).astype(dt), dt)
        _check_svd(device, np.swapaxes(rng.standard_normal((2, 4, 6)), -1, -2).astype(dt), dt)  # not contiguous
        low = rng.standard_normal((2, 6, 2)) @ rng.standard_normal((2, 2, 5))  # rank 2: zero singular values
        _check_svd(device, low.astype(dt), dt)
        _check_svd(device, np.swapaxes(low, -1, -2).astype(dt), dt)
        _check_svd(device, np.zeros((3, 4), dt), dt)
        _check_svd(device, np.eye(4, dtype=dt)[:, [0, 0, 1, 2]], dt)  # repeated columns, repeated values
        x = ts.asarray(low.astype(dt), device=device)
        assert la.matrix_rank(x).tolist() == [2, 2]
        _close(la.pinv(x), np.linalg.pinv(low), dt, scale=10)
        for shape in ((0, 3, 3), (2, 0, 0)):  # 0-size batches and 0-size matrices
            w, v = la.eigh(ts.zeros(shape, dtype=dt, device=device))
            assert (w.shape, v.shape) == (shape[:-1], shape)
        for shape, full in (((0, 4, 3), True), ((2, 0, 3), True), ((2, 3, 0), False)):
            u, s, vh = la.svd(ts.zeros(shape, dtype=dt, device=device), full_matrices=full)
            ref = np.linalg.svd(np.zeros(shape), full_matrices=full)
            assert (u.shape, s.shape, vh.shape) == (ref.U.shape, ref.S.shape, ref.Vh.shape)
            assert u.tolist() == ref.U.tolist() and vh.tolist() == ref.Vh.tolist()
        nan = np.array([[1.0, np.nan], [np.nan, 2.0]], dt)  # no convergence (here: NaN in): NaN out
        w, v = la.eigh(ts.asarray(nan, device=device))
        assert np.isnan(w.numpy()).all() and np.isnan(v.numpy()).all()
        for bad in (nan, np.array([[1.0, np.inf, 0.0], [0.0, 1.0, 2.0]], dt)):  # svd too (LAPACK refuses them)
            u, s, vh = la.svd(ts.asarray(bad, device=device))
            assert np.isnan(s.numpy()).all() and np.isnan(u.numpy()).all() and np.isnan(vh.numpy()).all()
            assert np.isnan(la.svdvals(ts.asarray(bad, device=device)).numpy()).all()


def test_batches_and_empty(device, rng):
    dt = "float32"
    empty = ts.zeros((0, 3, 3), device=device)
    assert la.det(empty).shape == (0,)
    assert la.inv(empty).shape == (0, 3, 3)
    assert la.cholesky(empty).shape == (0, 3, 3)
    assert la.solve(empty, ts.zeros((0, 3, 2), device=device)).shape == (0, 3, 2)
    assert la.det(ts.zeros((2, 0, 0), device=device)).tolist() == [1.0, 1.0]
    q, r = la.qr(ts.zeros((0, 4, 3), device=device))
    assert (q.shape, r.shape) == ((0, 4, 3), (0, 3, 3))
    q, r = la.qr(ts.zeros((3, 0), device=device), mode="complete")
    assert (q.shape, r.shape) == ((3, 3), (3, 0)) and q.tolist() == np.eye(3).tolist()
    with _fallback(device):
        u, s, vh = la.svd(ts.zeros((3, 0), device=device))
        assert (u.shape, s.shape, vh.shape) == ((3, 3), (0,), (0, 0))
        assert la.matrix_rank(ts.zeros((2, 3, 0), device=device)).tolist() == [0, 0]
    assert la.pinv(ts.zeros((3, 0), device=device)).shape == (0, 3)
    # a batch large enough to run on several cpu threads, broadcast against the right-hand sides
    a = _well_conditioned(rng, (160, 24, 24)).astype(dt)
    b = rng.uniform(-1, 1, (24, 3)).astype(dt)
    _close(la.solve(ts.asarray(a, device=device), ts.asarray(b, device=device)), np.linalg.solve(a, b), dt)
    _close(la.det(ts.asarray(a[:, :6, :6], device=device)), np.linalg.det(a[:, :6, :6]), dt, scale=1e5)


def test_integer_inputs_factor_in_float32(device):
    x = ts.asarray([[2, 1], [1, 3]], dtype="int32", device=device)
    assert la.det(x).dtype == ts.float32 and abs(la.det(x).item() - 5.0) < 1e-5
    assert la.inv(x).dtype == ts.float32
    assert la.cholesky(x).dtype == ts.float32


def test_float16_error_names_op_device_and_fix():
    x = ts.eye(2, dtype="float16")
    with pytest.raises(ts.KernelNotFoundError) as info:
        la.det(x)
    text = str(info.value)
    for word in ("linalg.det", "cpu", "float16", "float32", "astype"):
        assert word in text, text


def test_lapack_missing_says_how_to_install(monkeypatch):
    from tensorswitch.backends import cpu

    monkeypatch.setattr(cpu, "_lapack", [False])
    with pytest.raises(ts.KernelNotFoundError, match=r"pip install \"tensorswitch\[blas\]\""):
        la.inv(ts.eye(2))


# -- compositions ---------------------------------------------------------------------------------------------------

def test_norms(device, rng):
    for dt in _dtypes(device):
        a = rng.uniform(-2, 2, (3, 4, 5)).astype(dt)
        x = ts.asarray(a, device=device)
        for order in (2, 1, 0, 3, 0.5, math.inf, -math.inf):
            for axis in (None, -1, (0, 2)):
                for keepdims in (False, True):
                    expected = np.linalg.vector_norm(a, axis=axis, keepdims=keepdims, ord=order)
                    _close(la.vector_norm(x, axis=axis, keepdims=keepdims, ord=order), expected, dt, scale=10)
        _close(la.vector_norm(x.mT, axis=1), np.linalg.vector_norm(np.swapaxes(a, -1, -2), axis=1), dt)
        _close(la.vector_norm(ts.asarray(np.array(-3.0, dt), device=device)), np.array(3.0), dt)
        assert la.vector_norm(ts.asarray([3, 4], device=device)).dtype == ts.float32
        for order in ("fro", 1, -1, math.inf, -math.inf):
            for keepdims in (False, True):
                _close(la.matrix_norm(x, ord=order, keepdims=keepdims),
                       np.linalg.matrix_norm(a, ord=order, keepdims=keepdims), dt, scale=10)
    with pytest.raises(ValueError, match="ord"):
        la.matrix_norm(ts.eye(2, device=device), ord=3)


def test_products(device, rng):
    for dt in ("int32",) + tuple(_dtypes(device)):
        a = rng.integers(-3, 4, (2, 3, 4)).astype(dt)
        b = rng.integers(-3, 4, (4, 3, 2)).astype(dt)
        A, B = ts.asarray(a, device=device), ts.asarray(b, device=device)
        for axes in (0, 1, ([1, 2], [1, 0]), ([-1], [0]), [[2], [0]]):
            got = ts.tensordot(A, B, axes=axes)
            np.testing.assert_array_equal(got.numpy(), np.tensordot(a, b, axes=axes))
            assert got.dtype == ts.dtype(dt)
        c = rng.integers(-3, 4, (2, 1, 4)).astype(dt)
        got = ts.vecdot(ts.asarray(c, device=device), A)
        np.testing.assert_array_equal(got.numpy(), np.vecdot(c, a))
        assert got.dtype == ts.dtype(dt)
        np.testing.assert_array_equal(ts.vecdot(A, A, axis=-2).numpy(), np.vecdot(a, a, axis=-2))
        u, w = a[0, 0], b[0, :, 0]
        np.testing.assert_array_equal(la.outer(ts.asarray(u, device=device), ts.asarray(w, device=device)).numpy(),
                                      np.outer(u, w))
        p, q = rng.integers(-3, 4, (4, 3)).astype(dt), rng.integers(-3, 4, (3,)).astype(dt)
        np.testing.assert_array_equal(la.cross(ts.asarray(p, device=device), ts.asarray(q, device=device)).numpy(),
                                      np.linalg.cross(p, q))
        pt = np.ascontiguousarray(p.T)  # (3, 4): the vectors along axis -2
        np.testing.assert_array_equal(la.cross(ts.asarray(pt, device=device), ts.asarray(pt[:, ::-1].copy(),
                                                                                        device=device), axis=-2).numpy(),
                                      np.cross(pt, pt[:, ::-1], axis=0))
        sq = a[:, :3, :3]
        S = ts.asarray(sq, device=device)
        np.testing.assert_array_equal(la.trace(S).numpy(), np.trace(sq, axis1=-2, axis2=-1))
        np.testing.assert_array_equal(la.trace(A, offset=1).numpy(), np.trace(a, offset=1, axis1=-2, axis2=-1))
        assert la.trace(S, dtype="float64").dtype == ts.float64
        for offset in (0, 1, -2, 5):
            np.testing.assert_array_equal(la.diagonal(A, offset=offset).numpy(),
                                          np.diagonal(a, offset=offset, axis1=-2, axis2=-1))
        np.testing.assert_array_equal(la.diagonal(A.mT).numpy(), np.diagonal(np.swapaxes(a, -1, -2), axis1=-2,
                                                                          axis2=-1))
        for n in (0, 1, 2, 3, 5):
            np.testing.assert_array_equal(la.matrix_power(S, n).numpy(), np.linalg.matrix_power(sq, n))
        np.testing.assert_array_equal(la.matrix_transpose(A).numpy(), np.swapaxes(a, -1, -2))
        np.testing.assert_array_equal(la.matmul(A, B[:, 0, :]).numpy(), a @ b[:, 0, :])
    x = _well_conditioned(rng, (2, 3, 3))
    _close(la.matrix_power(ts.asarray(x, device=device), -2), np.linalg.matrix_power(x, -2), "float32")
    with pytest.raises(TypeError, match="negative"):
        la.matrix_power(ts.asarray([[1, 2], [3, 4]], device=device), -1)


def test_shape_errors(device):
    x = ts.ones((3, 3), device=device)
    with pytest.raises(ts.ShapeError, match="square"):
        la.inv(ts.ones((2, 3), device=device))
    with pytest.raises(ts.ShapeError, match="two dimensions"):
        la.det(ts.ones((3,), device=device))
    with pytest.raises(ts.ShapeError, match="x2"):
        la.solve(x, ts.ones((4,), device=device))
    with pytest.raises(ts.ShapeError, match="3 elements"):
        la.cross(ts.ones((4,), device=device), ts.ones((4,), device=device))
    with pytest.raises(ts.ShapeError, match="differ"):
        ts.tensordot(x, ts.ones((4, 3), device=device), axes=1)
    with pytest.raises(ts.ShapeError, match="does not broadcast"):
        ts.vecdot(x, ts.ones((3, 1), device=device))
    with pytest.raises(ts.AxisError):
        ts.vecdot(x, x, axis=-3)
    with pytest.raises(ValueError, match="mode"):
        la.qr(x, mode="r")
    with pytest.raises(TypeError, match="tensor"):
        la.solve(x, [1.0, 2.0, 3.0])


def test_device_mismatch():
    other = next((d for d in ts.devices() if d.type != "cpu" and d.type != "limited"), None)
    if other is None:
        pytest.skip("one device only")
    with pytest.raises(ts.DeviceMismatchError):
        la.solve(ts.eye(2), ts.ones((2,), device=other))


# -- the API ------------------------------------------------------------------------------------------------------------

_STANDARD = ("cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
             "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet", "solve", "svd",
             "svdvals", "tensordot", "trace", "vecdot", "vector_norm")


def test_signatures_match_the_standard():
    strict = pytest.importorskip("array_api_strict")
    for name in _STANDARD:
        ours = inspect.signature(getattr(la, name)).parameters
        theirs = inspect.signature(getattr(strict.linalg, name)).parameters
        assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()], name
    for name in ("tensordot", "vecdot", "matrix_transpose"):
        assert getattr(ts, name) is getattr(la, name)
        ours = inspect.signature(getattr(ts, name)).parameters
        theirs = inspect.signature(getattr(strict, name)).parameters
        assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()], name


def test_namedtuples():
    x = ts.asarray([[2.0, 1.0], [1.0, 2.0]])
    assert la.eigh(x)._fields == ("eigenvalues", "eigenvectors")
    assert la.qr(x)._fields == ("Q", "R")
    assert la.slogdet(x)._fields == ("sign", "logabsdet")
    assert la.svd(x)._fields == ("U", "S", "Vh")
    assert la.eigh(x).eigenvalues.tolist() == pytest.approx([1.0, 3.0])


def test_against_array_api_strict(rng):
    strict = pytest.importorskip("array_api_strict")
    a = _well_conditioned(rng, (2, 3, 3))
    b = rng.uniform(-1, 1, (3,))
    xs, bs = strict.asarray(a), strict.asarray(b)
    pairs = [(la.solve(ts.asarray(a), ts.asarray(b)), strict.linalg.solve(xs, bs[:, None])[..., 0]),
             (la.vecdot(ts.asarray(a), ts.asarray(b)), strict.linalg.vecdot(xs, bs)),
             (la.trace(ts.asarray(a), offset=-1), strict.linalg.trace(xs, offset=-1)),
             (la.cross(ts.asarray(a), ts.asarray(b)), strict.linalg.cross(xs, bs)),
             (la.matrix_norm(ts.asarray(a), ord=-math.inf), strict.linalg.matrix_norm(xs, ord=-math.inf))]
    for got, expected in pairs:
        np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-12, atol=1e-12)


def test_gradients_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    a = _well_conditioned(rng, (2, 3, 3))
    b = rng.uniform(-1, 1, (2, 3, 2))
    g = a @ np.swapaxes(a, -1, -2)
    cases = [(la.solve, torch.linalg.solve, (a, b)), (la.det, torch.linalg.det, (a,)),
             (lambda x: la.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x).logabsdet, (a,)),
             (la.cholesky, torch.linalg.cholesky, (g,)),
             (lambda x: la.vector_norm(x, axis=(0, 2)), lambda x: torch.linalg.vector_norm(x, dim=(0, 2)), (a,)),
             # the compositions: recorded ops, no formula of their own
             (la.outer, torch.outer, (a[0, 0], b[0, :, 0])), (la.cross, torch.linalg.cross, (a, a[::-1].copy())),
             (lambda x, y: ts.vecdot(x, y, axis=-2), lambda x, y: torch.linalg.vecdot(x, y, dim=-2), (a, a + 1)),
             (lambda x, y: ts.tensordot(x, y, axes=([1], [1])), lambda x, y: torch.tensordot(x, y, dims=([1], [1])),
              (a, b)),
             (lambda x: la.trace(x, offset=1), lambda x: torch.diagonal(x, 1, -2, -1).sum(-1), (a,)),
             (lambda x: la.matrix_norm(x, ord=1), lambda x: torch.linalg.matrix_norm(x, ord=1), (a,))]
    for ours, theirs, inputs in cases:
        ts_in = [ts.asarray(x, requires_grad=True) for x in inputs]
        pt_in = [torch.tensor(x, requires_grad=True) for x in inputs]
        ours(*ts_in).sum().backward()
        theirs(*pt_in).sum().backward()
        for t, p in zip(ts_in, pt_in):
            grad = p.grad.numpy()
            if theirs is torch.linalg.cholesky:  # ours reads the lower triangle only: its entries stand for two
                grad = np.tril(grad + np.swapaxes(grad, -1, -2)) - grad * np.eye(3)
            np.testing.assert_allclose(t.grad.numpy(), grad, rtol=1e-9, atol=1e-10)


def test_docstring_examples():
    import doctest

    from tensorswitch.dispatch import linalg

    result = doctest.testmod(linalg, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted and result.failed == 0


def test_svd_and_eigh_of_extreme_ranges(device):
    """Entries from 1e-300 to 1e300 in one matrix, a subnormal largest entry, huge uniform matrices: the values
    match LAPACK's (NumPy) relative to the largest, and nothing is NaN (OpenCL's Jacobi scales by ldexp and skips
    rotations that change nothing)."""
    if ts.float64 not in device.supported_dtypes():
        pytest.skip("needs float64")
    rng = np.random.default_rng(7)
    cases = [rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-300, 300, (3, 4)) for _ in range(6)]
    cases += [np.array([[5e-324, 0.0], [0.0, 0.0]]), np.full((2, 3), 1e-320), np.full((3, 2), -1e308),
              rng.choice([0.0, 1.0, -1.0, 1e308, 2.2250738585072014e-308, 5e-324], (4, 3))]
    for a in cases:
        ref = np.linalg.svd(a, compute_uv=False)
        s = la.svdvals(ts.asarray(a, device=device)).numpy()
        assert not np.isnan(s).any(), a
        np.testing.assert_allclose(s / ref[0], ref / ref[0], atol=1e-12)
        sq = a[:2, :2] / 2.0
        sym = sq + sq.T
        np.testing.assert_allclose(la.eigvalsh(ts.asarray(sym, device=device)).numpy() / max(abs(sym).max(), 1e-320),
                                   np.linalg.eigvalsh(sym) / max(abs(sym).max(), 1e-320), atol=1e-12)


# -- complex64 and complex128 (Note [Linalg dtypes]) ----------------------------------------------------------------------

COMPLEX = ("complex64", "complex128")
_REAL_OF = {"complex64": "float32", "complex128": "float64"}


FACTORIZATIONS = ("cholesky", "lu", "lu_solve", "qr")  # complex on every built-in device that stores complex


def _complex_dtypes(device, ops=FACTORIZATIONS + ("eigh", "svd")):
    """The complex dtypes ``device`` holds and has the kernels of ``ops`` for (opencl has no complex eigh or svd:
    COVERAGE_GAPS)."""
    return [d for d in COMPLEX if ts.dtype(d) in device.supported_dtypes()
            and all(ts.registry.has_kernel(op, device, ts.dtype(d)) for op in ops)]


def _crandom(rng, shape, dt=np.complex128):
    return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(dt)


def _mH(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _hermitian_pd(rng, shape, dt):
    g = _crandom(rng, shape)
    return (g @ _mH(g) + np.eye(shape[-1])).astype(dt)


def _eye_like(q, k):
    return np.broadcast_to(np.eye(k), q.shape[:-2] + (k, k))


def test_complex_solve_inv_det_slogdet(device, rng):
    for dt in _complex_dtypes(device, ("lu", "lu_solve")):
        a = (_crandom(rng, (3, 4, 4)) + np.eye(4) * 4).astype(dt)
        b = _crandom(rng, (2, 1, 4, 2), dt)
        v = _crandom(rng, (4,), dt)
        A, B = ts.asarray(a, device=device), ts.asarray(b, device=device)
        got = la.solve(A, B)
        assert got.dtype == ts.dtype(dt)
        _close(got, np.linalg.solve(a, b), dt)
        _close(la.solve(A, ts.asarray(v, device=device)), np.linalg.solve(a, v), dt)
        _close(la.inv(A), np.linalg.inv(a), dt)
        det = la.det(A)
        assert det.dtype == ts.dtype(dt)
        _close(det, np.linalg.det(a), dt, scale=float(np.max(np.abs(np.linalg.det(a)))))
        sign, logabs = la.slogdet(A)
        ref = np.linalg.slogdet(a)
        assert sign.dtype == ts.dtype(dt) and logabs.dtype == ts.dtype(_REAL_OF[dt])
        _close(sign, ref.sign, dt)
        np.testing.assert_allclose(np.abs(sign.numpy()), 1.0, rtol=_tol(dt))
        _close(logabs, ref.logabsdet, dt)
        # non-contiguous: the transposed stack, a strided right-hand side, a conjugated (computed) input
        _close(la.solve(A.mT, B[..., ::2]), np.linalg.solve(np.swapaxes(a, -1, -2), b[..., ::2]), dt)
        _close(la.inv(ts.conj(A)[:, ::-1]), np.linalg.inv(np.conj(a)[:, ::-1]), dt)
        # a real matrix and a complex right-hand side promote to complex
        real = a.real.astype(_REAL_OF[dt]) + np.eye(4, dtype=_REAL_OF[dt]) * 4
        got = la.solve(ts.asarray(real, device=device), ts.asarray(v, device=device))
        assert got.dtype == ts.dtype(dt)
        _close(got, np.linalg.solve(real, v), dt)
        # negative powers go through the complex inverse
        _close(la.matrix_power(A, -2), np.linalg.matrix_power(a, -2), dt)
        _close(la.matrix_power(A, 3), np.linalg.matrix_power(a, 3), dt, scale=100)
        # singular: det 0, slogdet (0, -inf), solve raises
        singular = np.array([[1 + 1j, 2 + 2j], [1, 2]], dt)
        S = ts.asarray(singular, device=device)
        assert la.det(S).item() == 0
        sign, logabs = la.slogdet(S)
        assert sign.item() == 0 and logabs.item() == -math.inf
        with pytest.raises(la.LinAlgError, match="singular"):
            la.solve(S, ts.ones((2,), dtype=dt, device=device))
        # a batch large enough to run on several cpu threads, broadcast against the right-hand sides
        big = (_crandom(rng, (160, 12, 12)) + np.eye(12) * 12).astype(dt)
        rhs = _crandom(rng, (12, 3), dt)
        _close(la.solve(ts.asarray(big, device=device), ts.asarray(rhs, device=device)), np.linalg.solve(big, rhs),
               dt)
        # larger matrices: each elimination step spread over many work-items (Note [OpenCL factorizations])
        wide = (_crandom(rng, (2, 40, 40)) + np.eye(40) * 8).astype(dt)
        W = ts.asarray(wide, device=device)
        _close(la.inv(W), np.linalg.inv(wide), dt, scale=4)
        _close(la.det(W), np.linalg.det(wide), dt, scale=4 * float(np.max(np.abs(np.linalg.det(wide)))))


def test_complex_lu_pivots_as_lapack(device):
    """Complex LU pivots on LAPACK's |re| + |im| (izamax), not |z|, on every built-in device: the cpu's getrf
    pivots (Note [OpenCL complex factorizations] in kernels/opencl/linalg.cl).  In column 0, |3| > |2 + 2i| but
    |re| + |im| picks row 1; the packed factors and det then agree with the cpu's too."""
    from tensorswitch.dispatch import linalg as dl

    if device.type not in ("cpu", "opencl", "cuda"):
        pytest.skip(f"{device.type} is a plugin: its LU may pivot on |z| (the numpy example's does)")
    for dt in _complex_dtypes(device, ("lu",)):
        a = np.array([[3, 1j, 2], [2 + 2j, 1, -1j], [0.5j, 2 - 1j, 1]], dt)
        lu, pivots = dl._lu("det", ts.asarray(a, device=device))
        ref_lu, ref_pivots = dl._lu("det", ts.asarray(a))
        assert pivots.tolist() == ref_pivots.tolist() and pivots.tolist()[0] == 1
        _close(lu, ref_lu.numpy(), dt)
        _close(la.det(ts.asarray(a, device=device)), np.linalg.det(a), dt, scale=10)


def test_complex_cholesky_qr(device, rng):
    for dt in _complex_dtypes(device, ("cholesky", "qr")):
        h = _hermitian_pd(rng, (2, 5, 5), dt)
        x = ts.asarray(h, device=device)
        lower = la.cholesky(x)
        assert lower.dtype == ts.dtype(dt)
        _close(lower, np.linalg.cholesky(h), dt, scale=4)
        upper = la.cholesky(x, upper=True)  # U = L^H, x = U^H U
        _close(upper, np.linalg.cholesky(h, upper=True), dt, scale=4)
        _close(ts.conj(upper).mT @ upper, h, dt, scale=10)
        # only the lower triangle is read (the diagonal's imaginary part too is ignored, as LAPACK does)
        garbage = np.tril(h) + np.triu(np.full_like(h, 9 - 7j), 1)
        _close(la.cholesky(ts.asarray(garbage, device=device)), np.linalg.cholesky(h), dt, scale=4)
        # non-contiguous: x.mT of a Hermitian matrix is its conjugate, Hermitian too
        _close(la.cholesky(x.mT), np.linalg.cholesky(np.conj(h)), dt, scale=4)
        with pytest.raises(la.LinAlgError, match="positive definite"):
            la.cholesky(ts.asarray(np.array([[1, 2j], [-2j, 1]], dt), device=device))
        for shape in ((6, 4), (4, 6), (2, 3, 3)):
            a = _crandom(rng, shape, dt)
            for mode in ("reduced", "complete"):
                q, r = la.qr(ts.asarray(a, device=device), mode=mode)
                qr_np = np.linalg.qr(a, mode=mode)
                assert (q.shape, r.shape) == (qr_np.Q.shape, qr_np.R.shape)
                assert q.dtype == r.dtype == ts.dtype(dt)
                _close(q @ r, a, dt)
                _close(ts.conj(q).mT @ q, _eye_like(q, q.shape[-1]), dt)  # unitary columns
                assert np.all(np.tril(r.numpy(), -1) == 0)
                _close(r, qr_np.R, dt, scale=4)  # LAPACK's phases, as NumPy's
        a = _crandom(rng, (2, 6, 4), dt)
        q, r = la.qr(ts.asarray(np.swapaxes(a, -1, -2), device=device).mT)  # strided
        _close(q @ r, a, dt)
        _close(r, np.linalg.qr(a).R, dt, scale=4)
        # a column already real and reduced (tau = 0: H = I), and a zero column
        e = np.array([[2 - 1j, 1, 0], [0, 1j, 0], [0, 3, 0]], dt)
        q, r = la.qr(ts.asarray(e, device=device))
        _close(q @ r, e, dt)
        _close(r, np.linalg.qr(e).R, dt, scale=4)
        _close(ts.conj(q).mT @ q, np.eye(3), dt)
        # larger stacks: the reductions and updates spread over many work-items; batches of non-contiguous views
        big = _hermitian_pd(rng, (3, 40, 40), dt)
        _close(la.cholesky(ts.asarray(big, device=device)[::2]), np.linalg.cholesky(big[::2]), dt, scale=10)
        tall = _crandom(rng, (2, 50, 30), dt)
        q, r = la.qr(ts.asarray(tall, device=device), mode="complete")
        _close(q @ r, tall, dt, scale=4)
        _close(ts.conj(q).mT @ q, _eye_like(q, 50), dt, scale=4)
        _close(r, np.linalg.qr(tall, mode="complete").R, dt, scale=10)
        # the public functions built on them
        _close(la.matrix_norm(ts.asarray(tall, device=device), ord="fro"), np.linalg.matrix_norm(tall), dt, scale=4)


def test_complex_eigh_svd_and_their_compositions(device, rng):
    for dt in _complex_dtypes(device):
        real = ts.dtype(_REAL_OF[dt])
        g = _crandom(rng, (3, 6, 6))
        h = ((g + _mH(g)) / 2).astype(dt)
        x = ts.asarray(h, device=device)
        w, v = la.eigh(x)
        assert w.dtype == real and v.dtype == ts.dtype(dt) and (w.shape, v.shape) == ((3, 6), (3, 6, 6))
        _close(w, np.linalg.eigvalsh(h), dt)
        _close(ts.conj(v).mT @ v, _eye_like(h, 6), dt)
        _close(x @ v, (v * w.expand_dims(-2)).numpy(), dt, scale=4)
        ev = la.eigvalsh(x)
        assert ev.dtype == real
        _close(ev, np.linalg.eigvalsh(h), dt)
        # only the lower triangle is read; a strided view
        garbage = np.tril(h) + np.triu(np.full_like(h, 5 + 5j), 1)
        _close(la.eigvalsh(ts.asarray(garbage, device=device)), np.linalg.eigvalsh(h), dt)
        _close(la.eigvalsh(x[:, ::2, ::2]), np.linalg.eigvalsh(h[:, ::2, ::2]), dt)
        for shape in ((5, 3), (3, 5), (2, 4, 6)):
            a = _crandom(rng, shape, dt)
            k = min(shape[-2:])
            for full in (True, False):
                u, s, vh = la.svd(ts.asarray(a, device=device), full_matrices=full)
                ref = np.linalg.svd(a, full_matrices=full)
                assert (u.shape, s.shape, vh.shape) == (ref.U.shape, ref.S.shape, ref.Vh.shape)
                assert s.dtype == real and u.dtype == vh.dtype == ts.dtype(dt)
                _close(s, ref.S, dt)
                _close(ts.conj(u).mT @ u, _eye_like(u, u.shape[-1]), dt)
                _close(vh @ ts.conj(vh).mT, _eye_like(vh, vh.shape[-2]), dt)
                _close((u[..., :, :k] * s.expand_dims(-2)) @ vh[..., :k, :], a, dt)
            sv = la.svdvals(ts.asarray(a, device=device))
            assert sv.dtype == real
            _close(sv, np.linalg.svdvals(a), dt)
            _close(la.svdvals(ts.asarray(a, device=device).mT), np.linalg.svdvals(np.swapaxes(a, -1, -2)), dt)
            p = la.pinv(ts.asarray(a, device=device))
            assert p.dtype == ts.dtype(dt)
            _close(p, np.linalg.pinv(a), dt, scale=4)
            for order in ("nuc", 2, -2, "fro", 1, -1, math.inf, -math.inf):
                got = la.matrix_norm(ts.asarray(a, device=device), ord=order)
                assert got.dtype == real, order
                _close(got, np.linalg.matrix_norm(a, ord=order), dt, scale=4)
        low = _crandom(rng, (2, 5, 2)) @ _crandom(rng, (2, 2, 4))  # rank 2
        L = ts.asarray(low.astype(dt), device=device)
        assert la.matrix_rank(L).tolist() == np.linalg.matrix_rank(low).tolist() == [2, 2]
        _close(la.pinv(L), np.linalg.pinv(low), dt, scale=10)
        # empty: real singular values, complex factors
        u, s, vh = la.svd(ts.zeros((2, 3, 0), dtype=dt, device=device))
        assert (u.shape, s.shape, vh.shape) == ((2, 3, 3), (2, 0), (2, 0, 0)) and s.dtype == real
        w, v = la.eigh(ts.zeros((0, 3, 3), dtype=dt, device=device))
        assert (w.shape, v.shape) == ((0, 3), (0, 3, 3)) and w.dtype == real
        # NaN in: NaN out
        nan = np.array([[1, np.nan], [np.nan, 2]], dt)
        u, s, vh = la.svd(ts.asarray(nan, device=device))
        assert np.isnan(s.numpy()).all() and np.isnan(u.numpy()).all()


def test_complex_without_kernels_says_so(device):
    """A device that holds complex numbers but lacks some complex factorizations (opencl: eigh and svd,
    COVERAGE_GAPS) raises the not-implemented error for those, naming the function, device and dtype (never a cast
    to a real dtype), and runs them on the cpu with ts.set_fallback (the kernels it has still run where they are)."""
    missing = [d for d in COMPLEX if ts.dtype(d) in device.supported_dtypes() and d not in _complex_dtypes(device)]
    if not missing:
        pytest.skip(f"{device} has the complex factorizations (or no complex dtypes)")
    dt = missing[0]
    rng = np.random.default_rng(3)
    h = _hermitian_pd(rng, (3, 3), dt)
    x = ts.asarray(h, device=device)
    lacking = set()
    for fn, ops in ((la.det, ("lu",)), (la.inv, ("lu", "lu_solve")), (la.cholesky, ("cholesky",)), (la.qr, ("qr",)),
                    (la.eigvalsh, ("eigh",)), (la.svdvals, ("svd",))):
        if all(ts.registry.has_kernel(op, device, ts.dtype(dt)) for op in ops):
            continue
        lacking.add(fn.__name__)
        with pytest.raises(ts.KernelNotFoundError) as info:
            fn(x)
        text = str(info.value)
        assert fn.__name__ in text and device.type in text and dt in text and "astype" not in text, text
    assert lacking
    saved = ts.registry.fallback_for(device.type)
    ts.set_fallback(device.type, "cpu")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = la.eigvalsh(x)
            assert w.device == device and w.dtype == ts.dtype(_REAL_OF[dt])
            _close(w, np.linalg.eigvalsh(h), dt)
            s = la.svdvals(x)
            assert s.device == device and s.dtype == ts.dtype(_REAL_OF[dt])
            _close(s, np.linalg.svdvals(h), dt)
            _close(la.cholesky(x), np.linalg.cholesky(h), dt)
    finally:
        ts.registry.set_fallback(device.type, saved)


def test_complex_registry_claims():
    """cpu (and cuda, where it registers) claim the complex factorizations; opencl claims lu, lu_solve, cholesky and
    qr and leaves out eigh and svd, as kernels/optable.py's COVERAGE_GAPS says."""
    from tensorswitch.kernels import optable

    assert set(optable.COVERAGE_GAPS["opencl"]) & set(optable.LINALG) == {"eigh", "svd"}
    for op in optable.LINALG:
        assert set(COMPLEX) <= set(optable.COVERAGE[op])
        assert set(COMPLEX) <= {d.name for d in ts.registry.dtypes(op, "cpu")}
        opencl = {d.name for d in ts.registry.dtypes(op, "opencl")}
        if op in FACTORIZATIONS:
            assert set(COMPLEX) <= set(optable.coverage(op, "opencl"))
            if any(dv.type == "opencl" for dv in ts.devices()):
                assert "complex64" in opencl, (op, opencl)
        else:
            assert not set(COMPLEX) & set(optable.coverage(op, "opencl"))
            assert not set(COMPLEX) & opencl, (op, opencl)
