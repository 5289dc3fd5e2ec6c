"""The cpu's fast paths against their oracles: matmul split across our threads (Note [Matmul threads] in
kernels/cpu/module.cpp) against NumPy, the max-pool paths for disjoint windows (the 2x2 one and the general one-pass
one) against the two-pass path, NumPy's reference and PyTorch, the reworked im2col/col2im loops, the erf op, and the
registry table's width.  Threads and grain are forced (2 or 3 threads, a grain of 1) so that small inputs take the
parallel paths; no timing is asserted."""

import ctypes
import math
import os

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch import _cpu
from tensorswitch.backends import cpu as cpu_backend
from tensorswitch.dispatch import nnops
from tensorswitch.dispatch.registry import registry
from tensorswitch.testing import reference

torch = pytest.importorskip("torch")
F = torch.nn.functional


class _threads:
    """``n`` threads and a grain of 1 (every product and loop takes its parallel path), restored afterwards."""

    def __init__(self, n, grain=1):
        self.n, self.grain = n, grain

    def __enter__(self):
        self.saved = _cpu.get_num_threads(), _cpu.get_grain()
        cpu_backend.set_num_threads(self.n)
        _cpu.set_grain(self.grain)

    def __exit__(self, *exc):
        cpu_backend.set_num_threads(self.saved[0])
        _cpu.set_grain(self.saved[1])


# -- matmul on our threads ----------------------------------------------------------------------------------------

def _openblas():
    """OpenBLAS's openblas_get_num_threads, or None without scipy-openblas32."""
    try:
        import scipy_openblas32 as blas
    except ImportError:
        return None
    lib_dir = blas.get_lib_dir()
    name = next(f for f in os.listdir(lib_dir) if f.startswith(f"lib{blas.get_library()}") and ".so" in f)
    prefix = blas.get_symbol_prefix() if hasattr(blas, "get_symbol_prefix") else "scipy_"  # as backends/cpu.py
    return getattr(ctypes.CDLL(os.path.join(lib_dir, name)), f"{prefix}openblas_get_num_threads")


def test_openblas_stays_on_one_thread_whatever_set_num_threads_says():
    """One thread pool: OpenBLAS's own pthreads and libgomp's workers fought over the cores (a 2-thread product and a
    sum took 7-25 ms instead of 0.3)."""
    get = _openblas()
    if get is None or not _cpu.has_blas():
        pytest.skip("scipy-openblas32 is not installed: matmul runs our own loop")
    if cpu_backend.BLAS != "openblas":
        pytest.skip(f"matmul calls {cpu_backend.BLAS}, not OpenBLAS (Note [Which BLAS])")
    with _threads(2, grain=32768):
        a = ts.ones((64, 64))
        assert (a @ a).numpy()[0, 0] == 64
        assert get() == 1
        cpu_backend.set_num_threads(3)
        assert get() == 1 and ts.get_num_threads() == 3


# (a shape, b shape) with odd sizes: row splits (N <= M), column splits (N > M), blocks smaller than the 16-row
# alignment, batches fewer than the threads (split inside each matrix) and more (split by batch), broadcast batches
PRODUCTS = [((37, 29), (29, 23)), ((5, 29), (29, 71)), ((1, 13), (13, 101)), ((101, 13), (13, 1)),
            ((19, 1), (1, 17)), ((3, 17, 19), (3, 19, 23)), ((2, 40, 9), (2, 9, 33)), ((7, 5, 3), (7, 3, 4)),
            ((17, 19), (5, 19, 23)), ((4, 1, 6, 5), (3, 5, 7)), ((33,), (33, 40)), ((40, 33), (33,))]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64"])
@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_matmul_matches_numpy(dtype, threads, rng):
    tol = {"float16": 2e-2, "float32": 1e-5, "float64": 1e-12}.get(dtype, 0)
    for sa, sb in PRODUCTS:
        a = rng.integers(-4, 5, sa).astype(dtype) if tol == 0 else rng.uniform(-1, 1, sa).astype(dtype)
        b = rng.integers(-4, 5, sb).astype(dtype) if tol == 0 else rng.uniform(-1, 1, sb).astype(dtype)
        want = (a.astype(np.float64) @ b.astype(np.float64))
        one = (ts.asarray(a) @ ts.asarray(b)).numpy()
        with _threads(threads):
            got = (ts.asarray(a) @ ts.asarray(b)).numpy()
        assert got.dtype == np.dtype(dtype) and got.shape == want.shape, (sa, sb)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol * max(1, sa[-1]),
                                   err_msg=f"{sa} @ {sb}")
        if dtype not in ("float32", "float64"):  # our own loop: each element sums over k in one order, on any split
            assert got.tobytes() == one.tobytes(), (sa, sb)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_threaded_matmul_of_transposed_and_strided_operands(dtype, rng):
    a = rng.uniform(-1, 1, (45, 38)).astype(dtype) if dtype != "int64" else rng.integers(-9, 9, (45, 38))
    b = rng.uniform(-1, 1, (52, 38)).astype(dtype) if dtype != "int64" else rng.integers(-9, 9, (52, 38))
    tol = 0 if dtype == "int64" else 1e-5
    A, B = ts.asarray(a), ts.asarray(b)
    cases = [  # (tensorswitch, NumPy): a transposed operand goes to the BLAS as is, a strided one is copied first
        (lambda: A @ B.mT, a @ b.T), (lambda: A.mT @ A, a.T @ a), (lambda: B @ A.mT, b @ a.T),
        (lambda: A[::2, ::3] @ B[1::3, ::3].mT, a[::2, ::3] @ b[1::3, ::3].T),
        (lambda: A[3:40].mT @ A[3:40, 1:30], a[3:40].T @ a[3:40, 1:30]),
        (lambda: ts.reshape(A[:44], (4, 11, 38)) @ ts.reshape(B[:48], (4, 12, 38)).mT,
         a[:44].reshape(4, 11, 38) @ b[:48].reshape(4, 12, 38).transpose(0, 2, 1)),
    ]
    for threads in (2, 3):
        with _threads(threads):
            for i, (ours, want) in enumerate(cases):
                np.testing.assert_allclose(ours().numpy(), want, rtol=tol, atol=tol * 40, err_msg=f"case {i}")


def test_threaded_matmul_edge_shapes():
    with _threads(2):
        assert (ts.ones((0, 5)) @ ts.ones((5, 7))).shape == (0, 7)
        assert (ts.ones((3, 0, 5)) @ ts.ones((3, 5, 7))).shape == (3, 0, 7)
        np.testing.assert_array_equal((ts.ones((4, 0)) @ ts.ones((0, 6))).numpy(), np.zeros((4, 6)))
        assert (ts.ones((6,)) @ ts.ones((6,))).item() == 6
        big = np.arange(64 * 48, dtype=np.float64).reshape(64, 48) / 100  # blocks of 16 rows, two threads
        np.testing.assert_allclose((ts.asarray(big) @ ts.asarray(big.T)).numpy(), big @ big.T, rtol=1e-12)


def test_matmul_gradients_on_threads_match_torch(rng):
    x, w = rng.standard_normal((37, 29)), rng.standard_normal((23, 29))
    with _threads(2):
        tx, tw = ts.asarray(x, requires_grad=True), ts.asarray(w, requires_grad=True)
        (ts.relu(tx @ tw.mT) ** 2).sum().backward()
    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (torch.relu(px @ pw.T) ** 2).sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(tw.grad.numpy(), pw.grad.numpy(), rtol=1e-10)


# -- max pooling: the disjoint windows' paths against the two-pass one ----------------------------------------------

def _geometry(k, s, p, d):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(k), pair(s), pair(p), pair(d)
    return (kh, kw, sh, sw, ph, pw, dh, dw)


def _general_backward(grad, x, geometry):
    """max_pool2d_backward by the two-pass path, whatever the windows."""
    out = ts.empty(x.shape, dtype=x.dtype)
    _cpu._max_pool2d_backward_general(x.dtype.code, grad.buffer.handle, grad.offset, grad.shape, grad.strides,
                                      x.buffer.handle, x.offset, x.shape, x.strides, out.buffer.handle, out.offset,
                                      geometry)
    return out.numpy()


# (shape, kernel, stride, padding, dilation, ceil_mode); every one has disjoint windows (stride >= extent)
DISJOINT = [((2, 3, 8, 8), 2, 2, 0, 1, False), ((2, 3, 9, 7), 2, 2, 0, 1, False),   # 2x2, odd sizes left over
            ((2, 3, 9, 7), 2, 2, 0, 1, True),                                       # ceil: partial last windows
            ((1, 2, 11, 10), 3, 3, 1, 1, False), ((1, 2, 11, 10), 3, 3, 1, 1, True),
            ((2, 2, 10, 13), 2, 3, 0, 1, False),                                     # gaps between windows
            ((1, 3, 12, 12), 2, 3, 1, 2, False),                                     # dilated: extent 3
            ((2, 2, 9, 16), (1, 2), (1, 2), 0, 1, False), ((2, 2, 9, 16), (3, 1), (3, 1), (1, 0), 1, False),
            ((1, 1, 7, 30), (2, 4), (2, 5), (1, 2), 1, True)]


def _pool_input(rng, shape, dtype):
    """Random values with ties, NaN, +-inf and whole windows of -inf, so that the argmax rules all show."""
    x = rng.standard_normal(shape)
    x = np.where(rng.uniform(size=shape) < 0.3, np.round(x), x)  # ties
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, max(1, flat.size // 40))] = np.nan
    flat[rng.integers(0, flat.size, max(1, flat.size // 40))] = np.inf
    flat[rng.integers(0, flat.size, max(1, flat.size // 20))] = -np.inf
    x[..., :2, :2] = -np.inf  # a window (or more) holding -inf only: the first element takes the grad
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("case", DISJOINT)
def test_disjoint_pool_paths_match_the_two_pass_path_and_the_reference(dtype, case, rng):
    shape, k, s, p, d, ceil_mode = case
    g = _geometry(k, s, p, d)
    x = _pool_input(rng, shape, dtype)
    y = reference.max_pool2d(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(nnops.max_pool2d(ts.asarray(x), k, s, p, d, ceil_mode).numpy(), y)
    grad = rng.uniform(-1, 1, y.shape).astype(dtype)
    want = reference.max_pool2d_backward(grad, x, k, s, p, d, ceil_mode)
    for threads in (1, 2):
        with _threads(threads, grain=1 if threads > 1 else 32768):
            got = nnops.max_pool2d_backward(ts.asarray(grad), ts.asarray(x), k, s, p, d, ceil_mode).numpy()
            two_pass = _general_backward(ts.asarray(grad), ts.asarray(x), g)
        assert got.tobytes() == two_pass.tobytes(), (case, threads)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_disjoint_pool_paths_on_strided_inputs(dtype, rng):
    """x and grad as views: transposed (rows not contiguous: the 2x2 path is not taken), sliced and stepped."""
    base = _pool_input(rng, (2, 3, 14, 12), dtype)
    x = ts.asarray(base)
    views = [(x.mT, base.transpose(0, 1, 3, 2)), (x[:, ::2], base[:, ::2]), (x[..., 1:, :], base[..., 1:, :]),
             (x[..., ::2], base[..., ::2]), (x[..., 1:, 1:], base[..., 1:, 1:])]
    for xt, x_np in views:
        y = reference.max_pool2d(x_np, 2, 2, 0, 1, False)
        np.testing.assert_array_equal(nnops.max_pool2d(xt, 2).numpy(), y)
        grad_full = rng.uniform(-1, 1, y.shape[:-1] + (2 * y.shape[-1],)).astype(dtype)
        grad = ts.asarray(grad_full)[..., ::2]  # a strided grad
        got = nnops.max_pool2d_backward(grad, xt, 2, 2, 0, 1, False).numpy()
        np.testing.assert_array_equal(got, reference.max_pool2d_backward(grad_full[..., ::2], x_np, 2, 2, 0, 1,
                                                                         False))
        assert got.tobytes() == _general_backward(grad, xt, _geometry(2, 2, 0, 1)).tobytes()


def test_pools_match_torch_on_lenet_shapes_and_nan_ties(rng):
    for shape in ((64, 6, 24, 24), (64, 16, 8, 8), (3, 4, 7, 9)):
        x = rng.standard_normal(shape).astype(np.float32)
        x[0, 0, :2, :2] = 1.5  # a window of ties: the first element
        tx = torch.from_numpy(x).requires_grad_()
        y = F.max_pool2d(tx, 2)
        g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
        y.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(nnops.max_pool2d(ts.asarray(x), 2).numpy(), y.detach().numpy())
        got = nnops.max_pool2d_backward(ts.asarray(g), ts.asarray(x), 2, 2, 0, 1, False).numpy()
        np.testing.assert_array_equal(got, tx.grad.numpy())
    # a window with one NaN: the max is NaN and the NaN takes the grad (PyTorch agrees when there is one NaN)
    x = np.array([[[[1.0, np.nan, 3.0, 4.0], [2.0, 0.0, np.inf, np.nan]]]], np.float32)
    assert np.isnan(nnops.max_pool2d(ts.asarray(x), 2).numpy()).all()
    got = nnops.max_pool2d_backward(ts.ones((1, 1, 1, 2)), ts.asarray(x), 2, 2, 0, 1, False).numpy()
    assert got.tolist() == [[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]]


def test_the_overlapping_pool_keeps_the_two_pass_path(rng):
    x = _pool_input(rng, (2, 3, 11, 9), "float64")
    y = reference.max_pool2d(x, 3, 2, 1, 1, False)
    grad = rng.uniform(-1, 1, y.shape)
    got = nnops.max_pool2d_backward(ts.asarray(grad), ts.asarray(x), 3, 2, 1, 1, False).numpy()
    np.testing.assert_allclose(got, reference.max_pool2d_backward(grad, x, 3, 2, 1, 1, False), rtol=1e-12)
    assert got.tobytes() == _general_backward(ts.asarray(grad), ts.asarray(x), _geometry(3, 2, 1, 1)).tobytes()


# -- im2col / col2im ----------------------------------------------------------------------------------------------

UNFOLDS = [((2, 3, 12, 12), 5, 1, 0, 1), ((2, 3, 9, 10), 3, 1, 1, 1), ((1, 2, 9, 10), 3, 1, 2, 2),
           ((2, 2, 11, 9), (2, 3), (2, 1), (1, 2), (1, 2)), ((1, 4, 8, 8), 1, 1, 0, 1),
           ((1, 1, 5, 30), (1, 7), 1, 3, 1)]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_im2col_and_col2im_match_torch_on_views_and_threads(dtype, rng):
    for shape, k, s, p, d in UNFOLDS:
        x = rng.standard_normal(shape).astype(dtype)
        want = F.unfold(torch.from_numpy(x.astype(np.float64)), k, d, p, s).numpy().astype(dtype)
        xt = ts.asarray(x.transpose(0, 1, 3, 2).copy()).mT  # rows not contiguous: the strided runs
        cols = rng.standard_normal(want.shape[:1] + (want.shape[1] * 2, want.shape[2])).astype(dtype)
        ct = ts.asarray(cols)[:, ::2]  # strided columns
        fold_want = F.fold(torch.from_numpy(cols[:, ::2].astype(np.float64)), shape[2:], k, d, p, s).numpy()
        tol = 2e-2 if dtype == "float16" else 1e-5
        results = []
        for threads in (1, 2, 3):
            with _threads(threads, grain=1 if threads > 1 else 32768):
                for xi in (ts.asarray(x), xt):
                    np.testing.assert_array_equal(nnops.unfold(xi, k, d, p, s).numpy(), want)
                got = nnops.fold(ct, shape[2:], k, d, p, s).numpy()
                np.testing.assert_allclose(got.astype(np.float64), fold_want, rtol=tol, atol=tol)
                results.append(got.tobytes())
        assert results[0] == results[1] == results[2]  # a pixel adds its terms in one order on any thread count


# -- erf ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_erf_matches_math_erf(dtype):
    x = np.concatenate([np.linspace(-6, 6, 241), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-8, 30.0]])
    x = x.astype(dtype)
    want = np.array([math.erf(v) for v in x.astype(np.float64)]).astype(dtype)
    got = ts.erf(ts.asarray(x)).numpy()
    assert got.dtype == np.dtype(dtype)
    ulp = {"float16": 1e-3, "float32": 2e-7, "float64": 1e-15}[dtype]
    np.testing.assert_allclose(got, want, rtol=4 * ulp, atol=4 * ulp)
    assert np.signbit(got[x == 0]).tolist() == np.signbit(x[x == 0]).tolist()  # erf(-0.0) = -0.0
    np.testing.assert_array_equal(reference.ELEMENTWISE["erf"](x), want)


def test_erf_of_integers_views_and_0d():
    assert ts.erf(ts.asarray([0, 1, -2])).dtype is ts.float32
    np.testing.assert_allclose(ts.erf(ts.asarray([0, 1, -2])).numpy(), [0.0, math.erf(1), math.erf(-2)], rtol=1e-6)
    m = np.linspace(-2, 2, 12).reshape(3, 4)
    np.testing.assert_allclose(ts.erf(ts.asarray(m).mT).numpy(), np.vectorize(math.erf)(m.T), rtol=1e-15)
    half = ts.asarray(np.float64(0.5))
    assert ts.erf(half).shape == () and abs(ts.erf(half).item() - math.erf(0.5)) < 1e-15
    assert ts.erf(ts.asarray(np.zeros((0, 3)))).shape == (0, 3)
    assert "error function" in ts.erf.__doc__


def test_erf_first_and_second_derivatives_match_torch(rng):
    x = rng.uniform(-2.5, 2.5, (5, 4))
    tx = ts.asarray(x, requires_grad=True)
    px = torch.tensor(x, requires_grad=True)
    w = rng.standard_normal(x.shape)
    (g,) = ts.autograd.grad(ts.erf(tx), [tx], ts.asarray(w), create_graph=True)
    (pg,) = torch.autograd.grad(torch.erf(px), [px], torch.tensor(w), create_graph=True)
    np.testing.assert_allclose(g.numpy(), pg.detach().numpy(), rtol=1e-12)
    (g2,) = ts.autograd.grad(g.sum(), [tx])
    (pg2,) = torch.autograd.grad(pg.sum(), [px])
    np.testing.assert_allclose(g2.numpy(), pg2.numpy(), rtol=1e-10)


# -- the registry's table -----------------------------------------------------------------------------------------

def test_registry_table_columns_line_up_past_long_names():
    lines = registry.table().splitlines()
    header = lines[0]
    start = header.index("cpu")
    longest = max(len(line.split()[0]) for line in lines[1:])
    assert longest >= len("max_pool2d_backward") and start >= longest + 1
    for line in lines[1:]:
        name = line.split()[0]
        assert line[:start].rstrip() == name and line[start] != " ", line  # every cpu cell starts in one column


# -- reductions: kept dims coalesced, the float sum's lanes ---------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_sums_over_the_batch_coalesce_the_kept_dims(dtype, rng):
    """A (64, 16, 150) tensor summed over its batch takes the column-sum path of a (64, 2400) one: the same bits."""
    x = rng.standard_normal((64, 16, 150)).astype(dtype) if dtype != "int32" else rng.integers(-9, 9, (64, 16, 150))
    t = ts.asarray(x)
    got = t.sum(axis=0).numpy()
    flat = ts.reshape(t, (64, 2400)).sum(axis=0).numpy().reshape(16, 150)
    assert got.tobytes() == flat.tobytes()
    tol = {"float32": 1e-5, "float64": 1e-12}.get(dtype, 0)
    np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=0), rtol=tol, atol=tol)
    # kept dims that do not merge (a transposed view, a stepped one) and size-1 dims in between
    for view, want in ((t.mT, x.transpose(0, 2, 1)), (t[:, ::3], x[:, ::3]), (ts.reshape(t, (64, 16, 1, 150)),
                                                                            x.reshape(64, 16, 1, 150))):
        np.testing.assert_allclose(view.sum(axis=0).numpy(), want.astype(np.float64).sum(axis=0), rtol=tol,
                                   atol=tol)
    with _threads(2):
        assert t.sum(axis=0).numpy().tobytes() == got.tobytes()  # columns split across threads: same order


def test_float32_sums_are_accurate_on_long_and_odd_runs(rng):
    for n in (1, 15, 16, 17, 4095, 4096, 4097, 100003):
        x = rng.uniform(0, 1, n).astype(np.float32)
        got = ts.asarray(x).sum().item()
        assert abs(got - x.astype(np.float64).sum()) <= 1e-6 * n, n
    x = rng.standard_normal((64, 6, 24, 24)).astype(np.float32)  # a conv bias's gradient: sum over (N, H, W)
    np.testing.assert_allclose(ts.asarray(x).sum(axis=(0, 2, 3)).numpy(), x.astype(np.float64).sum(axis=(0, 2, 3)),
                               rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "all", "any", "argmax", "argmin"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "uint8", "bool", "float16", "complex64"])
def test_reductions_of_all_of_a_tensor_in_one_call(op, dtype, rng):
    """reduce_new (kernels/cpu/module.cpp): a contiguous tensor (at an offset too) reduced into a new 0-d tensor in
    one C call, as the general path and NumPy give it, NaN included; keepdims and views take the Python path."""
    from tensorswitch.dispatch.registry import BUILTIN_CPU_REDUCE

    if (op in ("max", "min", "argmax", "argmin") and dtype == "complex64") or \
            (dtype not in optable_dtypes(op)):
        pytest.skip(f"{op} has no {dtype} kernel")
    kernel = registry.by_op[op][("cpu", ts.dtype(dtype))]
    assert kernel in BUILTIN_CPU_REDUCE
    for n in (1, 7, 10, 1000):
        h = (rng.standard_normal(n + 2) * (0.01 if op == "prod" else 3) + (op == "prod")).astype(dtype)
        if dtype.startswith("float") and n > 1:
            h[n // 2] = np.nan
        x = ts.asarray(h)[2:]  # contiguous at an offset
        got = getattr(ts, op)(x)
        want = getattr(np, op)(h[2:])
        assert got.shape == () and type(got) is ts.Tensor
        np.testing.assert_allclose(got.numpy(), want, rtol={"float16": 1e-3, "float64": 1e-12}.get(dtype, 1e-5))
        assert getattr(ts, op)(x, keepdims=True).shape == (1,)
    # the last axis (reduce_new's rows): 2-D and 3-D, at an offset, each row's own NaN
    h = (rng.standard_normal((3, 4, 9)) * (0.01 if op == "prod" else 3) + (op == "prod")).astype(dtype)
    if dtype.startswith("float"):
        h[1, 2, 5] = np.nan
    for t, n in ((ts.asarray(h), h), (ts.asarray(h)[1:], h[1:]), (ts.asarray(h)[2, 1:], h[2, 1:])):
        for axis in (-1, t.ndim - 1):
            got = getattr(ts, op)(t, axis=axis)
            want = getattr(np, op)(n, axis=axis)
            assert got.shape == want.shape and got.is_contiguous
            np.testing.assert_allclose(got.numpy(), want, rtol={"float16": 1e-3, "float64": 1e-12}.get(dtype, 1e-5))


def optable_dtypes(op):
    from tensorswitch.kernels import optable

    return optable.REDUCTIONS[op].dtypes


@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8", "bool", "complex128"])
def test_binary_of_a_permuted_dense_layout_in_one_call(dtype, rng):
    """binary_new's permuted layout (a.T + b.T, a.T * scalar): one run over the memory, the result in a's strides
    and not contiguous, as the Python path and NumPy's order='K' give it."""
    h, g = ((rng.standard_normal((4, 5, 3)) * 5).astype(dtype) for _ in range(2))
    x, w = ts.asarray(h), ts.asarray(g)
    xt, wt = x.permute_dims((2, 0, 1)), w.permute_dims((2, 0, 1))
    ht, gt = h.transpose(2, 0, 1), g.transpose(2, 0, 1)
    ops = [lambda a, b: a == b] if dtype == "bool" else [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a != b]
    for op in ops:
        got = op(xt, wt)
        np.testing.assert_array_equal(got.numpy(), op(ht, gt))
        assert got.strides == xt.strides and not got.is_contiguous
    if dtype != "bool":
        got = x.T * 2
        np.testing.assert_array_equal(got.numpy(), h.T * 2)
        assert got.strides == x.T.strides
    flipped = x[::-1].T  # negative strides: not one run from the offset; the general path
    np.testing.assert_array_equal((flipped == flipped).numpy(), np.ones(h[::-1].T.shape, bool))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "complex64"])
def test_matrix_products_in_one_call(dtype, rng):
    """matmul_new: BLAS-ready matrices (row-major, transposed, a row or column vector, at an offset) multiplied into
    a new tensor in one C call; other layouts (a gap between rows, a column step) still right through the Python
    path's copies; against NumPy."""
    def host(shape):
        return (rng.standard_normal(shape) * 3).astype(dtype)

    h, g, big = host((7, 5)), host((5, 6)), host((12, 14))
    x, w, b = ts.asarray(h), ts.asarray(g), ts.asarray(big)
    cases = [(x, w, h, g), (w.T, x.T, g.T, h.T), (x[:1], w, h[:1], g), (x, w[:, :1], h, g[:, :1]),
             (b[2:9, 3:8], w, big[2:9, 3:8], g), (b[::2, :5], w, big[::2, :5], g), (x, b[:5, ::2], h, big[:5, ::2])]
    tol = 1e-4 if dtype in ("float32", "complex64") else 1e-10
    for ta, tb, na, nb in cases:
        got = ta @ tb
        assert got.shape == (na.shape[0], nb.shape[1]) and got.is_contiguous
        np.testing.assert_allclose(got.numpy(), na @ nb, rtol=tol, atol=tol)
    assert (x[:0] @ w).shape == (0, 6)


# -- Note [Own vector exp] (kernels/cpu/vexp.h): exp of float32 runs and softmax's exps with AVX-512 -------------

#: the error exp's float32 runs are held to: 2 ulp where Note [Own vector exp] runs (AVX-512F; 1.02 measured), else
#: the bound of libmvec's vector expf (Note [Vector math]: 4 ulp in glibc's libm-test-ulps; its AVX2 form measured
#: 2.55 on a Zen 3, 6707 of 2M points of [-110, 90] beyond 2) or libm's
EXP_ULPS = 2 if _cpu.own_vector_exp else 4


def _ulps(got, x):
    """|got - exp(x)| in units in the last place of the correctly rounded float32 result."""
    ref = np.exp(x.astype(np.float64))
    with np.errstate(all="ignore"):  # inf and NaN: the callers compare those exactly
        r32 = ref.astype(np.float32)
        return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(r32)).astype(np.float64), r32


@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 1000, 70_001])
def test_float32_exp_runs_are_within_two_ulp_with_exact_special_cases(n, rng):
    x = rng.uniform(-110, 90, n).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72283, 88.72284, 89.0, 100.0, -87.33, -87.34,
                         -103.97, -103.98, -104.0, 1e-30, -1e-30, 3e38, -3e38], np.float32)
    x[: min(n, len(specials))] = specials[: min(n, len(specials))]
    got = ts.exp(ts.asarray(x)).numpy()
    ulps, r32 = _ulps(got, x)
    finite = np.isfinite(r32) & (r32 != 0)
    assert not finite.any() or ulps[finite].max() <= EXP_ULPS, (x[finite][np.argmax(ulps[finite])],
                                                                ulps[finite].max())
    np.testing.assert_array_equal(got[~finite], r32[~finite])  # NaN, inf and 0 exactly (NaN where NaN)
    strided = ts.exp(ts.asarray(np.repeat(x, 2))[::2]).numpy()  # the libm path for a strided run: the same answers
    assert not finite.any() or _ulps(strided, x)[0][finite].max() <= 2
    np.testing.assert_array_equal(strided[~finite], r32[~finite])


def test_float32_exp_of_every_subnormal_result_and_the_overflow_edge():
    """Results below 2^-126 (x from -103.97 to -87.34) round once into the subnormals; x just under log(FLT_MAX)
    stays finite and just over it is inf."""
    x = np.linspace(-104.5, -86.0, 200_003, dtype=np.float32)
    got = ts.exp(ts.asarray(x)).numpy()
    ref = np.exp(x.astype(np.float64))
    # within EXP_ULPS units in the last place, a subnormal's unit being 2^-149
    unit = np.maximum(np.spacing(ref.astype(np.float32)), 2.0 ** -149)
    assert (np.abs(got.astype(np.float64) - ref) <= EXP_ULPS * unit).all()
    edge = np.nextafter(np.float32(88.72283935546875), np.float32(0), dtype=np.float32)
    top = ts.exp(ts.asarray(np.array([edge, np.float32(88.72283935546875), np.float32(88.7228394)]))).numpy()
    with np.errstate(over="ignore"):  # the float32 cast of the last one overflows: inf, as it should
        want = np.exp(np.array([edge, 88.72283935546875, 88.7228394], np.float64)).astype(np.float32)
    np.testing.assert_array_equal(np.isinf(top), np.isinf(want))


def test_info_names_the_exp_path():
    info = ts.info()["cpu"]["kernels_built_for"]
    if getattr(_cpu, "own_vector_exp", False):
        assert "AVX-512 exp" in info
    else:
        assert "AVX-512 exp" not in info
