"""The cuda backend's own checks.  The device-generic suite (test_ops.py, test_contract.py, ...) runs on cuda by itself
wherever a GPU is usable; this file adds what only cuda has:

* compile checks with ``nvcc --ptx`` of every kernels/cuda/*.cu file and of the complete generated source (every op
  and dtype), wherever nvcc exists: they need no GPU and no CuPy;
* the pure-Python parts of backends/cuda.py (dim coalescing, layout metadata, launch plans, fill bits, BLAS layouts);
* cuda-only runtime checks (each reduction and softmax strategy, cuBLAS and the tiled fallback, the layout cache, the
  float16 fallback header), which run where CuPy and a GPU are present and are skipped with the reason elsewhere.
"""

import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.backends import cuda
from tensorswitch.dispatch.device import unavailable_reasons
from tensorswitch.kernels import cuda_source, optable

ALL = optable.DTYPE_NAMES


# -- nvcc compile checks --------------------------------------------------------------------------------------------

def _find_nvcc():
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and os.path.exists(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return None


NVCC = _find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not found (install the CUDA toolkit or set CUDA_HOME)")


def _nvcc_ptx(source=None, path=None, defines=()):
    """Compile to PTX; returns the PTX text.  Fails on errors and on warnings from our own sources."""
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            path = os.path.join(tmp, "generated.cu")
            with open(path, "w") as f:
                f.write(source)
        out = os.path.join(tmp, "out.ptx")
        cmd = [NVCC, "--ptx", "-o", out, *[f"-D{d}" for d in defines], path]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"nvcc failed on {path}:\n{log[-6000:]}"
        warnings = [line for line in log.splitlines() if "warning #" in line]
        assert not warnings, f"nvcc warnings on {path}:\n" + "\n".join(warnings[:20])
        with open(out) as f:
            return f.read()


def _entries(ptx):
    return set(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))


def _expected_kernels(key):
    """The extern "C" names the kernel adapters of backends/cuda.py look up in program ``key``."""
    family, d = key
    three = ("_contig", "_strided1", "_strided")
    if family == "elementwise":
        return {f"ts_{op}_{d}{s}" for op, info in optable.ELEMENTWISE.items() if d in info.dtypes for s in three}
    if family == "astype":
        return {f"ts_astype_{d}_{dst}{s}" for dst in ALL for s in three}
    if family == "reduction":
        return {f"ts_{op}_{d}{s}" for op, info in optable.REDUCTIONS.items() if d in info.dtypes
                for s in ("_threads", "_blocks", "_partials")}
    if family in ("where", "fill"):
        return {f"ts_{family}_{d}{s}" for s in three}
    if family == "arange":
        return {f"ts_arange_{d}"}
    if family == "random":
        return {f"ts_rand_{d}", f"ts_randn_{d}"} if d in optable.FLOAT else {f"ts_randint_{d}"}
    if family == "matmul":
        return {f"ts_matmul_{d}"}
    if family == "softmax":
        return {f"ts_{op}_{d}{s}" for op in ("softmax", "log_softmax") for s in ("_threads", "_blocks")}
    raise AssertionError(family)


@needs_nvcc
@pytest.mark.parametrize("name", sorted(f for f in os.listdir(cuda_source.KERNEL_DIR) if f.endswith(".cu")))
@pytest.mark.parametrize("half", ["cuda_fp16", "own_half"])
def test_kernel_file_compiles(name, half):
    """Each template file compiles on its own, with CUDA's float16 header and with the fallback half type."""
    _nvcc_ptx(path=os.path.join(cuda_source.KERNEL_DIR, name), defines=("TS_OWN_HALF",) if half == "own_half" else ())


@needs_nvcc
def test_full_generated_source_compiles():
    """Every program of every op and dtype, in one translation unit, compiles; every kernel an adapter launches is
    in the PTX."""
    ptx = _nvcc_ptx(cuda_source.full_source())
    entries = _entries(ptx)
    missing = {k: sorted(_expected_kernels(k) - entries)[:5] for k in cuda_source.program_keys()
               if _expected_kernels(k) - entries}
    assert not missing, f"kernels missing from the generated PTX: {missing}"


@needs_nvcc
def test_float16_programs_compile_with_own_half():
    """The programs that touch float16 also compile with TS_OWN_HALF, the retry when NVRTC finds no cuda_fp16.h."""
    keys = [k for k in cuda_source.program_keys() if k[1] == "float16" or k[0] == "astype"]
    entries = _entries(_nvcc_ptx(cuda_source.full_source(keys), defines=("TS_OWN_HALF",)))
    for k in keys:
        assert _expected_kernels(k) <= entries, k


@needs_nvcc
def test_one_program_compiles_alone():
    """A runtime program (what NVRTC sees) is self-contained: prelude plus its own units."""
    entries = _entries(_nvcc_ptx(cuda_source.program_source(("reduction", "int8"))))
    assert _expected_kernels(("reduction", "int8")) == entries


# -- the generated programs cover the registry ----------------------------------------------------------------------

_FAMILY_OF = {"unary": "elementwise", "binary": "elementwise", "reduction": "reduction", "where": "where",
              "astype": "astype", "fill": "fill", "arange": "arange", "random": "random", "matmul": "matmul",
              "softmax": "softmax"}


def test_every_registered_kernel_has_a_program():
    keys = set(cuda_source.program_keys())
    entries = ts.registry.kernels(device="cuda")
    assert entries, "the cuda backend registered no kernels"
    for e in entries:
        assert (_FAMILY_OF[ts.OPS[e.op]], e.dtype.name) in keys, (e.op, e.dtype.name)


def test_registers_what_the_cpu_backend_does():
    cpu = {(e.op, e.dtype.name) for e in ts.registry.kernels(device="cpu")}
    gpu = {(e.op, e.dtype.name) for e in ts.registry.kernels(device="cuda")}
    assert gpu == cpu


def test_sources_are_generated_without_cupy():
    code = ("import sys, tensorswitch\n"
            "from tensorswitch.backends import cuda  # noqa: F401  (importing the backend must not import CuPy)\n"
            "from tensorswitch.kernels import cuda_source\n"
            "cuda_source.full_source()\n"
            "assert 'cupy' not in sys.modules, 'registering or generating sources imported CuPy'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unavailable_reason_names_the_extras():
    if cuda._import_cupy() is not None:
        pytest.skip("CuPy is installed here")
    reason = unavailable_reasons()["cuda"]
    assert "tensorswitch[cuda12]" in reason and "tensorswitch[cuda13]" in reason


# -- pure-Python planning -----------------------------------------------------------------------------------------

def _walk(shape, strides):
    """Offsets of each operand at every C-order index, the way offsets<N>() in common.cu computes them."""
    out = []
    for idx in itertools.product(*[range(n) for n in shape]):
        out.append(tuple(sum(i * s for i, s in zip(idx, st)) for st in strides))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_coalesce_keeps_every_offset(seed):
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(0, 5))
    shape = tuple(int(n) for n in rng.integers(1, 4, nd))
    contiguous = [int(np.prod(shape[d + 1:])) for d in range(nd)]
    strides = (tuple(contiguous), tuple(int(s) for s in rng.choice([-3, -1, 0, 1, 2, 6], nd)),
               tuple(0 if n == 1 or rng.random() < 0.3 else c for n, c in zip(shape, contiguous)))
    cshape, cstrides = cuda.coalesce(shape, strides)
    assert len(cshape) >= 1 and all(n > 1 for n in cshape) or cshape == (1,)
    assert _walk(cshape, cstrides) == _walk(shape, strides)


def test_coalesce_merges_contiguous_and_handles_0d():
    assert cuda.coalesce((4, 5, 6), ((30, 6, 1), (30, 6, 1))) == ((120,), ((1,), (1,)))
    assert cuda.coalesce((), ((), ())) == ((1,), ((0,), (0,)))
    assert cuda.coalesce((3, 1, 4), ((4, 99, 1),)) == ((12,), ((1,),))
    assert cuda.coalesce((3, 4), ((1, 3),)) == ((3, 4), ((1, 3),))  # transposed: no merge


def test_pack_layout():
    assert cuda.pack_layout((3, 4), ((4, 1), (0, 1))) == (2, 3, 4, 4, 1, 0, 1)
    # reductions and softmax: blocks of one operand each, back to back
    assert cuda.pack_layout((5,), ((2,),)) + cuda.pack_layout((7,), ((1,),)) == (1, 5, 2, 1, 7, 1)


def test_grid_for():
    assert cuda.grid_for(1, 256, 100) == 1
    assert cuda.grid_for(256, 256, 100) == 1
    assert cuda.grid_for(257, 256, 100) == 2
    assert cuda.grid_for(10 ** 9, 256, 4224) == 4224


def test_plan_reduction():
    sm = 132
    assert cuda.plan_reduction(100, 7, True, sm) == ("threads", cuda.MAX_BLOCK, 1)        # short rows
    assert cuda.plan_reduction(5000, 4000, False, sm)[0] == "threads"                        # outer-axis, many outs
    how, block, splits = cuda.plan_reduction(4000, 4000, True, sm)
    assert (how, splits) == ("blocks", 1) and block == cuda.MAX_BLOCK
    assert cuda.plan_reduction(10, 100, True, sm) == ("blocks", 128, 1)                      # block fits the row
    how, block, splits = cuda.plan_reduction(2, 10 ** 7, True, sm)                           # the two-pass split
    assert how == "blocks" and 1 < splits <= 1024 and splits * 2 >= 4 * sm
    how, block, splits = cuda.plan_reduction(1, 3000, True, sm)
    assert how == "blocks" and splits >= 1 and block == cuda.MAX_BLOCK
    for n_outer, n_inner in itertools.product([1, 3, 200, 10 ** 5], [1, 33, 5000, 10 ** 6]):
        how, block, splits = cuda.plan_reduction(n_outer, n_inner, True, sm)
        assert block & (block - 1) == 0 and 32 <= block <= cuda.MAX_BLOCK and splits >= 1


def test_plan_softmax():
    assert cuda.plan_softmax(4, 2000, True, 132) == ("blocks", 256)
    assert cuda.plan_softmax(7, 3, False, 132) == ("threads", cuda.MAX_BLOCK)
    assert cuda.plan_softmax(10 ** 6, 100, False, 132) == ("threads", cuda.MAX_BLOCK)
    assert cuda.plan_softmax(10, 100, False, 132) == ("blocks", 128)


@pytest.mark.parametrize("dtype", ALL)
def test_fill_bits_are_the_numpy_bytes(dtype):
    values = {"bool": [True, False, 3], "float16": [-2.5, float("nan"), float("inf"), 1e6, 0.1],
              "float32": [-2.5, float("nan"), -0.0, 1e-40], "float64": [0.1, -float("inf")]}.get(dtype, [-7, 0, 5])
    for v in values:
        bits = cuda.fill_bits(v, dtype)
        if optable.KIND[dtype] == "float":
            with np.errstate(all="ignore"):
                expected = np.array([v], np.float64).astype(dtype)
        else:
            expected = np.array([int(v) != 0 if dtype == "bool" else int(v)]).astype(dtype)
        raw = bits.to_bytes(8, "little")[: np.dtype(dtype).itemsize]
        got = np.frombuffer(raw, dtype=dtype)
        assert got.tobytes() == expected.tobytes() or (np.isnan(got).all() and np.isnan(expected).all()), (v, got)
    assert cuda.fill_bits(-1, "uint8") == 255 and cuda.fill_bits(-1, "int64") == 2 ** 64 - 1


def test_blas_layout():
    assert cuda.blas_layout(5, 1, 3, 5) == (False, 5)       # row-major
    assert cuda.blas_layout(8, 1, 3, 5) == (False, 8)       # row-major with padded rows
    assert cuda.blas_layout(1, 3, 3, 5) == (True, 3)        # a transposed view
    assert cuda.blas_layout(0, 1, 1, 4) == (False, 4)       # a vector as a 1-row matrix (row stride 0)
    assert cuda.blas_layout(1, 0, 4, 1) == (True, 4)        # a vector as a 1-column matrix
    assert cuda.blas_layout(10, 2, 3, 5) is None            # every other column
    assert cuda.blas_layout(-5, 1, 3, 5) is None            # reversed rows


def test_reduction_types():
    assert cuda_source.reduction_types("sum", "int8") == ("int64", "long long")
    assert cuda_source.reduction_types("sum", "bool") == ("int64", "long long")
    assert cuda_source.reduction_types("sum", "float16") == ("float16", "float")
    assert cuda_source.reduction_types("prod", "float32") == ("float32", "double")
    assert cuda_source.reduction_types("max", "float16") == ("float16", "float")
    assert cuda_source.reduction_types("argmin", "int32") == ("int64", None)
    assert cuda_source.reduction_types("any", "float64") == ("bool", "bool")


# -- runtime checks on a GPU ----------------------------------------------------------------------------------------

_REASON = unavailable_reasons().get("cuda")
needs_gpu = pytest.mark.skipif(_REASON is not None, reason=f"cuda: {_REASON}")


@pytest.fixture
def dev():
    return ts.device("cuda")


def _close(got, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(got.numpy().astype(np.float64), np.asarray(expected, np.float64), rtol=rtol,
                               atol=atol)


@needs_gpu
@pytest.mark.parametrize("shape, axis", [((3, 1_000_003), 1), ((1, 4_000_000), None), ((5000, 40), 0),
                                         ((40, 5000), 0), ((7, 9, 11), (0, 2)), ((2, 3), 1)])
def test_reduction_strategies(dev, shape, axis):
    """Every plan of plan_reduction: a thread per output, a block per output, and the two-pass split."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    t = ts.asarray(x, device=dev)
    _close(ts.sum(t, axis=axis), x.astype(np.float64).sum(axis=axis), rtol=1e-4, atol=1e-3)
    _close(ts.max(t, axis=axis), x.max(axis=axis))
    if not isinstance(axis, tuple):
        assert np.array_equal(ts.argmax(t, axis=axis).numpy(), np.argmax(x, axis=axis))
        assert np.array_equal(ts.argmin(t.T if axis is None else t, axis=axis).numpy(),
                              np.argmin(x.T if axis is None else x, axis=axis))


@needs_gpu
def test_argmax_ties_and_nan_across_splits(dev):
    """Ties resolve to the first index and the first NaN wins, also when the extent is split across blocks."""
    x = np.zeros((2, 3_000_000), np.float32)
    x[0, [5, 2_000_000]] = 7
    x[1, [2_999_999, 1_500_000]] = np.nan
    t = ts.asarray(x, device=dev)
    assert ts.argmax(t, axis=1).numpy().tolist() == [5, 1_500_000]
    assert ts.argmin(t, axis=1).numpy().tolist() == [0, 1_500_000]
    assert np.isnan(ts.max(t, axis=1).numpy()[1])


@needs_gpu
@pytest.mark.parametrize("dtype", ["int8", "int64", "uint8"])
def test_integer_sums_widen(dev, dtype):
    x = np.full((3, 100_000), np.iinfo(dtype).max, dtype)
    got = ts.sum(ts.asarray(x, device=dev), axis=1)
    assert got.dtype == ts.int64
    assert np.array_equal(got.numpy(), x.sum(axis=1, dtype=np.int64))


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32"])
def test_matmul_blas_and_tiled_paths(dev, dtype):
    """cuBLAS (BLAS-ready float32/float64), and the tiled kernel (other dtypes, strided and broadcast batches)."""
    rng = np.random.default_rng(1)
    kind = np.dtype(dtype).kind
    a = (rng.integers(-3, 4, (2, 70, 33)) if kind == "i" else rng.standard_normal((2, 70, 33))).astype(dtype)
    b = (rng.integers(-3, 4, (33, 41)) if kind == "i" else rng.standard_normal((33, 41))).astype(dtype)
    tol = {"float16": 2e-2, "float32": 1e-4, "float64": 1e-10, "int32": 0}[dtype]
    ta, tb = ts.asarray(a, device=dev), ts.asarray(b, device=dev)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    cases = [(ta, tb, expected),                                                  # contiguous, broadcast batch
             (ta.permute_dims((0, 2, 1)).permute_dims((0, 2, 1)), tb.T.T, expected),
             (ts.asarray(np.ascontiguousarray(a[:, :, ::-1]), device=dev)[:, :, ::-1], tb, expected),  # reversed
             (ta[:, ::2, :], tb, expected[:, ::2, :])]                            # every other row
    for x, y, e in cases:
        got = ts.matmul(x, y)
        if kind == "i":
            assert np.array_equal(got.numpy(), e.astype(dtype))
        else:
            _close(got, e, rtol=tol, atol=tol * 10)


@needs_gpu
@pytest.mark.parametrize("shape, axis", [((4, 5000), 1), ((5000, 3), 0), ((3, 70, 5), 1), ((2, 300), 0)])
def test_softmax_strategies(dev, shape, axis):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32) * 5
    t = ts.asarray(x, device=dev)
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    _close(ts.softmax(t, axis=axis), e / e.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-6)
    _close(ts.log_softmax(t.T, axis=t.ndim - 1 - axis),
           np.log(e / e.sum(axis=axis, keepdims=True)).T, rtol=1e-5, atol=1e-5)


@needs_gpu
def test_layout_metadata_is_cached(dev):
    x = ts.asarray(np.arange(60, dtype=np.float32).reshape(3, 4, 5), device=dev).permute_dims((2, 0, 1))
    state = cuda._device(dev.index)
    x + x  # noqa: B018  (first call uploads the layout)
    before = len(state.layouts)
    for _ in range(5):
        y = x + x
    assert len(state.layouts) == before
    assert np.array_equal(y.numpy(), 2 * np.arange(60, dtype=np.float32).reshape(3, 4, 5).transpose(2, 0, 1))


@needs_gpu
def test_kernels_compile_once(dev):
    state = cuda._device(dev.index)
    a = ts.ones((10,), device=dev)
    a + a  # noqa: B018
    fn = state.families["ts_add_float32"]
    a + a  # noqa: B018
    assert state.families["ts_add_float32"] is fn


@needs_gpu
def test_own_half_fallback_runs(dev):
    """The TS_OWN_HALF program (the retry when cuda_fp16.h is missing) computes the same float16 results."""
    cp = cuda._cp
    program = cuda._build(dev.index, cuda_source.program_source(("elementwise", "float16")), ("-DTS_OWN_HALF",))
    fn = cuda._function(program, "ts_multiply_float16_contig")
    x = cp.asarray(np.linspace(-4, 4, 1001).astype(np.float16))
    out = cp.empty_like(x)
    with cp.cuda.Device(dev.index):
        fn((4,), (256,), (x.size, out, x, x))
    expected = (np.linspace(-4, 4, 1001).astype(np.float16).astype(np.float32) ** 2).astype(np.float16)
    assert np.array_equal(cp.asnumpy(out), expected)


@needs_gpu
def test_copies_at_offsets_and_zero_bytes(dev):
    backend = dev.backend
    handle = backend.allocate(64, dev.index)
    backend.copy_in(handle, 8, np.arange(4, dtype=np.int32), dev.index)
    host = np.zeros(4, np.int32)
    backend.copy_out(handle, 8, host, dev.index)
    assert host.tolist() == [0, 1, 2, 3]
    empty = backend.allocate(0, dev.index)
    backend.copy_in(empty, 0, np.zeros(0, np.uint8), dev.index)
    backend.copy_out(empty, 0, np.zeros(0, np.uint8), dev.index)


@needs_gpu
def test_copy_between_gpus():
    if ts.device("cuda").backend.device_count() < 2:
        pytest.skip("needs two CUDA GPUs")
    x = np.arange(1000, dtype=np.float64)
    t = ts.asarray(x, device="cuda:0").to("cuda:1")
    assert str(t.device) == "cuda:1"
    assert np.array_equal((t * 2).numpy(), 2 * x)
