"""The nn kernel families (im2col, col2im, max/avg pooling and their backward passes, take_along_axis, scatter_add) of
the opencl backend, of the example numpy plugin and, compiled for the host, of the cuda backend.

Each registered kernel is called directly with the tensors Note [Kernel contract] (dispatch/registry.py) promises:
strided, transposed and reversed inputs, stride-0 indices, padding, stride, dilation and ceil_mode's extra windows,
NaN, infinities and ties in max pooling, repeated scatter indices, float16 (on opencl forced on where PoCL lacks
cl_khr_fp16: its storage path needs no extension), float64 and the integer dtypes.  The oracles are the plain loops
below, written from the contract alone; one test checks them against PyTorch.  The public functions then run on each
device against the same call on cpu.

Note [CUDA kernels on the host]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
Without a GPU the cuda kernels can still run: the generated source of the windows, take and scatter programs
(kernels/cuda_source.py, kernels/cuda/nn.cu) compiles as host C++ under a small shim (``_CUDA_SHIM``: one thread,
blockDim = gridDim = 1, so every grid-stride loop walks all elements; ``__half`` as ``_Float16``).  The backend
"cuda-on-host" runs the cuda backend's own adapters (backends/cuda.py im2col ... scatter_add) on tensors in the numpy
plugin's host memory, with ``_device`` and ``_ptr`` pointed at that library and memory.  It checks the kernels'
index arithmetic and the adapters' argument order, not CUDA itself: tests/test_cuda.py compiles the real programs
with NVRTC and nvcc, and they run on a GPU where one is present.
"""

import ctypes
import itertools
import os
import shutil
import subprocess
import threading

import numpy as np
import pytest

import tensorswitch as ts
from tensorswitch.backends import cuda
from tensorswitch.dispatch import nnops
from tensorswitch.dispatch.device import unavailable_reasons
from tensorswitch.kernels import cuda_source

try:  # the example plugin, installed by `make test` (pip install ./examples/numpy_backend)
    import ts_numpy_backend
    ts_numpy_backend.register()
    _NUMPY = None
except ImportError as exc:
    _NUMPY = f"the example numpy plugin is not installed ({exc})"

CUDA_HOST = "cuda-on-host"  # see Note [CUDA kernels on the host]
_CXX = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
_REASONS = {"opencl": unavailable_reasons().get("opencl"), "numpy": _NUMPY,
            CUDA_HOST: _NUMPY or (None if _CXX else "no host C++ compiler (g++ or $CXX)")}
BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(bool(r), reason=f"{b}: {r}")) for b, r in _REASONS.items()]
DEVICE_BACKENDS = BACKENDS[:2]  # the ones with a device of their own
_REGISTRY_DEVICE = {CUDA_HOST: "cuda"}
_MEMORY = {CUDA_HOST: "numpy"}

TOL = {"float16": dict(rtol=2e-3, atol=2e-3), "float32": dict(rtol=1e-5, atol=1e-5),
       "float64": dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture
def float16_on():
    """float16 on every backend under test: the opencl device gets it forced on where PoCL lacks cl_khr_fp16 (as in
    tests/test_opencl_backend.py), the numpy device has it."""
    saved = None
    if not _REASONS["opencl"]:
        d = ts.device("opencl")
        saved = d.supported_dtypes()
        d._dtypes = saved | {ts.float16}
    yield
    if saved is not None:
        ts.device("opencl")._dtypes = saved


# -- cuda on the host: Note [CUDA kernels on the host] -------------------------------------------------------------

_CUDA_SHIM = r"""
#include <cmath>
#include <cstring>
// CUDA's math functions are global names, as C's: so are they here
#include <algorithm>
using std::isinf; using std::isnan; using std::isfinite; using std::signbit; using std::min; using std::max;
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
#define __shared__ static
#define __syncthreads()
struct ts_dim3 { unsigned x, y, z; };
static const ts_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
struct __half { _Float16 v; };
#define TS_DEVICE_COMPLEX  // ops_common.h: the device branch of the complex helpers (float2, not std::complex)
struct alignas(8) float2 { float x, y; };  // CUDA's vector types: complex64 and complex128 storage
struct alignas(16) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline float __fmul_rn(float a, float b) { return a * b; }  // host C++ does not fuse across statements (-O0 here)
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half(float f) { __half h; h.v = (_Float16)f; return h; }
inline __half __double2half(double d) { __half h; h.v = (_Float16)d; return h; }
"""


def _host_source():
    """The windows, take and scatter programs in one translation unit, CUDA's half header swapped for the shim's."""
    keys = [k for k in cuda_source.program_keys() if k[0] in ("windows", "take", "scatter")]
    src = cuda_source.full_source(keys)
    start = src.index("#ifndef TS_OWN_HALF")  # common.cu's float16 section, up to its #endif
    end = src.index("#endif", src.index("__double2half", start)) + len("#endif")
    return _CUDA_SHIM + src[:start] + src[end:]


@pytest.fixture(scope="module")
def cuda_host_library(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cuda_host")
    probe = tmp / "probe.cpp"
    probe.write_text("_Float16 h = (_Float16)1.5f;\n")
    if subprocess.run([_CXX, "-c", "-o", str(tmp / "probe.o"), str(probe)], capture_output=True).returncode:
        pytest.skip(f"{_CXX} has no _Float16 (GCC 12 or later on x86-64 has)")
    source, lib = tmp / "nn_host.cpp", tmp / "nn_host.so"
    source.write_text(_host_source())
    proc = subprocess.run([_CXX, "-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-o", str(lib), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"kernels/cuda/nn.cu does not compile as host C++:\n{proc.stderr[-4000:]}"
    return ctypes.CDLL(str(lib))


class _HostDevice:
    """Stands in for backends/cuda.py's _Device: kernels from the host library, memory from NumPy."""

    def __init__(self, lib):
        self.lib, self.keep = lib, []

    def kernel(self, program, name):
        return getattr(self.lib, name)

    def launch(self, fn, n, args):
        fn(*[ctypes.c_longlong(int(a)) for a in args])  # x86-64 passes pointers and int64s alike

    def allocate(self, nbytes):
        block = np.empty(max(nbytes, 8), np.uint8)
        self.keep.append(block)
        return type("Block", (), {"ptr": block.ctypes.data})()

    def layout(self, meta):
        host = np.array(meta, np.int64)
        self.keep.append(host)
        return host.ctypes.data


@pytest.fixture(autouse=True)
def _cuda_runs_on_the_host(request, monkeypatch):
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("backend") != CUDA_HOST:
        return
    device = _HostDevice(request.getfixturevalue("cuda_host_library"))
    monkeypatch.setattr(cuda, "_device", lambda index: device)
    monkeypatch.setattr(cuda, "_ptr", lambda t: t.buffer.handle.ctypes.data + t.offset * t.dtype.itemsize)


# -- helpers ------------------------------------------------------------------------------------------------------

def needs_float64(backend, dtype):
    if dtype == "float64" and ts.float64 not in ts.device(_MEMORY.get(backend, backend)).supported_dtypes():
        pytest.skip(f"{backend} has no float64 here")


def kernel(op, backend, dtype):
    (entry,) = ts.registry.kernels(op, _REGISTRY_DEVICE.get(backend, backend), dtype)
    return entry.fn


def run(op, backend, dtype, shape, *args):
    """The registered ``op`` kernel of ``backend`` and ``dtype`` called on a fresh output of ``shape`` and ``args``:
    that output."""
    out = ts.empty(shape, dtype=dtype, device=_MEMORY.get(backend, backend))
    kernel(op, backend, dtype)(out, *args)
    return out


def put(a, backend, layout="contiguous"):
    """``a`` on ``backend`` as a tensor with the values of ``a`` in the given memory layout."""
    backend = _MEMORY.get(backend, backend)
    if layout == "contiguous":
        return ts.asarray(a, device=backend)
    if layout == "strided":  # every other element of the last axis of a bigger buffer, at an offset
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        big[..., 1::2] = a
        t = ts.asarray(big, device=backend)[..., 1::2]
    elif layout == "transposed":  # stored with the axes reversed (channels-last and more)
        axes = tuple(range(a.ndim))[::-1]
        t = ts.asarray(np.ascontiguousarray(a.transpose(axes)), device=backend).permute_dims(axes)
    elif layout == "reversed":  # negative strides on the last two axes
        t = ts.asarray(np.ascontiguousarray(a[..., ::-1, ::-1]), device=backend)[..., ::-1, ::-1]
    else:
        raise AssertionError(layout)
    assert not t.is_contiguous and t.shape == a.shape
    return t


# -- the oracles: loops straight from Note [Kernel contract] ------------------------------------------------------

def pooled(n, k, s, p, d, ceil_mode=False):
    """PyTorch's output extent: ceil_mode keeps a last window that starts inside the input or the left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def windows_of(H, W, g, OH, OW):
    """{(oh, ow): [(i, j, h, w) for every tap inside the image]}."""
    KH, KW, SH, SW, PH, PW, DH, DW = g
    taps = {}
    for oh, ow in itertools.product(range(OH), range(OW)):
        taps[oh, ow] = [(i, j, oh * SH - PH + i * DH, ow * SW - PW + j * DW)
                        for i in range(KH) for j in range(KW)
                        if 0 <= oh * SH - PH + i * DH < H and 0 <= ow * SW - PW + j * DW < W]
    return taps


def ref_im2col(x, g):
    KH, KW = g[:2]
    N, C, H, W = x.shape
    OH, OW = pooled(H, KH, g[2], g[4], g[6]), pooled(W, KW, g[3], g[5], g[7])
    out = np.zeros((N, C, KH, KW, OH, OW), np.float64)
    for (oh, ow), taps in windows_of(H, W, g, OH, OW).items():
        for i, j, h, w in taps:
            out[:, :, i, j, oh, ow] = x[:, :, h, w]
    return out.reshape(N, C * KH * KW, OH * OW)


def ref_col2im(cols, g, H, W):
    KH, KW = g[:2]
    N = cols.shape[0]
    C = cols.shape[1] // (KH * KW)
    OH, OW = pooled(H, KH, g[2], g[4], g[6]), pooled(W, KW, g[3], g[5], g[7])
    c6 = cols.astype(np.float64).reshape(N, C, KH, KW, OH, OW)
    out = np.zeros((N, C, H, W))
    for (oh, ow), taps in windows_of(H, W, g, OH, OW).items():
        for i, j, h, w in taps:
            out[:, :, h, w] += c6[:, :, i, j, oh, ow]
    return out


def ref_max_pool(x, g, OH, OW):
    """(max values, {(n, c, oh, ow): the (h, w) of the first maximum in tap order, the first NaN if any})."""
    N, C, H, W = x.shape
    out = np.full((N, C, OH, OW), -np.inf)
    winner = {}
    for (oh, ow), taps in windows_of(H, W, g, OH, OW).items():
        for n, c in itertools.product(range(N), range(C)):
            best = None
            for _, _, h, w in taps:
                v = float(x[n, c, h, w])
                if best is None or (not np.isnan(best) and (np.isnan(v) or v > best)):
                    best, winner[n, c, oh, ow] = v, (h, w)
            if best is not None:
                out[n, c, oh, ow] = best
    return out, winner


def ref_max_pool_backward(grad, x, g):
    out = np.zeros(x.shape)
    _, winner = ref_max_pool(x, g, *grad.shape[2:])
    for (n, c, oh, ow), (h, w) in winner.items():
        out[n, c, h, w] += grad[n, c, oh, ow]
    return out


def avg_divisor(oh, ow, g, H, W, taps, count_include_pad):
    """PyTorch's avg_pool2d divisor (dilation 1): the window clipped to the padded input, or the in-bounds count."""
    KH, KW, SH, SW, PH, PW = g[:6]
    if not count_include_pad:
        return len(taps)
    hs, ws = oh * SH - PH, ow * SW - PW
    return (min(hs + KH, H + PH) - hs) * (min(ws + KW, W + PW) - ws)


def ref_avg_pool(x, g, OH, OW, count_include_pad):
    N, C, H, W = x.shape
    out = np.zeros((N, C, OH, OW))
    for (oh, ow), taps in windows_of(H, W, g, OH, OW).items():
        total = sum(x[:, :, h, w].astype(np.float64) for _, _, h, w in taps)
        out[:, :, oh, ow] = total / avg_divisor(oh, ow, g, H, W, taps, count_include_pad)
    return out


def ref_avg_pool_backward(grad, g, H, W, count_include_pad):
    N, C, OH, OW = grad.shape
    out = np.zeros((N, C, H, W))
    for (oh, ow), taps in windows_of(H, W, g, OH, OW).items():
        share = grad[:, :, oh, ow].astype(np.float64) / avg_divisor(oh, ow, g, H, W, taps, count_include_pad)
        for _, _, h, w in taps:
            out[:, :, h, w] += share
    return out


def ref_scatter_add(out, index, src, axis):
    """One addition at a time in C order over src (so in increasing p[axis] for each output), in the dtype itself:
    integers wrap, float16 and float32 round after each addition."""
    out = out.copy()
    with np.errstate(over="ignore"):
        for p in np.ndindex(*src.shape):
            q = p[:axis] + (int(index[p]),) + p[axis + 1:]
            out[q] = out[q] + src[p]
    return out


# geometry (KH, KW, SH, SW, PH, PW, DH, DW), image (H, W): padding, strides, dilation and asymmetric kernels
GEOMETRIES = [
    ((3, 3, 1, 1, 1, 1, 1, 1), (6, 7)),
    ((2, 3, 2, 1, 0, 1, 1, 2), (7, 6)),
    ((3, 2, 2, 3, 1, 1, 2, 1), (7, 8)),
    ((1, 1, 1, 1, 0, 0, 1, 1), (3, 4)),
    ((2, 2, 2, 2, 1, 1, 1, 1), (5, 5)),
]
GEOMETRY_IDS = ["3x3-pad1", "2x3-stride2-dil2", "3x2-stride2x3-dil2", "1x1", "2x2-stride2-pad1"]
LAYOUTS = ["contiguous", "strided", "transposed", "reversed"]


def image(rng, shape, dtype, kind="normal"):
    if kind == "ties":  # small integers: windows often hold several maxima, and -inf and NaN now and then
        x = rng.integers(-2, 3, shape).astype(np.float64)
        x[rng.random(shape) < 0.05] = -np.inf
        x[rng.random(shape) < 0.05] = np.nan
    else:
        x = rng.standard_normal(shape)
    return x.astype(dtype)


def check(got, want, dtype, what):
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, err_msg=what, equal_nan=True, **TOL[dtype])


# -- im2col / col2im ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("g,hw", GEOMETRIES, ids=GEOMETRY_IDS)
def test_im2col_and_col2im(backend, g, hw):
    rng = np.random.default_rng(1)
    H, W = hw
    for layout in LAYOUTS:
        x = image(rng, (2, 3) + hw, np.float32)
        want = ref_im2col(x, g)
        out = run("im2col", backend, "float32", want.shape, put(x, backend, layout), g)
        np.testing.assert_array_equal(out.numpy(), want, err_msg=f"im2col {layout}")  # a copy: exact

        cols = image(rng, want.shape, np.float32)
        # the layouts of a 3-d cols: "reversed" reverses its last 2 axes
        out = run("col2im", backend, "float32", (2, 3, H, W), put(cols, backend, layout), g)
        check(out, ref_col2im(cols, g, H, W), "float32", f"col2im {layout}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_im2col_and_col2im_other_floats(backend, dtype, float16_on):
    needs_float64(backend, dtype)
    rng = np.random.default_rng(2)
    g, (H, W) = GEOMETRIES[2]
    x = image(rng, (1, 2, H, W), dtype)
    want = ref_im2col(x, g)
    out = run("im2col", backend, dtype, want.shape, put(x, backend, "transposed"), g)
    np.testing.assert_array_equal(out.numpy(), want.astype(dtype))
    cols = image(rng, want.shape, dtype)
    out = run("col2im", backend, dtype, (1, 2, H, W), put(cols, backend, "strided"), g)
    assert out.dtype.name == dtype
    check(out, ref_col2im(cols, g, H, W), dtype, "col2im")


# -- max pooling --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("g,hw", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
def test_max_pool2d_forward_and_backward(backend, g, hw, ceil_mode):
    """Ties, -inf and NaN: the forward max propagates NaN, the backward pass credits the first maximum (first NaN)."""
    rng = np.random.default_rng(3)
    H, W = hw
    OH, OW = pooled(H, g[0], g[2], g[4], g[6], ceil_mode), pooled(W, g[1], g[3], g[5], g[7], ceil_mode)
    for layout in LAYOUTS:
        x = image(rng, (2, 3) + hw, np.float32, "ties")
        want, _ = ref_max_pool(x, g, OH, OW)
        xt = put(x, backend, layout)
        out = run("max_pool2d", backend, "float32", (2, 3, OH, OW), xt, g)
        np.testing.assert_array_equal(out.numpy(), want.astype(np.float32), err_msg=f"max_pool2d {layout}")

        grad = image(rng, (2, 3, OH, OW), np.float32)
        out = run("max_pool2d_backward", backend, "float32", (2, 3, H, W), put(grad, backend, layout), xt, g)
        check(out, ref_max_pool_backward(grad, x, g), "float32", f"max_pool2d_backward {layout}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_max_pool2d_other_floats(backend, dtype, float16_on):
    needs_float64(backend, dtype)
    rng = np.random.default_rng(4)
    g, (H, W) = GEOMETRIES[0]
    x = image(rng, (2, 2, H, W), dtype, "ties")
    want, _ = ref_max_pool(x, g, H, W)
    out = run("max_pool2d", backend, dtype, (2, 2, H, W), put(x, backend, "reversed"), g)
    np.testing.assert_array_equal(out.numpy(), want.astype(dtype))
    grad = image(rng, (2, 2, H, W), dtype)
    out = run("max_pool2d_backward", backend, dtype, (2, 2, H, W), put(grad, backend), put(x, backend, "reversed"), g)
    check(out, ref_max_pool_backward(grad, x, g), dtype, "max_pool2d_backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d_window_wholly_in_padding(backend):
    """With dilation a window may hold no pixel at all: its max is -inf and it passes no gradient on."""
    g = (2, 1, 1, 1, 1, 0, 4, 1)  # taps at h - 1 and h + 3 of a 3-row image: window 0 reads rows -1 and 3
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)
    out = run("max_pool2d", backend, "float32", (1, 1, 1, 2), put(x, backend), g)
    assert out.numpy().tolist() == [[[[-np.inf, -np.inf]]]]
    back = run("max_pool2d_backward", backend, "float32", (1, 1, 3, 2), put(np.ones((1, 1, 1, 2), np.float32), backend),
               put(x, backend), g)
    assert not back.numpy().any()


# -- average pooling ----------------------------------------------------------------------------------------------

AVG_GEOMETRIES = [((3, 3, 2, 2, 1, 1, 1, 1), (7, 6)), ((2, 3, 1, 2, 1, 1, 1, 1), (5, 7)),
                  ((3, 2, 3, 2, 0, 1, 1, 1), (8, 5))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("g,hw", AVG_GEOMETRIES, ids=["3x3-s2-p1", "2x3-s1x2-p1", "3x2-s3x2-p0x1"])
@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["include-pad", "exclude-pad"])
def test_avg_pool2d_forward_and_backward(backend, g, hw, ceil_mode, count_include_pad):
    rng = np.random.default_rng(5)
    H, W = hw
    OH, OW = pooled(H, g[0], g[2], g[4], 1, ceil_mode), pooled(W, g[1], g[3], g[5], 1, ceil_mode)
    for layout in LAYOUTS[:3]:
        x = image(rng, (2, 3) + hw, np.float32)
        out = run("avg_pool2d", backend, "float32", (2, 3, OH, OW), put(x, backend, layout), g, count_include_pad)
        check(out, ref_avg_pool(x, g, OH, OW, count_include_pad), "float32", f"avg_pool2d {layout}")

        grad = image(rng, (2, 3, OH, OW), np.float32)
        out = run("avg_pool2d_backward", backend, "float32", (2, 3, H, W), put(grad, backend, layout), g,
                  count_include_pad)
        check(out, ref_avg_pool_backward(grad, g, H, W, count_include_pad), "float32", f"avg backward {layout}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_avg_pool2d_other_floats(backend, dtype, float16_on):
    needs_float64(backend, dtype)
    rng = np.random.default_rng(6)
    g, (H, W) = AVG_GEOMETRIES[0]
    OH, OW = pooled(H, 3, 2, 1, 1, True), pooled(W, 3, 2, 1, 1, True)
    x = image(rng, (1, 2, H, W), dtype)
    out = run("avg_pool2d", backend, dtype, (1, 2, OH, OW), put(x, backend, "reversed"), g, False)
    check(out, ref_avg_pool(x, g, OH, OW, False), dtype, "avg_pool2d")
    grad = image(rng, (1, 2, OH, OW), dtype)
    out = run("avg_pool2d_backward", backend, dtype, (1, 2, H, W), put(grad, backend, "transposed"), g, True)
    check(out, ref_avg_pool_backward(grad, g, H, W, True), dtype, "avg_pool2d_backward")


def test_the_oracles_agree_with_torch():
    """The loops above are PyTorch's functions: unfold, fold, max_pool2d (values, and gradients to the first maximum)
    and avg_pool2d (both divisors, ceil_mode).  One difference is the contract's: where a window holds several NaNs,
    PyTorch 2.x credits the last one (its kernels' ``val > max || isnan(val)``), tensorswitch the first."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    for g, (H, W) in GEOMETRIES:
        kh, kw, sh, sw, ph, pw, dh, dw = g
        x = image(rng, (2, 3, H, W), np.float64)
        cols = F.unfold(torch.tensor(x), (kh, kw), (dh, dw), (ph, pw), (sh, sw)).numpy()
        np.testing.assert_array_equal(ref_im2col(x, g), cols)
        np.testing.assert_allclose(ref_col2im(cols, g, H, W),
                                   F.fold(torch.tensor(cols), (H, W), (kh, kw), (dh, dw), (ph, pw), (sh, sw)).numpy())
        if ph > kh // 2 or pw > kw // 2:
            continue
        for ceil_mode, nan in ((False, False), (True, False), (True, True)):
            x = image(rng, (2, 3, H, W), np.float64, "ties")
            if not nan:  # NaN-free: the gradients must agree too
                x[np.isnan(x)] = 1.0
            t = torch.tensor(x, requires_grad=True)
            y = F.max_pool2d(t, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode)
            grad = rng.standard_normal(tuple(y.shape))
            y.backward(torch.tensor(grad))
            want, _ = ref_max_pool(x, g, *y.shape[2:])
            np.testing.assert_array_equal(want, y.detach().numpy())
            if not nan:
                np.testing.assert_allclose(ref_max_pool_backward(grad, x, g), t.grad.numpy())
    for (kh, kw, sh, sw, ph, pw, _, _), (H, W) in AVG_GEOMETRIES:
        for ceil_mode, include in itertools.product((False, True), (False, True)):
            x = image(rng, (2, 3, H, W), np.float64)
            t = torch.tensor(x, requires_grad=True)
            y = F.avg_pool2d(t, (kh, kw), (sh, sw), (ph, pw), ceil_mode, include)
            grad = rng.standard_normal(tuple(y.shape))
            y.backward(torch.tensor(grad))
            g = (kh, kw, sh, sw, ph, pw, 1, 1)
            np.testing.assert_allclose(ref_avg_pool(x, g, *y.shape[2:], include), y.detach().numpy())
            np.testing.assert_allclose(ref_avg_pool_backward(grad, g, H, W, include), t.grad.numpy())


# -- take_along_axis and scatter_add ------------------------------------------------------------------------------

def values(rng, shape, dtype):
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind == "f":
        v = rng.standard_normal(shape).astype(dtype)
        v.flat[0] = np.nan  # copied as it is
        return v
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def index_operand(index, axis, backend, broadcast):
    """(the indices as NumPy sees them, the index tensor on ``backend``): ``index`` itself, or with ``broadcast`` its
    first slice along the axis after ``axis``, broadcast back to index's shape: an index operand with stride 0."""
    if not broadcast:
        return index, put(index, backend)
    row = np.take(index, [0], axis=(axis + 1) % index.ndim)
    return np.broadcast_to(row, index.shape), ts.broadcast_to(put(row, backend), index.shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "float16", "float32"])
def test_take_along_axis(backend, dtype, float16_on):
    rng = np.random.default_rng(8)
    for axis in range(3):
        xshape = [3, 4, 5]
        x = values(rng, xshape, dtype)
        oshape = list(xshape)
        oshape[axis] = 6  # more picks than the axis has: indices repeat
        index = rng.integers(0, xshape[axis], oshape)
        for x_layout, broadcast in (("contiguous", False), ("transposed", False), ("strided", True)):
            idx, it = index_operand(index, axis, backend, broadcast)
            want = np.take_along_axis(x, idx, axis)
            out = run("take_along_axis", backend, dtype, tuple(oshape), put(x, backend, x_layout), it, axis)
            got = out.numpy()
            assert got.tobytes() == want.astype(dtype).tobytes(), (axis, x_layout, broadcast)


@pytest.mark.parametrize("backend", BACKENDS)
def test_take_along_axis_from_a_broadcast_input(backend):
    """x itself may be a stride-0 view (the dispatcher expands it against the indices)."""
    x = np.arange(5, dtype=np.int32)[:, None]
    index = np.array([[4, 0, 2], [1, 1, 3]]).T  # (3, 2) picks along axis 0 from x broadcast to (5, 2)
    xt = ts.broadcast_to(put(x, backend), (5, 2))
    out = run("take_along_axis", backend, "int32", (3, 2), xt, put(index, backend), 0)
    assert out.numpy().tolist() == np.take_along_axis(np.broadcast_to(x, (5, 2)), index, 0).tolist()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int64", "float16", "float32", "float64"])
def test_scatter_add(backend, dtype, float16_on):
    """Repeated indices all add, in increasing order along the axis (float results are exact against the sequential
    oracle); integers wrap."""
    needs_float64(backend, dtype)
    rng = np.random.default_rng(9)
    for axis in range(3):
        sshape = [3, 4, 5]
        oshape = list(sshape)
        oshape[axis] = 2  # few targets: every one is hit several times
        out0 = values(rng, oshape, dtype)
        src = values(rng, sshape, dtype)
        if np.dtype(dtype).kind == "f":
            src.flat[0] = 0.5
            src *= 100  # large terms: rounding after each addition shows in the result
        index = rng.integers(0, 2, sshape)
        for src_layout, broadcast in (("contiguous", False), ("transposed", True), ("reversed", False)):
            idx, it = index_operand(index, axis, backend, broadcast)
            out = put(out0, backend)
            kernel("scatter_add", backend, dtype)(out, it, put(src, backend, src_layout), axis)
            want = ref_scatter_add(out0, idx, src, axis)
            np.testing.assert_array_equal(out.numpy(), want, err_msg=f"axis {axis} {src_layout} {broadcast}")


# -- the public functions on each device against cpu --------------------------------------------------------------

def _cpu_has(op):
    return ts.registry.has_kernel(op, "cpu", ts.float32)


@pytest.mark.parametrize("backend", DEVICE_BACKENDS)
def test_public_functions_match_the_cpu_backend(backend):
    missing = [op for op in ("im2col", "col2im", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
                             "avg_pool2d_backward", "take_along_axis", "scatter_add") if not _cpu_has(op)]
    if missing:
        pytest.skip(f"the cpu backend has no kernels for {missing} in this build (make install builds them)")
    rng = np.random.default_rng(10)
    x = image(rng, (2, 3, 7, 6), np.float32, "ties")
    xt = x.transpose(0, 1, 3, 2).copy()
    index = rng.integers(0, 6, (2, 3, 7, 4))
    cases = {  # the public functions, and the pooling gradients of the dispatcher (what autograd calls)
        "unfold": lambda d, a: ts.unfold(a, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
        "fold": lambda d, a: ts.fold(ts.unfold(a, 3, padding=1), (7, 6), 3, padding=1),
        "max_pool2d": lambda d, a: ts.max_pool2d(a, 3, stride=2, padding=1, ceil_mode=True),
        "max_pool2d_backward": lambda d, a: nnops.max_pool2d_backward(
            ts.ones((2, 3, 4, 4), device=d), a, 3, 2, 1, 1, True),
        "avg_pool2d": lambda d, a: ts.avg_pool2d(a, 3, stride=2, padding=1, ceil_mode=True,
                                                    count_include_pad=False),
        "avg_pool2d_backward": lambda d, a: nnops.avg_pool2d_backward(
            ts.ones((2, 3, 4, 4), device=d), (2, 3, 7, 6), 3, 2, 1, True, True, None),
        "take_along_axis": lambda d, a: ts.take_along_axis(a, ts.asarray(np.array([[[[0], [-1], [3]]]]),
                                                                          device=d), axis=2),
        "scatter_add": lambda d, a: ts.scatter_add(a, 3, ts.asarray(index, device=d),
                                                      ts.asarray(np.ones((2, 3, 7, 4), np.float32), device=d)),
    }
    for name, fn in cases.items():
        for view in ("contiguous", "transposed"):
            def operand(d):
                if view == "contiguous":
                    return ts.asarray(x, device=d)
                return ts.asarray(xt, device=d).permute_dims((0, 1, 3, 2))  # x's values, W-major storage
            got = fn(backend, operand(backend))
            want = fn("cpu", operand("cpu"))
            assert got.device.type == backend and got.shape == want.shape and got.dtype == want.dtype, name
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6, equal_nan=True,
                                       err_msg=f"{name} {view}")


def test_float16_conformance_samples_on_opencl(float16_on):
    """The conformance samples of tensorswitch/testing/samples/nn.py in float16, which the conformance run of a
    device without cl_khr_fp16 reports as unsupported."""
    if _REASONS["opencl"]:
        pytest.skip(f"opencl: {_REASONS['opencl']}")
    from tensorswitch.testing import samples
    for op in ("im2col", "col2im", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
               "take_along_axis", "scatter_add"):
        assert samples.check(op, "float16", ts.device("opencl")) > 0, op


def test_opencl_launches_from_many_threads():
    """Several threads pooling at once on one device (each launch sets and enqueues its kernel as one step) all get
    their own answers, the two-pass max_pool2d_backward included."""
    if _REASONS["opencl"]:
        pytest.skip(f"opencl: {_REASONS['opencl']}")
    g = (3, 3, 2, 2, 1, 1, 1, 1)
    rng = np.random.default_rng(12)
    inputs = [image(rng, (1, 2, 9, 9), np.float32, "ties") for _ in range(4)]
    wants = [ref_max_pool_backward(np.ones((1, 2, 5, 5)), x, g) for x in inputs]
    errors = []

    def work(k):
        try:
            for _ in range(5):
                out = ts.empty((1, 2, 9, 9), dtype=ts.float32, device="opencl")
                kernel("max_pool2d_backward", "opencl", "float32")(
                    out, ts.ones((1, 2, 5, 5), device="opencl"), put(inputs[k], "opencl", "strided"), g)
                np.testing.assert_allclose(out.numpy(), wants[k])
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
