"""cumulative_sum, cumulative_prod, sum/prod's dtype=, nonzero, count_nonzero and where(condition) against NumPy on
every device (the conformance samples of tests/test_ops.py cover each kernel per dtype; these cover the public
functions' arguments, errors and gradients), and the CUDA scan programs' compile check."""

import os
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
import torch

import tensorswitch as ts
from tensorswitch.kernels import optable
from tensorswitch.testing import reference


def _np(t):
    return t.numpy()


# -- cumulative_sum and cumulative_prod ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn, op", [(ts.cumulative_sum, "cumsum"), (ts.cumulative_prod, "cumprod")])
def test_scans_match_numpy(device, fn, op):
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (4, 5, 6))
    t = ts.asarray(x, device=device)
    for axis in (0, 1, 2, -1):
        for initial in (False, True):
            got = fn(t, axis=axis, include_initial=initial)
            want = reference.cumulative(op, x, axis, None, initial)
            assert got.dtype == ts.int64 and got.device == t.device
            np.testing.assert_array_equal(_np(got), want)
    y = rng.uniform(-2, 2, 50).astype(np.float32)
    np.testing.assert_allclose(_np(fn(ts.asarray(y, device=device))), reference.cumulative(op, y), rtol=1e-5,
                               atol=1e-6)


def test_numpy_cumulative_functions_agree(device):
    x = np.arange(1, 13, dtype=np.int32).reshape(3, 4)
    t = ts.asarray(x, device=device)
    np.testing.assert_array_equal(_np(ts.cumulative_sum(t, axis=1, include_initial=True)),
                                  np.cumulative_sum(x, axis=1, include_initial=True))
    np.testing.assert_array_equal(_np(ts.cumulative_prod(t, axis=0, include_initial=True)),
                                  np.cumulative_prod(x, axis=0, include_initial=True))


def test_default_and_explicit_dtypes(device):
    x = ts.asarray(np.array([100, 100, 100], np.int8), device=device)
    assert ts.cumulative_sum(x).dtype == ts.int64
    assert _np(ts.cumulative_sum(x)).tolist() == [100, 200, 300]
    assert _np(ts.cumulative_sum(x, dtype=ts.int8)).tolist() == np.cumsum(np.int8([100] * 3), dtype=np.int8).tolist()
    b = ts.asarray([True, False, True], device=device)
    assert ts.cumulative_sum(b).dtype == ts.int64 and _np(ts.cumulative_sum(b)).tolist() == [1, 1, 2]
    assert _np(ts.cumulative_sum(b, dtype=ts.bool)).tolist() == [True, True, True]
    assert _np(ts.cumulative_prod(b, dtype=ts.bool)).tolist() == [True, False, False]
    f = ts.asarray([1.5, 2.5], device=device)
    assert ts.cumulative_sum(f).dtype == ts.float32
    assert _np(ts.cumulative_sum(ts.asarray([1, 2], device=device), dtype="float32")).tolist() == [1.0, 3.0]


def test_int64_overflow_wraps_like_numpy(device):
    big = np.array([2**62, 2**62, 2**62, -5], np.int64)
    with np.errstate(over="ignore"):
        want = np.cumsum(big)
        want_p = np.cumprod(np.array([2**40, 2**40, 3], np.int64))
    np.testing.assert_array_equal(_np(ts.cumulative_sum(ts.asarray(big, device=device))), want)
    np.testing.assert_array_equal(_np(ts.cumulative_prod(ts.asarray([2**40, 2**40, 3], device=device))), want_p)


def test_nan_and_inf(device):
    x = np.array([1.0, np.inf, 2.0, -np.inf, 3.0], np.float32)
    got = _np(ts.cumulative_sum(ts.asarray(x, device=device)))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got, np.cumsum(x))
    y = np.array([2.0, np.nan, 1.0], np.float32)
    assert np.isnan(_np(ts.cumulative_prod(ts.asarray(y, device=device)))[1:]).all()


def test_long_rows_and_non_contiguous(device):
    """Past the cpu grain and opencl's block scan: one long row, few long rows, a transposed view."""
    rng = np.random.default_rng(1)
    x = rng.integers(-1000, 1000, (3, 70001))
    t = ts.asarray(x, device=device)
    np.testing.assert_array_equal(_np(ts.cumulative_sum(t, axis=1)), np.cumsum(x, axis=1))
    np.testing.assert_array_equal(_np(ts.cumulative_sum(t.mT, axis=0)), np.cumsum(x.T, axis=0))
    one = rng.uniform(-1, 1, 200003)
    got = _np(ts.cumulative_sum(ts.asarray(one, device=device)))
    np.testing.assert_allclose(got, np.cumsum(one), rtol=1e-9, atol=1e-9)
    rev = ts.asarray(x, device=device)[:, ::-3]
    np.testing.assert_array_equal(_np(ts.cumulative_prod(rev, axis=0)), np.cumprod(x[:, ::-3], axis=0))


def test_empty_and_errors(device):
    e = ts.zeros((0,), device=device)
    assert ts.cumulative_sum(e).shape == (0,)
    assert _np(ts.cumulative_sum(e, include_initial=True)).tolist() == [0.0]
    assert _np(ts.cumulative_prod(ts.zeros((2, 0), device=device), axis=1, include_initial=True)).tolist() == \
        [[1.0], [1.0]]
    with pytest.raises(ValueError, match="0-d"):
        ts.cumulative_sum(ts.asarray(1.0, device=device))
    with pytest.raises(ValueError, match="axis is required"):
        ts.cumulative_prod(ts.zeros((2, 2), device=device))
    with pytest.raises(ts.AxisError):
        ts.cumulative_sum(ts.zeros((2, 2), device=device), axis=2)
    with pytest.raises(TypeError, match="tensor"):
        ts.cumulative_sum([1, 2, 3])
    with pytest.raises(TypeError):
        ts.cumulative_sum(ts.zeros(3, device=device), 0)  # axis is keyword-only


def test_sum_and_prod_dtype(device):
    x = ts.asarray(np.array([100, 100, 100], np.int8), device=device)
    assert ts.sum(x).dtype == ts.int64 and ts.sum(x).item() == 300
    assert ts.sum(x, dtype=ts.int8).item() == np.sum(np.int8([100] * 3), dtype=np.int8)
    assert ts.sum(x, dtype=ts.int8).dtype == ts.int8
    assert ts.prod(x, dtype="float32").dtype == ts.float32 and ts.prod(x, dtype="float32").item() == 1e6
    assert x.sum(dtype=ts.int16).item() == 300
    f = ts.asarray([[1.0, 2.0], [3.0, 4.0]], device=device)
    np.testing.assert_array_equal(_np(ts.sum(f, axis=0, dtype=ts.int32, keepdims=True)), [[4, 6]])


def test_scan_gradients_match_torch():
    rng = np.random.default_rng(2)
    a = rng.uniform(-2, 2, (3, 5))
    a[0, 1] = 0.0
    a[1, 1] = a[1, 3] = 0.0  # a first zero and a second in one row
    w = rng.uniform(-1, 1, (3, 5))
    for axis in (0, 1):
        x = ts.asarray(a, requires_grad=True)
        xt = torch.tensor(a, requires_grad=True)
        (ts.cumulative_prod(x, axis=axis) * ts.asarray(w)).sum().backward()
        (torch.cumprod(xt, axis) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        x = ts.asarray(a, requires_grad=True)
        xt = torch.tensor(a, requires_grad=True)
        (ts.cumulative_sum(x, axis=axis, include_initial=True)[(slice(None),) * axis + (slice(1, None),)]
         * ts.asarray(w)).sum().backward()
        (torch.cumsum(xt, axis) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_cumulative_sum_double_backward():
    x = ts.asarray([1.0, 2.0, 3.0], dtype=ts.float64, requires_grad=True)
    y = (ts.cumulative_sum(x) ** 2).sum()
    (g,) = ts.autograd.grad(y, [x], create_graph=True)
    xt = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad((torch.cumsum(xt, 0) ** 2).sum(), [xt], create_graph=True)
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy())
    (h,) = ts.autograd.grad(g.sum(), [x])
    (ht,) = torch.autograd.grad(gt.sum(), [xt])
    np.testing.assert_allclose(h.numpy(), ht.numpy())


# -- nonzero, count_nonzero, where(condition) ------------------------------------------------------------------------

def test_nonzero_matches_numpy(device):
    rng = np.random.default_rng(3)
    for shape in [(7,), (3, 4), (2, 3, 4), (0, 3), (50000,)]:
        x = (rng.random(shape) < 0.3) * rng.integers(1, 5, shape)
        t = ts.asarray(x, device=device)
        got = ts.nonzero(t)
        want = np.nonzero(x)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == ts.int64 and g.device == t.device
            np.testing.assert_array_equal(_np(g), w)
    f = np.array([[0.0, -0.0, np.nan], [1.0, 0.0, -np.inf]], np.float32)
    t = ts.asarray(f, device=device)
    for g, w in zip(ts.nonzero(t.mT), np.nonzero(f.T)):
        np.testing.assert_array_equal(_np(g), w)
    with pytest.raises(ValueError, match="0-d"):
        ts.nonzero(ts.asarray(3, device=device))


def test_where_with_one_argument(device):
    x = np.array([[0, 2], [3, 0]])
    for g, w in zip(ts.where(ts.asarray(x, device=device) > 0), np.where(x > 0)):
        np.testing.assert_array_equal(_np(g), w)
    with pytest.raises(TypeError, match="both"):
        ts.where(ts.asarray(x, device=device) > 0, 1.0)
    assert _np(ts.where(ts.asarray(x, device=device) > 0, 1, 0)).tolist() == [[0, 1], [1, 0]]


def test_count_nonzero(device):
    x = np.array([[0, 1, 2], [0, 0, 3.5]], np.float32)
    t = ts.asarray(x, device=device)
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            got = ts.count_nonzero(t, axis=axis, keepdims=keepdims)
            want = np.count_nonzero(x, axis=axis, keepdims=keepdims)
            assert got.dtype == ts.int64
            np.testing.assert_array_equal(_np(got), want)
    assert ts.count_nonzero(ts.asarray(0.0, device=device)).item() == 0
    assert ts.count_nonzero(ts.asarray([np.nan, -0.0], device=device)).item() == 1


# -- the tables and the CUDA programs ---------------------------------------------------------------------------------

def test_scan_ops_are_in_every_table():
    for op in ("cumsum", "cumprod", "nonzero", "gather", "put"):
        assert op in ts.OPS and op in optable.COVERAGE
        for backend in ("cpu", "opencl", "cuda"):
            assert set(optable.COVERAGE[op]) <= {d.name for d in ts.registry.dtypes(op, backend)}, (op, backend)
    from tensorswitch.dispatch import registry

    for op in ("cumsum", "cumprod", "nonzero", "gather", "put"):
        assert op in registry.__doc__  # its Note [Kernel contract] row


NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


@pytest.mark.skipif(NVCC is None, reason="nvcc not found")
@pytest.mark.parametrize("own_half", [False, True])
def test_cuda_scan_programs_compile(own_half):
    """Every dtype's scan program (cumsum, cumprod, nonzero, gather, put) compiles with nvcc, with CUDA's half and
    with the fallback half type, and has every kernel the adapters launch."""
    import re

    from tensorswitch.backends import cuda

    source = cuda.scan_source("float32") + "".join(cuda._scan_units(d) for d in optable.DTYPE_NAMES if d != "float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scan.cu")
        with open(path, "w") as f:
            f.write(source)
        cmd = [NVCC, "--ptx", "-o", os.path.join(tmp, "scan.ptx"), path] + (["-DTS_OWN_HALF"] if own_half else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert "warning #" not in proc.stdout + proc.stderr
        with open(os.path.join(tmp, "scan.ptx")) as f:
            entries = set(re.findall(r"\.entry\s+(\w+)\s*\(", f.read()))
    for d in optable.DTYPE_NAMES:
        names = {f"ts_{op}_{d}_{k}" for op in ("cumsum", "cumprod") for k in ("rows", "block_totals",
                                                                               "block_prefix", "blocks")}
        names |= {f"ts_nonzero_{d}_{k}" for k in ("count", "prefix", "write")}
        names |= {f"ts_index_{d}_gather", f"ts_index_{d}_put"}
        assert names <= entries, sorted(names - entries)
